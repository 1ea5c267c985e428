"""Design steps every model family shares, written once.

From a trial's canonical frame to arrays: which rows are used (and why the others are
not), the moderators, the days the model and the summary use, the study level, the
units (patient x period) with centred moderators, the time bases, and the card's priors
as numbers. Families call these in their ``design``; nothing here knows a family.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import BayesKetError, warn

TIME_BASES = ("visit", "linear", "log")
STUDY_LEVELS = ("none", "fixed", "random")


# ---- rows ------------------------------------------------------------------------------
class Exclusions:
    """Rows a fit leaves out, with the reason: nothing is dropped silently."""

    def __init__(self):
        self.rows = []  # (source_row or index, patient, reason)

    def drop(self, frame: pd.DataFrame, mask, reason: str) -> pd.DataFrame:
        mask = pd.Series(mask, index=frame.index).fillna(False).astype(bool)
        if mask.any():
            gone = frame[mask]
            src = gone["source_row"] if "source_row" in gone else gone.index.to_series()
            self.rows.extend(zip(src.tolist(), gone["patient"].tolist(), [reason] * len(gone)))
        return frame[~mask]

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=["source_row", "patient", "reason"])

    def patients_by_reason(self) -> dict:
        """reason -> number of distinct patients with a row excluded for it."""
        t = self.table()
        return {r: int(g["patient"].nunique()) for r, g in t.groupby("reason")} if len(t) else {}

    def summary(self) -> str:
        if not self.rows:
            return "no rows excluded"
        counts = self.table()["reason"].value_counts()
        return "; ".join(f"{n} rows: {r}" for r, n in counts.items())


def outcome_scale(trial, outcome: str):
    """The registered scale of a total-score outcome column, after checking the trial has it."""
    from .. import scales

    scale = scales.for_column(outcome)
    totals = [s.total_column for s in scales.all_scales()]
    if scale is None or outcome != scale.total_column:
        raise BayesKetError(f"outcome={outcome!r} is not a total score of a registered scale. Fix: use one of "
                            f"{trial.outcomes or totals}, or register your scale with bk.scales.register(...).")
    if outcome not in trial.frame or trial.frame[outcome].notna().sum() == 0:
        raise BayesKetError(
            f"Column {outcome!r} has no observed values in this trial. Fix: choose outcome= from {trial.outcomes}.")
    return scale


def remission_threshold(scale, card, argument=None) -> float | None:
    """Remission threshold (score <= value): the fit argument, else the card's setting for this
    outcome (a number, or a table {column: value}), else the scale registry's."""
    if argument is not None:
        return float(argument)
    setting = card.settings.get("remission_threshold")
    if isinstance(setting, dict):
        setting = setting.get(scale.total_column)
    if setting is not None:
        return float(setting)
    return None if scale.remission is None else float(scale.remission)


@dataclass(frozen=True)
class ModeratorTerm:
    """One moderator term of a model: a numeric column of the rows used.

    label : the summary's ``moderator`` value: the column name for a numeric moderator, the
        coding's label for a 0/1-coded one ("length: >6m vs <6m"), "<column>: <level> vs
        <reference>" for each indicator of a categorical one
    column : the numeric column in the design's rows (an added indicator for a level)
    source : the trial's column
    level : the categorical level this indicator marks (None otherwise)
    """

    label: str
    column: str
    source: str
    level: object = None
    levels: tuple = ()  # a 0/1-coded column's labels, the one coded 0 first


def moderator_terms(trial, moderators) -> list[ModeratorTerm]:
    """The moderator terms asked for (default: msm when the trial has it), validated.

    Numeric and 0/1-coded columns give one term each; a categorical column (more than two
    labels, coded by read_trial) gives one indicator per level other than its reference.
    """
    frame = trial.frame
    if moderators is None:
        moderators = ["msm"] if "msm" in frame and frame["msm"].notna().any() else []
    moderators = [moderators] if isinstance(moderators, str) else list(moderators)
    codings = getattr(trial, "codings", None) or {}
    terms = []
    for m in moderators:
        if m not in frame:
            raise BayesKetError(f"Moderator column {m!r} is not in the trial. Fix: choose from {trial.moderators}.")
        coding = codings.get(m)
        if coding is not None and coding.kind == "categorical":
            terms += [ModeratorTerm(f"{m}: {level} vs {coding.reference}", f"{m}[{level}]", m, level)
                      for level in coding.levels if level != coding.reference]
        elif pd.api.types.is_numeric_dtype(frame[m]) and not pd.api.types.is_bool_dtype(frame[m]):
            terms.append(ModeratorTerm(coding.label if coding is not None else m, m, m,
                                       levels=tuple(coding.levels) if coding is not None else ()))
        else:
            raise BayesKetError(
                f"Moderator column {m!r} holds text that read_trial did not code (see trial.report(), codings). "
                "Fix: give it two or more labels per patient-level value, or code it as numbers.")
    return terms


