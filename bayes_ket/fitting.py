"""bk.fit: card + trial -> design -> PyMC model -> compiled sampler -> Fit.

``Analysis`` holds everything that does not change between samplings of the same
model on the same data (design, PyMC model, compiled JAX functions), so a prior
sweep calls ``Analysis.sample(priors=...)`` repeatedly without recompiling, and a
calibration run swaps replicated data of the same structure in with ``rebind``.
Everything family-specific comes from the family object (``families.base.Family``).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time as _time

import numpy as np
import pandas as pd

from .cards import load_card
from .data.trial import TrialData
from .errors import BayesKetError
from .families import family_of

#: dense_mass="auto": a dense mass matrix up to this many unconstrained parameters (e.g. the
#: trajectory model with patient effects integrated out: ~30), diagonal above (per-patient draws).
DENSE_MASS_MAX_PARAMETERS = 200
#: sampler options of ``Analysis.sample`` that ``bk.fit`` passes through
SAMPLER_OPTIONS = ("target_accept", "max_treedepth", "dense_mass", "precision")


def data_hash(trial: TrialData) -> str:
    """A short hash of a trial's canonical frame (values and column names)."""
    h = hashlib.sha1(pd.util.hash_pandas_object(trial.frame, index=False).to_numpy().tobytes())
    h.update(json.dumps([str(c) for c in trial.frame.columns]).encode())
    return h.hexdigest()[:16]


def card_hash(card) -> str:
    return hashlib.sha1(json.dumps(card.to_dict(), sort_keys=True, default=str).encode()).hexdigest()[:16]


def prepare(model, trial: TrialData, outcome=None, moderators=None, time=None, priors=None, **options):
    """(card, family, design, priors): every check and the prior values, before any model is built."""
    if not isinstance(trial, TrialData):
        raise BayesKetError(
            f"trial must be a bayes_ket.TrialData, not {type(trial).__name__}. Fix: bk.read_trial(your_data)."
        )
    card = load_card(model)
    family = family_of(card)
    unknown = sorted(set(options) - family.option_names())
    if unknown:
        raise BayesKetError(
            f"Unknown option(s) {unknown} for the {family.name} model. Its options: {sorted(family.option_names())}; "
            f"sampler options: {sorted(SAMPLER_OPTIONS)}; and outcome, moderators, time, priors, draws, tune, "
            "chains, seed, progressbar. Fix: check the spelling.")
    design = family.design(trial, card, outcome=outcome, moderators=moderators, time=time, **options)
    return card, family, design, family.priors(card, design, priors)


