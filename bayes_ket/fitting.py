"""bk.fit: card + trial -> design -> PyMC model -> compiled sampler -> Fit.

``Analysis`` holds everything that does not change between samplings of the same
model on the same data (design, PyMC model, compiled JAX functions), so a prior
sweep calls ``Analysis.sample(priors=...)`` repeatedly without recompiling.
"""

from __future__ import annotations

import time as _time

import numpy as np

from .cards import load_card
from .data.trial import TrialData
from .engine.idata import to_inference_data
from .engine.jax_nuts import compile_model
from .errors import BayesKetError
from .families import family_of
from .results import Fit


#: dense_mass="auto": a dense mass matrix up to this many unconstrained parameters (e.g. the
#: trajectory model with patient effects integrated out: ~30), diagonal above (per-patient draws).
DENSE_MASS_MAX_PARAMETERS = 200


class Analysis:
    """A model card applied to a trial, built and compiled once."""

    def __init__(self, model, trial: TrialData, outcome=None, moderators=None, time=None, priors=None, **options):
        if not isinstance(trial, TrialData):
            raise BayesKetError(
                f"trial must be a bayes_ket.TrialData, not {type(trial).__name__}. Fix: bk.read_trial(your_data)."
            )
        self.card = load_card(model)
        self.family = family_of(self.card)
        self.trial = trial
        self.options = options  # family options (link=, parameterization=, ...), reused by rebind
        self.design = self.family.design(trial, self.card, outcome=outcome, moderators=moderators, time=time,
                                         **options)
        self.base_priors = self.family.priors(self.card, self.design, priors)
        t0 = _time.perf_counter()
        self.model, extras = self.family.build_model(self.design, self.base_priors)
        self.compiled = compile_model(self.model, extras)
        self.build_seconds = _time.perf_counter() - t0
        self.data = {}  # data values replacing the model's own (see rebind)

    def rebind(self, trial: TrialData) -> "Analysis":
        """The same analysis on another trial of identical shapes, reusing the compiled sampler.

        Used by calibration: replicated trials swap their data in as runtime inputs.
        """
        design = self.family.design(trial, self.card, outcome=self.design.outcome, moderators=self.design.moderators,
                                    time=self.design.time, **self.options)
        model, _ = self.family.build_model(design, self.base_priors)
        new = {v.name: v.get_value() for v in model.data_vars}
        old = dict(zip(self.compiled.data_names, self.compiled.data_values()))
        bad = [n for n in old if n in new and np.shape(new[n]) != np.shape(old[n])]
        if bad:
            raise BayesKetError(f"rebind: data {bad} change shape; build a new Analysis for this trial.")
        clone = object.__new__(Analysis)
        clone.__dict__ = self.__dict__ | {"trial": trial, "design": design, "data": new}
        return clone

    def auto_mass(self):
        """dense_mass="auto": dense while NUTS moves <= DENSE_MASS_MAX_PARAMETERS parameters;
        above, a dense block for the population-level parameters and a diagonal metric for
        the per-patient ones (conditionally nearly independent of each other)."""
        cm = self.compiled
        if cm.n_parameters <= DENSE_MASS_MAX_PARAMETERS:
            return True
        block = cm.population_block()
        return [block] if 1 < len(block) < len(cm.value_names) else False

    def priors_with(self, overrides: dict | None) -> dict:
        return self.family.priors(self.card, self.design, {**self.base_priors, **(overrides or {})})

    def sample(self, priors=None, draws=1000, tune=1000, chains=4, seed=0, progressbar=True,
               target_accept=None, max_treedepth=10, dense_mass=None) -> Fit:
        """Sample the posterior under prior values ``priors`` (names of fit.priors)."""
        for name, value in (("draws", draws), ("tune", tune), ("chains", chains)):
            if int(value) < 1:
                raise BayesKetError(f"{name}={value}: must be a positive whole number.")
        used = self.priors_with(priors)
        values = {**self.data, **used}
        target_accept = target_accept or self.card.settings.get("target_accept", 0.9)
        dense_mass = self.card.settings.get("dense_mass", "auto") if dense_mass is None else dense_mass
        if dense_mass == "auto":
            dense_mass = self.auto_mass()
        t0 = _time.perf_counter()
        raw = self.compiled.sample(tune=int(tune), draws=int(draws), chains=int(chains), seed=seed,
                                   target_accept=target_accept, max_treedepth=max_treedepth,
                                   dense_mass=dense_mass, data=values,
                                   progressbar=progressbar)
        sample_seconds = _time.perf_counter() - t0
        idata = to_inference_data(self.compiled, raw, data=values)
        rng = np.random.default_rng([seed, 1])
        extras = {name: self.compiled.apply(fn, raw["values"], values)[0]
                  for name, fn in self.compiled.extra_fns.items()}
        self.family.derive(self.design, idata, extras, rng)
        meta = {
            "card": self.card.to_dict(),
            "priors": used,
            "backend": "jax-numpyro (bayes_ket driver, compiled once)",
            "seed": seed, "draws": int(draws), "tune": int(tune), "chains": int(chains),
            "target_accept": target_accept,
            "dense_mass": dense_mass if isinstance(dense_mass, bool) else [list(b) for b in dense_mass],
            "timing": {"build_s": self.build_seconds, "sample_s": sample_seconds},
            **self.family.describe(self.design),
        }
        result = Fit(idata, meta)
        # in memory only: unconstrained draws, aligned with self.compiled.value_names (for reweighting)
        result.unconstrained = raw["values"]
        return result


def fit(model, trial, outcome=None, moderators=None, time=None, priors=None, draws=1000, tune=1000,
        chains=4, seed=0, progressbar=True, **options) -> Fit:
    """Fit a model card to a trial and return a ``Fit`` (see API.md).

    model: a card name from models/ ("trajectory", ...), a .toml path, a dict or a Card.
    outcome: total-score column (card default: madrs_total). moderators: patient-level
    columns (default ("msm",) when the trial has msm). time: "visit", "linear" or "log".
    priors: {prior name: number} overrides (names as in ``fit.priors``).
    Sampler options: target_accept, max_treedepth; other options go to the family.
    """
    sampler_keys = {"target_accept", "max_treedepth", "dense_mass"}
    sampler = {k: options.pop(k) for k in list(options) if k in sampler_keys}
    t0 = _time.perf_counter()
    analysis = Analysis(model, trial, outcome=outcome, moderators=moderators, time=time, priors=priors, **options)
    result = analysis.sample(draws=draws, tune=tune, chains=chains, seed=seed, progressbar=progressbar, **sampler)
    result.meta["timing"]["total_s"] = _time.perf_counter() - t0
    return result
