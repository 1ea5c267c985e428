"""The Maudsley Staging Method (MSM, Fekadu et al. 2009): a treatment-resistance score 3-15."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import BayesKetError, offending

MSM_RANGE = (3, 15)
#: severity labels -> MSM severity points
MSM_SEVERITY = {"subsyndromal": 1, "mild": 2, "moderate": 3, "severe": 4, "severe_psychotic": 5}


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
