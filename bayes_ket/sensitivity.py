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
correlations); the priors the model family declares as per-unit offsets
(``fit.meta["offset_priors"]``: terms indexed by patients, and the fixed N(0, 1) priors of
non-centred offsets; ``Family.offset_priors``) are left out.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import xarray as xr

from .errors import BayesKetError

THRESHOLD = 0.05


def log_prior_terms(fit, analysis=None) -> dict:
    """Per-free-RV log prior draws (chain, draw): the fit's ``log_prior`` group, or computed."""
    from .engine.idata import unconstrained_values

    idata = fit.idata
    if "log_prior" in idata.groups():
        return {n: np.asarray(idata.log_prior[n].to_numpy(), float) for n in idata.log_prior.data_vars}
    values = unconstrained_values(idata, analysis.compiled.value_names) if analysis is not None else None
    if values is not None:
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
    """ArviZ's own power-scaling sensitivity (CJS distance derivative), as az.psens uses it."""
    from arviz.stats.stats import _powerscale_sens

    return _powerscale_sens


def sensitivity(fit, prior_vars=None, delta: float = 0.01, threshold: float = THRESHOLD, quantities=None,
                analysis=None) -> pd.DataFrame:
    """Power-scaling sensitivity of every summary quantity, one row per quantity x coordinate.

    prior_vars: log-prior terms to power-scale (default: every population-level prior of the
      fit, i.e. all free RVs but standardized per-unit offsets).
    quantities: default every quantity of ``fit.quantities`` summarised from its own draws
      (an NNT is a transform of its risk difference, which is included).
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
        offsets = set(fit.meta.get("offset_priors", []))
        prior_vars = [n for n in terms if n not in offsets]
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

    qs = quantities or [q.name for q in fit.quantity_specs if q.summary == "draws"]
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
    declared = fit.meta.get("coordinate_columns", [])
    coord_cols = [c for c in table.columns if c not in ("quantity", "prior_sensitivity", "likelihood_sensitivity")]
    coord_cols = [c for c in declared if c in coord_cols] + [c for c in coord_cols if c not in declared]
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
