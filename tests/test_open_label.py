"""The open-label design (4 infusions over two weeks, monthly follow-up to 12 months) through the
``open_label`` card: 17 visits, remission at every visit and sustained remission, the predictor's
effect on percent improvement; mock draws for the structure, one small real sampling for the
headline numbers (against the simulator's population values)."""

from __future__ import annotations

import numpy as np
import pytest

import bayes_ket as bk
from bayes_ket.fitting import prepare
from conftest import MOCK, TINY, quiet

AFTER_4TH, MONTH_12 = 10.06, 370.0


@pytest.fixture(scope="module")
def trial():
    return bk.simulate("open_label", seed=0)


@pytest.fixture(scope="module")
def mock_fit(trial):
    return bk.Analysis("open_label", trial).sample(seed=1, **MOCK)


@pytest.fixture(scope="module")
def percent_analysis(trial):
    return bk.Analysis("open_label", trial, outcome_scale="percent", moderators=("hb3_change",))


@pytest.fixture(scope="module")
def mock_percent_fit(percent_analysis):
    return percent_analysis.sample(seed=1, **MOCK)


def rows(summary, quantity):
    return summary[summary.quantity == quantity]


# ---- structure (mock draws) ------------------------------------------------------------------
def design(trial, **options):
    """The design alone (every check, nothing compiled)."""
    return prepare("open_label", trial, **options)[2]


def test_design_follows_the_card(trial):
    d = design(trial)
    assert d.time == "visit" and d.baseline == "outcome" and d.outcome_scale == "points"
    assert len(d.model_days) == 17 and d.summary_days.tolist() == trial.truth["visit_days"]
    assert d.sustained_days == (AFTER_4TH, MONTH_12)
    assert d.remission_threshold == 10 and not d.has_arm and d.study_level == "none"
    assert d.moderators == []  # the card names no moderator: the predictor is asked for


def test_seventeen_visits_and_sustained_remission(mock_fit, trial):
    s = mock_fit.summary()
    traj = rows(s, "mean_trajectory")
    assert len(traj) == 17 and traj["day"].tolist() == trial.truth["visit_days"]
    rem = rows(s, "remission_rate")
    assert rem["day"].tolist() == [d for d in trial.truth["visit_days"] if d > 0]
    sus = rows(s, "sustained_remission")
    assert len(sus) == 1 and sus["day"].isna().all()
    assert "effect" not in set(s.quantity) and "response_difference" not in set(s.quantity)
    # the simulator's truth joins the summary by day
    assert set(rem["day"]) == set(trial.truth["remission_rate"])


def test_sustained_remission_is_within_both_visits_draw_by_draw(mock_fit):
    rem = mock_fit.draws("remission_rate")
    sus = mock_fit.draws("sustained_remission")
    both = np.minimum(rem.sel(day=AFTER_4TH).to_numpy(), rem.sel(day=MONTH_12).to_numpy())
    assert np.all(sus.to_numpy() <= both + 1e-12) and np.all(sus.to_numpy() >= 0)
    # a share of the trial's 30 patients
    assert np.allclose(np.round(sus.to_numpy() * 30), sus.to_numpy() * 30)


def test_sustained_remission_days_can_be_chosen(trial):
    assert design(trial, sustained_remission=(40.0, 190.0)).sustained_days == (40.0, 190.0)
    with pytest.raises(bk.BayesKetError, match="sustained_remission"):
        bk.Analysis("open_label", trial, sustained_remission=(10.0, 370.0))


def test_predictor_on_the_percent_scale(percent_analysis, mock_percent_fit, trial):
    d = percent_analysis.design
    assert d.outcome_scale == "percent" and d.baseline == "none" and d.moderators == ["hb3_change"]
    # the modelled outcome is each patient's percent improvement from their own baseline
    f = trial.frame
    y0 = f[f.day == 0].set_index("patient")["madrs_total"]
    r = d.rows
    expected = 100 * (r["patient"].map(y0) - r["madrs_total"]) / r["patient"].map(y0)
    assert np.allclose(r["_value"], expected) and 0.0 not in set(r["day"])
    # priors in percent points (the card's 1.0 x range -> 100 points per visit)
    assert percent_analysis.priors_with(None)["trajectory_sigma"] == pytest.approx(100.0)
    s = mock_percent_fit.summary()
    me = rows(s, "moderator_effect")
    assert len(me) == 16 and set(me["moderator"]) == {"hb3_change"}
    assert {AFTER_4TH, MONTH_12} <= set(me["day"])
    assert "% improvement" in mock_percent_fit.meta["outcome_label"]
    assert len(rows(s, "mean_trajectory")) == 16  # post-baseline visits only
    assert mock_percent_fit.prob("moderator_effect", ">", 0, day=AFTER_4TH, moderator="hb3_change") >= 0


def test_percent_scale_refuses_baseline_as_outcome(trial):
    with pytest.raises(bk.BayesKetError, match="baseline='none'"):
        bk.Analysis("open_label", trial, outcome_scale="percent", baseline="outcome")


# ---- one small real sampling -------------------------------------------------------------------
@pytest.mark.integration
def test_headline_numbers_in_plausible_ranges(trial, percent_analysis):
    """2 chains x 150: the trajectory falls over the infusions and partly relapses; remission after
    the 4th infusion and at 12 months and sustained remission are plausible shares of 30 patients
    whose intervals are near the simulator's population rates; the predictor's effect is positive."""
    fit = quiet(bk.fit, "open_label", trial, seed=1, **TINY)  # the card's priors
    s = fit.summary()
    traj = rows(s, "mean_trajectory").set_index("day")["mean"]
    assert 26 < traj[0.0] < 34 and 12 < traj[AFTER_4TH] < 24 and traj[MONTH_12] > traj[AFTER_4TH]
    rem = rows(s, "remission_rate").set_index("day")
    truth = trial.truth
    assert 0.12 < rem.loc[AFTER_4TH, "mean"] < 0.45 and 0.05 < rem.loc[MONTH_12, "mean"] < 0.35
    for day in (AFTER_4TH, MONTH_12):  # a 30-patient trial: within a binomial SE of the population rate
        assert rem.loc[day, "lower"] - 0.08 < truth["remission_rate"][day] < rem.loc[day, "upper"] + 0.08
    sus = rows(s, "sustained_remission").iloc[0]
    assert 0.02 < sus["mean"] < min(rem.loc[AFTER_4TH, "mean"], rem.loc[MONTH_12, "mean"])
    assert fit.diagnostics()["divergences"] <= 5

    pct = quiet(percent_analysis.sample, seed=1, **TINY)  # the card's priors
    me = rows(pct.summary(), "moderator_effect").set_index("day")
    for day in (AFTER_4TH, MONTH_12):
        assert 0.4 < me.loc[day, "mean"] < 2.8 and me.loc[day, "upper"] > truth["hb3_slope"][day] > me.loc[day, "lower"]
    assert pct.prob("moderator_effect", ">", 0, day=AFTER_4TH, moderator="hb3_change") > 0.9
