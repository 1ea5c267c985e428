"""TrialReport: what read_trial did with every input row."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from .schema import ARM_NAMES, MADRS_ITEM_COLUMNS, OUTCOMES


@dataclass
class TrialReport:
    """Rows used and excluded (with reasons), observed visits per day and arm.

    Rows are counted as records: a long input's rows, or a wide input's patient x
    visit-day cells (``layout == "wide"``). ``source_rows`` counts the rows of the
    input itself (for wide input, the patients' rows): those with at least one used
    record are ``source_rows_used``, the others ``source_rows_excluded``.
    """

    source: str
    layout: str
    input_rows: int
    rows_used: int
    rows_excluded: int
    excluded: pd.DataFrame
    excluded_by_reason: dict[str, int]
    visit_counts: pd.DataFrame
    n_converted: int
    n_patients: int
    patients_per_study: dict
    source_rows: int | None = None
    source_rows_used: int | None = None
    source_rows_excluded: int | None = None
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_trial(cls, trial) -> "TrialReport":
        frame, excluded = trial.frame, trial.excluded
        used = len(frame)
        source_rows = used_src = excl_src = None
        layout = "long"
        if "source_row" in frame and "source_row" in excluded:
            in_frame = set(frame["source_row"])
            all_rows = in_frame | set(excluded["source_row"])
            source_rows, used_src = len(all_rows), len(in_frame)
            excl_src = source_rows - used_src
            layout = "wide" if source_rows < used + len(excluded) else "long"
        per_study = (
            frame.groupby("study")["patient"].nunique().to_dict() if "study" in frame else {"all": trial.n_patients}
        )
        return cls(
            source=trial.source,
            layout=layout,
            input_rows=trial.n_input_rows if trial.n_input_rows is not None else used + len(excluded),
            rows_used=used,
            rows_excluded=len(excluded),
            excluded=excluded,
            excluded_by_reason=excluded["reason"].value_counts().to_dict() if len(excluded) else {},
            visit_counts=_visit_counts(frame),
            n_converted=int(frame["madrs_converted"].sum()) if "madrs_converted" in frame else 0,
            n_patients=trial.n_patients,
            patients_per_study=per_study,
            source_rows=source_rows,
            source_rows_used=used_src,
            source_rows_excluded=excl_src,
            notes=list(trial.notes),
        )

    @property
    def accounted(self) -> bool:
        """Every input row is either used or excluded."""
        return self.rows_used + self.rows_excluded == self.input_rows

    def to_dict(self) -> dict:
        counts = self.visit_counts.reset_index()
        return {
            "source": self.source,
            "layout": self.layout,
            "input_rows": self.input_rows,
            "rows_used": self.rows_used,
            "rows_excluded": self.rows_excluded,
            "accounted": self.accounted,
            "excluded_by_reason": dict(self.excluded_by_reason),
            "excluded_rows": self.excluded.to_dict(orient="records"),
            "visit_counts": counts.to_dict(orient="records"),
            "n_converted": self.n_converted,
            "n_patients": self.n_patients,
            "patients_per_study": {str(k): int(v) for k, v in self.patients_per_study.items()},
            "source_rows": self.source_rows,
            "source_rows_used": self.source_rows_used,
            "source_rows_excluded": self.source_rows_excluded,
            "notes": list(self.notes),
        }

    def __str__(self) -> str:
        unit = "patient x visit cells" if self.layout == "wide" else "rows"
        lines = [
            f"Trial data from {self.source} ({self.layout} input)",
            f"  {unit}: {self.input_rows} in, {self.rows_used} used, {self.rows_excluded} excluded"
            + ("" if self.accounted else "  ** NOT ACCOUNTED FOR **"),
        ]
        if self.layout == "wide":
            lines.append(
                f"  input rows (patients): {self.source_rows}, {self.source_rows_used} used, "
                f"{self.source_rows_excluded} wholly excluded"
            )
        lines += [f"    excluded, {reason}: {n}" for reason, n in self.excluded_by_reason.items()]
        studies = ", ".join(f"{k}: {v}" for k, v in self.patients_per_study.items())
        lines.append(f"  patients: {self.n_patients} ({studies})")
        if self.n_converted:
            lines.append(f"  madrs_total converted from hrsd17_total: {self.n_converted} rows")
        lines.append("  visits with an observed score, by day and arm:")
        lines += ["    " + line for line in self.visit_counts.to_string().splitlines()]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _visit_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows with any score observed, per day (rows) and arm (columns)."""
    scores = [c for c in (*MADRS_ITEM_COLUMNS, *OUTCOMES) if c in frame]
    seen = frame.loc[frame[scores].notna().any(axis=1)] if scores else frame.iloc[:0]
    arm = seen["arm"].map(ARM_NAMES) if "arm" in seen else pd.Series("all", index=seen.index)
    counts = pd.crosstab(seen["day"], arm.rename("arm"))
    return counts.reindex(columns=[c for c in ("ketamine", "control", "all") if c in counts.columns]).rename_axis(
        index="day", columns=None
    )
