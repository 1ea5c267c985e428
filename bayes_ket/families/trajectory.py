"""Trajectory family: a total score over visits (card models/trajectory.toml).

    y_ut = B(t) alpha + arm_u C(t) delta
         + sum_m x_um [B(t) beta_m + arm_u C(t) gamma_m]
         + b0_p + b1_p s(t) + study_u + period_u + e_ut,      e_ut ~ N(0, sigma)

u is a unit (patient x period), p its patient. B is the mean basis, C the treatment
basis (zero at baseline: the arms share the baseline mean), s the patient slope
basis; see ``time_basis``. x_um is moderator m centred at its mean over patients.
(b0, b1)_p ~ MvNormal(0, Sigma), Sigma = diag(tau) R diag(tau), R ~ LKJ(eta)
(for 2 x 2: (r + 1)/2 ~ Beta(eta, eta)). Patient effects ("parameterization"): "marginal"
(default) integrates them out exactly (``patient_marginal``) and draws them afterwards for the
posterior-predictive quantities; "noncentered" / "centered" sample them with NUTS.
Study level by the number of studies (``study_level``).

Priors (names as in ``fit.priors``):
    alpha_k ~ N(trajectory_mu * level_k, trajectory_sigma * w_k)
    delta_k ~ N(0, effect_sigma * w_k)
    beta_km ~ N(0, moderator_effect_sigma * w_k / sd(x_m))
    gamma_km ~ N(0, moderation_sigma * w_k / sd(x_m))
    tau ~ HalfNormal([sd_patient_intercept_sigma, sd_patient_slope_sigma]), R ~ LKJ(corr_patient_eta)
    sigma ~ HalfNormal(sigma_sigma)
    random study: u_s ~ N(0, sd_study), v_s ~ N(0, sd_study_effect) (x arm x post-baseline),
                  sd_study ~ HalfNormal(sd_study_sigma), sd_study_effect ~ HalfNormal(sd_study_effect_sigma)
    fixed study / period offsets ~ N(0, study_sigma)
w_k is 1 for a level column and 1 / span(s) for a slope column, so a prior SD is
"over the observed time span". Every hyperparameter is a ``pm.Data``: a sweep
changes it without recompiling.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from ..data.schema import ARM_NAMES, TOTAL_RANGES
from ..data.trial import TrialData
from ..errors import BayesKetError
from .common import Exclusions, build_units, resolve_priors, study_level

TIME_BASES = ("visit", "linear", "log")
#: patient effects: integrated out analytically (default), non-centred or centred draws
PARAMETERIZATIONS = ("marginal", "noncentered", "centered")


def time_basis(kind: str, days: np.ndarray, model_days: np.ndarray):
    """Return (B, C, s, w_B, w_C) for ``days``.

    B: mean basis rows, C: treatment basis rows (0 at baseline), s: slope basis,
    w_B / w_C: prior-scale weights of their columns (1 level, 1/span slope).
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


@dataclass
class TrajectoryDesign:
    """Everything the model needs from the data, as arrays (built by ``design``)."""

    outcome: str
    time: str
    moderators: list[str]
    has_arm: bool
    study_level: str
    model_days: np.ndarray
    summary_days: np.ndarray
    rows: pd.DataFrame  # the frame rows used, with unit / patient indices
    units: pd.DataFrame  # one row per patient x period: patient_idx, arm, study_idx, period_idx, x_*
    patients: list
    studies: list
    n_periods: int
    mod_ref: np.ndarray
    mod_sd: np.ndarray
    span: float
    remission_threshold: float
    response_reduction: float
    parameterization: str
    exclusions: Exclusions = field(default_factory=Exclusions)

    @property
    def outcome_range(self) -> float:
        lo, hi = TOTAL_RANGES[self.outcome]
        return float(hi - lo)

    @property
    def post_days(self) -> np.ndarray:
        return self.summary_days[self.summary_days > 0]

    def arrays(self, unit_idx: np.ndarray, days: np.ndarray) -> dict:
        """Design arrays for rows (unit, day): the one place rows become numbers."""
        B, C, s, _, _ = time_basis(self.time, days, self.model_days)
        u = self.units.iloc[unit_idx]
        X = u[[f"x_{m}" for m in self.moderators]].to_numpy(float).reshape(len(u), len(self.moderators))
        return {
            "B": B, "C": C, "s": s, "X": X,
            "arm": u["arm"].to_numpy(float),
            "post": (np.asarray(days) > 0).astype(float),
            "patient": u["patient_idx"].to_numpy(int),
            "study": u["study_idx"].to_numpy(int),
            "period": u["period_idx"].to_numpy(int),
        }

    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        """(unit index, day) of every unit at every summary day, unit-major."""
        n_u, n_d = len(self.units), len(self.summary_days)
        return np.repeat(np.arange(n_u), n_d), np.tile(self.summary_days, n_u)


