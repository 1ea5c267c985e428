"""The PyMC model of the IPD meta-analysis family, and the numpy twin used by its generator.

See ``ipd_meta`` for the equations. ``linear_mean`` is written with operators numpy arrays and
PyTensor tensors share, so the model and ``IpdMetaFamily.simulate`` use one function.
"""

from __future__ import annotations

import numpy as np

from .._lazy import lazy_module
from . import ipd_meta_design as dsg

pm = lazy_module("pymc")
pt = lazy_module("pytensor.tensor")

LOG_2PI = float(np.log(2.0 * np.pi))


# ---- likelihood -----------------------------------------------------------------------------
def bivariate_loglik(r1, r2, o1, o2, s11, s12, s22):
    """Log density of a unit's residuals (r1, r2) at two visits under a bivariate normal with
    covariance [[s11, s12], [s12, s22]], where o1, o2 (0/1) say which visits were observed.

    Conditional factorisation: log N(r1 | 0, s11) [if o1] + log N(r2 | b r1, s22 - b s12)
    [if o2] with b = o1 s12 / s11, so a unit seen at one visit contributes that visit's
    marginal density and nothing is imputed. r1, r2 must be 0 where not observed. Works on
    numpy arrays and PyTensor tensors (tests compare it with scipy's multivariate normal).
    """
    log = np.log if isinstance(r1, np.ndarray) else pt.log
    lp1 = -0.5 * (LOG_2PI + log(s11) + r1**2 / s11)
    b = o1 * s12 / s11
    v = s22 - b * s12
    lp2 = -0.5 * (LOG_2PI + log(v) + (r2 - b * r1) ** 2 / v)
    return o1 * lp1 + o2 * lp2


def linear_mean(p: dict, a: dict):
    """Mean (n, V) of the units described by arrays ``a`` under parameters ``p`` (module ``ipd_meta``).

    Study-level terms are summed per study first and sent to the units once, by the one-hot matrix
    ``a["study_onehot"]`` (n, J) in the model (a matrix product: its gradient is another product,
    where a gather's would be a scatter-add, slow on CPUs) or by indexing in numpy."""
    study_mu = p["intercept"]
    if "across_coef" in p:
        study_mu = study_mu + a["Xa"] @ p["across_coef"]
    if "study_moderator_coef" in p:
        study_mu = study_mu + a["Sm"] @ p["study_moderator_coef"]
    study_te = p["effect"][None, :] + 0.0 * p["intercept"]
    if "study_deviation" in p:
        study_te = study_te + p["study_deviation"]
    if "moderation_across" in p:
        study_te = study_te + a["Xa"] @ p["moderation_across"]
    if "moderation_study" in p:
        study_te = study_te + a["Sm"] @ p["moderation_study"]
    mu = to_units(a, study_mu)
    te = to_units(a, study_te)
    if "baseline_coef" in p:
        mu = mu + a["base_c"][:, None] * p["baseline_coef"][None, :]
    if "moderator_coef" in p:
        mu = mu + _within(a, p["moderator_coef"])
    if "moderation_within" in p:
        te = te + _within(a, p["moderation_within"])
    mu = mu + a["c"][:, None] * te
    if "period_coef" in p:
        mu = mu + a["period2"][:, None] * p["period_coef"][None, :]
    if "patient_effect" in p:
        mu = mu + p["patient_effect"][a["pidx"]][:, None]
    return mu


def to_units(a: dict, x):
    """Per-study rows x (J, ...) -> per-unit rows (n, ...)."""
    return a["study_onehot"] @ x if "study_onehot" in a else x[a["sidx"]]


def _within(a: dict, coef):
    """Xw @ coef, where Xw = a["Xw"] + sum of U @ E over a["Xw_latent"] (imputed moderators' columns,
    U (n, k) latent deviations, E (k, P) their positions): computed as U @ (E @ coef), never forming
    the (n, P) sum."""
    out = a["Xw"] @ coef
    for U, E in a.get("Xw_latent", ()):
        out = out + U @ (E @ coef)
    return out


