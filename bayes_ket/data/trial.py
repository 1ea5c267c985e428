"""TrialData: a validated trial in the canonical long layout, with its bookkeeping."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .schema import MADRS_ITEM_COLUMNS, NON_MODERATOR_COLUMNS, OUTCOMES


@dataclass
class TrialData:
    """A trial in the canonical layout (one row per patient x period x day).

    frame     : the canonical long DataFrame (API.md). ``arm`` is 1/0, ``day`` float.
    excluded  : input rows not used, with a ``reason`` column (and ``source_row``).
    n_input_rows : how many rows the input had (long rows, or wide rows x visits).
    source    : where the data came from (path, "DataFrame", "simulate:pooled_rct", ...).
    truth     : for simulated trials, every true parameter the data were drawn from.
    notes     : free-form facts about the reading (e.g. "hrsd17_total converted to MADRS").
    """

    frame: pd.DataFrame
    excluded: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["source_row", "reason"]))
    n_input_rows: int | None = None
    source: str = "DataFrame"
    truth: dict | None = None
    notes: list[str] = field(default_factory=list)

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
        """Sorted distinct visit days (0 = baseline)."""
        return np.sort(self.frame["day"].unique().astype(float))

    @property
    def outcomes(self) -> list[str]:
        """Total-score columns with at least one observed value."""
        return [c for c in OUTCOMES if c in self.frame and self.frame[c].notna().any()]

    @property
    def has_items(self) -> bool:
        return all(c in self.frame for c in MADRS_ITEM_COLUMNS) and self.frame[list(MADRS_ITEM_COLUMNS)].notna().any().any()

    @property
    def moderators(self) -> list[str]:
        """Numeric patient-level columns other than the canonical ones (msm first)."""
        cols = [
            c
            for c in self.frame.columns
            if c not in NON_MODERATOR_COLUMNS and pd.api.types.is_numeric_dtype(self.frame[c])
        ]
        return sorted(cols, key=lambda c: (c != "msm", c))

    def patient_table(self, columns=None) -> pd.DataFrame:
        """One row per patient (first row's values): patient-level columns."""
        cols = ["patient"] + [c for c in (columns or []) if c != "patient"]
        return self.frame[cols].drop_duplicates("patient").reset_index(drop=True)

    # ---- bookkeeping -------------------------------------------------------
    def report(self) -> "TrialReport":
        """What was read: rows used, rows excluded and why, per-visit counts per arm."""
        from .report import TrialReport

        return TrialReport.from_trial(self)

    def __repr__(self) -> str:
        arms = "two arms" if self.has_arm else "single arm"
        return (
            f"TrialData({self.n_patients} patients, {len(self.frame)} rows, {arms}, "
            f"{self.n_studies} studies, days {np.round(self.days, 2).tolist()}, source={self.source!r})"
        )
