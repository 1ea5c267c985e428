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

Options (each with its truth)
-----------------------------
- ``classes`` (4): 4 as above; 1 = no classes: every patient follows the population-mean
  curve sum_c pi_c mu_s,c (a quadratic in L as well), random intercepts as above.
- ``predictors`` (False): True adds patient columns ``msm`` (3-15) and ``age`` (years) and
  draws the class from a multinomial logit (class ``rapid`` the reference)

      P(z_i = c) = softmax_c(a_c + g_msm,c (msm_i - 9.5) + g_age,c (age_i - 45)),
      a_c = log(pi_c / pi_rapid)

  with known coefficients (truth ``predictor_coef``: class -> {msm, age}, log-odds per
  point / per year against ``rapid``).
- ``linked`` (False): True gives GAD-7 classes of their own, z2_i | z_i ~ Categorical(T[z_i])
  with a known conditional table T (truth ``conditional_class``; the realised table
  ``conditional_class_observed``, ``class_share_observed_2``, ``patient_class_2``); the
  GAD-7 curve of a patient is that of z2_i, from GAD-7 curves of their own (``CURVES_LINKED``:
  the default GAD-7 curves of ``rapid`` and ``gradual`` differ by less than 1.5 points at
  every visit, and those of ``partial`` and ``non_responder`` change by 3.3 and 0.7 points over the
  month: too little for four classes of their own. The linked curves change by -10.3, -8.9 (with a
  slower start), -4.5 and +0.4 points by day 40; truth ``class_curves_2``). Without it
  both scales share the class.

The options draw from their own random streams: the default draw is unchanged by them.

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
OPTIONS: dict = {"classes": 4, "predictors": False, "linked": False}

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
#: predictors=True: log-odds against ``rapid`` per MSM point and per year of age
PREDICTOR_COEF = {"rapid": {"msm": 0.0, "age": 0.0}, "gradual": {"msm": 0.2, "age": 0.0},
                  "partial": {"msm": 0.4, "age": 0.02}, "non_responder": {"msm": 0.6, "age": 0.04}}
PREDICTOR_CENTRE = {"msm": 9.5, "age": 45.0}
#: linked=True: the GAD-7 class curves (b0, b1, b2 in L), anxiety improving slower and less than MADRS
CURVES_LINKED = np.array([
    [14.0, -5.0, 0.6],
    [14.5, -2.4, 0.0],
    [15.0, -1.2, 0.0],
    [15.0, 0.1, 0.0],
])
#: linked=True: P(GAD-7 class | MADRS class), rows MADRS classes, columns GAD-7 classes
CONDITIONAL_CLASS = np.array([
    [0.55, 0.30, 0.10, 0.05],
    [0.15, 0.50, 0.25, 0.10],
    [0.05, 0.20, 0.55, 0.20],
    [0.05, 0.10, 0.25, 0.60],
])


def class_curve(scale: str, cls: int, day, linked: bool = False) -> np.ndarray:
    """Mean of class ``cls`` on ``scale`` at ``day`` (no protocol effect; ``linked``: the GAD-7
    curves of the linked option)."""
    L = np.log1p(np.asarray(day, dtype=float))
    b0, b1, b2 = (CURVES_LINKED if linked and scale == "gad7" else CURVES[scale])[cls]
    return b0 + b1 * L + b2 * L**2


def _check_options(classes, predictors, linked):
    from ..errors import BayesKetError

    if isinstance(classes, bool) or classes not in (1, 4):
        raise BayesKetError(f"simulate('real_world'): classes={classes!r}; use 4 (the default) or 1 (no classes).")
    for name, value in (("predictors", predictors), ("linked", linked)):
        if not isinstance(value, (bool, np.bool_)):
            raise BayesKetError(f"simulate('real_world'): {name}={value!r}; use True or False.")
    if classes == 1 and (predictors or linked):
        raise BayesKetError("simulate('real_world'): classes=1 has no classes to predict or link. "
                            "Fix: drop predictors= / linked=, or use classes=4.")


def mean_curve(scale: str, day) -> np.ndarray:
    """The population-mean curve sum_c pi_c mu_c (the one class of ``classes=1``)."""
    return sum(p * class_curve(scale, k, day) for k, p in enumerate(CLASS_PROPORTIONS))


