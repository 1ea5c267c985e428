"""Design of the IPD meta-analysis family: from a trial's long frame to one row per patient.

Steps (every patient and study used or excluded with its reason; see ``IpdMetaDesign``):

1. Periods: the first period of a crossover (``periods="first"``, the seed's choice), or all
   periods (``"all"``: one unit per patient x period, with a patient level in the model).
2. Outcome: ``madrs_total`` by default. Where a study reports only HRSD-17, MADRS is
   ``scales.hrsd17_to_madrs`` of it (``read_trial`` does this and flags ``madrs_converted``;
   a frame that was not read, e.g. a simulated one, is converted here); converted studies
   are flagged in the visit table.
3. Visits: per study, among its scheduled post-baseline days, the one nearest the target
   (1 d, 7 d) inside the closed window ([4 h, 3 d], [6 d, 14 d]); card settings
   ``visit_windows`` / ``visit_targets``. A study with no day in a window contributes nothing
   to that visit (warned, and in the visit table); a study with no day in either window is
   excluded (warned, with its reason).
4. Outcome scale: "percent" = 100 (baseline - score) / (baseline - floor) (a baseline at the
   floor is excluded with its reason), or "points" = the score, with the baseline as covariate.
5. Studies with one arm are excluded: they carry no treatment contrast.
6. Moderators. Patient-level moderators: continuous ones standardised by their SD over the
   analysed patients, binary (0/1) ones kept 0/1. The model uses the within-study deviation
   (x - study mean; level "within") and the study mean (level "across"). Study-level
   moderators must be constant within each study (else an error naming study and column).
   With ``missing="complete"`` patients missing a moderator are excluded, warned per study
   and moderator; with ``missing="impute"`` they stay and the model imputes (part 2). A
   moderator missing in every study is an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import scales as _scales
from ..errors import BayesKetError, offending, warn
from . import design as shared

VISITS = ("rapid", "post_rapid")
DEFAULT_WINDOWS = {"rapid": (4.0 / 24.0, 3.0), "post_rapid": (6.0, 14.0)}
DEFAULT_TARGETS = {"rapid": 1.0, "post_rapid": 7.0}
OUTCOME_SCALES = ("percent", "points")
PERIODS = ("first", "all")
INTERCEPTS = ("fixed", "random")
RESIDUALS = ("pooled", "study")
MISSING = ("complete", "impute")
SHRINKAGE = ("normal", "horseshoe")
PARAMETERIZATIONS = ("auto", "marginal", "noncentered")
LEVELS = ("within", "across", "study")


@dataclass
class IpdMetaDesign:
    """Everything the model needs, one row per unit (patient, or patient x period with periods="all").

    Y (n, V): outcome at each visit (NaN: not observed); baseline (n,): baseline score;
    arm (n,) 1/0; study_idx (n,); patient_idx (n,); period2 (n,): 1 in a second period;
    converted (n,): outcome linked from HRSD-17; X (n, P): patient moderators in original
    units (NaN: missing, only with missing="impute"); S (J, Q): study moderators, original
    units. mod_center / mod_scale: centring and scaling of each moderator (binary: scale 1);
    mod_kind: "continuous" or "binary". available (J, V): the study contributed the visit.
    """

    outcome: str
    outcome_scale: str
    visits: list
    units: pd.DataFrame
    studies: list
    patients: list
    Y: np.ndarray
    baseline: np.ndarray
    arm: np.ndarray
    study_idx: np.ndarray
    patient_idx: np.ndarray
    period2: np.ndarray
    converted: np.ndarray
    patient_moderators: list
    study_moderators: list
    X: np.ndarray
    S: np.ndarray
    mod_kind: dict
    mod_center: dict
    mod_scale: dict
    available: np.ndarray
    study_effects: str  # "random" or "common"
    parameterization: str  # of the random study effects D_j: "marginal" (integrated out) or "noncentered"
    intercepts: str  # "fixed" or "random" (or "single" with one study)
    residual: str
    linking_error: bool
    periods: str
    missing: str
    shrinkage: str
    mstar: bool
    mstar_cv: bool
    mstar_folds: int
    outcome_unit: float
    outcome_lohi: tuple
    remission_threshold: float | None
    response_reduction: float | None
    relevant_moderation: float
    visit_table: pd.DataFrame
    moderator_missing: pd.DataFrame
    never_measured: dict
    split_levels: bool = True
    request: dict = field(default_factory=dict)
    exclusions: shared.Exclusions = field(default_factory=shared.Exclusions)
    notes: list = field(default_factory=list)

    @property
    def study_marginal(self) -> bool:
        """Random study deviations integrated out of the likelihood (``ipd_meta_model.study_marginal``)."""
        return self.study_effects == "random" and self.parameterization == "marginal"

    # ---- sizes ------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return len(self.Y)

    @property
    def n_studies(self) -> int:
        return len(self.studies)

    @property
    def moderators(self) -> list:
        return list(self.patient_moderators) + list(self.study_moderators)

    @property
    def observed(self) -> np.ndarray:
        return np.isfinite(self.Y).astype(float)

    @property
    def has_patient_level(self) -> bool:
        return self.periods == "all" and len(self.patients) < self.n

    @property
    def floor(self) -> float:
        return float(self.outcome_lohi[0])

    def outcome_sd(self) -> np.ndarray:
        """SD of the outcome over the analysed units at each visit (the denominator of effect_std)."""
        return np.array([np.nanstd(self.Y[:, v], ddof=1) for v in range(len(self.visits))])

    def baseline_centre(self) -> float:
        return float(np.mean(self.baseline))

    # ---- moderators on the model's scale -----------------------------------------------
    def patient_standardised(self) -> np.ndarray:
        """(n, P) patient moderators centred at their mean over units and divided by their scale."""
        cols = [(self.X[:, k] - self.mod_center[m]) / self.mod_scale[m] for k, m in enumerate(self.patient_moderators)]
        return np.column_stack(cols) if cols else np.zeros((self.n, 0))

    def study_means(self, Z: np.ndarray | None = None) -> np.ndarray:
        """(J, P) study means of the standardised patient moderators over the observed values."""
        Z = self.patient_standardised() if Z is None else Z
        out = np.zeros((self.n_studies, Z.shape[1]))
        for k in range(Z.shape[1]):
            ok = np.isfinite(Z[:, k])
            s = np.bincount(self.study_idx[ok], weights=Z[ok, k], minlength=self.n_studies)
            c = np.bincount(self.study_idx[ok], minlength=self.n_studies)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[:, k] = np.where(c > 0, s / np.maximum(c, 1), 0.0)
        return out

    @property
    def levels(self) -> list:
        """Levels of `moderation`: within / across / study, or total / study without the split."""
        return list(LEVELS) if self.split_levels else ["total", "study"]

    def within_across(self) -> tuple[np.ndarray, np.ndarray]:
        """(Xw (n, P), Xa (J, P)): within-study deviations (0 where missing) and study means.
        Without the split (``split_levels=False``, a demonstration of ecological bias): the
        standardised moderator itself (deviation from the mean over all patients) and zeros."""
        Z = self.patient_standardised()
        if not self.split_levels:
            return np.where(np.isfinite(Z), Z, 0.0), np.zeros((self.n_studies, Z.shape[1]))
        Xa = self.study_means(Z)
        Xw = Z - Xa[self.study_idx]
        return np.where(np.isfinite(Xw), Xw, 0.0), Xa

    def study_standardised(self) -> np.ndarray:
        cols = [(self.S[:, k] - self.mod_center[m]) / self.mod_scale[m] for k, m in enumerate(self.study_moderators)]
        return np.column_stack(cols) if cols else np.zeros((self.n_studies, 0))

    def prior_scale(self, names) -> np.ndarray:
        """Per moderator, the factor turning a per-SD prior SD into one on the model's scale:
        1 for a standardised (continuous) moderator, 1 / SD for a binary (0/1) one."""
        out = []
        for m in names:
            if self.mod_kind[m] == "binary":
                out.append(1.0 / max(self.mod_sd[m], 0.05))
            else:
                out.append(1.0)
        return np.asarray(out, float)

    @property
    def mod_sd(self) -> dict:
        """SD of each moderator over analysed units (patient level) or units' studies (study level)."""
        sd = {}
        for k, m in enumerate(self.patient_moderators):
            sd[m] = float(np.nanstd(self.X[:, k], ddof=1))
        for k, m in enumerate(self.study_moderators):
            sd[m] = float(np.std(self.S[self.study_idx, k], ddof=1))
        return sd

    def relevant_thresholds(self) -> dict:
        """prob_relevant thresholds of `moderation` per moderator, per original unit: the card's
        relevant size per SD (continuous) or per 0 -> 1 (binary)."""
        out = {}
        for m in self.moderators:
            out[m] = self.relevant_moderation / (self.mod_sd[m] if self.mod_kind[m] == "continuous" else 1.0)
        return out


