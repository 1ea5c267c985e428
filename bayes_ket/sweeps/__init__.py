"""bk.sweep: a model fitted over a grid of prior values, compiled once.

One ``Analysis`` (design + PyMC model + jitted sampler) serves every setting of the
grid: each setting only swaps prior hyperparameters, which are ``pm.Data`` inputs of the
compiled functions. ``method="auto"`` fits the *base* setting (the card's defaults merged
with ``priors=``; or the fit passed as the first argument) and answers every other
setting by PSIS importance reweighting of the base draws (``reweight``); a setting whose
Pareto k-hat exceeds ``khat_threshold`` (0.7) is refit. ``method="refit"`` fits every
setting.

The jobs live in their own modules: ``grid`` (settings, keys, seeds), ``reweight``
(importance weights and weighted rows), ``store`` (resumable files), ``execute`` (the
analysis cache and the tasks, in process or on Dask).
"""

from __future__ import annotations

import hashlib
import json
import time as _time

import pandas as pd

from ..errors import BayesKetError
from .execute import ANALYSES, analysis_for, clear_analyses, client_for, compilations, run_refits, run_reweight, spec_key
from .grid import expand_grid, same, setting_key, setting_seed, validate_settings
from .store import Store

#: sampler options of Analysis.sample; all other fit options go to Analysis(...)
SAMPLE_KEYS = ("draws", "tune", "chains", "seed", "target_accept", "max_treedepth", "dense_mass")
METHODS = ("auto", "refit")

__all__ = ["ANALYSES", "clear_analyses", "expand_grid", "setting_seed", "sweep"]


def _from_fit(fit, trial, fit_options):
    """(model, trial, analysis options, sample options) that reproduce a Fit, with the fit as base."""
    spec = fit.meta.get("analysis")
    if spec is None:
        raise BayesKetError("This fit does not record how it was built (written by an older bayes_ket). "
                            "Fix: refit it, or call bk.sweep(model_name, trial, grid=...).")
    trial = trial if trial is not None else fit.trial
    if trial is None:
        raise BayesKetError("The fit carries no trial data. Fix: pass trial= (the data it was fitted to).")
    analysis_opts = {k: v for k, v in spec.items() if k not in ("card", "options")}
    analysis_opts = {k: v for k, v in analysis_opts.items() if v is not None} | dict(spec.get("options", {}))
    analysis_opts["priors"] = fit.priors
    m = fit.meta
    sample_opts = {"draws": m["draws"], "tune": m["tune"], "chains": m["chains"], "seed": m["seed"],
                   "target_accept": m.get("target_accept"), "max_treedepth": m.get("max_treedepth", 10)}
    return spec["card"], trial, analysis_opts, {**sample_opts, **fit_options}


