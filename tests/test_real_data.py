"""Real data against published / frequentist figures (slow: full samplings)."""

import warnings

import numpy as np
import pytest

import bayes_ket as bk

pytestmark = pytest.mark.slow


def fit_quietly(*args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = bk.fit(*args, progressbar=False, **kw)
        return fit, fit.summary()


def one(s, quantity, **coords):
    sel = s[s.quantity == quantity]
    for k, v in coords.items():
        sel = sel[sel[k] == v]
    return sel.iloc[0]


def test_riesby_matches_hedeker_gibbons_ml_estimates():
    """Hedeker & Gibbons Tables 4.3/4.5: 23.58, -2.38/week, var 12.63, 2.08, resid 12.22."""
    fit, s = fit_quietly("trajectory", bk.datasets.riesby(), outcome="hrsd17_total", moderators=(),
                         time="linear", draws=1000, tune=1000, chains=4, seed=0)
    d = fit.diagnostics()
    assert d["divergences"] == 0 and d["max_rhat"] <= 1.01
    day0 = one(s, "mean_trajectory", day=0.0)["mean"]
    day35 = one(s, "mean_trajectory", day=35.0)["mean"]
    assert abs(day0 - 23.58) <= 0.4
    assert abs((day35 - day0) / 5 - (-2.38)) <= 0.15
    assert abs(one(s, "sd_patient_intercept")["mean"] / np.sqrt(12.63) - 1) <= 0.15
    assert abs(one(s, "sd_patient_slope")["mean"] / (np.sqrt(2.08) / 7) - 1) <= 0.20
    assert abs(one(s, "sigma")["mean"] / np.sqrt(12.22) - 1) <= 0.10


def test_ketamine_moa_day2_contrast_agrees_with_mixedlm():
    """Same fixed structure as statsmodels MixedLM: visit means (day 0, 2, 10), ketamine x post-baseline
    day (2, 10), period-2 shift; patient random intercept (our random slope's SD shrinks toward 0)."""
    import pandas as pd
    import statsmodels.formula.api as smf

    trial = bk.datasets.ketamine_moa()
    fit, s = fit_quietly("trajectory", trial, moderators=(), draws=1000, tune=1000, chains=4, seed=0)
    f = trial.frame.dropna(subset=["madrs_total"]).copy()
    f["d2"] = (f.day == 2).astype(float)
    f["d10"] = (f.day == 10).astype(float)
    f["p2"] = (f.period == 2).astype(float)
    f["k2"] = f.d2 * f.arm
    f["k10"] = f.d10 * f.arm
    ml = smf.mixedlm("madrs_total ~ d2 + d10 + k2 + k10 + p2", f, groups=f["patient"]).fit(reml=True)
    ours = one(s, "effect", day=2.0)["mean"]
    assert abs(ours - ml.params["k2"]) <= 0.5 * ml.bse["k2"], (ours, ml.params["k2"], ml.bse["k2"])