def simulate(seed: int = 0, n_patients: int = 209, classes: int = 4, predictors: bool = False,
             linked: bool = False):
    n_patients = C.check_int(SCENARIO, "n_patients", n_patients, 1)
    _check_options(classes, predictors, linked)
    rng = C.rng_for(seed, 0)

    protocol = np.where(rng.random(n_patients) < P_SIX, 6, 4)
    klass = rng.choice(len(CLASS_NAMES), size=n_patients, p=CLASS_PROPORTIONS)
    extra = {}
    if predictors:  # own stream: covariates, then the class from the multinomial logit
        prng = C.rng_for(seed, 1)
        extra["msm"] = C.sample_msm(prng, n_patients)
        extra["age"] = np.clip(np.round(prng.normal(45.0, 13.0, n_patients)), 18, 80)
        eta = np.log(CLASS_PROPORTIONS / CLASS_PROPORTIONS[0])[None, :] + sum(
            np.array([PREDICTOR_COEF[c][v] for c in CLASS_NAMES])[None, :]
            * (extra[v] - PREDICTOR_CENTRE[v])[:, None] for v in ("msm", "age"))
        prob = np.exp(eta - eta.max(axis=1, keepdims=True))
        prob /= prob.sum(axis=1, keepdims=True)
        u = prng.random(n_patients)
        klass = np.minimum((u[:, None] > np.cumsum(prob, axis=1)).sum(axis=1), len(CLASS_NAMES) - 1)
    klass2 = klass
    if linked:  # own stream: the GAD-7 class given the MADRS class
        lrng = C.rng_for(seed, 2)
        u = lrng.random(n_patients)
        klass2 = np.minimum((u[:, None] > np.cumsum(CONDITIONAL_CLASS[klass], axis=1)).sum(axis=1),
                            len(CLASS_NAMES) - 1)
    intercept = {s: rng.normal(0, SD_INTERCEPT[s], n_patients) for s in CURVES}

    pid = C.patient_ids(n_patients)
    rows = []
    for i in range(n_patients):
        days = DAYS[int(protocol[i])]
        keep = np.ones(len(days), bool)
        keep[1:] = rng.random(len(days) - 1) >= P_MISSED
        L = np.log1p(days)
        row = {"patient": pid[i], "day": days, "infusions": int(protocol[i]), **{k: v[i] for k, v in extra.items()}}
        for s in CURVES:
            z = klass2[i] if s == "gad7" else klass[i]
            curve = mean_curve(s, days) if classes == 1 else class_curve(s, z, days, linked)
            mean = curve + intercept[s][i]
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
        "options": {"classes": classes, "predictors": bool(predictors), "linked": bool(linked)},
    }
    if classes == 1:
        mean_coef = {s: (CLASS_PROPORTIONS @ CURVES[s]).tolist() for s in CURVES}
        truth.update({
            "class_names": ["all"], "class_proportions": {"all": 1.0}, "class_share_observed": {"all": 1.0},
            "class_curves": {s: {"all": dict(zip(("b0", "b1", "b2"), mean_coef[s]))} for s in CURVES},
            "patient_class": {p: "all" for p in pid.tolist()},
        })
    if predictors:
        truth["predictor_coef"] = PREDICTOR_COEF
        truth["predictor_centre"] = PREDICTOR_CENTRE
        truth["predictor_intercept"] = dict(zip(CLASS_NAMES, np.log(CLASS_PROPORTIONS / CLASS_PROPORTIONS[0]).tolist()))
    if linked:
        observed = np.zeros((len(CLASS_NAMES), len(CLASS_NAMES)))
        np.add.at(observed, (klass, klass2), 1.0)
        with np.errstate(invalid="ignore"):
            observed = observed / observed.sum(axis=1, keepdims=True)
        truth["conditional_class"] = {c: dict(zip(CLASS_NAMES, row.tolist()))
                                      for c, row in zip(CLASS_NAMES, CONDITIONAL_CLASS)}
        truth["conditional_class_observed"] = {c: dict(zip(CLASS_NAMES, row.tolist()))
                                               for c, row in zip(CLASS_NAMES, observed)}
        truth["class_share_observed_2"] = {c: float((klass2 == k).mean()) for k, c in enumerate(CLASS_NAMES)}
        truth["class_curves_2"] = {c: dict(zip(("b0", "b1", "b2"), CURVES_LINKED[k].tolist()))
                                   for k, c in enumerate(CLASS_NAMES)}
        truth["patient_class_2"] = {p: CLASS_NAMES[k] for p, k in zip(pid.tolist(), klass2)}
    kind = ("no latent classes" if classes == 1 else "4 latent trajectory classes"
            + (" (membership predicted by MSM and age)" if predictors else "")
            + (", GAD-7 classes linked to MADRS classes" if linked else ""))
    notes = [
        f"simulated real-world cohort of {n_patients} patients, 4 or 6 infusions, MADRS and GAD-7 totals, "
        f"{kind} (bayes_ket.simulate.real_world)"
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
