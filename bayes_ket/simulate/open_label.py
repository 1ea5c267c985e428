r"""Scenario ``open_label`` (seed 004): 30 patients with TRD, four open-label IV
ketamine infusions over two weeks, MADRS 1-2 h after each infusion and monthly to
12 months; a baseline metabolite change (3-hydroxybutyrate) predicts the percent
improvement after the fourth infusion and at 12 months.

Schedule (``day`` = days since the first infusion)
--------------------------------------------------
Infusions on days 0, 3, 7, 10. Visits: baseline day 0 (before the first infusion),
1.5 h after each infusion (days 0.06, 3.06, 7.06, 10.06), then monthly follow-up
m = 1..12 counted from the fourth infusion: day 10 + 30 m (40, 70, ..., 370).

Generative model (percent improvement from baseline, then points)
-----------------------------------------------------------------
    B_i ~ N(mu_base, sd_base)                       true baseline MADRS
    y_i0 = clip(round(B_i), 0, 60)                  observed baseline
    h_i ~ N(hb3_mean, hb3_sd)                       ``hb3_change`` (µmol/L-like units)
    r_i ~ N(0, sd_acute),  g_i ~ N(0, sd_durability),  e ~ N(0, sigma)   (percentage points)

    after infusion k = 1..4:
        I_ik = P_k + beta_acute * (h_i - hb3_mean) + r_i + e
    at follow-up month m = 1..12:
        I_im = F_m + beta_12m * (h_i - hb3_mean) + rho * r_i + g_i + e,
        F_m  = F_12 + (P_4 - F_12) * exp(-m / tau_relapse)
    y = clip(round(B_i * (1 - min(I, 100) / 100)), 0, 60)

beta_acute = 1.35 and beta_12m = 1.38 percentage points per unit of ``hb3_change``
are the paper's coefficients; the metabolite's scale (SD 12 units) is chosen so that
the predictor explains a clear share of the improvement (r about 0.4-0.5, like the
paper's P = 0.005 with n = 30). No dropout (all completed the four infusions, as in
the seed); follow-up visits are missed independently with probability 0.03.

Truth: mu_base, sd_base, hb3_mean, hb3_sd, beta_acute, beta_12m, acute_improvement
(P_k by day), followup_improvement (F_m by day), tau_relapse, rho, sd_acute,
sd_durability, sigma, p_missed_followup, infusion_days, visit_days, after_4th_day
(10.06), month_12_day (370.0), and the population values below.

Population values (Monte Carlo)
-------------------------------
Computed once per process (``population()``) from 500 000 patients drawn from the
generative model above (scores rounded and clipped, hb3_change rounded, no missed
visits: misses are independent of everything, so they change no rate), with a fixed
random stream of their own (seed 0, stream 1): the same for every trial's seed and
size, and the trial's own draw (stream 0) is untouched by them. Monte-Carlo SE of a
rate <= 0.0007. Keys (day -> value unless said):

- ``remission_rate``: P(MADRS <= 10) at every post-baseline visit; 0.211 after the
  4th infusion (day 10.06), 0.107 at 12 months (day 370);
- ``sustained_remission`` (one number): P(remitted at day 10.06 and still at day 370)
  = 0.079;
- ``mean_score``, ``sd_score``: the MADRS mean and SD at every visit (baseline
  30.6 +- 6.1, 19.7 +- 11.1 after the 4th infusion, 23.2 +- 10.7 at 12 months);
- ``percent_improvement``: E[100 (y0 - y) / y0] (35.6 after the 4th, 24.2 at 12 months);
- ``response_rate``: P(percent improvement >= 50);
- ``hb3_slope``: the population least-squares slope of the observed percent
  improvement on hb3_change (1.30 after the 4th, 1.36 at 12 months: slightly below
  beta_acute / beta_12m because of the rounding of scores and the cap at 100 %). This,
  not beta, is what a linear model of percent improvement on hb3_change estimates.
- ``remission_threshold`` (10) and ``mc_patients``.

Sizes (keywords) and defaults
-----------------------------
n_patients = 30.

Calibration (the default draw, seed 0, lands in these ranges: tests/test_simulate.py)
-------------------------------------------------------------------------------
baseline mean 27-34, SD 4-8; after the 4th infusion mean 15-25, SD 8-15, remission
(<= 10) 10-40 %; at 12 months remission 5-25 %; the least-squares slope of percent
improvement after the 4th infusion on hb3_change positive (0.4-2.5). These ranges
allow for the sampling error of n = 30; the population values (large n) are
30.6 +- 6.1 -> 19.8 +- 11.1 after the 4th infusion, remission 21 % after the 4th and
11 % at 12 months (seed: 30.6 +- 6.1 -> 20.3 +- 11.5, 26.7 %, 13.3 %).
``calibration(trial)`` computes these figures; ``CALIBRATION`` holds the ranges.
"""

from __future__ import annotations

import copy
from functools import lru_cache

