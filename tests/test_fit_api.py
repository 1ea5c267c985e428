"""The Fit API on mock draws (no sampler): structure, meanings, persistence, diagnostics, errors."""

import warnings

import numpy as np
import pandas as pd
import pytest

import bayes_ket as bk
from bayes_ket.engine.jax_nuts import COMPILATIONS

from conftest import MOCK, quiet

SUMMARY_COLUMNS = ["mean", "sd", "lower", "upper", "prob_positive", "r_hat", "ess_bulk", "ess_tail"]


def test_summary_has_every_quantity_and_column(mock_fit):
    s = quiet(mock_fit.summary)
    expected = {"effect", "moderation", "moderator_effect", "mean_trajectory", "response_rate", "remission_rate",
                "response_difference", "nnt_response", "sd_patient_intercept", "sd_patient_slope",
                "corr_patient", "sigma", "percent_improvement", "percent_difference"}
    assert expected == set(s["quantity"])
    assert list(s.columns[:4]) == ["quantity", "day", "arm", "moderator"]
    assert list(s.columns[-8:]) == SUMMARY_COLUMNS
    assert set(s.loc[s.quantity == "effect", "day"]) == {1.0, 3.0, 7.0, 10.0, 14.0}
    assert set(s.loc[s.quantity == "mean_trajectory", "arm"]) == {"ketamine", "control"}
    assert (s.loc[s.quantity == "moderation", "moderator"] == "msm").all()
    assert (s["lower"] <= s["upper"]).all()


def test_arms_share_baseline_and_effect_is_the_arm_difference(mock_fit):
    mt = mock_fit.draws("mean_trajectory")
    np.testing.assert_allclose(mt.sel(day=0.0, arm="ketamine"), mt.sel(day=0.0, arm="control"))
    diff = mt.sel(arm="ketamine", day=14.0) - mt.sel(arm="control", day=14.0)
    np.testing.assert_allclose(diff, mock_fit.draws("effect").sel(day=14.0))


def test_nnt_is_inverse_of_risk_difference(mock_fit):
    s = quiet(mock_fit.summary)
    rd = s[s.quantity == "response_difference"].set_index("day")
    nnt = s[s.quantity == "nnt_response"].set_index("day")
    lo, hi = rd["lower"].to_numpy(), rd["upper"].to_numpy()
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(nnt["lower"], np.where(hi > 0, 1 / hi, np.nan))
        np.testing.assert_allclose(nnt["upper"], np.where(lo > 0, 1 / lo, np.where(hi > 0, np.inf, np.nan)))
    draws = mock_fit.draws("response_difference").transpose("chain", "draw", "day").values.reshape(-1, len(rd))
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(nnt["mean"], np.median(1 / draws, axis=0))


def test_prob_and_conditional_effect(mock_fit):
    series = mock_fit.prob("effect", "<", 0)
    assert isinstance(series, pd.Series) and len(series) == 5
    p = mock_fit.prob("effect", "<", -2, day=1.0)
    eff = mock_fit.draws("effect").sel(day=1.0)
    assert p == pytest.approx(float((eff < -2).mean()))
    ce = mock_fit.conditional_effect("msm", values=(8, 12))
    assert list(ce.columns[:3]) == ["quantity", "msm", "day"]
    ref = mock_fit.meta["moderator_reference"]["msm"]
    mod = mock_fit.draws("moderation").sel(day=1.0, moderator="msm")
    row = ce[(ce.msm == 12) & (ce.day == 1.0)].iloc[0]
    assert row["mean"] == pytest.approx(float((eff + (12 - ref) * mod).mean()))
    assert not ce["extrapolated"].any()
    with pytest.raises(bk.BayesKetError, match="day"):
        mock_fit.prob("effect", "<", 0, day=99.0)
    with pytest.raises(bk.BayesKetError, match="op"):
        mock_fit.prob("effect", "!=", 0)


def test_conditional_effect_outside_observed_range_warns_and_marks(mock_fit):
    lo, hi = mock_fit.meta["moderator_range"]["msm"]
    with pytest.warns(bk.BayesKetWarning, match="outside the observed range"):
        ce = mock_fit.conditional_effect("msm", values=(lo - 3, hi))
    assert ce.groupby("msm")["extrapolated"].first().to_dict() == {lo - 3: True, hi: False}


def test_diagnostics_travel_with_summary_and_warn(mock_fit):
    d = mock_fit.diagnostics()
    for key in ("divergences", "max_rhat", "min_ess_bulk", "min_ess_tail", "bfmi", "treedepth_max_share",
                "pareto_k_high", "loo_unit", "warmup_gradients", "draw_gradients", "study_level", "backend", "ok",
                "reasons"):
        assert key in d
    assert d["study_level"] == "fixed" and d["loo_unit"] == "patient"
    assert d["ok"] is False  # mock draws are no posterior, and the diagnostics say so
    with pytest.warns(bk.BayesKetWarning, match="Sampling problems"):
        s = mock_fit.summary()
    assert s.attrs["diagnostics"]["divergences"] == d["divergences"]