class Analysis:
    """A model card applied to a trial, built and compiled once."""

    def __init__(self, model, trial: TrialData, outcome=None, moderators=None, time=None, priors=None, **options):
        self.card, self.family, self.design, self.base_priors = prepare(
            model, trial, outcome=outcome, moderators=moderators, time=time, priors=priors, **options)
        self.trial = trial
        self.request = {"outcome": outcome, "moderators": moderators, "time": time}
        self.options = options  # family options (link=, parameterization=, ...), reused by rebind
        from .engine.jax_nuts import compile_model  # PyMC, PyTensor and JAX load here, after every check

        t0 = _time.perf_counter()
        self.model, extras = self.family.build_model(self.design, self.base_priors)
        self.compiled = compile_model(self.model, extras)
        self.build_seconds = _time.perf_counter() - t0
        self.data = {}  # data values replacing the model's own (see rebind)
        self.initvals = None  # initial values replacing the model's own (see rebind)

    # ---- the same analysis on other data ------------------------------------------------
    def rebind(self, trial: TrialData) -> "Analysis":
        """The same analysis on another trial of identical structure, reusing the compiled sampler.

        Used by calibration: replicated trials swap their data in as runtime inputs. The new
        trial must have the same coordinates (patients, days, items, ...); when its data have
        other shapes, the analysis is built and compiled anew for it.
        """
        design = self.family.design(trial, self.card, **self.request, **self.options)
        model, _ = self.family.build_model(design, self.base_priors)
        changed = [name for name, values in model.coords.items()
                   if name in self.model.coords and not _same_coords(values, self.model.coords[name])]
        if changed:
            raise BayesKetError(f"rebind: coordinates {changed} differ from the compiled analysis's "
                                "(other patients, days or levels). Fix: build a new Analysis for this trial.")
        new = {v.name: v.get_value() for v in model.data_vars}
        old = dict(zip(self.compiled.data_names, self.compiled.data_values()))
        if any(n in new and np.shape(new[n]) != np.shape(old[n]) for n in old):
            # same coordinates, data of other shapes (e.g. a family's sums over patient groups):
            # the same analysis, compiled for this trial
            return Analysis(self.card, trial, priors=self.base_priors, **self.request, **self.options)
        clone = object.__new__(Analysis)
        # the sampler starts where the new data put it (families with data-dependent initial values)
        initvals = {rv.name: value for rv, value in model.rvs_to_initial_values.items()
                    if value is not None and not isinstance(value, str)}
        clone.__dict__ = self.__dict__ | {"trial": trial, "design": design, "data": new, "initvals": initvals or None}
        return clone

    # ---- what the generic modules need to know -----------------------------------------
    @property
    def population_vars(self) -> list[str]:
        """Posterior variables not indexed by a unit dim: the monitored, population-level set."""
        dims = self.model.named_vars_to_dims
        unit = set(self.family.unit_dims)
        names = [v.name for v in self.model.free_RVs + self.model.deterministics]
        return [n for n in names if not set(dims.get(n, ())) & unit]

    def auto_mass(self):
        """dense_mass="auto": dense while NUTS moves <= DENSE_MASS_MAX_PARAMETERS parameters;
        above, a dense block for the population-level parameters and a diagonal metric for
        the per-unit ones (conditionally nearly independent of each other)."""
        cm = self.compiled
        if cm.n_parameters <= DENSE_MASS_MAX_PARAMETERS:
            return True
        block = cm.population_block(self.family.unit_dims)
        return [block] if 1 < len(block) < len(cm.value_names) else False

    def priors_with(self, overrides: dict | None) -> dict:
        return self.family.priors(self.card, self.design, {**self.base_priors, **(overrides or {})})

    def spec(self) -> dict:
        """What rebuilds this analysis: card, request, family options (kept with every fit)."""
        return {"card": self.card.to_dict(), **self.request, "options": self.options}

    # ---- sampling ----------------------------------------------------------------------------
    def sample(self, priors=None, draws=None, tune=None, chains=4, seed=0, progressbar=True,
               target_accept=None, max_treedepth=10, dense_mass=None, engine="nuts", precision=None) -> Fit:
        """Sample the posterior under prior values ``priors`` (names of fit.priors).

        draws / tune: per chain; None: the card's settings (``draws``, ``tune``; 1000 each when
        a card does not say). engine: "nuts" (the sampler), or "mock": jittered initial points in
        place of draws, no compilation of the sampler, for fast tests of everything downstream
        (not a posterior).
        """
        draws = self.card.settings.get("draws", 1000) if draws is None else draws
        tune = self.card.settings.get("tune", 1000) if tune is None else tune
        for name, value in (("draws", draws), ("tune", tune), ("chains", chains)):
            if int(value) < 1 and not (name == "tune" and int(value) == 0):
                raise BayesKetError(f"{name}={value}: must be a positive whole number.")
        if engine not in ("nuts", "mock"):
            raise BayesKetError(f"engine={engine!r}: use 'nuts' (or 'mock' in tests).")
        used = self.priors_with(priors)
        values = {**self.data, **used}
        target_accept = target_accept or self.card.settings.get("target_accept", 0.9)
        dense_mass = self.card.settings.get("dense_mass", "auto") if dense_mass is None else dense_mass
        if dense_mass == "auto":
            dense_mass = self.auto_mass()
        from .engine.idata import to_inference_data
        from .engine.jax_nuts import Extras
        from .results import Fit

        t0 = _time.perf_counter()
        run = self.compiled.sample if engine == "nuts" else self.compiled.mock_sample
        precision = precision or self.card.settings.get("precision", "float64")
        raw = run(tune=int(tune), draws=int(draws), chains=int(chains), seed=seed, target_accept=target_accept,
                  max_treedepth=max_treedepth, dense_mass=dense_mass, data=values, progressbar=progressbar,
                  precision=precision, initvals=self.initvals)
        compile_seconds = float(raw.get("compile_s", 0.0))
        sample_seconds = _time.perf_counter() - t0 - compile_seconds
        t0 = _time.perf_counter()
        idata = to_inference_data(self.compiled, raw, data=values)
        rng = np.random.default_rng([seed, 1])
        self.family.derive(self.design, idata, Extras(self.compiled, raw["values"], values), rng)
        post_seconds = _time.perf_counter() - t0
        family = self.family
        meta = {
            "family": family.name,
            "card": self.card.to_dict(),
            "analysis": self.spec(),
            "priors": used,
            "backend": "jax-numpyro (bayes_ket driver, compiled once)" if engine == "nuts" else "mock (not a posterior)",
            "seed": seed, "draws": int(draws), "tune": int(tune), "chains": int(chains),
            "target_accept": target_accept, "max_treedepth": int(max_treedepth),
            "dense_mass": dense_mass if isinstance(dense_mass, bool) else [list(b) for b in dense_mass],
            "precision": precision,
            "timing": {"build_s": self.build_seconds, "compile_s": compile_seconds, "sample_s": sample_seconds,
                       "postprocess_s": post_seconds},
            "quantities": [q.to_dict() for q in family.quantities(self.design)],
            "coordinate_columns": list(family.coordinate_columns),
            "dim_names": dict(family.dim_names),
            "population_vars": self.population_vars,
            "offset_priors": family.offset_priors(self.model),
            "loo_unit": family.loo_unit(self.design),
            "data_hash": data_hash(self.trial),
            "card_hash": card_hash(self.card),
            **family.describe(self.design),
        }
        return Fit(idata, meta, trial=self.trial)


