"""Tidy summaries of posterior draws: one function per summariser, with optional weights.

A family's ``Quantity`` names its summariser ("draws" or "nnt"); ``summarise`` turns the
draws (chain, draw, coords...) into rows: coordinates, mean, sd, lower, upper (an
equal-tailed interval at ``ci_prob``), prob_positive, r_hat, ess_bulk, ess_tail, and
``prob_relevant`` where the quantity sets a relevant size (one number, or one per value of a
coordinate). Cells of a quantity's grid whose draws are all missing (NaN: a combination
that does not exist, e.g. a study-level moderator at the within-study level) are not rows.
With ``weights`` (normalised importance weights over the flattened draws, as a prior sweep's
PSIS reweighting gives) every statistic is the weighted one (xarray's weighted mean and
quantiles); R-hat and ESS are the unweighted draws', the ESS multiplied by ``ess_scale``.
"""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from ._lazy import arviz_numpy
from .families.base import Quantity

STAT_COLUMNS = ["mean", "sd", "lower", "upper", "prob_positive", "r_hat", "ess_bulk", "ess_tail"]


def rename_dims(da: xr.DataArray, dim_names: dict) -> xr.DataArray:
    """Model dims -> summary coordinate columns (e.g. day_post -> day)."""
    return da.rename({d: dim_names[d] for d in da.dims if d in dim_names})


def _convergence(da: xr.DataArray) -> xr.Dataset:
    """R-hat and bulk / tail ESS per cell; NaN with one chain (R-hat needs two) or no variation."""
    ds = xr.Dataset({"x": da})
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"), arviz_numpy():
        warnings.simplefilter("ignore")
        rhat = az.rhat(ds)["x"] if da.sizes["chain"] > 1 else xr.full_like(da.isel(chain=0, draw=0, drop=True), np.nan)
        return xr.Dataset({"r_hat": rhat, "ess_bulk": az.ess(ds, method="bulk")["x"],
                           "ess_tail": az.ess(ds, method="tail")["x"]})


def _stats(sample: xr.DataArray, ci_prob: float, weights: xr.DataArray | None) -> xr.Dataset:
    """mean, sd, lower, upper, prob_positive over dim "sample"."""
    tail = (1 - ci_prob) / 2
    if weights is None:
        q = sample.quantile([tail, 1 - tail], "sample", skipna=False)
        return xr.Dataset({"mean": sample.mean("sample"), "sd": sample.std("sample", ddof=1),
                           "lower": q.isel(quantile=0, drop=True), "upper": q.isel(quantile=1, drop=True),
                           "prob_positive": (sample > 0).mean("sample")})
    w = sample.weighted(weights)
    mean = w.mean("sample")
    var = ((sample - mean) ** 2).weighted(weights).mean("sample") / max(1e-12, 1.0 - float((weights**2).sum()))
    q = w.quantile([tail, 1 - tail], dim="sample")
    return xr.Dataset({"mean": mean, "sd": np.sqrt(var), "lower": q.isel(quantile=0, drop=True),
                       "upper": q.isel(quantile=1, drop=True),
                       "prob_positive": (sample > 0).astype(float).weighted(weights).mean("sample")})


def _to_frame(ds: xr.Dataset, quantity: str, order: list) -> pd.DataFrame:
    dims = list(ds["mean"].dims)
    if dims:
        table = ds.to_dataframe().reset_index()
        table = table[[c for c in table.columns if c in ds.data_vars or c in dims]]
    else:
        table = pd.DataFrame({k: [float(v)] for k, v in ds.items()})
    table.insert(0, "quantity", quantity)
    return table[["quantity", *dims, *[c for c in order if c in table]]]


def summarise_draws(da: xr.DataArray, name: str, ci_prob: float, weights=None, ess_scale: float = 1.0,
                    relevant: float | None = None) -> pd.DataFrame:
    """Rows of the "draws" summariser for draws ``da`` (chain, draw, coords...)."""
    keep = da.notnull().any(("chain", "draw"))
    if not bool(keep.all()):  # cells of a quantity's grid that do not exist (all draws NaN) are not rows
        da = da.where(keep, 0.0)
    sample = da.stack(sample=("chain", "draw")).transpose("sample", ...)
    w = None if weights is None else xr.DataArray(np.asarray(weights, float), dims="sample")
    ds = _stats(sample.drop_vars(["sample", "chain", "draw"], errors="ignore"), ci_prob, w)
    ds = ds.merge(_convergence(da))
    ds["ess_bulk"] = ds["ess_bulk"] * ess_scale
    ds["ess_tail"] = ds["ess_tail"] * ess_scale
    order = list(STAT_COLUMNS)
    if relevant is not None:
        big = (abs(sample) > _relevant_sizes(relevant, sample)).astype(float)
        ds["prob_relevant"] = big.mean("sample") if w is None else big.weighted(w).mean("sample")
        order.append("prob_relevant")
    if not bool(keep.all()):
        ds["_keep"] = keep
        table = _to_frame(ds, name, order + ["_keep"])
        return table[table["_keep"].astype(bool)].drop(columns="_keep").reset_index(drop=True)
    return _to_frame(ds, name, order)


