# brms fitting the items family's default structure on the same CSV (a benchmark peer only).
# bayes_ket default (models/items.toml): cumulative logit, thresholds per item; one mean per visit
# (day 0 the reference); fixed study offsets (2 studies); MSM main effect; ketamine x post-baseline
# effect and its MSM moderation, partially pooled over items; a patient intercept and an independent
# patient shift after baseline. Usage: Rscript items_default.R items.csv   (columns: patient, study,
# arm, msm, day, item, score 0-6). Prints one figures line, then the per-item effect and moderation.
suppressMessages({library(brms); library(posterior)})
args <- commandArgs(TRUE); d <- read.csv(args[1])
d$score <- d$score + 1  # brms cumulative wants 1..K
pm <- tapply(d$msm, d$patient, function(x) x[1])
d$msm_c <- d$msm - mean(pm)
d$fday <- factor(d$day); d$study <- factor(d$study)
d$post <- as.numeric(d$day > 0)
d$arm_post <- d$arm * d$post
t0 <- Sys.time()
fit <- brm(score | thres(gr = item) ~ 1 + fday + study + msm_c + arm_post + arm_post:msm_c +
             (0 + arm_post + arm_post:msm_c || item) + (1 | patient) + (0 + post | patient),
           family = cumulative("logit"), data = d, chains = 4, cores = 2,
           iter = 2000, warmup = 1000, seed = 1, refresh = 0, silent = 2, backend = "rstan")
t1 <- Sys.time()
el <- rstan::get_elapsed_time(fit$fit)
dr <- as_draws_df(fit)
keep <- grep("^(b_|sd_|r_item)", names(dr), value = TRUE)
s <- summarise_draws(subset_draws(dr, variable = keep), "ess_bulk", "ess_tail", "rhat")
tot <- as.numeric(difftime(t1, t0, units = "secs"))
np <- nuts_params(fit); div <- sum(np$Value[np$Parameter == "divergent__"])
cat(sprintf("brms-items-default total_s=%.1f sample_s=%.1f min_ess_bulk=%.0f min_ess_tail=%.0f max_rhat=%.3f ess_per_s_total=%.3f ess_per_s_sampling=%.3f divergences=%d\n",
            tot, sum(el)/2, min(s$ess_bulk), min(s$ess_tail), max(s$rhat), min(s$ess_bulk)/tot,
            min(s$ess_bulk)/(sum(el)/2), div))
co <- coef(fit)$item
print(round(co[, "Estimate", c("arm_post", "arm_post:msm_c")], 3))
