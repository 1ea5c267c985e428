"""Checks on a trial frame in canonical column names; each raises BayesKetError naming
the column, the first offending rows (0-based input rows) and patients, and the fix.

The frame passed in carries ``source_row`` (the input row of each record) and,
where it has one, ``patient``; functions return cleaned columns, they do not mutate.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from ..errors import BayesKetError, offending
from .schema import ARM_LABELS, ITEM_RANGE, MADRS_ITEM_COLUMNS, OUTCOMES, REQUIRED_COLUMNS, TOTAL_RANGES

SET_MISSING = "Fix: correct the values or set them missing (NaN)."


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
    outcomes = [*MADRS_ITEM_COLUMNS, *OUTCOMES]
    if not any(c in frame for c in outcomes):
        raise BayesKetError(
            f"No outcome column: expected one of madrs_total, madrs_1..madrs_10, gad7_total, hrsd17_total; "
            f"the input has {given}. Fix: map yours with columns={{'your_name': 'madrs_total'}}."
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
    out = pd.to_numeric(raw, errors="coerce").astype(float)
    bad = raw.notna() & out.isna()
    if bad.any():
        raise BayesKetError(
            f"Column '{column}' must hold {what}; {where(frame, bad)} hold {values(raw, bad)}. {SET_MISSING}"
        )
    return out


def day(frame: pd.DataFrame) -> pd.Series:
    d = numeric(frame, "day", "days since the infusion (numbers >= 0)")
    bad = d.isna() | (d < 0)
    if bad.any():
        raise BayesKetError(
            f"Column 'day' must hold days since the infusion (numbers >= 0, 0 = baseline); "
            f"{where(frame, bad)} hold {values(frame['day'], bad)}. Fix: correct the days."
        )
    return d


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


def items(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({c: whole_in_range(frame, c, *ITEM_RANGE) for c in MADRS_ITEM_COLUMNS if c in frame})


def total(frame: pd.DataFrame, column: str) -> pd.Series:
    lo, hi = TOTAL_RANGES[column]
    x = numeric(frame, column, f"totals {lo}-{hi}")
    bad = x.notna() & ((x < lo) | (x > hi))
    if bad.any():
        raise BayesKetError(
            f"Column '{column}' must hold totals {lo}-{hi}; {where(frame, bad)} hold {values(x, bad)}. {SET_MISSING}"
        )
    return x


def total_matches_items(frame: pd.DataFrame, given: pd.Series, item_sum: pd.Series) -> None:
    bad = given.notna() & item_sum.notna() & ((given - item_sum).abs() > 1e-9)
    if bad.any():
        raise BayesKetError(
            f"Column 'madrs_total' disagrees with the sum of madrs_1..madrs_10 on {where(frame, bad)} "
            f"(totals {values(given, bad)} vs item sums {values(item_sum, bad)}). "
            "Fix: correct the items or the total, or drop the total (it is derived from the items)."
        )


def msm(frame: pd.DataFrame) -> pd.Series:
    return whole_in_range(frame, "msm", 3, 15, "whole-number Maudsley Staging scores")


# ---- arms ------------------------------------------------------------------
def _label(v) -> str | None:
    if pd.isna(v):
        return None
    if isinstance(v, (bool, np.bool_, int, np.integer, float, np.floating)) and float(v) % 1 == 0:
        return str(int(v))
    return str(v).strip().lower()


def arm_lookup(arm_labels: Mapping | None = None) -> dict[str, int]:
    """Lower-case label -> 1 (ketamine) / 0 (control): schema.ARM_LABELS plus arm_labels."""
    lookup = {label: code for code, labels in ARM_LABELS.items() for label in labels}
    codes = {1: 1, 0: 0, "ketamine": 1, "control": 0}
    for label, code in (arm_labels or {}).items():
        key = code.lower() if isinstance(code, str) else code
        if key not in codes:
            raise BayesKetError(
                f"arm_labels maps {label!r} to {code!r}; map each label to 1 (ketamine) or 0 (control)."
            )
        lookup[_label(label)] = codes[key]
    return lookup


def arm(frame: pd.DataFrame, arm_labels: Mapping | None = None) -> pd.Series:
    """Arm labels mapped case-insensitively to 1 / 0 (float, NaN where missing)."""
    lookup = arm_lookup(arm_labels)
    labels = frame["arm"].map(_label)
    out = labels.map(lookup).astype(float)
    bad = labels.notna() & out.isna()
    if bad.any():
        raise BayesKetError(
            f"Column 'arm' has labels that cannot be mapped: {values(frame['arm'], bad)} on {where(frame, bad)}. "
            "Known: ketamine/drug/d/1 (ketamine) and placebo/saline/midazolam/control/p/0 (control). "
            "Fix: pass arm_labels={'your_label': 1 or 0}."
        )
    return out


def arm_present(frame: pd.DataFrame) -> None:
    bad = frame["arm"].isna()
    if bad.any():
        raise BayesKetError(
            f"Column 'arm' is missing on {where(frame, bad)}. "
            "Fix: give every visit its arm (or drop the column for a single-arm cohort)."
        )


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
