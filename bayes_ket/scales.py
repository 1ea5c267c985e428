"""Clinical scales: MADRS, GAD-7, HRSD-17 ranges and bands, HRSD-17 -> MADRS linking,
the Maudsley Staging Method (MSM), response, remission and percent improvement.

Every function is vectorised and keeps the kind of its input: a scalar gives a
scalar, an array (or list) an array, a pandas Series a Series with the same index.
Missing values (NaN) pass through as missing.
"""

from __future__ import annotations


import numpy as np
import pandas as pd

from .errors import BayesKetError, offending

# ---- MADRS -----------------------------------------------------------------
MADRS_ITEMS = (
    "apparent_sadness",
    "reported_sadness",
    "inner_tension",
    "reduced_sleep",
    "reduced_appetite",
    "concentration_difficulties",
    "lassitude",
    "inability_to_feel",
    "pessimistic_thoughts",
    "suicidal_thoughts",
)
MADRS_ITEM_RANGE = (0, 6)
MADRS_RANGE = (0, 60)
#: (label, lowest, highest) score of each severity band
MADRS_BANDS = (("none", 0, 6), ("mild", 7, 19), ("moderate", 20, 34), ("severe", 35, 60))

# ---- GAD-7 -----------------------------------------------------------------
GAD7_N_ITEMS = 7
GAD7_ITEM_RANGE = (0, 3)
GAD7_RANGE = (0, 21)
#: cut-offs 5 / 10 / 15 (Spitzer et al. 2006)
GAD7_BANDS = (("minimal", 0, 4), ("mild", 5, 9), ("moderate", 10, 14), ("severe", 15, 21))

# ---- HRSD-17 ---------------------------------------------------------------
HRSD17_RANGE = (0, 52)
#: Zimmerman et al. 2013 (J Affect Disord 150:384) severity bands
HRSD17_BANDS = (("none", 0, 7), ("mild", 8, 16), ("moderate", 17, 23), ("severe", 24, 52))

#: HRSD-17 total -> MADRS total anchors (Leucht et al. 2018, equipercentile linking).
#: 0 -> 0 is assumed (the scale floors); 40 -> 52.5 is the midpoint of the published
#: 52-53; 52 -> 60 is not published: it closes the table at the two scale maxima
#: (extrapolating the 30-40 slope would pass 60, so the top is clipped to 60).
LEUCHT_2018_ANCHORS = ((0, 0.0), (10, 13.0), (20, 26.0), (30, 39.0), (40, 52.5), (52, 60.0))

#: remission thresholds (score <= threshold) by outcome column
REMISSION_THRESHOLDS = {"madrs_total": 10, "hrsd17_total": 7, "gad7_total": 4}
RESPONSE_REDUCTION = 0.5

# ---- MSM (Maudsley Staging Method, Fekadu et al. 2009) ---------------------
MSM_RANGE = (3, 15)
MSM_BANDS = (("mild", 3, 6), ("moderate", 7, 10), ("severe", 11, 15))
MSM_SEVERITY = {"subsyndromal": 1, "mild": 2, "moderate": 3, "severe": 4, "severe_psychotic": 5}


# ---- helpers ---------------------------------------------------------------
def _as_float(x):
    """(float array, function restoring the input's kind) for scalar/list/array/Series."""
    if isinstance(x, pd.Series):
        return pd.to_numeric(x).to_numpy(dtype=float, na_value=np.nan), lambda v: pd.Series(v, index=x.index, name=x.name)
    arr = np.asarray(x, dtype=float)
    if arr.ndim == 0:
        return arr, lambda v: v.item() if isinstance(v, np.ndarray) else v
    return arr, lambda v: v


def _as_flag(cond: np.ndarray, missing: np.ndarray, like):
    """Boolean result with missing values: pandas 'boolean' Series, float array (1/0/NaN),
    or a scalar bool (pd.NA when missing)."""
    if isinstance(like, pd.Series):
        return pd.Series(pd.array(np.where(missing, None, cond), dtype="boolean"), index=like.index, name=like.name)
    if np.ndim(like) == 0:
        return pd.NA if missing.item() else bool(cond.item())
    return np.where(missing, np.nan, cond.astype(float))


