"""``bk.select_classes``: choose the number of trajectory classes.

For each k the classes model is fitted and compared on

- **elpd** of patient-level leave-one-out: PSIS-LOO of each patient's marginal likelihood (class
  membership summed out, hence label invariant). Patients whose Pareto k exceeds 0.7 are
  predicted by K-fold by patient instead: they are split into at most ``kfold`` folds, each
  fold is left out by a refit (weight 0 in the likelihood; the compiled sampler is reused) and
  its patients' log predictive density is the log mean over the refit's draws of their
  marginal likelihood. ``se_diff``: the standard error of the pointwise difference from the
  best k (``sqrt(N var(elpd_i(k) - elpd_i(best)))``);
- **BIC** at the posterior mode: -2 log L(mode) + p log(N patients), p the number of free
  parameters (PROC TRAJ's sample size is the number of subjects), for readers used to PROC TRAJ;
- adequacy: the smallest class share (posterior mean model share) and the smallest APPA.

Recommendation: the simplest k whose elpd is within one ``se_diff`` of the best k, with every
class share >= 5%, every APPA >= 0.7 and no flag; when no such k exists, the eligible k with
the highest elpd (k = 1 is always eligible). Flags: an extra class that is empty (model share
below ``collapse_share`` or no patient assigned) or duplicates another (two class curves never
more than ``duplicate_tolerance`` x the outcome's range apart).
"""

from __future__ import annotations

import copy
import time as _time
import warnings

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from ..errors import BayesKetError

MIN_SHARE = 0.05
MIN_APPA = 0.7
SELECT_DRAWS = {"draws": 500, "tune": 500, "chains": 4}


def _patient_loglik(fit) -> np.ndarray:
    ll = fit.idata.log_likelihood["y_patient"].transpose("chain", "draw", "patient").to_numpy()
    return ll.reshape(-1, ll.shape[-1])


