"""Recovery of the trajectory-classes family on the real-world design, seeds fixed in advance (0-4).

For each seed:
- default: bk.fit("classes", trial), the call users run (the card: K = 4, log time, degree 2,
  random intercept, its draws and target_accept): time, divergences, R-hat, ESS; class-share MAE
  against truth["class_share_observed"]; 90% class-curve intervals against the true curves on the
  4-infusion schedule; assignment accuracy against the oracle (the Bayes classifier with the true
  parameters, MADRS only) and against maximum likelihood's plug-in classifier (the best of 8 EM
  fits of the same model, its most probable class per patient: what an estimator without the
  truth gets on the same data);
- base: the same with covariates=("infusions",) (the 6-infusion protocol's shift; the curves are
  then those of the reference 4-infusion protocol, where the truth has no shift);
- predictors: the same on simulate(..., predictors=True) with predictors=("msm", "age"): do the 90%
  (and 95%) intervals of the class_predictor log-odds cover the truth;
- dual: simulate(..., linked=True) with k=(4, 4), outcome=("madrs_total", "gad7_total"): mean and
  largest absolute difference of P(class_2 | class) from the realised table.

usage: python benchmarks/classes_recovery.py [--seeds 0 1 2 3 4] [--parts default base predictors dual]
Writes benchmarks/results/classes_recovery.csv (one row per seed x part) and prints it.
Timings are wall-clock on the machine as it is (others' jobs inflate them).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import bayes_ket as bk
from bayes_ket.families import classes_post as cp
from bayes_ket.simulate import real_world as R

OUT = Path(__file__).resolve().parent / "results"
FOUR_DAYS = [0.0, 3.0, 7.0, 10.0, 17.0, 40.0]


def oracle_accuracy(trial) -> float:
    """Most probable class under the true parameters (MADRS, random intercept, protocol shift)."""
    f = trial.frame
    names = trial.truth["class_names"]
    props = np.array([trial.truth["class_proportions"][c] for c in names])
    pats = list(dict.fromkeys(f["patient"]))
    truth = np.array([names.index(trial.truth["patient_class"][p]) for p in pats])
    LL = np.zeros((len(pats), len(names)))
    s2, t2 = R.SIGMA["madrs"] ** 2, R.SD_INTERCEPT["madrs"] ** 2
    for i, (_, g) in enumerate(f.groupby("patient", sort=False)):
        d, y = g["day"].to_numpy(), g["madrs_total"].to_numpy()
        L = np.log1p(d)
        shift = R.PROTOCOL_EFFECT["madrs"] * np.minimum(L, R.L_END_SIX) / R.L_END_SIX if g.infusions.iloc[0] == 6 else 0
        for k in range(len(names)):
            r = y - (R.class_curve("madrs", k, d) + shift)
            n = len(y)
            LL[i, k] = -0.5 * (n * np.log(2 * np.pi * s2) + np.log1p(n * t2 / s2) + r @ r / s2
                               - t2 / (s2 * (s2 + n * t2)) * r.sum() ** 2)
    return float(((LL + np.log(props)).argmax(axis=1) == truth).mean())


def ml_plugin_accuracy(trial) -> float:
    """Most probable class under the maximum-likelihood fit (best of 8 EM starts) of the card's model
    without covariates, classes numbered by their mean at the ordering day as the fit numbers them."""
    from bayes_ket.cards import load_card
    from bayes_ket.families import get

    d = get("classes").design(trial, load_card("classes"))
    em = cp.em_start([d.outcomes[0].stats], d.q, 4, np.random.default_rng(0), starts=8, intercept=True)
    order = np.argsort(em["theta"][0][:, d.level_index])
    top = pd.Series(em["resp"][:, order].argmax(axis=1), index=[str(p) for p in d.patients])
    names = trial.truth["class_names"]
    truth = pd.Series({str(p): names.index(c) for p, c in trial.truth["patient_class"].items()})
    return float((top == truth.loc[top.index]).mean())


def fit(trial, **options):
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = bk.fit("classes", trial, progressbar=False, **options)
        s = f.summary(ci_prob=0.9)
    return f, s, time.perf_counter() - t0


def diag_row(f, seconds) -> dict:
    d = f.diagnostics()
    return {"seconds": round(seconds, 1), "fit_total_s": round(f.meta["timing"]["total_s"], 1),
            "divergences": d["divergences"], "max_rhat": round(d["max_rhat"], 4),
            "min_ess_bulk": round(d["min_ess_bulk"]), "min_ess_tail": round(d["min_ess_tail"]),
            "relabelled_share": d.get("relabelled_share"), "chain_mode_groups": d.get("chain_mode_groups"),
            "ok": d["ok"], "reasons": "; ".join(d["reasons"])}


def default(seed: int) -> dict:
    return recovery(seed, "default")


def base(seed: int) -> dict:
    return recovery(seed, "base", covariates=("infusions",))


def recovery(seed: int, part: str, **options) -> dict:
    trial = bk.simulate("real_world", seed=seed)
    f, s, seconds = fit(trial, **options)
    names = trial.truth["class_names"]
    share = s[s.quantity == "class_share"].set_index("class")["mean"]
    assigned = s[s.quantity == "class_share_assigned"].set_index("class")["mean"]
    obs = np.array([trial.truth["class_share_observed"][c] for c in names])
    tr = s[(s.quantity == "class_trajectory") & s["day"].isin(FOUR_DAYS)]
    covered = []
    for _, row in tr.iterrows():
        k = int(row["class"]) - 1
        covered.append(row["lower"] <= R.class_curve("madrs", k, row["day"]) <= row["upper"])
    m = f.membership()
    top = m[m["assigned"]].set_index("patient")["class"].astype(int) - 1
    truth = pd.Series({p: names.index(c) for p, c in trial.truth["patient_class"].items()})
    acc = float((top == truth.loc[top.index]).mean())
    oracle = oracle_accuracy(trial)
    ml = ml_plugin_accuracy(trial)
    return {"seed": seed, "part": part, **diag_row(f, seconds),
            "share_mae": float(np.abs(share.to_numpy() - obs).mean()),
            "assigned_share_mae": float(np.abs(assigned.to_numpy() - obs).mean()),
            "curve_coverage_90": float(np.mean(covered)), "curve_points": len(covered),
            "accuracy": acc, "oracle_accuracy": oracle, "accuracy_gap": oracle - acc,
            "ml_plugin_accuracy": ml, "ml_plugin_gap": oracle - ml,
            "shares": json.dumps(share.round(3).tolist()), "shares_true": json.dumps(obs.round(3).tolist())}


def predictors(seed: int) -> dict:
    trial = bk.simulate("real_world", seed=seed, predictors=True)
    f, s, seconds = fit(trial, covariates=("infusions",), predictors=("msm", "age"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s95 = f.summary(ci_prob=0.95, quantities=["class_predictor"])
    names = trial.truth["class_names"]
    coef = trial.truth["predictor_coef"]
    cov90, cov95, rows = [], [], []
    for t, bucket in ((s[s.quantity == "class_predictor"], cov90), (s95, cov95)):
        for _, row in t.iterrows():
            true = coef[names[int(row["class"]) - 1]][row["predictor"]]
            bucket.append(row["lower"] <= true <= row["upper"])
            if bucket is cov90:
                rows.append(f"{row['class']}:{row['predictor']} {row['mean']:.3f} [{row['lower']:.3f}, "
                            f"{row['upper']:.3f}] true {true}")
    return {"seed": seed, "part": "predictors", **diag_row(f, seconds),
            "predictor_coverage_90": float(np.mean(cov90)), "predictor_coverage_95": float(np.mean(cov95)),
            "predictor_estimates": " | ".join(rows)}


def dual(seed: int) -> dict:
    trial = bk.simulate("real_world", seed=seed, linked=True)
    f, s, seconds = fit(trial, k=(4, 4), outcome=("madrs_total", "gad7_total"), covariates=("infusions",))
    names = trial.truth["class_names"]
    obs = trial.truth["conditional_class_observed"]
    table = np.array([[obs[a][b] for b in names] for a in names])
    est = f.draws("conditional_class").mean(("chain", "draw")).transpose("class", "class_2").to_numpy()
    share2 = s[s.quantity == "class_share_2"]["mean"].to_numpy()
    obs2 = np.array([trial.truth["class_share_observed_2"][c] for c in names])
    return {"seed": seed, "part": "dual", **diag_row(f, seconds),
            "conditional_mae": float(np.nanmean(np.abs(est - table))),
            "conditional_max": float(np.nanmax(np.abs(est - table))),
            "share_mae": float(np.abs(share2 - obs2).mean()),
            "conditional_estimate": json.dumps(est.round(2).tolist()),
            "conditional_realised": json.dumps(table.round(2).tolist())}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2, 3, 4])
    p.add_argument("--parts", nargs="*", default=["default", "base", "predictors", "dual"])
    p.add_argument("--out", default=str(OUT / "classes_recovery.csv"))
    args = p.parse_args()
    rows = []
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for part in args.parts:
        for seed in args.seeds:
            row = {"default": default, "base": base, "predictors": predictors, "dual": dual}[part](seed)
            rows.append(row)
            print(json.dumps(row), flush=True)
            pd.DataFrame(rows).to_csv(out, index=False)
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 250, "display.max_columns", 40):
        print(table.drop(columns=[c for c in table if c.endswith(("estimate", "realised", "estimates"))]))


if __name__ == "__main__":
    main()
