"""Trajectory family: a total score over visits (card models/trajectory.toml).

    y_ut = B(t) alpha + arm_u C(t) delta
         + sum_m x_um [B(t) beta_m + arm_u C(t) gamma_m]
         + b0_p + b1_p s(t) + study_u + period_u + e_ut,      e_ut ~ N(0, sigma)

u is a unit (patient x period), p its patient. B is the mean basis, C the treatment
basis (zero at baseline: the arms share the baseline mean), s the patient slope
basis; see ``design.time_basis``. x_um is moderator m centred at its mean over patients.
(b0, b1)_p ~ MvNormal(0, Sigma), Sigma = diag(tau) R diag(tau), R ~ LKJ(eta)
(for 2 x 2: (r + 1)/2 ~ Beta(eta, eta)). Patient effects ("parameterization"): "marginal"
(default) integrates them out exactly (``marginal_from_sums``; the log density from sums over
patient groups taken once, ``marginal_total``) and draws them afterwards for the
posterior-predictive quantities; "noncentered" / "centered" sample them with NUTS.
Study level by the number of studies (``design.study_level``): random intercept and random
treatment effect with >= 3, fixed intercepts with 2, none with 1; period_u a fixed shift.

Priors (names as in ``fit.priors``):
    alpha_k ~ N(trajectory_mu * level_k, trajectory_sigma * w_k)
    delta_k ~ N(0, effect_sigma * w_k)
    beta_km ~ N(0, moderator_effect_sigma * w_k / sd(x_m))
    gamma_km ~ N(0, moderation_sigma * w_k / sd(x_m))
    tau ~ HalfNormal([sd_patient_intercept_sigma, sd_patient_slope_sigma]), R ~ LKJ(corr_patient_eta)
    sigma ~ HalfNormal(sigma_sigma)
    random study: u_s = sd_study z_s, v_s = sd_study_effect z'_s (x arm x post-baseline),
                  sd_study ~ HalfNormal(sd_study_sigma), sd_study_effect ~ HalfNormal(sd_study_effect_sigma)
    fixed study / period offsets ~ N(0, study_sigma)
w_k is 1 for a level column and 1 / span(s) for a slope column, so a prior SD is
"over the observed time span". Every hyperparameter is a ``pm.Data``: a sweep
changes it without recompiling.

Summary quantities (at moderators' reference values, the mean over patients):
effect (day), moderation (day, moderator), moderator_effect (day, moderator),
mean_trajectory (day[, arm]), response_rate / remission_rate (day[, arm]: shares of the
trial's own units in replicated data), response_difference and nnt_response (day),
sd_patient_intercept, sd_patient_slope, corr_patient, sigma.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._lazy import lazy_module
from ..data.schema import ARM_NAMES
from ..data.trial import TrialData
from ..engine.draws import flat_draws
from ..errors import BayesKetError
from . import design as shared
from .base import Family, Quantity

pm = lazy_module("pymc")
pt = lazy_module("pytensor.tensor")

#: patient effects: integrated out analytically (default), non-centred or centred draws
PARAMETERIZATIONS = ("marginal", "noncentered", "centered")
#: the day-0 score: an outcome (constrained longitudinal), a covariate (ANCOVA / MMRM), or neither
BASELINES = ("outcome", "covariate", "none")
OUTCOME_SCALES = ("points", "percent")
#: replicated values (draws x units x days) per block in ``derive``: small enough to stay in the
#: CPU's cache (at 10,000 patients, blocks of 14 draws ran 3-4x faster than blocks of 200)
REPLICATE_BLOCK_VALUES = 1_000_000


@dataclass
class TrajectoryDesign:
    """Everything the model needs from the data, as arrays (built by ``TrajectoryFamily.design``)."""

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
    terms: list  # design.ModeratorTerm per moderator column (summary labels)
    span: float
    remission_threshold: float | None
    response_reduction: float | None
    parameterization: str
    score_range: tuple  # (floor, top) of the scale
    baseline: str = "outcome"  # "outcome" | "covariate" | "none"
    outcome_scale: str = "points"  # "points" | "percent"
    baseline_rows: int = 0  # day-0 rows used as baselines, not modelled (baseline != "outcome")
    baseline_frame: pd.DataFrame | None = None  # those rows
    sustained_days: tuple | None = None  # (first, second): remitted at the first and still at the second
    y0_mean: float = 0.0  # mean observed baseline over units (the covariate's centre)
    time_column: str = "day"  # "actual_day" for continuous bases when the reader kept actual days
    exclusions: shared.Exclusions = field(default_factory=shared.Exclusions)

    @property
    def outcome_range(self) -> float:
        """The modelled outcome's range, which scales the card's "range" priors: 100 percent points
        on the percent scale, the scale's range in points otherwise."""
        return 100.0 if self.outcome_scale == "percent" else float(self.score_range[1] - self.score_range[0])

    @property
    def post_days(self) -> np.ndarray:
        return self.summary_days[self.summary_days > 0]

    def arrays(self, unit_idx: np.ndarray, days: np.ndarray) -> dict:
        """Design arrays for rows (unit, day): the one place rows become numbers.

        The time bases are tables over the rows' distinct days ("B", "C": day x basis), with
        each row's index into them ("time"). The model multiplies the coefficients by the few
        table rows and gathers, where a (rows x basis) product and its transpose cost most of
        each gradient at scale (10,000 patients, 57k rows: 2.7-3.0 -> 2.0 ms per gradient).
        """
        times, time_idx = np.unique(np.asarray(days, float), return_inverse=True)
        time_idx = time_idx.reshape(-1)
        B, C, s, _, _ = shared.time_basis(self.time, times, self.model_days)
        u = self.units.iloc[unit_idx]
        X = u[[f"x_{m}" for m in self.moderators]].to_numpy(float).reshape(len(u), len(self.moderators))
        return {
            "B": B, "C": C, "time": time_idx, "s": s[time_idx], "X": X,
            "y0c": (u["y0"] - self.y0_mean).fillna(0.0).to_numpy(float),
            "arm": u["arm"].to_numpy(float),
            "post": (np.asarray(days) > 0).astype(float),
            "patient": u["patient_idx"].to_numpy(int),
            "study": u["study_idx"].to_numpy(int),
            "period": u["period_idx"].to_numpy(int),
        }

    def observed_arrays(self) -> dict:
        return self.arrays(self.rows["unit_idx"].to_numpy(), self.rows[self.time_column].to_numpy(float))

    def visit_cells(self) -> tuple[np.ndarray, int]:
        """Each observed row's (model day, arm) cell, day-major (arms: ketamine, control), and the
        number of cells: the posterior predictive check compares replicated cell means."""
        day_idx = np.searchsorted(self.model_days, self.rows["day"].to_numpy(float))
        if not self.has_arm:
            return day_idx, len(self.model_days)
        arm = self.rows["unit_idx"].map(self.units["arm"]).to_numpy()
        return day_idx * 2 + np.where(arm == 1, 0, 1), 2 * len(self.model_days)

    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        """(unit index, day) of every unit at every summary day, unit-major."""
        n_u, n_d = len(self.units), len(self.summary_days)
        return np.repeat(np.arange(n_u), n_d), np.tile(self.summary_days, n_u)


