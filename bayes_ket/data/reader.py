"""read_trial: a user's file or DataFrame -> validated TrialData in the canonical layout."""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from .. import scales
from ..errors import BayesKetError, offending
from . import validate
from .schema import ID_COLUMNS, MADRS_ITEM_COLUMNS, NON_MODERATOR_COLUMNS, OUTCOMES
from .trial import TrialData

#: wide column <column>_d<day>, e.g. madrs_total_d0, madrs_3_d7, madrs_total_d0.17
WIDE_COLUMN = re.compile(r"^(?P<column>.+)_d(?P<day>\d+(?:\.\d+)?)$")
#: the MADRS item names of scales.MADRS_ITEMS are accepted for madrs_1..madrs_10
ITEM_ALIASES = dict(zip(scales.MADRS_ITEMS, MADRS_ITEM_COLUMNS))
SCORE_COLUMNS = (*MADRS_ITEM_COLUMNS, *OUTCOMES)
NO_SCORE = "no score observed"

_READERS = {
    ".csv": pd.read_csv,
    ".tsv": lambda path, **kw: pd.read_csv(path, sep="\t", **kw),
    ".parquet": pd.read_parquet,
    ".pq": pd.read_parquet,
}


def read_trial(
    source,
    columns: Mapping[str, str] | None = None,
    *,
    arm_labels: Mapping | None = None,
    visit_columns: Iterable[str] = (),
    convert_hrsd: bool = True,
    hrsd_table=None,
    **options,
) -> TrialData:
    """Read a trial into the canonical long layout (API.md) and validate it.

    source : a CSV (.csv), TSV (.tsv) or Parquet (.parquet, .pq) path, or a DataFrame.
        Long: one row per patient x visit with a ``day`` column. Wide (no ``day``
        column): one row per patient, scores in columns ``<column>_d<day>``
        (``madrs_total_d0``, ``madrs_3_d7``, ``madrs_total_d0.17``); the other columns
        are patient-level.
    columns : {user name: canonical name}; for wide input it may also map the part
        before ``_d<day>`` (``{"hamd": "hrsd17_total"}`` renames ``hamd_d7``). The item
        names of ``scales.MADRS_ITEMS`` are understood as ``madrs_1``..``madrs_10``.
    arm_labels : {label: 1 or 0} added to the built-in, case-insensitive labels
        (ketamine/drug/d/1 vs placebo/saline/midazolam/control/p/0).
    visit_columns : non-canonical numeric columns measured per visit; every other one
        is a patient-level moderator and must be constant within a patient (missing
        on some of a patient's rows is filled from the others, and noted).
    convert_hrsd : where ``madrs_total`` is missing and ``hrsd17_total`` observed, fill
        it with ``scales.hrsd17_to_madrs`` (with ``hrsd_table``) and flag the rows in
        ``madrs_converted``.
    options : passed to ``pandas.read_csv`` / ``read_parquet`` (e.g. ``na_values=["."]``).

    The frame: patient (as given), study (when given), arm (int 1/0, when given),
    period (int, 1 when absent), day (float), madrs_1..madrs_10 (float, when any item
    is given), madrs_total (float; the item sum where all ten are present),
    madrs_converted (bool, whenever madrs_total exists), gad7_total, hrsd17_total
    (float), the other columns unchanged (numeric moderators as float), and source_row
    (0-based data row of the input; for wide input the patient's row; a ``source_row``
    column already in a long input is kept, for loaders that pre-filter). Sorted by patient, period, day. Rows with no
    score at all go to ``TrialData.excluded`` with their reason; their patient-level
    values still fill the patient's other rows.
    """
    raw, name = _load(source, options)
    validate.not_empty(raw)
    raw, wide = _rename(raw, dict(columns or {}))
    if wide:
        frame, wide_visit_columns = _wide_to_long(raw)
        visit_columns = {*visit_columns, *wide_visit_columns}
    else:
        frame = raw.assign(source_row=raw["source_row"] if "source_row" in raw else np.arange(len(raw)))
    validate.require_columns(frame, wide)
    validate.patient_ids(frame)
    frame, notes = _canonical(frame, arm_labels, set(visit_columns), convert_hrsd, hrsd_table)

    observed = frame[[c for c in SCORE_COLUMNS if c in frame]].notna().any(axis=1)
    excluded = frame.loc[~observed, ["source_row", "patient", "day"]].assign(reason=NO_SCORE)
    kept = frame.loc[observed]
    validate.not_empty(kept, len(excluded))
    if "arm" in kept:
        validate.arm_present(kept)
        kept = kept.assign(arm=kept["arm"].astype("int64"))
    validate.unique_visits(kept)
    kept = kept.sort_values(["patient", "period", "day"], kind="stable").reset_index(drop=True)
    return TrialData(
        frame=kept[_column_order(kept)],
        excluded=excluded.sort_values(["source_row", "day"]).reset_index(drop=True),
        n_input_rows=len(frame),
        source=name,
        notes=notes,
    )


# ---- input -----------------------------------------------------------------
def _load(source, options) -> tuple[pd.DataFrame, str]:
    if isinstance(source, pd.DataFrame):
        if options:
            raise BayesKetError(
                f"Options {offending(options)} are for reading files; the source is a DataFrame. Fix: drop them."
            )
        return source.reset_index(drop=True), "DataFrame"
    if not isinstance(source, (str, os.PathLike)):
        raise BayesKetError(f"source must be a file path or a pandas DataFrame, not {type(source).__name__}.")
    path = Path(source)
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise BayesKetError(
            f"Cannot read '{path.name}': known file types are {', '.join(_READERS)}. "
            "Fix: save it as CSV or Parquet, or read it with pandas and pass the DataFrame."
        )
    if not path.exists():
        raise BayesKetError(f"No file '{path}'. Fix: check the path.")
    return reader(path, **options), str(path)


