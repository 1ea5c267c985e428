"""The fit API (API.md) on tiny real samplings: structure, meanings, persistence, errors."""

import warnings

import numpy as np
import pandas as pd
import pytest

import bayes_ket as bk
from bayes_ket.engine.jax_nuts import COMPILATIONS

from conftest import TINY

SUMMARY_COLUMNS = ["mean", "sd", "lower", "upper", "prob_positive", "r_hat", "ess_bulk", "ess_tail"]


def quiet_summary(fit, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit.summary(**kw)


def test_summary_has_every_api_quantity(tiny_fit, pooled_trial):
    s = quiet_summary(tiny_fit)
    expected = {"effect", "moderation", "moderator_effect", "mean_trajectory", "response_rate", "remission_rate",
                "response_difference", "nnt_response", "sd_patient_intercept", "sd_patient_slope",
                "corr_patient", "sigma"}
    assert expected == set(s["quantity"])
    assert list(s.columns[-8:]) == SUMMARY_COLUMNS
    assert set(s.loc[s.quantity == "effect", "day"]) == {1.0, 3.0, 7.0, 10.0, 14.0}
    assert set(s.loc[s.quantity == "mean_trajectory", "arm"]) == {"ketamine", "control"}
    assert (s.loc[s.quantity == "moderation", "moderator"] == "msm").all()
    assert (s["lower"] <= s["upper"]).all()


def test_arms_share_baseline_and_effect_is_the_arm_difference(tiny_fit):
    mt = tiny_fit.draws("mean_trajectory")
    np.testing.assert_allclose(mt.sel(day=0.0, arm="ketamine"), mt.sel(day=0.0, arm="control"))
    diff = mt.sel(arm="ketamine", day=14.0) - mt.sel(arm="control", day=14.0)
    np.testing.assert_allclose(diff, tiny_fit.draws("effect").sel(day=14.0))


def test_effect_sign_and_rates_are_plausible(tiny_fit):
    s = quiet_summary(tiny_fit)
    eff1 = s[(s.quantity == "effect") & (s.day == 1.0)].iloc[0]
    assert eff1["upper"] < 0  # simulated ketamine benefit at day 1 is ~ -8.8 points
    rr = s[(s.quantity == "response_rate") & (s.day == 1.0)].set_index("arm")["mean"]
    assert rr["ketamine"] > rr["control"]
    assert ((s.loc[s.quantity.str.endswith("_rate"), "mean"]).between(0, 1)).all()


def test_nnt_is_inverse_of_risk_difference(tiny_fit):
    s = quiet_summary(tiny_fit)
    rd = s[(s.quantity == "response_difference") & (s.day == 1.0)].iloc[0]
    nnt = s[(s.quantity == "nnt_response") & (s.day == 1.0)].iloc[0]
    assert nnt["lower"] == pytest.approx(1 / rd["upper"])
    assert nnt["upper"] == (pytest.approx(1 / rd["lower"]) if rd["lower"] > 0 else np.inf)


def test_prob_and_conditional_effect(tiny_fit):
    p = tiny_fit.prob("effect", "<", -2, day=1.0)
    assert 0.9 < p <= 1
    series = tiny_fit.prob("effect", "<", 0)
    assert isinstance(series, pd.Series) and len(series) == 5
    ce = tiny_fit.conditional_effect("msm", values=(4, 15))
    assert list(ce.columns[:3]) == ["quantity", "msm", "day"]
    ref = tiny_fit.meta["moderator_reference"]["msm"]
    eff = tiny_fit.draws("effect").sel(day=1.0)
    mod = tiny_fit.draws("moderation").sel(day=1.0, moderator="msm")
    row = ce[(ce.msm == 15) & (ce.day == 1.0)].iloc[0]
    assert row["mean"] == pytest.approx(float((eff + (15 - ref) * mod).mean()))
    with pytest.raises(bk.BayesKetError, match="day"):
        tiny_fit.prob("effect", "<", 0, day=99.0)
    with pytest.raises(bk.BayesKetError, match="op"):
        tiny_fit.prob("effect", "!=", 0)


def test_diagnostics_travel_with_summary(tiny_fit):
    d = tiny_fit.diagnostics()
    for key in ("divergences", "max_rhat", "min_ess_bulk", "min_ess_tail", "bfmi", "pareto_k_high",
                "study_level", "backend", "ok", "reasons"):
        assert key in d
    assert d["study_level"] == "fixed"  # two studies
    assert d["ok"] is False and any("ESS" in r for r in d["reasons"])  # 2 x 150 draws is too few, and says so
    with pytest.warns(UserWarning, match="Sampling problems"):
        s = tiny_fit.summary()
    assert s.attrs["diagnostics"]["divergences"] == d["divergences"]


def test_priors_reported_and_overridable(pooled_trial, tiny_fit):
    pri = tiny_fit.priors
    assert pri["moderation_sigma"] == pytest.approx(0.1 * 60)
    assert pri["corr_patient_eta"] == 2.0
    with pytest.raises(bk.BayesKetError, match="moderation_sigma"):
        bk.fit("trajectory", pooled_trial, priors={"moderation_sd": 1.0}, **TINY)


def test_save_load_summarises_identically(tiny_fit, tmp_path):
    path = tmp_path / "fit.nc"
    tiny_fit.save(path)
    loaded = bk.load_fit(path)
    pd.testing.assert_frame_equal(quiet_summary(loaded), quiet_summary(tiny_fit))
    assert loaded.priors == tiny_fit.priors
    assert loaded.meta["card"]["name"] == "trajectory"


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_plot_ppc_writes_each_format(tiny_fit, tmp_path, suffix):
    path = tmp_path / f"ppc{suffix}"
    tiny_fit.plot_ppc(path)
    assert path.stat().st_size > 1000


def test_plot_ppc_rejects_unknown_suffix(tiny_fit, tmp_path):
    with pytest.raises(bk.BayesKetError, match="suffix"):
        tiny_fit.plot_ppc(tmp_path / "ppc.jpg")


def test_compare_uses_loo(tiny_fit, pooled_trial):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        linear = bk.fit("trajectory", pooled_trial, time="log", seed=2, **TINY)
        table = bk.compare({"visit": tiny_fit, "log": linear})
    assert set(table.index) == {"visit", "log"} and "elpd_loo" in table


def test_prior_change_does_not_recompile(pooled_trial):
    a = bk.Analysis("trajectory", pooled_trial, moderators=())
    before = COMPILATIONS["count"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f1 = a.sample(seed=3, **TINY)
        f2 = a.sample(seed=3, priors={"effect_sigma": 0.5}, **TINY)
        f3 = a.sample(seed=3, **TINY)
    assert COMPILATIONS["count"] - before == 1
    assert f2.priors["effect_sigma"] == 0.5
    # tight prior shrinks the effect; same seed + same priors reproduces exactly
    assert abs(float(f2.draws("effect").mean())) < abs(float(f1.draws("effect").mean()))
    np.testing.assert_array_equal(f1.draws("effect"), f3.draws("effect"))


def test_single_arm_time_bases_and_missing_visits():
    trial = bk.simulate("open_label", seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = bk.fit("trajectory", trial, time="log", moderators=("hb3_change",), **TINY)
        s = fit.summary()
    assert "effect" not in set(s.quantity) and "moderation" not in set(s.quantity)
    assert {"mean_trajectory", "moderator_effect", "response_rate"} <= set(s.quantity)
    assert "arm" not in s or s["arm"].isna().all()
    assert fit.meta["rows_used"] + len(fit.meta["rows_excluded"]) == len(trial.frame)


def test_bad_requests_name_the_fix(pooled_trial):
    with pytest.raises(bk.BayesKetError, match="gad7_total"):
        bk.fit("trajectory", pooled_trial, outcome="gad7_total", **TINY)
    with pytest.raises(bk.BayesKetError, match="time"):
        bk.fit("trajectory", pooled_trial, time="weekly", **TINY)
    with pytest.raises(bk.BayesKetError, match="age"):
        bk.fit("trajectory", pooled_trial, moderators=("age",), **TINY)
    with pytest.raises(bk.BayesKetError, match="Unknown model"):
        bk.fit("nonsense", pooled_trial, **TINY)
    with pytest.raises(bk.BayesKetError, match="read_trial"):
        bk.fit("trajectory", pooled_trial.frame, **TINY)


def test_rows_with_missing_moderator_are_accounted(pooled_trial):
    frame = pooled_trial.frame.copy()
    frame.loc[frame.patient == frame.patient.iloc[0], "msm"] = np.nan
    trial = bk.TrialData(frame)
    a = bk.Analysis("trajectory", trial)
    excluded = a.design.exclusions.table()
    assert (excluded["reason"] == "moderator msm missing").sum() == (frame.patient == frame.patient.iloc[0]).sum()
    assert len(a.design.rows) + len(excluded) == len(frame)