def _band(score, bands):
    arr, back = _as_float(score)
    lo, hi = bands[0][1], bands[-1][2]
    bad = (arr < lo) | (arr > hi)
    if bad.any():
        raise BayesKetError(
            f"Scores {offending(np.unique(arr[bad]))} lie outside {lo}-{hi}. "
            "Fix: correct the scores or set them missing (NaN)."
        )
    names = np.array([b[0] for b in bands] + [None], dtype=object)
    idx = np.searchsorted([b[1] for b in bands], arr, side="right") - 1
    labels = names[np.where(np.isnan(arr), len(bands), idx)]
    return back(labels)


def madrs_band(score):
    """MADRS severity band: 'none' 0-6, 'mild' 7-19, 'moderate' 20-34, 'severe' 35-60 (None if missing)."""
    return _band(score, MADRS_BANDS)


def gad7_band(score):
    """GAD-7 band: 'minimal' 0-4, 'mild' 5-9, 'moderate' 10-14, 'severe' 15-21 (None if missing)."""
    return _band(score, GAD7_BANDS)


def hrsd17_band(score):
    """HRSD-17 band (Zimmerman 2013): 'none' 0-7, 'mild' 8-16, 'moderate' 17-23, 'severe' 24-52."""
    return _band(score, HRSD17_BANDS)


def msm_band(score):
    """MSM band: 'mild' 3-6, 'moderate' 7-10, 'severe' 11-15 (None if missing)."""
    return _band(score, MSM_BANDS)


# ---- HRSD-17 -> MADRS ------------------------------------------------------
def hrsd17_to_madrs(scores, table=None):
    """Convert HRSD-17 (HAM-D 17) totals to MADRS totals.

    Linear interpolation between the published equipercentile anchors of Leucht et
    al. 2018 (4,388 patients): HAM-D 10, 20, 30, 40 -> MADRS 13, 26, 39, 52.5. The
    full score-by-score table was not at hand, so this is interpolation between
    anchors, not the published table. Assumed ends: 0 -> 0 and 52 -> 60 (the scale
    maxima; a straight extrapolation of the 30-40 slope would exceed 60, so it is
    clipped to 60). See ``LEUCHT_2018_ANCHORS``.

    table : optional mapping {hrsd: madrs} or a two-column DataFrame (hrsd, madrs)
        that replaces the anchors (e.g. the full published table); scores outside its
        range take its end values.
    Returns the kind of ``scores`` (scalar, array or Series); NaN stays NaN.
    """
    if table is None:
        x, y = map(np.asarray, zip(*LEUCHT_2018_ANCHORS))
    else:
        pairs = table.iloc[:, :2].to_numpy(float) if isinstance(table, pd.DataFrame) else np.array(
            sorted(dict(table).items()), dtype=float
        )
        x, y = pairs[np.argsort(pairs[:, 0])].T
        if len(x) < 2 or np.any(np.diff(x) <= 0) or np.isnan(pairs).any():
            raise BayesKetError(
                "The HRSD-17 -> MADRS table needs at least two rows with distinct, non-missing HRSD-17 "
                "scores. Fix: pass a mapping {hrsd: madrs} or a DataFrame with columns (hrsd, madrs)."
            )
    arr, back = _as_float(scores)
    bad = (arr < HRSD17_RANGE[0]) | (arr > HRSD17_RANGE[1])
    if bad.any():
        raise BayesKetError(
            f"HRSD-17 totals must lie in 0-52; got {offending(np.unique(arr[bad]))}. "
            "Fix: correct the scores or set them missing (NaN)."
        )
    out = np.interp(arr, x, y)
    out = np.where(np.isnan(arr), np.nan, out)
    return back(out)


