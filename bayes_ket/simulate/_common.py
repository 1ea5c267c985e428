"""Helpers shared by the scenario simulators: ids, size checks, ordinal item sampling
from a cumulative-logit latent, dropout and sporadic missingness, rounding to a
scale's range, and the assembly of the canonical frame and its JSON-safe truth.

The simulators produce the canonical frame directly, without the reader; response
follows ``bayes_ket.scales`` (the one percent-improvement rule).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..data.schema import MADRS_ITEM_COLUMNS
from ..data.trial import TrialData
from ..errors import BayesKetError
from ..scales import MADRS_ITEMS as ITEM_NAMES
from ..scales import RESPONSE_REDUCTION, percent_improvement


N_ITEMS = len(ITEM_NAMES)


# ---- random streams and ids -------------------------------------------------
def rng_for(seed: int, stream: int = 0) -> np.random.Generator:
    """Independent generator per (seed, stream): the data draw and the Monte-Carlo
    truth use different streams, so changing one never shifts the other."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise BayesKetError(f"seed must be a non-negative integer, got {seed!r}. Fix: pass e.g. seed=0.")
    return np.random.default_rng([int(seed), int(stream)])


def patient_ids(n: int) -> np.ndarray:
    """'P001', 'P002', ... (zero-padded to at least 3 digits)."""
    width = max(3, len(str(n)))
    return np.array([f"P{i:0{width}d}" for i in range(1, n + 1)], dtype=object)


def study_ids(n: int) -> np.ndarray:
    """'S01', 'S02', ... (zero-padded to at least 2 digits)."""
    width = max(2, len(str(n)))
    return np.array([f"S{j:0{width}d}" for j in range(1, n + 1)], dtype=object)


def check_int(scenario: str, name: str, value, minimum: int) -> int:
    """A whole-number size keyword at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise BayesKetError(
            f"simulate('{scenario}'): size '{name}' must be a whole number >= {minimum}, got {value!r}."
        )
    return int(value)


def split_sizes(rng: np.random.Generator, n_total: int, n_groups: int, minimum: int, spread: float = 0.5) -> np.ndarray:
    """Split n_total into n_groups sizes, each >= minimum, proportional to log-normal weights."""
    if n_total < n_groups * minimum:
        raise BayesKetError(f"cannot split {n_total} patients into {n_groups} studies of at least {minimum} each.")
    w = rng.lognormal(0.0, spread, n_groups)
    extra = n_total - n_groups * minimum
    raw = w / w.sum() * extra
    sizes = np.floor(raw).astype(int)
    # largest remainders get the leftover patients
    for j in np.argsort(raw - sizes)[::-1][: extra - sizes.sum()]:
        sizes[j] += 1
    return sizes + minimum


# ---- scores -----------------------------------------------------------------
def clip_round(x, lo: float, hi: float) -> np.ndarray:
    """Round to whole points and clip to the scale's range (NaN stays NaN)."""
    return np.clip(np.round(np.asarray(x, dtype=float)), lo, hi)


def sample_msm(rng: np.random.Generator, n: int, mean: float = 9.5, sd: float = 2.0) -> np.ndarray:
    """MSM scores: a rounded normal clipped to 3..15 (whole numbers, as float)."""
    return clip_round(rng.normal(mean, sd, n), 3, 15)


def ordinal_sample(rng: np.random.Generator, eta: np.ndarray, cutpoints: np.ndarray) -> np.ndarray:
    """Ordered-logistic scores: Y = #{j : c_j < eta + e}, e ~ Logistic(0, 1).

    Equivalent to P(Y > j) = logistic(eta - c_j) for the ordered cutpoints c_1 < ... < c_J.
    eta has shape (..., K); cutpoints (K, J) (per item K) broadcast over the leading axes.
    Returns float scores 0..J.
    """
    eta = np.asarray(eta, dtype=float)
    latent = eta + rng.logistic(0.0, 1.0, size=eta.shape)
    return (latent[..., None] > cutpoints).sum(axis=-1).astype(float)


def ordinal_mean(eta: np.ndarray, cutpoints: np.ndarray) -> np.ndarray:
    """Expected ordered-logistic score E[Y | eta] = sum_j logistic(eta - c_j)."""
    z = np.asarray(eta, dtype=float)[..., None] - cutpoints
    return (1.0 / (1.0 + np.exp(-z))).sum(axis=-1)


# ---- missingness ------------------------------------------------------------
def dropout_visit(rng: np.random.Generator, n_patients: int, n_visits: int, p_dropout: float, first: int = 1) -> np.ndarray:
    """Per patient, the index of the first visit not attended (monotone dropout).

    With probability p_dropout a patient drops out before a visit drawn uniformly from
    ``first .. n_visits-1`` (the baseline, index 0, is always attended); otherwise the
    value is n_visits (completer).
    """
    drops = rng.random(n_patients) < p_dropout
    when = rng.integers(first, n_visits, size=n_patients)
    return np.where(drops, when, n_visits)


