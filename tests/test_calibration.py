"""Bounded coverage check of the trajectory model on its own generative form (benchmarks run >= 100)."""

import pytest

from bayes_ket.calibration import coverage, summarise_coverage, trajectory_trial

pytestmark = pytest.mark.slow


def test_90pct_intervals_cover_effect_and_moderation():
    table = coverage("trajectory", trajectory_trial, replications=20, ci_prob=0.9, seed=1,
                     fit_options={"draws": 300, "tune": 300, "chains": 2})
    cov = summarise_coverage(table).set_index("quantity")["coverage"]
    # 80 intervals each (20 trials x 4 days); a biased or mis-scaled model falls far outside
    assert 0.75 <= cov["effect"] <= 1.0
    assert 0.75 <= cov["moderation"] <= 1.0
    assert (table["divergences"] == 0).mean() >= 0.9
