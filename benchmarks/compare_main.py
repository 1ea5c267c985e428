"""Behaviour unchanged: today's code against main at a reference commit, figure by figure, one run.

The reference tree is checked out with ``git archive`` into a temporary folder (its model
cards beside its package, as its installed form has them) and run in a separate process
with that folder first on ``PYTHONPATH``; today's code runs in another process. Both run the
same worker, which uses only names both versions have, with the same data, seeds and sampler
settings (4 chains x (1000 warm-up + 1000 draws) unless a figure says otherwise).

Each estimate is printed as new, old, |difference| and 2 Monte Carlo standard errors of the
difference (MCSE = posterior sd / sqrt(bulk ESS), combined); "agree" when |difference| <= that.
Timings are printed beside each other, without a verdict.

Run: python benchmarks/compare_main.py [--ref 419bb8d] [--only riesby,moa,pooled,sweep,items_brms,items_default,coverage]
Writes benchmarks/results/compare_main.txt.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

WORKER = r'''
import json, sys, time, warnings
warnings.simplefilter("ignore")
import numpy as np
import bayes_ket as bk
job = sys.argv[1]
FULL = dict(draws=1000, tune=1000, chains=4, seed=0, progressbar=False)

def rows(fit, quantities):
    s = fit.summary()
    out = []
    for q in quantities:
        t = s[s["quantity"] == q]
        for _, r in t.iterrows():
            at = [str(r[c]) for c in t.columns if c not in ("quantity", "mean", "sd", "lower", "upper",
                  "prob_positive", "r_hat", "ess_bulk", "ess_tail") and str(r[c]) not in ("nan", "None")]
            out.append([q + ("[" + ",".join(at) + "]" if at else ""), float(r["mean"]), float(r["sd"]),
                        float(r["ess_bulk"])])
    return out

res = {}
t0 = time.perf_counter()
if job == "riesby":
    f = bk.fit("trajectory", bk.datasets.riesby(), outcome="hrsd17_total", moderators=(), time="linear", **FULL)
    res["figures"] = rows(f, ["mean_trajectory", "sd_patient_intercept", "sd_patient_slope", "sigma"])
elif job == "moa":
    f = bk.fit("trajectory", bk.datasets.ketamine_moa(), moderators=(), **FULL)
    res["figures"] = rows(f, ["effect"])
elif job == "pooled":
    f = bk.fit("trajectory", bk.simulate("pooled_rct", seed=0), **FULL)
    res["figures"] = rows(f, ["effect", "moderation", "sigma", "response_rate"])
    d = f.diagnostics()
    res["timing"] = {"fit_s": time.perf_counter() - t0, "min_ess_bulk": d["min_ess_bulk"], "max_rhat": d["max_rhat"],
                     "divergences": d["divergences"]}
elif job == "sweep":
    trial = bk.simulate("pooled_rct", seed=0)
    base = 6.0
    grid = {"moderation_sigma": [base * f for f in (0.5, 1.0, 2.0, 4.0)]}
    table = bk.sweep("trajectory", trial, grid, method="auto", **FULL)
    t = table[(table["quantity"] == "moderation")]
    res["figures"] = [[f"moderation[sigma={r['moderation_sigma']:.3g},day={r['day']:g}]", float(r["mean"]),
                       float(r["sd"]), float(r["ess_bulk"])] for _, r in t.iterrows()]
    res["timing"] = {"sweep_s": time.perf_counter() - t0, "refit": int(table.attrs["refit"])}
elif job == "items_brms":  # the brms-matched structure (post-baseline rows, patient intercept, no study level)
    opts = dict(moderators=["msm"], time="visit", post_baseline_only=True, study_level="none")
    if "patient_change" in bk.cards.load_card("items").settings:
        opts["patient_change"] = False
        card = bk.cards.load_card("items").to_dict()
        card["settings"]["effect_parameterization"] = "centered"  # the old default, for an identical model
    else:
        card = "items"
    f = bk.fit(card, bk.simulate("pooled_rct", seed=0), **opts, **FULL)
    res["figures"] = rows(f, ["effect", "moderation"])
    res["timing"] = {"fit_s": time.perf_counter() - t0}
elif job == "items_default":  # the default call: allowed to change (issue: a clean default for items)
    f = bk.fit("items", bk.simulate("pooled_rct", seed=0), progressbar=False)
    res["figures"] = rows(f, ["effect", "moderation", "effect_mean"])
    d = f.diagnostics()
    res["timing"] = {"fit_s": time.perf_counter() - t0, "min_ess_bulk": d["min_ess_bulk"], "max_rhat": d["max_rhat"],
                     "divergences": d["divergences"], "min_ess_tail": d["min_ess_tail"]}
elif job == "coverage":
    from bayes_ket import calibration as cal
    kw = dict(replications=40, ci_prob=0.9, seed=7, fit_options={"draws": 500, "tune": 500, "chains": 2})
    table = cal.coverage("trajectory", cal.trajectory_trial, **kw) if hasattr(cal, "trajectory_trial") \
        else cal.coverage("trajectory", **kw)
    g = table.groupby("quantity")["covered"]
    res["figures"] = [[f"coverage[{q}]", float(v.mean()), float(np.sqrt(v.mean() * (1 - v.mean()) / len(v))), 1.0]
                      for q, v in g]
    res["timing"] = {"coverage_s": time.perf_counter() - t0}
print("RESULT " + json.dumps(res))
'''


def reference_tree(ref: str, folder: Path) -> Path:
    """The package at ``ref`` with its cards where its installed form puts them."""
    archive = folder / "ref.tar"
    with open(archive, "wb") as fh:
        subprocess.run(["git", "archive", ref, "bayes_ket", "models"], cwd=ROOT, stdout=fh, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(folder / "tree", filter="data")
    tree = folder / "tree"
    shutil.copytree(tree / "models", tree / "bayes_ket" / "model_cards")
    (tree / "bayes_ket" / "model_cards" / "__init__.py").touch()
    return tree


def run(job: str, tree: Path | None) -> dict:
    env = dict(os.environ, BAYES_KET_JAX_CACHE="0")
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    out = subprocess.run([sys.executable, "-c", WORKER, job], capture_output=True, text=True, env=env, cwd=tempfile.gettempdir())
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
    if not line:
        return {"error": out.stderr[-1500:]}
    return json.loads(line[0][7:])


def compare(new: dict, old: dict) -> list[str]:
    if "error" in new or "error" in old:
        return [f"  error: new={new.get('error', '')[-400:]} old={old.get('error', '')[-400:]}"]
    old_by = {name: (m, sd, ess) for name, m, sd, ess in old["figures"]}
    lines, agree = [], 0
    for name, m, sd, ess in new["figures"]:
        if name not in old_by:
            lines.append(f"  {name:46s} new {m:9.4f}   (not in the reference)")
            continue
        mo, sdo, esso = old_by[name]
        mcse = np.sqrt((sd / np.sqrt(max(ess, 1))) ** 2 + (sdo / np.sqrt(max(esso, 1))) ** 2)
        ok = abs(m - mo) <= 2 * mcse
        agree += ok
        lines.append(f"  {name:46s} new {m:9.4f}  old {mo:9.4f}  |diff| {abs(m - mo):.4f}  2 MCSE {2 * mcse:.4f}  "
                     f"{'agree' if ok else 'DIFFER'}")
    lines.append(f"  {agree} of {len(new['figures'])} figures within 2 MCSE")
    for key in ("timing",):
        if key in new:
            lines.append(f"  timing new {json.dumps(new[key], default=float)}")
            lines.append(f"  timing old {json.dumps(old.get(key, {}), default=float)}")
    return lines


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref", default="419bb8d")
    ap.add_argument("--only", default="riesby,moa,pooled,sweep,items_brms,items_default,coverage")
    args = ap.parse_args(argv)
    out = [f"# python benchmarks/compare_main.py --ref {args.ref}: today's code vs main at {args.ref}, same machine, "
           "one run each, cold compilation caches"]
    with tempfile.TemporaryDirectory() as tmp:
        tree = reference_tree(args.ref, Path(tmp))
        for job in args.only.split(","):
            print(f"== {job}", flush=True)
            new, old = run(job, None), run(job, tree)
            block = [f"== {job}"] + compare(new, old)
            print("\n".join(block[1:]), flush=True)
            out += block
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "compare_main.txt").write_text("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
