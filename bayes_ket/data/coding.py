"""Coding of labelled patient-level columns (moderators) by read_trial.

- Two levels (yes/no, true/false, 0/1, or any two labels): coded 0/1 as a float column;
  the reference (0) is "no" / "false" / "0" when present, otherwise the first level in
  sorted order, unless ``reference_levels={"column": "level"}`` names it.
- More than two labels: kept as labels, a pandas Categorical whose first category is
  the reference (the first in sorted order unless ``reference_levels`` names one); the
  model code expands it into indicators.
- Labels are compared without surrounding spaces and case ("Yes" and "yes " are one
  level, shown in their most common spelling).
- Not coded, and not moderators (each noted in the report): a column with one label
  only; dates; free text, i.e. more than ``MAX_LEVELS`` labels, or more than 5 labels and
  more than one per two patients.
- A column of numbers with a few text entries ("unknown", ".") is an error: set those
  missing with ``na_values=``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import BayesKetError, offending
from .validate import MISSING_CODES, values, where

ZERO_LABELS = ("no", "false", "0")
MAX_LEVELS = 30


@dataclass(frozen=True)
class Coding:
    """How read_trial coded a labelled column.

    column : the column in ``trial.frame``.
    kind : "binary" (coded 0/1, a float column) or "categorical" (a pandas Categorical,
        first category = reference).
    levels : the original labels in code order, the reference first (binary: the label
        coded 0, then the one coded 1).
    reference : the reference level (coded 0 for binary columns).
    label : text for tables and figures: "<column>: <level coded 1> vs <reference>" for
        binary columns, "<column>: <reference> (reference), <other levels>" otherwise.
    """

    column: str
    kind: str
    levels: tuple
    reference: object
    label: str

    def to_dict(self) -> dict:
        return {"kind": self.kind, "levels": [_plain(v) for v in self.levels], "reference": _plain(self.reference),
                "label": self.label}


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v


def _norm(v) -> str:
    return str(v).strip().lower()


def binary_numeric(column: str, series: pd.Series, reference=None) -> tuple[pd.Series, Coding | None]:
    """A numeric or boolean column holding exactly the values 0 and 1 (False/True): its
    Coding (levels (0, 1)), recoded when ``reference`` is 1. Other columns: (series, None)."""
    x = series.astype(float) if pd.api.types.is_bool_dtype(series) else series
    seen = set(pd.unique(x.dropna()))
    if seen != {0, 1}:
        if reference is not None:
            raise BayesKetError(
                f"reference_levels names {reference!r} for column '{column}', which holds numbers, not labels "
                f"(values {offending(sorted(seen))}). Fix: drop it from reference_levels."
            )
        return series, None
    is_bool = pd.api.types.is_bool_dtype(series)
    levels = (False, True) if is_bool else (0, 1)
    if reference is not None and _norm(reference) in ("1", "true"):
        x, levels = 1.0 - x.astype(float), levels[::-1]
    elif reference is not None and _norm(reference) not in ("0", "false"):
        raise BayesKetError(f"reference_levels[{column!r}]={reference!r} is not a level of '{column}' (0 or 1).")
    return x.astype(float), Coding(column, "binary", levels, levels[0], f"{column}: {levels[1]} vs {levels[0]}")


def code_column(column: str, series: pd.Series, n_patients: int, reference=None, frame=None):
    """(coded column, Coding or None, note or None) for one patient-level column.

    Numbers stay numbers (a 0/1 column gets a binary Coding); text of numbers ("3", "5")
    becomes numbers; labels are coded by ``code_labels``."""
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        coded, coding = binary_numeric(column, series, reference)
        return coded, coding, None
    if pd.api.types.is_datetime64_any_dtype(series):
        return series, None, f"column '{column}' holds dates: kept as they are, not a moderator"
    number = pd.to_numeric(series, errors="coerce")
    if series.notna().any() and (number.notna() == series.notna()).all():
        coded, coding = binary_numeric(column, number.astype(float), reference)
        return coded, coding, None
    return code_labels(column, series, n_patients, reference, frame)


def code_labels(column: str, series: pd.Series, n_patients: int, reference=None, frame=None):
    """(coded column, Coding or None, note or None) for a column of labels."""
    shown = series.dropna()
    number = pd.to_numeric(shown, errors="coerce")
    if number.notna().mean() > 0.5 and number.isna().any():
        bad = series.notna() & pd.to_numeric(series, errors="coerce").isna()
        hint = " (missing-value codes)" if all(_norm(v) in MISSING_CODES for v in series[bad]) else ""
        raise BayesKetError(
            f"Column '{column}' holds numbers and text{hint}: {values(series, bad)}"
            + (f" on {where(frame, bad)}" if frame is not None else "")
            + ". Fix: set them missing with na_values=[...] (for a file) or correct them."
        )
    text = shown.astype(str).str.strip()
    if text.str.match(r"^\d{4}-\d{1,2}-\d{1,2}").all():
        return series, None, f"column '{column}' holds dates: kept as they are, not a moderator"
    keys = text.str.lower()
    spelling = text.groupby(keys).agg(lambda s: s.value_counts().index[0])
    n = len(spelling)
    if n == 0:
        return series, None, f"column '{column}' holds no values: not a moderator"
    if n == 1:
        return series, None, (
            f"column '{column}' has one label ('{spelling.iloc[0]}') for every patient: kept as text, not a moderator"
        )
    if n > MAX_LEVELS or (n > 5 and n > n_patients / 2):
        return series, None, (
            f"column '{column}' has {n} distinct labels: kept as text, not a moderator (recode it into fewer "
            "levels to use it)"
        )
    merged = sorted({v for v in shown.astype(str) if v != spelling[v.strip().lower()]})
    note = None
    if merged:
        pairs = ", ".join(f"{m!r} as {spelling[m.strip().lower()]!r}" for m in merged)
        note = f"column '{column}': labels read as one level regardless of case and spaces: {pairs}"
    ref_key = _reference(column, spelling, reference)
    levels = [spelling[ref_key]] + sorted(v for k, v in spelling.items() if k != ref_key)
    canonical = series.map(lambda v: spelling[_norm(v)] if pd.notna(v) else np.nan)
    if n == 2:
        coded = canonical.map({levels[0]: 0.0, levels[1]: 1.0}).astype(float)
        return coded, Coding(column, "binary", tuple(levels), levels[0], f"{column}: {levels[1]} vs {levels[0]}"), note
    cat = pd.Categorical(canonical, categories=levels)
    label = f"{column}: {levels[0]} (reference), " + ", ".join(levels[1:])
    return pd.Series(cat, index=series.index, name=series.name), Coding(column, "categorical", tuple(levels), levels[0], label), note


def _reference(column: str, spelling: pd.Series, reference) -> str:
    if reference is not None:
        key = _norm(reference)
        if key not in spelling.index:
            raise BayesKetError(
                f"reference_levels[{column!r}]={reference!r} is not a level of '{column}'; its levels are "
                f"{offending(sorted(spelling), 12)}. Fix: name one of them."
            )
        return key
    if len(spelling) == 2:
        zero = [k for k in spelling.index if k in ZERO_LABELS]
        if zero:
            return zero[0]
    return min(spelling.index, key=lambda k: spelling[k])


def check_reference_levels(reference_levels: Mapping | None, codable: set) -> dict:
    """reference_levels may only name columns that are coded."""
    reference_levels = dict(reference_levels or {})
    unknown = sorted(set(reference_levels) - codable)
    if unknown:
        raise BayesKetError(
            f"reference_levels names {offending(map(repr, unknown))}, which are not labelled patient-level columns "
            f"of the data (those are: {offending(sorted(codable), 12) or 'none'}). Fix: correct the names."
        )
    return reference_levels
