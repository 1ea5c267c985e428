"""Fit: a sampled model and everything a user asks of it (API.md).

A Fit is an ``arviz.InferenceData`` plus a metadata dict (card, priors, design
facts) kept in ``idata.attrs``; every summary is computed from those two alone,
so a fit loaded from disk summarises identically.
"""

from __future__ import annotations

import json
import operator
import warnings

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from .errors import BayesKetError

#: dims that all mean "day" in the summary table
_DAY_DIMS = ("day", "day_post", "day_obs")
_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
META_KEY = "bayes_ket"


class Fit:
    """Posterior of one model on one trial. See API.md for the meaning of each quantity."""

    def __init__(self, idata: az.InferenceData, meta: dict):
        self.idata = idata
        self.meta = meta
        idata.attrs[META_KEY] = json.dumps(meta, default=_json_default)

    # ---- what was fitted ---------------------------------------------------
    @property
    def priors(self) -> dict:
        """Every prior hyperparameter this fit used: name -> number."""
        return dict(self.meta["priors"])

    @property
    def card(self) -> dict:
        return self.meta["card"]

    def __repr__(self) -> str:
        m = self.meta
        return (f"Fit({m['card']['name']}: {m['outcome']} ~ time={m['time']}, moderators={m['moderators']}, "
                f"{m['n_patients']} patients, study level {m['study_level']}, {m['chains']}x{m['draws']} draws)")

    # ---- draws of a quantity -----------------------------------------------
    def draws(self, quantity: str) -> xr.DataArray:
        """Posterior draws (chain, draw, coords...) of a summary quantity, dims named as in the summary."""
        if quantity == "nnt_response":
            raise BayesKetError("nnt_response is summarised from response_difference; use draws('response_difference').")
        for group in ("posterior", "posterior_predictive"):
            if group in self.idata.groups() and quantity in self.idata[group]:
                da = self.idata[group][quantity]
                return da.rename({d: "day" for d in da.dims if d in _DAY_DIMS})
        raise BayesKetError(f"This fit has no quantity {quantity!r}. Fix: use one of {self.quantities}.")

    @property
    def quantities(self) -> list[str]:
        return list(self.meta["quantities"]) + list(self.meta["predictive_quantities"])

    # ---- summaries -----------------------------------------------------------
    def summary(self, ci_prob: float = 0.95, quantities=None) -> pd.DataFrame:
        """Tidy table: quantity, coordinates, mean, sd, lower, upper, prob_positive, r_hat, ess_bulk, ess_tail.

        ``df.attrs["diagnostics"]`` carries ``diagnostics()``; a warning is raised when they are not ok.
        """
        if not 0 < ci_prob < 1:
            raise BayesKetError(f"ci_prob={ci_prob} must lie strictly between 0 and 1.")
        tables = []
        for q in quantities or self.quantities:
            if q == "nnt_response":
                tables.append(_nnt_table(self.draws("response_difference"), ci_prob))
            else:
                tables.append(tidy(self.draws(q), q, ci_prob))
        table = pd.concat(tables, ignore_index=True)
        coord_cols = [c for c in ("day", "arm", "item", "moderator", "study", "class") if c in table]
        stats = ["mean", "sd", "lower", "upper", "prob_positive", "r_hat", "ess_bulk", "ess_tail"]
        table = table[["quantity", *coord_cols, *stats]]
        diag = self.diagnostics()
        table.attrs["diagnostics"] = diag
        if not diag["ok"]:
            warnings.warn("Sampling problems: " + "; ".join(diag["reasons"]), stacklevel=2)
        return table

    def diagnostics(self, min_ess: int = 400) -> dict:
        """Divergences, R-hat, ESS, BFMI and Pareto-k, with a verdict and its reasons."""
        return diagnose(self.idata, self.meta, min_ess=min_ess)

    def prob(self, quantity: str, op: str, value: float, **coords):
        """Posterior probability that ``quantity op value`` at the given coordinates.

        e.g. fit.prob("effect", "<", -2, day=14). Returns a float, or a Series over
        the coordinates not fixed.
        """
        if op not in _OPS:
            raise BayesKetError(f"op={op!r}: use one of {list(_OPS)}.")
        da = _select(self.draws(quantity), quantity, coords)
        p = _OPS[op](da, value).mean(("chain", "draw"))
        return float(p) if p.ndim == 0 else p.to_series()

    def conditional_effect(self, moderator: str = "msm", values=(4, 8, 12, 15), ci_prob: float = 0.95,
                           quantity: str = "effect") -> pd.DataFrame:
        """``quantity`` at chosen moderator values: effect + (v - reference) x moderation."""
        if moderator not in self.meta["moderators"]:
            raise BayesKetError(f"Moderator {moderator!r} was not in this fit. Fix: use one of {self.meta['moderators']}.")
        base = self.draws(quantity)
        slope = self.draws("moderation").sel(moderator=moderator, drop=True)
        ref = self.meta["moderator_reference"][moderator]
        tables = []
        for v in values:
            t = tidy(base + (float(v) - ref) * slope, quantity, ci_prob)
            t.insert(1, moderator, v)
            tables.append(t)
        return pd.concat(tables, ignore_index=True)

    # ---- figures, persistence, comparison -----------------------------------
    def plot_ppc(self, path=None, **kwargs):
        """Posterior predictive figure, written to ``path`` (format from its suffix)."""
        from .plots import plot_ppc

        return plot_ppc(self, path, **kwargs)

    def save(self, path) -> None:
        """netCDF with the card, priors and design facts in its attributes."""
        self.idata.attrs[META_KEY] = json.dumps(self.meta, default=_json_default)
        self.idata.to_netcdf(str(path))