def kfold_elpd(analysis, patients_idx: np.ndarray, folds: int, sample_options: dict, seed: int) -> np.ndarray:
    """Log predictive density of the patients ``patients_idx``, each predicted by a refit that
    leaves its fold out (patient weight 0); the compiled sampler is reused."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(patients_idx)
    groups = np.array_split(order, min(folds, len(order)))
    out = {}
    N = len(analysis.design.patients)
    for f, group in enumerate(groups):
        weight = np.ones(N)
        weight[group] = 0.0
        refit = copy.copy(analysis)
        refit.data = {**analysis.data, "patient_weight": weight}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = refit.sample(seed=seed + 1000 + f, progressbar=False, **sample_options)
        ll = _patient_loglik(fit)
        for i in group:
            out[int(i)] = float(logsumexp(ll[:, i]) - np.log(len(ll)))
    return np.array([out[int(i)] for i in patients_idx])


def posterior_mode(analysis, fit):
    """Maximise log prior + log-likelihood (no Jacobian: the mode of the posterior density of the
    model's own parameters) from the draw of highest log density. Returns (log-likelihood at the
    mode, number of free parameters, success)."""
    import jax
    import jax.numpy as jnp
    from scipy.optimize import minimize

    from ..engine.idata import unconstrained_values

    cm = analysis.compiled
    values = unconstrained_values(fit.idata, cm.value_names)
    lp = fit.idata.sample_stats["lp"].transpose("chain", "draw").to_numpy().reshape(-1)
    best = int(np.nanargmax(lp))
    shapes = [v.shape[2:] for v in values]
    sizes = [int(np.prod(s, dtype=int)) for s in shapes]
    x0 = np.concatenate([v.reshape((-1,) + v.shape[2:])[best].ravel() for v in values])
    data = cm.data_values({**analysis.data, **fit.priors})
    terms = cm.extra_fns["patient_terms"]

    def unflatten(x):
        parts, start = [], 0
        for shape, size in zip(shapes, sizes):
            parts.append(x[start:start + size].reshape(shape))
            start += size
        return parts

    def loglik(x):
        return jnp.sum(terms(*unflatten(x), *data)[0][:, -1])

    def objective(x):
        prior = sum(jnp.sum(t) for t in cm.logprior_fn(*unflatten(x), *data))
        return -(prior + loglik(x))

    f = jax.jit(jax.value_and_grad(objective))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = minimize(lambda x: tuple(np.asarray(a, float) for a in f(x)), x0, jac=True, method="L-BFGS-B",
                       options={"maxiter": 2000})
    x = res.x if np.isfinite(res.fun) and res.fun <= float(f(x0)[0]) else x0
    return float(jax.jit(loglik)(x)), int(sum(sizes)), bool(res.success)


def _flags(fit, design) -> tuple[str, float, float]:
    """(flag text, smallest model share, smallest APPA) of a fit."""
    share = fit.draws("class_share").mean(("chain", "draw")).to_numpy()
    K = len(share)
    if K == 1:
        return "", 1.0, 1.0
    appa = np.nan_to_num(fit.draws("appa").mean(("chain", "draw"), skipna=True).to_numpy(), nan=0.0)
    memb = fit.idata.posterior["membership"].mean(("chain", "draw")).to_numpy()
    assigned = np.bincount(memb.argmax(axis=1), minlength=K)
    collapse = float(design.settings.get("collapse_share", 0.02))
    flags = [f"empty class {i + 1} (share {100 * share[i]:.1f}%, {assigned[i]} assigned)"
             for i in range(K) if share[i] < collapse or assigned[i] == 0]
    curves = fit.draws("class_trajectory").mean(("chain", "draw")).transpose("class", "day").to_numpy()
    tol = float(design.settings.get("duplicate_tolerance", 0.03)) * design.outcomes[0].range
    for i in range(K):
        for j in range(i + 1, K):
            if np.max(np.abs(curves[i] - curves[j])) < tol:
                flags.append(f"duplicate classes {i + 1} and {j + 1} (curves within {tol:.1f} points)")
    return "; ".join(flags), float(share.min()), float(appa.min())


def select_classes(trial, k=range(1, 7), outcome="madrs_total", model="classes", draws=None, tune=None, chains=None,
                   seed=0, kfold=None, progressbar=False, return_fits=False, **options):
    """Fit the classes model for each number of classes in ``k`` and compare them (module docstring).

    outcome and options (time=, degree=, random=, predictors=, covariates=, priors=, ...) go to
    every fit; draws / tune / chains default to 500 / 500 / 4 per k. kfold: folds for the
    patients with Pareto k > 0.7 (card setting ``kfold``, 5).

    Returns one row per k: k, elpd_loo, se (of elpd), se_diff (of the difference from the best k),
    bic, min_share, min_appa, flag ("" or the empty / duplicate classes), recommended (exactly one
    True), why (the reason, in words), and n_kfold (patients predicted by K-fold), p_loo,
    divergences, max_rhat, sampling_ok, seconds. With return_fits=True: (table, {k: Fit}).
    """
    from ..fitting import Analysis

    ks = sorted({int(v) for v in ([k] if isinstance(k, (int, np.integer)) else k)})
    if not ks or ks[0] < 1:
        raise BayesKetError(f"k={k!r}: give the numbers of classes to compare, e.g. k=range(1, 7).")
    if "k" in options:
        raise BayesKetError("select_classes takes the numbers of classes as k=, e.g. k=range(1, 7).")
    sample = {"draws": draws or SELECT_DRAWS["draws"], "tune": tune or SELECT_DRAWS["tune"],
              "chains": chains or SELECT_DRAWS["chains"]}
    for name in ("target_accept", "max_treedepth", "dense_mass"):
        if name in options:
            sample[name] = options.pop(name)
    # every request is checked before anything is compiled
    for K in ks:
        from ..fitting import prepare

        prepare(model, trial, outcome=outcome, k=K, **options)
    rows, pointwise, fits = [], {}, {}
    for K in ks:
        t0 = _time.perf_counter()
        analysis = Analysis(model, trial, outcome=outcome, k=K, **options)
        with warnings.catch_warnings():
            # sampling problems are columns of the table (divergences, max_rhat, sampling_ok), not one
            # warning per K; every other warning (data, relabelling, modes) still shows
            warnings.filterwarnings("ignore", message="Sampling problems")
            fit = analysis.sample(seed=seed, progressbar=progressbar, **sample)
            diag = fit.diagnostics()
        loo = fit.loo()
        elpd_i = np.asarray(loo.loo_i.values, float).copy()
        high = np.flatnonzero(np.asarray(loo.pareto_k.values) > 0.7)
        folds = int(kfold or analysis.design.settings.get("kfold", 5))
        if len(high):
            elpd_i[high] = kfold_elpd(analysis, high, folds, sample, seed)
        ll_mode, n_par, _ = posterior_mode(analysis, fit)
        N = len(elpd_i)
        flag, min_share, min_appa = _flags(fit, analysis.design)
        pointwise[K] = elpd_i
        fits[K] = fit
        rows.append({"k": K, "elpd_loo": float(elpd_i.sum()), "se": float(np.sqrt(N * np.var(elpd_i))),
                     "bic": -2.0 * ll_mode + n_par * np.log(N), "min_share": min_share, "min_appa": min_appa,
                     "flag": flag, "n_kfold": int(len(high)), "p_loo": float(loo.p_loo),
                     "divergences": diag["divergences"], "max_rhat": diag["max_rhat"], "sampling_ok": diag["ok"],
                     "seconds": _time.perf_counter() - t0})
    table = pd.DataFrame(rows)
    best = int(table.loc[table["elpd_loo"].idxmax(), "k"])
    table["se_diff"] = [float(np.sqrt(len(pointwise[K]) * np.var(pointwise[K] - pointwise[best]))) for K in ks]
    table = recommend(table)
    cols = ["k", "elpd_loo", "se", "se_diff", "bic", "min_share", "min_appa", "flag", "recommended", "why",
            "n_kfold", "p_loo", "divergences", "max_rhat", "sampling_ok", "seconds"]
    table = table[cols]
    table.attrs = {"outcome": outcome, "best_elpd_k": best, "sample": sample,
                   "pointwise_elpd": {K: pointwise[K].tolist() for K in ks}, "rule": (
        f"simplest k with elpd within one se_diff of the best, every class share >= {MIN_SHARE:.0%}, "
        f"APPA >= {MIN_APPA}, no flag")}
    return (table, fits) if return_fits else table


def recommend(table: pd.DataFrame) -> pd.DataFrame:
    """Add ``recommended`` and ``why`` to a table with k, elpd_loo, se_diff, min_share, min_appa, flag."""
    t = table.sort_values("k").reset_index(drop=True).copy()
    best = t.loc[t["elpd_loo"].idxmax()]
    within = t["elpd_loo"] >= best["elpd_loo"] - t["se_diff"]
    eligible = (t["min_share"] >= MIN_SHARE) & (t["min_appa"] >= MIN_APPA) & (t["flag"].fillna("") == "")
    candidates = t[within & eligible]
    if len(candidates):
        pick = int(candidates["k"].min())
        rule = "the simplest k"
    else:
        pick = int(t.loc[t[eligible]["elpd_loo"].idxmax(), "k"]) if eligible.any() else int(t["k"].min())
        rule = "no adequate k within one se_diff of the best: the adequate k with the highest elpd"
    whys = []
    for i, row in t.iterrows():
        reasons = []
        if not within[i]:
            reasons.append(f"elpd {row['elpd_loo'] - best['elpd_loo']:.1f} below the best (k={int(best['k'])}), "
                           f"more than one se_diff ({row['se_diff']:.1f})")
        if row["min_share"] < MIN_SHARE:
            reasons.append(f"a class share {100 * row['min_share']:.1f}% < {100 * MIN_SHARE:.0f}%")
        if row["min_appa"] < MIN_APPA:
            reasons.append(f"an APPA {row['min_appa']:.2f} < {MIN_APPA}")
        if str(row["flag"] or ""):
            reasons.append(f"flag: {row['flag']}")
        if int(row["k"]) == pick:
            text = (f"recommended: {rule} with elpd within one se_diff of the best (k={int(best['k'])}), "
                    f"every class >= {100 * MIN_SHARE:.0f}% (smallest {100 * row['min_share']:.1f}%) and APPA >= "
                    f"{MIN_APPA} (smallest {row['min_appa']:.2f})") if rule == "the simplest k" else f"recommended: {rule}"
        elif reasons:
            text = "; ".join(reasons)
        else:
            text = f"qualifies, but k={pick} is simpler"
        whys.append(text)
    t["recommended"] = t["k"] == pick
    t["why"] = whys
    return t
