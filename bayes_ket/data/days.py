"""The ``day`` column: numbers, visit labels or dates -> days; actual days -> scheduled visits.

Reading (``read_days``), in this order:
- numbers are days since the infusion that starts the period (0 = baseline);
- dates (a datetime column, or ISO 8601 strings such as "2021-03-04" or
  "2021-03-04 14:30"; other formats with ``date_format=``, e.g. "%d/%m/%Y") become days
  since the patient's first assessment in the period (the baseline = day 0), or since
  the date in the column named by ``date_origin=`` (e.g. "infusion_date"); times give
  fractional days;
- visit labels are read by ``LABEL_RULES``: "Baseline" / "Screening" / "Pre-infusion"
  = 0, "Day N" / "DN" / "N days" = N, "Week N" / "WN" = 7N, "Month N" / "MN" = 30N (a
  month counts 30 days), "Hour N" / "N h" = N / 24, "N min" = N / 1440. A label that
  fits none of these is an error naming it.

Scheduling (``apply_schedule``): a ``scheduled_day`` column (numbers or labels as
above) gives each row its nominal visit day; ``visit_windows={7: (5, 9), ...}`` maps an
actual day inside a closed window [lo, hi] to the window's visit day. Either way,
``day`` then holds the scheduled day and ``actual_day`` the actual one. Rows that
cannot be mapped are excluded with a reason (never dropped silently): a missing
``scheduled_day``; a day in no window; a second visit of a patient in the same window
(the one closest to the visit day is kept, the earlier on a tie).

Without a schedule, ``propose_windows`` looks for clusters of nearby days that no
patient visits twice (days 6, 7 and 8 for a "week 1" visit) and proposes
``visit_windows=``; the data are left as they are.

Plausibility (``implausible``): a day is flagged (warned about and listed in the
report, not excluded) when it lies beyond max(2 R, R + 14) days, R being the 90th
percentile (lower value) of the patients' last visit days, or, with ``scheduled_day``,
when the actual day is more than max(7, half the scheduled day) days from it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..errors import BayesKetError, offending, warn
from .validate import values, where

NUMBER = r"(\d+(?:\.\d+)?)"
#: (pattern, days per unit); a None factor means "day 0"
LABEL_RULES = (
    (re.compile(r"^(?:baseline|screening|pre[\s_-]?(?:infusion|treatment|dose)|bl)$"), None),
    (re.compile(rf"^(?:day|d)[\s_-]*{NUMBER}$"), 1.0),
    (re.compile(rf"^(?:week|wk|w)[\s_-]*{NUMBER}$"), 7.0),
    (re.compile(rf"^(?:month|mo|m)[\s_-]*{NUMBER}$"), 30.0),
    (re.compile(rf"^(?:hour|hr|h)[\s_-]*{NUMBER}$"), 1 / 24),
    (re.compile(rf"^{NUMBER}[\s_-]*(?:days?|d)$"), 1.0),
    (re.compile(rf"^{NUMBER}[\s_-]*(?:weeks?|wks?|w)$"), 7.0),
    (re.compile(rf"^{NUMBER}[\s_-]*(?:months?|mo)$"), 30.0),
    (re.compile(rf"^{NUMBER}[\s_-]*(?:hours?|hrs?|h)$"), 1 / 24),
    (re.compile(rf"^{NUMBER}[\s_-]*(?:minutes?|mins?)$"), 1 / 1440),
)
LABEL_HELP = (
    "Read as days: Baseline/Screening = 0, Day N = N, Week N = 7N, Month N = 30N, Hour N = N/24"
)
ISO_DATE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?$")
OTHER_DATE = re.compile(r"^\d{1,4}[./-]\d{1,2}[./-]\d{1,4}([ T]\d{1,2}:\d{2}(:\d{2})?)?$")
#: window of the plausibility rule
LATE_FACTOR, LATE_MARGIN, LATE_QUANTILE = 2.0, 14.0, 0.9


# ---- labels ------------------------------------------------------------------
def label_day(label: str) -> float | None:
    """Days for one visit label ("Week 1" -> 7.0), None when it fits no rule."""
    text = re.sub(r"\s+", " ", str(label).strip().lower())
    for pattern, factor in LABEL_RULES:
        if m := pattern.match(text):
            return 0.0 if factor is None else round(float(m.group(1)) * factor, 4)
    return None


def numbers_or_labels(frame: pd.DataFrame, column: str) -> tuple[pd.Series, dict]:
    """A column of numbers and/or visit labels as float days, with {label: day} read."""
    raw = frame[column]
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        return raw.astype(float), {}
    as_number = pd.to_numeric(raw, errors="coerce").astype(float)
    text = raw.where(raw.notna() & as_number.isna())
    labels = {str(v): label_day(v) for v in pd.unique(text.dropna())}
    bad = text.notna() & text.map(lambda v: labels.get(str(v)) is None if pd.notna(v) else False)
    if bad.any():
        raise BayesKetError(
            f"Column '{column}' holds labels that are not days: {values(raw, bad)} on {where(frame, bad)}. "
            f"{LABEL_HELP}. Fix: replace them by their day (e.g. df['{column}'].replace({{'Follow-up': 28}})), "
            "or give the actual days as numbers or dates with the nominal visit in a 'scheduled_day' column, "
            "or map actual days to visits with visit_windows={day: (lowest, highest)}."
        )
    day = as_number.fillna(text.map(lambda v: labels.get(str(v)) if pd.notna(v) else np.nan)).astype(float)
    return day, labels


# ---- dates -------------------------------------------------------------------
def _looks_like_dates(raw: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(raw):
        return True
    shown = raw.dropna()
    if shown.empty or pd.api.types.is_numeric_dtype(raw):
        return False
    text = shown.astype(str).str.strip()
    return bool(text.str.match(ISO_DATE.pattern).all() or text.str.match(OTHER_DATE.pattern).all())


def to_dates(frame: pd.DataFrame, column: str, date_format: str | None) -> pd.Series:
    """A datetime column, or date strings parsed (ISO 8601, or ``date_format``)."""
    raw = frame[column]
    if pd.api.types.is_datetime64_any_dtype(raw):
        return raw.dt.tz_localize(None) if getattr(raw.dt, "tz", None) is not None else raw
    text = raw.astype("string").str.strip()
    iso = text.dropna().str.match(ISO_DATE.pattern).all()
    if date_format is None and not iso:
        raise BayesKetError(
            f"Column '{column}' holds dates that are not ISO 8601 (YYYY-MM-DD), e.g. {values(raw, raw.notna())}: "
            "day and month cannot be told apart safely. Fix: pass date_format= (e.g. date_format='%d/%m/%Y')."
        )
    dates = pd.to_datetime(text, format=date_format or "ISO8601", errors="coerce")
    bad = raw.notna() & dates.isna()
    if bad.any():
        raise BayesKetError(
            f"Column '{column}' holds values that are not dates in the format {date_format or 'ISO 8601'}: "
            f"{values(raw, bad)} on {where(frame, bad)}. Fix: correct them or pass date_format=."
        )
    return dates


def days_since(frame: pd.DataFrame, dates: pd.Series, date_origin: str | None, date_format) -> tuple[pd.Series, str]:
    """Days (float) from each row's origin: the patient's first date in the period, or the
    date in column ``date_origin`` (constant within patient x period)."""
    keys = [frame["patient"]] + ([frame["period"]] if "period" in frame else [])
    if date_origin is None:
        origin = dates.groupby(keys, dropna=False).transform("min")
        how = "days since each patient's first assessment" + (" in the period" if "period" in frame else "")
    else:
        if date_origin not in frame:
            raise BayesKetError(
                f"date_origin={date_origin!r} is not a column; the input has {offending(frame.columns, 12)}. "
                "Fix: name the column holding each patient's infusion date."
            )
        origin = to_dates(frame, date_origin, date_format)
        varies = origin.groupby(keys, dropna=False).transform("nunique") > 1
        if varies.any():
            raise BayesKetError(
                f"Column '{date_origin}' (date_origin) must hold one date per patient and period but varies on "
                f"{where(frame, varies)}. Fix: correct the dates, or number crossover periods in 'period'."
            )
        origin = origin.groupby(keys, dropna=False).transform("first")
        missing = dates.notna() & origin.isna()
        if missing.any():
            raise BayesKetError(
                f"Column '{date_origin}' (date_origin) is missing for {where(frame, missing)}. "
                "Fix: give every patient an infusion date, or drop date_origin= (days then count from each "
                "patient's first assessment)."
            )
        how = f"days since the date in column '{date_origin}'"
    return (dates - origin).dt.total_seconds() / 86400.0, how


def read_days(frame: pd.DataFrame, date_origin=None, date_format=None) -> tuple[pd.Series, dict]:
    """The ``day`` column as float days (negative allowed here), and how it was read."""
    raw = frame["day"]
    if _looks_like_dates(raw):
        day, how = days_since(frame, to_dates(frame, "day", date_format), date_origin, date_format)
        return day, {"day_source": "dates", "origin": how, "labels": {}}
    if date_origin is not None:
        raise BayesKetError(
            f"date_origin={date_origin!r} applies to dates, but column 'day' holds {values(raw, raw.notna())}. "
            "Fix: drop date_origin=, or give 'day' as dates."
        )
    day, labels = numbers_or_labels(frame, "day")
    source = "numbers" if not labels else ("labels" if pd.to_numeric(raw, errors="coerce").isna().all() else "numbers and labels")
    return day, {"day_source": source, "origin": None, "labels": labels}


# ---- scheduled visits ----------------------------------------------------------
def check_windows(visit_windows) -> dict[float, tuple[float, float]]:
    """{visit day: (lowest, highest)} as floats; closed windows that do not overlap and
    contain their visit day."""
    if not isinstance(visit_windows, Mapping) or not visit_windows:
        raise BayesKetError(
            f"visit_windows={visit_windows!r} must be a dict {{visit day: (lowest, highest)}}. "
            "Fix: e.g. visit_windows={0: (0, 0), 7: (5, 9), 14: (12, 16)}."
        )
    out = {}
    for day, window in visit_windows.items():
        try:
            lo, hi = (float(v) for v in window)
            day = float(day)
        except (TypeError, ValueError):
            raise BayesKetError(
                f"visit_windows entry {day!r}: {window!r} must be a visit day and (lowest, highest) days. "
                "Fix: e.g. 7: (5, 9)."
            ) from None
        if not lo <= day <= hi:
            raise BayesKetError(f"visit_windows: day {day:g} lies outside its window ({lo:g}, {hi:g}). Fix: correct it.")
        out[day] = (lo, hi)
    spans = sorted(out.items(), key=lambda kv: kv[1])
    for (d1, (_, hi1)), (d2, (lo2, _)) in zip(spans, spans[1:]):
        if lo2 <= hi1:
            raise BayesKetError(
                f"visit_windows of days {d1:g} and {d2:g} overlap (windows are closed: both ends belong to them). "
                "Fix: make them disjoint."
            )
    return dict(sorted(out.items()))


def apply_schedule(frame: pd.DataFrame, visit_windows, scheduled: pd.Series | None) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(mapped frame with actual_day, excluded rows with reasons, schedule facts).

    ``scheduled`` is the parsed ``scheduled_day`` column (aligned with ``frame``) or None.
    """
    info = {"method": None, "windows": None, "mapped": []}
    if scheduled is None and visit_windows is None:
        return frame, frame.iloc[:0].assign(reason=""), info
    out = frame.assign(actual_day=frame["day"])
    if scheduled is not None:
        info["method"] = "scheduled_day"
        out["day"] = scheduled.loc[out.index]
        reason = pd.Series(np.where(out["day"].isna(), "scheduled_day missing", ""), index=out.index)
    else:
        windows = check_windows(visit_windows)
        info.update(method="visit_windows", windows={d: list(w) for d, w in windows.items()})
        index = pd.IntervalIndex.from_tuples(list(windows.values()), closed="both")
        hit = index.get_indexer(out["actual_day"])
        nominal = np.array(list(windows), dtype=float)
        out["day"] = np.where(hit >= 0, nominal[np.maximum(hit, 0)], np.nan)
        reason = pd.Series(
            [f"day {d:g} outside every visit window" if h < 0 else "" for d, h in zip(out["actual_day"], hit)],
            index=out.index,
        )
        reason = reason.mask(reason.eq("") & _not_closest(out), "another visit of the patient in the same window is closer to its visit day")
    keep = reason.eq("")
    excluded = out.loc[~keep].assign(reason=reason[~keep])
    excluded = excluded.assign(day=excluded["actual_day"])
    mapped = out.loc[keep]
    for day, grp in mapped.groupby("day"):
        actual = sorted(pd.unique(grp["actual_day"].dropna()).tolist())
        info["mapped"].append({"day": float(day), "actual_days": [float(a) for a in actual], "rows": int(len(grp))})
    outside = reason.str.startswith("day ")
    if outside.any():
        warn(
            f"{int(outside.sum())} visits lie outside every visit window (days {values(out['actual_day'], outside)}; "
            f"{where(out, outside)}): excluded, see trial.report(). Widen visit_windows= to keep them."
        )
    return mapped, excluded, info


