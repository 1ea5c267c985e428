"""bk.sensitivity: power-scaling prior and likelihood sensitivity (Kallioinen et al. 2023).

The prior (or the likelihood) is raised to the power alpha = 1/(1+delta) and
1+delta; the draws are reweighted by Pareto-smoothed importance sampling with
log w = (alpha - 1) * log p(component), and the sensitivity of a quantity is the
finite-difference derivative of the cumulative Jensen-Shannon distance between
its weighted and unweighted distributions. This is exactly ``az.psens`` (ArviZ
0.23, whose own helpers ``_powerscale_lw`` / ``_powerscale_sens`` are used), applied
to *every* summary quantity, including the posterior-predictive ones
(``response_rate`` ...), which ``az.psens`` cannot reach, with the diagnosis
that ``az.psens`` does not give:

  prior >= 0.05 and likelihood >= 0.05  -> "prior-data conflict"
  prior >= 0.05 and likelihood <  0.05  -> "strong prior / weak likelihood"
  otherwise                             -> "none"

Only the population-level priors are power-scaled (effects, moderations, scales,
correlations); the standard-normal priors of non-centred per-patient / per-study
offsets (``patient_z``, ``study_z``, ``study_effect_z``, and any other ``*_z``) and of
centred per-patient effects (``patient_effect``, ``patient_intercept``, ``patient_level``,
``patient_deviation``, ``patient_change``) are left out.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import xarray as xr

from .errors import BayesKetError

THRESHOLD = 0.05
#: log-prior terms that are per-unit standardized offsets, never power-scaled
OFFSET_PRIORS = ("patient_z", "study_z", "study_effect_z", "patient_effect", "patient_intercept", "item_z",
                 "patient_item_z", "patient_level", "patient_deviation", "patient_change")


def _is_offset(name: str) -> bool:
    return name in OFFSET_PRIORS or name.endswith("_z")


def log_prior_terms(fit, analysis=None) -> dict:
    """Per-free-RV log prior draws (chain, draw): the fit's ``log_prior`` group, or computed."""
    idata = fit.idata
    if "log_prior" in idata.groups():
        return {n: np.asarray(idata.log_prior[n].to_numpy(), float) for n in idata.log_prior.data_vars}
    values = getattr(fit, "unconstrained", None)
    if analysis is not None and values is not None:
        cm = analysis.compiled
        parts = cm.apply(cm.logprior_fn, values, fit.priors)
        return {n: np.asarray(p, float) for n, p in zip(cm.logprior_names, parts)}
    raise BayesKetError(
        "This fit has no log_prior group. Fix: fit it with a bayes_ket whose InferenceData carries "
        "log_prior, or pass analysis= (the Analysis that sampled it, fit in this session)."
    )


def power_scale_weights(component: np.ndarray, delta: float):
    """Normalised PSIS weights for alpha = 1/(1+delta) and 1+delta, and their k-hats."""
    import arviz as az

    comp = np.asarray(component, float).ravel()
    out = []
    for alpha in (1.0 / (1.0 + delta), 1.0 + delta):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lw, k = az.psislw(((alpha - 1.0) * comp)[None, :])
        w = np.exp(np.asarray(lw)[0] - np.max(lw))
        out.append((w / w.sum(), float(np.asarray(k).ravel()[0])))
    return out


def _sens_fn():
    try:
        from arviz.stats.stats import _powerscale_sens
    except ImportError:  # pragma: no cover - other ArviZ versions
        _powerscale_sens = _powerscale_sens_local
    return _powerscale_sens