def design(trial: TrialData, card, outcome=None, moderators=None, time=None,
           remission_threshold=None, parameterization=None) -> TrajectoryDesign:
    """Validate the request against the trial and build the design.

    remission_threshold: overrides the card's threshold for this outcome (e.g. 9 for
    MADRS as in the pooled meta-analysis, seed 002).
    """
    settings = card.settings
    outcome = outcome or settings.get("outcome", "madrs_total")
    time = time or settings.get("time", "visit")
    frame = trial.frame
    if outcome not in TOTAL_RANGES:
        raise BayesKetError(f"outcome={outcome!r} is not a total score. Fix: use one of {list(TOTAL_RANGES)}.")
    if outcome not in frame or frame[outcome].notna().sum() == 0:
        raise BayesKetError(
            f"Column {outcome!r} has no observed values in this trial. Fix: choose outcome= from {trial.outcomes}."
        )
    if time not in TIME_BASES:
        raise BayesKetError(f"time={time!r} is not a time basis. Fix: use one of {TIME_BASES}.")
    if moderators is None:
        moderators = ["msm"] if "msm" in frame and frame["msm"].notna().any() else []
    moderators = [moderators] if isinstance(moderators, str) else list(moderators)
    for m in moderators:
        if m not in frame:
            raise BayesKetError(f"Moderator column {m!r} is not in the trial. Fix: choose from {trial.moderators}.")
        if not pd.api.types.is_numeric_dtype(frame[m]):
            raise BayesKetError(f"Moderator column {m!r} is not numeric. Fix: code it as numbers (e.g. 0/1).")

    parameterization = parameterization or settings.get("patient_parameterization", "marginal")
    if parameterization not in PARAMETERIZATIONS:
        raise BayesKetError(f"parameterization={parameterization!r} is not known. Fix: use one of {PARAMETERIZATIONS}.")

    excl = Exclusions()
    rows = frame.copy()
    rows = excl.drop(rows, rows[outcome].isna(), f"{outcome} missing")
    for m in moderators:
        rows = excl.drop(rows, rows[m].isna(), f"moderator {m} missing")
    if rows.empty:
        raise BayesKetError(f"No rows left to fit: {excl.summary()}. Fix: check {outcome!r} and the moderators.")

    has_arm = "arm" in rows and rows["arm"].nunique() > 1
    if "period" not in rows:
        rows["period"] = 1
    rows["period"] = rows["period"].fillna(1).astype(int)
    if "study" not in rows:
        rows["study"] = "all"

    model_days = np.sort(rows["day"].unique().astype(float))
    if time == "visit" and len(model_days) > settings.get("max_visit_days", 30):
        raise BayesKetError(
            f"Column 'day' has {len(model_days)} distinct values: too many for time='visit' (one mean per "
            "visit). Fix: round days to scheduled visits, or use time='log' or time='linear'."
        )
    max_days = settings.get("max_summary_days", 12)
    if time == "visit" or len(model_days) <= max_days:
        summary_days = model_days
    else:
        grid = np.asarray(settings.get("grid_days", [0, 1, 7, 14, 28]), float)
        summary_days = grid[(grid >= model_days.min()) & (grid <= model_days.max())]

    rows, units, patients, studies, mod_ref, mod_sd = build_units(rows, moderators, has_arm)
    level = study_level(len(studies), settings.get("min_studies_random", 3))
    s_all = model_days if time == "linear" else np.log1p(model_days)
    return TrajectoryDesign(
        outcome=outcome, time=time, moderators=moderators, has_arm=has_arm, study_level=level,
        model_days=model_days, summary_days=summary_days, rows=rows, units=units,
        patients=patients, studies=studies, n_periods=int(units["period_idx"].max()) + 1,
        mod_ref=mod_ref, mod_sd=mod_sd, span=float(s_all.max() - s_all.min()) or 1.0, exclusions=excl,
        remission_threshold=float(remission_threshold if remission_threshold is not None
                                  else settings["remission_threshold"][outcome]),
        response_reduction=float(settings.get("response_reduction", 0.5)),
        parameterization=parameterization,
    )


