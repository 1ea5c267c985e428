"""IPD meta-analysis family, part 2: imputation inside the model, the regularised horseshoe, and the
combined moderator M*. Fast layer (mock draws, likelihood against quadrature), a small real fit
(integration), M* direction (slow)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import bayes_ket as bk
from bayes_ket.data.trial import TrialData
from bayes_ket.families import ipd_meta_mstar as ms
from bayes_ket.fitting import Analysis

from conftest import MOCK, quiet

STUDY = ["trd_threshold", "crossover", "active_placebo"]
SMALL = dict(draws=200, tune=200, chains=2, progressbar=False)


@pytest.fixture(scope="module")
def null_trial():
    return bk.simulate("ipd_meta", seed=1, n_patients=300, n_studies=8, null_moderators=6)


@pytest.fixture(scope="module")
def full_analysis(null_trial):
    mods = ["age", "female", "bmi", "msm"] + null_trial.truth["null_moderators"]
    return quiet(Analysis, "ipd_meta", null_trial, moderators=mods, study_moderators=STUDY, missing="impute",
                 shrinkage="horseshoe", mstar=True)


@pytest.fixture(scope="module")
def mock_full(full_analysis):
    return full_analysis.sample(seed=1, **MOCK)


# ---- imputation ------------------------------------------------------------------------------
def test_imputation_keeps_every_patient(full_analysis, mock_full, null_trial):
    d = full_analysis.design
    assert d.n == null_trial.n_patients and mock_full.meta["n_patients"] == null_trial.n_patients
    f = null_trial.frame
    first = f[f["period"] == 1].groupby("patient").first()
    for m in ("msm", "null_02"):
        share = mock_full.meta["imputed_share"][m]
        assert share == pytest.approx(first[m].isna().mean())
        never = sorted(s for s, g in first.groupby("study") if g[m].isna().all())
        assert mock_full.meta["never_measured"][m] == never
    s = quiet(mock_full.summary)
    imp = s[s.quantity == "imputed_share"].set_index("moderator")
    assert imp.loc["msm", "mean"] == pytest.approx(mock_full.meta["imputed_share"]["msm"])
    assert imp.loc["female", "mean"] == 0.0
    t = mock_full.imputation()
    assert set(t["moderator"]) == set(d.patient_moderators) and "never_measured" in t


def test_complete_case_still_an_option(null_trial):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bk.BayesKetWarning)
        a = Analysis("ipd_meta", null_trial, moderators=["msm"], missing="complete")
    assert a.design.n < null_trial.n_patients and "imputed_share" not in [q.name for q in
                                                                          a.family.quantities(a.design)]


def _marginal_reference(d, post):
    """Per-unit log-likelihood by 1-D Gauss-Hermite quadrature over a missing continuous moderator and an
    explicit sum over a missing binary one (at most one of each per unit in the test design)."""
    from scipy.stats import multivariate_normal

    from bayes_ket.families.ipd_meta_model import design_arrays, linear_mean

    g = {k: np.asarray(v) for k, v in post.items()}
    a = design_arrays(d)
    Z = d.patient_standardised()
    kc, kb = d.patient_moderators.index("age"), d.patient_moderators.index("female")
    M, S, pb = g["covariate_study_mean"][:, 0], g["covariate_study_sd"][:, 0], g["covariate_study_share"][:, 0]
    w = np.bincount(d.study_idx, minlength=d.n_studies) / d.n
    Xa = a["Xa"].copy()
    Xa[:, kc] = M - (w * M).sum()
    Xa[:, kb] = pb - (w * pb).sum()
    sig, rho = g["sigma"], float(g["corr_visits"])
    cov = np.array([[sig[0] ** 2, rho * sig[0] * sig[1]], [rho * sig[0] * sig[1], sig[1] ** 2]])
    nodes, weights = np.polynomial.hermite_e.hermegauss(40)
    out = np.zeros(d.n)
    p = {k: g[k] for k in ("intercept", "effect", "study_deviation", "moderator_coef", "moderation_within",
                           "moderation_across", "moderation_study")}
    for i in range(d.n):
        j = d.study_idx[i]
        zc_vals = [Z[i, kc] - M[j]] if np.isfinite(Z[i, kc]) else list(S[j] * nodes)
        zc_w = [1.0] if np.isfinite(Z[i, kc]) else list(weights / np.sqrt(2 * np.pi))
        xb_vals = [d.X[i, kb]] if np.isfinite(d.X[i, kb]) else [0.0, 1.0]
        xb_w = [1.0] if np.isfinite(d.X[i, kb]) else [1 - pb[j], pb[j]]
        total = 0.0
        for u, wu in zip(zc_vals, zc_w):
            for x, wx in zip(xb_vals, xb_w):
                ai = {k: (v[i:i + 1] if np.ndim(v) and len(v) == d.n else v) for k, v in a.items()}
                ai["sidx"] = a["sidx"][i:i + 1]
                Xw = a["Xw"][i:i + 1].copy()
                Xw[0, kc], Xw[0, kb] = u, x - pb[j]
                ai["Xw"], ai["Xa"] = Xw, Xa
                mu = linear_mean(p, ai)[0]
                obs = np.isfinite(d.Y[i])
                total += wu * wx * multivariate_normal(mu[obs], cov[np.ix_(obs, obs)]).pdf(d.Y[i, obs])
        out[i] = np.log(total)
    return out


def test_marginal_likelihood_matches_quadrature():
    rng = np.random.default_rng(5)
    trial = bk.simulate("ipd_meta", seed=6, n_patients=36, n_studies=3)
    f = trial.frame.copy()
    pats = f["patient"].unique()
    gone = rng.choice(pats, 8, replace=False)
    f.loc[f["patient"].isin(gone[:5]), "age"] = np.nan
    f.loc[f["patient"].isin(gone[3:]), "female"] = np.nan
    t = TrialData(f, source="test")
    a = quiet(Analysis, "ipd_meta", t, moderators=["age", "female"], study_moderators=["crossover"],
              missing="impute")
    fit = a.sample(seed=3, **MOCK)
    post = {k: fit.idata.posterior[k].isel(chain=0, draw=0).to_numpy() for k in fit.idata.posterior.data_vars}
    ref = _marginal_reference(a.design, post)
    got = fit.idata.log_likelihood["y_patient"].isel(chain=0, draw=0).to_numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-6)


# ---- horseshoe -----------------------------------------------------------------------------------
def test_horseshoe_parameters_and_prob_relevant(full_analysis, mock_full):
    names = {v.name for v in full_analysis.model.free_RVs}
    assert {"moderation_within_z", "moderation_local", "moderation_local_mix", "moderation_global",
            "moderation_global_mix", "moderation_slab"} <= names
    assert "moderation_expected_nonzero" in mock_full.priors
    s = quiet(mock_full.summary)
    mod = s[s.quantity == "moderation"]
    assert mod["prob_relevant"].between(0, 1).all()
    sd = mock_full.meta["moderator_sd"]["age"]
    draws = mock_full.draws("moderation").sel(moderator="age", level="within", visit="rapid")
    expect = float((abs(draws) > mock_full.meta["relevant_moderation"] / sd).mean())
    row = mod[(mod.moderator == "age") & (mod.level == "within") & (mod.visit == "rapid")].iloc[0]
    assert row["prob_relevant"] == pytest.approx(expect)


# ---- M* --------------------------------------------------------------------------------------------
def test_mstar_weights_scores_and_r(mock_full, tmp_path):
    w = mock_full.draws("mstar_weight")
    norm = np.sqrt((w**2).sum("moderator"))
    np.testing.assert_allclose(norm, 1.0)
    sc = mock_full.mstar_scores()
    assert list(sc.columns) == ["patient", "study", "arm", "visit", "mstar", "lower", "upper", "outcome"]
    assert len(sc) == 2 * mock_full.meta["n_patients"] and set(sc["arm"]) == {"ketamine", "control"}
    r = mock_full.draws("mstar_r")
    assert float(abs(r).max()) < 1
    mock_full.plot("mstar", tmp_path / "m.png")
    assert (tmp_path / "m.png").stat().st_size > 1000


def test_kraemer_r_is_the_regression_formula():
    """Without the Bayesian bootstrap, r comes from the OLS of y on study dummies, T, M and T x M."""
    rng = np.random.default_rng(2)

    class D:  # a minimal design
        n_studies, outcome_scale = 3, "percent"
    d = D()
    n = 300
    d.study_idx = np.repeat(np.arange(3), 100)
    d.arm = np.tile([0.0, 1.0], 150)
    m = rng.standard_normal(n)
    y = 10 * d.study_idx + 5 * (d.arm - 0.5) + 2 * m + 3 * (d.arm - 0.5) * m + rng.normal(0, 4, n)
    d.Y = y[:, None]
    r = ms.kraemer_r(d, 0, m[None, :], rng, bootstrap=False)[0]
    X = np.column_stack([np.eye(3)[d.study_idx], d.arm - 0.5, m, (d.arm - 0.5) * m])
    b, res, *_ = np.linalg.lstsq(X, y, rcond=None)
    s2 = res[0] / (n - 6)
    assert r == pytest.approx((b[5] / 2) / np.sqrt(s2 + b[4] ** 2 + b[5] ** 2 / 4), rel=1e-6)


def test_mstar_direction_angle_helper():
    d = type("D", (), {})()
    d.patient_moderators = ["a", "b"]
    d.mod_kind = {"a": "continuous", "b": "binary"}
    d.mod_sd = {"a": 1.0, "b": 0.5}
    d.outcome_scale = "points"
    gw = np.array([[[1.0], [2.0]]])  # per SD for a, per 0 -> 1 for b (per SD: 1.0)
    w = ms.weight_draws(d, gw)[0, :, 0]
    np.testing.assert_allclose(w, -np.array([1.0, 1.0]) / np.sqrt(2))  # points: benefit is negative


# ---- small real fit (integration) ----------------------------------------------------------------
@pytest.mark.integration
def test_small_real_fit_with_imputation_horseshoe_mstar(null_trial):
    mods = ["age", "female", "bmi", "msm"] + null_trial.truth["null_moderators"]
    fit = quiet(bk.fit, "ipd_meta", null_trial, moderators=mods, study_moderators=STUDY, missing="impute",
                shrinkage="horseshoe", mstar=True, seed=2, **SMALL)
    d = fit.diagnostics()
    assert d["divergences"] <= 2 and d["max_rhat"] < 1.1
    assert fit.meta["n_patients"] == null_trial.n_patients
    s = quiet(fit.summary, ci_prob=0.9)
    nulls = s[(s.quantity == "moderation") & s.moderator.str.startswith("null") & (s.level == "within")]
    assert ((nulls["lower"] > 0) | (nulls["upper"] < 0)).mean() <= 0.25
    assert {"mstar_weight", "mstar_r", "imputed_share"} <= set(s["quantity"])
