# One-stage IPD meta-analysis in brms, the structure and priors of bayes_ket's ipd_meta model
# at one visit (benchmark tool only).
#   Rscript benchmarks/ipd_meta_brms.R CSV
# CSV: patient, study, arm (0/1), y (percent improvement at the visit).
# Model: y ~ 0 + study + arm_c + (0 + arm_c | study), arm_c = arm - 1/2;
# priors as the card: study intercepts N(30, 40), effect N(0, 25), tau HalfNormal(10),
# sigma LogNormal(log 30, 1). Prints one figures line, then the effect and tau.
suppressMessages({library(brms); library(posterior)})
args <- commandArgs(TRUE); path <- args[1]
d <- read.csv(path)
d$arm_c <- d$arm - 0.5
d$study <- factor(d$study)
pri <- c(prior(normal(30, 40), class = "b"),
         prior(normal(0, 25), class = "b", coef = "arm_c"),
         prior(normal(0, 10), class = "sd"),
         prior(lognormal(3.401197, 1), class = "sigma"))
t0 <- Sys.time()
fit <- brm(y ~ 0 + study + arm_c + (0 + arm_c | study), data = d, prior = pri, chains = 4, cores = 2,
           iter = 2000, warmup = 1000, seed = 1, refresh = 0, silent = 2, backend = "rstan")
tot <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
el <- rstan::get_elapsed_time(fit$fit)
dr <- as_draws_df(fit)
keep <- grep("^(b_|sd_|sigma)", names(dr), value = TRUE)
s <- summarise_draws(subset_draws(dr, variable = keep), "ess_bulk", "rhat")
np <- nuts_params(fit); div <- sum(np$Value[np$Parameter == "divergent__"])
cat(sprintf("brms-ipd-meta total_s=%.1f sample_s=%.1f min_ess_bulk=%.0f max_rhat=%.3f ess_per_s_total=%.2f divergences=%d\n",
            tot, sum(el) / 2, min(s$ess_bulk), max(s$rhat), min(s$ess_bulk) / tot, div))
e <- dr$b_arm_c; tau <- dr$sd_study__arm_c
cat(sprintf("effect mean=%.3f sd=%.3f q05=%.3f q95=%.3f\n", mean(e), sd(e), quantile(e, .05), quantile(e, .95)))
cat(sprintf("tau mean=%.3f sd=%.3f q05=%.3f q95=%.3f\n", mean(tau), sd(tau), quantile(tau, .05), quantile(tau, .95)))