def add_indicators(rows: pd.DataFrame, terms: list[ModeratorTerm]) -> pd.DataFrame:
    """The rows with one 0/1 column per categorical level term (missing where the source is)."""
    rows = rows.copy()
    for t in terms:
        if t.level is not None:
            src = rows[t.source]
            rows[t.column] = np.where(src.isna(), np.nan, (src.astype(object) == t.level).astype(float))
    return rows


def terms_meta(terms: list[ModeratorTerm], units: pd.DataFrame, reference) -> dict:
    """Moderator facts kept with a fit, keyed by the summary's labels: reference (the mean over
    patients, where ``effect`` is evaluated), observed range, source column and level."""
    ptab = units.drop_duplicates("patient")
    return {
        "moderators": [t.label for t in terms],
        "moderator_reference": {t.label: float(r) for t, r in zip(terms, reference)},
        "moderator_range": {t.label: [float(ptab[t.column].min()), float(ptab[t.column].max())] for t in terms},
        "moderator_terms": {t.label: {"source": t.source, "level": _plain(t.level),
                                      "levels": [_plain(v) for v in t.levels]} for t in terms},
    }


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v


def drop_missing_moderators(rows: pd.DataFrame, terms: list[ModeratorTerm], excl: Exclusions) -> pd.DataFrame:
    """Rows of patients missing a moderator are excluded, and never silently: a BayesKetWarning
    names each moderator and how many patients it cost (also in the fit's metadata)."""
    for m in dict.fromkeys(t.source for t in terms):
        missing = rows[m].isna()
        if missing.any():
            n_pat = rows.loc[missing, "patient"].nunique()
            n_all = rows["patient"].nunique()
            warn(f"{n_pat} of {n_all} patients have no value for moderator {m!r}: their rows are excluded "
                 f"from this fit. Fix: supply the values, or leave {m!r} out of moderators= to keep them.")
        rows = excl.drop(rows, missing, f"moderator {m} missing")
    return rows


def with_ids(rows: pd.DataFrame) -> pd.DataFrame:
    """Period (1 when absent) and study ("all" when absent) on every row."""
    rows = rows.copy()
    if "period" not in rows:
        rows["period"] = 1
    rows["period"] = rows["period"].fillna(1).astype(int)
    if "study" not in rows:
        rows["study"] = "all"
    return rows


def two_arms(rows: pd.DataFrame) -> bool:
    return "arm" in rows and rows["arm"].nunique() > 1


# ---- days -----------------------------------------------------------------------------
def visit_days(rows: pd.DataFrame, time: str, settings: dict) -> tuple[np.ndarray, np.ndarray]:
    """(model days, summary days) of the rows used.

    time="visit" fits one mean per distinct day: more than ``max_visit_days`` is an
    error, more than ``max_summary_days`` a warning (actual study days rather than
    scheduled visits). Continuous bases summarise on the card's ``grid_days`` within the
    observed range when the data have more than ``max_summary_days`` distinct days.
    """
    if time not in TIME_BASES:
        raise BayesKetError(f"time={time!r} is not a time basis. Fix: use one of {TIME_BASES}.")
    model_days = np.sort(rows["day"].unique().astype(float))
    max_days = settings.get("max_summary_days", 12)
    if time == "visit":
        if len(model_days) > settings.get("max_visit_days", 30):
            raise BayesKetError(
                f"Column 'day' has {len(model_days)} distinct values: too many for time='visit' (one mean per "
                "visit). Fix: map actual days to scheduled visits (read_trial visit_windows= or a scheduled_day "
                "column), or use time='log' or time='linear'.")
        if len(model_days) > max_days:
            warn(f"time='visit' fits one mean per distinct day, and the data have {len(model_days)} distinct days "
                 f"(more than {max_days}): actual study days rather than scheduled visits? Fix: map them to the "
                 "schedule with read_trial(visit_windows=...) or a scheduled_day column, or use time='log'.")
        return model_days, model_days
    if len(model_days) <= max_days:
        return model_days, model_days
    grid = np.asarray(settings.get("grid_days", [0, 1, 7, 14, 28]), float)
    return model_days, grid[(grid >= model_days.min()) & (grid <= model_days.max())]


def time_basis(kind: str, days: np.ndarray, model_days: np.ndarray):
    """Return (B, C, s, w_B, w_C) for ``days``.

    B: mean basis rows ("visit": one indicator per model day; otherwise [1, t] with
    t = day ("linear") or log(1 + day) ("log")); C: treatment basis rows, zero at baseline
    (the post-baseline indicators, or [t]); s: the patient slope basis (t, or log(1 + day)
    for "visit"); w_B / w_C: prior-scale weights of their columns (1 for a level, 1/span
    for a slope, so a slope's prior SD is "over the observed time span").
    """
    days = np.asarray(days, dtype=float)
    if kind == "visit":
        B = (days[:, None] == model_days[None, :]).astype(float)
        post = model_days > 0
        C = B[:, post] if post.any() else B
        s = np.log1p(days)
        return B, C, s, np.ones(B.shape[1]), np.ones(C.shape[1])
    t = days if kind == "linear" else np.log1p(days)
    span = (model_days if kind == "linear" else np.log1p(model_days)).max() or 1.0
    B = np.column_stack([np.ones_like(t), t])
    return B, t[:, None], t, np.array([1.0, 1.0 / span]), np.array([1.0 / span])


