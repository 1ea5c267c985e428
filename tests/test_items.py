"""Items family: design, bad inputs (fast); an unobserved category (integration); recovery (slow)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import bayes_ket as bk
from bayes_ket.cards import load_card
from bayes_ket.errors import BayesKetError
from bayes_ket.families import items as fam

TINY = dict(draws=100, tune=150, chains=2, progressbar=False)


@pytest.fixture(scope="module")
def small_trial(small_items_trial):
    return small_items_trial


def test_card_and_family_listed():
    assert "items" in bk.cards.available()
    card = load_card("items")
    assert card.family == "items"
    for name in ("cutpoint_sigma", "sd_patient_intercept_sigma", "effect_mu_sigma", "effect_pool_sigma",
                 "moderation_mu_sigma", "moderation_pool_sigma"):
        assert name in card.priors


def test_design_long_rows(small_trial):
    d = fam.design(small_trial, load_card("items"))
    n_scores = int(small_trial.frame[[f"madrs_{i}" for i in range(1, 11)]].notna().sum().sum())
    assert len(d.rows) == n_scores
    assert set(d.rows["score"].unique()) <= set(range(7))
    assert d.study_level == "fixed"  # 2 studies -> fixed intercepts
    C, T = d.bases(d.model_days)
    assert C.shape[1] == (d.model_days > 0).sum() and T.shape[1] == 1
    assert np.all(C[d.model_days == 0] == 0)


def test_item_ppc_counts(mock_items_fit):
    rep = mock_items_fit.idata.posterior_predictive["item_counts_rep"]
    obs = np.asarray(mock_items_fit.meta["observed_item_counts"])
    assert rep.shape[2:] == (10, 7)
    # each draw replicates exactly the observed number of scores per item
    assert np.all(rep.sum("category").to_numpy() == obs.sum(1)[None, None, :])


def test_prob_by_item(mock_items_fit):
    p = mock_items_fit.prob("effect", "<", 0)
    assert isinstance(p, pd.Series) and len(p) == 10 and p.between(0, 1).all()
    assert 0 <= mock_items_fit.prob("effect", "<", 0, item="apparent_sadness") <= 1
    ce = mock_items_fit.conditional_effect("msm", values=(8, 10))
    assert set(ce["msm"]) == {8, 10} and len(ce) == 20


@pytest.mark.integration
def test_unobserved_category_samples_cleanly():
    trial = bk.simulate("pooled_rct", seed=5, n_patients=30)
    f = trial.frame.copy()
    # apparent sadness never scores 6 (nor 5): two categories never observed
    f["madrs_1"] = f["madrs_1"].clip(upper=4)
    f = f.drop(columns=["madrs_total"])
    t2 = bk.read_trial(f)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = bk.fit("items", t2, seed=2, **TINY)
    d = fit.diagnostics()
    assert d["divergences"] <= 4, d
    cut = fit.idata.posterior["cutpoints"].sel(item="apparent_sadness")
    assert np.isfinite(cut.to_numpy()).all()
    # the unobserved top categories' cutpoints sit above the observed ones
    assert float(cut.isel(threshold=5).mean()) > float(cut.isel(threshold=3).mean())
    rep = fit.idata.posterior_predictive["item_counts_rep"].sel(item="apparent_sadness")
    assert float(rep.sel(category=6).mean()) < 3


def test_trial_without_items_is_an_error():
    trial = bk.simulate("pooled_rct", seed=0, n_patients=20)
    f = trial.frame.drop(columns=[f"madrs_{i}" for i in range(1, 11)])
    t2 = bk.read_trial(f)
    with pytest.raises(BayesKetError, match="madrs_1"):
        bk.Analysis("items", t2)


def test_bad_options():
    trial = bk.simulate("pooled_rct", seed=0, n_patients=20)
    card = load_card("items")
    with pytest.raises(BayesKetError, match="link"):
        fam.design(trial, card, link="cloglog")
    with pytest.raises(BayesKetError, match="time"):
        fam.design(trial, card, time="quadratic")
    with pytest.raises(BayesKetError, match="priors="):
        bk.Analysis("items", trial, priors={"effect_sigma": 1.0})
    with pytest.raises(BayesKetError, match="total"):
        fam.design(trial, card, outcome="madrs_total")


def test_effect_by_day_and_probit_build():
    trial = bk.simulate("pooled_rct", seed=1, n_patients=20)
    card = load_card("items")
    d = fam.design(trial, card, effect_by_day=True, link="probit", patient_item=True)
    model, _ = fam.build_model(d, fam.priors(card, d))
    assert model.named_vars_to_dims["effect"] == ("day_post", "item")
    assert model.named_vars_to_dims["moderation"] == ("day_post", "item", "moderator")
    lp = model.compile_logp()(model.initial_point())
    assert np.isfinite(lp)


def test_post_baseline_only_structure():
    trial = bk.simulate("pooled_rct", seed=1, n_patients=20)
    d = fam.design(trial, load_card("items"), post_baseline_only=True, study_level="none")
    assert d.rows["day"].min() > 0 and d.study_level == "none"
    C, _ = d.bases(d.model_days)
    assert C.shape[1] == len(d.model_days) - 1  # first visit is the reference


@pytest.mark.slow
def test_recovery_pooled_rct():
    """Per-item truth on pooled_rct with the model in the simulator's structure.

    The simulator adds a patient shift after baseline (sd_change 0.9) and lets the effect
    decay over visits: patient_change=True and effect_by_day=True match it. (The default
    model omits the shift; an omitted random effect attenuates logit coefficients, so its
    constant item effects sit ~10-15% closer to zero than these conditional truths.)
    """
    trial = bk.simulate("pooled_rct", seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = bk.fit("items", trial, effect_by_day=True, patient_change=True, draws=400, tune=500, chains=2,
                     seed=4, progressbar=False)
    e = fam.item_effect_recovery(fit, trial.truth)
    s = fit.summary()
    assert len(e) == 50  # 10 items x 5 post-baseline days
    assert np.corrcoef(e["mean"], e["truth"])[0, 1] > 0.85
    assert e["covered"].mean() >= 0.8
    sd_change = s[s.quantity == "sd_patient_change"]["mean"].iloc[0]
    assert abs(sd_change - trial.truth["sd_change"]) < 0.2
    assert fit.diagnostics()["divergences"] <= 10


@pytest.mark.slow
def test_items_calibration_bounded():
    """The calibration harness on the items model's own generative form (benchmarks: 100 trials)."""
    from bayes_ket.calibration import coverage, summarise_coverage

    table = coverage("items", replications=12, ci_prob=0.9, seed=5,
                     fit_options={"draws": 300, "tune": 300, "chains": 2})
    cov = summarise_coverage(table).set_index("quantity")
    # 120 intervals each (12 trials x 10 items): two-sided, 3 clustered standard errors
    assert cov.loc["effect", "ok"] and cov.loc["moderation", "ok"], cov
    assert (table["divergences"] == 0).mean() >= 0.8


