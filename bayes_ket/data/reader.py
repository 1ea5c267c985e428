"""read_trial: a user's file or DataFrame -> validated TrialData in the canonical layout."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from .. import scales
from ..errors import BayesKetError, offending
from . import arms, coding, days, files, studies as study_tables, validate
from .schema import ID_COLUMNS, is_score, non_moderator, score_columns
from .trial import TrialData

#: wide column <column>_d<day>, e.g. madrs_total_d0, madrs_3_d7, madrs_total_d0.17
WIDE_COLUMN = re.compile(r"^(?P<column>.+)_d(?P<day>\d+(?:\.\d+)?)$")
#: the MADRS item names of scales.MADRS_ITEMS are accepted for madrs_1..madrs_10
ITEM_ALIASES = dict(zip(scales.MADRS_ITEMS, scales.MADRS.item_columns))
NO_SCORE = "no score observed"
EXCLUDED_COLUMNS = ["source_row", "patient", "day", "reason"]


def read_trial(
    source,
    columns: Mapping[str, str] | None = None,
    *,
    arm_labels: Mapping | None = None,
    visit_columns: Iterable[str] = (),
    convert_hrsd: bool = True,
    hrsd_table=None,
    visit_windows: Mapping | None = None,
    date_origin: str | None = None,
    date_format: str | None = None,
    reference_levels: Mapping | None = None,
    studies=None,
    study_columns: Iterable[str] = (),
    **options,
) -> TrialData:
    """Read a trial into the canonical long layout and validate it.

    Every input row is used or excluded with its reason (``trial.excluded``,
    ``trial.report()``); bad input raises ``BayesKetError`` naming the column, the rows
    and patients, and the fix.

    source : a CSV (.csv, .txt), TSV (.tsv) or Parquet (.parquet, .pq) path, or a
        DataFrame. Long: one row per patient x visit with a ``day`` column. Wide (no
        ``day`` column): one row per patient, scores in columns ``<column>_d<day>``
        (``madrs_total_d0``, ``madrs_3_d7``, ``madrs_total_d0.17``); the other columns
        are patient-level. CSV encoding, separator and decimal comma are detected (see
        ``bayes_ket.data.files``).
    columns : {user name: canonical name}; for wide input it may also map the part
        before ``_d<day>`` (``{"hamd": "hrsd17_total"}`` renames ``hamd_d7``). The item
        names of ``scales.MADRS_ITEMS`` are understood as ``madrs_1``..``madrs_10``.
    arm_labels : {label: 1 or 0} for arm labels other than the built-in ones
        (case-insensitive: ketamine, 1 -> 1; placebo, saline, midazolam, control, 0 -> 0).
        Any other label (e.g. "Esketamine") is an error until mapped here.
    visit_columns : non-score columns measured per visit; every other column is
        patient-level and must be constant within a patient (missing on some of a
        patient's rows is filled from the others, and noted).
    convert_hrsd : where ``madrs_total`` is missing and ``hrsd17_total`` observed, fill
        it with ``scales.hrsd17_to_madrs`` (with ``hrsd_table``) and flag the rows in
        ``madrs_converted``.
    visit_windows : {visit day: (lowest, highest)}: map actual days to scheduled visits
        (closed windows; e.g. ``{0: (0, 0), 7: (5, 9), 14: (12, 16)}``). A visit in no
        window is excluded with its reason (and a warning); of two visits of a patient in
        one window the one closest to the visit day is kept. Alternatively a
        ``scheduled_day`` column gives each row its nominal visit (numbers or labels
        such as "Week 1"). Either way ``day`` then holds the scheduled day and
        ``actual_day`` the actual one. Without either, when days cluster around few
        values (6, 7, 8 for "week 1"), the report proposes windows and nothing changes.
    date_origin : with dates in ``day``: the column holding each patient's (or period's)
        infusion date, day 0. Default: the patient's first assessment is day 0.
    date_format : the format of non-ISO date strings in ``day`` and ``date_origin``,
        e.g. "%d/%m/%Y" (ISO 8601 dates need none).
    reference_levels : {column: level}: the reference (coded 0, or first category) of a
        labelled patient-level column; by default "no" / "false" / "0", otherwise the
        first label in sorted order (see ``bayes_ket.data.coding``).
    studies : a study table (DataFrame or CSV/Parquet path) with a ``study`` column and
        one row per study; its columns are joined on ``study`` as study-level columns.
    study_columns : columns of the data itself that are study-level (constant within a
        study); listed, with the study table's, by ``trial.study_table()``.
    options : passed to ``pandas.read_csv`` / ``read_parquet`` (``sep=``, ``decimal=``,
        ``encoding=``, ``na_values=["."]``, ...).

    Day values: numbers (days since the infusion that starts the period; 0 = baseline;
    fractional days allowed), dates (days since the patient's first assessment, or
    since ``date_origin``), or visit labels ("Baseline" = 0, "Day 3" = 3, "Week 1" = 7,
    "Month 3" = 90, "Hour 4" = 0.17); the report says how they were read. A day far
    beyond the other patients' last visits (typo 4000 for 14) is flagged with a
    ``BayesKetWarning`` and listed in the report; the rule is in ``bayes_ket.data.days``.

    Scores: the columns ``<name>_total`` and items ``<name>_1``..``<name>_<n>`` of every
    registered scale (``bk.scales.names()``, including yours). Items must be whole
    numbers within each item's range; totals within the scale's range. Where the total
    is the item sum (``Scale.total_from_items == "sum"``), ``<name>_total`` is derived
    from complete items (all item columns are created), and a given total that
    disagrees with its items is an error.

    Patient-level columns: numeric columns stay numeric; 0/1, yes/no, true/false and
    any two-label column are coded 0/1; columns of more labels become a pandas
    Categorical (``trial.codings`` records each coding).

    The frame: patient (as given), study (when given), arm (int 1/0, when given; the
    data's names in ``trial.arm_names``), period (int, 1 when absent), day (float), the
    score columns (float), madrs_converted (bool, whenever madrs_total exists),
    actual_day (when a schedule was applied), the patient-level columns, and
    source_row (0-based data row of the input; for wide input the patient's row; a
    ``source_row`` column already in a long input is kept, for loaders that pre-filter).
    Sorted by patient, period, day. Rows with no score at all go to
    ``TrialData.excluded`` with their reason; their patient-level values still fill the
    patient's other rows.
    """
    raw, name, notes = files.load(source, options)
    validate.not_empty(raw)
    raw, wide = _rename(raw, dict(columns or {}))
    visit_columns = set(visit_columns)
    if wide:
        frame, wide_visit_columns = _wide_to_long(raw)
        visit_columns |= wide_visit_columns
    else:
        frame = raw.assign(source_row=raw["source_row"] if "source_row" in raw else np.arange(len(raw)))
    if "day" not in frame and "scheduled_day" in frame:
        frame = frame.rename(columns={"scheduled_day": "day"})
        notes.append("no 'day' column: the scheduled days of 'scheduled_day' are the days")
    validate.require_columns(frame, wide)
    validate.patient_ids(frame)
    _check_score_names(frame)

    day, schedule = days.read_days(frame, date_origin, date_format)
    validate.day_present(frame, day)
    frame = frame.assign(day=day)
    scheduled = None
    if "scheduled_day" in frame:
        if visit_windows is not None:
            raise BayesKetError(
                "Both a 'scheduled_day' column and visit_windows= give the visit schedule. Fix: use one of them."
            )
        scheduled, labels = days.numbers_or_labels(frame, "scheduled_day")
        schedule["scheduled_labels"] = labels
    if date_origin is not None:
        visit_columns.add(date_origin)

    declared_study_columns = list(study_columns)
    study_join = {}
    if studies is not None:
        frame, table_columns, study_join = study_tables.join(frame, studies)
        declared_study_columns += table_columns

    frame, codings, arm_names, more_notes = _canonical(
        frame, arm_labels, visit_columns, convert_hrsd, hrsd_table, reference_levels
    )
    notes += more_notes
    study_tables.check_constant(frame, declared_study_columns)

    observed = frame[[c for c in score_columns() if c in frame]].notna().any(axis=1)
    excluded = [frame.loc[~observed].assign(reason=NO_SCORE)]
    kept = frame.loc[observed]
    validate.not_empty(kept, len(excluded[0]))
    kept, off_schedule, mapping = days.apply_schedule(kept, visit_windows, scheduled)
    schedule.update(mapping)
    excluded.append(off_schedule)
    validate.not_empty(kept, sum(map(len, excluded)))
    kept = kept.drop(columns=["scheduled_day"], errors="ignore")
    validate.nonnegative_days(kept, mapped=mapping["method"] is not None)
    if "arm" in kept:
        _arm_present(kept)
        kept = kept.assign(arm=kept["arm"].astype("int64"))
    validate.unique_visits(kept)

    schedule.update(_check_days(kept, scheduled=mapping["method"] is not None))

    kept = kept.sort_values(["patient", "period", "day"], kind="stable").reset_index(drop=True)
    excluded = pd.concat([e[[c for c in EXCLUDED_COLUMNS if c in e]] for e in excluded], ignore_index=True)
    return TrialData(
        frame=kept[_column_order(kept)],
        excluded=excluded.sort_values(["source_row", "day"]).reset_index(drop=True),
        n_input_rows=len(frame),
        source=name,
        notes=notes,
        codings=codings,
        arm_names=arm_names,
        visit_columns=tuple(sorted(c for c in visit_columns if c in kept)),
        study_columns=tuple(declared_study_columns),
        schedule=schedule,
        study_join=study_join,
    )


def _check_days(kept: pd.DataFrame, scheduled: bool) -> dict:
    """Implausible days (warned, listed) and, without a schedule, proposed visit windows
    computed without them."""
    reasons = days.implausible(kept)
    facts = {"implausible": days.flagged_rows(kept, reasons)}
    days.warn_implausible(facts["implausible"])
    if not scheduled:
        proposal = days.propose_windows(kept.loc[reasons.eq("")])
        facts.update(proposal=proposal, proposal_text=days.proposal_text(proposal))
    return facts


# ---- input -----------------------------------------------------------------
def _rename(raw: pd.DataFrame, mapping: dict) -> tuple[pd.DataFrame, bool]:
    """Apply columns= (full names, then wide base names) and the item aliases."""
    names = {c: mapping.get(str(c), ITEM_ALIASES.get(str(c), str(c))) for c in raw.columns}
    used = {str(c) for c in raw.columns} & set(mapping)
    wide = "day" not in names.values() and "scheduled_day" not in names.values() and any(
        WIDE_COLUMN.match(n) for n in names.values()
    )
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
    counts = Counter(names.values())
    twice = sorted(n for n, k in counts.items() if k > 1)
    if twice:
        raise BayesKetError(
            f"Columns {offending(map(repr, twice))} appear twice after renaming. Fix: map only one input column to each name."
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
    visit_only = {base for base, _ in cells.values() if not is_score(base) and base not in ID_COLUMNS}
    return long, visit_only


def _check_score_names(frame: pd.DataFrame) -> None:
    """Columns that look like a scale's items but are not (madrs_11, cgis_1)."""
    for col in frame.columns:
        scale = scales.claimed_item(col)
        if scale is not None:
            has = (
                f"has {len(scale.items)} items ({scale.item_columns[0]}..{scale.item_columns[-1]})"
                if scale.items else f"has no items: its score goes in '{scale.total_column}'"
            )
            raise BayesKetError(
                f"Column '{col}' looks like an item of the scale '{scale.name}', which {has}. "
                "Fix: rename or drop the column (columns= maps names)."
            )


# ---- canonical columns -----------------------------------------------------
def _canonical(frame, arm_labels, visit_columns, convert_hrsd, hrsd_table, reference_levels):
    """(frame in canonical columns, codings, arm names, notes)."""
    out = frame.copy()
    notes = []
    out["period"] = validate.period(frame) if "period" in frame else 1
    for scale in scales.all_scales():
        _scores(frame, out, scale)
    if "msm" in frame:
        out["msm"] = validate.msm(frame)
    arm_names = None
    if "arm" in frame:
        codes, arm_names = arms.read_arm(frame, arm_labels)
        out["arm"], _ = validate.constant_within(
            out.assign(arm=codes), "arm", ["patient", "period"],
            "give each patient one arm per period; number crossover periods in 'period'.",
        )
    if "study" in frame:
        out["study"], _ = validate.constant_within(
            out, "study", ["patient"], "make patient ids unique across studies (e.g. prefix the study)."
        )
    patient_level = [c for c in out.columns if not non_moderator(c) and c not in visit_columns]
    references = coding.check_reference_levels(reference_levels, set(patient_level))
    n_patients = int(out["patient"].nunique())
    codings = {}
    for col in patient_level:
        out[col], n_filled = validate.constant_within(
            out, col, ["patient"],
            "correct the values, or, if it is measured at each visit, name it in visit_columns=.",
        )
        if n_filled:
            notes.append(f"patient-level '{col}' was missing on {n_filled} rows of patients with a value elsewhere: filled within patient")
        out[col], col_coding, note = coding.code_column(col, out[col], n_patients, references.get(col), out)
        if col_coding is not None:
            codings[col] = col_coding
        if note:
            notes.append(note)
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
    return out, codings, arm_names, notes


def _scores(frame: pd.DataFrame, out: pd.DataFrame, scale) -> None:
    """Validate one scale's items and total into ``out``; derive a summed total from items."""
    total = scale.total_column
    if any(c in frame for c in scale.item_columns):
        items = validate.items(frame, scale)
        for c in scale.item_columns:
            out[c] = items[c] if c in items else np.nan
        if scale.total_from_items == "sum":
            item_sum = out[list(scale.item_columns)].sum(axis=1, min_count=len(scale.item_columns))
            if total in frame:
                given = validate.total(frame, total)
                validate.total_matches_items(frame, scale, given, item_sum)
                item_sum = item_sum.fillna(given)
            out[total] = item_sum
            return
    if total in frame:
        out[total] = validate.total(frame, total)


def _arm_present(frame: pd.DataFrame) -> None:
    bad = frame["arm"].isna()
    if bad.any():
        raise BayesKetError(
            f"Column 'arm' is missing on {validate.where(frame, bad)}. "
            "Fix: give every visit its arm (or drop the column for a single-arm cohort)."
        )


def _column_order(frame: pd.DataFrame) -> list[str]:
    ids = [c for c in ID_COLUMNS if c in frame]
    madrs = [c for c in (*scales.MADRS.columns, "madrs_converted") if c in frame]
    other_scores = [c for c in score_columns() if c in frame and c not in madrs]
    first = ids + madrs + other_scores + [c for c in ("actual_day",) if c in frame]
    return first + [c for c in frame.columns if c not in first and c != "source_row"] + ["source_row"]
