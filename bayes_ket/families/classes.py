r"""Trajectory classes: Bayesian group-based trajectory modelling (card models/classes.toml).

The model
---------
Patient i (i = 1..N) belongs to one of K latent classes z_i. Given its class, its scores on an
outcome follow the class's mean curve plus patient effects and noise:

    y_it = B(t) theta_z + sum_c x_ic Bc(t) gamma_c + b_i0 + b_i1 s(t) + e_it,   e_it ~ N(0, sigma_z^2)

- B(t): the class basis. ``time="log"`` (card default) and ``"linear"``: a polynomial of
  ``degree`` 1-3 in u = (x(t) - x(t*)) / span, x(t) = log(1 + t) or t, span = x over the
  data's days, so theta_z0 is the class mean at the ordering day t* (below). ``time="visit"``:
  one mean per scheduled day.
- Bc(t): the change-from-baseline basis (B(t) - B(0) without the constant; post-baseline
  indicators for "visit"); x_ic = covariate c of patient i minus its smallest value
  (``covariates=``, e.g. ``("infusions",)``: the 6-infusion protocol's extra infusions shift
  every class's change from baseline by gamma per extra infusion; the 4-infusion protocol is
  the reference).
- patient effects, integrated out analytically per patient and class (``random=``):
  "intercept" (default) b_i0 ~ N(0, tau^2) (a growth mixture: the marginal covariance is
  sigma_z^2 I + tau^2 J, with closed-form inverse and determinant); "none" (classic GBTM);
  "intercept_slope" (b_i0, b_i1) ~ MvNormal(0, Sigma), s(t) = x(t) / span, by the 2 x 2
  Woodbury identity of ``trajectory.marginal_from_sums``.
- sigma_z: one residual SD shared by the classes or one per class (card ``residual_sd``).

Class membership is marginalised; there are no discrete parameters:

    log p(y_i | theta) = logsumexp_k [ log pi_ik + log N(y_i | class k) ],
    log pi_ik = log_softmax_k( log w_k + (v_i - vbar)' g_k ),  g_1 = 0,   w ~ Dirichlet(a 1_K)

with membership predictors v (``predictors=``, multinomial logit, class "1" the reference; w
are the shares at the predictors' means and ``class_share_concentration`` a is the named
Dirichlet prior). Each patient's log N(y_i | class k) is computed from per-patient sufficient
statistics (n, sum y, sum y^2, sum D, sum D y, sum D D'), so a gradient costs O(N K P^2).
Membership probabilities P(z_i = k | y, theta) are computed per draw afterwards.

Two outcomes (Nagin and Tremblay 2001). Dual (``k=(K1, K2)``): each outcome has its own
class variable, linked by the conditional table T = P(class_2 | class) (rows ~ Dirichlet):

    log p(y_i) = logsumexp_{k, j} [ log pi_ik + log T_kj + log N(y1_i | k) + log N(y2_i | j) ].

Shared (``shared=True``): one class variable, both outcomes' curves per class. A patient
missing one outcome entirely contributes only the other.

Labels. Classes are numbered "1".."K" by their mean at t*, the last scheduled visit common to
every protocol (day 7 in the real-world design), lowest first. The ordering is a constraint of
the model: theta_k0 (the class mean at t*) has an ordered transform, which identifies the labels
whenever the classes differ at t* (their curves are what distinguishes them; at t* the
real-world classes are 5-10 points apart). Where it does not identify them (classes close at
t*), the draws are relabelled afterwards (Stephens 2000: per draw the permutation that brings
its membership probabilities closest to their mean) and the classes numbered again by their
posterior mean at t*; the share of relabelled draws is reported. Chains in different modes (not
label permutations: their class shares, class means at t* or log density differ by more than
``mode_tolerance`` within-chain SDs) are detected and reported in ``fit.diagnostics()``
("reasons"): they are never averaged silently. The sampler starts from the best of several EM
fits of the plain model (``init_starts``).

Summary quantities (coordinates ``class``, ``class_2``, ``day``, ``protocol``, ``predictor``,
``covariate``): class_share (model share: mean over patients of pi_ik), class_share_assigned
(share whose most probable class in the draw is k), class_trajectory (class, day; at the
reference covariates), appa, occ, entropy (per draw: APPA = mean of the maximum membership
probability among patients assigned to the class; OCC = [APPA/(1-APPA)] / [share/(1-share)];
relative entropy 1 - sum(-p ln p)/(N ln K)), class_predictor (class, predictor: log-odds against
class "1" per unit), covariate_effect (covariate, day), sigma, sd_patient_intercept
(sd_patient_slope, corr_patient), response_rate / remission_rate (day, class, protocol: shares
of the trial's own patients in replicated data, class "all" and protocol "all" the margins;
a protocol's row on a day outside its schedule has no estimate and ``note = "not observed"``),
protocol_response_difference (day: the second protocol minus the first at matched milestones,
end of treatment and each follow-up, labelled by the first protocol's day). Two outcomes: the
second outcome's quantities carry the suffix ``_2`` (class_trajectory_2, response_rate_2,
...); dual models add class_share_2, appa_2, ..., conditional_class (class, class_2) =
P(class_2 | class), conditional_class_reverse (class_2, class) and joint_class.
Response: a percent improvement of at least the scale's response fraction (50%); remission:
score <= the registry's threshold (MADRS 10, GAD-7 4; ``remission_threshold=`` overrides).
End of treatment per protocol: the visit before the last infusion when the protocol column
counts infusions (the 4-infusion protocol: day 10; 6 infusions: day 11), else its last
scheduled day before any gap of more than a week; later visits are follow-up.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..data.trial import TrialData
from ..errors import BayesKetError, warn
from . import classes_post as post
from . import design as shared_mod
from .base import Family, Quantity

RANDOM = ("intercept", "none", "intercept_slope")
RESIDUAL_SD = ("shared", "class")
#: label identification: "auto" orders the class means at the ordering day where the EM fit's gaps
#: between them exceed ``order_separation`` standard errors, and relies on relabelling elsewhere
IDENTIFY = ("auto", "ordered", "relabel")
NOT_OBSERVED = "not observed"
COEF_NAMES = ("linear", "quadratic", "cubic")
#: priors of the class variables themselves (not repeated per outcome)
MEMBERSHIP_PRIORS = ("class_share_concentration", "conditional_class_concentration", "predictor_sigma")


def _scaled(base, scale):
    """A transform that moves NUTS in units near one posterior SD (``scaled_transform_class``)."""
    return scaled_transform_class()(base, scale)


@functools.lru_cache(maxsize=1)
def scaled_transform_class():
    """``ScaledTransform``, a subclass of PyMC's transform base class, built on first use so that
    ``import bayes_ket`` (and a bad request's error) never loads PyMC."""
    from pymc.logprob.transforms import Transform

    class ScaledTransform(Transform):
        """``base`` (log, or identity when None) followed by division by a constant ``scale``.

        Only the sampler's coordinates change (the prior is the same distribution): NUTS then
        moves every parameter in units near one posterior SD (residual SDs are known to ~2%, curve
        coefficients to a few points), so warm-up does not spend its first windows on a metric
        that is off by a factor of 200. Scales come from the design (EM fit, numbers of rows).
        """

        name = "scaled"

        def __init__(self, base, scale):
            self.base = base
            self.scale = np.asarray(scale, float)

        def forward(self, value, *inputs):
            x = value if self.base is None else self.base.forward(value, *inputs)
            return x / self.scale

        def backward(self, value, *inputs):
            x = value * self.scale
            return x if self.base is None else self.base.backward(x, *inputs)

        def log_jac_det(self, value, *inputs):
            import pytensor.tensor as pt

            if self.base is None:
                return pt.zeros_like(value) + np.log(self.scale)
            base = self.base.log_jac_det(value * self.scale, *inputs)
            if self.base.name in ("ordered", "simplex"):  # their log-Jacobian is summed over the last axis
                return base + pt.sum(pt.zeros_like(value) + np.log(self.scale), axis=-1)
            return base + np.log(self.scale)

    return ScaledTransform


# ---- design ------------------------------------------------------------------------------------
@dataclass
class OutcomeDesign:
    """One outcome's arrays: its scale facts, rows and per-patient sufficient statistics."""

    column: str
    lo: float
    hi: float
    response: float | None
    remission: float | None
    stats: dict
    observed: np.ndarray  # (N, model days) bool: patient observed on that day
    n_rows: int

    @property
    def range(self) -> float:
        return float(self.hi - self.lo)


@dataclass
class ClassesDesign:
    """Everything the model needs, as arrays (built by ``ClassesFamily.design``)."""

    structure: str  # "single", "dual", "shared"
    k: tuple
    outcomes: list
    time: str
    degree: int
    random: str
    residual_sd: str
    predictors: list
    covariates: list
    rows: pd.DataFrame
    patients: list
    model_days: np.ndarray
    summary_days: np.ndarray
    order_day: float
    x_star: float
    span: float
    V: np.ndarray  # (N, predictors) centred
    pred_ref: np.ndarray
    pred_sd: np.ndarray
    X: np.ndarray  # (N, covariates) minus reference
    cov_ref: np.ndarray
    cov_sd: np.ndarray
    protocol_column: str | None
    protocol: np.ndarray  # (N,) protocol label per patient ("all" without a protocol column)
    protocols: list
    schedule: dict  # protocol -> list of scheduled days
    milestones: dict  # protocol -> {"end_of_treatment": day, "follow_up": [days]}
    init: dict
    settings: dict
    exclusions: shared_mod.Exclusions = field(default_factory=shared_mod.Exclusions)
    fit_report: dict = field(default_factory=dict)  # set by derive, read by describe

    # --- bases ---
    @property
    def q(self) -> int:
        return len(self.model_days) if self.time == "visit" else self.degree + 1

    @property
    def level_index(self) -> int:
        """Column of B holding the class mean at the ordering day."""
        return int(np.flatnonzero(self.model_days == self.order_day)[0]) if self.time == "visit" else 0

    def x(self, days) -> np.ndarray:
        days = np.asarray(days, float)
        return days if self.time == "linear" else np.log1p(days)

    def basis(self, days) -> np.ndarray:
        """B(t): (days, q)."""
        days = np.asarray(days, float)
        if self.time == "visit":
            return (days[:, None] == self.model_days[None, :]).astype(float)
        u = (self.x(days) - self.x_star) / self.span
        return np.stack([u**j for j in range(self.degree + 1)], axis=1)

    def change_basis(self, days) -> np.ndarray:
        """Bc(t): (days, qc), zero at baseline."""
        days = np.asarray(days, float)
        if self.time == "visit":
            post_days = self.model_days[self.model_days > 0]
            return (days[:, None] == post_days[None, :]).astype(float)
        return self.basis(days)[:, 1:] - self.basis(np.zeros(1))[:, 1:]

    def slope(self, days) -> np.ndarray:
        return (np.log1p(np.asarray(days, float)) if self.time == "visit" else self.x(days)) / self.slope_span

    @property
    def slope_span(self) -> float:
        x = np.log1p(self.model_days) if self.time == "visit" else self.x(self.model_days)
        return float(x.max() - x.min()) or 1.0

    @property
    def qc(self) -> int:
        return int((self.model_days > 0).sum()) if self.time == "visit" else self.degree

    def row_design(self, days, patient_idx) -> np.ndarray:
        """D = [B(t), x_i1 Bc(t), x_i2 Bc(t), ...] for rows (days, patient index)."""
        B = self.basis(days)
        if not self.covariates:
            return B
        Bc = self.change_basis(days)
        blocks = [self.X[patient_idx, c][:, None] * Bc for c in range(len(self.covariates))]
        return np.concatenate([B, *blocks], axis=1)

    @property
    def post_days(self) -> np.ndarray:
        return self.summary_days[self.summary_days > 0]

    @property
    def class_dims(self) -> list:
        """(dim, K, outcome indices) per class variable."""
        if self.structure == "dual":
            return [("class", self.k[0], [0]), ("class_2", self.k[1], [1])]
        return [("class", self.k[0], list(range(len(self.outcomes))))]

    def dim_of(self, o: int) -> str:
        return "class_2" if self.structure == "dual" and o == 1 else "class"

    def k_of(self, o: int) -> int:
        return self.k[1] if self.structure == "dual" and o == 1 else self.k[0]

    def labels(self, K: int) -> list:
        return [str(i + 1) for i in range(K)]


def _suffix(o: int) -> str:
    return "" if o == 0 else "_2"


def _as_list(value) -> list:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _patient_columns(rows: pd.DataFrame, columns: list, what: str, option: str, excl) -> pd.DataFrame:
    """Patient-level numeric columns (predictors / covariates): present, numeric, constant within
    patient; patients missing one are excluded with a warning naming the column."""
    for c in columns:
        if c not in rows:
            raise BayesKetError(f"{option} names column {c!r}, which the trial does not have. "
                                f"Fix: choose from {sorted(set(rows.columns) - {'patient', 'day', 'period'})}.")
        if not pd.api.types.is_numeric_dtype(rows[c]):
            raise BayesKetError(f"{what} column {c!r} is not numeric. Fix: code it as numbers (e.g. 0/1).")
        varies = rows.groupby("patient")[c].nunique(dropna=True) > 1
        if varies.any():
            raise BayesKetError(f"{what} column {c!r} changes within patients ({', '.join(map(str, varies[varies].index[:3]))}"
                                "): it must be patient-level. Fix: use its baseline value.")
        missing = rows.groupby("patient")[c].transform(lambda s: s.isna().all())
        if missing.any():
            n_pat = rows.loc[missing, "patient"].nunique()
            warn(f"{n_pat} of {rows['patient'].nunique()} patients have no value for {what.lower()} {c!r}: they "
                 f"are excluded from this fit. Fix: supply the values, or leave {c!r} out of {option}.")
            rows = excl.drop(rows, missing, f"{what.lower()} {c} missing")
    return rows


def _parse_structure(k, outcome, shared_classes, settings):
    """(structure, ks, outcomes) from k=, outcome=, shared=."""
    outcomes = _as_list(outcome) or [settings.get("outcome", "madrs_total")]
    k = settings.get("k", 4) if k is None else k
    ks = tuple(k) if isinstance(k, (tuple, list)) else (k,)
    for value in ks:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise BayesKetError(f"k={k!r}: the number of classes must be a whole number >= 1 "
                                "(or k=(K1, K2) for linked classes of two outcomes).")
    ks = tuple(int(v) for v in ks)
    if len(outcomes) > 2:
        raise BayesKetError(f"outcome={outcome!r}: at most two outcomes (dual trajectories).")
    if len(ks) > 2:
        raise BayesKetError(f"k={k!r}: one number of classes, or two (K1, K2) for linked classes.")
    if shared_classes:
        if len(outcomes) != 2:
            raise BayesKetError("shared=True fits one class variable to two outcomes. "
                                "Fix: pass outcome=('madrs_total', 'gad7_total').")
        if len(ks) != 1:
            raise BayesKetError(f"shared=True has one class variable: pass k=<number>, not k={k!r}.")
        return "shared", ks, outcomes
    if len(ks) == 2:
        if len(outcomes) != 2:
            raise BayesKetError(f"k={k!r} asks for linked classes of two outcomes, but outcome={outcome!r} names "
                                "one. Fix: outcome=('madrs_total', 'gad7_total'), or a single k.")
        return "dual", ks, outcomes
    if len(outcomes) == 2:
        raise BayesKetError(f"Two outcomes {outcomes} with k={k!r}. Fix: k=(K1, K2) for linked classes (dual "
                            "trajectories), or shared=True for one class variable over both outcomes.")
    return "single", ks, outcomes


def _schedules(rows: pd.DataFrame, protocol: pd.Series, model_days: np.ndarray, min_share: float) -> dict:
    """Protocol -> scheduled days: days on which at least ``min_share`` of its patients were seen."""
    out = {}
    per_patient = rows.drop_duplicates(["patient", "day"])
    for p in sorted(protocol.unique(), key=_protocol_key):
        pats = protocol.index[protocol == p]
        seen = per_patient[per_patient["patient"].isin(pats)].groupby("day")["patient"].nunique() / len(pats)
        out[p] = [float(d) for d in model_days if seen.get(d, 0.0) >= min_share]
    return out


def _protocol_key(p):
    try:
        return (0, float(p))
    except (TypeError, ValueError):
        return (1, str(p))


def _milestones(schedule: dict, protocol_column, end_of_treatment) -> dict:
    """Protocol -> end of treatment and follow-up days (see the module docstring)."""
    out = {}
    for p, days in schedule.items():
        days = sorted(d for d in days if d > 0)
        if not days:
            continue
        eot = None
        if isinstance(end_of_treatment, dict):
            eot = end_of_treatment.get(p, end_of_treatment.get(_protocol_key(p)[1] if _protocol_key(p)[0] == 0 else p))
            eot = None if eot is None else float(eot)
        elif protocol_column == "infusions" and _protocol_key(p)[0] == 0:
            n_inf = int(float(p))
            sched = sorted(schedule[p])  # baseline + the visit before each later infusion
            eot = float(sched[n_inf - 1]) if 1 <= n_inf <= len(sched) else None
        if eot is None:  # the last day before a gap of more than a week
            eot = days[-1]
            for a, b in zip(days, days[1:]):
                if b - a > 7:
                    eot = a
                    break
        out[p] = {"end_of_treatment": eot, "follow_up": [d for d in days if d > eot]}
    return out


class ClassesFamily(Family):
    """Latent trajectory classes (group-based trajectory modelling); see the module docstring."""

    name = "classes"
    coordinate_columns = ("class", "class_2", "day", "protocol", "predictor", "covariate")
    dim_names = {"class_contrast": "class", "class_all": "class", "class_2_all": "class_2", "day_post": "day",
                 "day_obs": "day", "day_milestone": "day"}

    # ---- data -> design ------------------------------------------------------------------
    def design(self, trial: TrialData, card, outcome=None, moderators=None, time=None, k=None, degree=None,
               random=None, predictors=None, covariates=None, shared=False, residual_sd=None,
               remission_threshold=None, protocol=None, end_of_treatment=None, order_day=None) -> ClassesDesign:
        """Validate the request (before anything is compiled) and build the design.

        k: number of classes (K), or (K1, K2) with two outcomes (linked classes); shared=True: one
        class variable over two outcomes. outcome: a total-score column or two. time: "log"
        (card default), "linear" or "visit"; degree: 1-3 (polynomial bases). random: "intercept"
        (default), "none", "intercept_slope". predictors: patient-level columns predicting class
        membership (multinomial logit). covariates: patient-level columns shifting every class's
        change from baseline (e.g. ("infusions",)). residual_sd: "shared" or "class".
        protocol: the protocol column (card default "infusions" when present). end_of_treatment:
        {protocol: day} overriding the rule of the module docstring. order_day: the day whose class
        means order the labels (default: the last scheduled day common to every protocol).
        """
        settings = dict(card.settings)
        if moderators:
            raise BayesKetError(f"moderators={moderators!r}: the classes model has predictors= (of class "
                                "membership) and covariates= (shifting the trajectories) instead.")
        structure, ks, outcomes = _parse_structure(k, outcome, shared, settings)
        time = time or settings.get("time", "log")
        if time not in shared_mod.TIME_BASES:
            raise BayesKetError(f"time={time!r} is not a time basis. Fix: use one of {shared_mod.TIME_BASES}.")
        degree = settings.get("degree", 2) if degree is None else degree
        if time != "visit" and (isinstance(degree, bool) or degree not in (1, 2, 3)):
            raise BayesKetError(f"degree={degree!r}: the class curves are polynomials of degree 1, 2 or 3.")
        random = random or settings.get("random", "intercept")
        if random not in RANDOM:
            raise BayesKetError(f"random={random!r} is not a residual structure. Fix: use one of {RANDOM}.")
        residual_sd = residual_sd or settings.get("residual_sd", "shared")
        if residual_sd not in RESIDUAL_SD:
            raise BayesKetError(f"residual_sd={residual_sd!r}. Fix: use one of {RESIDUAL_SD}.")
        frame = trial.frame
        scales = []
        for o, column in enumerate(outcomes):
            try:
                scales.append(shared_mod.outcome_scale(trial, column))
            except BayesKetError as e:
                if o == 1:
                    kind = "linked (dual) model" if structure == "dual" else "shared-class model"
                    raise BayesKetError(f"The {kind}'s second outcome: {e}") from None
                raise
        predictors = _as_list(predictors)
        covariates = _as_list(covariates)
        both = set(predictors) & set(covariates)
        excl = shared_mod.Exclusions()
        rows = excl.drop(frame.copy(), frame[outcomes].isna().all(axis=1),
                         " and ".join(outcomes) + " missing")
        rows = _patient_columns(rows, predictors, "Predictor", "predictors=", excl)
        rows = _patient_columns(rows, [c for c in covariates if c not in both], "Covariate", "covariates=", excl)
        if rows.empty:
            raise BayesKetError(f"No rows left to fit: {excl.summary()}. Fix: check {outcomes} and the predictors.")
        rows = shared_mod.with_ids(rows)
        if rows["period"].nunique() > 1:
            raise BayesKetError("Column 'period' has several periods (a crossover design): trajectory classes "
                                "need one series per patient. Fix: fit one period at a time.")
        patients = list(pd.unique(rows["patient"]))
        N = len(patients)
        K_max = max(ks)
        per_class = int(settings.get("min_patients_per_class", 5))
        if N < per_class * K_max:
            raise BayesKetError(
                f"k={k if k is not None else ks[0]!r}: {K_max} classes need at least {per_class * K_max} patients "
                f"({per_class} per class); the trial has {N} patients with {' or '.join(outcomes)} observed. "
                f"Fix: k <= {max(1, N // per_class)}.")
        for o, column in enumerate(outcomes):
            seen = rows.groupby("patient")[column].apply(lambda s: s.notna().any())
            if not seen.any():
                raise BayesKetError(f"Column {column!r} has no observed values in the rows used. Fix: choose "
                                    f"outcome= from {trial.outcomes}.")
        model_days, summary_days = shared_mod.visit_days(rows, time, settings)
        if not (model_days == 0).any():
            raise BayesKetError("No baseline (day 0) visit: response and remission are changes from baseline. "
                                "Fix: include the day-0 scores.")
        pidx = pd.Categorical(rows["patient"], categories=patients).codes
        ptab = rows.drop_duplicates("patient").set_index("patient").loc[patients]

        # protocols and schedules
        protocol_column = protocol if protocol is not None else settings.get("protocol_column", "infusions")
        if protocol is not None and protocol not in frame:
            raise BayesKetError(f"protocol={protocol!r} is not a column of the trial.")
        if protocol_column in rows and rows[protocol_column].notna().all():
            if (rows.groupby("patient")[protocol_column].nunique() > 1).any():
                raise BayesKetError(f"Column {protocol_column!r} changes within patients: the protocol must be "
                                    "patient-level.")
            prot = ptab[protocol_column].map(lambda v: f"{v:g}" if isinstance(v, (int, float, np.number)) else str(v))
        else:
            protocol_column = None
            prot = pd.Series("all", index=ptab.index)
        schedule = _schedules(rows, prot, model_days, float(settings.get("schedule_min_share", 0.25)))
        milestones = _milestones(schedule, protocol_column, end_of_treatment or settings.get("end_of_treatment"))
        order_day = settings.get("order_day") if order_day is None else order_day
        if order_day is None:
            common = set.intersection(*(set(d) for d in schedule.values())) if schedule else {0.0}
            order_day = max(common) if common else 0.0
            if order_day == 0 and (model_days > 0).any():
                order_day = float(np.median(model_days[model_days > 0]))
                order_day = float(model_days[np.argmin(np.abs(model_days - order_day))])
                warn(f"No post-baseline visit is scheduled for every protocol: classes are ordered by their mean "
                     f"at day {order_day:g}. Fix: pass order_day= to choose the day.")
        order_day = float(order_day)
        if order_day not in set(model_days.tolist()):
            raise BayesKetError(f"order_day={order_day:g} is not a day of the data ({model_days.tolist()}).")

        # membership predictors (centred) and trajectory covariates (minus their reference)
        V = ptab[predictors].to_numpy(float).reshape(N, len(predictors))
        pred_ref, pred_sd = V.mean(axis=0), V.std(axis=0, ddof=1) if N > 1 else np.ones(len(predictors))
        for c, s in zip(predictors, np.atleast_1d(pred_sd)):
            if not s > 0:
                raise BayesKetError(f"Predictor {c!r} does not vary over patients. Fix: drop it from predictors=.")
        X = ptab[covariates].to_numpy(float).reshape(N, len(covariates))
        cov_ref = X.min(axis=0) if len(covariates) else np.zeros(0)
        cov_sd = X.std(axis=0, ddof=1) if len(covariates) and N > 1 else np.ones(len(covariates))
        for c, s in zip(covariates, np.atleast_1d(cov_sd)):
            if not s > 0:
                raise BayesKetError(f"Covariate {c!r} does not vary over patients. Fix: drop it from covariates=.")

        x_all = model_days if time == "linear" else np.log1p(model_days)
        span = float(x_all.max() - x_all.min()) or 1.0
        x_star = float(order_day if time == "linear" else np.log1p(order_day))
        d = ClassesDesign(
            structure=structure, k=ks, outcomes=[], time=time, degree=int(degree), random=random,
            residual_sd=residual_sd, predictors=predictors, covariates=covariates, rows=rows.reset_index(drop=True),
            patients=patients, model_days=model_days, summary_days=summary_days, order_day=order_day,
            x_star=x_star, span=span, V=V - pred_ref, pred_ref=pred_ref, pred_sd=np.atleast_1d(pred_sd),
            X=X - cov_ref, cov_ref=cov_ref, cov_sd=np.atleast_1d(cov_sd), protocol_column=protocol_column,
            protocol=prot.to_numpy().astype(str), protocols=list(schedule), schedule=schedule,
            milestones=milestones, init={}, settings=settings, exclusions=excl)
        for o, (column, scale) in enumerate(zip(outcomes, scales)):
            seen = rows[column].notna().to_numpy()
            r = rows[seen]
            idx = pidx[seen]
            D = d.row_design(r["day"].to_numpy(float), idx)
            st = post.suff_stats(D, r[column].to_numpy(float), idx, N,
                                 d.slope(r["day"].to_numpy(float)) if random == "intercept_slope" else None)
            observed = np.zeros((N, len(model_days)), bool)
            observed[idx, np.searchsorted(model_days, r["day"].to_numpy(float))] = True
            lo, hi = scale.range
            thr = shared_mod.remission_threshold(scale, card, remission_threshold if o == 0 else None)
            d.outcomes.append(OutcomeDesign(column, float(lo), float(hi), scale.response, thr, st, observed, len(r)))
        d.init = self._initial_values(d)
        return d

    def _initial_values(self, d: ClassesDesign) -> dict:
        """The sampler's starting point: the best of ``init_starts`` EM fits of the plain model."""
        rng = np.random.default_rng(int(d.settings.get("init_seed", 0)))
        starts = int(d.settings.get("init_starts", 8))
        init = {}
        groups = [[0]] if d.structure == "dual" else [list(range(len(d.outcomes)))]
        if d.structure == "dual":
            groups.append([1])
        resps = []
        for (dim, K, outs), _ in zip(d.class_dims, groups):
            em = post.em_start([d.outcomes[o].stats for o in outs], d.q, K, rng, starts=starts,
                               intercept=d.random != "none")
            level = em["theta"][0][:, d.level_index]
            order = np.argsort(level)
            resps.append(em["resp"][:, order])
            pi = np.clip(em["pi"][order], 0.02, None)
            init[f"weight:{dim}"] = pi / pi.sum()
            for j, o in enumerate(outs):
                theta = em["theta"][j][order]
                gap = 1e-3 * d.outcomes[o].range
                lev = theta[:, d.level_index]
                if j == 0:
                    lev = np.maximum.accumulate(lev + gap * np.arange(K))
                init[f"level{_suffix(o)}"] = lev
                init[f"coef{_suffix(o)}"] = np.delete(theta, d.level_index, axis=1)
                s2, t2 = em["s2"][j], em["tau2"][j]
                sig2 = s2
                init[f"sigma{_suffix(o)}"] = np.sqrt(sig2) * (np.ones(K) if d.residual_sd == "class" else 1.0)
                init[f"tau{_suffix(o)}"] = np.sqrt(t2)
                # sampler scales: about 1.5 posterior SDs (Fisher information of the EM fit)
                st = d.outcomes[o].stats
                resp = em["resp"][:, order]
                c = t2 / (s2 + st["n"] * t2)  # generalised least squares with the patient intercept
                SD = st["SD"][:, : d.q]
                gls = st["SDD"][:, : d.q, : d.q] - c[:, None, None] * SD[:, :, None] * SD[:, None, :]
                info = np.einsum("nk,npq->kpq", resp, gls) / s2 + 1e-6 * np.eye(d.q)
                se = np.sqrt(np.clip(np.diagonal(np.linalg.inv(info), axis1=1, axis2=2), 1e-6, None))
                if j == 0:  # does an ordering of the class means at the ordering day identify the labels?
                    se_l = se[:, d.level_index]
                    z = np.diff(lev) / np.sqrt(se_l[1:] ** 2 + se_l[:-1] ** 2) if K > 1 else np.array([np.inf])
                    rule = d.settings.get("identify", "auto")
                    if rule not in IDENTIFY:
                        raise BayesKetError(f"Card setting identify={rule!r}. Fix: use one of {IDENTIFY}.")
                    init[f"ordered:{dim}"] = bool(K > 1 and (rule == "ordered" or (
                        rule == "auto" and z.min() >= float(d.settings.get("order_separation", 6.0)))))
                    init[f"gap_z:{dim}"] = float(z.min()) if K > 1 else None
                init[f"scale:coef{_suffix(o)}"] = np.clip(2.0 * np.delete(se, d.level_index, axis=1), 0.05, None)
                # ordered levels: the first in points, the others as log gaps (SD ~ se / gap)
                gaps = np.ones(K - 1)
                se_lev = se[:, d.level_index]
                ordered_here = j == 0 and init[f"ordered:{dim}"]
                init[f"scale:level{_suffix(o)}"] = (np.concatenate([[1.5 * se_lev[0]], np.full(len(gaps), 0.3)])
                                                    if ordered_here else np.clip(2.0 * se_lev, 0.05, None))
                n_rows = max(float(st["n"].sum()), 2.0)
                init[f"scale:sigma{_suffix(o)}"] = 1.5 / np.sqrt(2.0 * n_rows / (K if d.residual_sd == "class" else 1))
                init[f"scale:tau{_suffix(o)}"] = 2.0 / np.sqrt(2.0 * max(int((st["n"] > 0).sum()), 2))
                if d.covariates:
                    P = st["SDD"].shape[1]
                    info_c = st["SDD"][:, d.q:, d.q:].sum(axis=0) / s2 + 1e-6 * np.eye(P - d.q)
                    se_c = np.sqrt(np.clip(np.diag(np.linalg.inv(info_c)), 1e-6, None))
                    init[f"scale:covariate{_suffix(o)}"] = np.clip(3.0 * se_c.reshape(len(d.covariates), -1), 0.05, None)
        if d.structure == "dual":
            T = resps[0].T @ resps[1] + 0.5
            init["conditional"] = T / T.sum(axis=1, keepdims=True)
        return init

    # ---- priors ----------------------------------------------------------------------------
    def priors(self, card, d: ClassesDesign, overrides=None) -> dict:
        """Card prior specs as numbers: "range" scales by the outcome's range; with two outcomes the
        second outcome's scaled priors are repeated with the suffix ``_2`` (scaled by its range)."""
        def scaled(spec, o):
            return float(spec["value"]) * (d.outcomes[o].range if spec.get("scale", "one") != "one" else 1.0)

        out = {name: scaled(spec, 0) for name, spec in card.priors.items()}
        if len(d.outcomes) == 2:
            out.update({f"{name}_2": scaled(spec, 1) for name, spec in card.priors.items()
                        if name not in MEMBERSHIP_PRIORS})
        for name, value in (overrides or {}).items():
            if name not in out:
                raise BayesKetError(f"priors= names {name!r}, which model {card.name!r} does not have. "
                                    f"Fix: use one of {sorted(out)}.")
            value = float(value)
            if not value > 0 and not name.endswith("_mu") and not name.endswith("_mu_2"):
                raise BayesKetError(f"Prior {name!r} must be positive, got {value}. Fix: pass a positive scale.")
            out[name] = value
        return out

    # ---- model -------------------------------------------------------------------------------
    def build_model(self, d: ClassesDesign, priors: dict):
        import pymc as pm
        import pytensor.tensor as pt
        from pymc.distributions.transforms import log, ordered, simplex

        N = len(d.patients)
        coords = {"patient": [str(p) for p in d.patients], "day": d.summary_days,
                  "coef": (list(COEF_NAMES[: d.degree]) if d.time != "visit"
                           else [f"day {x:g}" for x in np.delete(d.model_days, d.level_index)])}
        for dim, K, _ in d.class_dims:
            coords[dim] = d.labels(K)
        if d.predictors:
            coords["predictor"] = d.predictors
            coords["class_contrast"] = d.labels(d.k[0])[1:]
        if d.covariates:
            coords["covariate"] = d.covariates
            coords["coef_change"] = (list(COEF_NAMES[: d.degree]) if d.time != "visit"
                                     else [f"day {x:g}" for x in d.model_days[d.model_days > 0]])
        Bsum = d.basis(d.summary_days)
        Bc_sum = d.change_basis(d.summary_days)
        with pm.Model(coords=coords) as model:
            hp = {name: pm.Data(name, float(value)) for name, value in priors.items()}
            weight_data = pm.Data("patient_weight", np.ones(N), dims="patient")
            logpi = {}
            for dim, K, _ in d.class_dims[:1]:
                if K == 1:
                    logpi[dim] = pt.zeros((N, 1))
                    w = pt.ones(1)
                else:
                    w = pm.Dirichlet("class_weight", a=pt.ones(K) * hp["class_share_concentration"], dims=dim,
                                     initval=d.init[f"weight:{dim}"], transform=_scaled(simplex, 0.25), default_transform=None)
                    eta = pt.log(w)[None, :]
                    if d.predictors:
                        inv_sd = pm.Data("predictor_inv_sd", 1.0 / d.pred_sd, dims="predictor")
                        g = pm.Normal("predictor_coef", 0.0, hp["predictor_sigma"] * inv_sd[None, :],
                                      dims=("class_contrast", "predictor"))
                        G = pt.concatenate([pt.zeros((1, len(d.predictors))), g], axis=0)
                        pm.Deterministic("membership_coef", G, dims=(dim, "predictor"))
                        eta = eta + pm.Data("predictors", d.V, dims=("patient", "predictor")) @ G.T
                    logpi[dim] = eta - pt.logsumexp(eta, axis=1, keepdims=True)
                share = pt.exp(logpi[dim]).mean(axis=0)
                pm.Deterministic("class_share", share if K > 1 else pt.ones(1), dims=dim)
            lls = []
            for o, od in enumerate(d.outcomes):
                sfx = _suffix(o)
                dim, K = d.dim_of(o), d.k_of(o)
                st = {name: pm.Data(f"stats{sfx}_{name}", value) for name, value in od.stats.items()}
                lev_kw = {"initval": d.init[f"level{sfx}"]}
                if K > 1 and (o == 0 or d.structure == "dual") and d.init[f"ordered:{dim}"]:
                    lev_kw["transform"] = _scaled(ordered, d.init[f"scale:level{sfx}"])
                else:
                    lev_kw["transform"] = _scaled(None, d.init[f"scale:level{sfx}"])
                level = pm.Normal(f"class_level{sfx}", hp[f"class_level_mu{sfx}"], hp[f"class_level_sigma{sfx}"],
                                  dims=dim, **lev_kw)
                coef_kw = {"dims": (dim, "coef"), "initval": d.init[f"coef{sfx}"],
                           "transform": _scaled(None, d.init[f"scale:coef{sfx}"])}
                if d.time == "visit":
                    coef = pm.Normal(f"class_coef{sfx}", hp[f"class_level_mu{sfx}"], hp[f"class_level_sigma{sfx}"],
                                     **coef_kw)
                else:
                    coef = pm.Normal(f"class_coef{sfx}", 0.0, hp[f"class_coef_sigma{sfx}"], **coef_kw)
                li = d.level_index
                theta = pt.concatenate([coef[:, :li], level[:, None], coef[:, li:]], axis=1)  # (K, q)
                if d.covariates:
                    inv = pm.Data(f"covariate_inv_sd{sfx}", 1.0 / d.cov_sd, dims="covariate")
                    gamma = pm.Normal(f"covariate_coef{sfx}", 0.0, hp[f"covariate_sigma{sfx}"] * inv[:, None],
                                      dims=("covariate", "coef_change"),
                                      transform=_scaled(None, d.init[f"scale:covariate{sfx}"]))
                    theta_full = pt.concatenate([theta, pt.tile(gamma.reshape((1, -1)), (K, 1))], axis=1)
                    pm.Deterministic(f"covariate_effect{sfx}", gamma @ pm.Data(f"summary_Bc{sfx}", Bc_sum.T),
                                     dims=("covariate", "day"))
                else:
                    theta_full = theta
                sig_kw = {"dims": dim} if d.residual_sd == "class" else {}
                sigma = pm.HalfNormal(f"sigma{sfx}", hp[f"sigma_sigma{sfx}"], initval=d.init[f"sigma{sfx}"],
                                      transform=_scaled(log, d.init[f"scale:sigma{sfx}"]), default_transform=None,
                                      **sig_kw)
                tau = corr = None
                if d.random == "intercept":
                    tau = pm.HalfNormal(f"sd_patient_intercept{sfx}", hp[f"sd_patient_intercept_sigma{sfx}"],
                                        initval=d.init[f"tau{sfx}"], transform=_scaled(log, d.init[f"scale:tau{sfx}"]),
                                        default_transform=None)
                elif d.random == "intercept_slope":
                    t0 = pm.HalfNormal(f"sd_patient_intercept{sfx}", hp[f"sd_patient_intercept_sigma{sfx}"],
                                       initval=d.init[f"tau{sfx}"], transform=_scaled(log, d.init[f"scale:tau{sfx}"]),
                                        default_transform=None)
                    t1 = pm.HalfNormal(f"sd_patient_slope{sfx}", hp[f"sd_patient_slope_sigma{sfx}"],
                                       initval=0.5 * d.init[f"tau{sfx}"])
                    corr = pm.Deterministic(f"corr_patient{sfx}", 2.0 * pm.Beta(
                        f"patient_corr_unit{sfx}", hp[f"corr_patient_eta{sfx}"], hp[f"corr_patient_eta{sfx}"]) - 1.0)
                    tau = pt.stack([t0, t1])
                pm.Deterministic(f"class_trajectory{sfx}", theta @ pm.Data(f"summary_B{sfx}", Bsum.T),
                                 dims=(dim, "day"))
                lls.append(post.class_loglik(st, theta_full, sigma, d.random, tau, corr, lib=pt))
            if d.structure == "single":
                joint = logpi["class"] + lls[0]
            elif d.structure == "shared":
                joint = logpi["class"] + lls[0] + lls[1]
            else:
                K1, K2 = d.k
                if K2 == 1:
                    T = pt.ones((K1, 1))
                else:
                    T = pm.Dirichlet("conditional_class", a=pt.ones((K1, K2)) * hp["conditional_class_concentration"],
                                     dims=("class", "class_2"), initval=d.init["conditional"],
                                     transform=_scaled(simplex, 1.0), default_transform=None)
                pi = pt.exp(logpi["class"])  # (N, K1)
                joint_share = (pi[:, :, None] * T[None, :, :]).mean(axis=0)
                pm.Deterministic("joint_class", joint_share, dims=("class", "class_2"))
                pm.Deterministic("class_share_2", joint_share.sum(axis=0), dims="class_2")
                pm.Deterministic("conditional_class_reverse", (joint_share / joint_share.sum(axis=0, keepdims=True)).T,
                                 dims=("class_2", "class"))
                joint = logpi["class"][:, :, None] + pt.log(T)[None, :, :] + lls[0][:, :, None] + lls[1][:, None, :]
            flat = joint.reshape((N, -1))
            marginal = pt.logsumexp(flat, axis=1)
            pm.Potential("y_marginal", pt.sum(weight_data * marginal))
            membership = flat - marginal[:, None]
        # one extra expression (one compilation): log membership probabilities (flattened over the
        # class variables), then the patient's marginal log-likelihood in the last column
        return model, {"patient_terms": pt.concatenate([membership, marginal[:, None]], axis=1)}

    # ---- draws -> quantities ------------------------------------------------------------------
    def derive(self, d: ClassesDesign, idata, extras, rng) -> None:
        from .classes_derive import derive

        derive(self, d, idata, extras, rng)

    def quantities(self, d: ClassesDesign) -> list[Quantity]:
        pp = "posterior_predictive"
        q = []
        multi = len(d.outcomes) == 2
        for dim, K, outs in d.class_dims:
            sfx = "" if dim == "class" else "_2"
            q += [Quantity(f"class_share{sfx}"), Quantity(f"class_share_assigned{sfx}"), Quantity(f"appa{sfx}")]
            if K > 1:
                q += [Quantity(f"occ{sfx}"), Quantity(f"entropy{sfx}")]
        q.append(Quantity("class_trajectory"))
        if multi:
            q.append(Quantity("class_trajectory_2"))
        if d.predictors and d.k[0] > 1:
            q.append(Quantity("class_predictor", source="predictor_coef"))
        if d.structure == "dual":
            if d.k[1] > 1:
                q.append(Quantity("conditional_class"))
            q += [Quantity("conditional_class_reverse"), Quantity("joint_class")]
        for o, od in enumerate(d.outcomes):
            sfx = _suffix(o)
            if d.covariates:
                q.append(Quantity(f"covariate_effect{sfx}"))
            q.append(Quantity(f"sigma{sfx}"))
            if d.random != "none":
                q.append(Quantity(f"sd_patient_intercept{sfx}"))
            if d.random == "intercept_slope":
                q += [Quantity(f"sd_patient_slope{sfx}"), Quantity(f"corr_patient{sfx}")]
            if od.response is not None:
                q.append(Quantity(f"response_rate{sfx}", pp, missing_note=NOT_OBSERVED))
            if od.remission is not None:
                q.append(Quantity(f"remission_rate{sfx}", pp, missing_note=NOT_OBSERVED))
            if od.response is not None and len(d.milestones) == 2:
                q.append(Quantity(f"protocol_response_difference{sfx}", pp, missing_note=NOT_OBSERVED))
        return q

    def loo_unit(self, d) -> str:
        return "patient"

    def describe(self, d: ClassesDesign) -> dict:
        rows = d.rows
        vm = []
        for od in d.outcomes[:1]:
            g = rows[rows[od.column].notna()].groupby("day")[od.column].agg(["mean", "count", "std"]).reset_index()
            vm = g.assign(arm=0).to_dict("records")
        return {
            "outcome": d.outcomes[0].column,
            "outcomes": [od.column for od in d.outcomes],
            "structure": d.structure,
            "k": list(d.k),
            "time": d.time,
            "degree": d.degree,
            "random": d.random,
            "residual_sd": d.residual_sd,
            "predictors": d.predictors,
            "predictor_reference": dict(zip(d.predictors, d.pred_ref.tolist())),
            "covariates": d.covariates,
            "covariate_reference": dict(zip(d.covariates, d.cov_ref.tolist())),
            "moderators": [],
            "has_arm": False,
            "study_level": "none",
            "n_patients": len(d.patients),
            "rows_used": len(rows),
            "order_day": d.order_day,
            "protocol_column": d.protocol_column,
            "schedule": d.schedule,
            "milestones": d.milestones,
            "remission_threshold": {od.column: od.remission for od in d.outcomes},
            "observed_visit_means": vm,
            **d.fit_report,
            **shared_mod.excluded_meta(d.exclusions),
        }

    def figures(self) -> dict:
        from ..plots import classes as plots

        return {"ppc": plots.plot_ppc, "classes": plots.plot_class_trajectories,
                "membership": plots.plot_membership, "conditional": plots.plot_conditional,
                "predictors": plots.plot_predictors}

    def methods(self) -> dict:
        from .classes_derive import membership

        return {"membership": membership}

    # ---- calibration ----------------------------------------------------------------------------
    def prior_draws(self, model, n: int, rng) -> list[dict]:
        """Forward draws with the classes numbered as the fit numbers them: by their level (the mean at
        the ordering day), lowest first, every class-indexed variable permuted alike (the ordered prior
        is the exchangeable prior numbered so; without the constraint the fit's relabelling numbers
        its classes the same way). Predictor contrasts are taken against the new class 1."""
        draws = super().prior_draws(model, n, rng)
        dims = model.named_vars_to_dims
        levels = {"class": "class_level", "class_2": "class_level_2" if "class_2" in model.coords else None}
        for draw in draws:
            if "membership_coef" in draw:
                draw["membership_coef"] = np.concatenate(
                    [np.zeros((1, draw["predictor_coef"].shape[1])), np.asarray(draw["predictor_coef"])], axis=0)
            for dim, level in levels.items():
                if level is None or level not in draw:
                    continue
                order = np.argsort(np.asarray(draw[level]), kind="stable")
                for name, value in draw.items():
                    for axis, name_dim in enumerate(dims.get(name, ())):
                        if name_dim == dim:
                            draw[name] = np.take(np.asarray(value), order, axis=axis)
                            value = draw[name]
            if "membership_coef" in draw:
                full = np.asarray(draw["membership_coef"])
                draw["predictor_coef"] = full[1:] - full[:1]
        return draws

    def simulate(self, d: ClassesDesign, params: dict, rng) -> TrialData:
        """The design's rows with outcomes drawn from the model given ``params`` (model variable
        names: class_level, class_coef, covariate_coef, sigma, sd_patient_intercept (slope, corr),
        class_weight, predictor_coef, conditional_class and their ``_2`` versions). Not rounded."""
        from .classes_derive import simulate_rows

        return simulate_rows(d, params, rng, source=f"simulate:{self.name}")

    def calibration_trial(self, rng, truth=None, n_patients=200, k=4, days=(0, 3, 7, 10, 17, 40)) -> TrialData:
        """A trial from this family's generative form with a fixed truth: ``k`` classes (2-4 of the
        real-world design's MADRS curves, rapid, partial, non-responder order kept), a random
        intercept (SD 4), residual SD 3.5, shares ``truth["shares"]``. Truth keys: ("class_share",
        label) and ("class_trajectory", (("class", label), ("day", day))) at days 3, 10, 40."""
        from .classes_derive import calibration_trial

        return calibration_trial(rng, truth, n_patients, k, days)


FAMILY = ClassesFamily()


def select_classes(trial, k=range(1, 7), outcome="madrs_total", **fit_options):
    """Fit each number of classes and compare them; see ``classes_select.select_classes``."""
    from .classes_select import select_classes as run

    return run(trial, k=k, outcome=outcome, **fit_options)
