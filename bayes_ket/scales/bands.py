"""Severity bands: a score -> the label of the band it falls in."""

from __future__ import annotations

import numpy as np

from ..errors import BayesKetError, offending
from ._kinds import as_float, as_text
from .builtin import GAD7, HRSD17, MADRS
from .registry import get

MADRS_BANDS = MADRS.bands
GAD7_BANDS = GAD7.bands
HRSD17_BANDS = HRSD17.bands
#: MSM bands (Fekadu et al. 2009): 3-6 mild, 7-10 moderate, 11-15 severe
MSM_BANDS = (("mild", 3, 6), ("moderate", 7, 10), ("severe", 11, 15))


def label_bands(score, bands):
    """The label of the band each score falls in (None where missing). ``bands`` is
    ((label, lowest, highest), ...) in increasing order; a score between two bands (19.5
    between 7-19 and 20-34) takes the lower one. Scores outside the bands raise."""
    arr, _ = as_float(score)
    lo, hi = bands[0][1], bands[-1][2]
    bad = (arr < lo) | (arr > hi)
    if bad.any():
        raise BayesKetError(
            f"Scores {offending(np.unique(arr[bad]))} lie outside {lo:g}-{hi:g}. "
            "Fix: correct the scores or set them missing (NaN)."
        )
    names = np.array([b[0] for b in bands] + [None], dtype=object)
    idx = np.searchsorted([b[1] for b in bands], arr, side="right") - 1
    return as_text(names[np.where(np.isnan(arr), len(bands), idx)], score)


def band(score, scale="madrs"):
    """Severity band of each score on a registered scale (see ``Scale.bands``); None
    where missing. Keeps the kind of ``score`` (scalar, array, Series)."""
    s = get(scale)
    if not s.bands:
        raise BayesKetError(f"Scale '{s.name}' has no severity bands. Fix: choose a scale with bands.")
    return label_bands(score, s.bands)


def madrs_band(score):
    """MADRS severity band: 'none' 0-6, 'mild' 7-19, 'moderate' 20-34, 'severe' 35-60
    (Snaith et al. 1986); None if missing."""
    return label_bands(score, MADRS_BANDS)


def gad7_band(score):
    """GAD-7 band (Spitzer et al. 2006): 'minimal' 0-4, 'mild' 5-9, 'moderate' 10-14, 'severe' 15-21."""
    return label_bands(score, GAD7_BANDS)


def hrsd17_band(score):
    """HRSD-17 band (Zimmerman et al. 2013): 'none' 0-7, 'mild' 8-16, 'moderate' 17-23, 'severe' 24-52."""
    return label_bands(score, HRSD17_BANDS)


def msm_band(score):
    """MSM band (Fekadu et al. 2009): 'mild' 3-6, 'moderate' 7-10, 'severe' 11-15; None if missing."""
    return label_bands(score, MSM_BANDS)