def priors(card, d: TrajectoryDesign, overrides: dict | None = None) -> dict:
    """Card defaults scaled to the outcome's range and time span, then overrides."""
    return resolve_priors(card, d.outcome_range, d.span, overrides)


def build_model(d: TrajectoryDesign, priors: dict) -> tuple[pm.Model, dict]:
    """The PyMC model; returns it and the extra expressions (mean on observed rows and grid)."""
    _, _, _, wB, wC = time_basis(d.time, d.model_days, d.model_days)
    M = len(d.moderators)
    coords = {
        "patient": [str(p) for p in d.patients],
        "basis": np.arange(len(wB)), "tbasis": np.arange(len(wC)),
        "moderator": d.moderators,
        "day": d.summary_days, "day_post": d.post_days,
        "obs": np.arange(len(d.rows)), "effect_kind": ["intercept", "slope"],
    }
    if d.has_arm:
        coords["arm"] = [ARM_NAMES[1], ARM_NAMES[0]]
    obs = d.arrays(d.rows["unit_idx"].to_numpy(), d.rows["day"].to_numpy(float))
    gu, gd = d.grid()
    grid = d.arrays(gu, gd)
    Bs, Cs, _, _, _ = time_basis(d.time, d.summary_days, d.model_days)
    Cs_post = Cs[d.summary_days > 0]
    level = np.zeros(len(wB))
    level[: (len(wB) if d.time == "visit" else 1)] = 1.0

    with pm.Model(coords=coords) as model:
        hp = {name: pm.Data(name, float(value)) for name, value in priors.items()}
        y = pm.Data("y", d.rows[d.outcome].to_numpy(float), dims="obs")
        alpha = pm.Normal("trajectory_coef", hp["trajectory_mu"] * level, hp["trajectory_sigma"] * wB, dims="basis")
        params = {"alpha": alpha}
        if d.has_arm:
            params["delta"] = pm.Normal("effect_coef", 0.0, hp["effect_sigma"] * wC, dims="tbasis")
        if M:
            inv_sd = pm.Data("moderator_inv_sd", 1.0 / d.mod_sd, dims="moderator")
            params["beta"] = pm.Normal("moderator_coef", 0.0, hp["moderator_effect_sigma"] * wB[:, None] * inv_sd,
                                       dims=("basis", "moderator"))
            if d.has_arm:
                params["gamma"] = pm.Normal("moderation_coef", 0.0,
                                            hp["moderation_sigma"] * wC[:, None] * inv_sd, dims=("tbasis", "moderator"))
        # 2 x 2 LKJ(eta) is (r + 1) / 2 ~ Beta(eta, eta): written so, eta stays a (sweepable) pm.Data.
        tau = pm.HalfNormal("patient_sd", pt.stack([hp["sd_patient_intercept_sigma"], hp["sd_patient_slope_sigma"]]),
                            dims="effect_kind")
        r = 2.0 * pm.Beta("patient_corr_unit", hp["corr_patient_eta"], hp["corr_patient_eta"]) - 1.0
        if d.parameterization == "marginal":
            params["b"] = None  # integrated out below
        elif d.parameterization == "centered":
            chol = pt.stack([pt.stack([tau[0], 0.0]), pt.stack([tau[1] * r, tau[1] * pt.sqrt(1.0 - r**2)])])
            params["b"] = pm.MvNormal("patient_effect", mu=pt.zeros(2), chol=chol, dims=("patient", "effect_kind"))
        else:
            z = pm.Normal("patient_z", 0.0, 1.0, dims=("patient", "effect_kind"))
            params["b"] = pt.stack([tau[0] * z[:, 0], tau[1] * (r * z[:, 0] + pt.sqrt(1.0 - r**2) * z[:, 1])],
                                   axis=1)
        pm.Deterministic("sd_patient_intercept", tau[0])
        pm.Deterministic("sd_patient_slope", tau[1])
        pm.Deterministic("corr_patient", r)
        if d.study_level == "random":
            model.add_coord("study", [str(s) for s in d.studies])
            sd_study = pm.HalfNormal("sd_study", hp["sd_study_sigma"])
            params["study_intercept"] = sd_study * pm.Normal("study_z", 0.0, 1.0, dims="study")
            if d.has_arm:
                sd_se = pm.HalfNormal("sd_study_effect", hp["sd_study_effect_sigma"])
                params["study_effect"] = sd_se * pm.Normal("study_effect_z", 0.0, 1.0, dims="study")
        elif d.study_level == "fixed":
            model.add_coord("study_contrast", [str(s) for s in d.studies[1:]])
            off = pm.Normal("study_offset", 0.0, hp["study_sigma"], dims="study_contrast")
            params["study_intercept"] = pt.concatenate([pt.zeros(1), off])
        if d.n_periods > 1:
            model.add_coord("period_contrast", list(range(2, d.n_periods + 1)))
            off = pm.Normal("period_offset", 0.0, hp["study_sigma"], dims="period_contrast")
            params["period"] = pt.concatenate([pt.zeros(1), off])
        sigma = pm.HalfNormal("sigma", hp["sigma_sigma"])

        obs_data = {k: pm.Data(f"obs_{k}", v) for k, v in obs.items()}
        mu_obs = linear_predictor(params, obs_data)
        extras = {}
        if d.parameterization == "marginal":
            slope_sums = np.stack([np.bincount(obs["patient"], weights=obs["s"] ** k, minlength=len(d.patients))
                                   for k in range(3)], axis=1)
            loglik, b_mean, b_cov = patient_marginal(y - mu_obs, obs_data["s"], obs_data["patient"],
                                                     pm.Data("patient_slope_sums", slope_sums), tau, r, sigma)
            pm.Potential("y_marginal", pt.sum(loglik))
            extras = {"patient_loglik": loglik, "patient_effect_mean": b_mean, "patient_effect_cov": b_cov}
        else:
            pm.Normal("y_obs", mu_obs, sigma, observed=y, dims="obs")

        # --- the API's quantities, at moderators' reference values ------------
        Bd = pm.Data("summary_B", Bs)
        control = pm.math.dot(Bd, alpha) + _mean_offsets(params, d)
        if d.has_arm:
            Cd = pm.Data("summary_C_post", Cs_post)
            pm.Deterministic("effect", pm.math.dot(Cd, params["delta"]), dims="day_post")
            ketamine = control + pm.math.dot(pm.Data("summary_C", Cs), params["delta"])
            pm.Deterministic("mean_trajectory", pt.stack([ketamine, control], axis=1), dims=("day", "arm"))
        else:
            pm.Deterministic("mean_trajectory", control, dims="day")
        if M:
            pm.Deterministic("moderator_effect", pm.math.dot(Bd, params["beta"]), dims=("day", "moderator"))
            if d.has_arm:
                pm.Deterministic("moderation", pm.math.dot(Cd, params["gamma"]), dims=("day_post", "moderator"))
        mu_grid = linear_predictor(params, {k: pm.Data(f"grid_{k}", v) for k, v in grid.items()})
    return model, {"mu_obs": mu_obs, "mu_grid": mu_grid, **extras}