def linear_predictor(p: dict, a: dict):
    """The model's mean for rows described by design arrays ``a`` (see ``arrays``).

    Written with operators numpy arrays and PyTensor tensors share, so the model and the
    generator (``TrajectoryFamily.simulate``) use this one function.
    """
    t = a["time"]  # each row's day in the basis tables a["B"], a["C"]
    mu = (a["B"] @ p["alpha"])[t]
    if "delta" in p:
        mu = mu + a["arm"] * (a["C"] @ p["delta"])[t]
    if "beta" in p:
        mu = mu + (a["X"] * (a["B"] @ p["beta"])[t]).sum(axis=1)
    if "gamma" in p:
        mu = mu + a["arm"] * (a["X"] * (a["C"] @ p["gamma"])[t]).sum(axis=1)
    if "lambda" in p:
        mu = mu + a["y0c"] * (a["B"] @ p["lambda"])[t]
    if p.get("b") is not None:
        mu = mu + p["b"][a["patient"], 0] + p["b"][a["patient"], 1] * a["s"]
    if "study_intercept" in p:
        mu = mu + p["study_intercept"][a["study"]]
    if "study_effect" in p:
        mu = mu + p["study_effect"][a["study"]] * a["arm"] * a["post"]
    if "period" in p:
        mu = mu + p["period"][a["period"]]
    return mu


def patient_marginal(resid, s, patient, sums, tau, r, sigma):
    """Patient effects (b0, b1) integrated out, per patient, from the rows' residuals.

    The per-patient sums R0 = sum r, R1 = sum s r, RR = sum r^2 of the residuals r of the fixed
    part, in one pass over the rows, then ``marginal_from_sums``. Returns (log-likelihood per
    patient, conditional mean (patient, 2), conditional covariance (patient, 3)). Works on
    PyTensor tensors (the model's post-sampling quantities) and numpy arrays (the tests'
    reference check).
    """
    n_pat = sums.shape[0]
    if isinstance(resid, np.ndarray):
        seg = lambda x: np.bincount(patient, weights=x, minlength=n_pat)  # noqa: E731
    else:
        seg = lambda x: pt.inc_subtensor(pt.zeros(n_pat)[patient], x)  # noqa: E731
    return marginal_from_sums(seg(resid), seg(s * resid), seg(resid**2), sums, tau, r, sigma)


def _woodbury(sums, tau, r, sigma):
    """The 2 x 2 pieces of the marginal per row of ``sums`` (n_p, sum s, sum s^2): L (l11, l21,
    l22), v = 1 / sigma^2, |M| and M^-1 (P11, P12, P22); see ``marginal_from_sums``."""
    sqrt = np.sqrt if isinstance(sums, np.ndarray) else pt.sqrt
    S0, S1, S2 = sums[:, 0], sums[:, 1], sums[:, 2]
    l11, l21, l22 = tau[0], tau[1] * r, tau[1] * sqrt(1.0 - r**2)
    v = 1.0 / sigma**2
    M11 = 1.0 + v * (l11**2 * S0 + 2.0 * l11 * l21 * S1 + l21**2 * S2)
    M12 = v * (l11 * l22 * S1 + l21 * l22 * S2)
    M22 = 1.0 + v * l22**2 * S2
    det = M11 * M22 - M12**2
    return (l11, l21, l22), v, det, (M22 / det, -M12 / det, M11 / det)


def marginal_from_sums(R0, R1, RR, sums, tau, r, sigma):
    """Patient effects (b0, b1) integrated out, per patient p (2 x 2 Woodbury identity).

    With Z_p = [1, s] on p's rows, Sigma = L L' (L: Cholesky of the patient covariance),
    W = Z_p L, v = 1 / sigma^2, M = I + v W'W, h = W' r_p (r_p: residuals of the fixed part):

        log N(r_p | 0, sigma^2 I + Z_p Sigma Z_p') = -1/2 [n_p log(2 pi sigma^2) + log|M|
                                                          + v r_p'r_p - v^2 h' M^-1 h]
        b_p | y, theta ~ N(L v M^-1 h, L M^-1 L')

    Only per-patient sums enter: n_p, sum s, sum s^2 (data: ``sums``, patient x 3) and
    R0 = sum r_p, R1 = sum s r_p, RR = r_p'r_p. Returns (log-likelihood per patient,
    conditional mean (patient, 2), conditional covariance (patient, 3): var b0, cov, var b1).
    Works on PyTensor tensors and numpy arrays.
    """
    log, stack = (np.log, np.stack) if isinstance(sums, np.ndarray) else (pt.log, pt.stack)
    (l11, l21, l22), v, det, (P11, P12, P22) = _woodbury(sums, tau, r, sigma)
    h1, h2 = l11 * R0 + l21 * R1, l22 * R1
    quad = v * RR - v**2 * (P11 * h1**2 + 2.0 * P12 * h1 * h2 + P22 * h2**2)
    loglik = -0.5 * (sums[:, 0] * log(2.0 * np.pi / v) + log(det) + quad)
    u1, u2 = v * (P11 * h1 + P12 * h2), v * (P12 * h1 + P22 * h2)
    mean = stack([l11 * u1, l21 * u1 + l22 * u2], axis=1)
    cov = stack([l11**2 * P11, l11 * (l21 * P11 + l22 * P12),
                 l21**2 * P11 + 2.0 * l21 * l22 * P12 + l22**2 * P22], axis=1)
    return loglik, mean, cov