def sweep(model, trial=None, grid=None, out=None, scheduler=None, method="auto", progressbar=True, ci_prob=0.95,
          khat_threshold=0.7, on_setting=None, **fit_options) -> pd.DataFrame:
    """Fit a model over a grid of prior values; one tidy row per setting x quantity x coordinate.

    model: a card name (then ``trial`` is required), or a ``Fit`` (fresh, or loaded with
      ``bk.load_fit``): it is the base setting, its draws are reweighted, and its card,
      options, data and sampler settings are reused (``trial`` optional: the fit's own).
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
    from ..data.trial import TrialData
    from ..fitting import prepare
    from ..results import Fit

    t_start = _time.perf_counter()
    if method not in METHODS:
        raise BayesKetError(f"method={method!r}: use one of {METHODS}.")
    if not 0 < ci_prob < 1:
        raise BayesKetError(f"ci_prob={ci_prob} must lie strictly between 0 and 1.")
    if grid is None:
        raise BayesKetError("sweep() needs grid={prior_name: [values, ...]}.")
    fit_options.pop("progressbar", None)
    base_fit = None
    if isinstance(model, Fit):
        base_fit = model
        model, trial, analysis_opts, sample_opts = _from_fit(model, trial, fit_options)
    else:
        if not isinstance(trial, TrialData):
            raise BayesKetError(
                f"trial must be a bayes_ket.TrialData, not {type(trial).__name__}. Fix: bk.read_trial(your_data).")
        sample_opts = {k: fit_options.pop(k) for k in SAMPLE_KEYS if k in fit_options}
        analysis_opts = fit_options  # outcome, moderators, time, priors, family options
    sample_opts = {k: v for k, v in sample_opts.items() if v is not None}
    base_seed = int(sample_opts.pop("seed", 0))
    settings = expand_grid(grid)
    swept = list(dict.fromkeys(n for s in settings for n in s))

    client = client_for(scheduler)
    key = spec_key(model, trial, analysis_opts)
    c0 = compilations()
    spec = {"model": model, "trial": trial, "analysis_opts": analysis_opts, "key": key,
            "sample_opts": sample_opts, "ci_prob": ci_prob, "swept": swept, "khat_threshold": khat_threshold}
    # the prior values, by the same code that builds an Analysis (nothing compiled on a Dask client)
    if client is None:
        analysis = analysis_for(spec)
        valid, base = analysis.base_priors, analysis.priors_with(None)
    else:
        opts = {k: v for k, v in analysis_opts.items() if k != "priors"}
        valid = prepare(model, trial, **opts)[3]
        base = prepare(model, trial, priors=analysis_opts.get("priors"), **opts)[3]
    spec["base"] = base
    validate_settings(settings, valid)
    fulls = [{**base, **s} for s in settings]
    keys = [setting_key(f) for f in fulls]
    if len(set(keys)) < len(keys):
        raise BayesKetError("grid repeats a setting. Fix: give each setting once.")
    seeds = [setting_seed(base_seed, f, base) for f in fulls]

    fingerprint = hashlib.sha1(json.dumps(
        [key, sample_opts, base_seed, method, ci_prob, khat_threshold, sorted(base.items()), swept],
        sort_keys=True, default=str).encode()).hexdigest()[:10]
    store = Store(out, fingerprint)
    results: dict[int, pd.DataFrame] = {}
    for i, k in enumerate(keys):
        rows = store.load(k)
        if rows is not None:
            results[i] = rows.assign(setting=i)
    loaded = len(results)
    missing = [i for i in range(len(settings)) if i not in results]
    counts = {"fitted": 0, "compilations": 0}
    bar = _bar(len(settings), loaded, progressbar)
    khats: dict[int, float] = {}

    def finish(i, rows, comp=0):
        if i in khats:
            rows["khat"] = khats[i]
        rows = rows.assign(setting=i)
        store.write(keys[i], rows)
        results[i] = rows
        counts["compilations"] += comp
        bar.update(1)
        if on_setting is not None:
            on_setting(i, rows)

    def fitted(i, rows, comp):
        counts["fitted"] += 1
        finish(i, rows, comp)

    try:
        if missing:
            jobs = [(i, fulls[i], seeds[i]) for i in missing]
            if method == "auto":
                base_index = next((i for i in range(len(settings)) if same(fulls[i], base)), None)
                if base_fit is None:
                    base_fit = store.load_base() if client is None else None
                fresh_base = base_fit is None
                base_rows, done, to_refit, comp, new_base = run_reweight(
                    spec, client, base_index if base_index in missing else None, base_seed,
                    [j for j in jobs if j[0] != base_index], base_fit)
                counts["fitted"] += int(fresh_base)
                counts["compilations"] += comp
                if fresh_base and new_base is not None:
                    store.save_base(new_base)
                if base_rows is not None:
                    finish(base_index, base_rows)
                for i, rows in done:
                    finish(i, rows)
                khats = {i: k for i, _, _, k in to_refit}
                jobs = [(i, full, seed) for i, full, seed, _ in to_refit]
            run_refits(spec, client, jobs, fitted)
    finally:
        bar.close()
        if client is not None and isinstance(scheduler, str):
            client.close()

    table = pd.concat([results[i] for i in range(len(settings))], ignore_index=True)
    methods = table.drop_duplicates("setting")["method"]
    table.attrs = {
        "compilations": int(counts["compilations"] if client is not None else compilations() - c0),
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


def _bar(total, initial, enabled):
    from .._lazy import tqdm_bar

    return tqdm_bar(total=total, initial=initial, desc="prior settings", unit="setting", disable=not enabled)