def patient_marginal(resid, s, patient, sums, tau, r, sigma):
    """Patient effects (b0, b1) integrated out, per patient p (2 x 2 Woodbury identity).

    With Z_p = [1, s] on p's rows, Sigma = L L' (L: Cholesky of the patient covariance),
    W = Z_p L, v = 1 / sigma^2, M = I + v W'W, h = W' r_p (r_p: residuals of the fixed part):

        log N(r_p | 0, sigma^2 I + Z_p Sigma Z_p') = -1/2 [n_p log(2 pi sigma^2) + log|M|
                                                          + v r_p'r_p - v^2 h' M^-1 h]
        b_p | y, theta ~ N(L v M^-1 h, L M^-1 L')

    Only per-patient sums enter (n_p, sum s, sum s^2 are data: ``sums``), so the
    cost is one pass over the rows. Returns (log-likelihood per patient, conditional
    mean (patient, 2), conditional covariance (patient, 3): var b0, cov, var b1).
    """
    n_pat = sums.shape[0]
    seg = lambda x: pt.inc_subtensor(pt.zeros(n_pat)[patient], x)
    S0, S1, S2 = sums[:, 0], sums[:, 1], sums[:, 2]
    R0, R1, RR = seg(resid), seg(s * resid), seg(resid**2)
    l11, l21, l22 = tau[0], tau[1] * r, tau[1] * pt.sqrt(1.0 - r**2)
    v = 1.0 / sigma**2
    M11 = 1.0 + v * (l11**2 * S0 + 2.0 * l11 * l21 * S1 + l21**2 * S2)
    M12 = v * (l11 * l22 * S1 + l21 * l22 * S2)
    M22 = 1.0 + v * l22**2 * S2
    det = M11 * M22 - M12**2
    h1, h2 = l11 * R0 + l21 * R1, l22 * R1
    P11, P12, P22 = M22 / det, -M12 / det, M11 / det  # M^-1
    quad = v * RR - v**2 * (P11 * h1**2 + 2.0 * P12 * h1 * h2 + P22 * h2**2)
    loglik = -0.5 * (S0 * pt.log(2.0 * np.pi / v) + pt.log(det) + quad)
    u1, u2 = v * (P11 * h1 + P12 * h2), v * (P12 * h1 + P22 * h2)
    mean = pt.stack([l11 * u1, l21 * u1 + l22 * u2], axis=1)
    cov = pt.stack([l11**2 * P11, l11 * (l21 * P11 + l22 * P12),
                    l21**2 * P11 + 2.0 * l21 * l22 * P12 + l22**2 * P22], axis=1)
    return loglik, mean, cov


