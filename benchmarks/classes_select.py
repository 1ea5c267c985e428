"""K selection with bk.select_classes on the real-world design, seeds fixed in advance.

- four-class cohorts (the default simulation), seeds 0-4: is the true K = 4 recommended, or is its elpd
  within one se_diff of the recommended k;
- one-class cohorts (simulate(..., classes=1)), seeds 0-2: is K = 1 recommended (no phantom classes).

Each run compares k = 1..6 with the plain call bk.select_classes(trial) (select_classes' default draws,
4 chains x (500 + 500) per k); --covariates infusions passes covariates=("infusions",). The wall time
of each selection is recorded (target: under 5 minutes on 2 cores; the figures are inflated when other
jobs share the machine). Results: benchmarks/results/classes_select.txt.

usage: python benchmarks/classes_select.py [--four 0 1 2 3 4] [--one 0 1 2] [--k 1 2 3 4 5 6] [--covariates infusions]
Writes benchmarks/results/classes_select[_covariates].csv (one row per cohort x k) and ..._summary.csv.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

import bayes_ket as bk

OUT = Path(__file__).resolve().parent / "results"


def run(trial, ks, label, seed, true_k, covariates=()):
    t0 = time.perf_counter()
    options = {"covariates": tuple(covariates)} if covariates else {}
    table = bk.select_classes(trial, k=ks, seed=seed, **options)
    seconds = time.perf_counter() - t0
    rec = int(table.loc[table.recommended, "k"].iloc[0])
    t = table.set_index("k")
    pw = table.attrs["pointwise_elpd"]
    diff = np.asarray(pw[rec]) - np.asarray(pw[true_k])
    se_true_rec = float(np.sqrt(len(diff) * np.var(diff)))
    gap = float(diff.sum())
    # one-class cohorts must recommend k = 1 itself; four-class cohorts: k = 4, or within one se_diff
    ok = rec == true_k or (true_k != 1 and gap <= se_true_rec)
    summary = {"cohort": label, "seed": seed, "true_k": true_k, "recommended": rec, "pass": bool(ok),
               "elpd_gap_true": round(gap, 2), "se_diff_true": round(se_true_rec, 2),
               "seconds": round(seconds, 1), "why": t.loc[rec, "why"],
               "elpd": " ".join(f"{k}:{v:.1f}" for k, v in t["elpd_loo"].items()),
               "se_diff": " ".join(f"{k}:{v:.1f}" for k, v in t["se_diff"].items()),
               "bic_best_k": int(t["bic"].idxmin()), "n_kfold": int(t["n_kfold"].sum())}
    return table.assign(cohort=label, seed=seed, true_k=true_k, selection_seconds=seconds), summary


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--four", type=int, nargs="*", default=[0, 1, 2, 3, 4])
    p.add_argument("--one", type=int, nargs="*", default=[0, 1, 2])
    p.add_argument("--k", type=int, nargs="*", default=[1, 2, 3, 4, 5, 6])
    p.add_argument("--covariates", nargs="*", default=[])
    args = p.parse_args()
    tag = "_covariates" if args.covariates else ""
    OUT.mkdir(parents=True, exist_ok=True)
    tables, summaries = [], []
    jobs = [("four classes", s, 4, {}) for s in args.four] + [("one class", s, 1, {"classes": 1}) for s in args.one]
    for label, seed, true_k, options in jobs:
        trial = bk.simulate("real_world", seed=seed, **options)
        table, summary = run(trial, args.k, label, seed, true_k, args.covariates)
        tables.append(table)
        summaries.append(summary)
        print(summary, flush=True)
        pd.concat(tables).to_csv(OUT / f"classes_select{tag}.csv", index=False)
        pd.DataFrame(summaries).to_csv(OUT / f"classes_select{tag}_summary.csv", index=False)
    with pd.option_context("display.width", 250, "display.max_columns", 20, "display.max_colwidth", 80):
        print(pd.DataFrame(summaries))


if __name__ == "__main__":
    main()