def test_monitored_set_is_derived_from_dims(trajectory_analysis, mock_fit):
    pop = mock_fit.meta["population_vars"]
    assert {"trajectory_coef", "effect_coef", "moderation_coef", "sigma", "patient_sd", "study_offset"} <= set(pop)
    dims = trajectory_analysis.model.named_vars_to_dims
    assert not any("patient" in dims.get(v, ()) for v in pop)
    every = {v.name for v in trajectory_analysis.model.free_RVs + trajectory_analysis.model.deterministics}
    assert every - set(pop) == {v for v in every if "patient" in dims.get(v, ())}


def test_treedepth_saturation_makes_diagnostics_not_ok(mock_fit):
    idata = mock_fit.idata.copy()
    depth = idata.sample_stats["tree_depth"].copy()
    depth[:] = 1
    depth[0, :2] = 10  # 2 of 120 draws (1.7%) at the maximum depth
    idata.sample_stats["tree_depth"] = depth
    d = bk.Fit(idata, dict(mock_fit.meta)).diagnostics()
    assert d["treedepth_max_share"] == pytest.approx(2 / 120)
    assert any("maximum tree depth" in r for r in d["reasons"])


def test_one_chain_summarises_with_a_reason(trajectory_analysis):
    fit = trajectory_analysis.sample(seed=2, draws=40, chains=1, progressbar=False, engine="mock")
    d = fit.diagnostics()
    assert np.isnan(d["max_rhat"]) and d["ok"] is False
    assert "R-hat needs at least 2 chains" in d["reasons"]
    s = quiet(fit.summary)
    assert s["r_hat"].isna().all() and len(s) > 0


def test_priors_reported_and_overridable(pooled_trial, mock_fit):
    pri = mock_fit.priors
    assert pri["moderation_sigma"] == pytest.approx(0.1 * 60)
    assert pri["corr_patient_eta"] == 2.0
    with pytest.raises(bk.BayesKetError, match="moderation_sigma"):
        bk.Analysis("trajectory", pooled_trial, priors={"moderation_sd": 1.0})


def test_save_load_summarises_identically_and_keeps_the_trial(mock_fit, pooled_trial, tmp_path):
    path = tmp_path / "fit.nc"
    mock_fit.save(path)
    loaded = bk.load_fit(path)
    pd.testing.assert_frame_equal(quiet(loaded.summary), quiet(mock_fit.summary))
    assert loaded.priors == mock_fit.priors and loaded.meta["card"]["name"] == "trajectory"
    pd.testing.assert_frame_equal(loaded.trial.frame, pooled_trial.frame, check_dtype=False)
    assert "unconstrained_posterior" in loaded.idata.groups()


def test_load_fit_warns_on_other_data_and_version(mock_fit, pooled_trial, tmp_path):
    path = tmp_path / "fit.nc"
    mock_fit.save(path)
    other = bk.TrialData(pooled_trial.frame.assign(madrs_total=pooled_trial.frame["madrs_total"] + 1))
    with pytest.warns(bk.BayesKetWarning, match="differs from the data"):
        bk.load_fit(path, trial=other)
    with warnings.catch_warnings():
        warnings.simplefilter("error", bk.BayesKetWarning)
        bk.load_fit(path, trial=pooled_trial)  # same data: no warning
    import arviz as az

    idata = az.from_netcdf(path)
    import json

    meta = json.loads(idata.attrs["bayes_ket"])
    meta["version"] = "0.0.1"
    idata.attrs["bayes_ket"] = json.dumps(meta)
    idata.to_netcdf(tmp_path / "old.nc")
    with pytest.warns(bk.BayesKetWarning, match="0.0.1"):
        bk.load_fit(tmp_path / "old.nc")


def test_loo_is_cached_and_compare_refuses_other_units(mock_fit, pooled_trial):
    first = mock_fit.loo()
    assert mock_fit.loo() is first and mock_fit.meta["loo_unit"] == "patient"
    per_row = quiet(bk.Analysis("trajectory", pooled_trial, parameterization="noncentered").sample, seed=3, **MOCK)
    assert per_row.meta["loo_unit"] == "row"
    with pytest.raises(bk.BayesKetError, match="different units"):
        bk.compare({"marginal": mock_fit, "noncentered": per_row})


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_plot_ppc_writes_each_format(mock_fit, tmp_path, suffix):
    path = tmp_path / f"ppc{suffix}"
    mock_fit.plot_ppc(path)
    assert path.stat().st_size > 1000


def test_plot_ppc_rejects_unknown_suffix(mock_fit, tmp_path):
    with pytest.raises(bk.BayesKetError, match="suffix"):
        mock_fit.plot_ppc(tmp_path / "ppc.jpg")