def design_arrays(d) -> dict:
    Xw, Xa = d.within_across()
    return {"c": d.arm - 0.5, "sidx": d.study_idx, "Xw": Xw, "Xa": Xa, "Sm": d.study_standardised(),
            "base_c": d.baseline - d.baseline_centre(), "period2": d.period2, "pidx": d.patient_idx}


def scaled_normal(name, mu, sigma, centre, scale, dims):
    """A Normal(mu, sigma) parameter sampled as centre + scale * z, z ~ Normal((mu - centre) / scale,
    sigma / scale): the same prior, with the sampler's coordinate z near N(0, 1) a posteriori when
    (centre, scale) are a crude estimate and its standard error (``unit_scales``). NUTS's first
    warm-up window (identity metric) then meets parameters of similar scale, instead of
    intercepts with SD ~5 beside a log residual SD with SD ~0.03. (centre, scale) are constants of
    the compiled model, not data: a replicate swapped in by ``Analysis.rebind`` (calibration) keeps
    them, so z keeps its meaning and SBC may rank it."""
    c = pt.constant(np.asarray(centre, float))
    k = pt.constant(np.asarray(scale, float))
    z = pm.Normal(f"{name}_scaled", (mu - c) / k, sigma / k, dims=dims, initval=np.zeros(np.shape(centre)))
    return pm.Deterministic(name, c + k * z, dims=dims)


def unit_scales(d) -> dict:
    """Crude estimates and standard errors that put each location parameter on a unit scale (numpy).

    intercepts: study x visit means (SE sd / sqrt(n)); effect: mean ketamine - control difference
    (SE 2 sd / sqrt(n)); moderator terms: 0 (SE from the outcome SD, the moderator's spread and
    n); log residual SD: log of the outcome SD (SE 1 / sqrt(2 n)); Fisher z of the visits'
    correlation: of the sample correlation (SE 1 / sqrt(n)). Only the sampler's coordinates
    depend on them, never the model or its priors.
    """
    V, J = len(d.visits), d.n_studies
    Y, obs = d.Y, np.isfinite(d.Y)
    sd = np.array([np.nanstd(Y[:, v]) if obs[:, v].sum() > 1 else 1.0 for v in range(V)])
    sd = np.where(sd > 0, sd, 1.0)
    n_v = np.maximum(obs.sum(axis=0), 1)
    out = {}
    ic, isd = np.zeros((J, V)), np.zeros((J, V))
    for j in range(J):
        for v in range(V):
            y = Y[(d.study_idx == j) & obs[:, v], v]
            ic[j, v] = y.mean() if len(y) else np.nanmean(Y[:, v])
            isd[j, v] = sd[v] / np.sqrt(max(len(y), 1))
    out["intercept"] = (ic, isd)
    diff = np.array([np.nanmean(Y[d.arm == 1, v]) - np.nanmean(Y[d.arm == 0, v]) for v in range(V)])
    out["effect"] = (np.nan_to_num(diff), 2 * sd / np.sqrt(n_v))
    Xw, Xa = d.within_across()
    Sm = d.study_standardised()
    se = sd / np.sqrt(n_v)
    spread = lambda x: np.maximum(np.std(x, axis=0), 0.05) if x.shape[1] else np.ones(0)  # noqa: E731
    P, Q = Xw.shape[1], Sm.shape[1]
    out["moderator_coef"] = (np.zeros((P, V)), se[None, :] / spread(Xw)[:, None])
    out["moderation_within"] = (np.zeros((P, V)), 2 * se[None, :] / spread(Xw)[:, None])
    out["moderation_across"] = (np.zeros((P, V)), 2 * se[None, :] / spread(Xa[d.study_idx])[:, None])
    out["across_coef"] = (np.zeros((P, V)), se[None, :] / spread(Xa[d.study_idx])[:, None])
    out["moderation_study"] = (np.zeros((Q, V)), 2 * se[None, :] / spread(Sm[d.study_idx])[:, None])
    out["study_moderator_coef"] = (np.zeros((Q, V)), se[None, :] / spread(Sm[d.study_idx])[:, None])
    bc = d.baseline - d.baseline_centre()
    slope = [np.polyfit(bc[obs[:, v]], Y[obs[:, v], v], 1)[0] if obs[:, v].sum() > 2 and bc.std() > 0 else 0.0
             for v in range(V)]
    out["baseline_coef"] = (np.array(slope), se / max(bc.std(), 1e-3))
    out["period_coef"] = (np.zeros(V), 2 * se)
    out["intercept_mean"] = (np.nanmean(ic, axis=0), sd / np.sqrt(max(J, 1)))
    s_unit = np.sqrt(np.maximum(sd**2 - np.var(ic, axis=0), (0.3 * sd) ** 2))
    out["log_sigma"] = (np.log(s_unit), 1.0 / np.sqrt(2 * n_v))
    both = obs.all(axis=1) if V == 2 else np.zeros(len(Y), bool)
    r = np.corrcoef(Y[both, 0], Y[both, 1])[0, 1] if both.sum() > 3 else 0.0
    out["corr_visits_z"] = (np.arctanh(np.clip(r, -0.95, 0.95)), 1.0 / np.sqrt(max(both.sum(), 4)))
    return out


