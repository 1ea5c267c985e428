"""Simulation-based calibration and coverage, reusable by every model family.

``coverage(model, make_trial, truth_of, ...)``: draw R trials with known truth,
fit each, and report how often the central interval of each checked quantity
covers its true value. Any family works: ``make_trial(rng)`` returns a TrialData,
``truth_of(trial)`` returns {(quantity, coords...): true value}. One Analysis is
compiled once; replicated trials (same shapes) are swapped in as data (``Analysis.rebind``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .data.trial import TrialData
from .fitting import Analysis


def trajectory_trial(rng, n_patients=120, days=(0, 1, 3, 7, 14), truth=None) -> TrialData:
    """A trial drawn from the trajectory model's own generative form (time="visit", one moderator, 1 study).

    y = mu_t + arm * delta_t + x (beta_t + arm gamma_t) + b0 + b1 log(1+t) + e
    with fixed true parameters (``truth`` overrides); returns TrialData with .truth
    keyed like the summary: ("effect", day), ("moderation", day).
    """
    days = np.asarray(days, float)
    post = days[days > 0]
    t = {
        "mean": np.array([32, 24, 23, 22, 21][: len(days)], float),
        "effect": np.linspace(-7, -3, len(post)),
        "moderation": np.linspace(0.8, 0.3, len(post)),
        "moderator_effect": np.full(len(days), 0.3),
        "sd_intercept": 4.0, "sd_slope": 1.5, "corr": 0.2, "sigma": 4.0,
    } | (truth or {})
    arm = np.arange(n_patients) % 2
    msm = rng.integers(3, 16, n_patients).astype(float)
    x = msm - msm.mean()
    cov = np.array([[t["sd_intercept"] ** 2, t["corr"] * t["sd_intercept"] * t["sd_slope"]],
                    [t["corr"] * t["sd_intercept"] * t["sd_slope"], t["sd_slope"] ** 2]])
    b = rng.multivariate_normal([0, 0], cov, n_patients)
    eff = np.concatenate([[0], t["effect"]])
    mod = np.concatenate([[0], t["moderation"]])
    rows = []
    for i in range(n_patients):
        mu = t["mean"] + arm[i] * (eff + mod * x[i]) + x[i] * t["moderator_effect"] + b[i, 0] + b[i, 1] * np.log1p(days)
        y = mu + rng.normal(0, t["sigma"], len(days))
        rows += [{"patient": f"P{i:03d}", "arm": arm[i], "day": d, "msm": msm[i], "madrs_total": v}
                 for d, v in zip(days, y)]
    truth_keys = {("effect", d): e for d, e in zip(post, t["effect"])}
    truth_keys |= {("moderation", d): m for d, m in zip(post, t["moderation"])}
    return TrialData(pd.DataFrame(rows), source="calibration:trajectory", truth=truth_keys)


def coverage(model, make_trial, replications=20, ci_prob=0.9, seed=0, fit_options=None,
             progressbar=False) -> pd.DataFrame:
    """Fit ``replications`` simulated trials; one row per replication x checked quantity.

    Columns: replication, quantity, day, truth, mean, lower, upper, covered,
    divergences, max_rhat. ``summarise_coverage`` aggregates it.
    """
    fit_options = {"draws": 500, "tune": 500, "chains": 2} | (fit_options or {})
    rng = np.random.default_rng(seed)
    analysis, rows = None, []
    for r in range(replications):
        trial = make_trial(rng)
        analysis = Analysis(model, trial) if analysis is None else analysis.rebind(trial)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = analysis.sample(seed=seed * 10_000 + r, progressbar=progressbar, **fit_options)
            summary = fit.summary(ci_prob=ci_prob, quantities=sorted({q for q, _ in trial.truth}))
        diag = summary.attrs["diagnostics"]
        for (q, day), value in trial.truth.items():
            row = summary[(summary["quantity"] == q) & (summary["day"] == day)].iloc[0]
            rows.append({"replication": r, "quantity": q, "day": day, "truth": value, "mean": row["mean"],
                         "lower": row["lower"], "upper": row["upper"],
                         "covered": bool(row["lower"] <= value <= row["upper"]),
                         "divergences": diag["divergences"], "max_rhat": diag["max_rhat"]})
    return pd.DataFrame(rows)


def summarise_coverage(table: pd.DataFrame) -> pd.DataFrame:
    """Coverage per quantity (pooled over days) with its binomial Monte Carlo SE."""
    g = table.groupby("quantity")["covered"]
    out = pd.DataFrame({"n": g.size(), "coverage": g.mean()})
    out["mc_se"] = np.sqrt(out["coverage"] * (1 - out["coverage"]) / out["n"])
    return out.reset_index()
