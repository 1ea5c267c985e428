"""TrialData: a validated trial in the canonical long layout, with its bookkeeping."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import scales
from .coding import Coding, binary_numeric
from .schema import ARM_NAMES, MADRS_ITEM_COLUMNS, non_moderator


@dataclass
class TrialData:
    """A trial in the canonical layout (one row per patient x period x day).

    frame : the canonical long DataFrame. ``patient``, ``study`` (when given), ``arm``
        (1 = ketamine, 0 = control), ``period`` (1, 2, ... for crossover periods), ``day``
        (float days since the infusion that starts the period, 0 = baseline; the
        scheduled visit day when a schedule was applied, the actual one then in
        ``actual_day``), the score columns of the registered scales (``madrs_1`` ..
        ``madrs_10``, ``madrs_total``, ``hrsd17_total``, ``bdi2_total``, ...),
        ``madrs_converted``, the patient-level moderators, ``source_row``.
    excluded : input rows not used, with their ``reason`` (and ``source_row``).
    n_input_rows : how many rows the input had (long rows, or wide rows x visits).
    source : where the data came from (path, "DataFrame", "simulate:pooled_rct", ...).
    truth : for simulated trials, every true parameter the data were drawn from.
    notes : facts about the reading (e.g. "madrs_total converted from hrsd17_total").
    codings : {column: Coding} for the labelled and 0/1 patient-level columns that
        read_trial coded (see ``bayes_ket.data.coding``); when not given, the numeric
        0/1 moderators are recorded as binary.
    arm_names : {1: name, 0: name}: the data's own arm labels (e.g. {1: "Ketamine",
        0: "Saline"}) for figure legends; summaries keep "ketamine" / "control".
    visit_columns : non-score columns measured at each visit (never moderators).
    study_columns : study-level columns (from a study table or ``study_columns=``).
    schedule : how ``day`` was read and mapped to visits (see ``bayes_ket.data.days``).
    study_join : facts of the study-table join (studies missing on either side).
    """

    frame: pd.DataFrame
    excluded: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["source_row", "reason"]))
    n_input_rows: int | None = None
    source: str = "DataFrame"
    truth: dict | None = None
    notes: list[str] = field(default_factory=list)
    codings: dict[str, Coding] | None = None
    arm_names: dict[int, str] | None = None
    visit_columns: tuple[str, ...] = ()
    study_columns: tuple[str, ...] = ()
    schedule: dict = field(default_factory=dict)
    study_join: dict = field(default_factory=dict)

    def __post_init__(self):
        self.visit_columns = tuple(self.visit_columns)
        self.study_columns = tuple(self.study_columns)
        if self.codings is None:
            self.codings = {}
            for col in self.moderators:
                _, coding = binary_numeric(col, self.frame[col])
                if coding is not None:
                    self.codings[col] = coding
        if self.arm_names is None:
            present = set(self.frame["arm"].dropna().astype(int)) if "arm" in self.frame else set()
            self.arm_names = {code: ARM_NAMES[code] for code in (1, 0) if code in present}

    # ---- structure ---------------------------------------------------------
    @property
    def patients(self) -> np.ndarray:
        return self.frame["patient"].unique()

    @property
    def n_patients(self) -> int:
        return int(self.frame["patient"].nunique())

    @property
    def has_arm(self) -> bool:
        return "arm" in self.frame and self.frame["arm"].nunique() > 1

    @property
    def studies(self) -> list:
        if "study" not in self.frame:
            return []
        return sorted(self.frame["study"].unique().tolist(), key=str)

    @property
    def n_studies(self) -> int:
        return max(1, len(self.studies))

    @property
    def days(self) -> np.ndarray:
        """Sorted distinct visit days (0 = baseline; scheduled days when a schedule was applied)."""
        return np.sort(self.frame["day"].unique().astype(float))

    @property
    def outcomes(self) -> list[str]:
        """The ``<scale>_total`` columns with at least one observed value, in registry order."""
        return [c for c in (s.total_column for s in scales.all_scales()) if c in self.frame and self.frame[c].notna().any()]

    @property
    def observed_scales(self) -> list[str]:
        """Names of the registered scales with an observed total or item."""
        return [s.name for s in scales.all_scales() if any(c in self.frame and self.frame[c].notna().any() for c in s.columns)]

    @property
    def has_items(self) -> bool:
        """All ten MADRS item columns are present, with observed values."""
        return all(c in self.frame for c in MADRS_ITEM_COLUMNS) and self.frame[list(MADRS_ITEM_COLUMNS)].notna().any().any()

    def has_items_of(self, scale="madrs") -> bool:
        """All item columns of ``scale`` are present, with observed values."""
        cols = scales.get(scale).item_columns
        return bool(cols) and all(c in self.frame for c in cols) and self.frame[list(cols)].notna().any().any()

    @property
    def moderators(self) -> list[str]:
        """Patient-level columns a model can use (msm first, then alphabetical): numeric
        columns, 0/1-coded (binary) columns and categorical columns (``codings``),
        study-level columns included. Never identifiers, scores, visit-level or
        bookkeeping columns, nor text kept as it is (see the report's notes)."""
        codings = self.codings or {}
        cols = [
            c
            for c in self.frame.columns
            if not non_moderator(c)
            and c not in self.visit_columns
            and (c in codings or (pd.api.types.is_numeric_dtype(self.frame[c]) and not pd.api.types.is_bool_dtype(self.frame[c])))
        ]
        return sorted(cols, key=lambda c: (c != "msm", c))

    def missing_by_column(self) -> dict[str, list]:
        """{patient-level column: ids of the patients without a value}, for every moderator
        with at least one such patient (an empty dict when none is missing)."""
        first = self.frame.groupby("patient", sort=False)[self.moderators].first()
        return {c: first.index[first[c].isna()].tolist() for c in first.columns if first[c].isna().any()}

    def patient_table(self, columns=None) -> pd.DataFrame:
        """One row per patient (first row's values): patient-level columns."""
        cols = ["patient"] + [c for c in (columns or []) if c != "patient"]
        return self.frame[cols].drop_duplicates("patient").reset_index(drop=True)

    @property
    def study_level_columns(self) -> list[str]:
        """Study-level columns: those declared (study table, ``study_columns=``) or, when none
        are, the moderators that are constant within every study (with at least 2 studies)."""
        if self.study_columns or "study" not in self.frame:
            return list(self.study_columns)
        if self.frame["study"].nunique() < 2:
            return []
        n = self.frame.groupby("study")[self.moderators].nunique()
        return [c for c in self.moderators if (n[c] <= 1).all()]

    def study_table(self) -> pd.DataFrame:
        """One row per study: ``study``, its number of patients ``n_patients``, and its
        study-level columns (``study_level_columns``)."""
        if "study" not in self.frame:
            from ..errors import BayesKetError

            raise BayesKetError("This trial has no 'study' column. Fix: read it with a 'study' column (and studies=).")
        cols = self.study_level_columns
        g = self.frame.groupby("study", sort=True)
        table = g[cols].first() if cols else pd.DataFrame(index=g.size().index)
        return table.assign(n_patients=g["patient"].nunique())[["n_patients", *cols]].reset_index()

    # ---- bookkeeping -------------------------------------------------------
    def report(self) -> "TrialReport":
        """What was read: rows used and excluded (with reasons), patients, visits per day and
        arm, how days were read and scheduled, codings, missing patient-level values,
        studies, notes. ``str()`` for people, ``.to_dict()`` for programs."""
        from .report import TrialReport

        return TrialReport.from_trial(self)

    def __repr__(self) -> str:
        arms = "two arms" if self.has_arm else "single arm"
        return (
            f"TrialData({self.n_patients} patients, {len(self.frame)} rows, {arms}, "
            f"{self.n_studies} studies, days {np.round(self.days, 2).tolist()}, source={self.source!r})"
        )