def _same_coords(a, b) -> bool:
    a, b = np.asarray(list(a), dtype=object), np.asarray(list(b), dtype=object)
    return a.shape == b.shape and bool(np.all(a.astype(str) == b.astype(str)))


def fit(model, trial, outcome=None, moderators=None, time=None, priors=None, draws=None, tune=None,
        chains=4, seed=0, progressbar=True, **options) -> Fit:
    """Fit a model card to a trial and return a ``Fit``.

    model: a card name from models/ ("trajectory", "items", ...), a .toml path, a dict or a Card.
    outcome: the outcome column (card default: madrs_total). moderators: patient-level
    columns (default ("msm",) when the trial has msm). time: "visit", "linear" or "log".
    priors: {prior name: number} overrides (names as in ``fit.priors``).
    draws / tune / chains / seed: the sampler's draws per chain (None: the card's, e.g. 1000
    for trajectory, 2000 for items), warm-up iterations (None: the card's, e.g. 500 for
    trajectory, 1000 for items), chains (run in parallel over CPU cores), random seed. Sampler options: target_accept,
    max_treedepth, dense_mass. Every other option goes to the family (e.g. items
    ``patient_change=True``, trajectory ``parameterization="noncentered"``).

    When the fit returns (or fails), all of JAX's in-memory compiled code in the process is
    released (``engine.jax_nuts.release_compiled_code``), so a loop over many ``bk.fit`` calls
    holds a bounded amount of memory. To sample one model again and again (priors, seeds,
    replicates), keep an ``Analysis`` and call its ``sample``: its compiled sampler stays.
    """
    sampler = {k: options.pop(k) for k in list(options) if k in SAMPLER_OPTIONS}
    t0 = _time.perf_counter()
    try:
        analysis = Analysis(model, trial, outcome=outcome, moderators=moderators, time=time, priors=priors, **options)
        result = analysis.sample(draws=draws, tune=tune, chains=chains, seed=seed, progressbar=progressbar, **sampler)
        result.meta["timing"]["total_s"] = _time.perf_counter() - t0
        return result
    finally:  # a loop over many fits must not exhaust the memory maps (release_compiled_code)
        analysis = None  # not reused: dropped, with its compiled sampler, before the release
        engine = sys.modules.get("bayes_ket.engine.jax_nuts")  # not loaded: nothing was compiled (bad input)
        if engine is not None:
            engine.release_compiled_code()
