"""Items model vs brms on the seed-000 design (issue 4).

    python benchmarks/items_vs_brms.py [--out DIR] [--csv-only] [--brms-output FILE] [--no-brms]

1. writes the long CSV (patient, study, arm, msm, day, item, score) of
   bk.simulate("pooled_rct", seed=0) that benchmarks/brms_items.R reads;
2. fits the items model in brms's structure (post-baseline rows only, visits as
   factors, item effects constant over visits, patient intercept, MSM centred at its
   patient mean, no study term, priors widened towards brms's defaults), 4 chains x
   (1000 tune + 1000 draws), and prints time, min bulk ESS, max R-hat, divergences,
   ESS/s (the package docs metric: population parameters and summary quantities, wall time of
   bk.fit including compilation) and the per-item effect / moderation means;
3. when Rscript with brms is available (or --brms-output names a saved run), runs or
   reads items.R on the same CSV and prints its line and the max absolute differences.

Run it in a fresh process for the cold-cache timing.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ITEMS_R = Path(__file__).resolve().parent / "brms_items.R"
#: brms: flat priors on b, student_t(3, 0, 2.5) on SDs; ours widened to be weak at this scale
BRMS_LIKE_PRIORS = {"effect_mu_sigma": 5.0, "effect_pool_sigma": 2.5, "moderation_mu_sigma": 5.0,
                    "moderation_pool_sigma": 2.5, "trajectory_sigma": 5.0, "moderator_effect_sigma": 5.0,
                    "cutpoint_sigma": 5.0}


def write_csv(path: Path) -> pd.DataFrame:
    import bayes_ket as bk

    trial = bk.simulate("pooled_rct", seed=0)
    f = trial.frame
    items = [f"madrs_{i}" for i in range(1, 11)]
    long = f.melt(id_vars=["patient", "study", "arm", "msm", "day"], value_vars=items, var_name="item",
                  value_name="score").dropna(subset=["score"])
    long["score"] = long["score"].astype(int)
    long = long.sort_values(["patient", "day", "item"], key=lambda c: c.map(
        lambda v: int(v.split("_")[1]) if isinstance(v, str) and v.startswith("madrs_") else v))
    long.to_csv(path, index=False)
    return long


def fit_ours(draws=1000, tune=1000, chains=4):
    import bayes_ket as bk

    trial = bk.simulate("pooled_rct", seed=0)
    t0 = time.perf_counter()
    fit = bk.fit("items", trial, moderators=["msm"], time="visit", post_baseline_only=True, study_level="none",
                 patient_change=False,
                 priors=BRMS_LIKE_PRIORS, draws=draws, tune=tune, chains=chains, seed=1, progressbar=False)
    total = time.perf_counter() - t0
    return fit, total


def parse_brms(text: str):
    line = next((ln for ln in text.splitlines() if ln.startswith("brms-items")), None)
    figures = dict(re.findall(r"(\w+)=([\d.]+)", line)) if line else {}
    rows = {}
    for ln in text.splitlines():
        m = re.match(r"^\s*(madrs_\d+)\s+(-?[\d.]+)\s+(-?[\d.]+)\s*$", ln)
        if m:
            rows[m.group(1)] = (float(m.group(2)), float(m.group(3)))
    est = pd.DataFrame(rows, index=["effect", "moderation"]).T if rows else None
    return line, figures, est


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--csv-only", action="store_true")
    ap.add_argument("--no-brms", action="store_true")
    ap.add_argument("--brms-output", help="a saved items.R output to compare with instead of running R")
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    csv = out / "items_seed0.csv"
    long = write_csv(csv)
    print(f"wrote {csv}: {len(long)} item scores, {int((long.day > 0).sum())} post-baseline")
    if args.csv_only:
        return

    fit, total = fit_ours(args.draws, args.tune, args.chains)
    diag = fit.diagnostics()
    ess = diag["min_ess_bulk"]
    print(f"ours-items total_s={total:.1f} build_s={fit.meta['timing']['build_s']:.1f} "
          f"sample_s={fit.meta['timing']['sample_s']:.1f} min_ess_bulk={ess:.0f} max_rhat={diag['max_rhat']:.3f} "
          f"ess_per_s_total={ess / total:.2f} divergences={diag['divergences']} "
          f"(chains={args.chains}, tune={args.tune}, draws={args.draws}, rows={fit.meta['rows_used']})")
    eff = fit.idata.posterior["effect"].mean(("chain", "draw")).to_series()
    mod = fit.idata.posterior["moderation"].sel(moderator="msm").mean(("chain", "draw")).to_series()
    ours = pd.DataFrame({"effect": eff.to_numpy(), "moderation": mod.to_numpy()},
                        index=[f"madrs_{i}" for i in range(1, 11)])
    ours.insert(0, "item_name", eff.index)
    print(ours.round(3).to_string())

    text = None
    if args.brms_output:
        text = Path(args.brms_output).read_text()
    elif not args.no_brms and shutil.which("Rscript"):
        script = ITEMS_R
        print(f"running {script} (brms; several minutes) ...", flush=True)
        res = subprocess.run(["Rscript", str(script), str(csv)], capture_output=True, text=True)
        text = res.stdout + res.stderr
        (out / "items_brms.txt").write_text(text)
    if text is None:
        print("brms: not run (no Rscript with brms; pass --brms-output FILE to compare with a saved run)")
        return
    line, figures, est = parse_brms(text)
    print(line or "brms: no figures line in its output")
    if est is not None:
        both = ours.join(est.add_suffix("_brms"))
        both["d_effect"] = both["effect"] - both["effect_brms"]
        both["d_moderation"] = both["moderation"] - both["moderation_brms"]
        print(both.round(3).to_string())
        print(f"max |ours - brms|: effect {both['d_effect'].abs().max():.3f}, "
              f"moderation {both['d_moderation'].abs().max():.3f} (brms estimates printed to 2 decimals)")
        if figures.get("ess_per_s_total"):
            print(f"ESS/s ratio ours / brms: {ess / total / float(figures['ess_per_s_total']):.1f}x")


if __name__ == "__main__":
    sys.exit(main())