# ---- the model ------------------------------------------------------------------------------------
def build_model(d, priors: dict):
    from . import ipd_meta_impute as imp

    """(pm.Model, extras): extras are the per-unit mean (n, V), covariance entries (n, 3) and log-likelihood."""
    V, J = len(d.visits), d.n_studies
    P, Q = len(d.patient_moderators), len(d.study_moderators)
    coords = {"visit": d.visits, "study": [str(s) for s in d.studies], "moderator": d.moderators,
              "level": d.levels, "patient_moderator": d.patient_moderators,
              "study_moderator": d.study_moderators}
    if d.has_patient_level:
        coords["patient"] = [str(p) for p in d.patients]
    a_np = design_arrays(d)
    us = unit_scales(d)

    def normal(name, mu, sigma, dims):
        c, k = us[name]
        return scaled_normal(name, mu, sigma, c, k, dims)

    obs = d.observed
    Yf = np.where(np.isfinite(d.Y), d.Y, 0.0)
    with pm.Model(coords=coords) as model:
        hp = {name: pm.Data(name, float(value)) for name, value in priors.items()}
        a = {k: pm.Data(f"unit_{k}", v) for k, v in a_np.items()}
        a["study_onehot"] = pm.Data("unit_study_onehot", np.eye(J)[d.study_idx])
        y = pm.Data("y", Yf)
        o = pm.Data("y_observed", obs)
        p = {}
        # study intercepts
        if d.intercepts == "random":
            mean = normal("intercept_mean", hp["intercept_mu"], hp["intercept_sigma"], dims="visit")
            sd_study = pm.HalfNormal("sd_study", hp["sd_study_sigma"], dims="visit")
            z = pm.Normal("intercept_z", 0.0, 1.0, dims=("study", "visit"))
            p["intercept"] = pm.Deterministic("intercept", mean[None, :] + sd_study[None, :] * z, dims=("study", "visit"))
        else:
            p["intercept"] = normal("intercept", hp["intercept_mu"], hp["intercept_sigma"], dims=("study", "visit"))
        if d.outcome_scale == "points":
            p["baseline_coef"] = normal("baseline_coef", 0.0, hp["baseline_sigma"], dims="visit")
        # treatment effect and its study deviations
        p["effect"] = normal("effect", 0.0, hp["effect_sigma"], dims="visit")
        pm.Deterministic("effect_std", p["effect"] / pm.Data("outcome_sd", d.outcome_sd()), dims="visit")
        if d.study_effects == "random":
            tau = pm.HalfNormal("tau", hp["tau_sigma"], dims="visit")
            r = 0.0
            if V == 2:
                r = 2.0 * pm.Beta("corr_study_unit", hp["corr_study_alpha"], hp["corr_study_beta"]) - 1.0
                pm.Deterministic("corr_study", r)
            if not d.study_marginal:  # D_j = L z_j; marginal: integrated out (study_marginal), drawn in derive
                z = pm.Normal("study_z", 0.0, 1.0, dims=("study", "visit"))
                if V == 2:
                    D = pt.stack([tau[0] * z[:, 0], tau[1] * (r * z[:, 0] + pt.sqrt(1.0 - r**2) * z[:, 1])], axis=1)
                else:
                    D = tau[None, :] * z
                p["study_deviation"] = pm.Deterministic("study_deviation", D, dims=("study", "visit"))
        # residual
        # residual SD: log sigma ~ N(log sigma_median, sigma_log_sd); visits' correlation:
        # atanh(rho) ~ N(0, corr_visits_sigma); both sampled on unit scales (scaled_normal)
        c, k = us["log_sigma"]
        if d.residual == "study":
            c, k = np.broadcast_to(c, (J, V)).copy(), np.broadcast_to(k, (J, V)).copy()
            log_sig = scaled_normal("log_sigma", pt.log(hp["sigma_median"]), hp["sigma_log_sd"], c, k,
                                    ("study", "visit"))
            sig = pm.Deterministic("sigma", pt.exp(log_sig), dims=("study", "visit"))
            s_unit = to_units(a, sig)
        else:
            log_sig = scaled_normal("log_sigma", pt.log(hp["sigma_median"]), hp["sigma_log_sd"], c, k, "visit")
            sig = pm.Deterministic("sigma", pt.exp(log_sig), dims="visit")
            s_unit = sig[None, :] + pt.zeros((d.n, V))
        s11 = s_unit[:, 0] ** 2
        if V == 2:
            c, k = us["corr_visits_z"]
            rho = pm.Deterministic("corr_visits", pt.tanh(scaled_normal("corr_visits_z", 0.0, hp["corr_visits_sigma"],
                                                                        c, k, None)))
            s22 = s_unit[:, 1] ** 2
            s12 = rho * s_unit[:, 0] * s_unit[:, 1]
        else:
            s22, s12 = pt.ones(d.n), pt.zeros(d.n)
        if d.linking_error:
            sd_link = pm.HalfNormal("sd_link", hp["linking_sd_sigma"])
            conv = pm.Data("unit_converted", d.converted)
            s11 = s11 + conv * sd_link**2
            if V == 2:
                s22 = s22 + conv * sd_link**2
        # moderators
        ps_p = pm.Data("moderator_prior_scale", d.prior_scale(d.patient_moderators)) if P else None
        ps_s = pm.Data("study_moderator_prior_scale", d.prior_scale(d.study_moderators)) if Q else None
        if P:
            p["moderator_coef"] = normal("moderator_coef", 0.0, hp["moderator_effect_sigma"] * ps_p[:, None],
                                            dims=("patient_moderator", "visit"))
            p["moderation_within"] = within_interactions(d, hp, ps_p, us, sig)
            if d.split_levels:
                p["moderation_across"] = normal("moderation_across", 0.0, hp["moderation_sigma"] * ps_p[:, None],
                                                dims=("patient_moderator", "visit"))
            if d.intercepts == "random" and d.split_levels:
                p["across_coef"] = normal("across_coef", 0.0, hp["moderator_effect_sigma"] * ps_p[:, None],
                                             dims=("patient_moderator", "visit"))
        if Q:
            p["moderation_study"] = normal("moderation_study", 0.0, hp["moderation_sigma"] * ps_s[:, None],
                                              dims=("study_moderator", "visit"))
            if d.intercepts == "random":
                p["study_moderator_coef"] = normal("study_moderator_coef", 0.0,
                                                      hp["moderator_effect_sigma"] * ps_s[:, None],
                                                      dims=("study_moderator", "visit"))
        if d.has_patient_level:
            sd_pat = pm.HalfNormal("sd_patient", hp["sd_patient_sigma"])
            zp = pm.Normal("patient_z", 0.0, 1.0, dims="patient")
            p["patient_effect"] = sd_pat * zp
            p["period_coef"] = normal("period_coef", 0.0, hp["period_sigma"], dims="visit")
        # --- missing moderators: the covariate model, latent study means, exact marginalisation ----------
        pl = imp.plan(d)
        if pl is not None:
            model.add_coord("imputed_continuous", [d.patient_moderators[k] for k in pl["cont"]])
            model.add_coord("imputed_binary", [d.patient_moderators[k] for k in pl["bins"]])
            M, S_, p_bin = imp.covariate_model(d, pl, hp, scaled_normal)
            Xw, latent, Xa, means = imp.latent_arrays(d, pl, a, M, p_bin)
            a = dict(a, Xw=Xw, Xw_latent=latent, Xa=Xa)
            p["Xa_latent"] = Xa
        elif P:
            means = pm.Data("moderator_study_mean_observed", d.study_means())
        if P and d.mstar:
            pm.Deterministic("moderator_study_mean", means, dims=("study", "patient_moderator"))
        mu = linear_mean(p, a)
        # --- the likelihood -----------------------------------------------------------------------------
        if pl is not None:
            loglik, mu_out, cov_out = imp.marginal_likelihood(d, pl, p, a, mu, y, o, s11, s12, s22, S_, p_bin)
        else:
            loglik, mu_out, cov_out = likelihood(d, p, a, mu, y, o, s11, s12, s22, hp)
        if d.study_marginal:
            study_ll, study_conditional = study_marginal(d, a, y, o, mu_out, cov_out, tau, r)
            pm.Potential("y_loglik", pt.sum(loglik) + pt.sum(study_ll))
        else:
            pm.Potential("y_loglik", pt.sum(loglik))
        # --- summary quantities ------------------------------------------------------------------
        study_effect = p["effect"][None, :] + 0.0 * p["intercept"]
        if "study_deviation" in p:
            study_effect = study_effect + p["study_deviation"]
        if P and d.split_levels:
            study_effect = study_effect + p.get("Xa_latent", a["Xa"]) @ p["moderation_across"]
        if Q:
            study_effect = study_effect + a["Sm"] @ p["moderation_study"]
        # one compiled function for the predictive draws: mean (n, V), covariance entries (n, 3) and
        # log-likelihood (n, 1) side by side (marginal: the mean and log-likelihood without D_j)
        extras_ = {"unit_out": pt.concatenate([mu_out, cov_out, loglik[:, None]], axis=1)}
        if d.study_marginal:  # per study: D_j's conditional mean (2), covariance (3), and the effect without D_j (V)
            extras_["study_out"] = pt.concatenate([study_conditional, study_effect], axis=1)
        else:
            pm.Deterministic("study_effect", study_effect, dims=("study", "visit"))
        extras_ |= model_extras(d, p, a)
    return model, extras_


