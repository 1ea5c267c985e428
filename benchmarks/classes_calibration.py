"""Calibration of the trajectory-classes family with the harness (bayes_ket.calibration).

- coverage: R trials of one fixed truth (``ClassesFamily.calibration_trial``: k of the real-world
  MADRS curves, random intercept, no protocol), 90% intervals of class_share (class) and
  class_trajectory (class x day, days 3, 10, 40) after relabelling; two-sided check with standard
  errors clustered by trial (``summarise_coverage``);
- SBC: R draws of the parameters from the prior (ordered class levels; ``ClassesFamily.prior_draws``),
  data from the model given them (``ClassesFamily.simulate``), ranks of every population-level free
  parameter (class levels, curve coefficients, shares, residual and patient SDs) among thinned
  posterior draws after relabelling; uniformity by ArviZ's simultaneous ECDF band (Bonferroni over
  parameters). The SBC card narrows the residual / patient SD priors and raises the Dirichlet
  concentration (classes of a size and separation a trajectory analysis can identify); the same card
  generates and fits, so the check is exact for it.

usage: python benchmarks/classes_calibration.py [--coverage R] [--sbc R] [--k K] [--sbc-k K]
Writes benchmarks/results/classes_coverage.csv, classes_coverage_summary.csv, classes_sbc.csv,
classes_sbc_uniformity.csv.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from bayes_ket.calibration import coverage, sbc, sbc_uniformity, summarise_coverage
from bayes_ket.cards import load_card

OUT = Path(__file__).resolve().parent / "results"
FIT = {"draws": 500, "tune": 500, "chains": 2}


def card(k: int, sbc_priors: bool = False):
    c = load_card("classes")
    c.settings["k"] = k
    if sbc_priors:
        c.priors["sigma_sigma"]["value"] = 0.08
        c.priors["sd_patient_intercept_sigma"]["value"] = 0.08
        c.priors["class_coef_sigma"]["value"] = 0.25
        c.priors["class_share_concentration"]["value"] = 5.0
    return c


def run_coverage(replications: int, k: int, n_patients: int, seed: int = 1):
    t0 = time.perf_counter()
    table = coverage(card(k), replications=replications, ci_prob=0.9, seed=seed, fit_options=FIT,
                     n_patients=n_patients, k=k)
    summary = summarise_coverage(table, 0.9).assign(seconds=time.perf_counter() - t0, k=k, n_patients=n_patients)
    table.to_csv(OUT / "classes_coverage.csv", index=False)
    summary.to_csv(OUT / "classes_coverage_summary.csv", index=False)
    return summary, table


def run_sbc(replications: int, k: int, n_patients: int, seed: int = 1):
    t0 = time.perf_counter()
    table = sbc(card(k, sbc_priors=True), replications=replications, thin_to=99, seed=seed, fit_options=FIT,
                sizes={"n_patients": n_patients, "k": k})
    u = sbc_uniformity(table).assign(seconds=time.perf_counter() - t0, k=k, n_patients=n_patients)
    table.to_csv(OUT / "classes_sbc.csv", index=False)
    u.to_csv(OUT / "classes_sbc_uniformity.csv", index=False)
    return u, table


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--coverage", type=int, default=40)
    p.add_argument("--sbc", type=int, default=100)
    p.add_argument("--k", type=int, default=3, help="classes of the coverage truth")
    p.add_argument("--n-patients", type=int, default=150, help="patients per coverage trial")
    p.add_argument("--sbc-k", type=int, default=2)
    p.add_argument("--sbc-n-patients", type=int, default=100)
    args = p.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    if args.coverage:
        s, t = run_coverage(args.coverage, args.k, args.n_patients)
        print(s.to_string())
        print("replications with divergences:", int((t.drop_duplicates("replication")["divergences"] > 0).sum()))
    if args.sbc:
        u, t = run_sbc(args.sbc, args.sbc_k, args.sbc_n_patients)
        print(u.to_string())
        print("replications with divergences:", int((t.drop_duplicates("replication")["divergences"] > 0).sum()))


if __name__ == "__main__":
    main()
