r"""Scenario ``real_world`` (seed 001): a single-arm clinic cohort receiving 4 or 6
IV ketamine infusions over 2-3 weeks, MADRS and GAD-7 totals before each infusion,
follow-up 1 week and 1 month after the last infusion for the 4-infusion cohort only,
four latent trajectory classes.

Schedule (``day`` = days since the first infusion; each visit is the assessment
just before that day's infusion, day 0 = baseline):

- six infusions  (``infusions`` = 6): days 0, 2, 4, 7, 9, 11;
- four infusions (``infusions`` = 4): days 0, 3, 7, 10, then follow-up at day 17
  (1 week after the last infusion) and day 40 (1 month after it).

End of treatment = the last pre-infusion visit (day 11 for six, day 10 for four).

Generative model
----------------
Patient i has protocol P_i (6 with probability 0.5, else 4) and latent class
z_i ~ Categorical(pi) over c in (rapid, gradual, partial, non_responder).
With L = log(1 + day) and, for each scale s in (madrs, gad7),

    mu_s,c(L)  = b0_s,c + b1_s,c * L + b2_s,c * L^2                     class curve
    y_s,it     = mu_s,z_i(L_t) + 1[P_i = 6] * kappa_s * min(L_t, L_11) / L_11
                 + u_s,i + e_s,it
    u_s,i ~ N(0, sd_intercept_s),   e_s,it ~ N(0, sigma_s)
    observed   = clip(round(y), 0, max_s)   (MADRS 0-60, GAD-7 0-21)

kappa_s is the extra improvement with six infusions (reached at the last one).
Both scales share the patient's class; the GAD-7 curves decline less in relative
terms (anxiety improves slower and less). Each post-baseline visit is missed
independently with probability 0.05 (the row is absent); baseline is always there.

Truth: class_names, class_proportions, class_curves (scale -> class -> b0, b1, b2),
class_share_observed, patient_class (patient -> class name), sd_intercept, sigma
(scale -> value), protocol_effect (scale -> kappa), p_six_infusions, p_missed_visit,
visit_days (protocol -> days), time_basis.

Sizes (keywords) and defaults
-----------------------------
n_patients = 209.

Calibration (the default draw, seed 0, lands in these ranges: tests/test_simulate.py)
-------------------------------------------------------------------------------
baseline MADRS mean 28-34, GAD-7 mean 12-16; end-of-treatment MADRS response
(>= 50 % reduction) 25-45 %, remission (<= 10) 10-30 %; GAD-7 mean relative
improvement at end of treatment (0.05-0.35) smaller than MADRS's (0.20-0.50); share of
six-infusion patients 0.35-0.65. Population values (large n): baseline MADRS 32.2,
GAD-7 14.7; end-of-treatment response 32-33 %, remission 16-17 %; relative improvement
MADRS 0.36 vs GAD-7 0.23.
``calibration(trial)`` computes these figures; ``CALIBRATION`` holds the ranges.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import _common as C

SCENARIO = "real_world"
SIZES = {"n_patients": 209}
OPTIONS: dict = {}

DAYS = {6: np.array([0.0, 2.0, 4.0, 7.0, 9.0, 11.0]), 4: np.array([0.0, 3.0, 7.0, 10.0, 17.0, 40.0])}
P_SIX = 0.5
P_MISSED = 0.05

CLASS_NAMES = ("rapid", "gradual", "partial", "non_responder")
CLASS_PROPORTIONS = np.array([0.18, 0.30, 0.32, 0.20])
#: class -> (b0, b1, b2) in L = log(1 + day)
CURVES = {
    "madrs": np.array([
        [30.0, -14.0, 2.2],
        [32.0, -6.0, 0.0],
        [33.0, -3.0, 0.0],
        [33.0, -0.5, 0.0],
    ]),
    "gad7": np.array([
        [14.0, -3.0, 0.3],
        [14.5, -1.8, 0.0],
        [15.0, -0.9, 0.0],
        [15.0, -0.2, 0.0],
    ]),
}
SD_INTERCEPT = {"madrs": 4.0, "gad7": 2.5}
SIGMA = {"madrs": 3.5, "gad7": 2.0}
PROTOCOL_EFFECT = {"madrs": -1.5, "gad7": -0.5}
MAXIMUM = {"madrs": 60, "gad7": 21}
COLUMN = {"madrs": "madrs_total", "gad7": "gad7_total"}
L_END_SIX = np.log1p(11.0)


def class_curve(scale: str, cls: int, day) -> np.ndarray:
    """Mean of class ``cls`` on ``scale`` at ``day`` (no protocol effect)."""
    L = np.log1p(np.asarray(day, dtype=float))
    b0, b1, b2 = CURVES[scale][cls]
    return b0 + b1 * L + b2 * L**2


def simulate(seed: int = 0, n_patients: int = 209):
    n_patients = C.check_int(SCENARIO, "n_patients", n_patients, 1)
    rng = C.rng_for(seed, 0)

    protocol = np.where(rng.random(n_patients) < P_SIX, 6, 4)
    klass = rng.choice(len(CLASS_NAMES), size=n_patients, p=CLASS_PROPORTIONS)
    intercept = {s: rng.normal(0, SD_INTERCEPT[s], n_patients) for s in CURVES}

    pid = C.patient_ids(n_patients)
    rows = []
    for i in range(n_patients):
        days = DAYS[int(protocol[i])]
        keep = np.ones(len(days), bool)
        keep[1:] = rng.random(len(days) - 1) >= P_MISSED
        L = np.log1p(days)
        row = {"patient": pid[i], "day": days, "infusions": int(protocol[i])}
        for s in CURVES:
            mean = class_curve(s, klass[i], days) + intercept[s][i]
            if protocol[i] == 6:
                mean = mean + PROTOCOL_EFFECT[s] * np.minimum(L, L_END_SIX) / L_END_SIX
            y = C.clip_round(mean + rng.normal(0, SIGMA[s], len(days)), 0, MAXIMUM[s])
            row[COLUMN[s]] = y
        rows.append(pd.DataFrame(row)[keep])
    frame = pd.concat(rows, ignore_index=True)

    truth = {
        "scenario": SCENARIO,
        "seed": int(seed),
        "sizes": {"n_patients": n_patients},
        "time_basis": "log1p_day: L = log(1 + day), class curve b0 + b1*L + b2*L^2",
        "visit_days": {str(p): d.tolist() for p, d in DAYS.items()},
        "end_of_treatment_day": {"6": 11.0, "4": 10.0},
        "class_names": list(CLASS_NAMES),
        "class_proportions": dict(zip(CLASS_NAMES, CLASS_PROPORTIONS.tolist())),
        "class_share_observed": {c: float((klass == k).mean()) for k, c in enumerate(CLASS_NAMES)},
        "class_curves": {
            s: {c: dict(zip(("b0", "b1", "b2"), CURVES[s][k].tolist())) for k, c in enumerate(CLASS_NAMES)}
            for s in CURVES
        },
        "sd_intercept": dict(SD_INTERCEPT),
        "sigma": dict(SIGMA),
        "protocol_effect": dict(PROTOCOL_EFFECT),
        "p_six_infusions": P_SIX,
        "p_missed_visit": P_MISSED,
        "patient_class": {p: CLASS_NAMES[k] for p, k in zip(pid.tolist(), klass)},
    }
    notes = [
        f"simulated real-world cohort of {n_patients} patients, 4 or 6 infusions, MADRS and GAD-7 totals, "
        "4 latent trajectory classes (bayes_ket.simulate.real_world)"
    ]
    return C.finalize(frame, SCENARIO, truth, notes)


#: documented calibration ranges of the default draw (figure -> (lo, hi)); see calibration()
CALIBRATION = {
    "baseline_madrs_mean": (28.0, 34.0),
    "baseline_gad7_mean": (12.0, 16.0),
    "eot_response": (0.25, 0.45),
    "eot_remission": (0.10, 0.30),
    "eot_relative_improvement_madrs": (0.20, 0.50),
    "eot_relative_improvement_gad7": (0.05, 0.35),
    "share_six_infusions": (0.35, 0.65),
}


def calibration(trial) -> dict:
    """Calibration figures; end of treatment = day 11 (six infusions) or day 10 (four)."""
    f = trial.frame
    base = f[f["day"] == 0].set_index("patient")
    eot = f[f["day"] == f["infusions"].map({6: 11.0, 4: 10.0})].set_index("patient")
    b = base.loc[eot.index]
    return {
        "baseline_madrs_mean": float(base["madrs_total"].mean()),
        "baseline_gad7_mean": float(base["gad7_total"].mean()),
        "eot_response": C.share(C.responded(b["madrs_total"], eot["madrs_total"])),
        "eot_remission": C.share(C.remitted(eot["madrs_total"], 10)),
        "eot_relative_improvement_madrs": float(1 - eot["madrs_total"].mean() / b["madrs_total"].mean()),
        "eot_relative_improvement_gad7": float(1 - eot["gad7_total"].mean() / b["gad7_total"].mean()),
        "share_six_infusions": float((base["infusions"] == 6).mean()),
    }