def study_marginal(d, a, y, o, mu, cov, tau, r):
    """The random study deviations D_j integrated out of a Gaussian likelihood, study by study.

    Unit i of study j: y_i = mu_i + c_i D_j + e_i, e_i ~ N(0, Sigma_i) on its observed visits
    (Sigma_i from ``cov`` = (s11, s12, s22)); D_j ~ N(0, T), T = diag(tau) R diag(tau). With Q_i
    the inverse of Sigma_i on the observed visits (zero elsewhere) and r_i = (y_i - mu_i) o_i:

        A_j = T^-1 + sum_i c_i^2 Q_i,   b_j = sum_i c_i Q_i r_i
        log p(y_j | theta) = sum_i log N(r_i | 0, Sigma_i) + b_j' A_j^-1 b_j / 2
                             - log|T| / 2 - log|A_j| / 2

    and D_j | y, theta ~ N(A_j^-1 b_j, A_j^-1). Returns (the study terms (J,) added to the units'
    log-likelihood with D = 0, the conditional mean and covariance entries (J, 5)). One visit:
    scalars (T = tau^2); the returned second coordinate is a dummy (mean 0, variance 1).

    A study's sums are products of each per-unit vector with the one-hot matrix (n, J), one at a
    time: stacking the five vectors into one (n, 5) product made XLA pad each column's gradient
    back into (n, 5) arrays (gradient 32 against 19 microseconds, ipd_meta seed 0, one visit), and a
    cumulative sum is an O(n^2) reduce-window on CPUs.
    """
    c = a["c"]
    onehot = a["study_onehot"]

    def study_sum(x):
        return pt.dot(x, onehot)

    res = (y - mu) * o
    s11 = cov[:, 0]
    if len(d.visits) == 1:
        q = o[:, 0] / s11
        a11 = 1.0 / tau[0] ** 2 + study_sum(c**2 * q)
        b1 = study_sum(c * q * res[:, 0])
        study_ll = 0.5 * b1**2 / a11 - pt.log(tau[0]) - 0.5 * pt.log(a11)
        zero = pt.zeros_like(a11)
        return study_ll, pt.stack([b1 / a11, zero, 1.0 / a11, zero, zero + 1.0], axis=1)
    o1, o2 = o[:, 0], o[:, 1]
    s12, s22 = cov[:, 1], cov[:, 2]
    det = s11 * s22 - s12**2
    q11 = o1 * (o2 * s22 / det + (1 - o2) / s11)
    q22 = o2 * (o1 * s11 / det + (1 - o1) / s22)
    q12 = -o1 * o2 * s12 / det
    r1, r2 = res[:, 0], res[:, 1]
    t1, t2 = tau[0], tau[1]
    one_r2 = 1.0 - r**2
    a11 = 1.0 / (t1**2 * one_r2) + study_sum(c**2 * q11)
    a12 = -r / (t1 * t2 * one_r2) + study_sum(c**2 * q12)
    a22 = 1.0 / (t2**2 * one_r2) + study_sum(c**2 * q22)
    b1 = study_sum(c * (q11 * r1 + q12 * r2))
    b2 = study_sum(c * (q12 * r1 + q22 * r2))
    det_a = a11 * a22 - a12**2
    quad = (a22 * b1**2 - 2.0 * a12 * b1 * b2 + a11 * b2**2) / det_a
    log_det_t = 2.0 * pt.log(t1) + 2.0 * pt.log(t2) + pt.log(one_r2)
    study_ll = 0.5 * quad - 0.5 * log_det_t - 0.5 * pt.log(det_a)
    conditional = pt.stack([(a22 * b1 - a12 * b2) / det_a, (a11 * b2 - a12 * b1) / det_a,
                            a22 / det_a, -a12 / det_a, a11 / det_a], axis=1)
    return study_ll, conditional


