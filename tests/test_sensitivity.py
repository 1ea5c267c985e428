"""bk.sensitivity: the power-scaling weights against a conjugate model's exact answer (fast);
a strong misplaced prior is flagged while the default weak one is not (integration)."""

import warnings

import numpy as np
import pytest

import bayes_ket as bk
from bayes_ket.errors import BayesKetError
from bayes_ket.sensitivity import diagnose, power_scale_weights, sensitivity

SMALL = {"draws": 200, "tune": 200, "chains": 2, "seed": 5, "progressbar": False}


def test_diagnosis_rule():
    assert list(diagnose([0.1, 0.1, 0.01, 0.01], [0.1, 0.01, 0.1, 0.01])) == [
        "prior-data conflict", "strong prior / weak likelihood", "none", "none"]


def test_power_scaling_weights_match_the_conjugate_answer():
    """Normal mean, prior N(0, s0), likelihood N(ybar | theta, s/sqrt(n)). Raising the prior to the
    power a gives the posterior precision a/s0^2 + n/s^2; the weights must move the draws' mean there."""
    rng = np.random.default_rng(0)
    s0, s, n, ybar = 2.0, 3.0, 10, 1.5
    prec = 1 / s0**2 + n / s**2
    mean = (n / s**2 * ybar) / prec
    theta = rng.normal(mean, prec**-0.5, 40_000)
    log_prior = -0.5 * theta**2 / s0**2
    delta = 0.3
    (w_lo, k_lo), (w_hi, k_hi) = power_scale_weights(log_prior, delta)
    for a, w in ((1 / (1 + delta), w_lo), (1 + delta, w_hi)):
        prec_a = a / s0**2 + n / s**2
        assert np.sum(w * theta) == pytest.approx((n / s**2 * ybar) / prec_a, abs=0.01)
        assert np.sqrt(np.sum(w * (theta - np.sum(w * theta)) ** 2)) == pytest.approx(prec_a**-0.5, rel=0.02)
    assert max(k_lo, k_hi) < 0.7


@pytest.fixture(scope="module")
def analysis(pooled_trial):
    return bk.Analysis("trajectory", pooled_trial)


def _fit(analysis, priors=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return analysis.sample(priors=priors, **SMALL)


@pytest.mark.integration
def test_misplaced_strong_prior_is_flagged_weak_prior_is_not(analysis, tmp_path):
    weak = sensitivity(_fit(analysis))
    assert {"quantity", "day", "arm", "prior_sensitivity", "likelihood_sensitivity", "diagnosis"} <= set(weak)
    assert not set(weak.attrs["prior_vars"]) & set(_fit(analysis).meta["offset_priors"])
    for q in ("effect", "mean_trajectory"):
        rows = weak[weak["quantity"] == q]
        assert (rows["diagnosis"] == "none").all(), rows
        assert (rows["prior_sensitivity"] < 0.05).all()
    assert (weak["likelihood_sensitivity"] > 0.05).mean() > 0.8  # the data inform nearly everything

    # visit means forced towards 5 MADRS points (true ~30) with SD 1: prior-data conflict
    strong_fit = _fit(analysis, {"trajectory_mu": 5.0, "trajectory_sigma": 1.0})
    strong = sensitivity(strong_fit)
    rows = strong[strong["quantity"] == "mean_trajectory"]
    assert (rows["diagnosis"] == "prior-data conflict").mean() > 0.6
    assert (rows[rows["day"] == 0]["diagnosis"] == "prior-data conflict").all()  # baseline: prior only
    assert rows["prior_sensitivity"].median() > 3 * weak[weak["quantity"] == "mean_trajectory"]["prior_sensitivity"].median()
    # a loaded fit gives the same table
    strong_fit.save(tmp_path / "strong.nc")
    again = sensitivity(bk.load_fit(tmp_path / "strong.nc"))
    np.testing.assert_allclose(again["prior_sensitivity"], strong["prior_sensitivity"])


def test_unknown_prior_var(mock_fit):
    with pytest.raises(BayesKetError, match="trajectory_coef"):
        sensitivity(mock_fit, prior_vars=["nope"])