def sporadic_mask(rng: np.random.Generator, shape, prob: float) -> np.ndarray:
    """Boolean mask of values missing at random (independently with probability prob)."""
    return rng.random(shape) < prob


# ---- assembly ---------------------------------------------------------------
STRING_COLUMNS = ("patient", "study")
INT_COLUMNS = ("arm", "period", "infusions")
BOOL_COLUMNS = ("madrs_converted",)
LEADING = ("patient", "study", "arm", "period", "day")


def finalize(frame: pd.DataFrame, scenario: str, truth: dict, notes: list[str] | None = None) -> TrialData:
    """Canonical dtypes and order, the derived MADRS total, and the TrialData wrapper.

    - patient/study strings, arm/period int64, day and scores float64, madrs_converted bool;
    - when the ten item columns exist, madrs_total = their sum where all ten are present,
      NaN otherwise;
    - rows sorted by patient, period, day; canonical columns first.
    """
    frame = frame.copy()
    if all(c in frame for c in MADRS_ITEM_COLUMNS):
        items = frame[list(MADRS_ITEM_COLUMNS)].to_numpy(dtype=float)
        frame["madrs_total"] = np.where(np.isnan(items).any(axis=1), np.nan, np.nansum(items, axis=1))
    if "period" not in frame:
        frame["period"] = 1
    if "madrs_converted" not in frame:
        frame["madrs_converted"] = False
    for col in frame.columns:
        if col in STRING_COLUMNS:
            frame[col] = frame[col].astype(str)
        elif col in INT_COLUMNS:
            frame[col] = frame[col].astype("int64")
        elif col in BOOL_COLUMNS:
            frame[col] = frame[col].astype(bool)
        else:
            frame[col] = frame[col].astype("float64")
    order = [c for c in LEADING if c in frame]
    scores = [c for c in (*MADRS_ITEM_COLUMNS, "madrs_total", "gad7_total", "hrsd17_total", "madrs_converted") if c in frame]
    rest = [c for c in frame.columns if c not in order and c not in scores]
    frame = frame[order + scores + rest]
    frame = frame.sort_values(["patient", "period", "day"], kind="stable").reset_index(drop=True)
    truth = jsonable(truth)
    json.dumps(truth)  # fail here, not in a user's notebook, if something slipped through
    return TrialData(
        frame=frame,
        n_input_rows=len(frame),
        source=f"simulate:{scenario}",
        truth=truth,
        notes=list(notes or []),
    )


def jsonable(obj):
    """Recursively turn numpy scalars/arrays and tuples into plain floats, ints, lists."""
    if isinstance(obj, Mapping):
        return {_key(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [jsonable(v) for v in (obj.tolist() if isinstance(obj, np.ndarray) else obj)]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else None
    return obj


def _key(k):
    """Dict keys: days stay floats (14.0), ids stay strings, numpy scalars become plain."""
    if isinstance(k, (np.floating, float)):
        return float(k)
    if isinstance(k, (np.integer, int)) and not isinstance(k, bool):
        return int(k)
    return k


def by_day(days, values) -> dict:
    """{day (float): value} for parallel sequences."""
    return {float(d): float(v) for d, v in zip(days, values)}


def item_dict(values) -> dict:
    """{item name: value} for a length-10 sequence."""
    return {name: float(v) for name, v in zip(ITEM_NAMES, values)}


# ---- calibration figures ------------------------------------------------------
def by_patient(frame: pd.DataFrame, column: str, period: int = 1) -> pd.DataFrame:
    """patient x day table of one column (first period only)."""
    f = frame[frame["period"] == period] if "period" in frame else frame
    return f.pivot(index="patient", columns="day", values=column)


def share(mask) -> float:
    """Share of True among the non-missing entries of a boolean-with-NaN array."""
    x = np.asarray(mask, dtype=float)
    x = x[~np.isnan(x)]
    return float(x.mean()) if x.size else float("nan")


def responded(baseline, score, floor: float = 0.0):
    """Response by the package's one rule (``scales.responded``): a percent improvement
    100 (baseline - score) / (baseline - floor) of at least 50 %. A float array: 1.0 / 0.0,
    NaN where either score is missing or the baseline is at the floor (no percent
    improvement, so no response)."""
    pct = np.asarray(percent_improvement(np.asarray(baseline, float), np.asarray(score, float), floor), float)
    return np.where(np.isnan(pct), np.nan, pct >= 100 * RESPONSE_REDUCTION - 1e-9)


def remitted(score, threshold: float):
    """Remission, score <= threshold (inclusive): 1.0 / 0.0, NaN where missing."""
    s = np.asarray(score, float)
    return np.where(np.isnan(s), np.nan, s <= threshold)


def outside(figures: Mapping, ranges: Mapping) -> dict:
    """The figures that fall outside their documented (lo, hi) ranges."""
    return {k: (figures[k], r) for k, r in ranges.items() if not (r[0] <= figures[k] <= r[1])}
