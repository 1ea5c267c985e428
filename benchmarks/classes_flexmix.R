# Plain group-based trajectory model by maximum likelihood (flexmix), the peer of
# bk.fit("classes", trial, k=4, random="none", degree=2, time="log") on the same CSV.
# A benchmark tool only (Debian's r-cran-flexmix); never a dependency of bayes_ket.
#
# usage: Rscript benchmarks/classes_flexmix.R data.csv out.csv [k] [nrep]
# data.csv: patient, day, y (one row per patient x visit). out.csv: one row per class x day with
# the class mean and its standard error (delta method on refit()'s covariance), plus the
# share (prior) and its standard error, classes ordered by their mean at day 7 (lowest first).
suppressPackageStartupMessages(library(flexmix))
args <- commandArgs(trailingOnly = TRUE)
k <- if (length(args) >= 3) as.integer(args[3]) else 4L
nrep <- if (length(args) >= 4) as.integer(args[4]) else 10L
d <- read.csv(args[1])
d$L <- log1p(d$day)
set.seed(1)
t0 <- proc.time()[["elapsed"]]
m <- stepFlexmix(y ~ L + I(L^2) | patient, data = d, k = k, nrep = nrep, verbose = FALSE)
seconds <- proc.time()[["elapsed"]] - t0
rf <- refit(m)
days <- sort(unique(d$day))
X <- cbind(1, log1p(days), log1p(days)^2)
coefs <- parameters(m)  # rows: coef.(Intercept), coef.L, coef.I(L^2), sigma; columns Comp.1..k
shares <- prior(m)
# shares' SE from the refit's concomitant model (multinomial logit intercepts, delta method)
out <- list()
level7 <- as.numeric(cbind(1, log1p(7), log1p(7)^2) %*% coefs[1:3, ])
order_ <- order(level7)
invisible(capture.output(sm <- summary(rf)))
for (j in seq_len(k)) {
  comp <- order_[j]
  tab <- sm@components[[1]][[comp]]
  V <- diag(tab[1:3, "Std. Error"]^2)
  # full covariance of the component's coefficients when refit() provides it
  vc <- tryCatch(rf@vcov, error = function(e) NULL)
  if (!is.null(vc)) {
    nm <- rownames(vc)
    idx <- grep(paste0("^model.1_Comp.", comp, "_coef"), nm)
    if (length(idx) == 3) V <- vc[idx, idx]
  }
  mean <- as.numeric(X %*% coefs[1:3, comp])
  se <- sqrt(pmax(rowSums((X %*% V) * X), 0))
  out[[j]] <- data.frame(class = j, day = days, mean = mean, se = se, share = shares[comp],
                         sigma = coefs[4, comp], seconds = seconds, loglik = as.numeric(logLik(m)),
                         bic = BIC(m))
}
res <- do.call(rbind, out)
# share SE: bootstrap-free approximation sqrt(p (1 - p) / N) (flexmix reports no SE for the prior)
res$share_se <- sqrt(res$share * (1 - res$share) / length(unique(d$patient)))
write.csv(res, args[2], row.names = FALSE)
cat(sprintf("flexmix k=%d: %.1f s, logLik %.1f, BIC %.1f, shares %s\n", k, seconds, logLik(m), BIC(m),
            paste(sprintf("%.3f", shares[order_]), collapse = " ")))