# ---- the steps --------------------------------------------------------------------------
def _option(value, settings, key, allowed, default):
    value = settings.get(key, default) if value is None else value
    if value not in allowed:
        raise BayesKetError(f"{key}={value!r} is not an option of the ipd_meta model. Fix: use one of {allowed}.")
    return value


def _study_parameterization(asked: str, missing: str, pmods: list, kind: dict, X: np.ndarray,
                            study_effects: str) -> str:
    """"marginal" (the study deviations integrated out: their likelihood is Gaussian) unless
    imputed binary moderators make each patient's likelihood a mixture; then "noncentered".
    With one common effect (no study deviations) the setting has no effect."""
    mixture = missing == "impute" and any(kind[m] == "binary" and np.isnan(X[:, k]).any() for k, m in enumerate(pmods))
    if asked == "marginal" and mixture and study_effects == "random":
        raise BayesKetError("parameterization='marginal' integrates the study deviations out of a Gaussian "
                            "likelihood; with missing binary moderators imputed (missing='impute') each patient's "
                            "likelihood is a mixture. Fix: parameterization='noncentered' (or 'auto').")
    if asked == "auto":
        return "noncentered" if mixture else "marginal"
    return asked


def _windows(settings, visit_windows=None):
    windows = {v: tuple(map(float, w)) for v, w in (settings.get("visit_windows") or DEFAULT_WINDOWS).items()}
    windows |= {v: tuple(map(float, w)) for v, w in (visit_windows or {}).items()}
    targets = {v: float(t) for v, t in (settings.get("visit_targets") or DEFAULT_TARGETS).items()}
    for v in VISITS:
        if v not in windows or v not in targets:
            raise BayesKetError(f"visit window for {v!r} missing. Fix: give visit_windows={{'{v}': (lo, hi)}}.")
        lo, hi = windows[v]
        if not lo <= targets[v] <= hi:
            raise BayesKetError(f"visit {v!r}: target day {targets[v]:g} lies outside its window ({lo:g}, {hi:g}).")
    return windows, targets