def draw_patient_effects(mean: np.ndarray, cov: np.ndarray, rng) -> np.ndarray:
    """One draw of (b0, b1) per posterior draw from their conditional normal (marginal fits)."""
    e = rng.standard_normal(mean.shape)
    l00 = np.sqrt(cov[..., 0])
    l10 = cov[..., 1] / l00
    l11 = np.sqrt(np.clip(cov[..., 2] - l10**2, 0.0, None))
    return np.stack([mean[..., 0] + l00 * e[..., 0], mean[..., 1] + l10 * e[..., 0] + l11 * e[..., 1]], axis=-1)


def with_patient_effects(d: TrajectoryDesign, extras: dict, rng) -> dict:
    """mu_obs and mu_grid including the patient effects (drawn when they were integrated out)."""
    if "patient_effect_mean" not in extras:
        return extras
    b = draw_patient_effects(extras["patient_effect_mean"], extras["patient_effect_cov"], rng)
    out = dict(extras)
    for key, (unit_idx, days) in {"mu_obs": (d.rows["unit_idx"].to_numpy(), d.rows["day"].to_numpy(float)),
                                  "mu_grid": d.grid()}.items():
        a = d.arrays(unit_idx, days)
        out[key] = extras[key] + b[..., a["patient"], 0] + b[..., a["patient"], 1] * a["s"]
    return out