def marginal_total(stats: dict, step, tau, r, sigma):
    """The summed marginal log-likelihood of all patients at theta = theta_hat + step, from
    ``fixed_part_statistics`` (the model's log density; PyTensor).

    Patients with the same sums and the same summed design rows form a group g (n_g patients:
    one schedule and one arm, study and moderator pattern); within g, R0_p = a0_p - m0_g and
    R1_p = a1_p - m1_g with m0 = G0_g step, m1 = G1_g step, so the sums over g of R0^2,
    R0 R1 and R1^2 that ``marginal_from_sums`` needs come from the group's moments of
    (a0, a1): e.g. sum R0^2 = A00 - 2 m0 A0 + n_g m0^2. With a1 likewise and h = L'(R0, R1):

        sum_p loglik_p = -1/2 [N log(2 pi sigma^2) + sum_g n_g log|M_g|
                               + v sum_p RR_p - v^2 sum_g tr(M_g^-1 sum_{p in g} h_p h_p')]
    """
    G = stats["group_sums"]
    (l11, l21, l22), v, det, (P11, P12, P22) = _woodbury(G, tau, r, sigma)
    n, A = stats["group_size"], stats["group_moments"]  # A: sum a0, sum a1, sum a0^2, sum a0 a1, sum a1^2
    m0, m1 = pt.dot(stats["G0"], step), pt.dot(stats["G1"], step)
    s00 = A[:, 2] - 2.0 * m0 * A[:, 0] + n * m0**2
    s01 = A[:, 3] - m0 * A[:, 1] - m1 * A[:, 0] + n * m0 * m1
    s11 = A[:, 4] - 2.0 * m1 * A[:, 1] + n * m1**2
    h11 = l11**2 * s00 + 2.0 * l11 * l21 * s01 + l21**2 * s11
    h12 = l22 * (l11 * s01 + l21 * s11)
    h22 = l22**2 * s11
    rr = stats["ee"] - 2.0 * pt.dot(stats["De"], step) + pt.dot(step, pt.dot(stats["DD"], step))
    return -0.5 * (pt.sum(n * G[:, 0]) * pt.log(2.0 * np.pi / v) + pt.sum(n * pt.log(det)) + v * rr
                   - v**2 * pt.sum(P11 * h11 + 2.0 * P12 * h12 + P22 * h22))


def coefficient_shapes(d: TrajectoryDesign) -> dict:
    """Shapes of the fixed part's coefficient blocks, under ``linear_predictor``'s names, in the
    order the model's coefficient vector concatenates them (as ``build_model`` creates them)."""
    K, Kc = (len(w) for w in shared.time_basis(d.time, d.model_days, d.model_days)[3:])
    M = len(d.moderators)
    shapes = {"alpha": (K,)}
    if d.has_arm:
        shapes["delta"] = (Kc,)
    if d.baseline == "covariate":
        shapes["lambda"] = (K,)
    if M:
        shapes["beta"] = (K, M)
        if d.has_arm:
            shapes["gamma"] = (Kc, M)
    if d.study_level in ("random", "fixed"):
        shapes["study_intercept"] = (len(d.studies),)
    if d.study_level == "random" and d.has_arm:
        shapes["study_effect"] = (len(d.studies),)
    if d.n_periods > 1:
        shapes["period"] = (d.n_periods,)
    return shapes


def fixed_part_matrix(shapes: dict, a: dict) -> np.ndarray:
    """The fixed part of ``linear_predictor`` as a (rows x coefficients) matrix D.

    The mean is linear in its coefficient blocks (``shapes``: name -> shape, in order), so
    column j is ``linear_predictor`` at the j-th unit coefficient vector; blocks are
    flattened in C order, as the model's coefficient vector theta concatenates them. Built
    from ``linear_predictor`` itself, so D theta and the mean cannot disagree.
    """
    zero = {name: np.zeros(shape) for name, shape in shapes.items()}
    columns = []
    for name, shape in shapes.items():
        for j in range(int(np.prod(shape))):
            unit = np.zeros(int(np.prod(shape)))
            unit[j] = 1.0
            columns.append(np.broadcast_to(linear_predictor({**zero, name: unit.reshape(shape)}, a), a["time"].shape))
    return np.column_stack(columns)


def fixed_part_statistics(D: np.ndarray, y: np.ndarray, s: np.ndarray, patient: np.ndarray, sums: np.ndarray) -> dict:
    """What the marginal log density needs from the rows, summed once (data, not per gradient).

    The residuals of the fixed part are r = y - D theta. Write theta = theta_hat + step, with
    theta_hat the least-squares fit and e = y - D theta_hat. Then per patient p and in total

        R0_p = a0_p - G0_p step,  a0_p = sum_p e,    G0_p = sum_p D
        R1_p = a1_p - G1_p step,  a1_p = sum_p s e,  G1_p = sum_p s D
        sum_p RR_p = e'e - 2 (D'e)' step + step' D'D step

    (exact for any theta_hat; the least-squares one makes D'e ~ 0, so nothing large cancels in
    single precision). Patients sharing (sums, G0, G1) are grouped (``marginal_total``): the
    groups are schedules x arm x study x moderator patterns, 59-468 of them at 154-10,000
    patients of pooled_rct (padded with empty groups to a power of two), never more than the
    patients. A gradient then costs products
    of (group x coefficient) matrices, not passes over every row with gathers and scatter-adds
    (10,000 patients, 58k rows: 2.1 -> 0.2 ms; ARCHITECTURE.md). By hand: no library reduces
    a PyMC graph so.
    """
    theta_hat = np.linalg.lstsq(D, y, rcond=None)[0]
    e = y - D @ theta_hat

    def per(index, x, n):
        total = np.zeros((n,) + x.shape[1:])
        np.add.at(total, index, x)
        return total

    n_pat = len(sums)
    a0, a1 = per(patient, e, n_pat), per(patient, s * e, n_pat)
    G0, G1 = per(patient, D, n_pat), per(patient, s[:, None] * D, n_pat)
    key, first, group = np.unique(np.column_stack([sums, G0, G1]), axis=0, return_index=True, return_inverse=True)
    group = group.reshape(-1)
    n_groups = len(key)
    # empty groups (n_g = 0, all sums 0: they add exactly 0) pad the count to a power of two, so
    # replicated trials of one design (calibration) mostly share the compiled shapes
    capacity = min(n_pat, 2 ** int(np.ceil(np.log2(n_groups))))
    pad = lambda x: np.concatenate([x, np.zeros((capacity - n_groups,) + x.shape[1:])])  # noqa: E731
    return {
        "theta_hat": theta_hat,
        "group_sums": pad(sums[first]), "group_size": pad(np.bincount(group, minlength=n_groups).astype(float)),
        "group_moments": pad(per(group, np.column_stack([a0, a1, a0**2, a0 * a1, a1**2]), n_groups)),
        "G0": pad(G0[first]), "G1": pad(G1[first]),
        "ee": np.asarray(e @ e), "De": D.T @ e, "DD": D.T @ D,
    }