def sensitivity(fit, prior_vars=None, delta: float = 0.01, threshold: float = THRESHOLD, quantities=None,
                analysis=None) -> pd.DataFrame:
    """Power-scaling sensitivity of every summary quantity, one row per quantity x coordinate.

    prior_vars: log-prior terms to power-scale (default: every population-level prior of the
      fit, i.e. all free RVs but standardized per-unit offsets).
    quantities: default all of ``fit.quantities`` except nnt_response (a transform of
      response_difference, which is included).
    analysis: needed only when the fit carries no log_prior group (then the Analysis that
      sampled it computes the log prior from ``fit.unconstrained``).

    Columns: quantity, coordinates, prior_sensitivity, likelihood_sensitivity, diagnosis.
    ``attrs``: prior_vars, threshold, delta, prior_khat / likelihood_khat (Pareto k of the
    power-scaling weights, reliable below 0.7).
    """
    if not 0 < delta < 1:
        raise BayesKetError(f"delta={delta}: use a small positive number such as 0.01.")
    terms = log_prior_terms(fit, analysis)
    if prior_vars is None:
        prior_vars = [n for n in terms if not _is_offset(n)]
    else:
        prior_vars = [prior_vars] if isinstance(prior_vars, str) else list(prior_vars)
        bad = [n for n in prior_vars if n not in terms]
        if bad:
            raise BayesKetError(f"prior_vars {bad} not among this fit's priors. Fix: use names from {sorted(terms)}.")
    if not prior_vars:
        raise BayesKetError("No prior terms to power-scale.")
    log_prior = np.sum([terms[n] for n in prior_vars], axis=0)
    ll = fit.idata.log_likelihood
    log_lik = sum(ll[v].sum([d for d in ll[v].dims if d not in ("chain", "draw")]) for v in ll.data_vars)
    log_lik = np.asarray(log_lik.transpose("chain", "draw").to_numpy(), float)

    (pw_lo, pk_lo), (pw_hi, pk_hi) = power_scale_weights(log_prior, delta)
    (lw_lo, lk_lo), (lw_hi, lk_hi) = power_scale_weights(log_lik, delta)
    raw = _sens_fn()

    def sens(x, **kw):
        if not np.all(np.isfinite(x)) or np.ptp(x) == 0:
            return np.nan if not np.all(np.isfinite(x)) else 0.0
        return float(raw(x, **kw))

    qs = quantities or [q for q in fit.quantities if q != "nnt_response"]
    tables = []
    for q in qs:
        da = fit.draws(q).transpose("chain", "draw", ...)
        a = np.asarray(da.to_numpy(), float)
        flat = a.reshape(a.shape[0] * a.shape[1], -1)
        ps = np.array([sens(flat[:, j], lower_weights=pw_lo, upper_weights=pw_hi, delta=delta)
                       for j in range(flat.shape[1])])
        ls = np.array([sens(flat[:, j], lower_weights=lw_lo, upper_weights=lw_hi, delta=delta)
                       for j in range(flat.shape[1])])
        template = da.isel(chain=0, draw=0, drop=True)
        ds = xr.Dataset({
            "prior_sensitivity": template.copy(data=ps.reshape(template.shape)),
            "likelihood_sensitivity": template.copy(data=ls.reshape(template.shape)),
        })
        if template.ndim:
            t = ds.to_dataframe().reset_index()
            t = t[[c for c in t.columns if c in ds.data_vars or c in template.dims]]
        else:
            t = pd.DataFrame({k: [float(v)] for k, v in ds.items()})
        t.insert(0, "quantity", q)
        tables.append(t)
    table = pd.concat(tables, ignore_index=True)
    coord_cols = [c for c in ("day", "arm", "item", "moderator", "study", "class") if c in table]
    table = table[["quantity", *coord_cols, "prior_sensitivity", "likelihood_sensitivity"]]
    table["diagnosis"] = diagnose(table["prior_sensitivity"], table["likelihood_sensitivity"], threshold)
    table.attrs = {"prior_vars": prior_vars, "threshold": threshold, "delta": delta,
                   "prior_khat": max(pk_lo, pk_hi), "likelihood_khat": max(lk_lo, lk_hi),
                   "method": "power-scaling (Kallioinen et al. 2023), ArviZ psens helpers, PSIS weights"}
    return table


def diagnose(prior, likelihood, threshold: float = THRESHOLD) -> np.ndarray:
    prior, likelihood = np.asarray(prior, float), np.asarray(likelihood, float)
    return np.where(prior >= threshold,
                    np.where(likelihood >= threshold, "prior-data conflict", "strong prior / weak likelihood"),
                    "none")


# ---- fallback copy of ArviZ 0.23's helpers (priorsense's CJS distance) -------------------
def _cjs_dist(draws, weights):
    order = np.argsort(draws)
    draws, weights = draws[order], weights[order]
    binwidth = np.diff(draws)
    n = len(draws)
    cdf_p = np.linspace(1 / n, 1 - 1 / n, n - 1)
    cdf_q = np.cumsum(weights / np.sum(weights))[:-1]
    cdf_p_int, cdf_q_int = np.dot(cdf_p, binwidth), np.dot(cdf_q, binwidth)
    pq = np.log2(cdf_p, out=np.zeros_like(cdf_p), where=cdf_p != 0)
    qp = np.log2(cdf_q, out=np.zeros_like(cdf_q), where=cdf_q != 0)
    den = 0.5 * (cdf_p + cdf_q)
    den = np.log2(den, out=np.zeros_like(den), where=den != 0)
    cjs_pq = max(0, np.sum(binwidth * (cdf_p * (pq - den))) + 0.5 / np.log(2) * (cdf_q_int - cdf_p_int))
    cjs_qp = max(0, np.sum(binwidth * (cdf_q * (qp - den))) + 0.5 / np.log(2) * (cdf_p_int - cdf_q_int))
    bound = cdf_p_int + cdf_q_int
    return np.sqrt((cjs_pq + cjs_qp) / bound) if bound > 0 else 0.0


def _powerscale_sens_local(draws, *, lower_weights=None, upper_weights=None, delta=0.01):
    lo = max(_cjs_dist(draws, lower_weights), _cjs_dist(-draws, lower_weights))
    hi = max(_cjs_dist(draws, upper_weights), _cjs_dist(-draws, upper_weights))
    return (lo + hi) / (2 * np.log2(1 + delta))