# ---- MSM -------------------------------------------------------------------
def _msm_part(values, name, cuts):
    arr = np.asarray(values, dtype=float)
    bad = ~np.isnan(arr) & (arr < 0)
    if bad.any():
        raise BayesKetError(f"MSM {name} must be >= 0; got {offending(np.unique(arr[bad]))}. Fix: correct the values.")
    return np.where(np.isnan(arr), np.nan, np.searchsorted(cuts, arr, side="left") + 1)


def _msm_severity(severity):
    arr = np.asarray(severity, dtype=object)
    flat = arr.reshape(-1)
    codes = np.empty(flat.shape, dtype=float)
    for i, v in enumerate(flat):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            codes[i] = np.nan
        elif isinstance(v, str) and v.strip().lower() in MSM_SEVERITY:
            codes[i] = MSM_SEVERITY[v.strip().lower()]
        elif not isinstance(v, str) and float(v) in (1, 2, 3, 4, 5):
            codes[i] = float(v)
        else:
            raise BayesKetError(
                f"MSM severity {v!r} is not a code 1-5 or one of {', '.join(MSM_SEVERITY)}. Fix: recode it."
            )
    return codes.reshape(arr.shape)


def _msm_flag(values, name):
    arr = np.asarray(values, dtype=float)
    bad = ~np.isnan(arr) & ~np.isin(arr, (0, 1))
    if bad.any():
        raise BayesKetError(f"MSM {name} must be True/False (1/0); got {offending(np.unique(arr[bad]))}.")
    return arr


def msm_score(duration_months, severity, failed_antidepressants, augmentation, ect):
    """Maudsley Staging Method total, 3..15 (Fekadu et al. 2009).

    duration_months : episode duration; <= 12 -> 1, 13-24 -> 2, > 24 -> 3.
    severity        : code 1-5 or 'subsyndromal', 'mild', 'moderate', 'severe',
                      'severe_psychotic' (-> 1..5).
    failed_antidepressants : 1-2 -> 1, 3-4 -> 2, 5-6 -> 3, 7-10 -> 4, > 10 -> 5. The MSM
                      presumes at least one failed trial; 0 is scored like 1-2 (-> 1).
    augmentation, ect : used (True/1) -> 1, else 0.

    Vectorised over its arguments (numpy broadcasting); a score is missing (NaN)
    where any part is. Returns an int for scalar inputs, a float array otherwise
    (a Series if ``duration_months`` is one).
    """
    duration = _msm_part(duration_months, "duration_months", [12, 24])
    failed = _msm_part(failed_antidepressants, "failed_antidepressants", [2, 4, 6, 10])
    total = duration + _msm_severity(severity) + failed + _msm_flag(augmentation, "augmentation") + _msm_flag(ect, "ect")
    if isinstance(duration_months, pd.Series):
        return pd.Series(np.broadcast_to(total, duration_months.shape), index=duration_months.index, name="msm")
    if total.ndim == 0:
        return int(total) if not np.isnan(total) else np.nan
    return total


# ---- response / remission --------------------------------------------------
def percent_improvement(baseline, score):
    """100 * (baseline - score) / baseline; NaN where either is missing or baseline is 0."""
    b, back = _as_float(baseline)
    s, _ = _as_float(score)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(b > 0, 100.0 * (b - s) / np.where(b > 0, b, 1.0), np.nan)
    return back(out)


def responded(baseline, score):
    """Response: at least a 50% reduction from baseline.

    Missing where either score is missing or baseline is 0. Returns a pandas
    'boolean' Series for Series input, a float array (1.0 / 0.0 / NaN) for arrays,
    and a bool (pd.NA when missing) for scalars.
    """
    pct = np.asarray(percent_improvement(baseline, score), dtype=float)
    return _as_flag(pct >= 100 * RESPONSE_REDUCTION, np.isnan(pct), baseline)


def remitted(score, threshold=10):
    """Remission: score <= threshold (MADRS 10 by default; see REMISSION_THRESHOLDS).

    Same return kinds as ``responded``.
    """
    arr, _ = _as_float(score)
    return _as_flag(arr <= threshold, np.isnan(arr), score)
