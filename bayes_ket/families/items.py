"""Items family: the 10 MADRS items as ordinal outcomes (card models/items.toml).

Long rows r = unit u (patient x period) x day t x item k, observed scores only:

    P(Y_r <= j) = F(c_kj - eta_r),   j = 0..5,   F = logistic ("logit") or Phi ("probit")
    eta_r = b_p [+ d_pk] + C(t) alpha + x_u beta + study_u + period_u
          + arm_u T(t) (e_k + sum_m x_um g_km)

c_k: 6 cutpoints per item, ordered transform, c_kj ~ N(grid_j, cutpoint_sigma): an
item with a category never observed keeps a proper posterior for that cutpoint.
The cutpoints absorb the baseline level, so the trajectory basis C(t) is the
trajectory family's treatment basis (``time_basis``: one column per post-baseline
day for "visit", t or log(1 + t) otherwise). T(t) = 1[t > 0] (item effects constant
over post-baseline visits, the default) or C(t) (``effect_by_day=True``).
x_um: moderator m centred at its mean over patients (per one unit).

Partial pooling over items:
    e_k  = effect_mean + effect_sd z_k,  z_k ~ N(0, 1)   non-centred (no funnel when the data
           say little about each item's effect), or "centered": e_k ~ N(effect_mean, effect_sd)
           (when they pin it); card setting effect_parameterization = "auto" (default)
           chooses by the patients per arm (``effect_form``)
    g_km = moderation_mean_m + moderation_sd_m w_km,  w_km ~ N(0, 1): non-centred, the
           moderations are small and their pooling SD a funnel otherwise
Priors (names as in ``fit.priors``; "per SD" scales are divided by the moderator's SD):
    effect_mean ~ N(0, effect_mu_sigma),   effect_sd ~ HalfNormal(effect_pool_sigma)
    moderation_mean ~ N(0, moderation_mu_sigma / sd(x)), moderation_sd ~ HalfNormal(moderation_pool_sigma / sd(x))
    alpha ~ N(0, trajectory_sigma w), beta ~ N(0, moderator_effect_sigma / sd(x))
    b_p ~ N(0, sd_patient_intercept), sd_patient_intercept ~ HalfNormal(sd_patient_intercept_sigma);
      written b = m + dev, m = mean(b) ~ N(0, sd / sqrt(P)), dev ~ ZeroSumNormal(sd) (exact), with m
      moved into the cutpoints (likelihood in c - m, dev); "noncentered" (default): dev = sd z,
      z ~ ZeroSumNormal(1) (each patient's level is weakly informed: 10 baseline scores), or
      "centered": dev itself
    d_pk = sd_patient_item z_pk (patient_item=True), sd_patient_item ~ HalfNormal(sd_patient_item_sigma)
    + c_p 1[t > 0] (patient_change=True, the card default): the patient's own shift after baseline,
      shared by the items, c_p ~ N(0, sd_patient_change), sd_patient_change ~ HalfNormal(
      sd_patient_change_sigma); sampled as the post-baseline level b_p + c_p ~ N(b_p, sd_patient_change).
      The part of c explained by (1, arm), gamma = (X'X)^-1 X'c, is moved into the visit means and
      the item effects, alpha_s = alpha + gamma_mean ~ N(gamma_mean, .), e_s = e + gamma_arm (a shear,
      Jacobian 1: the same model), where they carry that term exactly (``absorbed_change_columns``)
    study: fixed offsets ~ N(0, study_sigma) with 2 studies; random intercept (non-centred,
    sd_study ~ HalfNormal(sd_study_sigma)) with >= 3; period offsets ~ N(0, study_sigma).

Likelihood (``_log_interval_prob``), summed per visit (LOO leaves one visit's item scores out
together; log_likelihood ``y_visit``): log P(Y = y) = log(F(a) - F(b)) with a = c_k,y - eta and
b = c_k,y-1 - eta (c_k,-1 = -inf, c_k,6 = +inf), on a dense visit x item grid. Intervals in
the upper half (a + b > 0) are reflected, F(a) - F(b) = F(-b) - F(-a), so both cdfs are
evaluated below 1/2 and the difference does not cancel; infinite ends give F = 0 or 1 with
zero gradient. It stays finite where PyMC's OrderedLogistic (a plain cdf difference)
underflows to -inf at extreme linear predictors.

Summary quantities: effect, moderation (log-odds, per item [x day]), effect_points (the
same contrast in expected item points), effect_mean / effect_sd, moderation_mean /
moderation_sd, mean_trajectory (expected MADRS total per day and arm, exact: the sum over
items of E[Y] = sum_j F(eta - c_j), averaged over the trial's units), sd_patient_intercept
[, sd_patient_item, sd_patient_change].
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import scales
from .._lazy import lazy_module
from ..data.schema import ARM_NAMES
from ..data.trial import TrialData
from ..engine.draws import flat_draws
from ..errors import BayesKetError
from . import design as shared
from .base import Family, Quantity

from .design import time_basis

pm = lazy_module("pymc")
pt = lazy_module("pytensor.tensor")

LINKS = ("logit", "probit")


@dataclass
class ItemsDesign:
    """Everything the item model needs from the data, as arrays (built by ``design``)."""

    time: str
    link: str
    effect_by_day: bool
    patient_item: bool
    moderators: list[str]
    has_arm: bool
    study_level: str
    model_days: np.ndarray
    summary_days: np.ndarray
    rows: pd.DataFrame  # long: one row per observed item score (unit_idx, day, item_idx, score)
    visits: pd.DataFrame  # the frame rows (unit x day) used
    units: pd.DataFrame  # one row per patient x period
    patients: list
    studies: list
    n_periods: int
    mod_ref: np.ndarray
    mod_sd: np.ndarray
    terms: list  # design.ModeratorTerm per moderator column (summary labels)
    span: float
    cutpoint_grid: np.ndarray  # the card's grid, for items with as many cutpoints as it has values
    parameterization: str
    patient_change: bool
    effect_parameterization: str
    scale: str  # the scale whose items are modelled (registry name)
    item_names: tuple  # coordinate labels, in the scale's order
    item_columns: tuple
    item_lo: np.ndarray  # each item's lowest score (scores are modelled as score - lo)
    n_cat: np.ndarray  # each item's number of categories
    exclusions: shared.Exclusions = field(default_factory=shared.Exclusions)

    @property
    def outcome(self) -> str:
        return f"{self.scale}_items"

    @property
    def K(self) -> int:
        return len(self.item_names)

    @property
    def max_cut(self) -> int:
        return int(self.n_cat.max()) - 1

    @property
    def groups(self) -> list[tuple[int, np.ndarray]]:
        """(number of cutpoints J, item indices) per group of items with J + 1 categories."""
        cuts = self.n_cat - 1
        return [(int(J), np.flatnonzero(cuts == J)) for J in dict.fromkeys(cuts.tolist())]

    def grid_for(self, J: int) -> np.ndarray:
        """Prior centres of J cutpoints: the card's cutpoint_grid when it has J values, else
        J evenly spaced values on [-2.5, 2.5] (roughly equal category shares)."""
        if len(self.cutpoint_grid) == J:
            return self.cutpoint_grid
        return np.linspace(-2.5, 2.5, J) if J > 1 else np.zeros(1)

    @property
    def post_days(self) -> np.ndarray:
        return self.summary_days[self.summary_days > 0]

    def bases(self, days) -> tuple[np.ndarray, np.ndarray]:
        """(C, T) for ``days``: trajectory basis (no level) and treatment-effect basis."""
        days = np.asarray(days, float)
        _, C, _, _, _ = time_basis(self.time, days, self.model_days)
        C = C * (days > 0)[:, None]
        T = C if self.effect_by_day else (days > 0).astype(float)[:, None]
        if self.time == "visit" and self.model_days.min() > 0:
            C = C[:, 1:]  # no baseline rows: the first visit is the cutpoints' reference
        return C, T

    def visit_grid(self) -> dict:
        """The likelihood's layout: visits v (unit x day with any item scored) x the K items.

        unit, patient, C: per visit; arm_T = arm T(t) (V, ebasis); arm_TX = arm T_t(t) x_m
        (V, ebasis * M); cut_upper / cut_lower: flat index k * (J + 2) + y (+1) of the cutpoint
        edges around each cell's score (J: the most cutpoints of any item; missing cells:
        score 0); observed: (V, K) 1 where the cell's item was scored, 0 where it is missing.
        """
        rows = self.rows
        visit = rows.groupby(["unit_idx", "day"], sort=False).ngroup().to_numpy()  # rows sorted by unit, day, item
        K = self.K
        first = np.unique(visit, return_index=True)[1]
        unit = rows["unit_idx"].to_numpy()[first]
        days = rows["day"].to_numpy(float)[first]
        cell = visit * K + rows["item_idx"].to_numpy()
        score = np.zeros(len(first) * K, dtype=np.int64)
        score[cell] = rows["score"].to_numpy()
        edge = np.tile(np.arange(K), len(first)) * (self.max_cut + 2) + score
        ua = self.unit_arrays()
        C, T = self.bases(days)
        arm = ua["arm"][unit]
        X = ua["X"][unit]
        return {
            "unit": unit, "patient": ua["patient"][unit], "C": C, "post": (days > 0).astype(float),
            "arm_T": arm[:, None] * T,
            "arm_TX": (arm[:, None, None] * T[:, :, None] * X[:, None, :]).reshape(len(unit), -1),
            "cut_upper": (edge + 1).reshape(-1, K), "cut_lower": edge.reshape(-1, K),
            "observed": np.bincount(cell, minlength=len(score)).reshape(-1, K).astype(float),
        }

    def unit_arrays(self) -> dict:
        u = self.units
        X = u[[f"x_{m}" for m in self.moderators]].to_numpy(float).reshape(len(u), len(self.moderators))
        return {"X": X, "arm": u["arm"].to_numpy(float), "patient": u["patient_idx"].to_numpy(int),
                "study": u["study_idx"].to_numpy(int), "period": u["period_idx"].to_numpy(int)}


def design(trial: TrialData, card, outcome=None, moderators=None, time=None, link=None,
           effect_by_day=None, patient_item=None, post_baseline_only=False, study_level=None,
           parameterization=None, patient_change=None, scale=None, effect_parameterization=None) -> ItemsDesign:
    """Validate the request against the trial and build the long item design.

    scale: the scale whose items are modelled (registry name; card default "madrs"), e.g.
    "gad7", "phq9", "hrsd17" (items with different ranges are fine).
    post_baseline_only: fit post-baseline rows only (the brms benchmark's structure;
    the first visit is then the reference of the visit means).
    study_level: "none", "fixed" or "random" to override the choice by number of studies.
    parameterization: patient intercepts "centered" or "noncentered" (card default).
    effect_parameterization: the items' effects around their mean, "noncentered", "centered" or
    "auto" (card default: ``effect_form``).
    """
    settings = card.settings
    the_scale = scales.get(scale or settings.get("scale", "madrs"))
    if not the_scale.items:
        raise BayesKetError(f"Scale {the_scale.name!r} has no items in the registry: the items model needs them. "
                            "Fix: fit its total with model='trajectory', or register the scale with its items.")
    item_columns = tuple(the_scale.item_columns)
    if outcome not in (None, "items", f"{the_scale.name}_items"):
        raise BayesKetError(f"outcome={outcome!r}: the items model fits the items of a scale. "
                            f"Fix: leave outcome=None and choose the scale with scale= (now {the_scale.name!r}).")
    time = time or settings.get("time", "visit")
    link = link or settings.get("link", "logit")
    option = lambda value, key: bool(settings.get(key, False) if value is None else value)  # noqa: E731
    effect_by_day = option(effect_by_day, "effect_by_day")
    patient_item = option(patient_item, "patient_item")
    patient_change = option(patient_change, "patient_change")
    if time not in shared.TIME_BASES:
        raise BayesKetError(f"time={time!r} is not a time basis. Fix: use one of {shared.TIME_BASES}.")
    parameterization = parameterization or settings.get("patient_parameterization", "centered")
    if parameterization not in ("centered", "noncentered"):
        raise BayesKetError(f"parameterization={parameterization!r}. Fix: use 'centered' or 'noncentered'.")
    effect_parameterization = effect_parameterization or settings.get("effect_parameterization", "auto")
    if effect_parameterization not in ("auto", "centered", "noncentered"):
        raise BayesKetError(f"effect_parameterization={effect_parameterization!r}. Fix: use 'auto', 'centered' "
                            "or 'noncentered'.")
    if link not in LINKS:
        raise BayesKetError(f"link={link!r} is not a link. Fix: use one of {LINKS}.")
    frame = trial.frame
    absent = [c for c in item_columns if c not in frame or frame[c].notna().sum() == 0]
    if absent:
        raise BayesKetError(
            f"The items model of {the_scale.name} needs all {len(item_columns)} item columns "
            f"{item_columns[0]}..{item_columns[-1]}; this trial has no observed values in {absent}. Fix: supply "
            "the item scores (read_trial columns=), or fit the total with model='trajectory'.")
    terms = shared.moderator_terms(trial, moderators)
    moderators = [t.column for t in terms]
    items = frame[list(item_columns)]
    lo = np.array([r[0] for _, r in the_scale.items], float)
    hi = np.array([r[1] for _, r in the_scale.items], float)
    vals = items.to_numpy(float)
    bad = np.isfinite(vals) & ((vals < lo) | (vals > hi) | (vals != np.round(vals)))
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise BayesKetError(
            f"Item scores must be whole numbers {lo[c]:g}-{hi[c]:g}; {item_columns[c]} has {vals[r, c]!r} "
            f"(patient {frame['patient'].iloc[r]}). Fix: correct or blank those scores.")

    excl = shared.Exclusions()
    visits = excl.drop(shared.add_indicators(frame, terms), items.isna().all(axis=1),
                       f"all {the_scale.name} items missing")
    visits = shared.drop_missing_moderators(visits, terms, excl)
    if post_baseline_only:
        visits = excl.drop(visits, visits["day"] <= 0, "baseline (post_baseline_only)")
    if visits.empty:
        raise BayesKetError(f"No rows left to fit: {excl.summary()}. Fix: check the item columns and moderators.")
    has_arm = shared.two_arms(visits)
    visits = shared.with_ids(visits)
    model_days, summary_days = shared.visit_days(visits, time, settings)
    if not (model_days > 0).any():
        raise BayesKetError("The trial has no post-baseline visits: nothing to model over time. Fix: add them.")
    units = shared.build_units(visits, moderators, has_arm)
    visits = units.rows
    level = shared.study_level(len(units.studies), settings, study_level)

    long = visits[["unit_idx", "day", *item_columns]].melt(
        id_vars=["unit_idx", "day"], value_vars=list(item_columns), var_name="column", value_name="score")
    long = long[long["score"].notna()].copy()
    long["item_idx"] = long["column"].map({c: i for i, c in enumerate(item_columns)}).astype(int)
    long["score"] = (long["score"] - lo[long["item_idx"].to_numpy()]).astype(int)  # 0 = the item's lowest
    long = long.sort_values(["unit_idx", "day", "item_idx"]).reset_index(drop=True)

    grid = np.asarray(settings.get("cutpoint_grid", [0.0]), float)
    if np.any(np.diff(grid) <= 0):
        raise BayesKetError(f"Card setting cutpoint_grid must be increasing numbers, got {grid.tolist()}.")
    return ItemsDesign(
        time=time, link=link, effect_by_day=effect_by_day, patient_item=patient_item,
        patient_change=patient_change, moderators=moderators,
        has_arm=has_arm, study_level=level, model_days=model_days, summary_days=summary_days, rows=long,
        visits=visits, units=units.units, patients=units.patients, studies=units.studies,
        n_periods=units.n_periods, mod_ref=units.reference, mod_sd=units.sd, terms=terms,
        span=shared.slope_span(time, model_days), cutpoint_grid=grid, exclusions=excl,
        parameterization=parameterization, scale=the_scale.name, item_names=tuple(the_scale.item_names),
        item_columns=item_columns, item_lo=lo, n_cat=(hi - lo + 1).astype(int),
        effect_parameterization=effect_form(effect_parameterization, units.units, has_arm, visits, settings),
    )


def effect_form(requested: str, units: pd.DataFrame, has_arm: bool, visits: pd.DataFrame, settings) -> str:
    """The items' effects around their mean: "centered" or "noncentered" ("auto": by the data).

    "auto" centres them when the smaller arm has at least ``centered_effects_min_per_arm``
    patients with post-baseline scores (card setting, 60): each item's effect is then pinned by
    the data, and the non-centred form puts a funnel in effect_sd's posterior. Measured on the
    pooled two-RCT design: 500 per arm, non-centred 84 divergences and R-hat 1.012, centred 0 and
    1.003; 77 per arm, with the patients' arm contrast moved into the effects
    (``absorbed_change_columns``, centred only), centred min bulk ESS 2226 of 8000 draws against
    961 before, while non-centred with that shift met 7 divergences; 30 per arm (a GAD-7 trial),
    centred 43 divergences in 300 draws (before the shift).
    """
    if requested != "auto":
        return requested
    if not has_arm:
        return "noncentered"  # no item effects are modelled
    post_units = visits.loc[visits["day"] > 0, "unit_idx"].unique()
    arms = units.iloc[post_units]
    smaller = min((arms["arm"] == 1).sum(), (arms["arm"] == 0).sum())
    return "centered" if smaller >= settings.get("centered_effects_min_per_arm", 60) else "noncentered"


def absorbed_change_columns(d: ItemsDesign) -> tuple[np.ndarray | None, list[str]]:
    """Which parts of the patients' post-baseline shifts c_p the fixed effects absorb exactly.

    c_p 1[t > 0] adds gamma_mean 1[t > 0] + gamma_arm arm_p 1[t > 0] when c = X gamma + r. The
    visit means alpha carry the first where their basis sums to 1[t > 0] on every model day
    (time="visit" with a baseline), the item effects the second where the effect basis T does
    (always, unless effect_by_day on a slope basis), each patient keeps one arm and the item
    effects are centred (shifted non-centred effects met divergences in the effect-SD tail). Moving
    gamma there (alpha_s = alpha + gamma_mean, E_s = E + gamma_arm) is a shear, an exact
    reparameterisation: the likelihood then sees r, alpha_s and E_s, and the common shift of all
    patients no longer trades against the visit means along a ridge of P coordinates. Returns
    (X: patients x columns, column names among "mean", "arm"), or (None, []).
    """
    if not d.patient_change:
        return None, []
    days = np.asarray(d.model_days, float)
    post = (days > 0).astype(float)
    C, T = d.bases(days)
    names, columns = [], []
    if C.shape[1] and np.allclose(C.sum(axis=1), post):
        names.append("mean")
        columns.append(np.ones(len(d.patients)))
    if d.has_arm and d.effect_parameterization == "centered" and np.allclose(T.sum(axis=1), post):
        ua = d.unit_arrays()
        arm = np.full(len(d.patients), np.nan)
        arm[ua["patient"]] = ua["arm"]
        if np.array_equal(arm[ua["patient"]], ua["arm"]):  # one arm per patient
            names.append("arm")
            columns.append(arm)
    if not names:
        return None, []
    return np.column_stack(columns), names


def priors(card, d: ItemsDesign, overrides: dict | None = None) -> dict:
    """Card defaults (log-odds scale, used as is), then overrides."""
    return shared.resolve_priors(card, 1.0, d.span, overrides)


# ---- link functions -------------------------------------------------------------
def _log_interval_prob(a, b, link: str):
    """log(F(a) - F(b)), a > b, with b = -inf (lowest category) or a = +inf (highest) allowed.

    Rows whose interval lies in the upper half (a + b > 0) are reflected,
    F(a) - F(b) = F(-b) - F(-a), so both cdfs are evaluated where they are not ~1 and the
    difference does not cancel. Infinite ends give F = 0 or 1 with zero gradient.
    Few elementwise operations on purpose: on a CPU this likelihood is the sampler's cost.
    """
    flip = (a + b) > 0
    top = pt.switch(flip, -b, a)
    bottom = pt.switch(flip, -a, b)
    if link == "logit":
        F = pt.sigmoid
    else:
        F = lambda x: 0.5 * pt.erfc(-x / np.sqrt(2.0))
    return pt.log(F(top) - F(bottom))


def _quantile_np(u, link: str):
    from scipy.special import logit, ndtri

    return logit(u) if link == "logit" else ndtri(u)


# ---- model ----------------------------------------------------------------------
def build_model(d: ItemsDesign, priors: dict) -> tuple[pm.Model, dict]:
    """The PyMC model (see module docstring) and its extra expression, the per-visit log-likelihood."""
    M = len(d.moderators)
    g = d.visit_grid()
    Cm, Tm = d.bases(d.model_days)
    n_c = Cm.shape[1]
    _, _, _, _, wC = time_basis(d.time, d.model_days, d.model_days)
    n_t = Tm.shape[1]
    wT = wC if d.effect_by_day else np.ones(1)
    coords = {
        "patient": [str(p) for p in d.patients], "item": list(d.item_names), "threshold": np.arange(d.max_cut),
        "tbasis": np.arange(n_c), "ebasis": np.arange(n_t), "moderator": [t.label for t in d.terms],
        "day": d.summary_days, "day_post": d.post_days, "visit": np.arange(len(g["unit"])),
    }
    if d.has_arm:
        coords["arm"] = [ARM_NAMES[1], ARM_NAMES[0]]
    ua = d.unit_arrays()
    Cs, Ts = d.bases(d.post_days)
    K = d.K

    with pm.Model(coords=coords) as model:
        hp = {name: pm.Data(name, float(value)) for name, value in priors.items()}
        sd_b = pm.HalfNormal("sd_patient_intercept", hp["sd_patient_intercept_sigma"])
        # b_p iid N(0, sd_b) written as b = m + dev: m = mean(b) ~ N(0, sd_b / sqrt(P)) and
        # dev ~ ZeroSumNormal(sd_b), independent (exact). The likelihood sees only c - b, so m
        # is moved into the cutpoints (c = c_rel + m): the common-level ridge of (b, c) becomes
        # the single coordinate m.
        m = pm.Normal("patient_level", 0.0, sd_b / np.sqrt(len(d.patients)))
        if d.parameterization == "centered":  # dev itself: where the data pin each patient's level
            dev = pm.ZeroSumNormal("patient_deviation", sigma=sd_b, dims="patient")
        else:  # dev = sd_b z: no funnel where the data say little about each patient's level
            z_b = pm.ZeroSumNormal("patient_z", sigma=1.0, dims="patient")
            dev = pm.Deterministic("patient_deviation", sd_b * z_b, dims="patient")
        pm.Deterministic("patient_intercept", m + dev, dims="patient")
        b = dev
        cut = _cutpoints(d, hp, m, model)  # the likelihood's cutpoints (K, most cutpoints), +inf padded

        # --- the patients' own post-baseline shifts c_p, and the part of them the fixed effects absorb
        X_abs, absorbed = absorbed_change_columns(d)
        gamma = {}
        if d.patient_change or d.patient_item:
            visit_patient = pm.Data("visit_patient", g["patient"])
        if d.patient_change:
            # the patient's post-baseline level u_p = b_p + c_p ~ N(b_p, sd_c) is the coordinate NUTS
            # moves: baseline scores pin b_p, post-baseline scores pin u_p, so the two are nearly
            # independent a posteriori (b_p and c_p are strongly anti-correlated). Same model.
            sd_c = pm.HalfNormal("sd_patient_change", hp["sd_patient_change_sigma"])
            post_level = pm.Normal("patient_post_level", b, sd_c, dims="patient")
            change = pm.Deterministic("patient_change", post_level - b, dims="patient")
            if absorbed:
                # c = X gamma + r (gamma = (X'X)^-1 X'c: the shifts' mean [and arm contrast]); the
                # likelihood sees r, and gamma shifts the coefficients that carry the same term
                hat = pm.Data("change_projection", np.linalg.pinv(X_abs))
                coef = pt.dot(hat, change)
                gamma = dict(zip(absorbed, [coef[j] for j in range(len(absorbed))]))
                change = change - pt.dot(pm.Data("change_columns", X_abs), coef)
        # alpha_s = alpha + gamma_mean: the visit means the likelihood sees (a shear of (alpha, u),
        # Jacobian 1), alpha_s ~ N(gamma_mean, sigma) being alpha ~ N(0, sigma) exactly
        alpha_prior_sd = hp["trajectory_sigma"] * wC[-n_c:]
        if "mean" in gamma:
            alpha_s = pm.Normal("trajectory_coef_shifted", gamma["mean"], alpha_prior_sd, dims="tbasis")
            alpha = pm.Deterministic("trajectory_coef", alpha_s - gamma["mean"], dims="tbasis")
        else:
            alpha = alpha_s = pm.Normal("trajectory_coef", 0.0, alpha_prior_sd, dims="tbasis")

        # --- visit level (V = unit x day): everything that is the same for the 10 items
        eta_unit = b[pm.Data("unit_patient", ua["patient"])]
        if M:
            inv_sd = pm.Data("moderator_inv_sd", 1.0 / d.mod_sd, dims="moderator")
            beta = pm.Normal("moderator_coef", 0.0, hp["moderator_effect_sigma"] * inv_sd, dims="moderator")
            eta_unit = eta_unit + pt.dot(pm.Data("unit_X", ua["X"]), beta)
        if d.study_level == "random":
            model.add_coord("study", [str(s) for s in d.studies])
            sd_s = pm.HalfNormal("sd_study", hp["sd_study_sigma"])
            study = sd_s * pm.Normal("study_z", 0.0, 1.0, dims="study")
            eta_unit = eta_unit + study[pm.Data("unit_study", ua["study"])]
        elif d.study_level == "fixed":
            model.add_coord("study_contrast", [str(s) for s in d.studies[1:]])
            off = pm.Normal("study_offset", 0.0, hp["study_sigma"], dims="study_contrast")
            eta_unit = eta_unit + pt.concatenate([pt.zeros(1), off])[pm.Data("unit_study", ua["study"])]
        if d.n_periods > 1:
            model.add_coord("period_contrast", list(range(2, d.n_periods + 1)))
            off = pm.Normal("period_offset", 0.0, hp["study_sigma"], dims="period_contrast")
            eta_unit = eta_unit + pt.concatenate([pt.zeros(1), off])[pm.Data("unit_period", ua["period"])]
        eta = (eta_unit[pm.Data("visit_unit", g["unit"])] + pt.dot(pm.Data("visit_C", g["C"]), alpha_s))[:, None]

        # --- visit x item
        if d.patient_change:
            eta = eta + (change[visit_patient] * pm.Data("visit_post", g["post"]))[:, None]
        if d.patient_item:
            sd_d = pm.HalfNormal("sd_patient_item", hp["sd_patient_item_sigma"])
            z_d = pm.Normal("patient_item_z", 0.0, 1.0, dims=("patient", "item"))
            pm.Deterministic("patient_item", sd_d * z_d, dims=("patient", "item"))
            eta = eta + sd_d * z_d[visit_patient]
        if d.has_arm:
            mu_e = pm.Normal("effect_mean_coef", 0.0, hp["effect_mu_sigma"] * wT, dims="ebasis")
            sd_e = pm.HalfNormal("effect_sd_coef", hp["effect_pool_sigma"] * wT, dims="ebasis")
            if d.effect_parameterization == "centered":  # each item's effect is well informed by the data
                if "arm" in gamma:  # E_s = E + gamma_arm (as alpha_s above): the effects the likelihood sees
                    E_s = pm.Normal("effect_coef_shifted", mu_e[:, None] + gamma["arm"], sd_e[:, None],
                                    dims=("ebasis", "item"))
                    E = pm.Deterministic("effect_coef", E_s - gamma["arm"], dims=("ebasis", "item"))
                else:
                    E = E_s = pm.Normal("effect_coef", mu_e[:, None], sd_e[:, None], dims=("ebasis", "item"))
            else:
                z_e = pm.Normal("effect_z", 0.0, 1.0, dims=("ebasis", "item"))
                E = E_s = pm.Deterministic("effect_coef", mu_e[:, None] + sd_e[:, None] * z_e, dims=("ebasis", "item"))
            # arm_v T(t_v) (V, ebasis) @ E_s (ebasis, item)
            eta = eta + pt.dot(pm.Data("visit_arm_T", g["arm_T"]), E_s)
            if M:
                wM = wT[:, None] * inv_sd[None, :]
                mu_g = pm.Normal("moderation_mean_coef", 0.0, hp["moderation_mu_sigma"] * wM,
                                 dims=("ebasis", "moderator"))
                sd_g = pm.HalfNormal("moderation_sd_coef", hp["moderation_pool_sigma"] * wM,
                                     dims=("ebasis", "moderator"))
                z_g = pm.Normal("moderation_z", 0.0, 1.0, dims=("ebasis", "item", "moderator"))
                G = pm.Deterministic("moderation_coef", mu_g[:, None, :] + sd_g[:, None, :] * z_g,
                                     dims=("ebasis", "item", "moderator"))
                # arm_v T_t(t_v) x_vm (V, ebasis*M) @ G as (ebasis*M, item)
                G_rows = G.dimshuffle(0, 2, 1).reshape((n_t * M, K))
                eta = eta + pt.dot(pm.Data("visit_arm_TX", g["arm_TX"]), G_rows)

            # summary quantities
            if d.effect_by_day:
                Csd = pm.Data("summary_T_post", Ts)
                pm.Deterministic("effect", pt.dot(Csd, E), dims=("day_post", "item"))
                pm.Deterministic("effect_mean", pt.dot(Csd, mu_e), dims="day_post")
                pm.Deterministic("effect_sd", pt.dot(Csd, sd_e), dims="day_post")
                if M:
                    pm.Deterministic("moderation", pt.tensordot(Csd, G, axes=1), dims=("day_post", "item", "moderator"))
                    pm.Deterministic("moderation_mean", pt.dot(Csd, mu_g), dims=("day_post", "moderator"))
                    pm.Deterministic("moderation_sd", pt.dot(Csd, sd_g), dims=("day_post", "moderator"))
            else:
                pm.Deterministic("effect", E[0], dims="item")
                pm.Deterministic("effect_mean", mu_e[0])
                pm.Deterministic("effect_sd", sd_e[0])
                if M:
                    pm.Deterministic("moderation", G[0], dims=("item", "moderator"))
                    pm.Deterministic("moderation_mean", mu_g[0], dims="moderator")
                    pm.Deterministic("moderation_sd", sd_g[0], dims="moderator")

        # --- likelihood on the (V, item) grid: cutpoints around each score, one gather each
        inf = np.full((K, 1), np.inf)  # the edges below the lowest and above the highest category
        pad = pt.concatenate([-inf, cut, inf], axis=1).flatten()  # item k, category edge j -> k * 8 + j
        upper = pad[pm.Data("visit_cut_upper", g["cut_upper"])] - eta
        lower = pad[pm.Data("visit_cut_lower", g["cut_lower"])] - eta
        cell_loglik = _log_interval_prob(upper, lower, d.link)
        if (g["observed"] < 1).any():  # some items missing: only the scored cells count
            cell_loglik = cell_loglik * pm.Data("visit_observed", g["observed"])
        visit_loglik = cell_loglik.sum(axis=1)
        pm.Potential("y_items", visit_loglik.sum())
    # LOO leaves one visit (its item scores together) out: the per-visit log-likelihood, streamed in derive
    return model, {"visit_loglik": visit_loglik}


def _cutpoints(d: ItemsDesign, hp: dict, m, model):
    """Ordered cutpoints per group of items with the same number of categories.

    c_kj ~ N(grid_j, cutpoint_sigma) restricted to increasing j (the ordered transform), one
    (items, J) matrix per group; with a centred patient level m the matrix is the cutpoints
    relative to m (c - m), and ``cutpoints`` = relative + m. One group (e.g. MADRS: every item
    0-6) gives ``cutpoints`` (item, threshold); several give ``cutpoints_<J>`` (item_<J>,
    threshold_<J>) each. Returns the (K, J_max) matrix the likelihood reads, in item order,
    an item with fewer cutpoints padded with +inf (its top category's upper edge).
    """
    ordered = pm.distributions.transforms.ordered
    single = len(d.groups) == 1
    parts, order = [], []
    for J, idx in d.groups:
        suffix = "" if single else f"_{J}"
        dims = ("item", "threshold") if single else (f"item_{J}", f"threshold_{J}")
        if not single:
            model.add_coord(dims[0], [d.item_names[i] for i in idx])
            model.add_coord(dims[1], np.arange(J))
        start = np.tile(d.grid_for(J), (len(idx), 1))
        grid = pm.Data(f"cutpoint_grid{suffix}", start)
        if m is not None:
            rel = pm.Normal(f"cutpoints_relative{suffix}", mu=grid - m, sigma=hp["cutpoint_sigma"],
                            transform=ordered, initval=start, dims=dims)
            pm.Deterministic(f"cutpoints{suffix}", rel + m, dims=dims)
            c = rel
        else:
            c = pm.Normal(f"cutpoints{suffix}", mu=grid, sigma=hp["cutpoint_sigma"], transform=ordered,
                          initval=start, dims=dims)
        if J < d.max_cut:
            c = pt.concatenate([c, np.full((len(idx), d.max_cut - J), np.inf)], axis=1)
        parts.append(c)
        order.extend(idx.tolist())
    if single:
        return parts[0]
    return pt.concatenate(parts, axis=0)[np.argsort(order)]


def cutpoints_draws(d: ItemsDesign, post) -> np.ndarray:
    """(flat draws, K, J_max) cutpoints of every item, +inf where an item has fewer (see ``_cutpoints``)."""
    if len(d.groups) == 1:
        return flat_draws(post["cutpoints"])
    first = flat_draws(post[f"cutpoints_{d.groups[0][0]}"])
    out = np.full((len(first), d.K, d.max_cut), np.inf)
    for J, idx in d.groups:
        out[:, idx, :J] = flat_draws(post[f"cutpoints_{J}"])
    return out


# ---- posterior-predictive quantities ------------------------------------------------
_ETA_VARS = ("patient_intercept", "moderator_coef", "sd_study", "study_z", "study_offset", "period_offset",
             "trajectory_coef", "patient_item", "patient_change", "effect_coef", "moderation_coef")


def _eta_parts(d: ItemsDesign, post, days: np.ndarray, xp=np):
    """(base, shift, mod) on units x days x items; ``post``: name -> draws (S, ...).

    eta = base + arm * (shift + mod): base holds everything but the treatment terms,
    shift the item effects (moderators at reference), mod the moderation x x_u terms.
    Returns arrays (S, U, D, K) [mod None without moderators or arm]. ``xp``: numpy, or
    jax.numpy inside a compiled function.
    """
    ua = d.unit_arrays()
    C, T = d.bases(days)
    S = len(post["patient_intercept"])
    flat = post.get
    unit_lvl = flat("patient_intercept")[:, ua["patient"]]  # (S, U)
    if d.moderators:
        unit_lvl = unit_lvl + flat("moderator_coef") @ ua["X"].T
    if d.study_level == "random":
        sd = flat("sd_study")
        unit_lvl = unit_lvl + (sd[:, None] * flat("study_z"))[:, ua["study"]]
    elif d.study_level == "fixed":
        off = xp.concatenate([xp.zeros((S, 1)), flat("study_offset")], axis=1)
        unit_lvl = unit_lvl + off[:, ua["study"]]
    if d.n_periods > 1:
        off = xp.concatenate([xp.zeros((S, 1)), flat("period_offset")], axis=1)
        unit_lvl = unit_lvl + off[:, ua["period"]]
    traj = flat("trajectory_coef") @ C.T  # (S, D)
    base = unit_lvl[:, :, None, None] + traj[:, None, :, None]
    if d.patient_item:
        base = base + flat("patient_item")[:, ua["patient"], None, :]
    if d.patient_change:
        base = base + flat("patient_change")[:, ua["patient"], None, None] * (np.asarray(days) > 0)[None, None, :, None]
    base = xp.broadcast_to(base, (S, len(ua["arm"]), len(days), d.K))
    shift = mod = None
    if d.has_arm:
        shift = xp.einsum("dt,stk->sdk", T, flat("effect_coef"))[:, None, :, :]  # (S, 1, D, K)
        if d.moderators:
            mod = xp.einsum("dt,stkm,um->sudk", T, flat("moderation_coef"), ua["X"])
    return base, shift, mod


def _chunk_function(d: ItemsDesign):
    """The per-chunk post-processing of ``derive`` as two XLA-compiled functions (expected scores;
    replicated scores) of (draws of the linear predictor's parameters, cutpoints (s, K, J),
    uniforms (s, rows)), called as one.

    In numpy, F(eta - c_j) materialised (draws, units, days, items, 6) arrays before their
    sums: derive took about 17 s at 154 patients (4 x 2000 draws), about 11 s now (measured
    in fresh processes). XLA fuses the link function with the sums, so nothing of that size
    exists.

    Returns (effect (s, day_post, K) or (s, K), trajectory (s, D, arm) or (s, D), replicated
    scores on the observed rows (s, rows)).
    """
    import jax
    import jax.numpy as jnp
    from jax.scipy.special import logit, ndtr, ndtri

    cdf = jax.nn.sigmoid if d.link == "logit" else ndtr
    quantile = logit if d.link == "logit" else ndtri
    lowest = float(d.item_lo.sum())  # scores are modelled from each item's lowest: add it back to totals
    post_mask = np.flatnonzero(d.summary_days > 0)
    arm_u = d.unit_arrays()["arm"]
    obs_unit = d.rows["unit_idx"].to_numpy()
    obs_day = np.searchsorted(d.model_days, d.rows["day"].to_numpy(float))
    obs_item = d.rows["item_idx"].to_numpy()

    def unit_mean(eta, cut):
        """E[Y] = sum_j P(Y > j) = sum_j F(eta - c_j), averaged over units -> (s, D, K). Units
        and cutpoints are summed as the two minor axes: one reduction, 2x faster than a sum
        over cutpoints followed by a mean over the (major) unit axis."""
        eta_t = jnp.transpose(eta, (0, 2, 3, 1))  # (s, D, K, U)
        return cdf(eta_t[..., None] - cut[:, None, :, None, :]).sum((-1, -2)) / eta.shape[1]

    def means(sub, cut):
        base, shift, mod = _eta_parts(d, sub, d.summary_days, xp=jnp)
        m_c = unit_mean(base, cut)  # control
        if not d.has_arm:
            return jnp.zeros(0), m_c.sum(-1) + lowest
        m_k = unit_mean(base + shift, cut)  # ketamine, moderators at reference
        diff = (m_k - m_c)[:, post_mask]  # (s, day_post, K); the mean over units is linear
        m_own = m_k if mod is None else unit_mean(base + shift + mod, cut)  # own moderators
        traj = jnp.stack([m_own.sum(-1) + lowest, m_c.sum(-1) + lowest], axis=-1)  # (s, D, arm)
        return (diff if d.effect_by_day else diff.mean(axis=1)), traj

    def replicate(sub, cut, u):  # replicated item scores on the observed rows (model days), own arm
        bo, so, mo = _eta_parts(d, sub, d.model_days, xp=jnp)
        eta_obs = bo[:, obs_unit, obs_day, obs_item]
        if d.has_arm:
            tr = so[:, 0, obs_day, obs_item] + (mo[:, obs_unit, obs_day, obs_item] if mo is not None else 0.0)
            eta_obs = eta_obs + arm_u[obs_unit] * tr
        latent = eta_obs + quantile(u)  # inversion
        return (cut[:, obs_item, :] < latent[..., None]).sum(-1)

    compiled_means, compiled_replicate = jax.jit(means), jax.jit(replicate)

    def call(sub, cut, u):
        with jax.enable_x64(True):
            effect, traj = compiled_means(sub, cut)
            return np.asarray(effect), np.asarray(traj), np.asarray(compiled_replicate(sub, cut, u))

    return call


def _sample_scores(eta, cut, link, rng):
    """Replicated scores by inversion: Y = #{j : c_j < eta + F^-1(u)}, u ~ U(0, 1)."""
    extra = eta.ndim - 2
    c = cut.reshape((cut.shape[0],) + (1,) * extra + cut.shape[1:])
    latent = eta + _quantile_np(rng.random(eta.shape), link)
    return (c < latent[..., None]).sum(-1)


def derive(d: ItemsDesign, idata, extras, rng, chunk: int = 100) -> None:
    """effect_points and mean_trajectory into the posterior; replicated item counts into
    posterior_predictive. Computed chunk by chunk of draws.

    effect_points: E[item score | ketamine] - E[item score | control] for each of the
    trial's units at each post-baseline summary day (moderators at reference),
    averaged over units (and days unless effect_by_day). mean_trajectory: the expected
    MADRS total, sum over items of E[Y] = sum_j F(eta - c_j), of every unit at every
    summary day under each arm (its own moderators), averaged over units: exact, not an
    average of replicates. item_counts_rep: replicated category counts per item on the
    observed rows (for the rootogram).
    """
    import xarray as xr

    post = idata.posterior
    n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
    S = n_chain * n_draw
    idata.add_groups(log_likelihood=xr.Dataset(
        {"y_visit": (("chain", "draw", "visit"), extras.full("visit_loglik"))}))
    cut_all = cutpoints_draws(d, post)
    flat = {k: flat_draws(post[k]) for k in _ETA_VARS if k in post}
    run = _chunk_function(d)
    obs_item = d.rows["item_idx"].to_numpy()
    eff_pts, traj, counts = [], [], []
    for start in range(0, S, chunk):
        sl = slice(start, min(S, start + chunk))
        effect, trajectory, rep = run({k: v[sl] for k, v in flat.items()}, cut_all[sl],
                                      rng.random((len(cut_all[sl]), len(obs_item))))
        eff_pts.append(effect)
        traj.append(trajectory)
        counts.append(_category_counts(rep, obs_item, d.K, d.max_cut + 1))
    shape = (n_chain, n_draw)
    if d.has_arm:
        ep = np.concatenate(eff_pts).reshape(shape + eff_pts[0].shape[1:])
        dims = ("chain", "draw", "day_post", "item") if d.effect_by_day else ("chain", "draw", "item")
        idata.posterior["effect_points"] = xr.DataArray(ep, dims=dims, coords={
            k: idata.posterior[k] for k in dims[2:]})
    tr = np.concatenate(traj).reshape(shape + traj[0].shape[1:])
    traj_dims = ("chain", "draw", "day", "arm") if d.has_arm else ("chain", "draw", "day")
    traj_coords = {"day": d.summary_days} | ({"arm": [ARM_NAMES[1], ARM_NAMES[0]]} if d.has_arm else {})
    idata.posterior["mean_trajectory"] = xr.DataArray(tr, dims=traj_dims, coords=traj_coords)
    data = {"item_counts_rep": (("chain", "draw", "item", "category"),
                                np.concatenate(counts).reshape(shape + (d.K, d.max_cut + 1)))}
    coords = {"item": list(d.item_names), "category": np.arange(d.max_cut + 1)}
    idata.add_groups(posterior_predictive=xr.Dataset(data, coords=coords))


def _category_counts(rep, item, K, n_cat):
    """rep (s, n) scores of rows with item index ``item`` (n) -> counts (s, item, category)."""
    cell = (np.arange(len(rep))[:, None] * K + item[None, :]) * n_cat + rep
    return np.bincount(cell.ravel(), minlength=len(rep) * K * n_cat).reshape(len(rep), K, n_cat)


def observed_counts(d: ItemsDesign) -> list:
    """Observed category counts per item (K lists, one count per category from the item's lowest)."""
    return [np.bincount(d.rows.loc[d.rows["item_idx"] == k, "score"], minlength=d.max_cut + 1).tolist()
            for k in range(d.K)]


def observed_visit_means(d: ItemsDesign) -> pd.DataFrame:
    """Observed item sums (complete item sets) per day and arm."""
    v = d.visits.assign(arm=d.visits["unit_idx"].map(d.units["arm"]) if d.has_arm else 0)
    tot = v[list(d.item_columns)].sum(axis=1, min_count=len(d.item_columns))
    return v.assign(total=tot).groupby(["day", "arm"])["total"].agg(["mean", "count", "std"]).reset_index()


def describe(d: ItemsDesign) -> dict:
    """Metadata kept with the fit: enough to summarise and plot without the model."""
    return {
        "outcome": d.outcome,
        "outcome_label": f"{scales.get(d.scale).label.replace(' total', '')} items",
        "scale": d.scale,
        "item_columns": list(d.item_columns),
        "item_lowest": d.item_lo.tolist(),
        "time": d.time,
        "link": d.link,
        "effect_by_day": d.effect_by_day,
        "patient_item": d.patient_item,
        "patient_change": d.patient_change,
        "parameterization": d.parameterization,
        "effect_parameterization": d.effect_parameterization,
        **shared.terms_meta(d.terms, d.units, d.mod_ref),
        "has_arm": d.has_arm,
        "study_level": d.study_level,
        "n_studies": len(d.studies),
        "n_patients": len(d.patients),
        "rows_used": len(d.rows),
        "visits_used": len(d.visits),
        "observed_item_counts": observed_counts(d),
        "observed_visit_means": observed_visit_means(d).to_dict("records"),
        **shared.excluded_meta(d.exclusions),
    }


def quantities(d: ItemsDesign) -> list[Quantity]:
    q = [Quantity("sd_patient_intercept")]
    if d.patient_item:
        q.append(Quantity("sd_patient_item"))
    if d.patient_change:
        q.append(Quantity("sd_patient_change"))
    if d.has_arm:
        head = ["effect", "effect_points", "effect_mean", "effect_sd"]
        if d.moderators:
            head += ["moderation", "moderation_mean", "moderation_sd"]
        q[:0] = [Quantity(n) for n in head]
    return q + [Quantity("mean_trajectory")]


def item_effect_recovery(fit, truth: dict, ci_prob=0.9) -> pd.DataFrame:
    """Per item x day ``effect`` of an items fit (effect_by_day=True) against a simulator's
    ``truth["item_effect_by_day"]`` (day -> item -> log-odds): mean, interval, truth, covered."""
    from ..results import summary_table

    s = summary_table(fit, ci_prob=ci_prob, quantities=["effect"])
    by_day = truth["item_effect_by_day"]
    e = s[s.quantity == "effect"].copy()
    e["truth"] = [by_day[float(d)][i] for d, i in zip(e["day"], e["item"])]
    e["covered"] = (e["lower"] <= e["truth"]) & (e["truth"] <= e["upper"])
    return e


#: items_trial's fixed truth (log-odds): item effects and per-MSM-point moderations, scale order
ITEMS_TRUTH = {
    "effect": np.array([-1.2, -1.0, -0.9, -0.3, -0.2, -0.3, -0.9, -1.0, -0.8, -1.0]),
    "moderation": np.array([0.10, 0.0, 0.08, 0.0, 0.0, 0.02, 0.0, 0.0, 0.03, -0.02]),
}


class ItemsFamily(Family):
    """The 10 MADRS items as ordinal outcomes (see the module docstring)."""

    name = "items"
    coordinate_columns = ("day", "arm", "item", "moderator")
    dim_names = {"day_post": "day"}

    options_function = staticmethod(design)

    def design(self, trial, card, outcome=None, moderators=None, time=None, **options):
        return design(trial, card, outcome=outcome, moderators=moderators, time=time, **options)

    def priors(self, card, d, overrides=None):
        return priors(card, d, overrides)

    def build_model(self, d, priors):
        return build_model(d, priors)

    def derive(self, d, idata, extras, rng):
        derive(d, idata, extras, rng)

    def describe(self, d):
        return describe(d)

    def quantities(self, d):
        return quantities(d)

    def loo_unit(self, d) -> str:
        return "visit"

    def figures(self) -> dict:
        from ..plots.items import plot_item_forest, plot_item_ppc

        return {"ppc": plot_item_ppc, "forest": plot_item_forest}

    def offset_priors(self, model) -> list[str]:
        """Per-patient terms, plus ``patient_level``: the mean of the patient intercepts, the other
        half of their prior (b = patient_level + patient_deviation)."""
        extra = ["patient_level"] if "patient_level" in model.named_vars else []
        return super().offset_priors(model) + extra

    def prior_draws(self, model, n: int, rng) -> list[dict]:
        """Forward draws, with the cutpoints drawn from their actual prior: independent normals
        around the grid restricted to increasing order (the ordered transform's density), by
        rejection per item; forward sampling alone would ignore the ordering."""
        draws = super().prior_draws(model, n, rng)
        hp = {v.name: v.get_value() for v in model.data_vars}
        sigma = float(hp["cutpoint_sigma"])
        suffixes = [name[len("cutpoint_grid"):] for name in hp if name.startswith("cutpoint_grid")]
        for theta in draws:
            relative = "patient_level" in theta
            m = float(theta["patient_level"]) if relative else 0.0
            for suffix in suffixes:
                grid = np.asarray(hp[f"cutpoint_grid{suffix}"])
                cut = np.empty_like(grid)
                for k in range(grid.shape[0]):
                    while True:
                        c = rng.normal(grid[k] - m, sigma)
                        if np.all(np.diff(c) > 0):
                            cut[k] = c
                            break
                theta[f"cutpoints{suffix}"] = cut + m
                if relative:
                    theta[f"cutpoints_relative{suffix}"] = cut
        return draws

    def simulate(self, d: ItemsDesign, params: dict, rng) -> TrialData:
        """The design's visits with item scores drawn from the model given ``params``.

        Population-level variables (cutpoints, trajectory_coef, moderator_coef, effect_coef,
        moderation_coef, sd_patient_intercept [, sd_patient_item, sd_patient_change], the study
        and period terms); patient terms are drawn from their prior, with mean ``patient_level``
        when ``params`` has it (the mean of the patient intercepts, moved into the cutpoints).
        """
        P = len(d.patients)
        g = {k: np.asarray(v, float)[None] for k, v in params.items()}  # one "draw"
        sd_b = float(np.ravel(params["sd_patient_intercept"])[0])
        b = sd_b * rng.standard_normal((1, P))
        if "patient_level" in params:
            # b = patient_level + patient_deviation (the centred form's prior): iid N(0, sd_b) minus
            # its mean is ZeroSumNormal(sd_b), so the intercepts' mean is the drawn patient_level
            # (drawing them afresh would break the link between patient_level and the cutpoints)
            b = b - b.mean() + float(np.ravel(params["patient_level"])[0])
        g["patient_intercept"] = b
        if d.patient_item:
            g["patient_item"] = float(np.ravel(params["sd_patient_item"])[0]) * rng.standard_normal((1, P, d.K))
        if d.patient_change:
            g["patient_change"] = float(np.ravel(params["sd_patient_change"])[0]) * rng.standard_normal((1, P))
        if d.study_level == "random":
            g["study_z"] = rng.standard_normal((1, len(d.studies)))
        unit = d.visits["unit_idx"].to_numpy()
        day_idx = np.searchsorted(d.model_days, d.visits["day"].to_numpy(float))
        base, shift, mod = _eta_parts(d, g, d.model_days)
        eta = base[0, unit, day_idx]  # (visits, items)
        if d.has_arm:
            arm = d.unit_arrays()["arm"][unit][:, None]
            eta = eta + arm * (shift[0, 0, day_idx] + (mod[0, unit, day_idx] if mod is not None else 0.0))
        cut = cutpoints_draws(d, {k: _one_draw(v) for k, v in params.items() if k.startswith("cutpoints")})
        scores = _sample_scores(eta[None], cut, d.link, rng)[0] + d.item_lo[None, :]
        frame = d.visits.drop(columns=["unit_idx"]).copy()
        frame[list(d.item_columns)] = scores.astype(float)
        if scales.get(d.scale).total_from_items == "sum":
            frame[f"{d.scale}_total"] = scores.sum(axis=1).astype(float)
        return TrialData(frame, source=f"simulate:{self.name}")

    def calibration_trial(self, rng, truth=None, n_patients=120, days=(0, 1, 7, 14)) -> TrialData:
        """A trial from the items model's generative form (time="visit", one study, one moderator).

        eta_ikt = b_i + alpha_t + beta x_i + 1[t > 0] (c_i + arm_i (e_k + g_k x_i)),
        b_i ~ N(0, sd_patient), c_i ~ N(0, sd_change) (the card's default patient_change);
        P(Y_ikt <= j) = logistic(c_kj - eta_ikt), 6 ordered cutpoints per item.
        Truth keyed like the summary: ("effect", item name), ("moderation", item name).
        """
        days = np.asarray(days, float)
        t = {"effect": ITEMS_TRUTH["effect"], "moderation": ITEMS_TRUTH["moderation"],
             "trajectory": np.linspace(-0.6, -1.0, int((days > 0).sum())), "moderator_effect": 0.05,
             "sd_patient": 1.0, "sd_change": 0.6,
             "cutpoints": np.linspace(-2.0, 3.0, 6)[None, :] + np.linspace(-0.5, 0.5, 10)[:, None]} | (truth or {})
        arm = np.arange(n_patients) % 2
        msm = rng.integers(3, 16, n_patients).astype(float)
        x = msm - msm.mean()
        b = rng.normal(0.0, t["sd_patient"], n_patients)
        change = rng.normal(0.0, t["sd_change"], n_patients)
        alpha = np.concatenate([[0.0], t["trajectory"]])
        post = (days > 0).astype(float)
        eta = (b + t["moderator_effect"] * x)[:, None, None] + alpha[None, :, None]
        eta = eta + (change[:, None] * post[None, :])[:, :, None]
        eta = eta + (arm[:, None] * post[None, :])[:, :, None] * (t["effect"][None, None, :]
                                                                 + x[:, None, None] * t["moderation"][None, None, :])
        scores = _sample_scores(eta, np.asarray(t["cutpoints"])[None], "logit", rng)  # (patient, day, item)
        frame = pd.DataFrame({"patient": np.repeat([f"P{i:03d}" for i in range(n_patients)], len(days)),
                              "arm": np.repeat(arm, len(days)), "day": np.tile(days, n_patients),
                              "msm": np.repeat(msm, len(days))})
        for k in range(10):
            frame[f"madrs_{k + 1}"] = scores[:, :, k].ravel().astype(float)
        names = scales.get("madrs").item_names
        truth_keys = {("effect", name): float(v) for name, v in zip(names, t["effect"])}
        truth_keys |= {("moderation", name): float(v) for name, v in zip(names, t["moderation"])}
        return TrialData(frame, source=f"calibration:{self.name}", truth=truth_keys)


def _one_draw(value):
    """A parameter value as a one-draw, one-chain DataArray (for ``cutpoints_draws``)."""
    import xarray as xr

    v = np.asarray(value, float)
    return xr.DataArray(v[None, None], dims=("chain", "draw", *[f"d{i}" for i in range(v.ndim)]))


FAMILY = ItemsFamily()
