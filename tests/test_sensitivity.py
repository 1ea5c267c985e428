"""bk.sensitivity: power-scaling flags a strong misplaced prior, not the default weak one."""

import warnings

import arviz as az
import numpy as np
import pytest
import xarray as xr

from bayes_ket.errors import BayesKetError
from bayes_ket.sensitivity import diagnose, log_prior_terms, sensitivity
from bayes_ket.sweep import get_analysis

SMALL = {"draws": 200, "tune": 200, "chains": 2, "seed": 5, "progressbar": False}


@pytest.fixture(scope="module")
def analysis(pooled_trial):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return get_analysis("trajectory", pooled_trial, {})


def _fit(analysis, priors=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return analysis.sample(priors=priors, **SMALL)


def test_diagnosis_rule():
    assert list(diagnose([0.1, 0.1, 0.01, 0.01], [0.1, 0.01, 0.1, 0.01])) == [
        "prior-data conflict", "strong prior / weak likelihood", "none", "none"]


def test_misplaced_strong_prior_is_flagged_weak_prior_is_not(analysis):
    weak = sensitivity(_fit(analysis), analysis=analysis)
    assert {"quantity", "day", "arm", "prior_sensitivity", "likelihood_sensitivity", "diagnosis"} <= set(weak)
    assert not any(n.endswith("_z") for n in weak.attrs["prior_vars"])
    for q in ("effect", "mean_trajectory"):
        rows = weak[weak["quantity"] == q]
        assert (rows["diagnosis"] == "none").all(), rows
        assert (rows["prior_sensitivity"] < 0.05).all()
    assert (weak["likelihood_sensitivity"] > 0.05).mean() > 0.8  # the data inform nearly everything

    # visit means forced towards 5 MADRS points (true ~30) with SD 1: prior-data conflict
    strong = sensitivity(_fit(analysis, {"trajectory_mu": 5.0, "trajectory_sigma": 1.0}), analysis=analysis)
    rows = strong[strong["quantity"] == "mean_trajectory"]
    assert (rows["diagnosis"] == "prior-data conflict").mean() > 0.6
    assert (rows[rows["day"] == 0]["diagnosis"] == "prior-data conflict").all()  # baseline: prior only
    assert rows["prior_sensitivity"].median() > 0.05
    assert rows["prior_sensitivity"].median() > 3 * weak[weak["quantity"] == "mean_trajectory"]["prior_sensitivity"].median()


def test_agrees_with_az_psens_on_a_posterior_variable(analysis):
    fit = _fit(analysis)
    table = sensitivity(fit, analysis=analysis, quantities=["sigma"])
    terms = log_prior_terms(fit, analysis)
    # psens sums every log_prior variable: keep only the power-scaled (population-level) ones
    idata = az.InferenceData(**{g: fit.idata[g] for g in fit.idata.groups() if g != "log_prior"})
    dims = ("chain", "draw")
    idata.add_groups(log_prior=xr.Dataset({n: (dims, terms[n]) for n in table.attrs["prior_vars"]}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = az.psens(idata, component="prior", var_names=["sigma"], coords={}, component_coords={})
    value = float(ref["sigma"]) if isinstance(ref, xr.Dataset) else float(ref)
    assert np.isclose(value, table["prior_sensitivity"].iloc[0], rtol=1e-6)


def test_unknown_prior_var(analysis):
    fit = _fit(analysis)
    with pytest.raises(BayesKetError, match="trajectory_coef"):
        sensitivity(fit, prior_vars=["nope"], analysis=analysis)