def draw_study_deviations(conditional: np.ndarray, V: int, rng) -> np.ndarray:
    """Draws (k, J, V) of D_j from their conditional normal (``study_marginal``: conditional
    (k, J, 5) = mean (2), covariance entries (3))."""
    m1, m2, v11, v12, v22 = np.moveaxis(conditional, -1, 0)
    z = rng.standard_normal(m1.shape + (2,))
    l11 = np.sqrt(v11)
    d1 = m1 + l11 * z[..., 0]
    if V == 1:
        return d1[..., None]
    l21 = v12 / l11
    d2 = m2 + l21 * z[..., 0] + np.sqrt(np.clip(v22 - l21**2, 0.0, None)) * z[..., 1]
    return np.stack([d1, d2], axis=-1)


def within_interactions(d, hp, ps_p, us, sigma):
    """Treatment x within-study moderator interactions gw (P, V) per SD of each moderator (per 0 -> 1
    of a binary one): normal priors, or the regularised horseshoe (Piironen & Vehtari 2017) per visit:

        gw_mv = k_m z_mv tau_v lt_mv,   lt^2 = c_v^2 l^2 / (c_v^2 + tau_v^2 l^2),   z ~ N(0, 1)
        l_mv ~ half-Cauchy(0, 1), tau_v ~ half-Cauchy(0, tau0_v),  c_v^2 ~ InvGamma(nu / 2, nu s^2 / 2)
        tau0_v = p0 / (P - p0) x 2 sigma_v / sqrt(n_v)

    p0 = moderation_expected_nonzero (at most P - 1/2), s = moderation_slab_scale, nu =
    moderation_slab_df; 2 sigma_v / sqrt(n_v) is the standard error scale of an interaction with a
    +-1/2 treatment code. Non-centred, each half-Cauchy as a half-normal times the square root
    of an InvGamma(1/2, 1/2) (as brms), which samples without the funnel of a direct half-Cauchy.
    """
    dims = ("patient_moderator", "visit")
    if d.shrinkage != "horseshoe":
        c, k = us["moderation_within"]
        return scaled_normal("moderation_within", 0.0, hp["moderation_sigma"] * ps_p[:, None], c, k, dims)
    P = len(d.patient_moderators)
    n_v = pm.Data("units_per_visit", np.maximum(d.observed.sum(axis=0), 1.0))
    sig = sigma if sigma.ndim == 1 else sigma.mean(axis=0)
    p0 = pt.minimum(hp["moderation_expected_nonzero"], P - 0.5)
    tau0 = p0 / (P - p0) * 2.0 * sig / pt.sqrt(n_v)
    z = pm.Normal("moderation_within_z", 0.0, 1.0, dims=dims)
    local = pm.HalfNormal("moderation_local", 1.0, dims=dims) * pt.sqrt(
        pm.InverseGamma("moderation_local_mix", 0.5, 0.5, dims=dims))
    tau = tau0 * pm.HalfNormal("moderation_global", 1.0, dims="visit") * pt.sqrt(
        pm.InverseGamma("moderation_global_mix", 0.5, 0.5, dims="visit"))
    nu, s = hp["moderation_slab_df"], hp["moderation_slab_scale"]
    c2 = pm.InverseGamma("moderation_slab", 0.5 * nu, 0.5 * nu * s**2, dims="visit")
    lt = pt.sqrt(c2[None, :] * local**2 / (c2[None, :] + tau[None, :] ** 2 * local**2))
    pm.Deterministic("moderation_tau", tau, dims="visit")
    return pm.Deterministic("moderation_within", ps_p[:, None] * z * tau[None, :] * lt, dims=dims)