def test_bad_requests_name_the_fix_before_compiling(pooled_trial):
    before = COMPILATIONS["count"]
    with pytest.raises(bk.BayesKetError, match="gad7_total"):
        bk.Analysis("trajectory", pooled_trial, outcome="gad7_total")
    with pytest.raises(bk.BayesKetError, match="time"):
        bk.Analysis("trajectory", pooled_trial, time="weekly")
    with pytest.raises(bk.BayesKetError, match="age"):
        bk.Analysis("trajectory", pooled_trial, moderators=("age",))
    with pytest.raises(bk.BayesKetError, match="Unknown model"):
        bk.Analysis("nonsense", pooled_trial)
    with pytest.raises(bk.BayesKetError, match="read_trial"):
        bk.fit("trajectory", pooled_trial.frame)
    no_baseline = bk.TrialData(pooled_trial.frame[pooled_trial.frame.day > 0])
    with pytest.raises(bk.BayesKetError, match="baseline"):
        bk.Analysis("trajectory", no_baseline)
    assert COMPILATIONS["count"] == before


@pytest.mark.parametrize("model", ["trajectory", "items", "ipd_meta", "classes"])
def test_a_misspelt_option_is_named_with_the_accepted_ones(pooled_trial, model):
    """Every family: an option its design does not take is a BayesKetError listing those it takes
    (a family forwarding **options names the function that receives them), not a TypeError."""
    with pytest.raises(bk.BayesKetError, match=r"Unknown option\(s\) \['target_acept'\].*target_accept"):
        bk.fit(model, pooled_trial, target_acept=0.95)
    from bayes_ket.cards import load_card
    from bayes_ket.families import family_of

    family = family_of(load_card(model))
    assert family.option_names() and not family.option_names() & {"self", "trial", "card", "outcome"}


def test_missing_moderator_warns_and_is_accounted(pooled_trial):
    frame = pooled_trial.frame.copy()
    gone = frame.patient.isin(frame.patient.unique()[:5])
    frame.loc[gone, "msm"] = np.nan
    with pytest.warns(bk.BayesKetWarning, match="5 of 154 patients have no value for moderator 'msm'"):
        a = bk.Analysis("trajectory", bk.TrialData(frame))
    excluded = a.design.exclusions.table()
    assert (excluded["reason"] == "moderator msm missing").sum() == gone.sum()
    assert len(a.design.rows) + len(excluded) == len(frame)
    fit = quiet(a.sample, seed=0, **MOCK)
    assert quiet(fit.summary).attrs["patients_excluded"]["moderator msm missing"] == 5


def test_visit_time_with_actual_days_warns(pooled_trial):
    frame = pooled_trial.frame.copy()
    rng = np.random.default_rng(0)
    width = frame["day"].map({7.0: 1, 10.0: 1, 14.0: 2}).fillna(0).to_numpy(int)
    frame["day"] = frame["day"] + rng.integers(-width, width + 1)  # actual days around the schedule
    with pytest.warns(bk.BayesKetWarning, match="distinct days"):
        bk.Analysis("trajectory", bk.TrialData(frame))


def test_rebind_checks_coordinates_not_only_shapes(trajectory_analysis, pooled_trial):
    frame = pooled_trial.frame.copy()
    frame["patient"] = "X" + frame["patient"].astype(str)  # same shapes, other patients
    with pytest.raises(bk.BayesKetError, match="coordinates"):
        trajectory_analysis.rebind(bk.TrialData(frame))
    same = trajectory_analysis.rebind(bk.TrialData(pooled_trial.frame.assign(
        madrs_total=pooled_trial.frame.madrs_total + 1)))
    assert same.compiled is trajectory_analysis.compiled


def test_items_summary_structure(mock_items_fit):
    s = quiet(mock_items_fit.summary)
    assert list(s.columns[:5]) == ["quantity", "day", "arm", "item", "moderator"]
    for q in ("effect", "effect_points", "moderation", "effect_mean", "effect_sd", "moderation_mean",
              "moderation_sd", "sd_patient_intercept", "mean_trajectory"):
        assert q in set(s["quantity"]), q
    eff = s[s.quantity == "effect"]
    assert list(eff["item"]) == list(bk.scales.MADRS_ITEMS)
    mt = s[s.quantity == "mean_trajectory"]
    assert set(mt["arm"]) == {"ketamine", "control"} and mt["mean"].between(0, 60).all()
    assert mock_items_fit.meta["loo_unit"] == "visit"
    assert mock_items_fit.loo().n_data_points == len(mock_items_fit.idata.log_likelihood["visit"])


def test_items_mean_trajectory_is_the_exact_expected_score(mock_items_fit):
    """With moderators at their reference and no treatment effect at baseline, both arms' expected
    baseline totals are the same function of the draws, so they agree exactly (a replicate average would not)."""
    mt = mock_items_fit.draws("mean_trajectory").sel(day=0.0)
    np.testing.assert_allclose(mt.sel(arm="ketamine"), mt.sel(arm="control"))


def test_items_plots(mock_items_fit, tmp_path):
    mock_items_fit.plot_ppc(tmp_path / "rootogram.png")
    mock_items_fit.plot("forest", tmp_path / "forest.png")
    assert (tmp_path / "rootogram.png").stat().st_size > 1000 and (tmp_path / "forest.png").stat().st_size > 1000