def _mean_offsets(params, d: TrajectoryDesign):
    """Fixed study offsets averaged over units (random effects average to 0)."""
    if d.study_level != "fixed":
        return 0.0
    share = np.bincount(d.units["study_idx"], minlength=len(d.studies)) / len(d.units)
    return pt.sum(params["study_intercept"] * share)


def linear_predictor(p: dict, a: dict):
    """The model's mean for rows described by design arrays ``a`` (see ``arrays``)."""
    mu = pm.math.dot(a["B"], p["alpha"])
    if "delta" in p:
        mu += a["arm"] * pm.math.dot(a["C"], p["delta"])
    if "beta" in p:
        mu += pt.sum(a["X"] * pm.math.dot(a["B"], p["beta"]), axis=1)
    if "gamma" in p:
        mu += a["arm"] * pt.sum(a["X"] * pm.math.dot(a["C"], p["gamma"]), axis=1)
    if p.get("b") is not None:
        mu += p["b"][a["patient"], 0] + p["b"][a["patient"], 1] * a["s"]
    if "study_intercept" in p:
        mu += p["study_intercept"][a["study"]]
    if "study_effect" in p:
        mu += p["study_effect"][a["study"]] * a["arm"] * a["post"]
    if "period" in p:
        mu += p["period"][a["period"]]
    return mu


def replicate(d: TrajectoryDesign, mu_grid: np.ndarray, sigma: np.ndarray, rng) -> dict:
    """Posterior predictive response / remission rates on the trial's own units.

    Replicated scores y* = round(clip(mu + sigma e, range)) on every unit at every
    summary day; response: y*_t <= 0.5 y*_0; remission: y*_t <= threshold.
    Returns arrays (chain, draw, day_post[, arm]).
    """
    lo, hi = TOTAL_RANGES[d.outcome]
    thr = d.remission_threshold
    n_u, n_d = len(d.units), len(d.summary_days)
    mu = mu_grid.reshape(mu_grid.shape[:2] + (n_u, n_d))
    y = np.clip(np.round(mu + sigma[..., None, None] * rng.standard_normal(mu.shape)), lo, hi)
    base_col = np.flatnonzero(d.summary_days == 0)
    if len(base_col) == 0:
        raise BayesKetError("No baseline (day 0) visit: response cannot be defined. Fix: include day-0 scores.")
    post = d.summary_days > 0
    base = y[..., base_col[0]][..., None]
    resp = (y[..., post] <= (1 - d.response_reduction) * base) & (base > 0)
    remit = y[..., post] <= thr
    out = {}
    arm = d.units["arm"].to_numpy()
    groups = [("ketamine", arm == 1), ("control", arm == 0)] if d.has_arm else [("all", np.ones(n_u, bool))]
    for name, flag in (("response_rate", resp), ("remission_rate", remit)):
        rates = np.stack([flag[:, :, g, :].mean(axis=2) for _, g in groups], axis=-1)
        out[name] = rates if d.has_arm else rates[..., 0]
    if d.has_arm:
        rd = out["response_rate"][..., 0] - out["response_rate"][..., 1]
        out["response_difference"] = rd
    return out