def likelihood(d, p, a, mu, y, o, s11, s12, s22, hp):
    """Per-unit log-likelihood, mean (n, V) and covariance entries (n, 3) of the outcome."""
    V = len(d.visits)
    r = (y - mu) * o
    if V == 2:
        ll = bivariate_loglik(r[:, 0], r[:, 1], o[:, 0], o[:, 1], s11, s12, s22)
    else:
        ll = bivariate_loglik(r[:, 0], pt.zeros(d.n), o[:, 0], pt.zeros(d.n), s11, s12, s22)
    return ll, mu, pt.stack([s11, s12, s22], axis=1)


def model_extras(d, p, a) -> dict:
    return {}


def moderation_draws(d, post) -> np.ndarray:
    """`moderation` (chain, draw, moderator, visit, level) per original unit from the coefficient draws:
    within / across (patient moderators: coefficient / scale), study (study moderators); a level a
    moderator does not have is NaN (not a summary row)."""
    P, Q, V = len(d.patient_moderators), len(d.study_moderators), len(d.visits)
    shape = post.sizes["chain"], post.sizes["draw"]
    out = np.full(shape + (P + Q, V, len(d.levels)), np.nan)
    if P:
        scl = np.array([d.mod_scale[m] for m in d.patient_moderators])[:, None]
        out[..., :P, :, 0] = post["moderation_within"].transpose("chain", "draw", ...).to_numpy() / scl
        if d.split_levels:
            out[..., :P, :, 1] = post["moderation_across"].transpose("chain", "draw", ...).to_numpy() / scl
    if Q:
        scl = np.array([d.mod_scale[m] for m in d.study_moderators])[:, None]
        out[..., P:, :, -1] = post["moderation_study"].transpose("chain", "draw", ...).to_numpy() / scl
    return out