def _binary(values: np.ndarray) -> bool:
    v = values[np.isfinite(values)]
    return len(v) > 0 and set(np.unique(v).tolist()) <= {0.0, 1.0}


def outcome_rows(trial, outcome: str, excl: shared.Exclusions, periods: str) -> tuple[pd.DataFrame, list]:
    """Rows of the periods used, with the outcome (HRSD-17 linked to MADRS where MADRS is absent)."""
    frame = shared.with_ids(trial.frame)
    notes = []
    if outcome == "madrs_total" and "hrsd17_total" in frame:
        madrs = frame["madrs_total"] if "madrs_total" in frame else pd.Series(np.nan, index=frame.index)
        convert = madrs.isna() & frame["hrsd17_total"].notna()
        flag = frame["madrs_converted"].astype(bool) if "madrs_converted" in frame else pd.Series(False, index=frame.index)
        if convert.any():
            frame = frame.assign(madrs_total=madrs.mask(convert, _scales.hrsd17_to_madrs(
                frame["hrsd17_total"].where(convert))))
            flag = flag | convert
            notes.append(f"madrs_total linked from hrsd17_total on {int(convert.sum())} rows (scales.hrsd17_to_madrs)")
        frame = frame.assign(madrs_converted=flag)
    if "madrs_converted" not in frame:
        frame = frame.assign(madrs_converted=False)
    if outcome not in frame or frame[outcome].notna().sum() == 0:
        raise BayesKetError(f"Column {outcome!r} has no observed values. Fix: choose outcome= from {trial.outcomes}.")
    if "arm" not in frame:
        raise BayesKetError("The ipd_meta model needs an 'arm' column (1 = ketamine, 0 = control) in every study.")
    if periods == "first":
        first = frame.groupby("patient")["period"].transform("min")
        frame = excl.drop(frame, frame["period"] != first, "crossover period after the first (periods='first')")
    frame = excl.drop(frame, frame[outcome].isna(), f"{outcome} missing")
    return frame, notes


