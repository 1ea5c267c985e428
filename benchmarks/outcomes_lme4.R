# Peer fits for benchmarks/outcomes_peers.py: lme4 (REML) on a CSV written by that script.
#
#   Rscript benchmarks/outcomes_lme4.R data.csv outcome|covariate
#
# The CSV has: patient, day, score, s (= log(1 + day)), one column trt_<k> per post-baseline
# visit (arm x [day == k]) and, for "covariate", base_<k> ((y0 - mean y0) x [day == k]); the
# rows are the ones bayes_ket models (with baseline "covariate": post-baseline visits only).
# Fixed part: one mean per visit (0 + vday), treatment x post-baseline visit (no arm main effect:
# with baseline as an outcome the arms share the baseline mean), and for "covariate" baseline x
# visit. Patient effects: correlated random intercept and slope in s, as bayes_ket's default.
# Prints "term,estimate,se" lines for the trt_ terms after a "lme4" header line.
suppressPackageStartupMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
d$vday <- factor(d$day)
trt <- grep("^trt_", names(d), value = TRUE)
base <- grep("^base_", names(d), value = TRUE)
rhs <- c("0 + vday", trt)
if (args[2] == "covariate") rhs <- c(rhs, base)
f <- as.formula(paste("score ~", paste(rhs, collapse = " + "), "+ (1 + s | patient)"))
m <- lmer(f, data = d, REML = TRUE,
          control = lmerControl(check.conv.singular = "ignore"))
co <- summary(m)$coefficients
cat("lme4", as.character(packageVersion("lme4")), "REML", deparse(f, width.cutoff = 500L), "\n")
for (t in trt) cat(sprintf("%s,%.6f,%.6f\n", t, co[t, "Estimate"], co[t, "Std. Error"]))
vc <- as.data.frame(VarCorr(m))
cat(sprintf("varcorr,%s,%.4f\n", paste(vc$var1, vc$var2, sep = ":"), vc$sdcor), sep = "")
