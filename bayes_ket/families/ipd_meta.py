r"""IPD meta-analysis family: one-stage model of many randomized trials (card models/ipd_meta.toml).

One unit per patient (the first period of a crossover; ``periods="all"`` adds a patient
level). Two visits, "rapid" (~24 h) and "post_rapid" (~7 d), fitted jointly. Design steps
(visit windows, HRSD-17 linking, exclusions, moderator coding): ``ipd_meta_design``.

Model, for unit i in study j at visit v (y: percent improvement, positive = improvement,
or the post-infusion score with the baseline as covariate):

    y_iv = alpha_jv + b_v (baseline_i - mean baseline)                       [points only]
         + w_i . beta_v                                          within-study main effects
         + c_i [delta_v + D_jv + w_i . gw_v + m_j . ga_v + s_j . gs_v]      treatment x ...
         + u_p + period2_i pi_v                                  [periods="all" only]
         + e_iv

    c_i = arm_i - 1/2      (ketamine +1/2, control -1/2: delta_v is the effect, and the
                           study intercepts are the arms' average, nearly uncorrelated with it)
    w_i = (x_i - xbar_j) / scale   within-study deviations of the patient moderators
    m_j = (xbar_j - xbar) / scale  study means (the across level, Fisher et al. 2017 "deft")
    s_j = (z_j - zbar) / scale     study-level moderators
    scale: the SD over the analysed patients for a continuous moderator, 1 for a binary (0/1)
    one; references (xbar, zbar) are means over the analysed patients, so delta_v is the
    effect at the average patient of the average study.

Study level:
    alpha_jv ~ N(intercept_mu, intercept_sigma)  fixed study x visit intercepts (default: they
             respect randomisation within study, and sample cleanly with few studies);
             option "random": alpha_jv = mu_v + sd_study_v z_jv, with study-level main effects
             (m_j . kappa_v + s_j . lambda_v).
    D_j = (D_j,rapid, D_j,post_rapid) ~ MvNormal(0, diag(tau) R diag(tau)), (r + 1) / 2 ~
             Beta(corr_study_alpha, corr_study_beta), with at least ``min_studies_random`` (3)
             studies; fewer: one common effect (tau = 0). ``parameterization="marginal"`` (the
             default where the likelihood is Gaussian): D_j integrated out analytically, study
             by study (``ipd_meta_model.study_marginal``), and drawn exactly from its
             conditional normal after sampling; tau then has no funnel with the D_j (ipd_meta
             seed 0, one visit, 4,000 draws: min bulk ESS 2123 -> 3689, tau's 2123 -> 6016,
             14.7 -> 7.0 leapfrog steps per draw). "noncentered": D_j = L z_j, z_j ~ N(0, I)
             sampled; the default when
             imputed binary moderators make each patient's likelihood a mixture.
    A new study's effect: delta_v + D_new,v, D_new ~ MvNormal(0, Sigma_tau) (``effect_new_study``).
Residual (e_i,rapid, e_i,post_rapid) ~ MvNormal(0, [[s1^2, rho s1 s2], [rho s1 s2, s2^2]]), s_v
pooled (default) or per study; a unit seen at one visit contributes that visit's marginal.
Written as the conditional factorisation (``bivariate_loglik``), so nothing is integrated
numerically and no missing outcome is a parameter. With ``linking_error=True`` units whose
outcome was linked from HRSD-17 have s_v^2 + sd_link^2 on the diagonal.

Priors (names as in ``fit.priors``; "range" = 100 percent points, or the scale's range):
    delta_v ~ N(0, effect_sigma); tau_v ~ HalfNormal(tau_sigma);
    (r + 1) / 2 ~ Beta(corr_study_alpha, corr_study_beta); log s_v ~ N(log sigma_median, sigma_log_sd);
    atanh(rho) ~ N(0, corr_visits_sigma); b_v ~ N(0, baseline_sigma)
    beta ~ N(0, moderator_effect_sigma k_m); ga, gs ~ N(0, moderation_sigma k_m);
    gw ~ N(0, moderation_sigma k_m) or the regularised horseshoe (``ipd_meta_model``)
k_m = 1 for a standardised moderator, 1 / SD for a binary one: every moderator prior is
"per SD of the moderator".

Summary quantities (coordinates ``visit``, ``study``, ``moderator``, ``level``, ``arm``):
effect, effect_std (= effect / SD of the outcome over the analysed units at that visit,
the seed's beta*), tau, effect_new_study, study_effect (delta_v + D_jv + m_j . ga_v + s_j .
gs_v: the study's effect at its own features, shrunken), moderation (moderator, visit,
level; per original unit; level "within" | "across" | "study"; rows carry prob_relevant),
sigma, corr_visits, corr_study, response_rate / remission_rate (visit, arm), response_difference,
nnt_response (visit): shares of the analysed units in replicated data (scores rounded and
clipped to the scale; response: >= 50 % improvement; remission: score <= the card's 9).

Defaults of the card (part 2): missing moderators imputed inside the model (``ipd_meta_impute``:
hierarchical covariate model, missing values integrated out exactly, no patient dropped;
``imputed_share`` (moderator) and ``fit.imputation()`` list the shares and the studies that never
measured each moderator); the within-study interactions under a regularised horseshoe
(``ipd_meta_model.within_interactions``); the combined moderator M* (``ipd_meta_mstar``:
``mstar_weight`` (moderator, visit), ``mstar_r`` (visit), ``mstar_r_cv`` (visit, with
mstar_cv=True), ``fit.mstar_scores()``). Part 1's behaviour: ``missing="complete"`` (patients
missing a moderator excluded, warned per study and moderator), ``shrinkage="normal"``,
``mstar=False``. ``bk.ipd_meta_sequential``: the seed's one-moderator-at-a-time analysis.

Sign: percent: effect > 0 = more improvement with ketamine, moderation > 0 = stronger
benefit; points: effect < 0 = fewer symptoms, moderation > 0 = weaker benefit.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .._lazy import lazy_module
from ..data.schema import ARM_NAMES
from ..data.trial import TrialData
from ..engine.draws import flat_draws
from ..errors import BayesKetError
from . import design as shared
from . import ipd_meta_design as dsg
from . import ipd_meta_model as mdl
from .base import Family, Quantity

pm = lazy_module("pymc")
pt = lazy_module("pytensor.tensor")

IpdMetaDesign = dsg.IpdMetaDesign
bivariate_loglik = mdl.bivariate_loglik
ARMS = [ARM_NAMES[1], ARM_NAMES[0]]


# ---- draws -> quantities ----------------------------------------------------------------
def replicate_rates(d: IpdMetaDesign, mu: np.ndarray, cov: np.ndarray, rng) -> dict:
    """Posterior predictive response / remission per visit and arm for a chunk of draws.

    mu (k, n, V), cov (k, n, 3) = (s11, s12, s22). Replicated outcome y* = mu + e (the
    visits' joint normal); score* = baseline - y* (baseline - floor) / 100 (percent) or y*
    (points), rounded and clipped to the scale; response: 100 (baseline - score*) / (baseline -
    floor) >= 100 x the scale's response fraction; remission: score* <= threshold. Shares over
    the units of the studies that contributed the visit. Returns (k, V, arm) arrays and
    response_difference (k, V).
    """
    k, n, V = mu.shape
    z = rng.standard_normal((k, n, V))
    e = np.empty_like(mu)
    sd1 = np.sqrt(cov[..., 0])
    e[..., 0] = sd1 * z[..., 0]
    if V == 2:
        b = cov[..., 1] / sd1
        e[..., 1] = b * z[..., 0] + np.sqrt(np.clip(cov[..., 2] - b**2, 0, None)) * z[..., 1]
    y = mu + e
    lo, hi = d.outcome_lohi
    base = d.baseline[None, :, None]
    room = base - lo
    score = base - y * room / 100.0 if d.outcome_scale == "percent" else y
    score = np.clip(np.round(score), lo, hi)
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = np.where(room > 0, 100.0 * (base - score) / np.where(room > 0, room, 1.0), np.nan)
    use = d.available[d.study_idx]  # (n, V)
    out = {}
    flags = {}
    if d.response_reduction is not None:
        flags["response_rate"] = np.where(np.isnan(pct), np.nan, pct >= 100.0 * d.response_reduction - 1e-9)
    if d.remission_threshold is not None:
        flags["remission_rate"] = (score <= d.remission_threshold).astype(float)
    groups = [d.arm == 1, d.arm == 0]
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        for name, f in flags.items():
            f = np.where(use[None], f, np.nan)
            out[name] = np.stack([np.nanmean(f[:, g, :], axis=1) for g in groups], axis=-1)
    if "response_rate" in out:
        out["response_difference"] = out["response_rate"][..., 0] - out["response_rate"][..., 1]
    # posterior predictive check: replicated outcome means per visit and arm over observed cells
    obs = np.isfinite(d.Y)
    rep = np.where(obs[None], y, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out["outcome_mean_rep"] = np.stack([np.nanmean(rep[:, g, :], axis=1) for g in groups], axis=-1)
    return out


def unit_loglik(d: IpdMetaDesign, mu: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """Per-unit log-likelihood (k, n) of the observed outcomes given the mean mu (k, n, V) and the
    covariance entries cov (k, n, 3) (``bivariate_loglik`` on numpy arrays)."""
    obs = np.isfinite(d.Y)
    res = np.where(obs, np.nan_to_num(d.Y) - mu, 0.0)
    if len(d.visits) == 2:
        return bivariate_loglik(res[..., 0], res[..., 1], obs[:, 0] * 1.0, obs[:, 1] * 1.0, cov[..., 0], cov[..., 1],
                                cov[..., 2])
    zero = np.zeros_like(res[..., 0])
    return bivariate_loglik(res[..., 0], zero, obs[:, 0] * 1.0, zero, cov[..., 0], cov[..., 1], cov[..., 2])


def observed_means(d: IpdMetaDesign) -> list:
    out = []
    for k, v in enumerate(d.visits):
        for arm, name in ((1, ARMS[0]), (0, ARMS[1])):
            y = d.Y[d.arm == arm, k]
            y = y[np.isfinite(y)]
            out.append({"visit": v, "arm": name, "mean": float(y.mean()) if len(y) else None,
                        "sd": float(y.std(ddof=1)) if len(y) > 1 else None, "count": int(len(y))})
    return out


class IpdMetaFamily(Family):
    """One-stage IPD meta-analysis (see the module docstring)."""

    name = "ipd_meta"
    unit_dims = ("patient",)
    coordinate_columns = ("visit", "arm", "study", "moderator", "level")
    dim_names: dict = {"imputed_moderator": "moderator", "mstar_moderator": "moderator"}

    # ---- data -> model -------------------------------------------------------------------
    options_function = staticmethod(dsg.build)

    def design(self, trial, card, outcome=None, moderators=None, time=None, **options) -> IpdMetaDesign:
        """Validate the request and build the design (``ipd_meta_design.build``).

        Options: study_moderators=, outcome_scale="percent" | "points", periods="first" | "all",
        visit_windows={visit: (lo, hi)}, study_intercepts="fixed" | "random", residual="pooled" |
        "study", linking_error=, missing="complete" | "impute", shrinkage="normal" | "horseshoe",
        mstar=, mstar_cv=, mstar_folds=, remission_threshold=, relevant_moderation=,
        min_studies_random=, parameterization="auto" | "marginal" | "noncentered" (the random
        study deviations). Defaults: the card's settings.
        """
        if time not in (None, "visit"):
            raise BayesKetError(f"time={time!r}: the ipd_meta model fits the two visits (rapid, post_rapid). "
                                "Fix: leave time=None; set the windows with visit_windows=.")
        if moderators is None:
            moderators = card.settings.get("moderators") or None
        if options.get("study_moderators") is None and card.settings.get("study_moderators"):
            options["study_moderators"] = card.settings["study_moderators"]
        d = dsg.build(trial, card, outcome=outcome, moderators=moderators, **options)
        d.request = {"card": card, "outcome": outcome, "options": dict(options)}  # M* cross-validation refits
        return d

    def priors(self, card, d: IpdMetaDesign, overrides: dict | None = None) -> dict:
        """Card priors in outcome units (scale "range": 100 for percent, the scale's range for points)."""
        return shared.resolve_priors(card, d.outcome_unit, 1.0, overrides)

    def build_model(self, d: IpdMetaDesign, priors: dict):
        return mdl.build_model(d, priors)

    def derive(self, d: IpdMetaDesign, idata, extras, rng) -> None:
        """Per-unit log-likelihood (LOO leaves one unit out), predictive rates, a new study's effect,
        and (part 2) M* and imputation summaries. Marginal study deviations: per draw, D_j is drawn
        from its conditional normal given the data and the draw's parameters (exact), added to
        the posterior as ``study_deviation`` and ``study_effect``; the units' log-likelihood and
        replicates are conditional on it."""
        import xarray as xr

        n_chain, n_draw = extras.shape
        labels = unit_labels(d)
        pieces, loglik, study = [], [], []
        V = len(d.visits)
        marginal = d.study_marginal
        for sl, ex in extras.chunks(["unit_out", "study_out"] if marginal else ["unit_out"]):
            out = ex["unit_out"]
            mu, cov = out[..., :V], out[..., V:V + 3]
            if marginal:  # D_j drawn from its conditional normal; the units' mean and log-likelihood given it
                dev = mdl.draw_study_deviations(ex["study_out"][..., :5], V, rng)  # (k, J, V)
                mu = mu + (d.arm - 0.5)[None, :, None] * dev[:, d.study_idx, :]
                study.append((dev, ex["study_out"][..., 5:] + dev))
                loglik.append(unit_loglik(d, mu, cov))
            else:
                loglik.append(out[..., V + 3])
            pieces.append(replicate_rates(d, mu, cov, rng))
        if marginal:
            dims = ("chain", "draw", "study", "visit")
            for k, name in enumerate(("study_deviation", "study_effect")):
                value = np.concatenate([s_[k] for s_ in study]).reshape(n_chain, n_draw, d.n_studies, V)
                idata.posterior[name] = xr.DataArray(value, dims=dims, coords={"study": [str(x) for x in d.studies],
                                                                              "visit": d.visits})
        idata.add_groups(log_likelihood=xr.Dataset(
            {"y_patient": (("chain", "draw", "patient_unit"), np.concatenate(loglik).reshape(n_chain, n_draw, -1))},
            coords={"patient_unit": labels}))
        data = {}
        for name in pieces[0]:
            value = np.concatenate([p[name] for p in pieces]).reshape((n_chain, n_draw) + pieces[0][name].shape[1:])
            dims = ("chain", "draw", "visit", "arm")[: value.ndim]
            data[name] = (dims, value)
        if d.study_effects == "random":
            post = idata.posterior
            eff = flat_draws(post["effect"])
            tau = flat_draws(post["tau"])
            z = rng.standard_normal(eff.shape)
            new = eff + tau * z
            if len(d.visits) == 2:
                r = flat_draws(post["corr_study"])
                new[:, 1] = eff[:, 1] + tau[:, 1] * (r * z[:, 0] + np.sqrt(1 - r**2) * z[:, 1])
            data["effect_new_study"] = (("chain", "draw", "visit"), new.reshape(n_chain, n_draw, -1))
        coords = {"visit": d.visits, "arm": ARMS}
        extra = mdl.derive_extra(d, idata, extras, rng)
        for name, (dims, value, c) in extra.items():
            data[name] = (dims, value)
            coords |= c
        idata.add_groups(posterior_predictive=xr.Dataset(data, coords=coords))

    def quantities(self, d: IpdMetaDesign) -> list[Quantity]:
        pp = "posterior_predictive"
        q = [Quantity("effect"), Quantity("effect_std")]
        if d.study_effects == "random":
            q += [Quantity("tau"), Quantity("effect_new_study", pp)]
            if len(d.visits) == 2:
                q.append(Quantity("corr_study"))
        q.append(Quantity("study_effect"))
        if d.moderators:
            q.append(Quantity("moderation", pp, relevant={"moderator": d.relevant_thresholds()}))
        q.append(Quantity("sigma"))
        if len(d.visits) == 2:
            q.append(Quantity("corr_visits"))
        if d.linking_error:
            q.append(Quantity("sd_link"))
        if d.has_patient_level:
            q.append(Quantity("sd_patient"))
        if d.response_reduction is not None:
            q.append(Quantity("response_rate", pp))
        if d.remission_threshold is not None:
            q.append(Quantity("remission_rate", pp))
        if d.response_reduction is not None:
            q += [Quantity("response_difference", pp),
                  Quantity("nnt_response", pp, summary="nnt", source="response_difference")]
        q += mdl.extra_quantities(d)
        return q

    def loo_unit(self, d: IpdMetaDesign) -> str:
        return "patient" if d.periods == "first" else "patient x period"

    def describe(self, d: IpdMetaDesign) -> dict:
        level = (f"{'fixed' if d.intercepts != 'random' else 'random'} study intercepts, "
                 f"{d.study_effects} treatment effect ({d.n_studies} studies)")
        return {
            "outcome": d.outcome,
            "outcome_scale": d.outcome_scale,
            "time": "visit",
            "visits": d.visits,
            "studies": d.studies,
            "n_studies": d.n_studies,
            "n_patients": len(d.patients),
            "n_units": d.n,
            "has_arm": True,
            "study_level": level,
            "study_effects": d.study_effects,
            "study_deviations": d.parameterization if d.study_effects == "random" else None,
            "study_intercepts": d.intercepts,
            "residual": d.residual,
            "periods": d.periods,
            "linking_error": d.linking_error,
            "missing": d.missing,
            "shrinkage": d.shrinkage,
            "mstar": d.mstar,
            "mstar_cv": d.mstar_cv,
            "moderators": d.moderators,
            "patient_moderators": d.patient_moderators,
            "study_moderators": d.study_moderators,
            "moderator_kind": d.mod_kind,
            "moderator_reference": d.mod_center,
            "moderator_scale": d.mod_scale,
            "moderator_sd": d.mod_sd,
            "moderator_range": {m: [float(np.nanmin(d.X[:, k])), float(np.nanmax(d.X[:, k]))]
                                for k, m in enumerate(d.patient_moderators)}
            | {m: [float(d.S[:, k].min()), float(d.S[:, k].max())] for k, m in enumerate(d.study_moderators)},
            "relevant_moderation": d.relevant_moderation,
            "remission_threshold": d.remission_threshold,
            "outcome_sd": dict(zip(d.visits, d.outcome_sd().tolist())),
            "observed_outcome_means": observed_means(d),
            "visit_table": d.visit_table.to_dict("records"),
            "moderator_missing": d.moderator_missing.to_dict("records"),
            "never_measured": d.never_measured,
            "converted_studies": sorted({s for s, c in zip(d.units["study"], d.converted) if c}),
            "imputed_share": {m: float(np.isnan(d.X[:, k]).mean()) for k, m in enumerate(d.patient_moderators)}
            if d.missing == "impute" else {},
            "notes": d.notes,
            **shared.excluded_meta(d.exclusions),
        }

    def figures(self) -> dict:
        from ..plots import ipd_meta as plots

        return {"ppc": plots.plot_ppc, "forest": plots.plot_forest, "moderators": plots.plot_moderators,
                "mstar": plots.plot_mstar}

    def methods(self) -> dict:
        return {"visit_table": visit_table, "mstar_scores": mdl.mstar_scores, "imputation": imputation_table,
                "plot_forest": lambda fit, path=None, **kw: fit.plot("forest", path, **kw),
                "plot_moderators": lambda fit, path=None, **kw: fit.plot("moderators", path, **kw),
                "plot_mstar": lambda fit, path=None, **kw: fit.plot("mstar", path, **kw)}

    # ---- calibration ---------------------------------------------------------------------------
    def prior_draws(self, model, n: int, rng) -> list[dict]:
        """The base class's prior draws, plus ``study_deviation`` D_j = L z_j where the model
        integrates it out (parameterization "marginal": not a model variable)."""
        draws = super().prior_draws(model, n, rng)
        if "tau" not in model.named_vars or "study_deviation" in model.named_vars:
            return draws
        J = len(model.coords["study"])
        for theta in draws:
            tau = np.atleast_1d(np.asarray(theta["tau"], float))
            z = rng.standard_normal((J, len(tau)))
            dev = tau[None, :] * z
            if len(tau) == 2:
                r = float(theta["corr_study"])
                dev[:, 1] = tau[1] * (r * z[:, 0] + np.sqrt(1.0 - r**2) * z[:, 1])
            theta["study_deviation"] = dev
        return draws

    def simulate(self, d: IpdMetaDesign, params: dict, rng) -> TrialData:
        """The design's units with outcomes drawn from the model given ``params`` (model variable
        names: intercept, effect, study_deviation, moderator / moderation coefficients, sigma,
        corr_visits, ...); moderators and baselines as observed; written back as MADRS scores
        (not rounded) at each study's visit days, so the design rebuilds identically."""
        mu = mdl.mean_numpy(d, {k: np.asarray(v, float) for k, v in params.items()}, rng)
        cov = mdl.cov_numpy(d, {k: np.asarray(v, float) for k, v in params.items()})
        y = mu + mdl.draw_residual(cov, rng, mu.shape[1])
        return design_to_trial(d, np.where(np.isfinite(d.Y), y, np.nan), source=f"simulate:{self.name}")

    def calibration_trial(self, rng, truth=None, n_studies=8, n_per_study=40) -> TrialData:
        """A trial from this family's generative form (percent outcome, fixed truth).

        Per study j: intercepts alpha_jv ~ N(35, 8) (rapid) / N(28, 8) (post_rapid), effect
        delta_v + D_jv with D_j ~ MvNormal(0, tau^2 [[1, .5], [.5, 1]]); patient moderators
        ``age`` (continuous, mean 45 + 3 z_j, SD 10) with within-study moderation 0.3 / year and
        ``female`` (binary) with none; study moderator ``crossover`` (half the studies) moderating by
        +8 / +4 points. Residuals bivariate normal (SD 30, 32; correlation 0.6). Written as MADRS
        with baselines ~ N(30, 5) (not rounded). ``truth``: ("effect", visit).
        """
        t = {"effect": {"rapid": 20.0, "post_rapid": 12.0}, "tau": 5.0, "sigma": (30.0, 32.0), "rho": 0.6,
             "age": 0.3, "crossover": (8.0, 4.0)} | (truth or {})
        J, m = n_studies, n_per_study
        n = J * m
        sidx = np.repeat(np.arange(J), m)
        cross = (np.arange(J) % 2).astype(float)
        age_mu = 45 + 3 * rng.standard_normal(J)
        age = np.round(age_mu[sidx] + 10 * rng.standard_normal(n))
        female = (rng.random(n) < 0.55).astype(float)
        arm = np.concatenate([rng.permutation(np.arange(m) % 2) for _ in range(J)]).astype(float)
        alpha = np.column_stack([35 + 8 * rng.standard_normal(J), 28 + 8 * rng.standard_normal(J)])
        L = t["tau"] * np.linalg.cholesky(np.array([[1.0, 0.5], [0.5, 1.0]]))
        D = rng.standard_normal((J, 2)) @ L.T
        eff = np.array([t["effect"]["rapid"], t["effect"]["post_rapid"]])
        cx = np.array(t["crossover"])
        c = arm - 0.5
        age_w = age - np.array([age[sidx == j].mean() for j in range(J)])[sidx]
        mu = (alpha[sidx] + c[:, None] * (eff + D[sidx] + (cross[sidx] - cross[sidx].mean())[:, None] * cx
                                          + t["age"] * age_w[:, None]))
        s1, s2 = t["sigma"]
        z = rng.standard_normal((n, 2))
        e = np.column_stack([s1 * z[:, 0], s2 * (t["rho"] * z[:, 0] + np.sqrt(1 - t["rho"] ** 2) * z[:, 1])])
        y = mu + e
        base = np.clip(30 + 5 * rng.standard_normal(n), 12, 55)
        pid = [f"P{i:04d}" for i in range(n)]
        sid = [f"S{j:02d}" for j in range(J)]
        rows = []
        for v, day in ((None, 0.0), (0, 1.0), (1, 7.0)):
            score = base if v is None else base - y[:, v] * base / 100.0
            rows.append(pd.DataFrame({"patient": pid, "study": np.array(sid)[sidx], "arm": arm.astype(int),
                                      "period": 1, "day": day, "madrs_total": score, "age": age, "female": female,
                                      "crossover": cross[sidx]}))
        frame = pd.concat(rows, ignore_index=True).sort_values(["patient", "day"]).reset_index(drop=True)
        truth_keys = {("effect", v): float(t["effect"][v]) for v in dsg.VISITS}
        return TrialData(frame, source=f"calibration:{self.name}", truth=truth_keys)


def unit_labels(d: IpdMetaDesign) -> list:
    if d.periods == "first":
        return [str(p) for p in d.units["patient"]]
    return [f"{p}|{q}" for p, q in zip(d.units["patient"], d.units["period"])]


def design_to_trial(d: IpdMetaDesign, y: np.ndarray, source: str) -> TrialData:
    """Units with outcomes ``y`` (n, V; the model's scale) as a long MADRS frame the design reads back."""
    u = d.units
    base = d.baseline
    rows = [pd.DataFrame({"patient": u["patient"], "study": u["study"], "arm": u["arm"].astype(int),
                          "period": u["period"], "day": 0.0, d.outcome: base,
                          "madrs_converted": d.converted.astype(bool)})]
    for k, v in enumerate(d.visits):
        score = base - y[:, k] * (base - d.floor) / 100.0 if d.outcome_scale == "percent" else y[:, k]
        ok = np.isfinite(score)
        rows.append(pd.DataFrame({"patient": u["patient"][ok], "study": u["study"][ok],
                                  "arm": u["arm"][ok].astype(int), "period": u["period"][ok],
                                  "day": u[f"{v}_day"][ok].astype(float), d.outcome: score[ok],
                                  "madrs_converted": d.converted[ok].astype(bool)}))
    frame = pd.concat(rows, ignore_index=True)
    mods = pd.DataFrame(d.X, columns=d.patient_moderators, index=u.index)
    for m in d.study_moderators:
        mods[m] = d.S[d.study_idx, d.study_moderators.index(m)]
    key = u["patient"].astype(str) + "|" + u["period"].astype(str)
    lookup = mods.set_index(key)
    fk = frame["patient"].astype(str) + "|" + frame["period"].astype(str)
    for m in mods.columns:
        frame[m] = lookup[m].reindex(fk).to_numpy()
    frame = frame.sort_values(["patient", "period", "day"]).reset_index(drop=True)
    return TrialData(frame, source=source)


def visit_table(fit) -> pd.DataFrame:
    """Per study: the days it had, the day used for each visit (NaN: none in the window), patients
    analysed, whether its outcome was linked from HRSD-17, and why it was excluded (if it was)."""
    return pd.DataFrame(fit.meta["visit_table"])


def imputation_table(fit) -> pd.DataFrame:
    """Per moderator: share of analysed patients imputed and the studies that never measured it."""
    rows = []
    for m in fit.meta.get("patient_moderators", []):
        miss = [r for r in fit.meta.get("moderator_missing", []) if r["moderator"] == m]
        rows.append({"moderator": m, "missing_patients": int(sum(r["missing"] for r in miss)),
                     "imputed_share": fit.meta.get("imputed_share", {}).get(m, 0.0),
                     "never_measured": ", ".join(fit.meta.get("never_measured", {}).get(m, []))})
    return pd.DataFrame(rows)


FAMILY = IpdMetaFamily()


# ---- the seed's sequential analysis ---------------------------------------------------------------
def ipd_meta_sequential(trial, moderators=(), study_moderators=(), ci_prob=0.95, model="ipd_meta",
                        quantities=("moderation",), progressbar=False, **fit_options) -> pd.DataFrame:
    """One model per moderator, as the seed's sequential (one-at-a-time) analysis.

    Each moderator (patient-level ones from ``moderators``, study-level ones from
    ``study_moderators``) is fitted alone with ``bk.fit(model, trial, ...)`` and the rows of
    ``quantities`` of its summary are stacked: the same columns as ``fit.summary()``, plus
    ``n_patients`` (that fit's analysed patients) and the fit's diagnostics (``divergences``,
    ``max_rhat``). Patients missing the moderator leave that fit only (complete cases, as the
    seed); the within-study interactions keep ordinary normal priors (no horseshoe).
    Returns the stacked table; ``attrs["fits"]`` holds the fits.
    """
    from ..fitting import fit as _fit

    fit_options = {"missing": "complete", "shrinkage": "normal", "mstar": False, "mstar_cv": False} | fit_options
    tables, fits = [], {}
    items = [("moderators", m) for m in ([moderators] if isinstance(moderators, str) else moderators)]
    items += [("study_moderators", m) for m in ([study_moderators] if isinstance(study_moderators, str)
                                               else study_moderators)]
    if not items:
        raise BayesKetError("ipd_meta_sequential needs at least one moderator. Fix: pass moderators= or "
                            "study_moderators=.")
    for kind, m in items:
        kw = {"moderators": [m]} if kind == "moderators" else {"moderators": [], "study_moderators": [m]}
        f = _fit(model, trial, progressbar=progressbar, **kw, **fit_options)
        s = f.summary(ci_prob=ci_prob, quantities=[q for q in quantities if q in f.quantities])
        diag = s.attrs["diagnostics"]
        s = s.assign(n_patients=f.meta["n_patients"], divergences=diag["divergences"], max_rhat=diag["max_rhat"])
        tables.append(s)
        fits[m] = f
    out = pd.concat(tables, ignore_index=True)
    out.attrs["fits"] = fits
    return out