def _not_closest(frame: pd.DataFrame) -> pd.Series:
    """True for a row whose patient has a visit closer to the same window's visit day."""
    keys = ["patient", "period", "day"] if "period" in frame else ["patient", "day"]
    dist = (frame["actual_day"] - frame["day"]).abs()
    order = frame.assign(_dist=dist, _actual=frame["actual_day"]).sort_values(["_dist", "_actual"], kind="stable")
    first = ~order.duplicated(keys, keep="first")
    return ~first.reindex(frame.index).fillna(True) & frame["day"].notna()


# ---- proposals and plausibility --------------------------------------------------
def propose_windows(frame: pd.DataFrame, overlap: float = 0.05) -> dict | None:
    """Clusters of nearby days that (almost) no patient visits twice, as visit windows
    {visit day (the median day of the cluster's visits): [lowest, highest]}; None when every
    cluster is a single day. Consecutive distinct days join a cluster when they are at
    most max(1, a quarter of the day) apart and at most ``overlap`` of the cluster's
    patients would then have two visits in it."""
    key = frame["patient"].astype(str) + ("|" + frame["period"].astype(str) if "period" in frame else "")
    by_day = {d: set(key[frame["day"] == d]) for d in np.sort(frame["day"].dropna().unique())}
    clusters: list[list[float]] = []
    members: list[set] = []
    for day, who in by_day.items():
        if clusters:
            last, seen = clusters[-1][-1], members[-1]
            shared = len(seen & who) / max(1, min(len(seen), len(who)))
            if day - last <= max(1.0, 0.25 * last) and shared <= overlap:
                clusters[-1].append(day)
                members[-1] |= who
                continue
        clusters.append([day])
        members.append(set(who))
    if all(len(c) == 1 for c in clusters):
        return None
    return {_centre(frame["day"], c): [float(c[0]), float(c[-1])] for c in clusters}


