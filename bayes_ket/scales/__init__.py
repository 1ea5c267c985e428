"""Clinical rating scales: the scale registry, severity bands, HRSD-17 -> MADRS linking,
the Maudsley Staging Method (MSM), percent improvement, response and remission.

The registry (``get``, ``register``, ``names``, ``for_column``) holds one ``Scale`` per
rating scale: its range, severity bands, response fraction, remission threshold, items
and citation. Built in: madrs, hrsd17, gad7, bdi2, qids_sr16, phq9, hama, cgis (see
``bayes_ket.scales.builtin`` for each scale's sources and which thresholds are
conventions). ``read_trial`` reads the columns ``<name>_total`` and ``<name>_1`` ..
``<name>_<n>`` of every registered scale as scores.

Every function is vectorised and keeps the kind of its input: a scalar gives a
scalar, an array (or list) an array, a pandas Series a Series with the same index.
Missing values (NaN) pass through as missing.

>>> import bayes_ket as bk
>>> bk.scales.get("bdi2").remission
13
>>> bk.scales.responded(30, 14)          # MADRS: >= 50 % improvement
True
>>> bk.scales.remitted(12, scale="bdi2")  # BDI-II <= 13
True
"""

from .bands import GAD7_BANDS, HRSD17_BANDS, MADRS_BANDS, MSM_BANDS, band, gad7_band, hrsd17_band, label_bands, madrs_band, msm_band
from .builtin import BDI2, CGIS, GAD7, HAMA, HRSD17, MADRS, MADRS_ITEMS, PHQ9, QIDS_SR16
from .improvement import RESPONSE_REDUCTION, percent_improvement, percent_improvement_reason, remitted, responded
from .linking import HRSD17_RANGE, LEUCHT_2018_ANCHORS, hrsd17_to_madrs
from .msm import MSM_RANGE, MSM_SEVERITY, msm_score
from .registry import Scale, all_scales, builtin_names, claimed_item, for_column, get, names, register, unregister

MADRS_ITEM_RANGE = MADRS.items[0][1]
MADRS_RANGE = MADRS.range
GAD7_N_ITEMS = len(GAD7.items)
GAD7_ITEM_RANGE = GAD7.items[0][1]
GAD7_RANGE = GAD7.range

__all__ = [
    "BDI2", "CGIS", "GAD7", "GAD7_BANDS", "GAD7_ITEM_RANGE", "GAD7_N_ITEMS", "GAD7_RANGE", "HAMA", "HRSD17",
    "HRSD17_BANDS", "HRSD17_RANGE", "LEUCHT_2018_ANCHORS", "MADRS", "MADRS_BANDS", "MADRS_ITEMS", "MADRS_ITEM_RANGE",
    "MADRS_RANGE", "MSM_BANDS", "MSM_RANGE", "MSM_SEVERITY", "PHQ9", "QIDS_SR16", "RESPONSE_REDUCTION", "Scale",
    "all_scales", "band", "builtin_names", "claimed_item", "for_column", "gad7_band", "get", "hrsd17_band",
    "hrsd17_to_madrs", "label_bands", "madrs_band", "msm_band", "msm_score", "names", "percent_improvement",
    "percent_improvement_reason", "register", "remitted", "responded", "unregister",
]
