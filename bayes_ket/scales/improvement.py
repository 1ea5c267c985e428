"""Percent improvement, response and remission: one rule for every scale.

Percent improvement = 100 x (baseline - score) / (baseline - floor), where ``floor`` is
the scale's lowest score (0 for most scales, 1 for CGI-S). Positive = improvement:
100 = symptom-free, 0 = unchanged, negative = worse. A baseline at (or below) the floor
leaves nothing to improve: the percent improvement is undefined (NaN) and the patient
can be neither responder nor non-responder. ``percent_improvement_reason`` gives that
reason as text.
"""

from __future__ import annotations

import numpy as np

from ..errors import BayesKetError
from ._kinds import as_float, as_flag, as_text
from .registry import get

#: response: at least a 50 % improvement (the convention of every built-in scale)
RESPONSE_REDUCTION = 0.5
#: float tolerance when comparing a percent improvement with the response cut-off
_TOLERANCE = 1e-9


def percent_improvement(baseline, score, floor=0):
    """100 x (baseline - score) / (baseline - floor): positive = improvement.

    NaN where either score is missing or the baseline is at (or below) the floor (see
    ``percent_improvement_reason``). ``floor`` is the scale's lowest score (``Scale.floor``:
    0 for MADRS, 1 for CGI-S). Keeps the kind of ``baseline`` (scalar, array, Series).
    """
    b, back = as_float(baseline)
    s, _ = as_float(score)
    room = b - float(floor)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(room > 0, 100.0 * (b - s) / np.where(room > 0, room, 1.0), np.nan)
    return back(out)


def percent_improvement_reason(baseline, score=None, floor=0):
    """Why the percent improvement is undefined (text), or None where it is defined.

    "baseline missing", "score missing" (when ``score`` is given), or "baseline at the
    scale floor (0): percent improvement undefined". Keeps the kind of ``baseline``.
    """
    b, _ = as_float(baseline)
    s = as_float(score)[0] if score is not None else np.zeros_like(b)
    s = np.broadcast_to(s, b.shape)
    at_floor = f"baseline at the scale floor ({float(floor):g}): percent improvement undefined"
    text = np.where(np.isnan(b), "baseline missing", np.where(b <= floor, at_floor, np.where(np.isnan(s), "score missing", "")))
    out = np.where(text == "", None, text).astype(object)
    return as_text(out, baseline)


def responded(baseline, score, scale="madrs", reduction=None):
    """Response: a percent improvement (``percent_improvement``) of at least
    100 x ``reduction`` %; ``reduction`` defaults to the scale's ``response`` (0.5 for
    every built-in scale that has one) and the floor is the scale's.

    Missing where either score is missing or the baseline is at the scale floor. Returns
    a pandas 'boolean' Series for Series input, a float array (1.0 / 0.0 / NaN) for
    arrays, and a bool (pd.NA when missing) for scalars.
    """
    s = get(scale)
    fraction = s.response if reduction is None else reduction
    if fraction is None:
        raise BayesKetError(
            f"Scale '{s.name}' has no response definition. Fix: pass reduction= (e.g. 0.5 for a 50 % improvement)."
        )
    if not 0 < fraction <= 1:
        raise BayesKetError(f"reduction={fraction!r} must be a fraction in (0, 1]. Fix: e.g. reduction=0.5.")
    pct = np.asarray(percent_improvement(baseline, score, floor=s.floor), dtype=float)
    return as_flag(pct >= 100 * fraction - _TOLERANCE, np.isnan(pct), baseline)


def remitted(score, threshold=None, scale="madrs"):
    """Remission: score <= threshold (inclusive). ``threshold`` defaults to the scale's
    ``remission`` (MADRS 10, HRSD-17 7, GAD-7 4, ...; see ``bayes_ket.scales.builtin``).

    Same return kinds as ``responded``.
    """
    if threshold is None:
        s = get(scale)
        threshold = s.remission
        if threshold is None:
            raise BayesKetError(f"Scale '{s.name}' has no remission threshold. Fix: pass threshold=.")
    arr, _ = as_float(score)
    return as_flag(arr <= threshold, np.isnan(arr), score)
