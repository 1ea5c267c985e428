"""bk.sweep: a model fitted over a grid of prior values, compiled once.

One ``Analysis`` (design + PyMC model + jitted sampler) serves every setting of
the grid: each setting only swaps prior hyperparameters, which are ``pm.Data``
inputs of the compiled functions.

``method="auto"`` fits the *base* setting (the card's defaults merged with
``priors=`` of the fit options) and answers every other setting by importance
reweighting the base draws with the prior ratio

    log w = log p_new(theta) - log p_base(theta)

(the full prior of every free RV: the standard-normal priors of non-centred
offsets are the same under both and cancel), Pareto-smoothed with ArviZ's
``psislw``. A setting whose Pareto k-hat exceeds ``khat_threshold`` (0.7) is
refit. Reweighted rows: weighted mean, sd, quantile interval and
P(quantity > 0); ``r_hat`` is the base fit's; ``ess_bulk``/``ess_tail`` (and
``min_ess_bulk``) are the base fit's scaled by the PSIS effective sample size
ratio ``(1 / sum w^2) / n_draws``.

Each setting's seed derives from the base seed and the setting's prior values,
so a rerun gives identical numbers. With ``out`` each finished setting is
written to its own Parquet file (atomic rename); a rerun with the same ``out``
loads finished settings and fits only the missing ones.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import time as _time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import BayesKetError

#: sampler options of Analysis.sample; all other fit options go to Analysis(...)
SAMPLE_KEYS = ("draws", "tune", "chains", "seed", "target_accept", "max_treedepth", "dense_mass")
METHODS = ("auto", "refit")
STAT_COLS = ["mean", "sd", "lower", "upper", "prob_positive", "r_hat", "ess_bulk", "ess_tail"]
DIAG_COLS = ["divergences", "max_rhat", "min_ess_bulk"]
COORD_COLS = ("day", "arm", "item", "moderator", "study", "class")

#: per-process cache of built + compiled analyses (Dask workers keep theirs between tasks)
_ANALYSES: dict = {}


# ---- grid ---------------------------------------------------------------------
def expand_grid(grid) -> list[dict]:
    """dict of lists -> cartesian settings; list of dicts -> as given."""
    if isinstance(grid, dict):
        if not grid:
            raise BayesKetError("grid is empty. Fix: grid={prior_name: [values, ...]}.")
        names = list(grid)
        lists = [list(np.atleast_1d(grid[n])) for n in names]
        if any(len(v) == 0 for v in lists):
            raise BayesKetError("grid has a prior with no values. Fix: give each prior at least one value.")
        return [{n: float(v) for n, v in zip(names, combo)} for combo in itertools.product(*lists)]
    if isinstance(grid, (list, tuple)) and grid and all(isinstance(s, dict) for s in grid):
        return [{str(n): float(v) for n, v in s.items()} for s in grid]
    raise BayesKetError(
        "grid must be a dict of lists ({'moderation_sigma': [3, 6, 12]}: cartesian) or a list of dicts "
        f"(explicit settings), not {type(grid).__name__}."
    )


def validate_settings(settings: list[dict], valid: dict) -> None:
    for s in settings:
        bad = [n for n in s if n not in valid]
        if bad:
            raise BayesKetError(
                f"grid names prior(s) {bad} which this model does not have. Fix: use names from "
                f"{sorted(valid)}."
            )
        for n, v in s.items():
            if not np.isfinite(v) or (v <= 0 and not n.endswith("_mu")):
                raise BayesKetError(f"grid value {n}={v}: must be a positive finite number.")


def setting_key(values: dict) -> str:
    """Stable id of a full prior setting (sorted names and rounded values)."""
    text = json.dumps({k: float(f"{v:.12g}") for k, v in sorted(values.items())})
    return f"{zlib.crc32(text.encode()):08x}"


def setting_seed(base_seed: int, full: dict, base: dict) -> int:
    """The base seed for the base setting; otherwise derived from the base seed and the values."""
    if _same(full, base):
        return int(base_seed)
    key = int(setting_key(full), 16)
    return int(np.random.SeedSequence([int(base_seed), key]).generate_state(1)[0])


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.isclose(a[k], b[k], rtol=1e-12, atol=0) for k in a)


# ---- analysis cache -------------------------------------------------------------
def _spec_key(model, trial, analysis_opts) -> str:
    from .cards import load_card

    h = hashlib.sha1()
    h.update(json.dumps(load_card(model).to_dict(), sort_keys=True, default=str).encode())
    h.update(pd.util.hash_pandas_object(trial.frame, index=True).to_numpy().tobytes())
    h.update(json.dumps(analysis_opts, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def get_analysis(model, trial, analysis_opts: dict, key: str | None = None):
    """The cached Analysis for (card, trial, options), built and compiled on first use."""
    from .fitting import Analysis

    key = key or _spec_key(model, trial, analysis_opts)
    if key not in _ANALYSES:
        _ANALYSES[key] = Analysis(model, trial, **analysis_opts)
    return _ANALYSES[key]


def _compilations() -> int:
    from .engine.jax_nuts import COMPILATIONS

    return COMPILATIONS["count"]


# ---- one setting ----------------------------------------------------------------
def _fit_rows(fit, ci_prob) -> tuple[pd.DataFrame, dict]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = fit.summary(ci_prob=ci_prob)
    diag = table.attrs["diagnostics"]
    table.attrs = {}
    return table, {"divergences": int(diag["divergences"]), "max_rhat": float(diag["max_rhat"]),
                   "min_ess_bulk": float(diag["min_ess_bulk"])}


def _decorate(table, index, values, swept, method, khat, diag, seed) -> pd.DataFrame:
    t = table.copy()
    for c in COORD_COLS:
        if c in t and t[c].dtype == object:
            t[c] = t[c].where(t[c].notna(), np.nan)
    front = pd.DataFrame({"setting": np.full(len(t), int(index))})
    for n in swept:
        front[n] = float(values[n])
    front["method"] = method
    front["khat"] = float(khat)
    front["seed"] = np.int64(seed)
    out = pd.concat([front, t.reset_index(drop=True)], axis=1)
    for k in DIAG_COLS:
        out[k] = diag[k]
    return out


def refit_task(spec: dict, index: int, full: dict, seed: int):
    """Fit one setting (in this process or on a Dask worker). Returns (index, rows, compilations)."""
    c0 = _compilations()
    analysis = get_analysis(spec["model"], spec["trial"], spec["analysis_opts"], spec["key"])
    fit = analysis.sample(priors=full, seed=seed, progressbar=False, **spec["sample_opts"])
    table, diag = _fit_rows(fit, spec["ci_prob"])
    is_base = _same(full, spec["base"])
    rows = _decorate(table, index, full, spec["swept"], "base" if is_base else "refit", 0.0 if is_base else np.nan,
                     diag, seed)
    return index, rows, _compilations() - c0, fit


def _refit_remote(spec, index, full, seed):
    index, rows, comp, _ = refit_task(spec, index, full, seed)
    return index, rows, comp


# ---- reweighting ------------------------------------------------------------------
def log_prior_draws(analysis, values: list, priors: dict) -> np.ndarray:
    """Summed log prior (all free RVs, no Jacobian) of each draw under ``priors``: (chain, draw)."""
    parts = analysis.compiled.apply(analysis.compiled.logprior_fn, values, priors)
    return np.sum([np.asarray(p, dtype=float) for p in parts], axis=0)


def psis_weights(log_w: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Flat log ratios -> (normalised PSIS weights, k-hat, ESS ratio)."""
    import arviz as az

    flat = np.asarray(log_w, float).ravel()
    flat = np.where(np.isfinite(flat), flat, -np.inf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lw, khat = az.psislw(flat[None, :] - np.max(flat))
    w = np.exp(np.asarray(lw)[0])
    w = w / w.sum()
    return w, float(np.asarray(khat).ravel()[0]), float(1.0 / np.sum(w**2) / len(w))


def weighted_quantile(x: np.ndarray, w: np.ndarray, q) -> np.ndarray:
    """Weighted quantiles along axis 0 (midpoint-interpolated empirical CDF)."""
    order = np.argsort(x, axis=0)
    xs = np.take_along_axis(x, order, axis=0)
    ws = w[order]
    cdf = np.cumsum(ws, axis=0) - 0.5 * ws
    cdf = cdf / ws.sum(axis=0)
    q = np.atleast_1d(q)
    out = np.empty((len(q),) + x.shape[1:])
    flat_xs = xs.reshape(len(x), -1)
    flat_cdf = cdf.reshape(len(x), -1)
    for j in range(flat_xs.shape[1]):
        out.reshape(len(q), -1)[:, j] = np.interp(q, flat_cdf[:, j], flat_xs[:, j])
    return out


def weighted_stats(x: np.ndarray, w: np.ndarray, ci_prob: float) -> dict:
    """x: (samples, ...) draws; w: normalised weights (samples,)."""
    wb = w.reshape((-1,) + (1,) * (x.ndim - 1))
    mean = np.sum(wb * x, axis=0)
    var = np.sum(wb * (x - mean) ** 2, axis=0) / max(1e-12, 1.0 - np.sum(w**2))
    tail = (1 - ci_prob) / 2
    lo, hi = weighted_quantile(x, w, [tail, 1 - tail])
    return {"mean": mean, "sd": np.sqrt(var), "lower": lo, "upper": hi,
            "prob_positive": np.sum(wb * (x > 0), axis=0)}


def reweighted_table(fit, base_table: pd.DataFrame, w: np.ndarray, ess_ratio: float, ci_prob: float):
    """The base fit's summary rows with weighted point and interval estimates."""
    t = base_table.copy()
    for q in t["quantity"].unique():
        rows = np.flatnonzero((t["quantity"] == q).to_numpy())
        if q == "nnt_response":
            rd = _flat(fit.draws("response_difference"))
            s = weighted_stats(rd, w, ci_prob)
            with np.errstate(divide="ignore"):
                med = weighted_quantile(1.0 / rd, w, [0.5])[0]
                lo_rd, hi_rd = s["lower"], s["upper"]
                s = {"mean": med, "sd": np.full_like(med, np.nan),
                     "lower": np.where(hi_rd > 0, 1.0 / hi_rd, np.nan),
                     "upper": np.where(lo_rd > 0, 1.0 / lo_rd, np.where(hi_rd > 0, np.inf, np.nan)),
                     "prob_positive": s["prob_positive"]}
        else:
            s = weighted_stats(_flat(fit.draws(q)), w, ci_prob)
        for col, arr in s.items():
            arr = np.asarray(arr).ravel()  # same C order as tidy()'s to_dataframe
            if len(arr) != len(rows):
                raise BayesKetError(f"internal: {q} has {len(arr)} reweighted cells for {len(rows)} rows")
            t.iloc[rows, t.columns.get_loc(col)] = arr
    t["ess_bulk"] = t["ess_bulk"] * ess_ratio
    t["ess_tail"] = t["ess_tail"] * ess_ratio
    return t


def _flat(da) -> np.ndarray:
    """(chain, draw, ...) -> (chain*draw, ...) with the remaining dims in the DataArray's order."""
    a = np.asarray(da.transpose("chain", "draw", ...).to_numpy(), dtype=float)
    return a.reshape((-1,) + a.shape[2:])


def base_and_reweight_task(spec: dict, base_index, base_full: dict, base_seed: int, others: list,
                           base_fit=None):
    """Fit (or reuse) the base setting, then reweight every other setting.

    others: [(index, full priors, seed)]. Returns (base rows or None, [(index, rows)] reweighted,
    [(index, full, seed, khat)] to refit, compilations, base fit).
    """
    c0 = _compilations()
    analysis = get_analysis(spec["model"], spec["trial"], spec["analysis_opts"], spec["key"])
    if base_fit is None:
        base_fit = analysis.sample(priors=base_full, seed=base_seed, progressbar=False, **spec["sample_opts"])
    table, diag = _fit_rows(base_fit, spec["ci_prob"])
    base_rows = None
    if base_index is not None:
        base_rows = _decorate(table, base_index, base_full, spec["swept"], "base", 0.0, diag, base_seed)
    lp_base = log_prior_draws(analysis, base_fit.unconstrained, base_full)
    done, refit = [], []
    for index, full, seed in others:
        lw = log_prior_draws(analysis, base_fit.unconstrained, full) - lp_base
        w, khat, ess_ratio = psis_weights(lw)
        if not np.isfinite(khat) or khat > spec["khat_threshold"]:
            refit.append((index, full, seed, khat))
            continue
        rt = reweighted_table(base_fit, table, w, ess_ratio, spec["ci_prob"])
        d = {**diag, "min_ess_bulk": diag["min_ess_bulk"] * ess_ratio}
        done.append((index, _decorate(rt, index, full, spec["swept"], "reweighted", khat, d, base_seed)))
    return base_rows, done, refit, _compilations() - c0, base_fit


def _base_remote(spec, base_index, base_full, base_seed, others):
    out = base_and_reweight_task(spec, base_index, base_full, base_seed, others)
    return out[:4]


# ---- persistence --------------------------------------------------------------------
class _Store:
    """Per-setting Parquet files under one directory, named by sweep fingerprint + setting key."""

    def __init__(self, out, fingerprint):
        self.final = None
        if out is None:
            self.dir = None
            return
        out = Path(out)
        if out.suffix == ".parquet":
            self.final = out
            self.dir = out.with_name(out.stem + "_parts")
        else:
            self.dir = out
            self.final = out / "sweep.parquet"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.fp = fingerprint

    def path(self, key):
        return self.dir / f"{self.fp}-{key}.parquet"

    def load(self, key):
        if self.dir is None or not self.path(key).exists():
            return None
        return pd.read_parquet(self.path(key))

    def write(self, key, rows):
        if self.dir is None:
            return
        tmp = self.dir / f".{self.fp}-{key}.{os.getpid()}.tmp"
        rows.to_parquet(tmp, index=False)
        os.replace(tmp, self.path(key))

    def write_final(self, table):
        if self.final is None:
            return
        tmp = self.final.with_name(f".{self.final.name}.{os.getpid()}.tmp")
        table.to_parquet(tmp, index=False)
        os.replace(tmp, self.final)


def _normalise(rows: pd.DataFrame, index: int) -> pd.DataFrame:
    rows = rows.copy()
    rows["setting"] = int(index)
    for c in COORD_COLS:
        if c in rows and rows[c].dtype == object:
            rows[c] = rows[c].where(rows[c].notna(), np.nan)
    return rows


# ---- the sweep ------------------------------------------------------------------------
def sweep(model, trial, grid, out=None, scheduler=None, method="auto", progressbar=True, ci_prob=0.95,
          khat_threshold=0.7, on_setting=None, **fit_options) -> pd.DataFrame:
    """Fit ``model`` to ``trial`` over a grid of prior values; one tidy row per setting x quantity x coordinate.

    grid: {prior name: [values]} (cartesian) or [{prior name: value}, ...] (explicit settings);
      names as in ``fit.priors``.
    method: "auto" (reweight the base fit by PSIS, refit where k-hat > khat_threshold) or "refit".
    out: a directory (or a .parquet path): each finished setting is written there, and a rerun
      with the same ``out`` fits only the missing settings. The full table goes to
      ``out/sweep.parquet`` (or the .parquet path).
    scheduler: None (in process), a Dask ``Client`` or a scheduler address "tcp://...".
    fit_options: as for bk.fit (draws, tune, chains, seed, priors, outcome, moderators, time,
      target_accept, ...). ``priors`` sets the base setting.
    on_setting: optional callback(index, rows) after each finished setting.

    Columns: setting, one column per swept prior, method ("base", "refit", "reweighted"), khat,
    seed, quantity, coordinates, mean, sd, lower, upper, prob_positive, r_hat, ess_bulk,
    ess_tail, divergences, max_rhat, min_ess_bulk. ``attrs``: compilations (sampler compilations
    during this call), fitted (settings sampled in this call, the base fit included), loaded
    (settings read back from ``out``), refit / reweighted counts, base_priors, wall_s.
    """
    t_start = _time.perf_counter()
    if method not in METHODS:
        raise BayesKetError(f"method={method!r}: use one of {METHODS}.")
    if not 0 < ci_prob < 1:
        raise BayesKetError(f"ci_prob={ci_prob} must lie strictly between 0 and 1.")
    from .data.trial import TrialData

    if not isinstance(trial, TrialData):
        raise BayesKetError(
            f"trial must be a bayes_ket.TrialData, not {type(trial).__name__}. Fix: bk.read_trial(your_data)."
        )
    fit_options = dict(fit_options)
    sample_opts = {k: fit_options.pop(k) for k in SAMPLE_KEYS if k in fit_options}
    sample_opts.setdefault("draws", 1000)
    sample_opts.setdefault("tune", 1000)
    sample_opts.setdefault("chains", 4)
    base_seed = int(sample_opts.pop("seed", 0))
    fit_options.pop("progressbar", None)
    analysis_opts = fit_options  # outcome, moderators, time, priors, family options
    settings = expand_grid(grid)
    swept = list(dict.fromkeys(n for s in settings for n in s))

    client = _client(scheduler)
    key = _spec_key(model, trial, analysis_opts)
    c0 = _compilations()
    if client is None:
        analysis = get_analysis(model, trial, analysis_opts, key)
        valid = analysis.base_priors
        base = analysis.priors_with(None)
    else:
        # priors are resolved from the card and design without compiling anything
        from .cards import load_card
        from .families import family_of

        card = load_card(model)
        fam = family_of(card)
        opts = {k: v for k, v in analysis_opts.items() if k != "priors"}
        design = fam.design(trial, card, **opts)
        valid = fam.priors(card, design, None)
        base = fam.priors(card, design, analysis_opts.get("priors"))
    validate_settings(settings, valid)
    fulls = [{**base, **s} for s in settings]
    keys = [setting_key(f) for f in fulls]
    if len(set(keys)) < len(keys):
        raise BayesKetError("grid repeats a setting. Fix: give each setting once.")
    seeds = [setting_seed(base_seed, f, base) for f in fulls]

    fingerprint = hashlib.sha1(json.dumps(
        [key, sample_opts, base_seed, method, ci_prob, khat_threshold, sorted(base.items()), swept],
        sort_keys=True, default=str).encode()).hexdigest()[:10]
    store = _Store(out, fingerprint)
    spec = {"model": model, "trial": trial, "analysis_opts": analysis_opts, "key": key,
            "sample_opts": sample_opts, "ci_prob": ci_prob, "swept": swept, "khat_threshold": khat_threshold,
            "base": base}

    results: dict[int, pd.DataFrame] = {}
    for i, k in enumerate(keys):
        rows = store.load(k)
        if rows is not None:
            results[i] = _normalise(rows, i)
    loaded = len(results)
    missing = [i for i in range(len(settings)) if i not in results]
    counts = {"fitted": 0, "compilations": 0}
    bar = _bar(len(settings), loaded, progressbar)

    def finish(i, rows):
        rows = _normalise(rows, i)
        store.write(keys[i], rows)
        results[i] = rows
        bar.update(1)
        if on_setting is not None:
            on_setting(i, rows)

    try:
        if missing:
            if method == "auto":
                base_index = next((i for i in range(len(settings)) if _same(fulls[i], base)), None)
                base_missing = base_index if base_index in missing else None
                others = [(i, fulls[i], seeds[i]) for i in missing if i != base_index]
                if client is None:
                    base_fit = _load_base(store, analysis)
                    out_ = base_and_reweight_task(spec, base_missing, base, base_seed, others, base_fit=base_fit)
                    if base_fit is None:
                        counts["fitted"] += 1
                        _save_base(store, out_[4])
                else:
                    fut = client.submit(_base_remote, spec, base_missing, base, base_seed, others, pure=False)
                    out_ = fut.result()
                    counts["fitted"] += 1
                base_rows, done, to_refit, comp = out_[:4]
                counts["compilations"] += comp
                if base_rows is not None:
                    finish(base_index, base_rows)
                for i, rows in done:
                    finish(i, rows)
                jobs = [(i, full, seed) for i, full, seed, _ in to_refit]
                khats = {i: k for i, _, _, k in to_refit}
            else:
                jobs = [(i, fulls[i], seeds[i]) for i in missing]
                khats = {}

            def mark(i, rows):
                if i in khats:
                    rows["khat"] = khats[i]
                return rows

            if client is None:
                for i, full, seed in jobs:
                    _, rows, comp, _ = refit_task(spec, i, full, seed)
                    counts["fitted"] += 1
                    counts["compilations"] += comp
                    finish(i, mark(i, rows))
            elif jobs:
                from dask.distributed import as_completed

                futures = [client.submit(_refit_remote, spec, i, full, seed, pure=False) for i, full, seed in jobs]
                for fut in as_completed(futures):
                    i, rows, comp = fut.result()
                    counts["fitted"] += 1
                    counts["compilations"] += comp
                    finish(i, mark(i, rows))
    finally:
        bar.close()
        if client is not None and isinstance(scheduler, str):
            client.close()

    table = pd.concat([results[i] for i in range(len(settings))], ignore_index=True)
    methods = table.drop_duplicates("setting")["method"]
    table.attrs = {
        "compilations": int(counts["compilations"] if client is not None else _compilations() - c0),
        "fitted": counts["fitted"],
        "loaded": loaded,
        "refit": int((methods == "refit").sum()),
        "reweighted": int((methods == "reweighted").sum()),
        "base_priors": base,
        "method": method,
        "ci_prob": ci_prob,
        "khat_threshold": khat_threshold,
        "wall_s": _time.perf_counter() - t_start,
    }
    store.write_final(table)
    return table


def _client(scheduler):
    if scheduler is None:
        return None
    if isinstance(scheduler, str):
        from dask.distributed import Client

        return Client(scheduler)
    if hasattr(scheduler, "submit") and hasattr(scheduler, "gather"):
        return scheduler
    raise BayesKetError(f"scheduler must be None, a Dask Client or an address 'tcp://host:port', not {scheduler!r}.")


def _bar(total, initial, enabled):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="prior settings", unit="setting", disable=not enabled)


def _save_base(store, fit):
    if store.dir is None:
        return
    tmp = store.dir / f".{store.fp}-base.{os.getpid()}.tmp"
    fit.save(tmp)
    np.savez(store.dir / f".{store.fp}-base-values.npz", *fit.unconstrained)
    os.replace(store.dir / f".{store.fp}-base-values.npz", store.dir / f"{store.fp}-base-values.npz")
    os.replace(tmp, store.dir / f"{store.fp}-base.nc")


def _load_base(store, analysis):
    if store.dir is None:
        return None
    nc, npz = store.dir / f"{store.fp}-base.nc", store.dir / f"{store.fp}-base-values.npz"
    if not (nc.exists() and npz.exists()):
        return None
    from .results import load_fit

    fit = load_fit(nc)
    with np.load(npz) as z:
        fit.unconstrained = [z[f"arr_{i}"] for i in range(len(z.files))]
    if len(fit.unconstrained) != len(analysis.compiled.value_names):
        return None
    return fit