def ppc_visit_means(d: TrajectoryDesign, mu_obs: np.ndarray, sigma: np.ndarray, rng) -> np.ndarray:
    """Replicated observed-row means per (model day, arm): (chain, draw, day_obs, arm)."""
    y = mu_obs + sigma[..., None] * rng.standard_normal(mu_obs.shape)
    day_idx = np.searchsorted(d.model_days, d.rows["day"].to_numpy(float))
    arm = d.rows["unit_idx"].map(d.units["arm"]).to_numpy() if d.has_arm else np.zeros(len(d.rows))
    arms = (1, 0) if d.has_arm else (0,)
    out = np.full(y.shape[:2] + (len(d.model_days), len(arms)), np.nan)
    for j, a in enumerate(arms):
        for k in range(len(d.model_days)):
            sel = (day_idx == k) & (arm == a)
            if sel.any():
                out[:, :, k, j] = y[:, :, sel].mean(axis=2)
    return out


def observed_visit_means(d: TrajectoryDesign) -> pd.DataFrame:
    rows = d.rows.assign(arm=d.rows["unit_idx"].map(d.units["arm"]) if d.has_arm else 0)
    return rows.groupby(["day", "arm"])[d.outcome].agg(["mean", "count", "std"]).reset_index()



def derive(d: TrajectoryDesign, idata, extras: dict, rng) -> None:
    """Posterior-predictive quantities into idata.posterior_predictive."""
    import xarray as xr

    sigma = idata.posterior["sigma"].to_numpy()
    extras = with_patient_effects(d, extras, rng)
    if "patient_loglik" in extras:  # marginal fits: LOO leaves one patient out
        idata.add_groups(log_likelihood=xr.Dataset(
            {"y_patient": (("chain", "draw", "patient"), extras["patient_loglik"])},
            coords={"patient": [str(p) for p in d.patients]}))
    arms = [ARM_NAMES[1], ARM_NAMES[0]] if d.has_arm else ["all"]
    rate_dims = ("chain", "draw", "day_post", "arm") if d.has_arm else ("chain", "draw", "day_post")
    data = {
        name: (rate_dims if name != "response_difference" else ("chain", "draw", "day_post"), value)
        for name, value in replicate(d, extras["mu_grid"], sigma, rng).items()
    }
    data["visit_mean_rep"] = (("chain", "draw", "day_obs", "arm_obs"), ppc_visit_means(d, extras["mu_obs"], sigma, rng))
    coords = {"day_post": d.post_days, "day_obs": d.model_days, "arm_obs": arms}
    if d.has_arm:
        coords["arm"] = arms
    idata.add_groups(posterior_predictive=xr.Dataset(data, coords=coords))


def describe(d: TrajectoryDesign) -> dict:
    """Metadata kept with the fit: enough to summarise and plot without the model."""
    quantities = ["mean_trajectory", "sd_patient_intercept", "sd_patient_slope", "corr_patient", "sigma"]
    if d.has_arm:
        quantities[:0] = ["effect"]
        if d.moderators:
            quantities.insert(1, "moderation")
    if d.moderators:
        quantities.append("moderator_effect")
    predictive = ["response_rate", "remission_rate"] + (["response_difference", "nnt_response"] if d.has_arm else [])
    observed = observed_visit_means(d)
    return {
        "family": "trajectory",
        "outcome": d.outcome,
        "time": d.time,
        "moderators": d.moderators,
        "moderator_reference": dict(zip(d.moderators, d.mod_ref.tolist())),
        "has_arm": d.has_arm,
        "study_level": d.study_level,
        "n_studies": len(d.studies),
        "n_patients": len(d.patients),
        "rows_used": len(d.rows),
        "rows_excluded": d.exclusions.table().to_dict("records"),
        "quantities": quantities,
        "predictive_quantities": predictive,
        "population_vars": ["trajectory_coef", "effect_coef", "moderator_coef", "moderation_coef", "sigma",
                            "sd_patient_intercept", "sd_patient_slope", "corr_patient", "sd_study",
                            "sd_study_effect", "study_offset", "period_offset"],
        "observed_visit_means": observed.to_dict("records"),
    }