def test_generator_links_patient_level_to_the_cutpoints():
    """The likelihood sees only cutpoints - patient intercepts. A prior draw shifted by s in both
    patient_level and the cutpoints is the same model, so the generator (used by SBC) must draw the
    same scores: the intercepts' mean is the drawn patient_level, not a fresh mean (the bug SBC
    found: most cutpoints_relative ranks outside their band)."""
    from bayes_ket.families import family_of

    family = family_of(load_card("items"))
    template = family.calibration_trial(np.random.default_rng(0), n_patients=30)
    analysis = bk.Analysis("items", template)
    assert "patient_level" in analysis.model.named_vars
    theta = family.prior_draws(analysis.model, 1, np.random.default_rng(1))[0]
    shifted = dict(theta, patient_level=np.asarray(theta["patient_level"]) + 1.5,
                   cutpoints=np.asarray(theta["cutpoints"]) + 1.5)
    a = family.simulate(analysis.design, theta, np.random.default_rng(2)).frame
    b = family.simulate(analysis.design, shifted, np.random.default_rng(2)).frame
    items = [c for c in a.columns if c.startswith("madrs_") and c[6:].isdigit()]
    assert len(items) == 10
    pd.testing.assert_frame_equal(a[items], b[items])


def test_absorbed_patient_shifts_leave_the_log_density_unchanged(small_trial, monkeypatch):
    """Moving the mean and arm contrast of the patients' post-baseline shifts into the visit means
    and item effects (alpha_s = alpha + gamma_mean, e_s = e + gamma_arm) is a shear with Jacobian
    1: the log density at the mapped point equals the plain model's, to rounding."""
    card = load_card("items")
    d = fam.design(small_trial, card, effect_parameterization="centered")
    X, names = fam.absorbed_change_columns(d)
    assert names == ["mean", "arm"]
    pri = fam.priors(card, d)
    shifted, _ = fam.build_model(d, pri)
    monkeypatch.setattr(fam, "absorbed_change_columns", lambda d: (None, []))
    plain, _ = fam.build_model(d, pri)
    assert "trajectory_coef_shifted" in shifted.named_vars and "trajectory_coef_shifted" not in plain.named_vars
    rng = np.random.default_rng(3)
    logp_s, logp_p = shifted.compile_logp(), plain.compile_logp()
    change = shifted.compile_fn(shifted.replace_rvs_by_values([shifted["patient_change"]])[0],
                                inputs=shifted.value_vars, on_unused_input="ignore")
    for _ in range(3):
        point = {k: v + 0.4 * rng.standard_normal(np.shape(v)) for k, v in shifted.initial_point().items()}
        gamma = np.linalg.pinv(X) @ change(point)
        mapped = {k: v for k, v in point.items() if not k.endswith("_shifted")}
        mapped["trajectory_coef"] = point["trajectory_coef_shifted"] - gamma[0]
        mapped["effect_coef"] = point["effect_coef_shifted"] - gamma[1]
        assert set(mapped) == set(plain.initial_point())
        assert abs(gamma).max() > 1e-3  # the shear moved something
        np.testing.assert_allclose(logp_s(point), logp_p(mapped), rtol=1e-10)


def test_default_parameterisation_follows_the_data(small_trial):
    """Card defaults: non-centred patient levels; item effects centred from 60 patients per arm,
    with the arm contrast of the patients' shifts moved into them only then."""
    card = load_card("items")
    big = fam.design(bk.simulate("pooled_rct", seed=0), card)  # 154 patients, 77 per arm
    assert (big.parameterization, big.effect_parameterization) == ("noncentered", "centered")
    assert fam.absorbed_change_columns(big)[1] == ["mean", "arm"]
    small = fam.design(small_trial, card)  # 40 patients
    assert small.effect_parameterization == "noncentered"
    assert fam.absorbed_change_columns(small)[1] == ["mean"]
    model, _ = fam.build_model(small, fam.priors(card, small))
    assert {"trajectory_coef_shifted", "patient_z"} <= set(model.named_vars)
    assert "effect_coef_shifted" not in model.named_vars
    slope = fam.design(small_trial, card, time="linear")  # t is no post-baseline indicator: nothing absorbed
    assert fam.absorbed_change_columns(slope)[1] == []
