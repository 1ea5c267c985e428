r"""Scenario ``pooled_rct`` (seed 000): two pooled RCTs of IV ketamine vs control in
TRD, ten MADRS items at days 0, 1, 3, 7, 10, 14, MSM moderating some items' effects.

Generative model
----------------
Patients i = 1..N in studies s(i) (sizes as equal as possible), arm a_i in {0, 1}
allocated 1:1 within study (ketamine 1, control 0), MSM m_i = clip(round(N(9.5, 2)), 3, 15),
m_ref = mean of m_i in this draw. Item k = 1..10, visit day t in {0, 1, 3, 7, 10, 14}:

    theta_i   ~ N(0, sd_patient)                 patient severity
    u_s       ~ N(0, sd_study)                   study offset
    b_i       ~ N(0, sd_change)                  patient's own change after baseline
    e_it      ~ N(0, sd_visit)                   patient-visit fluctuation

    eta_ikt = theta_i + u_s + loc_k + msm_severity * (m_i - m_ref)
              + 1[t > 0] * (trend(t) + b_i + e_it)
              + a_i * 1[t > 0] * (delta_k * profile(t) + gamma_k * (m_i - m_ref))

    P(Y_ikt > j) = logistic(eta_ikt - c_kj),  j = 1..6,  c_k1 < ... < c_k6
    madrs_total_it = sum_k Y_ikt   (NaN when any item is missing)

trend(t) is the control-arm (and shared) improvement in log-odds; profile(t) = 0 at
baseline, 1 at day 1, then p_inf + (1 - p_inf) * exp(-(t - 1) / tau) (peaks at day 1,
decays but stays). delta_k < 0 is a benefit: clear for 7 items, small for reduced
sleep, reduced appetite and concentration. gamma_k > 0 means weaker benefit per MSM
point: clearly positive for apparent sadness and inner tension, 0 for suicidal
thoughts, small elsewhere (override with ``moderation=``).

Missingness: each patient drops out (monotone, never at baseline) with probability
0.06 before a visit drawn uniformly from days 1..14, rows after dropout are absent;
each remaining item score is missing independently with probability 0.002.

Truth (``trial.truth``): sd_patient, sd_study, sd_change, sd_visit, study_offset,
item_location, cutpoints, control_trend, profile, item_effect (log-odds at the peak,
profile 1), item_effect_by_day, item_moderation, msm_severity, msm_ref, p_dropout,
p_item_missing, and Monte-Carlo total-score quantities (20 000 latent patients per arm,
common random numbers, no missingness, expected item scores summed):
effect_total (day -> E[total | ketamine] - E[total | control] at m = m_ref),
moderation_total (day -> change of that difference per MSM point, central difference
at m_ref +- 1), control_mean_total, ketamine_mean_total.

Sizes (keywords) and defaults
-----------------------------
n_patients = 154, n_studies = 2 (any n_studies >= 1, at least 2 patients per study),
moderation = None (a dict item name -> gamma, or a list of 10 values; items not
named keep their default).

Calibration (the default draw, seed 0, lands in these ranges: tests/test_simulate.py)
-------------------------------------------------------------------------------
baseline MADRS total mean 30-35, SD 4-7; day-1 response (>= 50% reduction) 33-60 %
ketamine vs 4-25 % control (about 77 patients per arm: SE of a rate ~ 0.055);
day-14 ketamine mean lower than control by 2-9 points; MSM mean 9-10, SD 1.5-2.5;
2-15 % of day-14 totals missing (dropout ~6 % plus sporadic items).
Population values (large n): baseline 31-32 +- 5.7, day-1 response 46-48 % vs 13-15 %,
day-14 difference about 5 points (truth["effect_total"][14.0]).
``calibration(trial)`` computes these figures; ``CALIBRATION`` holds the ranges.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..data.schema import MADRS_ITEM_COLUMNS
from ..errors import BayesKetError
from . import _common as C

SCENARIO = "pooled_rct"
SIZES = {"n_patients": 154, "n_studies": 2}
OPTIONS = {"moderation": None}

DAYS = np.array([0.0, 1.0, 3.0, 7.0, 10.0, 14.0])

SD_PATIENT = 0.42
SD_STUDY = 0.15
SD_CHANGE = 0.9
SD_VISIT = 0.35
MSM_SEVERITY = 0.03
P_DROPOUT = 0.06
P_ITEM_MISSING = 0.002

#: item locations (log-odds): higher = more severe at baseline
ITEM_LOCATION = np.array([0.45, 0.55, 0.35, 0.05, -0.35, 0.25, 0.30, 0.35, 0.15, -0.45])
#: a common cutpoint ladder (centred on the 0..6 midpoint) plus a small per-item tilt
BASE_CUTPOINTS = np.array([-3.0, -1.85, -0.7, 0.45, 1.6, 2.9])
CUTPOINT_TILT = np.array([0.0, 0.05, -0.05, 0.1, 0.1, 0.0, -0.05, 0.0, 0.05, 0.15])

#: shared improvement (log-odds) by visit day, both arms
CONTROL_TREND = np.array([0.0, -0.7, -0.75, -0.85, -0.95, -1.05])
PROFILE_P_INF = 0.55
PROFILE_TAU = 4.0

#: ketamine effects at the profile peak (day 1), log-odds; negative = benefit
ITEM_EFFECT = np.array([-1.85, -1.85, -1.6, -0.3, -0.2, -0.35, -1.3, -1.55, -1.4, -1.5])
#: MSM moderation, log-odds per MSM point; positive = weaker benefit
ITEM_MODERATION = np.array([0.22, 0.06, 0.16, 0.03, 0.02, 0.04, 0.05, 0.05, 0.04, 0.0])

N_MC = 20_000


def profile(t) -> np.ndarray:
    """Time profile of the ketamine effect: 0 at baseline, 1 at day 1, decaying to p_inf."""
    t = np.asarray(t, dtype=float)
    after = PROFILE_P_INF + (1 - PROFILE_P_INF) * np.exp(-(np.maximum(t, 1.0) - 1.0) / PROFILE_TAU)
    return np.where(t <= 0, 0.0, np.where(t < 1, t, after))


def cutpoints() -> np.ndarray:
    """(10, 6) ordered cutpoints per item."""
    return BASE_CUTPOINTS[None, :] + CUTPOINT_TILT[:, None] * np.linspace(-1, 1, 6)[None, :]


def _moderation(moderation) -> np.ndarray:
    gamma = ITEM_MODERATION.copy()
    if moderation is None:
        return gamma
    if isinstance(moderation, Mapping):
        unknown = [k for k in moderation if k not in C.ITEM_NAMES]
        if unknown:
            raise BayesKetError(
                f"simulate('{SCENARIO}'): moderation names unknown items {unknown}; valid item names: "
                f"{', '.join(C.ITEM_NAMES)}."
            )
        for k, v in moderation.items():
            gamma[C.ITEM_NAMES.index(k)] = float(v)
        return gamma
    values = np.asarray(moderation, dtype=float).ravel()
    if values.size != C.N_ITEMS or not np.isfinite(values).all():
        raise BayesKetError(
            f"simulate('{SCENARIO}'): moderation must be a dict item name -> value or 10 finite numbers "
            f"(one per MADRS item), got {values.size} values."
        )
    return values


def _eta(theta, arm, msm_dev, t_index, change, visit, gamma) -> np.ndarray:
    """Linear predictor (n, 10) at visit t_index for patients with the given latents."""
    t = DAYS[t_index]
    post = float(t > 0)
    eta = (theta + MSM_SEVERITY * msm_dev + post * (CONTROL_TREND[t_index] + change + visit))[:, None] + ITEM_LOCATION
    eta = eta + (arm * post)[:, None] * (ITEM_EFFECT * profile(t) + gamma * msm_dev[:, None])
    return eta


def _monte_carlo(rng, study_offset, gamma, cuts) -> dict:
    """Expected totals per arm at m_ref (and m_ref +- 1), averaged over latent patients."""
    n_studies = len(study_offset)
    theta = rng.normal(0, SD_PATIENT, N_MC) + study_offset[rng.integers(0, n_studies, N_MC)]
    change = rng.normal(0, SD_CHANGE, N_MC)
    visits = rng.normal(0, SD_VISIT, (N_MC, len(DAYS)))
    out = {"effect_total": {}, "moderation_total": {}, "control_mean_total": {}, "ketamine_mean_total": {}}
    for ti, t in enumerate(DAYS):
        def total(arm, dev):
            eta = _eta(theta, np.full(N_MC, arm), np.full(N_MC, float(dev)), ti, change, visits[:, ti], gamma)
            return C.ordinal_mean(eta, cuts).sum(axis=1).mean()

        ctrl, ket = total(0.0, 0.0), total(1.0, 0.0)
        eff_plus = total(1.0, 1.0) - total(0.0, 1.0)
        eff_minus = total(1.0, -1.0) - total(0.0, -1.0)
        out["effect_total"][float(t)] = float(ket - ctrl)
        out["moderation_total"][float(t)] = float((eff_plus - eff_minus) / 2.0)
        out["control_mean_total"][float(t)] = float(ctrl)
        out["ketamine_mean_total"][float(t)] = float(ket)
    return out


def simulate(seed: int = 0, n_patients: int = 154, n_studies: int = 2, moderation=None):
    n_patients = C.check_int(SCENARIO, "n_patients", n_patients, 2)
    n_studies = C.check_int(SCENARIO, "n_studies", n_studies, 1)
    if n_patients < 2 * n_studies:
        raise BayesKetError(
            f"simulate('{SCENARIO}'): n_patients ({n_patients}) must be at least 2 per study (n_studies={n_studies})."
        )
    gamma = _moderation(moderation)
    cuts = cutpoints()
    rng = C.rng_for(seed, 0)

    # patients, studies, arms, MSM
    study_index = np.sort(np.arange(n_patients) % n_studies)
    arm = np.zeros(n_patients)
    for s in range(n_studies):
        members = np.flatnonzero(study_index == s)
        alloc = np.arange(len(members)) % 2
        arm[members] = rng.permutation(alloc)
    msm = C.sample_msm(rng, n_patients)
    msm_ref = float(msm.mean())
    msm_dev = msm - msm_ref

    study_offset = rng.normal(0, SD_STUDY, n_studies)
    theta = rng.normal(0, SD_PATIENT, n_patients) + study_offset[study_index]
    change = rng.normal(0, SD_CHANGE, n_patients)
    visits = rng.normal(0, SD_VISIT, (n_patients, len(DAYS)))

    scores = np.empty((n_patients, len(DAYS), C.N_ITEMS))
    for ti in range(len(DAYS)):
        eta = _eta(theta, arm, msm_dev, ti, change, visits[:, ti], gamma)
        scores[:, ti, :] = C.ordinal_sample(rng, eta, cuts)

    # missingness: monotone dropout, then sporadic items
    stop = C.dropout_visit(rng, n_patients, len(DAYS), P_DROPOUT)
    scores[C.sporadic_mask(rng, scores.shape, P_ITEM_MISSING)] = np.nan
    attended = np.arange(len(DAYS))[None, :] < stop[:, None]

    pid, sid = C.patient_ids(n_patients), C.study_ids(n_studies)
    pi, ti = np.nonzero(attended)
    frame = pd.DataFrame({
        "patient": pid[pi],
        "study": sid[study_index[pi]],
        "arm": arm[pi].astype(int),
        "period": 1,
        "day": DAYS[ti],
    })
    for k, col in enumerate(MADRS_ITEM_COLUMNS):
        frame[col] = scores[pi, ti, k]
    frame["msm"] = msm[pi]

    truth = {
        "scenario": SCENARIO,
        "seed": int(seed),
        "sizes": {"n_patients": n_patients, "n_studies": n_studies},
        "days": DAYS.tolist(),
        "sd_patient": SD_PATIENT,
        "sd_study": SD_STUDY,
        "sd_change": SD_CHANGE,
        "sd_visit": SD_VISIT,
        "study_offset": dict(zip(sid.tolist(), study_offset.tolist())),
        "item_location": C.item_dict(ITEM_LOCATION),
        "cutpoints": {name: cuts[k].tolist() for k, name in enumerate(C.ITEM_NAMES)},
        "control_trend": C.by_day(DAYS, CONTROL_TREND),
        "profile": C.by_day(DAYS, profile(DAYS)),
        "item_effect": C.item_dict(ITEM_EFFECT),
        "item_effect_by_day": {
            float(t): C.item_dict(ITEM_EFFECT * profile(t)) for t in DAYS
        },
        "item_moderation": C.item_dict(gamma),
        "msm_severity": MSM_SEVERITY,
        "msm_ref": msm_ref,
        "p_dropout": P_DROPOUT,
        "p_item_missing": P_ITEM_MISSING,
        **_monte_carlo(C.rng_for(seed, 1), study_offset, gamma, cuts),
    }
    notes = [
        f"simulated {n_patients} patients in {n_studies} studies, 1:1 ketamine vs control, "
        "10 MADRS items at days 0, 1, 3, 7, 10, 14 (bayes_ket.simulate.pooled_rct)"
    ]
    return C.finalize(frame, SCENARIO, truth, notes)


#: documented calibration ranges of the default draw (figure -> (lo, hi)); see calibration()
CALIBRATION = {
    "baseline_mean": (30.0, 35.0),
    "baseline_sd": (4.0, 7.0),
    "response_day1_ketamine": (0.33, 0.60),
    "response_day1_control": (0.04, 0.25),
    "control_minus_ketamine_day14": (2.0, 9.0),
    "msm_mean": (9.0, 10.0),
    "msm_sd": (1.5, 2.5),
    "missing_day14": (0.02, 0.15),
}


def calibration(trial) -> dict:
    """The calibration figures of a simulated (or real) trial of this design."""
    f = trial.frame
    w = C.by_patient(f, "madrs_total")
    arm = f.groupby("patient")["arm"].first().reindex(w.index)
    msm = f.groupby("patient")["msm"].first()
    base = w[0.0]
    resp = C.responded(base, w[1.0])
    d14 = w[14.0].groupby(arm).mean()
    return {
        "baseline_mean": float(base.mean()),
        "baseline_sd": float(base.std()),
        "response_day1_ketamine": C.share(resp[arm.to_numpy() == 1]),
        "response_day1_control": C.share(resp[arm.to_numpy() == 0]),
        "control_minus_ketamine_day14": float(d14[0] - d14[1]),
        "msm_mean": float(msm.mean()),
        "msm_sd": float(msm.std()),
        "missing_day14": float(w[14.0].isna().mean()),
    }
