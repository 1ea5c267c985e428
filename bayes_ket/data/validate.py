"""Checks on a trial frame in canonical column names; each raises BayesKetError naming
the column, the first offending rows (0-based input rows) and patients, and the fix.

The frame passed in carries ``source_row`` (the input row of each record) and,
where it has one, ``patient``; functions return cleaned columns, they do not mutate.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from .. import scales
from ..errors import BayesKetError, offending
from .schema import REQUIRED_COLUMNS, score_columns

SET_MISSING = "Fix: correct the values or set them missing (NaN)."
#: text that files use for a missing value (compared in lower case)
MISSING_CODES = {"", ".", "-", "--", "?", "na", "n/a", "nan", "nd", "none", "null", "missing", "unknown", "not done"}
DECIMAL_COMMA = r"^\s*-?\d+,\d+\s*$"


def where(frame: pd.DataFrame, mask) -> str:
    """'rows 4, 17 (patients P02, P09)' for the rows where mask is True."""
    sub = frame.loc[np.asarray(mask, dtype=bool)]
    text = f"rows {offending(sub['source_row'].unique())}"
    if "patient" in sub:
        text += f" (patients {offending(sub['patient'].unique())})"
    return text


def values(series: pd.Series, mask) -> str:
    """The distinct offending values, whole floats shown as integers (7.0 -> 7)."""
    shown = pd.unique(series[np.asarray(mask, dtype=bool)])
    return offending(int(v) if isinstance(v, float) and v.is_integer() else v for v in shown)


# ---- structure -------------------------------------------------------------
def require_columns(frame: pd.DataFrame, wide: bool = False) -> None:
    """The required columns and at least one outcome column are present."""
    given = offending([c for c in frame.columns if c != "source_row"], 12)
    for col in REQUIRED_COLUMNS:
        if col not in frame:
            how = "name the score columns <column>_d<day>" if col == "day" and wide else f"columns={{'your_name': '{col}'}}"
            raise BayesKetError(
                f"Required column '{col}' is missing; the input has {given}. "
                f"Fix: add it or map yours with {how}."
            )
    if not any(c in frame for c in score_columns()):
        totals = ", ".join(s.total_column for s in scales.all_scales())
        raise BayesKetError(
            f"No outcome column: expected a scale's total ({totals}) or its items (madrs_1..madrs_10, ...); "
            f"the input has {given}. Fix: map yours with columns={{'your_name': 'madrs_total'}}, or register "
            "your scale with bk.scales.register."
        )


def not_empty(frame: pd.DataFrame, n_excluded: int = 0) -> None:
    if frame.empty:
        why = f"all {n_excluded} input rows were excluded (see the reasons in .excluded)" if n_excluded else "the input has no rows"
        raise BayesKetError(f"No rows to use: {why}. Fix: supply rows with at least one observed score.")


def patient_ids(frame: pd.DataFrame) -> None:
    bad = frame["patient"].isna()
    if bad.any():
        raise BayesKetError(f"Column 'patient' is missing on {where(frame, bad)}. Fix: give every row its patient id.")


# ---- numbers ---------------------------------------------------------------
def numeric(frame: pd.DataFrame, column: str, what: str) -> pd.Series:
    """The column as float; text that is not a number is an error (missing stays NaN)."""
    raw = frame[column]
    if pd.api.types.is_bool_dtype(raw):
        return raw.astype(float)
    out = pd.to_numeric(raw, errors="coerce").astype(float)
    bad = raw.notna() & out.isna()
    if bad.any():
        raise BayesKetError(
            f"Column '{column}' must hold {what}; {where(frame, bad)} hold {values(raw, bad)}. {fix_for_text(raw[bad])}"
        )
    return out


def fix_for_text(text: pd.Series) -> str:
    """The fix for text where numbers belong: decimal commas, missing-value codes, or a correction."""
    shown = text.astype(str)
    if shown.str.match(DECIMAL_COMMA).all():
        return "Fix: these are decimal commas: read the file with decimal=','."
    if shown.str.strip().str.lower().isin(MISSING_CODES).all():
        codes = sorted(set(shown))
        return f"Fix: these look like missing-value codes: read the file with na_values={codes!r}."
    return SET_MISSING


def nonnegative_days(frame: pd.DataFrame, mapped: bool) -> None:
    """Days (after any schedule mapping) are >= 0: 0 is the baseline."""
    bad = frame["day"] < 0
    if bad.any():
        how = (
            "correct the windows" if mapped else
            "correct the days, or map pre-baseline assessments to the baseline with visit_windows={0: (-7, 0), ...}"
        )
        raise BayesKetError(
            f"Column 'day' must hold days since the infusion (>= 0, 0 = baseline); {where(frame, bad)} hold "
            f"{values(frame['day'], bad)}. Fix: {how}."
        )


def day_present(frame: pd.DataFrame, day: pd.Series) -> None:
    bad = day.isna()
    if bad.any():
        raise BayesKetError(
            f"Column 'day' is missing on {where(frame, bad)}. Fix: give every visit its day (a number, a date or "
            "a label such as 'Week 1'), or drop the rows."
        )


def period(frame: pd.DataFrame) -> pd.Series:
    p = numeric(frame, "period", "crossover periods 1, 2, ...")
    bad = p.isna() | (p < 1) | (p % 1 != 0)
    if bad.any():
        raise BayesKetError(
            f"Column 'period' must hold whole numbers >= 1; {where(frame, bad)} hold {values(frame['period'], bad)}. "
            "Fix: number the crossover periods 1, 2, ... (or drop the column for a parallel design)."
        )
    return p.astype("int64")


def whole_in_range(frame: pd.DataFrame, column: str, lo: int, hi: int, what: str = "whole numbers") -> pd.Series:
    """Whole numbers within lo-hi (3.0 is fine); NaN allowed."""
    x = numeric(frame, column, f"{what} {lo}-{hi}")
    bad = x.notna() & ((x < lo) | (x > hi) | (x % 1 != 0))
    if bad.any():
        raise BayesKetError(
            f"Column '{column}' must hold {what} {lo}-{hi}; {where(frame, bad)} hold {values(x, bad)}. {SET_MISSING}"
        )
    return x


def items(frame: pd.DataFrame, scale) -> pd.DataFrame:
    """The scale's item columns present in the frame, as whole numbers within each item's range."""
    return pd.DataFrame(
        {c: whole_in_range(frame, c, *scale.item_range(c)) for c in scale.item_columns if c in frame},
        index=frame.index,
    )


def total(frame: pd.DataFrame, column: str) -> pd.Series:
    """A registered scale's total column, within the scale's range."""
    lo, hi = scales.for_column(column).range
    x = numeric(frame, column, f"totals {lo:g}-{hi:g}")
    bad = x.notna() & ((x < lo) | (x > hi))
    if bad.any():
        raise BayesKetError(
            f"Column '{column}' must hold totals {lo:g}-{hi:g}; {where(frame, bad)} hold {values(x, bad)}. {SET_MISSING}"
        )
    return x


def total_matches_items(frame: pd.DataFrame, scale, given: pd.Series, item_sum: pd.Series) -> None:
    bad = given.notna() & item_sum.notna() & ((given - item_sum).abs() > 1e-9)
    if bad.any():
        first, last = scale.item_columns[0], scale.item_columns[-1]
        raise BayesKetError(
            f"Column '{scale.total_column}' disagrees with the sum of {first}..{last} on {where(frame, bad)} "
            f"(totals {values(given, bad)} vs item sums {values(item_sum, bad)}). "
            "Fix: correct the items or the total, or drop the total (it is derived from the items)."
        )


def msm(frame: pd.DataFrame) -> pd.Series:
    return whole_in_range(frame, "msm", 3, 15, "whole-number Maudsley Staging scores")


# ---- constancy -------------------------------------------------------------
def constant_within(frame: pd.DataFrame, column: str, by: Iterable[str], fix: str) -> tuple[pd.Series, int]:
    """The column filled within groups `by` where it is missing on some rows of a group;
    an error where a group holds two different values. Returns (filled, n_filled)."""
    by = list(by)
    col = frame[column]
    groups = col.groupby([frame[b] for b in by], sort=False, dropna=False)
    varies = groups.transform("nunique") > 1
    if varies.any():
        unit = " x ".join(by)
        raise BayesKetError(
            f"Column '{column}' must be constant within each {unit} but varies on {where(frame, varies)} "
            f"(values {values(col, varies)}). Fix: {fix}"
        )
    filled = groups.transform("first")
    return filled, int((col.isna() & filled.notna()).sum())


def unique_visits(frame: pd.DataFrame) -> None:
    key = ["patient", "period", "day"]
    dup = frame.duplicated(key, keep=False)
    if dup.any():
        raise BayesKetError(
            f"Duplicate patient x period x day: {where(frame, dup)} share a visit "
            f"(days {values(frame['day'], dup)}). Fix: keep one row per visit, or number crossover periods in 'period'."
        )
