r"""Scenario ``ipd_meta`` (seed 002): an individual-patient-data meta-analysis of 17
randomized trials of a single IV ketamine infusion vs control (saline or midazolam),
parallel and crossover designs, MADRS and/or HRSD-17 totals at baseline, ~24 h and
~7 d, study-level and patient-level moderators whose availability differs by study.

Studies
-------
Study j has n_j patients (log-normal weights, at least 10 each, summing to
n_patients) and these features, assigned to studies at random in the proportions
of the seed (for 17 studies: exact counts):

- design: ``crossover`` = 1 in round(5/17 * J) studies (periods 1 and 2, arms
  swapped, order random per patient, baseline day 0 in each period, no carry-over
  and no period effect), parallel 1:1 otherwise (period 1);
- scales: MADRS only (10/17), HRSD-17 only (3/17: ``hrsd17_total`` observed,
  ``madrs_total`` NaN), both (4/17). ``madrs_converted`` is False everywhere (the
  reader converts HRSD-only studies later);
- ``trd_threshold`` = 1 (entry required >= 2 failed antidepressants) in round(J/2) studies;
- ``active_placebo`` = 1 (midazolam) in round(6/17 * J) studies, 0 = saline;
- rapid visit day: 1 (24 h) in most studies, 0.17 (4 h) or 3 in a few
  (each with probability 0.15); the week visit is day 7 everywhere;
- moderators collected: female everywhere, age in all but round(J/17) studies,
  bmi in all but round(5/17 * J), msm in round(J/2) studies. A moderator a study did
  not collect is NaN for all its patients (it still acts in the generator).

Generative model (latent MADRS points)
--------------------------------------
Patient i in study j, arm a in {0, 1} (per period), visit v in {0 (baseline),
rapid, week}; x_j = (trd_threshold, crossover, active_placebo), patient moderators
w_i = (age - 45, female - 0.5, bmi - 28, msm - 9):

    A_j ~ N(0, sd_study)              study intercept
    D_j ~ N(0, sd_study_effect)       study treatment effect (same at both visits)
    p_i ~ N(0, sd_patient)            patient severity
    q_i ~ N(0, sd_change)             patient's own change (shared by visits and periods)
    e   ~ N(0, sigma)                 per observation

    y_i0 = alpha + A_j + p_i + e
    y_iv = alpha + A_j + p_i + tau_v + x_j . kappa_v + q_i
           + a * (delta_v + D_j + x_j . beta_v + w_i . lambda) + e        (v > 0)

tau_v / kappa_v: control-arm change and its study-level moderators (crossover and
TRD-threshold studies have a smaller placebo response, midazolam a larger one);
delta_v / beta_v: ketamine - control effect and its study-level moderators
(larger benefit, i.e. more negative, in TRD-threshold studies and, at the rapid visit
only, in crossover studies); lambda: patient-level effect moderators (per unit of
each column; positive = weaker benefit).

Observed: ``madrs_total`` = clip(round(y), 0, 60); ``hrsd17_total`` =
clip(round(h(y) + N(0, hrsd_noise_sd)), 0, 52) where h is the inverse of the
Leucht et al. (2018) linking anchors (MADRS 0, 13, 26, 39, 52.5, 60 <-> HRSD 0, 10,
20, 30, 40, 46), linearly interpolated.

Truth: alpha, sd_study, sd_patient, sd_change, sigma, sd_study_effect, hrsd_noise_sd,
hrsd_link, control_change, control_moderators, effect, effect_moderators,
patient_moderators (lambda), moderator_centres, and ``studies``: per study its
size, design, scales, rapid_day, features, moderators collected, intercept A_j,
effect offset D_j and its total effect at each visit (delta_v + D_j + x_j . beta_v,
at the moderator centres).

Sizes (keywords) and defaults
-----------------------------
n_studies = 17, n_patients = 809 (at least 10 per study).

Options (off by default; the default draw does not change with them: they draw from their
own random streams)
------------------------------------------------------------------------------------
- ``ecological=True``: a patient-level moderator ``expectancy`` (score ~50 +- 10 within a
  study) whose study means track the studies' effect offsets, mean_j = 50 + 10 (1.2 D_j /
  sd_study_effect + N(0, 0.25)), while it has no effect on any patient's outcome: an
  across-study association with no within-study moderation.
- ``null_moderators=N``: N pure-noise patient moderators ``null_01`` .. (every fourth binary
  0/1 with P(1) = 0.4, the others N(0, 1)); each study collects each with probability 0.75
  (at least two studies), and 5 % of the collected values are missing at random.
- ``patient_moderators={name: lambda}``: overrides the effect moderators lambda (per unit of
  age, female, bmi, msm; e.g. to set known M* weights).

Truth on the model's scales
---------------------------
``truth["model"]["points"]`` and ``truth["model"]["percent"]`` hold what the ipd_meta model
estimates, keyed by its visit names ("rapid", "post_rapid"): ``effect`` (at the analysed
patients' mean study features and moderators), ``tau``, ``moderation`` {moderator: {level:
{visit: value}}} (per original unit; levels within / across / study) and ``study_effect``
{study: {visit: value}}. Points: ketamine - control in latent MADRS points (negative =
benefit; moderation positive = weaker benefit). Percent: the same contrasts of percent
improvement 100 (baseline - score) / baseline (positive = benefit), by Monte Carlo over
200,000 simulated patients with rounding and clipping (stream 4 of the seed): tau and the
patient-level moderations are the points values times the local slope d(percent effect) /
d(points effect); study-level moderations are percent effects at feature 1 minus 0 (their
control-arm moderators included).

Calibration (the default draw, seed 0, lands in these ranges: tests/test_simulate.py)
-------------------------------------------------------------------------------
at the rapid visit (first period only, as the seed): ketamine response (>= 50 %
reduction, on MADRS, else HRSD-17) 40-57 %, remission (MADRS <= 9, MADRS studies)
18-35 %; control response 10-30 %; baseline MADRS mean 28-35. Population values
(many patients in 17 studies; they move with the studies' random effects): ketamine
response 48-52 %, remission 26-30 %, control response about 21 % (seed: 46 % / 27 %).
``calibration(trial)`` computes these figures; ``CALIBRATION`` holds the ranges.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import BayesKetError
from . import _common as C

SCENARIO = "ipd_meta"
SIZES = {"n_studies": 17, "n_patients": 809}
OPTIONS: dict = {"ecological": False, "null_moderators": 0, "patient_moderators": None}
ECO_LOADING = 1.2
NULL_COLLECT_P = 0.75
NULL_SPORADIC_P = 0.05
N_MONTE_CARLO = 200_000

MIN_PER_STUDY = 10
VISITS = ("rapid", "week")
WEEK_DAY = 7.0
RAPID_DAYS = (1.0, 0.17, 3.0)
RAPID_DAY_P = (0.7, 0.15, 0.15)

ALPHA = 30.0
SD_STUDY = 2.0
SD_PATIENT = 4.5
SD_CHANGE = 8.0
SIGMA = 2.5
SD_STUDY_EFFECT = 2.0
HRSD_NOISE_SD = 1.5
LINK_MADRS = np.array([0.0, 13.0, 26.0, 39.0, 52.5, 60.0])
LINK_HRSD = np.array([0.0, 10.0, 20.0, 30.0, 40.0, 46.0])

STUDY_FEATURES = ("trd_threshold", "crossover", "active_placebo")
CONTROL_CHANGE = {"rapid": -8.0, "week": -6.5}
CONTROL_MODERATORS = {
    "trd_threshold": {"rapid": 1.5, "week": 1.5},
    "crossover": {"rapid": 3.5, "week": 0.0},
    "active_placebo": {"rapid": -3.0, "week": -1.0},
}
EFFECT = {"rapid": -5.75, "week": -4.0}
EFFECT_MODERATORS = {
    "trd_threshold": {"rapid": -2.5, "week": -3.0},
    "crossover": {"rapid": -3.5, "week": 0.0},
    "active_placebo": {"rapid": 2.0, "week": 0.5},
}
PATIENT_MODERATORS = {"age": 0.03, "female": -0.5, "bmi": -0.15, "msm": 0.5}
MODERATOR_CENTRES = {"age": 45.0, "female": 0.5, "bmi": 28.0, "msm": 9.0}


def madrs_to_hrsd(madrs) -> np.ndarray:
    """Inverse linking (interpolated anchors): latent MADRS points -> HRSD-17 points."""
    return np.interp(np.asarray(madrs, dtype=float), LINK_MADRS, LINK_HRSD)


def _counts(n_studies: int) -> dict:
    r = lambda share: int(round(share * n_studies))  # noqa: E731
    n_hrsd, n_both = r(3 / 17), r(4 / 17)
    if n_hrsd + n_both >= n_studies:  # keep at least one MADRS-only study
        n_hrsd, n_both = max(0, n_studies - 1 - n_both), min(n_both, n_studies - 1)
    return {
        "crossover": r(5 / 17),
        "trd_threshold": r(0.5),
        "active_placebo": r(6 / 17),
        "hrsd": n_hrsd,
        "both": n_both,
        "no_age": r(1 / 17),
        "no_bmi": r(5 / 17),
        "msm": r(0.5),
    }


def _pick(rng, n, k) -> np.ndarray:
    """0/1 vector of length n with exactly k ones at random positions."""
    out = np.zeros(n, int)
    out[rng.permutation(n)[:k]] = 1
    return out


def simulate(seed: int = 0, n_studies: int = 17, n_patients: int = 809, ecological: bool = False,
             null_moderators: int = 0, patient_moderators: dict | None = None):
    n_studies = C.check_int(SCENARIO, "n_studies", n_studies, 1)
    n_null = C.check_int(SCENARIO, "null_moderators", null_moderators, 0)
    lam = dict(PATIENT_MODERATORS)
    for m, v in (patient_moderators or {}).items():
        if m not in lam:
            raise BayesKetError(f"simulate('{SCENARIO}'): patient_moderators names {m!r}; it takes {sorted(lam)}.")
        lam[m] = float(v)
    n_patients = C.check_int(SCENARIO, "n_patients", n_patients, MIN_PER_STUDY)
    if n_patients < MIN_PER_STUDY * n_studies:
        raise BayesKetError(
            f"simulate('{SCENARIO}'): n_patients ({n_patients}) must be at least {MIN_PER_STUDY} per study "
            f"(n_studies={n_studies})."
        )
    rng = C.rng_for(seed, 0)
    counts = _counts(n_studies)

    # ---- studies ------------------------------------------------------------
    size = C.split_sizes(rng, n_patients, n_studies, MIN_PER_STUDY)
    feat = {f: _pick(rng, n_studies, counts[f]) for f in STUDY_FEATURES}
    order = rng.permutation(n_studies)
    scales = np.array(["madrs"] * n_studies, dtype=object)
    scales[order[: counts["hrsd"]]] = "hrsd17"
    scales[order[counts["hrsd"] : counts["hrsd"] + counts["both"]]] = "both"
    rapid_day = rng.choice(RAPID_DAYS, size=n_studies, p=RAPID_DAY_P)
    collects = {
        "age": 1 - _pick(rng, n_studies, counts["no_age"]),
        "female": np.ones(n_studies, int),
        "bmi": 1 - _pick(rng, n_studies, counts["no_bmi"]),
        "msm": _pick(rng, n_studies, counts["msm"]),
    }
    A = rng.normal(0, SD_STUDY, n_studies)
    D = rng.normal(0, SD_STUDY_EFFECT, n_studies)
    x = np.column_stack([feat[f] for f in STUDY_FEATURES]).astype(float)

    def study_part(table, v):
        return x @ np.array([table[f][v] for f in STUDY_FEATURES])

    control_mean = {v: CONTROL_CHANGE[v] + study_part(CONTROL_MODERATORS, v) for v in VISITS}
    effect_mean = {v: EFFECT[v] + D + study_part(EFFECT_MODERATORS, v) for v in VISITS}

    # ---- patients -----------------------------------------------------------
    study_of = np.repeat(np.arange(n_studies), size)
    n = n_patients
    mods = {
        "age": np.clip(rng.normal(45, 12, n), 18, 75).round(),
        "female": (rng.random(n) < 0.55).astype(float),
        "bmi": np.clip(rng.normal(28, 5.5, n), 17, 50).round(1),
        "msm": C.sample_msm(rng, n, mean=9.0, sd=2.0),
    }
    w_effect = sum(lam[m] * (mods[m] - MODERATOR_CENTRES[m]) for m in mods)
    p = rng.normal(0, SD_PATIENT, n)
    q = rng.normal(0, SD_CHANGE, n)
    crossover = feat["crossover"][study_of] == 1
    first_arm = np.zeros(n, int)
    for j in range(n_studies):
        members = np.flatnonzero(study_of == j)
        first_arm[members] = rng.permutation(np.arange(len(members)) % 2)

    pid, sid = C.patient_ids(n), C.study_ids(n_studies)
    blocks = []
    for period in (1, 2):
        who = np.arange(n) if period == 1 else np.flatnonzero(crossover)
        arm = first_arm[who] if period == 1 else 1 - first_arm[who]
        j = study_of[who]
        for v, day in (("baseline", np.zeros(len(who))), ("rapid", rapid_day[j]), ("week", np.full(len(who), WEEK_DAY))):
            y = ALPHA + A[j] + p[who] + rng.normal(0, SIGMA, len(who))
            if v != "baseline":
                y = y + control_mean[v][j] + q[who] + arm * (effect_mean[v][j] + w_effect[who])
            blocks.append(pd.DataFrame({
                "patient": pid[who], "study": sid[j], "arm": arm, "period": period, "day": day,
                "_latent": y, "_j": j,
            }))
    frame = pd.concat(blocks, ignore_index=True)
    j = frame.pop("_j").to_numpy()
    latent = frame.pop("_latent").to_numpy()
    sc = scales[j]
    madrs = C.clip_round(latent, 0, 60)
    hrsd = C.clip_round(madrs_to_hrsd(np.clip(latent, 0, 60)) + rng.normal(0, HRSD_NOISE_SD, len(latent)), 0, 52)
    frame["madrs_total"] = np.where(sc == "hrsd17", np.nan, madrs)
    frame["hrsd17_total"] = np.where(sc == "madrs", np.nan, hrsd)
    frame["madrs_converted"] = False
    for f in STUDY_FEATURES:
        frame[f] = feat[f][j].astype(float)
    pidx = np.searchsorted(pid, frame["patient"].to_numpy())
    for m in mods:
        frame[m] = np.where(collects[m][j] == 1, mods[m][pidx], np.nan)

    # ---- options (own random streams: the default draw above never changes) -------------------
    extra_truth = {}
    if ecological:
        r_eco = C.rng_for(seed, 3)
        m_j = ECO_LOADING * D / SD_STUDY_EFFECT + r_eco.normal(0, 0.25, n_studies)
        eco = np.round(50 + 10 * (m_j[study_of] + r_eco.normal(0, 1, n)), 1)
        frame["expectancy"] = eco[pidx]
        means = np.array([eco[study_of == k].mean() for k in range(n_studies)])
        slope = float(np.polyfit(means[study_of], D[study_of], 1)[0])
        extra_truth["ecological"] = {"moderator": "expectancy", "within": 0.0, "study_means": means.tolist(),
                                     "across_points_per_unit": slope}
    if n_null:
        r_null = C.rng_for(seed, 5)
        names = [f"null_{k + 1:02d}" for k in range(n_null)]
        for k, name in enumerate(names):
            binary = k % 4 == 3
            vals = (r_null.random(n) < 0.4).astype(float) if binary else np.round(r_null.normal(0, 1, n), 2)
            collect = r_null.random(n_studies) < NULL_COLLECT_P
            if collect.sum() < 2:
                collect[r_null.permutation(n_studies)[:2]] = True
            vals = np.where(collect[study_of] & (r_null.random(n) >= NULL_SPORADIC_P), vals, np.nan)
            frame[name] = vals[pidx]
        extra_truth["null_moderators"] = names

    studies = {}
    for k, s in enumerate(sid.tolist()):
        studies[s] = {
            "n_patients": int(size[k]),
            "design": "crossover" if feat["crossover"][k] else "parallel",
            "scales": str(scales[k]),
            "rapid_day": float(rapid_day[k]),
            **{f: int(feat[f][k]) for f in STUDY_FEATURES},
            "collects": [m for m in mods if collects[m][k]],
            "intercept": float(A[k]),
            "effect_offset": float(D[k]),
            "control_change": {v: float(control_mean[v][k]) for v in VISITS},
            "effect_total": {v: float(effect_mean[v][k]) for v in VISITS},
        }
    truth = {
        "scenario": SCENARIO,
        "seed": int(seed),
        "sizes": {"n_studies": n_studies, "n_patients": n_patients},
        "visits": {"rapid": "the study's rapid_day (0.17, 1 or 3)", "week": WEEK_DAY},
        "alpha": ALPHA,
        "sd_study": SD_STUDY,
        "sd_patient": SD_PATIENT,
        "sd_change": SD_CHANGE,
        "sigma": SIGMA,
        "sd_study_effect": SD_STUDY_EFFECT,
        "hrsd_noise_sd": HRSD_NOISE_SD,
        "hrsd_link": {"madrs": LINK_MADRS.tolist(), "hrsd17": LINK_HRSD.tolist()},
        "control_change": dict(CONTROL_CHANGE),
        "control_moderators": CONTROL_MODERATORS,
        "effect": dict(EFFECT),
        "effect_moderators": EFFECT_MODERATORS,
        "patient_moderators": dict(lam),
        "moderator_centres": dict(MODERATOR_CENTRES),
        "studies": studies,
        **extra_truth,
    }
    truth["model"] = _model_truth(seed, frame, feat, x, A, D, control_mean, effect_mean, lam, mods, study_of, sid,
                                  extra_truth)
    notes = [
        f"simulated IPD meta-analysis: {n_studies} studies, {n_patients} patients, parallel and crossover, "
        "MADRS and/or HRSD-17 totals (bayes_ket.simulate.ipd_meta)"
    ]
    return C.finalize(frame, SCENARIO, truth, notes)


def _percent_effect(rng_state, A, control, effect, lam_dot_w=0.0):
    """Monte-Carlo ketamine - control difference of mean percent improvement, per visit (common
    random numbers for both arms; scores rounded and clipped as in the generator)."""
    p, q, e0, e1, w = rng_state
    y0 = ALPHA + A + p + e0
    b = np.clip(np.round(y0), 0, 60)
    ok = b > 0
    out = {}
    for v in VISITS:
        base = ALPHA + A + p + control[v] + q + e1[v]
        s1 = np.clip(np.round(base + effect[v] + w), 0, 60)
        s0 = np.clip(np.round(base), 0, 60)
        out[v] = float(np.mean(100.0 * (s0[ok] - s1[ok]) / b[ok]))
    return out


def _model_truth(seed, frame, feat, x, A, D, control_mean, effect_mean, lam, mods, study_of, sid, extra) -> dict:
    """What the ipd_meta model estimates, on the points and percent scales (module docstring)."""
    rng = C.rng_for(seed, 4)
    n = N_MONTE_CARLO
    first = frame[(frame["period"] == 1) & (frame["day"] == 0)]
    j_first = np.searchsorted(sid, first["study"].to_numpy())
    feat_mean = {f: float(feat[f][j_first].mean()) for f in STUDY_FEATURES}
    mod_mean = {m: float(mods[m].mean()) for m in mods}
    names = {"rapid": "rapid", "week": "post_rapid"}
    # points
    eff_pts = {v: EFFECT[v] + sum(EFFECT_MODERATORS[f][v] * feat_mean[f] for f in STUDY_FEATURES)
               + sum(lam[m] * (mod_mean[m] - MODERATOR_CENTRES[m]) for m in mods) for v in VISITS}
    ctl_pts = {v: CONTROL_CHANGE[v] + sum(CONTROL_MODERATORS[f][v] * feat_mean[f] for f in STUDY_FEATURES)
               for v in VISITS}
    w_study = np.array([sum(lam[m] * (mods[m][study_of == k].mean() - MODERATOR_CENTRES[m]) for m in mods)
                        for k in range(len(sid))])
    study_pts = {str(s): {names[v]: float(effect_mean[v][k] + w_study[k]) for v in VISITS} for k, s in enumerate(sid)}
    mod_pts = {m: {lv: {names[v]: lam[m] for v in VISITS} for lv in ("within", "across")} for m in mods}
    mod_pts |= {f: {"study": {names[v]: EFFECT_MODERATORS[f][v] for v in VISITS}} for f in STUDY_FEATURES}
    # percent (Monte Carlo)
    state = (rng.normal(0, SD_PATIENT, n), rng.normal(0, SD_CHANGE, n), rng.normal(0, SIGMA, n),
             {v: rng.normal(0, SIGMA, n) for v in VISITS}, 0.0)
    eff_pct = _percent_effect(state, 0.0, ctl_pts, eff_pts)
    up = _percent_effect(state, 0.0, ctl_pts, {v: eff_pts[v] + 0.5 for v in VISITS})
    down = _percent_effect(state, 0.0, ctl_pts, {v: eff_pts[v] - 0.5 for v in VISITS})
    slope = {v: up[v] - down[v] for v in VISITS}  # percent points per latent point of effect (negative)
    study_pct = {}
    for k, s in enumerate(sid):
        e = _percent_effect(state, float(A[k]), {v: control_mean[v][k] for v in VISITS},
                            {v: effect_mean[v][k] + w_study[k] for v in VISITS})
        study_pct[str(s)] = {names[v]: e[v] for v in VISITS}
    mod_pct = {m: {lv: {names[v]: slope[v] * lam[m] for v in VISITS} for lv in ("within", "across")} for m in mods}
    for f in STUDY_FEATURES:
        at = {}
        for level in (0.0, 1.0):
            shift = level - feat_mean[f]
            at[level] = _percent_effect(
                state, 0.0, {v: ctl_pts[v] + CONTROL_MODERATORS[f][v] * shift for v in VISITS},
                {v: eff_pts[v] + EFFECT_MODERATORS[f][v] * shift for v in VISITS})
        mod_pct[f] = {"study": {names[v]: at[1.0][v] - at[0.0][v] for v in VISITS}}
    points = {"effect": {names[v]: float(eff_pts[v]) for v in VISITS},
              "tau": {names[v]: SD_STUDY_EFFECT for v in VISITS}, "moderation": mod_pts, "study_effect": study_pts,
              "percent_per_point": {names[v]: slope[v] for v in VISITS}}
    percent = {"effect": {names[v]: eff_pct[v] for v in VISITS},
               "tau": {names[v]: abs(slope[v]) * SD_STUDY_EFFECT for v in VISITS}, "moderation": mod_pct,
               "study_effect": study_pct}
    for name in extra.get("null_moderators", []):
        for scale in (points, percent):
            scale["moderation"][name] = {lv: {"rapid": 0.0, "post_rapid": 0.0} for lv in ("within", "across")}
    if "ecological" in extra:
        a = extra["ecological"]["across_points_per_unit"]
        points["moderation"]["expectancy"] = {"within": {"rapid": 0.0, "post_rapid": 0.0},
                                              "across": {"rapid": a, "post_rapid": a}}
        percent["moderation"]["expectancy"] = {"within": {"rapid": 0.0, "post_rapid": 0.0},
                                               "across": {names[v]: slope[v] * a for v in VISITS}}
    return {"points": points, "percent": percent}


#: documented calibration ranges of the default draw (figure -> (lo, hi)); see calibration()
CALIBRATION = {
    "baseline_madrs_mean": (28.0, 35.0),
    "response_rapid_ketamine": (0.40, 0.57),
    "remission_rapid_ketamine": (0.18, 0.35),
    "response_rapid_control": (0.10, 0.30),
}


def calibration(trial) -> dict:
    """Calibration figures at the rapid visit (0 < day < 6), first period only as in the
    seed; response on MADRS where observed, else on HRSD-17 (percent change is about
    the same on both scales); remission MADRS <= 9 in studies that measured MADRS."""
    f = trial.frame
    f1 = f[f["period"] == 1].assign(score=lambda d: d["madrs_total"].fillna(d["hrsd17_total"]))
    b = f1[f1["day"] == 0].set_index("patient")
    r = f1[(f1["day"] > 0) & (f1["day"] < 6)].set_index("patient")
    resp = C.responded(b.loc[r.index, "score"], r["score"])
    rem = C.remitted(r["madrs_total"], 9)
    ket = r["arm"].to_numpy() == 1
    return {
        "baseline_madrs_mean": float(b["madrs_total"].mean()),
        "response_rapid_ketamine": C.share(resp[ket]),
        "remission_rapid_ketamine": C.share(rem[ket]),
        "response_rapid_control": C.share(resp[~ket]),
        "remission_rapid_control": C.share(rem[~ket]),
        "response_week_ketamine": _week(f1, b, 1),
        "response_week_control": _week(f1, b, 0),
    }


def _week(f1, b, arm) -> float:
    w = f1[(f1["day"] == WEEK_DAY) & (f1["arm"] == arm)].set_index("patient")
    return C.share(C.responded(b.loc[w.index, "score"], w["score"]))