def choose_visits(rows: pd.DataFrame, windows: dict, targets: dict) -> pd.DataFrame:
    """Per study: the scheduled day used for each visit (nearest the target inside the closed
    window; NaN when none), and the days it had."""
    out = []
    for study, g in rows.groupby("study", sort=True):
        days = np.sort(g.loc[g["day"] > 0, "day"].unique().astype(float))
        rec = {"study": study, "days": ", ".join(f"{d:g}" for d in days)}
        for v in VISITS:
            lo, hi = windows[v]
            inside = days[(days >= lo - 1e-9) & (days <= hi + 1e-9)]
            rec[f"{v}_day"] = float(inside[np.argmin(np.abs(inside - targets[v]))]) if len(inside) else np.nan
        out.append(rec)
    return pd.DataFrame(out)


def build(trial, card, outcome=None, moderators=None, study_moderators=None, outcome_scale=None, periods=None,
          visit_windows=None, study_intercepts=None, residual=None, linking_error=None, missing=None,
          shrinkage=None, mstar=None, mstar_cv=None, mstar_folds=None, remission_threshold=None,
          relevant_moderation=None, min_studies_random=None, visits=None, split_levels=True,
          parameterization=None) -> IpdMetaDesign:
    """Validate the request against the trial and build the design (module docstring)."""
    s = card.settings
    outcome = outcome or s.get("outcome", "madrs_total")
    scale = _scales.for_column(outcome)
    if scale is None or outcome != scale.total_column:
        raise BayesKetError(f"outcome={outcome!r} is not a total score of a registered scale. Fix: use one of "
                            f"{trial.outcomes}.")
    outcome_scale = _option(outcome_scale, s, "outcome_scale", OUTCOME_SCALES, "percent")
    periods = _option(periods, s, "periods", PERIODS, "first")
    intercepts = _option(study_intercepts, s, "study_intercepts", INTERCEPTS, "fixed")
    residual = _option(residual, s, "residual", RESIDUALS, "pooled")
    missing = _option(missing, s, "missing", MISSING, "complete")
    shrinkage = _option(shrinkage, s, "shrinkage", SHRINKAGE, "normal")
    parameterization = _option(parameterization, s, "parameterization", PARAMETERIZATIONS, "auto")
    linking_error = bool(s.get("linking_error", False) if linking_error is None else linking_error)
    mstar = bool(s.get("mstar", False) if mstar is None else mstar)
    mstar_cv = bool(s.get("mstar_cv", False) if mstar_cv is None else mstar_cv)
    mstar_folds = int(s.get("mstar_folds", 5) if mstar_folds is None else mstar_folds)
    windows, targets = _windows(s, visit_windows)
    asked = list(VISITS) if visits is None else ([visits] if isinstance(visits, str) else list(visits))
    if not asked or [v for v in asked if v not in VISITS]:
        raise BayesKetError(f"visits={visits!r}. Fix: use one or both of {VISITS}.")
    frame = trial.frame
    if "study" not in frame:
        raise BayesKetError("The ipd_meta model needs a 'study' column (one id per trial).")
    pmods = [] if moderators is None else ([moderators] if isinstance(moderators, str) else list(moderators))
    smods = [] if study_moderators is None else (
        [study_moderators] if isinstance(study_moderators, str) else list(study_moderators))
    for m in pmods + smods:
        if m not in frame:
            raise BayesKetError(f"Moderator column {m!r} is not in the trial. Fix: choose from {trial.moderators}.")
        if not pd.api.types.is_numeric_dtype(frame[m]):
            raise BayesKetError(f"Moderator column {m!r} is not numeric. Fix: code it as numbers (e.g. 0/1).")
        if frame[m].notna().sum() == 0:
            raise BayesKetError(f"Moderator {m!r} is missing in every study. Fix: drop it from the moderators.")
    both = set(pmods) & set(smods)
    if both:
        raise BayesKetError(f"{sorted(both)} named both as moderators= and study_moderators=. Fix: choose one level.")
    if len(set(pmods)) < len(pmods) or len(set(smods)) < len(smods):
        raise BayesKetError("A moderator is named twice. Fix: name each once.")
    for m in smods:
        varies = frame.groupby("study")[m].nunique() > 1
        if varies.any():
            study = varies.index[varies][0]
            vals = offending(pd.unique(frame.loc[frame["study"] == study, m].dropna()))
            raise BayesKetError(f"Study-level moderator '{m}' must be constant within a study; study {study} has "
                                f"{vals}. Fix: correct it, or pass it as a patient-level moderator (moderators=).")
    excl = shared.Exclusions()
    rows, notes = outcome_rows(trial, outcome, excl, periods)

    # ---- visits per study ---------------------------------------------------------------
    table = choose_visits(rows, windows, targets)
    none = table[table[[f"{v}_day" for v in VISITS]].isna().all(axis=1)]["study"].tolist()
    for v in VISITS:
        lo, hi = windows[v]
        for _, r in table[table[f"{v}_day"].isna() & ~table["study"].isin(none)].iterrows():
            warn(f"Study {r['study']} has no visit in the {v} window [{lo:g}, {hi:g}] days (its days: "
                 f"{r['days'] or 'none'}): it contributes nothing to the {v} visit.")
    for st in none:
        warn(f"Study {st} has no visit in either window (rapid {windows['rapid']}, post_rapid "
             f"{windows['post_rapid']} days; column 'day'): the study is excluded.")
    rows = excl.drop(rows, rows["study"].isin(none), "study has no visit in either window")
    chosen = table.set_index("study")

    # ---- one row per unit ---------------------------------------------------------------
    keys = ["patient", "period"]
    base = rows[rows["day"] == 0].drop_duplicates(keys).set_index(keys)
    units = rows.drop_duplicates(keys)[keys + ["study", "arm"]].set_index(keys)
    units["baseline"] = base[outcome].reindex(units.index)
    units["converted"] = base["madrs_converted"].reindex(units.index).fillna(False).astype(bool)
    at = rows.set_index(keys + ["day"])[outcome]
    at = at[~at.index.duplicated()]
    for v in VISITS:
        day = units["study"].map(chosen[f"{v}_day"])
        idx = pd.MultiIndex.from_arrays([units.index.get_level_values(0), units.index.get_level_values(1), day])
        units[v] = at.reindex(idx).to_numpy()
        units[f"{v}_day"] = day.to_numpy()
    units = units.reset_index()
    no_base = units["baseline"].isna()
    rows = excl.drop(rows, rows.set_index(keys).index.isin(units.loc[no_base].set_index(keys).index),
                     "no baseline (day 0) score")
    units = units[~no_base]
    no_post = units[asked].isna().all(axis=1)
    rows = excl.drop(rows, rows.set_index(keys).index.isin(units.loc[no_post].set_index(keys).index),
                     f"no score at the study's {' or '.join(asked)} visit")
    units = units[~no_post]
    if outcome_scale == "percent":
        at_floor = units["baseline"] <= scale.floor
        reason = f"baseline at the scale floor ({scale.floor:g}): percent improvement undefined"
        rows = excl.drop(rows, rows.set_index(keys).index.isin(units.loc[at_floor].set_index(keys).index), reason)
        units = units[~at_floor]
    # ---- one-arm studies -------------------------------------------------------------------
    arms = units.groupby("study")["arm"].nunique()
    one_arm = arms.index[arms < 2].tolist()
    for st in one_arm:
        warn(f"Study {st} has one arm only (column 'arm'): it carries no treatment contrast and is excluded.")
    rows = excl.drop(rows, rows["study"].isin(one_arm), "study has one arm only (no treatment contrast)")
    units = units[~units["study"].isin(one_arm)]

    # ---- moderators ----------------------------------------------------------------------------
    first_rows = rows.drop_duplicates(keys).set_index(keys)
    for m in pmods + smods:
        units[m] = first_rows[m].reindex(pd.MultiIndex.from_frame(units[keys])).to_numpy(float)
    miss_rows = []
    for m in pmods + smods:
        for st, g in units.groupby("study"):
            k = int(g[m].isna().sum())
            if k:
                miss_rows.append({"study": st, "moderator": m, "missing": k, "patients": len(g)})
    moderator_missing = pd.DataFrame(miss_rows, columns=["study", "moderator", "missing", "patients"])
    never = {m: sorted(moderator_missing.loc[(moderator_missing["moderator"] == m)
                                             & (moderator_missing["missing"] == moderator_missing["patients"]),
                                             "study"].tolist()) for m in pmods + smods}
    for m in pmods + smods:
        if units[m].notna().sum() == 0:
            raise BayesKetError(f"Moderator {m!r} is missing for every analysed patient (every study). "
                                "Fix: drop it from the moderators.")
    drop_cols = smods + (pmods if missing == "complete" else [])
    for m in drop_cols:
        sub = moderator_missing[moderator_missing["moderator"] == m]
        for _, r in sub.iterrows():
            what = "study-level moderator" if m in smods else "moderator"
            warn(f"Study {r['study']}: {r['missing']} of {r['patients']} patients have no value for {what} {m!r}: "
                 f"excluded from this fit" + (" (complete cases; missing='impute' keeps them)." if m in pmods else "."))
        gone = units[m].isna()
        rows = excl.drop(rows, rows.set_index(keys).index.isin(units.loc[gone].set_index(keys).index),
                         f"moderator {m} missing")
        units = units[~gone]
    if units.empty:
        raise BayesKetError(f"No patients left to fit: {excl.summary()}. Fix: check the outcome, visits and moderators.")
    units = units.reset_index(drop=True)
    studies = sorted(units["study"].unique().tolist(), key=str)
    if len(studies) == 0 or units["arm"].nunique() < 2:
        raise BayesKetError("No study with both arms left to fit. Fix: check the 'arm' column.")
    study_idx = pd.Categorical(units["study"], categories=studies).codes.astype(int)
    patients = list(pd.unique(units["patient"]))
    patient_idx = pd.Categorical(units["patient"], categories=patients).codes.astype(int)

    # visits: those asked for (default both) with at least one study
    Yall = units[list(VISITS)].to_numpy(float)
    for k, v in enumerate(VISITS):
        if v in asked and not np.isfinite(Yall[:, k]).any():
            warn(f"No study has a {v} visit (window {windows[v]} days): the {v} visit is not fitted.")
    visits = [v for k, v in enumerate(VISITS) if v in asked and np.isfinite(Yall[:, k]).any()]
    if not visits:
        raise BayesKetError("No visit left to fit. Fix: check the visit windows and the 'day' column.")
    vidx = [VISITS.index(v) for v in visits]
    Y = Yall[:, vidx]
    baseline = units["baseline"].to_numpy(float)
    if outcome_scale == "percent":
        Y = 100.0 * (baseline[:, None] - Y) / (baseline[:, None] - scale.floor)
    available = np.zeros((len(studies), len(visits)), bool)
    for k in range(len(visits)):
        available[:, k] = np.bincount(study_idx, weights=np.isfinite(Y[:, k]), minlength=len(studies)) > 0

    # ---- moderator coding --------------------------------------------------------------------
    kind, center, scl = {}, {}, {}
    X = units[pmods].to_numpy(float).reshape(len(units), len(pmods))
    for k, m in enumerate(pmods):
        x = X[:, k]
        kind[m] = "binary" if _binary(x) else "continuous"
        center[m] = float(np.nanmean(x))
        sd = float(np.nanstd(x, ddof=1)) if np.isfinite(x).sum() > 1 else 0.0
        if not sd > 0:
            raise BayesKetError(f"Moderator {m!r} does not vary over the analysed patients. Fix: drop it.")
        scl[m] = sd if kind[m] == "continuous" else 1.0
        within = pd.Series(x).groupby(study_idx).transform(lambda g: g - g.mean())
        if not np.nanmax(np.abs(within.to_numpy())) > 0:
            raise BayesKetError(f"Moderator {m!r} is constant within every study: it is a study-level moderator. "
                                f"Fix: pass it as study_moderators=.")
    S = np.zeros((len(studies), len(smods)))
    for k, m in enumerate(smods):
        S[:, k] = units.groupby("study")[m].first().reindex(studies).to_numpy(float)
        x = S[study_idx, k]
        kind[m] = "binary" if _binary(x) else "continuous"
        center[m] = float(np.mean(x))
        sd = float(np.std(x, ddof=1))
        if not sd > 0 or len(np.unique(S[:, k])) < 2:
            raise BayesKetError(f"Study-level moderator {m!r} takes one value in every analysed study. Fix: drop it.")
        scl[m] = sd if kind[m] == "continuous" else 1.0

    # ---- study level ------------------------------------------------------------------------------
    n_random = int(min_studies_random or s.get("min_studies_random", 3))
    study_effects = "random" if len(studies) >= n_random else "common"
    if len(studies) == 1:
        intercepts = "single"
    if study_effects == "common" and len(studies) > 1:
        warn(f"{len(studies)} studies: fewer than min_studies_random={n_random}, so one common treatment effect "
             "is fitted (no tau, no prediction for a new study).")
    vt = chosen.reset_index()
    counts = units.groupby("study").agg(patients=("patient", "nunique"), units=("patient", "size"),
                                        ketamine=("arm", "sum"), converted=("converted", "any"))
    vt = vt.merge(counts, left_on="study", right_index=True, how="left")
    vt["patients"] = vt["patients"].fillna(0).astype(int)
    vt["used"] = vt["study"].isin(studies)
    vt["excluded_because"] = ""
    ex = excl.table()
    if len(ex):
        study_of = trial.frame.drop_duplicates("patient").set_index("patient")["study"]
        ex = ex.assign(study=ex["patient"].map(study_of))
        for st in vt.loc[~vt["used"], "study"]:
            why = sorted(set(ex.loc[ex["study"] == st, "reason"]) - {
                "crossover period after the first (periods='first')", f"{outcome} missing"})
            vt.loc[vt["study"] == st, "excluded_because"] = "; ".join(why) or "no patients left"
    rel = relevant_moderation
    if rel is None:
        setting = s.get("relevant_moderation", {"percent": 10.0, "points": 2.0})
        rel = setting.get(outcome_scale) if isinstance(setting, dict) else setting
    if missing == "impute" and not pmods:
        missing = "complete"
    parameterization = _study_parameterization(parameterization, missing, pmods, kind, X, study_effects)
    return IpdMetaDesign(
        outcome=outcome, outcome_scale=outcome_scale, visits=visits, units=units, studies=studies, patients=patients,
        Y=Y, baseline=baseline, arm=units["arm"].to_numpy(float), study_idx=study_idx, patient_idx=patient_idx,
        period2=(units["period"].to_numpy() > units.groupby("patient")["period"].transform("min").to_numpy()).astype(
            float),
        converted=units["converted"].to_numpy(float), patient_moderators=pmods, study_moderators=smods, X=X, S=S,
        mod_kind=kind, mod_center=center, mod_scale=scl, available=available, study_effects=study_effects,
        parameterization=parameterization,
        intercepts=intercepts, residual=residual, linking_error=linking_error and bool(units["converted"].any()),
        periods=periods, missing=missing, shrinkage=shrinkage if pmods else "normal",
        mstar=mstar and len(pmods) >= 2, mstar_cv=mstar_cv and len(pmods) >= 2 and len(studies) >= 2,
        mstar_folds=max(2, min(mstar_folds, len(studies))),
        outcome_unit=100.0 if outcome_scale == "percent" else float(scale.range[1] - scale.range[0]),
        outcome_lohi=tuple(float(x) for x in scale.range),
        remission_threshold=shared.remission_threshold(scale, card, remission_threshold),
        response_reduction=scale.response, relevant_moderation=float(rel), visit_table=vt,
        moderator_missing=moderator_missing, never_measured=never, exclusions=excl, notes=notes,
        split_levels=bool(split_levels),
    )

