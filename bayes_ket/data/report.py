"""TrialReport: what read_trial did with every input row, in eight sections.

Sections, in this order, in ``str(report)`` (headings) and ``report.to_dict()`` (keys):
rows ("rows"), patients ("patients"), visits ("visits"), schedule ("schedule"),
codings ("codings"), missing patient-level values ("missing_patient_level_values"),
studies ("studies"), notes ("notes").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import offending
from .schema import ARM_NAMES, score_columns

SECTIONS = ("rows", "patients", "visits", "schedule", "codings", "missing patient-level values", "studies", "notes")


@dataclass
class TrialReport:
    """Rows used and excluded (with reasons), patients, observed visits per day and arm,
    how days were read and scheduled, codings, missing patient-level values, studies, notes.

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
    schedule: dict = field(default_factory=dict)
    codings: dict = field(default_factory=dict)
    missing: dict = field(default_factory=dict)
    studies: dict = field(default_factory=dict)
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
            schedule=dict(trial.schedule),
            codings=_codings(trial),
            missing=trial.missing_by_column(),
            studies=_studies(trial),
            notes=list(trial.notes),
        )

    @property
    def accounted(self) -> bool:
        """Every input row is either used or excluded."""
        return self.rows_used + self.rows_excluded == self.input_rows

    def to_dict(self) -> dict:
        """The report as plain (JSON-ready) data, one key per section."""
        counts = self.visit_counts.reset_index()
        return _jsonable({
            "source": self.source,
            "layout": self.layout,
            "rows": {
                "input_rows": self.input_rows,
                "rows_used": self.rows_used,
                "rows_excluded": self.rows_excluded,
                "accounted": self.accounted,
                "excluded_by_reason": dict(self.excluded_by_reason),
                "excluded_rows": self.excluded.to_dict(orient="records"),
                "source_rows": self.source_rows,
                "source_rows_used": self.source_rows_used,
                "source_rows_excluded": self.source_rows_excluded,
            },
            "patients": {
                "n_patients": self.n_patients,
                "per_study": {str(k): int(v) for k, v in self.patients_per_study.items()},
            },
            "visits": {"counts": counts.to_dict(orient="records"), "n_converted": self.n_converted},
            "schedule": self.schedule,
            "codings": self.codings,
            "missing_patient_level_values": {c: {"n": len(p), "patients": list(p)} for c, p in self.missing.items()},
            "studies": self.studies,
            "notes": list(self.notes),
        })

    def __str__(self) -> str:
        unit = "patient x visit cells" if self.layout == "wide" else "rows"
        out = [f"Trial data from {self.source} ({self.layout} input)", "rows"]
        out.append(
            f"  {unit}: {self.input_rows} in, {self.rows_used} used, {self.rows_excluded} excluded"
            + ("" if self.accounted else "  ** NOT ACCOUNTED FOR **")
        )
        if self.layout == "wide":
            out.append(
                f"  input rows (patients): {self.source_rows}, {self.source_rows_used} used, "
                f"{self.source_rows_excluded} wholly excluded"
            )
        out += [f"    excluded, {reason}: {n}" for reason, n in self.excluded_by_reason.items()]
        studies = ", ".join(f"{k}: {v}" for k, v in self.patients_per_study.items())
        out += ["patients", f"  {self.n_patients} ({studies})"]
        out += ["visits", "  visits with an observed score, by day and arm:"]
        out += ["    " + line for line in self.visit_counts.to_string().splitlines()]
        if self.n_converted:
            out.append(f"  madrs_total converted from hrsd17_total: {self.n_converted} rows")
        out += ["schedule", *_schedule_lines(self.schedule)]
        out.append("codings")
        out += [f"  {c['label']} ({c['kind']}; {_levels(c)})" for c in self.codings.values()] or ["  none"]
        out.append("missing patient-level values")
        out += [f"  {col}: {_patients(len(ids))} ({offending(ids)})" for col, ids in self.missing.items()] or ["  none"]
        out += ["studies", *_study_lines(self.studies)]
        out += ["notes"] + ([f"  - {n}" for n in self.notes] or ["  none"])
        return "\n".join(out)


