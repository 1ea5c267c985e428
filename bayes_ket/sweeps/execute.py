"""Running a sweep's settings: the analysis cache, the two tasks, in process or on Dask.

Both paths build their ``Analysis`` with the same function (``analysis_for``) from the same
spec, so a setting fitted on a Dask worker is the one fitted in process. Each process keeps
a small cache of built and compiled analyses (``ANALYSES``; bounded, ``clear_analyses()``
empties it), so a worker serving several settings compiles once.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections import OrderedDict

import numpy as np
import pandas as pd

from ..engine.idata import unconstrained_values
from ..errors import BayesKetError
from .grid import same
from .reweight import log_prior_draws, psis_weights, reweighted_table

STAT_DIAG = ["divergences", "max_rhat", "min_ess_bulk"]


class AnalysisCache:
    """A bounded, least-recently-used cache of Analyses keyed by (card, data, options)."""

    def __init__(self, maxsize: int = 4):
        self.maxsize = maxsize
        self._items: OrderedDict = OrderedDict()

    def get(self, key, build):
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = build()
        self._items[key] = value
        while len(self._items) > self.maxsize:
            self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


#: this process's analyses (a Dask worker keeps its own between tasks)
ANALYSES = AnalysisCache()


def clear_analyses() -> None:
    """Forget every cached Analysis of this process (frees their compiled samplers)."""
    ANALYSES.clear()


def spec_key(model, trial, analysis_opts) -> str:
    from ..cards import load_card
    from ..fitting import data_hash

    h = hashlib.sha1()
    h.update(json.dumps(load_card(model).to_dict(), sort_keys=True, default=str).encode())
    h.update(data_hash(trial).encode())
    h.update(json.dumps(analysis_opts, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def analysis_for(spec: dict):
    """The Analysis of a sweep spec (card, trial, options), built and compiled on first use."""
    from ..fitting import Analysis

    return ANALYSES.get(spec["key"], lambda: Analysis(spec["model"], spec["trial"], **spec["analysis_opts"]))


def compilations() -> int:
    from ..engine.jax_nuts import COMPILATIONS

    return COMPILATIONS["count"]


# ---- rows of one setting ------------------------------------------------------------
def fit_rows(fit, ci_prob) -> tuple[pd.DataFrame, dict]:
    from ..results import summary_table

    diag = fit.diagnostics()
    return summary_table(fit, ci_prob), {"divergences": int(diag["divergences"]),
                                         "max_rhat": float(diag["max_rhat"]),
                                         "min_ess_bulk": float(diag["min_ess_bulk"])}


def decorate(table, index, values, swept, method, khat, diag, seed) -> pd.DataFrame:
    t = table.reset_index(drop=True).copy()
    front = pd.DataFrame({"setting": np.full(len(t), int(index))})
    for n in swept:
        front[n] = float(values[n])
    front["method"] = method
    front["khat"] = float(khat)
    front["seed"] = np.int64(seed)
    out = pd.concat([front, t], axis=1)
    for k in STAT_DIAG:
        out[k] = diag[k]
    return out


# ---- the two tasks ---------------------------------------------------------------------
def refit_task(spec: dict, index: int, full: dict, seed: int):
    """Fit one setting. Returns (index, rows, compilations)."""
    c0 = compilations()
    analysis = analysis_for(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = analysis.sample(priors=full, seed=seed, progressbar=False, **spec["sample_opts"])
        table, diag = fit_rows(fit, spec["ci_prob"])
    is_base = same(full, spec["base"])
    rows = decorate(table, index, full, spec["swept"], "base" if is_base else "refit", 0.0 if is_base else np.nan,
                    diag, seed)
    return index, rows, compilations() - c0


def reweight_task(spec: dict, base_index, base_seed: int, others: list, base_fit=None):
    """Fit (or take) the base setting, then reweight every other setting.

    others: [(index, full priors, seed)]. Returns (base rows or None, [(index, rows)] reweighted,
    [(index, full, seed, khat)] to refit, compilations, base fit).
    """
    c0 = compilations()
    analysis = analysis_for(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if base_fit is None:
            base_fit = analysis.sample(priors=spec["base"], seed=base_seed, progressbar=False, **spec["sample_opts"])
        table, diag = fit_rows(base_fit, spec["ci_prob"])
    values = unconstrained_values(base_fit.idata, analysis.compiled.value_names)
    if values is None:
        raise BayesKetError("The base fit carries no unconstrained draws (written by an older bayes_ket). "
                            "Fix: refit it, or sweep with method='refit'.")
    base_rows = None
    if base_index is not None:
        base_rows = decorate(table, base_index, spec["base"], spec["swept"], "base", 0.0, diag, base_seed)
    lp_base = log_prior_draws(analysis, values, spec["base"])
    done, refit = [], []
    for index, full, seed in others:
        w, khat, ess_ratio = psis_weights(log_prior_draws(analysis, values, full) - lp_base)
        if not np.isfinite(khat) or khat > spec["khat_threshold"]:
            refit.append((index, full, seed, khat))
            continue
        rt = reweighted_table(base_fit, w, ess_ratio, spec["ci_prob"])
        d = {**diag, "min_ess_bulk": diag["min_ess_bulk"] * ess_ratio}
        done.append((index, decorate(rt, index, full, spec["swept"], "reweighted", khat, d, base_seed)))
    return base_rows, done, refit, compilations() - c0, base_fit


def _reweight_remote(spec, base_index, base_seed, others):
    return reweight_task(spec, base_index, base_seed, others)[:4]


# ---- runners -------------------------------------------------------------------------------
def run_reweight(spec, client, base_index, base_seed, others, base_fit):
    """The reweighting step in process, or as one Dask task (the base fit stays on the worker)."""
    if client is None:
        return reweight_task(spec, base_index, base_seed, others, base_fit=base_fit)
    return (*client.submit(_reweight_remote, spec, base_index, base_seed, others, pure=False).result(), None)


def run_refits(spec, client, jobs, finish):
    """Fit ``jobs`` [(index, full, seed)] in process or as Dask tasks; ``finish(index, rows, comp)`` each."""
    if client is None:
        for i, full, seed in jobs:
            finish(*refit_task(spec, i, full, seed))
        return
    from dask.distributed import as_completed

    futures = [client.submit(refit_task, spec, i, full, seed, pure=False) for i, full, seed in jobs]
    for fut in as_completed(futures):
        finish(*fut.result())


def client_for(scheduler):
    if scheduler is None:
        return None
    if isinstance(scheduler, str):
        from dask.distributed import Client

        return Client(scheduler)
    if hasattr(scheduler, "submit") and hasattr(scheduler, "gather"):
        return scheduler
    raise BayesKetError(f"scheduler must be None, a Dask Client or an address 'tcp://host:port', not {scheduler!r}.")
