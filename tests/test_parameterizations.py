"""Every non-default parameterisation is the same model: its estimates agree with the default's within
Monte Carlo error (slow); the random study level with three or more studies (fast, mock draws)."""

import numpy as np
import pytest

import bayes_ket as bk

from conftest import MOCK, quiet

FIT = {"draws": 600, "tune": 500, "chains": 2, "seed": 3, "progressbar": False}


def test_random_study_level_with_three_studies():
    trial = bk.simulate("pooled_rct", seed=2, n_studies=3)
    a = bk.Analysis("trajectory", trial)
    assert a.design.study_level == "random"
    assert {"sd_study", "study_z", "sd_study_effect", "study_effect_z"} <= set(a.model.named_vars)
    fit = quiet(a.sample, seed=0, **MOCK)
    assert fit.diagnostics()["study_level"] == "random"
    assert {"sd_study", "sd_study_effect"} <= set(fit.meta["population_vars"])
    assert {"study_z", "study_effect_z"} <= set(fit.meta["offset_priors"])
    # two studies: fixed offsets; one study: none
    assert bk.Analysis("trajectory", bk.simulate("pooled_rct", seed=2, n_studies=2)).design.study_level == "fixed"
    assert bk.Analysis("trajectory", bk.simulate("pooled_rct", seed=2, n_studies=1)).design.study_level == "none"


def _agree(reference, other, quantities, max_z=4.0):
    """Each summary cell's means within max_z combined Monte Carlo standard errors."""
    a, b = quiet(reference.summary, quantities=quantities), quiet(other.summary, quantities=quantities)
    mcse = np.sqrt(a["sd"] ** 2 / a["ess_bulk"] + b["sd"] ** 2 / b["ess_bulk"])
    z = np.abs(a["mean"].to_numpy() - b["mean"].to_numpy()) / mcse.to_numpy()
    assert np.all(z < max_z), dict(zip(a["quantity"] + a.index.astype(str), np.round(z, 2)))
    return z


@pytest.mark.slow
@pytest.mark.parametrize("parameterization", ["noncentered", "centered"])
def test_trajectory_patient_parameterizations_agree_with_marginal(pooled_trial, parameterization):
    marginal = quiet(bk.fit, "trajectory", pooled_trial, **FIT)
    other = quiet(bk.fit, "trajectory", pooled_trial, parameterization=parameterization, **FIT)
    assert other.meta["loo_unit"] == "row" and marginal.meta["loo_unit"] == "patient"
    _agree(marginal, other, ["effect", "moderation", "sigma", "sd_patient_intercept", "sd_patient_slope"])


@pytest.mark.slow
def test_items_patient_noncentered_agrees_with_centered():
    trial = bk.simulate("pooled_rct", seed=4, n_patients=40)
    small = FIT | {"draws": 400, "tune": 400}
    centred = quiet(bk.fit, "items", trial, **small)
    non = quiet(bk.fit, "items", trial, parameterization="noncentered", **small)
    _agree(centred, non, ["effect", "moderation", "effect_mean", "sd_patient_intercept"])