def _centre(day: pd.Series, cluster: list[float]) -> float:
    """The median day of a cluster's visits (a whole day when the days are whole)."""
    mid = float(day[day.between(cluster[0], cluster[-1])].median())
    return float(np.round(mid)) if all(float(d).is_integer() for d in cluster) else mid


def proposal_text(proposal: dict | None) -> str | None:
    """'days 6-8 look like one visit at day 7 (no patient has two of them): if so, pass visit_windows={...}'."""
    if not proposal:
        return None
    groups = [f"days {lo:g}-{hi:g} look like one visit at day {day:g}" for day, (lo, hi) in proposal.items() if lo != hi]
    windows = ", ".join(f"{day:g}: ({lo:g}, {hi:g})" for day, (lo, hi) in proposal.items())
    return (
        "; ".join(groups) + " (no patient has two visits in one of these ranges): if they are, pass "
        f"visit_windows={{{windows}}} (or a scheduled_day column) to read them as visits"
    )


def implausible(frame: pd.DataFrame) -> pd.Series:
    """Per row, why its (actual) day is implausible ("" when it is not; see the module docstring)."""
    actual = frame["actual_day"] if "actual_day" in frame else frame["day"]
    reasons = pd.Series("", index=frame.index, dtype=object)
    last = actual.groupby(frame["patient"]).max().dropna()
    if last.empty:
        return reasons
    reference = float(np.quantile(last.to_numpy(), LATE_QUANTILE, method="lower"))
    limit = max(LATE_FACTOR * reference, reference + LATE_MARGIN)
    late = actual > limit
    reasons[late] = (
        f"beyond {limit:g} days (twice the 90th percentile of the patients' last visit days, {reference:g}, "
        f"and at least {LATE_MARGIN:g} days beyond it)"
    )
    if "actual_day" in frame:
        far = (frame["actual_day"] - frame["day"]).abs() > np.maximum(7.0, 0.5 * frame["day"])
        reasons[far & ~late] = "actual day far from its scheduled day (more than max(7, half the scheduled day) apart)"
    return reasons


def flagged_rows(frame: pd.DataFrame, reasons: pd.Series) -> list[dict]:
    """The rows with a reason, as plain records for the report."""
    return [
        {
            "patient": _plain(row["patient"]),
            "period": int(row["period"]) if "period" in row else 1,
            "day": float(row["day"]),
            **({"actual_day": float(row["actual_day"])} if "actual_day" in row else {}),
            "source_row": int(row["source_row"]),
            "reason": reasons[i],
        }
        for i, row in frame.loc[reasons.ne("")].iterrows()
    ]


def warn_implausible(flagged: list[dict]) -> None:
    if flagged:
        shown = offending([f"patient {f['patient']} day {f.get('actual_day', f['day']):g}" for f in flagged])
        warn(
            f"{len(flagged)} visit days look implausible ({shown}): {flagged[0]['reason']}. They are kept; check "
            "them for typos (e.g. 4000 for 14) and see trial.report()."
        )


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v