def slope_span(time: str, model_days: np.ndarray) -> float:
    """Span of the slope basis over the model days (the "per span" of prior scales)."""
    s = model_days if time == "linear" else np.log1p(model_days)
    return float(s.max() - s.min()) or 1.0


# ---- studies and units -------------------------------------------------------------------
def study_level(n_studies: int, settings: dict, override: str | None = None) -> str:
    """'random' with >= min_studies_random studies (card setting, 3), 'fixed' with 2+, 'none' with one.

    With 2 studies a random study SD is a funnel (brms: 620 divergences on the pooled
    two-RCT design), so two studies get fixed intercepts. ``override`` forces a level
    (one study is always "none").
    """
    if override is not None:
        if override not in STUDY_LEVELS:
            raise BayesKetError(f"study_level={override!r}. Fix: use one of {STUDY_LEVELS}.")
        return override if n_studies > 1 else "none"
    if n_studies >= settings.get("min_studies_random", 3):
        return "random"
    return "fixed" if n_studies >= 2 else "none"


@dataclass
class Units:
    """Units (patient x period) of the rows used, with indices and centred moderators.

    rows: the rows with ``unit_idx``; units: one row per unit with patient_idx, study_idx,
    period_idx, arm (0 in single-arm data) and x_<moderator> = moderator - reference;
    reference / sd: each moderator's mean and SD over patients.
    """

    rows: pd.DataFrame
    units: pd.DataFrame
    patients: list
    studies: list
    moderators: list
    reference: np.ndarray
    sd: np.ndarray
    exclusions: Exclusions = field(default_factory=Exclusions)

    @property
    def n_periods(self) -> int:
        return int(self.units["period_idx"].max()) + 1

    def unit_arrays(self) -> dict:
        """Per-unit arrays: X (units x moderators), arm, patient, study, period indices."""
        u = self.units
        X = u[[f"x_{m}" for m in self.moderators]].to_numpy(float).reshape(len(u), len(self.moderators))
        return {"X": X, "arm": u["arm"].to_numpy(float), "patient": u["patient_idx"].to_numpy(int),
                "study": u["study_idx"].to_numpy(int), "period": u["period_idx"].to_numpy(int)}


def build_units(rows: pd.DataFrame, moderators: list[str], has_arm: bool) -> Units:
    """Units (patient x period) with indices and moderators centred at their mean over patients.

    A moderator that does not vary over patients is an error (its effect is not identified).
    """
    patients = list(pd.unique(rows["patient"]))
    studies = sorted(pd.unique(rows["study"]).tolist(), key=str)
    units = rows.drop_duplicates(["patient", "period"])[["patient", "period", "study", *moderators]
                                                        + (["arm"] if has_arm else [])].reset_index(drop=True)
    if not has_arm:
        units["arm"] = 0.0
    ptab = rows.drop_duplicates("patient")
    reference = np.array([ptab[m].mean() for m in moderators], float)
    sd = np.array([ptab[m].std() for m in moderators], float)
    for m, s in zip(moderators, sd):
        if not s > 0:
            raise BayesKetError(f"Moderator {m!r} does not vary over patients. Fix: drop it from moderators=.")
    for m, ref in zip(moderators, reference):
        units[f"x_{m}"] = units[m] - ref
    units["patient_idx"] = pd.Categorical(units["patient"], categories=patients).codes
    units["study_idx"] = pd.Categorical(units["study"], categories=studies).codes
    units["period_idx"] = units["period"] - units["period"].min()
    key = pd.MultiIndex.from_frame(units[["patient", "period"]])
    rows = rows.reset_index(drop=True)
    rows["unit_idx"] = key.get_indexer(pd.MultiIndex.from_frame(rows[["patient", "period"]]))
    return Units(rows, units, patients, studies, moderators, reference, sd)


# ---- priors ----------------------------------------------------------------------------------
def resolve_priors(card, outcome_range: float, span: float, overrides: dict | None = None) -> dict:
    """Card prior specs -> numbers (value x scale), then user overrides by name.

    Scales: "range" (the outcome's range), "range_per_span" (range / slope span), "one".
    """
    factor = {"range": outcome_range, "range_per_span": outcome_range / span, "one": 1.0}
    priors = {name: float(spec["value"]) * factor[spec.get("scale", "one")] for name, spec in card.priors.items()}
    for name, value in (overrides or {}).items():
        if name not in priors:
            raise BayesKetError(
                f"priors= names {name!r}, which model {card.name!r} does not have. Fix: use one of {sorted(priors)}."
            )
        value = float(value)
        if not value > 0 and not name.endswith("_mu"):
            raise BayesKetError(f"Prior {name!r} must be positive, got {value}. Fix: pass a positive scale.")
        priors[name] = value
    return priors


def excluded_meta(excl: Exclusions) -> dict:
    """Exclusion facts kept with a fit: the rows, and patients per reason."""
    return {"rows_excluded": excl.table().to_dict("records"),
            "patients_excluded": excl.patients_by_reason()}
