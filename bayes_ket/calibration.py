"""Simulation-based calibration and coverage, reusable by every model family.

``coverage(model, make_trial, ...)``: draw R trials with known truth,
fit each, and report how often the central interval of each checked quantity
covers its true value. Any family works: ``make_trial(rng)`` returns a TrialData,
the trial's ``truth`` maps (quantity, day or item) to the true value. One Analysis is
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


#: items_trial's fixed truth (log-odds): item effects and per-MSM-point moderations, scale order
ITEMS_TRUTH = {
    "effect": np.array([-1.2, -1.0, -0.9, -0.3, -0.2, -0.3, -0.9, -1.0, -0.8, -1.0]),
    "moderation": np.array([0.10, 0.0, 0.08, 0.0, 0.0, 0.02, 0.0, 0.0, 0.03, -0.02]),
}


def items_trial(rng, n_patients=120, days=(0, 1, 7, 14), truth=None) -> TrialData:
    """A trial drawn from the items model's own generative form (defaults: time="visit", 1 study).

    eta_ikt = b_i + alpha_t + beta x_i + arm_i 1[t > 0] (e_k + g_k x_i),  b_i ~ N(0, sd_patient)
    P(Y_ikt <= j) = logistic(c_kj - eta_ikt), 6 ordered cutpoints per item.
    Truth keyed like the summary: ("effect", item name), ("moderation", item name).
    """
    from .scales import MADRS_ITEMS
    from .simulate._common import ordinal_sample

    days = np.asarray(days, float)
    t = {"effect": ITEMS_TRUTH["effect"], "moderation": ITEMS_TRUTH["moderation"],
         "trajectory": np.linspace(-0.6, -1.0, int((days > 0).sum())), "moderator_effect": 0.05,
         "sd_patient": 1.0, "cutpoints": np.linspace(-2.0, 3.0, 6)[None, :] + np.linspace(-0.5, 0.5, 10)[:, None]
         } | (truth or {})
    arm = np.arange(n_patients) % 2
    msm = rng.integers(3, 16, n_patients).astype(float)
    x = msm - msm.mean()
    b = rng.normal(0.0, t["sd_patient"], n_patients)
    alpha = np.concatenate([[0.0], t["trajectory"]])
    post = (days > 0).astype(float)
    eta = (b + t["moderator_effect"] * x)[:, None, None] + alpha[None, :, None]
    eta = eta + (arm[:, None] * post[None, :])[:, :, None] * (t["effect"][None, None, :]
                                                             + x[:, None, None] * t["moderation"][None, None, :])
    scores = ordinal_sample(rng, eta, t["cutpoints"])  # (patient, day, item)
    frame = pd.DataFrame({"patient": np.repeat([f"P{i:03d}" for i in range(n_patients)], len(days)),
                          "arm": np.repeat(arm, len(days)), "day": np.tile(days, n_patients),
                          "msm": np.repeat(msm, len(days))})
    for k in range(10):
        frame[f"madrs_{k + 1}"] = scores[:, :, k].ravel()
    truth_keys = {("effect", name): float(v) for name, v in zip(MADRS_ITEMS, t["effect"])}
    truth_keys |= {("moderation", name): float(v) for name, v in zip(MADRS_ITEMS, t["moderation"])}
    return TrialData(frame, source="calibration:items", truth=truth_keys)


def item_effect_recovery(fit, truth: dict, ci_prob=0.9) -> pd.DataFrame:
    """Per item x day ``effect`` of an items fit (effect_by_day=True) against a simulator's
    ``truth["item_effect_by_day"]`` (day -> item -> log-odds): mean, interval, truth, covered."""
    s = fit.summary(ci_prob=ci_prob, quantities=["effect"])
    by_day = truth["item_effect_by_day"]
    e = s[s.quantity == "effect"].copy()
    e["truth"] = [by_day[float(d)][i] for d, i in zip(e["day"], e["item"])]
    e["covered"] = (e["lower"] <= e["truth"]) & (e["truth"] <= e["upper"])
    return e


def _coord_column(rows: pd.DataFrame) -> str:
    """The summary column that labels a quantity's elements (day for totals, item for items)."""
    for col in ("item", "day"):
        if col in rows and rows[col].notna().any():
            return col
    raise ValueError("quantity has no day or item coordinate")


def coverage(model, make_trial, replications=20, ci_prob=0.9, seed=0, fit_options=None,
             progressbar=False) -> pd.DataFrame:
    """Fit ``replications`` simulated trials; one row per replication x checked quantity.

    Columns: replication, quantity, at (the day or item), truth, mean, lower, upper, covered,
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
        for (q, at), value in trial.truth.items():
            of_q = summary[summary["quantity"] == q]
            row = of_q[of_q[_coord_column(of_q)] == at].iloc[0]
            rows.append({"replication": r, "quantity": q, "at": at, "truth": value, "mean": row["mean"],
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
