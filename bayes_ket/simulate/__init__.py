"""Calibrated simulators of the four seed designs: ``bk.simulate(scenario, seed, **sizes)``.

Each scenario is one module whose docstring writes its generative model as equations,
lists its size keywords with their defaults, and the calibration ranges its default
draw lands in:

- ``pooled_rct``  (seed 000): two RCTs, ketamine vs control, 10 MADRS items, MSM moderation, dropout;
- ``real_world``  (seed 001): single-arm clinic cohort, 4 or 6 infusions, MADRS + GAD-7, 4 trajectory classes;
- ``ipd_meta``    (seed 002): 17 studies, parallel and crossover, MADRS and/or HRSD-17, study and patient moderators;
- ``open_label``  (seed 004): 30 patients, 4 infusions, monthly follow-up to 12 months, a metabolite predictor.

Every result is a ``TrialData`` in the canonical layout with ``source="simulate:<scenario>"``
and ``.truth``: a JSON-serialisable dict of every true parameter the data were drawn from.
"""

from __future__ import annotations

from ..data.trial import TrialData
from ..errors import BayesKetError
from . import ipd_meta, open_label, pooled_rct, real_world

SCENARIOS = {
    "pooled_rct": pooled_rct,
    "real_world": real_world,
    "ipd_meta": ipd_meta,
    "open_label": open_label,
}

__all__ = ["simulate", "SCENARIOS", "sizes", "calibration"]


def sizes(scenario: str) -> dict:
    """The keywords a scenario accepts and their defaults."""
    module = _module(scenario)
    return {**module.SIZES, **getattr(module, "OPTIONS", {})}


def simulate(scenario: str, seed: int = 0, **kwargs) -> TrialData:
    """Simulate one trial of a seed design.

    scenario : "pooled_rct", "real_world", "ipd_meta" or "open_label"
    seed     : non-negative integer; the same seed gives the same trial
    kwargs   : the scenario's sizes (e.g. ``n_patients=40``) and options
               (``moderation=`` for pooled_rct); see ``sizes(scenario)``.
    """
    module = _module(scenario)
    valid = sizes(scenario)
    unknown = [k for k in kwargs if k not in valid]
    if unknown:
        raise BayesKetError(
            f"simulate('{scenario}') got unknown keyword(s) {', '.join(map(repr, unknown))}; "
            f"valid ones (with defaults): {', '.join(f'{k}={v!r}' for k, v in valid.items())}."
        )
    return module.simulate(seed=seed, **kwargs)


def _module(scenario):
    if scenario not in SCENARIOS:
        raise BayesKetError(
            f"Unknown simulation scenario {scenario!r}; valid scenarios: {', '.join(map(repr, SCENARIOS))}."
        )
    return SCENARIOS[scenario]


def calibration(trial: TrialData, scenario: str | None = None) -> dict:
    """The calibration figures of a trial of one of the seed designs (the quantities the
    scenario's docstring documents ranges for), e.g. baseline mean and response rates.

    scenario defaults to the one named by ``trial.source`` ("simulate:<scenario>").
    The documented ranges are ``SCENARIOS[scenario].CALIBRATION``.
    """
    if scenario is None:
        src = str(trial.source)
        scenario = src.split(":", 1)[1] if src.startswith("simulate:") else src
    return _module(scenario).calibration(trial)
