"""HRSD-17 (HAM-D 17) totals -> MADRS totals (Leucht et al. 2018 linking anchors)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import BayesKetError, offending
from ._kinds import as_float
from .builtin import HRSD17

HRSD17_RANGE = HRSD17.range

#: HRSD-17 total -> MADRS total anchors (Leucht et al. 2018, equipercentile linking).
#: 0 -> 0 is assumed (the scale floors); 40 -> 52.5 is the midpoint of the published
#: 52-53; 52 -> 60 is not published: it closes the table at the two scale maxima
#: (extrapolating the 30-40 slope would pass 60, so the top is clipped to 60).
LEUCHT_2018_ANCHORS = ((0, 0.0), (10, 13.0), (20, 26.0), (30, 39.0), (40, 52.5), (52, 60.0))


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
    arr, back = as_float(scores)
    bad = (arr < HRSD17_RANGE[0]) | (arr > HRSD17_RANGE[1])
    if bad.any():
        raise BayesKetError(
            f"HRSD-17 totals must lie in 0-52; got {offending(np.unique(arr[bad]))}. "
            "Fix: correct the scores or set them missing (NaN)."
        )
    out = np.interp(arr, x, y)
    out = np.where(np.isnan(arr), np.nan, out)
    return back(out)
