"""Agreement with maximum likelihood: the classes model with random="none" and weak priors against
flexmix (R, benchmarks/classes_flexmix.R: flexmix(y ~ L + I(L^2) | patient, k = 4), 10 EM restarts)
on the same CSV (the real-world design, seed 0, MADRS).

Both are the plain group-based trajectory model (quadratic in L = log(1 + day), a residual SD per class
as flexmix's Gaussian components have, no patient effects). Classes are matched by their mean at day 7 (both numbered lowest first). For each
class x day the difference of the class means is compared with the standard errors (our posterior SD,
flexmix's delta-method SE from refit()); the shares likewise (flexmix reports no SE for its priors: a
binomial sqrt(p(1-p)/N) stands in).

usage: python benchmarks/classes_flexmix.py [--seed 0] [--k 4]
Writes benchmarks/results/classes_flexmix.csv (class x day rows, both estimates) and
classes_flexmix_summary.json; needs Rscript with flexmix (Debian's r-cran-flexmix).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import bayes_ket as bk

HERE = Path(__file__).resolve().parent
OUT = HERE / "results"
#: weak priors: class means N(30, 300), coefficients N(0, 600), residual SD half-normal(600), uniform shares
WEAK = {"class_level_sigma": 300.0, "class_coef_sigma": 600.0, "sigma_sigma": 600.0, "class_share_concentration": 1.0}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--k", type=int, default=4)
    args = p.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    trial = bk.simulate("real_world", seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.csv"
        fm_out = Path(tmp) / "flexmix.csv"
        trial.frame[["patient", "day", "madrs_total"]].dropna().rename(columns={"madrs_total": "y"}).to_csv(
            data, index=False)
        t0 = time.perf_counter()
        run = subprocess.run(["Rscript", str(HERE / "classes_flexmix.R"), str(data), str(fm_out), str(args.k), "10"],
                             capture_output=True, text=True, check=True)
        r_seconds = time.perf_counter() - t0
        fm = pd.read_csv(fm_out)
    print(run.stdout.strip())
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = bk.fit("classes", trial, k=args.k, random="none", residual_sd="class", priors=WEAK,
                     progressbar=False)
        s = fit.summary(ci_prob=0.9)
    ours_seconds = time.perf_counter() - t0
    diag = fit.diagnostics()
    tr = s[s.quantity == "class_trajectory"][["class", "day", "mean", "sd"]].copy()
    tr["class"] = tr["class"].astype(int)
    both = tr.merge(fm[["class", "day", "mean", "se"]], on=["class", "day"], suffixes=("_bayes", "_flexmix"))
    both["diff"] = both["mean_bayes"] - both["mean_flexmix"]
    both["within_se"] = both["diff"].abs() <= np.maximum(both["sd"], both["se"])
    shares = s[s.quantity == "class_share"][["class", "mean", "sd"]].assign(**{"class": lambda x: x["class"].astype(int)})
    fs = fm.drop_duplicates("class")[["class", "share", "share_se", "sigma"]]
    sh = shares.merge(fs, on="class")
    sh["diff"] = sh["mean"] - sh["share"]
    sh["within_se"] = sh["diff"].abs() <= np.maximum(sh["sd"], sh["share_se"])
    sig = fit.draws("sigma")
    sh = sh.merge(pd.DataFrame({"class": sig["class"].astype(int).values, "sigma_bayes": sig.mean(("chain", "draw")).values,
                                "sigma_sd": sig.std(("chain", "draw")).values}), on="class")
    summary = {
        "seed": args.seed, "k": args.k,
        "curve_points": int(len(both)), "curve_within_se": float(both["within_se"].mean()),
        "curve_max_abs_diff": float(both["diff"].abs().max()),
        "curve_max_diff_over_se": float((both["diff"].abs() / np.maximum(both["sd"], both["se"])).max()),
        "share_within_se": float(sh["within_se"].mean()), "share_max_abs_diff": float(sh["diff"].abs().max()),
        "shares_bayes": sh["mean"].round(3).tolist(), "shares_flexmix": sh["share"].round(3).tolist(),
        "sigma_bayes": sh["sigma_bayes"].round(3).tolist(), "sigma_flexmix": sh["sigma"].round(3).tolist(),
        "sigma_within_sd": float(((sh["sigma_bayes"] - sh["sigma"]).abs() <= sh["sigma_sd"]).mean()),
        "flexmix_seconds": round(float(fm["seconds"].iloc[0]), 1), "rscript_seconds": round(r_seconds, 1),
        "bayes_seconds": round(ours_seconds, 1), "divergences": diag["divergences"],
        "max_rhat": round(diag["max_rhat"], 4), "min_ess_bulk": round(diag["min_ess_bulk"]),
        "relabelled_share": diag.get("relabelled_share"), "flexmix_loglik": float(fm["loglik"].iloc[0]),
        "flexmix_bic": float(fm["bic"].iloc[0]),
    }
    both.to_csv(OUT / "classes_flexmix.csv", index=False)
    (OUT / "classes_flexmix_summary.json").write_text(json.dumps(summary, indent=2))
    with pd.option_context("display.width", 200):
        print(both.round(3).to_string())
        print(sh.round(3).to_string())
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