def _rename(raw: pd.DataFrame, mapping: dict) -> tuple[pd.DataFrame, bool]:
    """Apply columns= (full names, then wide base names) and the item aliases."""
    names = {c: mapping.get(str(c), ITEM_ALIASES.get(str(c), str(c))) for c in raw.columns}
    used = {str(c) for c in raw.columns} & set(mapping)
    wide = "day" not in names.values() and any(WIDE_COLUMN.match(n) for n in names.values())
    if wide:
        for c, n in names.items():
            if str(c) not in mapping and (m := WIDE_COLUMN.match(n)):
                base = m["column"]
                used |= {base} & set(mapping)
                names[c] = f"{mapping.get(base, ITEM_ALIASES.get(base, base))}_d{m['day']}"
    unknown = set(mapping) - used
    if unknown:
        raise BayesKetError(
            f"columns= names {offending(sorted(map(repr, unknown)))}, which the input does not have; "
            f"it has {offending(raw.columns, 12)}. Fix: correct the names in columns=."
        )
    return raw.rename(columns=names), wide


def _wide_to_long(raw: pd.DataFrame) -> tuple[pd.DataFrame, set]:
    """One row per patient -> one row per patient x day (every day of every column)."""
    cells = {c: (m["column"], float(m["day"])) for c in raw.columns if (m := WIDE_COLUMN.match(c))}
    counts = Counter(cells.values())
    clash = [c for c, key in cells.items() if counts[key] > 1]
    if clash:
        raise BayesKetError(f"Wide columns {offending(clash)} name the same score and day. Fix: keep one of each.")
    constant = raw[[c for c in raw.columns if c not in cells]].assign(source_row=np.arange(len(raw)))
    parts = []
    for day in sorted({d for _, d in cells.values()}):
        at_day = {c: base for c, (base, d) in cells.items() if d == day}
        parts.append(constant.assign(day=day, **{base: raw[c] for c, base in at_day.items()}))
    long = pd.concat(parts, ignore_index=True)
    visit_only = {base for base, _ in cells.values()} - set(SCORE_COLUMNS) - set(ID_COLUMNS)
    return long, visit_only


# ---- canonical columns -----------------------------------------------------
def _canonical(frame, arm_labels, visit_columns, convert_hrsd, hrsd_table) -> tuple[pd.DataFrame, list[str]]:
    out = frame.copy()
    notes = []
    out["day"] = validate.day(frame)
    out["period"] = validate.period(frame) if "period" in frame else 1
    if any(c in frame for c in MADRS_ITEM_COLUMNS):
        items = validate.items(frame)
        for c in MADRS_ITEM_COLUMNS:
            out[c] = items[c] if c in items else np.nan
        item_sum = out[list(MADRS_ITEM_COLUMNS)].sum(axis=1, min_count=len(MADRS_ITEM_COLUMNS))
        if "madrs_total" in frame:
            given = validate.total(frame, "madrs_total")
            validate.total_matches_items(frame, given, item_sum)
            item_sum = item_sum.fillna(given)
        out["madrs_total"] = item_sum
    for col in OUTCOMES:
        if col in frame and not (col == "madrs_total" and "madrs_1" in out):
            out[col] = validate.total(frame, col)
    if "msm" in frame:
        out["msm"] = validate.msm(frame)
    if "arm" in frame:
        out["arm"], _ = validate.constant_within(
            out.assign(arm=validate.arm(frame, arm_labels)), "arm", ["patient", "period"],
            "give each patient one arm per period; number crossover periods in 'period'.",
        )
    if "study" in frame:
        out["study"], _ = validate.constant_within(
            out, "study", ["patient"], "make patient ids unique across studies (e.g. prefix the study)."
        )
    for col in _moderators(out, visit_columns):
        out[col], n_filled = validate.constant_within(
            out, col, ["patient"],
            "correct the values, or, if it is measured at each visit, name it in visit_columns=.",
        )
        if n_filled:
            notes.append(f"patient-level '{col}' was missing on {n_filled} rows of patients with a value elsewhere: filled within patient")
    if convert_hrsd and "hrsd17_total" in out:
        madrs = out["madrs_total"] if "madrs_total" in out else pd.Series(np.nan, index=out.index)
        converted = madrs.isna() & out["hrsd17_total"].notna()
        out["madrs_total"] = madrs.mask(converted, scales.hrsd17_to_madrs(out["hrsd17_total"].where(converted), hrsd_table))
        out["madrs_converted"] = converted
        if converted.any():
            notes.append(
                f"madrs_total converted from hrsd17_total on {int(converted.sum())} rows "
                "(scales.hrsd17_to_madrs); flagged in madrs_converted"
            )
    elif "madrs_total" in out:
        out["madrs_converted"] = False
    return out, notes


def _moderators(frame: pd.DataFrame, visit_columns: set) -> list[str]:
    return [
        c
        for c in frame.columns
        if c not in NON_MODERATOR_COLUMNS and c not in visit_columns and pd.api.types.is_numeric_dtype(frame[c])
    ]


def _column_order(frame: pd.DataFrame) -> list[str]:
    first = [c for c in (*ID_COLUMNS, *MADRS_ITEM_COLUMNS, "madrs_total", "madrs_converted", "gad7_total", "hrsd17_total") if c in frame]
    return first + [c for c in frame.columns if c not in first and c != "source_row"] + ["source_row"]
