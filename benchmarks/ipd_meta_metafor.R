# Two-stage IPD meta-analysis with metafor (benchmark tool only).
#   Rscript benchmarks/ipd_meta_metafor.R CSV
# CSV: patient, study, arm (0/1), y. Stage 1: per study, the ketamine - control difference in
# mean y and its standard error (Welch); stage 2: random-effects meta-analysis (REML).
# Prints one figures line, then the pooled effect, its SE and tau.
suppressMessages(library(metafor))
args <- commandArgs(TRUE); d <- read.csv(args[1])
t0 <- Sys.time()
per <- do.call(rbind, lapply(split(d, d$study), function(g) {
  k <- g$y[g$arm == 1]; c <- g$y[g$arm == 0]
  data.frame(study = g$study[1], yi = mean(k) - mean(c), vi = var(k) / length(k) + var(c) / length(c))
}))
m <- rma(yi, vi, data = per, method = "REML")
tot <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
cat(sprintf("metafor-ipd-meta total_s=%.2f studies=%d\n", tot, nrow(per)))
cat(sprintf("effect estimate=%.3f se=%.3f ci_lb=%.3f ci_ub=%.3f\n", m$b[1], m$se, m$ci.lb, m$ci.ub))
cat(sprintf("tau estimate=%.3f\n", sqrt(m$tau2)))
pr <- predict(m); cat(sprintf("prediction pi_lb=%.3f pi_ub=%.3f\n", pr$pi.lb, pr$pi.ub))