def draw_patient_effects(mean: np.ndarray, cov: np.ndarray, rng) -> np.ndarray:
    """One draw of (b0, b1) per posterior draw from their conditional normal (marginal fits)."""
    e = rng.standard_normal(mean.shape)
    l00 = np.sqrt(cov[..., 0])
    l10 = cov[..., 1] / l00
    l11 = np.sqrt(np.clip(cov[..., 2] - l10**2, 0.0, None))
    return np.stack([mean[..., 0] + l00 * e[..., 0], mean[..., 1] + l10 * e[..., 0] + l11 * e[..., 1]], axis=-1)


def _mean_offsets(params, d: TrajectoryDesign):
    """Fixed study offsets averaged over units (random effects average to 0)."""
    if d.study_level != "fixed":
        return 0.0
    share = np.bincount(d.units["study_idx"], minlength=len(d.studies)) / len(d.units)
    return (params["study_intercept"] * share).sum()


def replicate(d: TrajectoryDesign, mu: np.ndarray, sigma: np.ndarray, rng) -> dict:
    """Posterior predictive rates on the trial's own units (one chunk of draws).

    Replicated outcomes on every unit at every summary day: scores y* = round(clip(mu + sigma e,
    scale range)); on the percent scale, replicated percent improvements p* = mu + sigma e and
    the scores they imply, y* = round(clip(y0 - p* (y0 - floor) / 100)). The baseline is the
    replicated day-0 score when the baseline is an outcome, the observed one otherwise.
    Percent improvement 100 (y0 - y*_t) / (y0 - floor) (positive = improvement); response:
    percent improvement >= 100 x the scale's response fraction; remission: y*_t <= threshold.
    A unit whose baseline is at the scale's floor has no percent improvement and no response:
    it leaves those averages (the one rule of ``scales.percent_improvement``).
    mu (n, units, days), sigma (n,). Returns arrays (n, day_post[, arm]): response_rate,
    remission_rate, percent_improvement, and with two arms response_difference and
    percent_difference (ketamine - control); with ``sustained_days`` (a, b) also
    sustained_remission (n, 1[, arm]): remitted at day a and still at day b.
    """
    lo, hi = d.score_range
    n_u, n_d = len(d.units), len(d.summary_days)
    # single precision: replicated scores are whole numbers, and rates of a few hundred units
    mu = mu.astype(np.float32, copy=False)
    value = mu + sigma.astype(np.float32)[:, None, None] * rng.standard_normal(mu.shape, dtype=np.float32)
    post = d.summary_days > 0
    y0_obs = d.units["y0"].to_numpy(np.float32)[None, :, None]
    if d.outcome_scale == "percent":
        y = np.clip(np.round(y0_obs - value[..., post] * (y0_obs - lo) / 100.0), lo, hi)
        base = y0_obs
    else:
        scores = np.clip(np.round(value), lo, hi)
        y = scores[..., post]
        base = scores[..., np.flatnonzero(d.summary_days == 0)[:1]] if d.baseline == "outcome" else y0_obs
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = np.where(base > lo, 100.0 * (base - y) / (base - lo), np.nan)
    flags = {"percent_improvement": pct}
    if d.response_reduction is not None:
        flags["response_rate"] = np.where(np.isnan(pct), np.float32(np.nan), pct >= 100.0 * d.response_reduction)
    if d.remission_threshold is not None:
        remit = y <= d.remission_threshold
        flags["remission_rate"] = remit.astype(np.float32)
        if d.sustained_days is not None:
            post_days = d.summary_days[post]
            first, second = (int(np.flatnonzero(post_days == day)[0]) for day in d.sustained_days)
            flags["sustained_remission"] = (remit[..., first] & remit[..., second]).astype(np.float32)[..., None]
    arm = d.units["arm"].to_numpy()
    groups = np.stack([arm == 1, arm == 0] if d.has_arm else [np.ones(n_u, bool)], axis=1).astype(np.float32)
    out = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for name, flag in flags.items():  # mean over each group's units with a value (NaN: left out)
            valid = ~np.isnan(flag)
            # (n, day, unit) @ (unit, group) in BLAS, in float32: exact for the 0/1 flags and
            # counts; percent improvements' sums are rounded at about 1e-7 of their size
            total = np.matmul(np.where(valid, flag, 0.0).transpose(0, 2, 1), groups).astype(np.float64)
            count = np.matmul(valid.astype(np.float32).transpose(0, 2, 1), groups).astype(np.float64)
            rates = total / count
            out[name] = rates if d.has_arm else rates[..., 0]
    if "sustained_remission" in out:
        out["sustained_remission"] = out["sustained_remission"][:, 0]
    if d.has_arm:
        for name, diff in (("response_rate", "response_difference"), ("percent_improvement", "percent_difference")):
            if name in out:
                out[diff] = out[name][..., 0] - out[name][..., 1]
    return out


def ppc_visit_means(d: TrajectoryDesign, cell_sums: np.ndarray, counts: np.ndarray, sigma: np.ndarray,
                    rng) -> np.ndarray:
    """Replicated observed-row means per (model day, arm) for a chunk: (n, day_obs, arm).

    A cell's replicated rows are its means plus independent N(0, sigma) errors, so their sum
    is the cell's sum of means (``cell_sums``, n x cells) plus sigma sqrt(n_c) z, z ~ N(0, 1)
    (n_c: the cell's rows, ``counts``): the same distribution as replicating every row,
    without the rows.
    """
    noise = sigma[:, None] * np.sqrt(counts) * rng.standard_normal(cell_sums.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, (cell_sums + noise) / counts, np.nan)
    return means.reshape(len(cell_sums), len(d.model_days), 2 if d.has_arm else 1)