# ---- sections ----------------------------------------------------------------
def _visit_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows with any score observed, per day (rows) and arm (columns)."""
    scores = [c for c in score_columns() if c in frame]
    seen = frame.loc[frame[scores].notna().any(axis=1)] if scores else frame.iloc[:0]
    arm = seen["arm"].map(ARM_NAMES) if "arm" in seen else pd.Series("all", index=seen.index)
    counts = pd.crosstab(seen["day"], arm.rename("arm"))
    return counts.reindex(columns=[c for c in ("ketamine", "control", "all") if c in counts.columns]).rename_axis(
        index="day", columns=None
    )


def _codings(trial) -> dict:
    first = trial.frame.groupby("patient", sort=False).first() if trial.codings else None
    out = {}
    for col, coding in (trial.codings or {}).items():
        values = first[col]
        if coding.kind == "binary":
            values = values.map({0.0: coding.levels[0], 1.0: coding.levels[1]})
        counts = values.value_counts()
        out[col] = {**coding.to_dict(), "patients_per_level": {str(lv): int(counts.get(lv, 0)) for lv in coding.levels}}
    return out


def _studies(trial) -> dict:
    frame = trial.frame
    facts = {
        "study_columns": list(trial.study_level_columns),
        "not_in_table": list(trial.study_join.get("not_in_table", [])),
        "not_in_data": list(trial.study_join.get("not_in_data", [])),
        "per_study": {},
    }
    if "study" not in frame:
        return facts
    totals = trial.outcomes
    moderators = trial.moderators
    for study, rows in frame.groupby("study", sort=True):
        facts["per_study"][str(study)] = {
            "patients": int(rows["patient"].nunique()),
            "days": sorted(float(d) for d in rows["day"].unique()),
            "scales": [c for c in totals if rows[c].notna().any()],
            "moderators": [m for m in moderators if rows[m].notna().any()],
        }
    return facts


def _levels(coding: dict) -> str:
    per = coding["patients_per_level"]
    if coding["kind"] == "binary":
        lv = coding["levels"]
        return f"0 = {lv[0]}: {_patients(per[str(lv[0])])}, 1 = {lv[1]}: {_patients(per[str(lv[1])])}"
    return f"reference {coding['reference']}; " + ", ".join(f"{k}: {_patients(v)}" for k, v in per.items())


def _patients(n: int) -> str:
    return f"{n} patient" + ("" if n == 1 else "s")


def _schedule_lines(schedule: dict) -> list[str]:
    lines = []
    source = schedule.get("day_source", "numbers")
    if source == "dates":
        lines.append(f"  day read from dates: {schedule.get('origin')}")
    else:
        lines.append(f"  day read from {source}")
    if schedule.get("labels"):
        shown = ", ".join(f"'{k}' -> {v:g}" for k, v in schedule["labels"].items())
        lines.append(f"  labels read as days: {shown} (a month counts 30 days)")
    method = schedule.get("method")
    if method == "visit_windows":
        shown = ", ".join(f"{float(d):g}: ({lo:g}, {hi:g})" for d, (lo, hi) in schedule["windows"].items())
        lines.append(f"  actual days mapped to scheduled visits with visit_windows={{{shown}}}")
    elif method == "scheduled_day":
        lines.append("  actual days mapped to the scheduled visits of column 'scheduled_day'")
    for m in schedule.get("mapped", []):
        actual = ", ".join(f"{a:g}" for a in m["actual_days"])
        lines.append(f"    day {m['day']:g} <- actual days {actual} ({m['rows']} rows)")
    if schedule.get("proposal_text"):
        lines.append(f"  proposal: {schedule['proposal_text']}")
    flagged = schedule.get("implausible", [])
    if flagged:
        lines.append(f"  implausible days (kept; check for typos): {len(flagged)} row" + ("s" if len(flagged) > 1 else ""))
        for f in flagged[:10]:
            actual = f" (actual day {f['actual_day']:g})" if "actual_day" in f else ""
            lines.append(
                f"    patient {f['patient']}, period {f['period']}, day {f['day']:g}{actual}, input row "
                f"{f['source_row']}: {f['reason']}"
            )
        if len(flagged) > 10:
            lines.append(f"    ... and {len(flagged) - 10} more (report.to_dict()['schedule']['implausible'])")
    return lines


def _study_lines(studies: dict) -> list[str]:
    per = studies.get("per_study", {})
    if not per:
        return ["  one study (no 'study' column)"]
    lines = []
    if studies.get("study_columns"):
        lines.append(f"  study-level columns: {', '.join(studies['study_columns'])}")
    for study, f in per.items():
        days = ", ".join(f"{d:g}" for d in f["days"])
        lines.append(
            f"  {study}: {_patients(f['patients'])}; days {days}; scales {', '.join(f['scales']) or 'none'}; "
            f"moderators {', '.join(f['moderators']) or 'none'}"
        )
    if studies.get("not_in_table"):
        lines.append(f"  in the data but not in the study table: {offending(studies['not_in_table'], 20)}")
    if studies.get("not_in_data"):
        lines.append(f"  in the study table but not in the data: {offending(studies['not_in_data'], 20)}")
    return lines


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k) if not isinstance(k, str) else k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and np.isnan(obj):
        return None
    if obj is pd.NA or obj is pd.NaT:
        return None
    return obj