import numpy as np
import pandas as pd

from . import _common as C

SCENARIO = "open_label"
SIZES = {"n_patients": 30}
OPTIONS: dict = {}

INFUSION_DAYS = np.array([0.0, 3.0, 7.0, 10.0])
POST_DAYS = INFUSION_DAYS + 0.06
MONTHS = np.arange(1, 13)
FOLLOWUP_DAYS = INFUSION_DAYS[-1] + 30.0 * MONTHS
VISIT_DAYS = np.concatenate([[0.0], POST_DAYS, FOLLOWUP_DAYS])
AFTER_4TH, MONTH_12 = float(POST_DAYS[-1]), float(FOLLOWUP_DAYS[-1])  # 10.06, 370.0

MU_BASE, SD_BASE = 30.6, 6.1
HB3_MEAN, HB3_SD = 5.0, 12.0
BETA_ACUTE, BETA_12M = 1.35, 1.38
ACUTE = np.array([22.0, 28.0, 32.0, 36.0])  # P_k, % improvement after infusion k
F_12 = 24.0
TAU_RELAPSE = 3.0
RHO = 0.6
SD_ACUTE = 29.0
SD_DURABILITY = 18.0
SIGMA = 8.0
P_MISSED_FOLLOWUP = 0.03
REMISSION = 10.0  # MADRS <= 10, as in the seed study (and the scale registry's MADRS default)

#: Monte-Carlo truth: patients drawn from the generative model, from a fixed stream (the
#: population values do not depend on the trial's seed or size), in chunks
N_MC, MC_CHUNK, MC_SEED, MC_STREAM = 500_000, 100_000, 0, 1


def followup_mean() -> np.ndarray:
    """F_m, m = 1..12: mean % improvement at monthly follow-up."""
    return F_12 + (ACUTE[-1] - F_12) * np.exp(-MONTHS / TAU_RELAPSE)


def _patients(rng: np.random.Generator, n: int):
    """n patients from the generative model (no missingness): hb3_change (n,), the visit
    days (17,), the scores (n, 17) (baseline first). The one place the model is written:
    the trial and the Monte-Carlo truth both draw from it."""
    base = rng.normal(MU_BASE, SD_BASE, n)
    hb3 = rng.normal(HB3_MEAN, HB3_SD, n).round(1)
    r = rng.normal(0, SD_ACUTE, n)
    g = rng.normal(0, SD_DURABILITY, n)
    dev = hb3 - HB3_MEAN

    acute = ACUTE[None, :] + BETA_ACUTE * dev[:, None] + r[:, None] + rng.normal(0, SIGMA, (n, len(ACUTE)))
    follow = (
        followup_mean()[None, :] + BETA_12M * dev[:, None] + RHO * r[:, None] + g[:, None]
        + rng.normal(0, SIGMA, (n, len(MONTHS)))
    )
    improvement = np.column_stack([np.zeros(n), acute, follow])
    scores = C.clip_round(base[:, None] * (1 - np.minimum(improvement, 100.0) / 100.0), 0, 60)
    return hb3, VISIT_DAYS, scores