def observed_visit_means(d: TrajectoryDesign) -> pd.DataFrame:
    rows = d.rows.assign(arm=d.rows["unit_idx"].map(d.units["arm"]) if d.has_arm else 0)
    return rows.groupby(["day", "arm"])["_value"].agg(["mean", "count", "std"]).reset_index()


def _scale_label(outcome: str, outcome_scale: str) -> str:
    from .. import scales

    label = scales.for_column(outcome).label or outcome
    return f"{label}, % improvement" if outcome_scale == "percent" else label


class TrajectoryFamily(Family):
    """Total score over visits with patient, study and period levels (see the module docstring)."""

    name = "trajectory"
    coordinate_columns = ("day", "arm", "moderator", "study")
    dim_names = {"day_post": "day", "day_obs": "day"}

    # ---- data -> model -------------------------------------------------------------
    def design(self, trial: TrialData, card, outcome=None, moderators=None, time=None,
               remission_threshold=None, parameterization=None, baseline=None,
               outcome_scale=None, sustained_remission=None) -> TrajectoryDesign:
        """Validate the request against the trial and build the design (nothing is compiled).

        remission_threshold: overrides the card's and the scale registry's threshold (e.g. 9
        for MADRS as in the pooled meta-analysis).
        parameterization: patient effects "marginal" (card default), "noncentered" or "centered".
        baseline: "outcome" (default: the day-0 score is an outcome and the arms share its mean,
            a constrained longitudinal analysis: uses patients with any visit, and is the better
            choice with missing follow-up or an unbalanced baseline); "covariate" (the day-0
            score, centred, is a covariate of the post-baseline visits with a coefficient per
            visit, as in ANCOVA / MMRM: the usual RCT analysis; patients without a baseline are
            excluded); "none" (post-baseline visits only).
        outcome_scale: "points" (default) or "percent": the outcome is the percent improvement
            100 (baseline - score) / (baseline - floor) at post-baseline visits (positive =
            improvement; priors in percent points); a baseline at the scale's floor has none, and
            such patients are excluded with that reason.
        sustained_remission: (day a, day b), e.g. (10.06, 370) after the 4th infusion and at 12
            months (card setting ``sustained_remission_days``): adds the quantity
            ``sustained_remission``, the share of the trial's units remitted at day a and still
            at day b in replicated data. Both must be summary days.
        """
        settings = card.settings
        outcome = outcome or settings.get("outcome", "madrs_total")
        time = time or settings.get("time", "visit")
        outcome_scale = outcome_scale or settings.get("outcome_scale", "points")
        if outcome_scale not in OUTCOME_SCALES:
            raise BayesKetError(f"outcome_scale={outcome_scale!r}. Fix: use one of {OUTCOME_SCALES}.")
        baseline = baseline or ("none" if outcome_scale == "percent" else settings.get("baseline", "outcome"))
        if baseline not in BASELINES:
            raise BayesKetError(f"baseline={baseline!r}. Fix: use one of {BASELINES}.")
        if outcome_scale == "percent" and baseline == "outcome":
            raise BayesKetError("outcome_scale='percent' with baseline='outcome': the percent improvement is 0 at "
                                "baseline by definition. Fix: baseline='none' (default) or 'covariate'.")
        frame = trial.frame
        scale = shared.outcome_scale(trial, outcome)
        if time not in shared.TIME_BASES:
            raise BayesKetError(f"time={time!r} is not a time basis. Fix: use one of {shared.TIME_BASES}.")
        terms = shared.moderator_terms(trial, moderators)
        moderators = [t.column for t in terms]
        parameterization = parameterization or settings.get("patient_parameterization", "marginal")
        if parameterization not in PARAMETERIZATIONS:
            raise BayesKetError(
                f"parameterization={parameterization!r} is not known. Fix: use one of {PARAMETERIZATIONS}.")
        lo = float(scale.range[0])

        excl = shared.Exclusions()
        rows = excl.drop(shared.add_indicators(frame, terms), frame[outcome].isna(), f"{outcome} missing")
        rows = shared.drop_missing_moderators(rows, terms, excl)
        if rows.empty:
            raise BayesKetError(f"No rows left to fit: {excl.summary()}. Fix: check {outcome!r} and the moderators.")
        rows = shared.with_ids(rows)
        is_base = rows["day"] == 0
        y0 = rows[is_base].set_index(["patient", "period"])[outcome]
        rows["y0"] = pd.MultiIndex.from_frame(rows[["patient", "period"]]).map(y0).astype(float)
        if baseline == "outcome":
            if not is_base.any():
                raise BayesKetError(
                    "No baseline (day 0) visit: with baseline='outcome' the arms share the baseline mean, and "
                    "response is a change from baseline. Fix: include the day-0 scores, or use baseline='none'.")
        elif baseline == "covariate" or outcome_scale == "percent":
            need = "a covariate" if baseline == "covariate" else "the percent improvement's reference"
            if not is_base.any():
                raise BayesKetError(f"No baseline (day 0) score: baseline={baseline!r} / outcome_scale="
                                    f"{outcome_scale!r} needs each patient's day-0 {outcome} as {need}. Fix: include "
                                    "the day-0 scores, or use baseline='outcome'.")
            rows = excl.drop(rows, rows["y0"].isna(), f"no baseline (day 0) {outcome}: needed as {need}")
            if outcome_scale == "percent":
                rows = excl.drop(rows, rows["y0"] <= lo, f"baseline at the scale floor ({lo:g}): percent "
                                 "improvement undefined")
        baseline_frame = None
        if baseline != "outcome":
            baseline_frame = rows[rows["day"] == 0].drop(columns=["y0"])
            rows = rows[rows["day"] != 0]
            if rows.empty:
                raise BayesKetError(f"No post-baseline {outcome} scores to model. Fix: check the visits.")
        rows["_value"] = (100.0 * (rows["y0"] - rows[outcome]) / (rows["y0"] - lo) if outcome_scale == "percent"
                          else rows[outcome].astype(float))
        has_arm = shared.two_arms(rows)
        model_days, summary_days = shared.visit_days(rows, time, settings)
        units = shared.build_units(rows, moderators, has_arm)
        units_frame = units.units
        units_frame["y0"] = units.rows.groupby("unit_idx")["y0"].first().reindex(range(len(units_frame))).to_numpy()
        time_column = "actual_day" if time != "visit" and "actual_day" in rows else "day"
        sustained = sustained_remission if sustained_remission is not None else settings.get(
            "sustained_remission_days")
        if sustained is not None:
            sustained = tuple(float(v) for v in sustained)
            missing = [v for v in sustained if v not in set(summary_days[summary_days > 0].tolist())]
            if len(sustained) != 2 or missing:
                raise BayesKetError(f"sustained_remission={list(sustained)}: needs two post-baseline summary days; "
                                    f"{missing} not among {summary_days[summary_days > 0].tolist()}. Fix: name two "
                                    "scheduled visit days.")
        return TrajectoryDesign(
            outcome=outcome, time=time, moderators=moderators, has_arm=has_arm,
            study_level=shared.study_level(len(units.studies), settings),
            model_days=model_days, summary_days=summary_days, rows=units.rows, units=units_frame,
            patients=units.patients, studies=units.studies, n_periods=units.n_periods,
            mod_ref=units.reference, mod_sd=units.sd, terms=terms,
            span=shared.slope_span(time, model_days), exclusions=excl,
            remission_threshold=shared.remission_threshold(scale, card, remission_threshold),
            response_reduction=scale.response, parameterization=parameterization,
            score_range=tuple(float(v) for v in scale.range), baseline=baseline, outcome_scale=outcome_scale,
            baseline_rows=0 if baseline_frame is None else len(baseline_frame), baseline_frame=baseline_frame,
            sustained_days=sustained,
            y0_mean=float(np.nanmean(units_frame["y0"])) if units_frame["y0"].notna().any()
            else 0.0, time_column=time_column,
        )

    def priors(self, card, d: TrajectoryDesign, overrides: dict | None = None) -> dict:
        """Card defaults scaled to the outcome's range and time span, then overrides."""
        return shared.resolve_priors(card, d.outcome_range, d.span, overrides)

    def build_model(self, d: TrajectoryDesign, priors: dict) -> tuple[pm.Model, dict]:
        """The PyMC model; returns it and the extra expressions (mean on observed rows and grid)."""
        _, _, _, wB, wC = shared.time_basis(d.time, d.model_days, d.model_days)
        M = len(d.moderators)
        coords = {
            "patient": [str(p) for p in d.patients],
            "basis": np.arange(len(wB)), "tbasis": np.arange(len(wC)),
            "moderator": [t.label for t in d.terms],
            "day": d.summary_days, "day_post": d.post_days,
            "obs": np.arange(len(d.rows)), "effect_kind": ["intercept", "slope"],
        }
        if d.has_arm:
            coords["arm"] = [ARM_NAMES[1], ARM_NAMES[0]]
        obs = d.observed_arrays()
        gu, gd = d.grid()
        grid = d.arrays(gu, gd)
        Bs, Cs, _, _, _ = shared.time_basis(d.time, d.summary_days, d.model_days)
        Cs_post = Cs[d.summary_days > 0]
        level = np.zeros(len(wB))
        level[: (len(wB) if d.time == "visit" else 1)] = 1.0

        with pm.Model(coords=coords) as model:
            hp = {name: pm.Data(name, float(value)) for name, value in priors.items()}
            y = pm.Data("y", d.rows["_value"].to_numpy(float), dims="obs")
            alpha = pm.Normal("trajectory_coef", hp["trajectory_mu"] * level, hp["trajectory_sigma"] * wB,
                              dims="basis")
            params = {"alpha": alpha}
            if d.has_arm:
                params["delta"] = pm.Normal("effect_coef", 0.0, hp["effect_sigma"] * wC, dims="tbasis")
            if d.baseline == "covariate":  # per point of baseline score, in outcome units
                per_point = d.outcome_range / (d.score_range[1] - d.score_range[0])
                params["lambda"] = pm.Normal("baseline_coef", 0.0, hp["baseline_sigma"] * per_point * wB, dims="basis")
            if M:
                inv_sd = pm.Data("moderator_inv_sd", 1.0 / d.mod_sd, dims="moderator")
                params["beta"] = pm.Normal("moderator_coef", 0.0,
                                           hp["moderator_effect_sigma"] * wB[:, None] * inv_sd,
                                           dims=("basis", "moderator"))
                if d.has_arm:
                    params["gamma"] = pm.Normal("moderation_coef", 0.0,
                                                hp["moderation_sigma"] * wC[:, None] * inv_sd,
                                                dims=("tbasis", "moderator"))
            # 2 x 2 LKJ(eta) is (r + 1) / 2 ~ Beta(eta, eta): written so, eta stays a (sweepable) pm.Data.
            tau = pm.HalfNormal("patient_sd", pt.stack([hp["sd_patient_intercept_sigma"],
                                                        hp["sd_patient_slope_sigma"]]), dims="effect_kind")
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
                slope_sums = pm.Data("patient_slope_sums", np.stack(
                    [np.bincount(obs["patient"], weights=obs["s"] ** k, minlength=len(d.patients))
                     for k in range(3)], axis=1))
                # the log density from sums over the rows taken once (fixed_part_statistics) ...
                shapes = coefficient_shapes(d)
                if set(shapes) != set(params) - {"b"}:  # a coefficient block the statistics would miss
                    raise BayesKetError(f"internal: coefficient blocks {sorted(shapes)} differ from the model's "
                                        f"{sorted(set(params) - {'b'})}; please report this.")
                stats = fixed_part_statistics(fixed_part_matrix(shapes, obs), d.rows["_value"].to_numpy(float),
                                              obs["s"], obs["patient"], slope_sums.get_value())
                stats = {k: pm.Data(f"marginal_{k}", v) for k, v in stats.items()}
                step = pt.concatenate([pt.flatten(params[name]) for name in shapes]) - stats["theta_hat"]
                pm.Potential("y_marginal", marginal_total(stats, step, tau, r, sigma))
                # ... and per patient from the rows, for LOO and the patient effects (after sampling)
                loglik, b_mean, b_cov = patient_marginal(y - mu_obs, obs_data["s"], obs_data["patient"],
                                                         slope_sums, tau, r, sigma)
                extras = {"patient_loglik": loglik, "patient_effect_mean": b_mean, "patient_effect_cov": b_cov}
            else:
                pm.Normal("y_obs", mu_obs, sigma, observed=y, dims="obs")

            # --- the summary's quantities, at moderators' reference values ------------
            Bd = pm.Data("summary_B", Bs)
            control = Bd @ alpha + _mean_offsets(params, d)
            if d.has_arm:
                Cd = pm.Data("summary_C_post", Cs_post)
                pm.Deterministic("effect", Cd @ params["delta"], dims="day_post")
                ketamine = control + pm.Data("summary_C", Cs) @ params["delta"]
                pm.Deterministic("mean_trajectory", pt.stack([ketamine, control], axis=1), dims=("day", "arm"))
            else:
                pm.Deterministic("mean_trajectory", control, dims="day")
            if M:
                pm.Deterministic("moderator_effect", Bd @ params["beta"], dims=("day", "moderator"))
                if d.has_arm:
                    pm.Deterministic("moderation", Cd @ params["gamma"], dims=("day_post", "moderator"))
            mu_grid = linear_predictor(params, {k: pm.Data(f"grid_{k}", v) for k, v in grid.items()})
            cell, n_cells = d.visit_cells()
            cell_sums = pt.inc_subtensor(pt.zeros(n_cells)[pm.Data("obs_visit_cell", cell)], mu_obs)
        # single precision for the grid: replicate rounds replicated scores to whole numbers
        return model, {"visit_cell_sums": cell_sums, "mu_grid": pt.cast(mu_grid, "float32"), **extras}

    # ---- draws -> quantities ------------------------------------------------------------
    def derive(self, d: TrajectoryDesign, idata, extras, rng) -> None:
        """Posterior-predictive quantities, computed chunk by chunk of draws.

        Marginal fits: the patient effects are drawn from their conditional normal within each
        chunk, and LOO leaves one patient out (log_likelihood ``y_patient``). The predictive
        check's visit means come from per-cell sums (``ppc_visit_means``): no per-row array.
        """
        import xarray as xr

        n_chain, n_draw = extras.shape
        marginal = d.parameterization == "marginal"
        names = ["visit_cell_sums", "mu_grid"] + (["patient_effect_mean", "patient_effect_cov", "patient_loglik"]
                                                  if marginal else [])
        n_u, n_d = len(d.units), len(d.summary_days)
        unit_patient = d.units["patient_idx"].to_numpy()
        s_days = d.arrays(np.zeros(n_d, int), d.summary_days)["s"].astype(np.float32)
        cell, n_cells = d.visit_cells()
        counts = np.bincount(cell, minlength=n_cells).astype(float)
        if marginal:  # each patient's rows in each visit cell: count and sum of s (the b terms' cell sums)
            obs_a = d.observed_arrays()
            cell_b = np.zeros((2, n_cells, len(d.patients)))
            np.add.at(cell_b[0], (cell, obs_a["patient"]), 1.0)
            np.add.at(cell_b[1], (cell, obs_a["patient"]), obs_a["s"])
        block = max(1, REPLICATE_BLOCK_VALUES // (n_u * n_d))  # draws replicated at a time
        rates, visit_means, loglik = [], [], []
        for sl, ex in extras.chunks(names):
            sigma = flat_draws(idata.posterior["sigma"], sl)
            if marginal:
                loglik.append(ex["patient_loglik"])
            for blk in (slice(i, i + block) for i in range(0, len(sigma), block)):
                cell_sums, mu = ex["visit_cell_sums"][blk], ex["mu_grid"][blk].reshape(-1, n_u, n_d)
                if marginal:
                    b = draw_patient_effects(ex["patient_effect_mean"][blk], ex["patient_effect_cov"][blk], rng)
                    cell_sums = cell_sums + b[..., 0] @ cell_b[0].T + b[..., 1] @ cell_b[1].T
                    b_unit = b[:, unit_patient].astype(np.float32)
                    mu = mu + b_unit[..., :1] + b_unit[..., 1:] * s_days
                rates.append(replicate(d, mu, sigma[blk], rng))
                visit_means.append(ppc_visit_means(d, cell_sums, counts, sigma[blk], rng))
        shape = (n_chain, n_draw)
        if marginal:  # LOO leaves one patient out
            idata.add_groups(log_likelihood=xr.Dataset(
                {"y_patient": (("chain", "draw", "patient"), np.concatenate(loglik).reshape(shape + (-1,)))},
                coords={"patient": [str(p) for p in d.patients]}))
        arms = [ARM_NAMES[1], ARM_NAMES[0]] if d.has_arm else ["all"]
        data = {}
        for name in rates[0]:
            value = np.concatenate([r[name] for r in rates]).reshape(shape + rates[0][name].shape[1:])
            dims = ("chain", "draw") + (() if name == "sustained_remission" else ("day_post",)) + (
                ("arm",) if d.has_arm and not (name.endswith("_difference")) else ())
            data[name] = (dims, value)
        vm = np.concatenate(visit_means).reshape(shape + visit_means[0].shape[1:])
        data["visit_mean_rep"] = (("chain", "draw", "day_obs", "arm_obs"), vm)
        coords = {"day_post": d.post_days, "day_obs": d.model_days, "arm_obs": arms}
        if d.has_arm:
            coords["arm"] = arms
        idata.add_groups(posterior_predictive=xr.Dataset(data, coords=coords))

    def quantities(self, d: TrajectoryDesign) -> list[Quantity]:
        q = []
        if d.has_arm:
            q.append(Quantity("effect"))
            if d.moderators:
                q.append(Quantity("moderation"))
        q += [Quantity("mean_trajectory"), Quantity("sd_patient_intercept"), Quantity("sd_patient_slope"),
              Quantity("corr_patient"), Quantity("sigma")]
        if d.moderators:
            q.append(Quantity("moderator_effect"))
        pp = "posterior_predictive"
        if d.response_reduction is not None:
            q.append(Quantity("response_rate", pp))
        if d.remission_threshold is not None:
            q.append(Quantity("remission_rate", pp))
            if d.sustained_days is not None:
                q.append(Quantity("sustained_remission", pp))
        q.append(Quantity("percent_improvement", pp))
        if d.has_arm:
            if d.response_reduction is not None:
                q += [Quantity("response_difference", pp),
                      Quantity("nnt_response", pp, summary="nnt", source="response_difference")]
            q.append(Quantity("percent_difference", pp))
        return q

    def loo_unit(self, d: TrajectoryDesign) -> str:
        return "patient" if d.parameterization == "marginal" else "row"

    def describe(self, d: TrajectoryDesign) -> dict:
        """Metadata kept with the fit: enough to summarise and plot without the model."""
        return {
            "outcome": d.outcome,
            "outcome_label": _scale_label(d.outcome, d.outcome_scale),
            "time": d.time,
            "baseline": d.baseline,
            "outcome_scale": d.outcome_scale,
            "parameterization": d.parameterization,
            **shared.terms_meta(d.terms, d.units, d.mod_ref),
            "has_arm": d.has_arm,
            "study_level": d.study_level,
            "n_studies": len(d.studies),
            "n_patients": len(d.patients),
            "rows_used": len(d.rows) + d.baseline_rows,
            "baseline_rows": d.baseline_rows,
            "sustained_remission_days": list(d.sustained_days) if d.sustained_days else None,
            "remission_threshold": d.remission_threshold,
            "observed_visit_means": observed_visit_means(d).to_dict("records"),
            **shared.excluded_meta(d.exclusions),
        }

    def figures(self) -> dict:
        from ..plots.ppc import plot_visit_means

        return {"ppc": plot_visit_means}

    # ---- calibration -------------------------------------------------------------------------
    def simulate(self, d: TrajectoryDesign, params: dict, rng) -> TrialData:
        """The design's rows with the outcome drawn from the model given ``params``.

        Uses the population-level variables (trajectory_coef, effect_coef, moderator_coef,
        moderation_coef, sd_patient_intercept, sd_patient_slope, corr_patient, sigma, and the
        study / period terms of the design); patient effects are drawn from their prior.
        """
        g = lambda name: np.asarray(params[name], float)  # noqa: E731
        p = {"alpha": g("trajectory_coef")}
        if d.has_arm:
            p["delta"] = g("effect_coef")
        if d.moderators:
            p["beta"] = g("moderator_coef")
            if d.has_arm:
                p["gamma"] = g("moderation_coef")
        tau = np.array([float(g("sd_patient_intercept")), float(g("sd_patient_slope"))])
        r = float(g("corr_patient"))
        cov = np.array([[tau[0] ** 2, r * tau[0] * tau[1]], [r * tau[0] * tau[1], tau[1] ** 2]])
        p["b"] = rng.multivariate_normal(np.zeros(2), cov, len(d.patients))
        if d.study_level == "random":
            p["study_intercept"] = float(g("sd_study")) * rng.standard_normal(len(d.studies))
            if d.has_arm:
                p["study_effect"] = float(g("sd_study_effect")) * rng.standard_normal(len(d.studies))
        elif d.study_level == "fixed":
            p["study_intercept"] = np.concatenate([[0.0], g("study_offset")])
        if d.n_periods > 1:
            p["period"] = np.concatenate([[0.0], g("period_offset")])
        if d.baseline == "covariate":
            p["lambda"] = g("baseline_coef")
        a = d.observed_arrays()
        value = linear_predictor(p, a) + float(g("sigma")) * rng.standard_normal(len(a["arm"]))
        frame = d.rows.drop(columns=["unit_idx", "_value", "y0"]).copy()
        y0 = d.rows["y0"].to_numpy(float)
        lo = d.score_range[0]
        frame[d.outcome] = y0 - value * (y0 - lo) / 100.0 if d.outcome_scale == "percent" else value
        if d.baseline_frame is not None:
            frame = pd.concat([d.baseline_frame, frame], ignore_index=True)
        return TrialData(frame, source=f"simulate:{self.name}")

    def calibration_trial(self, rng, truth=None, n_patients=120, days=(0, 1, 3, 7, 14)) -> TrialData:
        """A trial from this family's generative form (time="visit", one moderator, one study).

        y = mu_t + arm * delta_t + x (beta_t + arm gamma_t) + b0 + b1 log(1+t) + e with fixed
        true parameters (``truth`` overrides); ``.truth`` keyed like the summary:
        ("effect", day), ("moderation", day).
        """
        days = np.asarray(days, float)
        post = days[days > 0]
        t = {
            "mean": np.array([32, 24, 23, 22, 21][: len(days)], float),
            "effect": np.linspace(-7, -3, len(post)),
            "moderation": np.linspace(0.8, 0.3, len(post)),
            "moderator_effect": np.full(len(days), 0.3),
            "sd_intercept": 4.0, "sd_slope": 1.5, "corr": 0.2, "sigma": 4.0,
        } | (truth or {})
        arm = np.arange(n_patients) % 2
        msm = rng.integers(3, 16, n_patients).astype(float)
        x = msm - msm.mean()
        cov = np.array([[t["sd_intercept"] ** 2, t["corr"] * t["sd_intercept"] * t["sd_slope"]],
                        [t["corr"] * t["sd_intercept"] * t["sd_slope"], t["sd_slope"] ** 2]])
        b = rng.multivariate_normal([0, 0], cov, n_patients)
        eff = np.concatenate([[0], t["effect"]])
        mod = np.concatenate([[0], t["moderation"]])
        mu = (t["mean"][None, :] + arm[:, None] * (eff + mod * x[:, None]) + x[:, None] * t["moderator_effect"]
              + b[:, :1] + b[:, 1:] * np.log1p(days)[None, :])
        y = mu + rng.normal(0, t["sigma"], mu.shape)
        frame = pd.DataFrame({"patient": np.repeat([f"P{i:03d}" for i in range(n_patients)], len(days)),
                              "arm": np.repeat(arm, len(days)), "day": np.tile(days, n_patients),
                              "msm": np.repeat(msm, len(days)), "madrs_total": y.ravel()})
        truth_keys = {("effect", d): e for d, e in zip(post, t["effect"])}
        truth_keys |= {("moderation", d): m for d, m in zip(post, t["moderation"])}
        return TrialData(frame, source=f"calibration:{self.name}", truth=truth_keys)


FAMILY = TrajectoryFamily()