def derive_extra(d, idata, extras, rng) -> dict:
    """Derived posterior quantities: moderation per original unit, imputed shares, M* (weights, r, scores)."""
    import xarray as xr

    out = {}
    shape = idata.posterior.sizes["chain"], idata.posterior.sizes["draw"]
    if d.moderators:
        out["moderation"] = (("chain", "draw", "moderator", "visit", "level"), moderation_draws(d, idata.posterior),
                             {"moderator": d.moderators, "level": d.levels})
    if d.missing == "impute" and d.patient_moderators:
        share = np.array([float(np.isnan(d.X[:, k]).mean()) for k in range(len(d.patient_moderators))])
        out["imputed_share"] = (("chain", "draw", "imputed_moderator"), np.broadcast_to(share, shape + share.shape),
                                {"imputed_moderator": list(d.patient_moderators)})
    if d.mstar:
        from . import ipd_meta_mstar as ms

        extra, scores = ms.derive(d, idata, rng)
        out |= extra
        labels = [str(p) for p in d.units["patient"]] if d.periods == "first" else [
            f"{p}|{q}" for p, q in zip(d.units["patient"], d.units["period"])]
        arm = np.where(d.arm == 1, "ketamine", "control")
        idata.add_groups(constant_data=xr.Dataset(
            {"mstar_score": (("mstar_unit", "visit", "stat"), scores),
             "mstar_outcome": (("mstar_unit", "visit"), d.Y),
             "mstar_patient": ("mstar_unit", np.array(labels, dtype=object).astype(str)),
             "mstar_study": ("mstar_unit", np.asarray(d.units["study"], dtype=str)),
             "mstar_arm": ("mstar_unit", arm.astype(str))},
            coords={"visit": d.visits, "stat": ["mean", "lower", "upper"], "mstar_unit": np.arange(d.n)}))
    return out