def load_fit(path) -> Fit:
    """Read a fit written by ``Fit.save``."""
    idata = az.from_netcdf(str(path))
    if META_KEY not in idata.attrs:
        raise BayesKetError(f"{path} was not written by Fit.save (no {META_KEY!r} attribute).")
    meta = json.loads(idata.attrs[META_KEY])
    return Fit(idata, meta)


def compare(fits: dict, **kwargs) -> pd.DataFrame:
    """PSIS-LOO comparison table of named fits (``arviz.compare``)."""
    if not fits or not all(isinstance(f, Fit) for f in fits.values()):
        raise BayesKetError("compare() takes {name: Fit, ...} with at least one fit.")
    return az.compare({name: f.idata for name, f in fits.items()}, **kwargs)


# ---- helpers ------------------------------------------------------------------
def tidy(da: xr.DataArray, quantity: str, ci_prob: float) -> pd.DataFrame:
    """One row per coordinate combination of draws ``da`` (chain, draw, ...)."""
    da = da.rename({d: "day" for d in da.dims if d in _DAY_DIMS})
    tail = (1 - ci_prob) / 2
    sample = da.stack(sample=("chain", "draw"))
    ds = xr.Dataset({
        "mean": sample.mean("sample"),
        "sd": sample.std("sample", ddof=1),
        "lower": sample.quantile(tail, "sample", skipna=False).drop_vars("quantile"),
        "upper": sample.quantile(1 - tail, "sample", skipna=False).drop_vars("quantile"),
        "prob_positive": (sample > 0).mean("sample"),
        "r_hat": az.rhat(xr.Dataset({"x": da}))["x"],
        "ess_bulk": az.ess(xr.Dataset({"x": da}), method="bulk")["x"],
        "ess_tail": az.ess(xr.Dataset({"x": da}), method="tail")["x"],
    })
    table = ds.to_dataframe().reset_index() if ds["mean"].ndim else pd.DataFrame({k: [float(v)] for k, v in ds.items()})
    table = table[[c for c in table.columns if c in ds.data_vars or c in ds["mean"].dims]]
    table.insert(0, "quantity", quantity)
    return table


def _nnt_table(rd: xr.DataArray, ci_prob: float) -> pd.DataFrame:
    """NNT = 1/RD: median of 1/RD and the interval [1/upper_RD, 1/lower_RD] (inf when RD's reaches 0)."""
    t = tidy(rd, "nnt_response", ci_prob)
    sample = rd.stack(sample=("chain", "draw"))
    t["mean"] = (1.0 / sample).median("sample").to_numpy()
    t["sd"] = np.nan
    lo_rd, hi_rd = t["lower"].to_numpy(), t["upper"].to_numpy()
    with np.errstate(divide="ignore"):
        t["lower"] = np.where(hi_rd > 0, 1.0 / hi_rd, np.nan)
        t["upper"] = np.where(lo_rd > 0, 1.0 / lo_rd, np.where(hi_rd > 0, np.inf, np.nan))
    return t


def _select(da: xr.DataArray, quantity: str, coords: dict) -> xr.DataArray:
    for name, value in coords.items():
        if name not in da.dims:
            raise BayesKetError(f"{quantity} has no coordinate {name!r}; it has {list(da.dims[2:])}.")
        if value not in da[name].values:
            raise BayesKetError(f"{quantity}: {name}={value!r} not among {list(da[name].values)}.")
        da = da.sel({name: value})
    return da


def diagnose(idata: az.InferenceData, meta: dict, min_ess: int = 400) -> dict:
    """Sampling diagnostics over population-level parameters and summary quantities."""
    post = idata.posterior
    names = [v for v in meta["population_vars"] + meta["quantities"] if v in post]
    ds = post[names]
    rhat = az.rhat(ds)
    ess_b = az.ess(ds, method="bulk")
    ess_t = az.ess(ds, method="tail")
    finite = lambda d, f: float(f([float(f(d[v].values)) for v in d.data_vars if np.isfinite(d[v].values).any()]))
    divergences = int(idata.sample_stats["diverging"].sum())
    out = {
        "divergences": divergences,
        "max_rhat": finite(rhat, np.nanmax),
        "min_ess_bulk": finite(ess_b, np.nanmin),
        "min_ess_tail": finite(ess_t, np.nanmin),
        "bfmi": float(np.min(az.bfmi(idata))),
        "pareto_k_high": _pareto_k_high(idata),
        "study_level": meta.get("study_level"),
        "backend": meta.get("backend"),
    }
    reasons = []
    if divergences:
        reasons.append(f"{divergences} divergent transitions")
    if out["max_rhat"] > 1.01:
        reasons.append(f"max R-hat {out['max_rhat']:.3f} > 1.01")
    if out["min_ess_bulk"] < min_ess:
        reasons.append(f"min bulk ESS {out['min_ess_bulk']:.0f} < {min_ess}")
    if out["min_ess_tail"] < min_ess:
        reasons.append(f"min tail ESS {out['min_ess_tail']:.0f} < {min_ess}")
    if out["bfmi"] < 0.3:
        reasons.append(f"BFMI {out['bfmi']:.2f} < 0.3")
    out["ok"] = not reasons
    out["reasons"] = reasons
    return out


def _pareto_k_high(idata) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loo = az.loo(idata, pointwise=True)
    return int((loo.pareto_k.values > 0.7).sum())


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (pd.Timestamp,)):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