def _relevant_sizes(relevant, sample: xr.DataArray):
    """A relevant size: one number, or {dim: {coordinate value: size}} for sizes that differ along
    one coordinate (e.g. per moderator unit); a value without a size gets NaN (prob_relevant 0)."""
    if not isinstance(relevant, dict):
        return relevant
    (dim, sizes), = relevant.items()
    labels = sample[dim].values
    return xr.DataArray([float(sizes.get(str(v), np.nan)) for v in labels], dims=dim, coords={dim: labels})


def summarise_nnt(rd: xr.DataArray, name: str, ci_prob: float, weights=None, ess_scale: float = 1.0,
                  relevant: float | None = None) -> pd.DataFrame:
    """Number needed to treat from risk-difference draws ``rd``.

    mean: the median of 1/RD (a mean of 1/RD does not exist when RD can be 0); sd: NaN;
    interval: [1/upper, 1/lower] of RD's interval, with an infinite upper bound when RD's
    interval reaches 0 (lower NaN when RD's whole interval is <= 0: no benefit to count).
    """
    t = summarise_draws(rd, name, ci_prob, weights, ess_scale)
    sample = (1.0 / rd.stack(sample=("chain", "draw")).transpose("sample", ...)).drop_vars(
        ["sample", "chain", "draw"], errors="ignore")
    with np.errstate(divide="ignore"):
        if weights is None:
            med = sample.median("sample")
        else:
            med = sample.weighted(xr.DataArray(np.asarray(weights, float), dims="sample")).quantile(0.5, dim="sample")
    t["mean"] = np.ravel(med.to_numpy())
    t["sd"] = np.nan
    lo_rd, hi_rd = t["lower"].to_numpy(), t["upper"].to_numpy()
    with np.errstate(divide="ignore"):
        t["lower"] = np.where(hi_rd > 0, 1.0 / hi_rd, np.nan)
        t["upper"] = np.where(lo_rd > 0, 1.0 / lo_rd, np.where(hi_rd > 0, np.inf, np.nan))
    return t


SUMMARISERS = {"draws": summarise_draws, "nnt": summarise_nnt}


def summarise(da: xr.DataArray, quantity: Quantity, ci_prob: float, weights=None, ess_scale: float = 1.0):
    """The rows of one quantity, by its summariser. Cells whose draws are all missing are not rows,
    unless the quantity sets ``missing_note``: then they are rows with no estimate (every statistic
    NaN) that carry that ``note``."""
    if quantity.missing_note is None:  # cells with all draws missing are not rows (summarise_draws)
        return SUMMARISERS[quantity.summary](da, quantity.name, ci_prob, weights, ess_scale, quantity.relevant)
    flag = da.isnull().all(("chain", "draw"))
    table = SUMMARISERS[quantity.summary](da.where(~flag, 0.0), quantity.name, ci_prob, weights, ess_scale,
                                          quantity.relevant)
    if flag.ndim:
        keys = list(flag.dims)
        flags = flag.to_dataframe(name="_missing").reset_index()[keys + ["_missing"]]
        missing = table[keys].merge(flags, on=keys, how="left")["_missing"].fillna(False).to_numpy(bool)
    else:
        missing = np.array([bool(flag)])
    stats = [c for c in table.columns if c in STAT_COLUMNS or c == "prob_relevant"]
    table.loc[missing, stats] = np.nan
    table["note"] = np.where(missing, quantity.missing_note, None)
    return table


#: columns a summary row may carry after the statistics
EXTRA_COLUMNS = ["prob_relevant", "note"]


def order_columns(table: pd.DataFrame, coordinate_columns) -> pd.DataFrame:
    """quantity, the coordinate columns (the family's declared order first), the statistics."""
    stats = [c for c in STAT_COLUMNS + EXTRA_COLUMNS if c in table]
    coords = [c for c in table.columns if c not in stats and c != "quantity"]
    coords = [c for c in coordinate_columns if c in coords] + [c for c in coords if c not in coordinate_columns]
    return table[["quantity", *coords, *stats]]