def extra_quantities(d) -> list:
    from .base import Quantity

    pp = "posterior_predictive"
    q = []
    if d.missing == "impute" and d.patient_moderators:
        q.append(Quantity("imputed_share", pp))
    if d.mstar:
        q += [Quantity("mstar_weight", pp), Quantity("mstar_r", pp)]
        if d.mstar_cv:
            q.append(Quantity("mstar_r_cv", pp))
    return q


def mstar_scores(fit, *args, **kwargs):
    """Per patient and visit: the M* score (posterior mean, 90% interval), study, arm and outcome
    (``ipd_meta_mstar``)."""
    from .ipd_meta_mstar import mstar_scores as scores

    return scores(fit)


# ---- numpy twins (the generator) ----------------------------------------------------------------------
def mean_numpy(d, params: dict, rng) -> np.ndarray:
    """The model mean (n, V) of the design's units under ``params`` (prior or true values)."""
    p = {k: np.asarray(params[k], float) for k in ("intercept", "effect", "study_deviation", "baseline_coef",
                                                    "moderator_coef", "moderation_within", "moderation_across",
                                                    "moderation_study", "across_coef", "study_moderator_coef",
                                                    "period_coef") if k in params}
    if d.has_patient_level and "sd_patient" in params:
        p["patient_effect"] = float(params["sd_patient"]) * rng.standard_normal(len(d.patients))
    return linear_mean(p, design_arrays(d))


def cov_numpy(d, params: dict) -> np.ndarray:
    """(n, 3) residual covariance entries (s11, s12, s22) under ``params``."""
    V = len(d.visits)
    sig = np.asarray(params["sigma"], float)
    s = sig[d.study_idx] if sig.ndim == 2 else np.broadcast_to(sig, (d.n, V))
    s11 = s[:, 0] ** 2
    if V == 2:
        rho = float(params["corr_visits"])
        s22, s12 = s[:, 1] ** 2, rho * s[:, 0] * s[:, 1]
    else:
        s22, s12 = np.ones(d.n), np.zeros(d.n)
    if d.linking_error and "sd_link" in params:
        s11 = s11 + d.converted * float(params["sd_link"]) ** 2
        if V == 2:
            s22 = s22 + d.converted * float(params["sd_link"]) ** 2
    return np.stack([s11, s12, s22], axis=1)


def draw_residual(cov: np.ndarray, rng, V: int) -> np.ndarray:
    z = rng.standard_normal((len(cov), V))
    sd1 = np.sqrt(cov[:, 0])
    e = [sd1 * z[:, 0]]
    if V == 2:
        b = cov[:, 1] / sd1
        e.append(b * z[:, 0] + np.sqrt(np.clip(cov[:, 2] - b**2, 0, None)) * z[:, 1])
    return np.column_stack(e)