@lru_cache(maxsize=1)
def _population() -> dict:
    """Population values by large Monte Carlo (N_MC patients, no missingness; see the docstring)."""
    rng = C.rng_for(MC_SEED, MC_STREAM)
    n_days = len(VISIT_DAYS)
    post = slice(1, n_days)
    acc = {k: np.zeros(n_days) for k in ("y", "y2", "remit", "pct", "resp", "hp", "n_pct")}
    acc |= {k: np.zeros(n_days) for k in ("h", "h2")}
    sustained = 0.0
    first, second = (int(np.flatnonzero(VISIT_DAYS == d)[0]) for d in (AFTER_4TH, MONTH_12))
    for _ in range(N_MC // MC_CHUNK):
        hb3, _, y = _patients(rng, MC_CHUNK)
        remit = y <= REMISSION
        y0 = y[:, :1]
        ok = np.broadcast_to(y0 > 0, y.shape)
        with np.errstate(invalid="ignore", divide="ignore"):
            pct = np.where(ok, 100.0 * (y0 - y) / y0, 0.0)
        h = np.where(ok, hb3[:, None], 0.0)
        acc["y"] += y.sum(0)
        acc["y2"] += (y**2).sum(0)
        acc["remit"] += remit.sum(0)
        acc["n_pct"] += ok.sum(0)
        acc["pct"] += pct.sum(0)
        acc["resp"] += (ok & (pct >= 50.0)).sum(0)
        acc["h"] += h.sum(0)
        acc["h2"] += (h**2).sum(0)
        acc["hp"] += (h * pct).sum(0)
        sustained += (remit[:, first] & remit[:, second]).sum()
    n = float(N_MC - N_MC % MC_CHUNK)
    mean = acc["y"] / n
    m = acc["n_pct"]
    pct_mean, h_mean = acc["pct"] / m, acc["h"] / m
    slope = (acc["hp"] / m - h_mean * pct_mean) / (acc["h2"] / m - h_mean**2)
    days = VISIT_DAYS[post]
    return {
        "mc_patients": int(n),
        "remission_threshold": REMISSION,
        "mean_score": C.by_day(VISIT_DAYS, mean),
        "sd_score": C.by_day(VISIT_DAYS, np.sqrt((acc["y2"] / n - mean**2) * n / (n - 1))),
        "remission_rate": C.by_day(days, (acc["remit"] / n)[post]),
        "sustained_remission": float(sustained / n),
        "percent_improvement": C.by_day(days, pct_mean[post]),
        "response_rate": C.by_day(days, (acc["resp"] / m)[post]),
        "hb3_slope": C.by_day(days, slope[post]),
    }


def population() -> dict:
    """The scenario's population values (Monte Carlo, computed once per process): mean and SD of
    the score at every visit; at every post-baseline visit the remission rate, mean percent
    improvement, response rate and least-squares slope of percent improvement on hb3_change;
    the sustained-remission rate. A copy: also in every trial's ``.truth``."""
    return copy.deepcopy(_population())


def simulate(seed: int = 0, n_patients: int = 30):
    n_patients = C.check_int(SCENARIO, "n_patients", n_patients, 1)
    rng = C.rng_for(seed, 0)
    n = n_patients

    hb3, days, scores = _patients(rng, n)
    attended = np.ones_like(scores, bool)
    attended[:, 1 + len(ACUTE):] = ~C.sporadic_mask(rng, (n, len(MONTHS)), P_MISSED_FOLLOWUP)

    pid = C.patient_ids(n)
    pi, ti = np.nonzero(attended)
    frame = pd.DataFrame({
        "patient": pid[pi],
        "day": days[ti],
        "madrs_total": scores[pi, ti],
        "hb3_change": hb3[pi],
    })
    truth = {
        "scenario": SCENARIO,
        "seed": int(seed),
        "sizes": {"n_patients": n_patients},
        "infusion_days": INFUSION_DAYS.tolist(),
        "visit_days": days.tolist(),
        "mu_base": MU_BASE,
        "sd_base": SD_BASE,
        "hb3_mean": HB3_MEAN,
        "hb3_sd": HB3_SD,
        "beta_acute": BETA_ACUTE,
        "beta_12m": BETA_12M,
        "beta_units": "percentage points of MADRS improvement per unit of hb3_change",
        "acute_improvement": C.by_day(POST_DAYS, ACUTE),
        "followup_improvement": C.by_day(FOLLOWUP_DAYS, followup_mean()),
        "tau_relapse": TAU_RELAPSE,
        "rho": RHO,
        "sd_acute": SD_ACUTE,
        "sd_durability": SD_DURABILITY,
        "sigma": SIGMA,
        "p_missed_followup": P_MISSED_FOLLOWUP,
        "after_4th_day": AFTER_4TH,
        "month_12_day": MONTH_12,
        **population(),
    }
    notes = [
        f"simulated open-label cohort of {n_patients} patients, 4 infusions, MADRS 1.5 h after each and "
        "monthly to 12 months, hb3_change predictor (bayes_ket.simulate.open_label)"
    ]
    return C.finalize(frame, SCENARIO, truth, notes)


#: documented calibration ranges of the default draw (figure -> (lo, hi)); see calibration()
#: n = 30: the ranges allow for its sampling error; the population values (large n)
#: are 30.6 +- 6.1 at baseline, 19.8 +- 11.1 after the 4th infusion, remission 21 %
#: after the 4th and 11 % at 12 months, slope 1.35.
CALIBRATION = {
    "baseline_mean": (27.0, 34.0),
    "baseline_sd": (4.0, 8.0),
    "after4_mean": (15.0, 25.0),
    "after4_sd": (8.0, 15.0),
    "remission_after4": (0.10, 0.40),
    "remission_12m": (0.05, 0.25),
    "hb3_slope_after4": (0.4, 2.5),
}


def calibration(trial) -> dict:
    """Calibration figures: after the 4th infusion = day 10.06, 12 months = day 370;
    hb3 slope = least-squares slope of % improvement after the 4th on hb3_change."""
    f = trial.frame
    w = C.by_patient(f, "madrs_total")
    base, after4, m12 = w[0.0], w[POST_DAYS[-1]], w[FOLLOWUP_DAYS[-1]]
    hb3 = f.groupby("patient")["hb3_change"].first().reindex(w.index)
    return {
        "baseline_mean": float(base.mean()),
        "baseline_sd": float(base.std()),
        "after4_mean": float(after4.mean()),
        "after4_sd": float(after4.std()),
        "remission_after4": C.share(C.remitted(after4, 10)),
        "remission_12m": C.share(C.remitted(m12, 10)),
        "hb3_slope_after4": float(np.polyfit(hb3, 100 * (1 - after4 / base), 1)[0]),
    }
