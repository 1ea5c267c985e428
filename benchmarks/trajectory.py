"""Trajectory model benchmarks: speed (speed metric), real data, coverage, misspecification.

Run: python benchmarks/trajectory.py [--coverage-reps 100] [--skip-brms]
Prints figures and writes benchmarks/results/trajectory.txt. Speed is measured in a
fresh process (imports + compilation included), 4 chains x (1000 tune + 1000 draws).
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BRMS = HERE / "brms_totals.R"

FRESH = r"""
import time, json, warnings
t0 = time.perf_counter()
import bayes_ket as bk
trial = bk.simulate("pooled_rct", seed=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    fit = bk.fit("trajectory", trial, seed=0, progressbar=False, tune=1000, draws=1000)
    wall = time.perf_counter() - t0
    d = fit.diagnostics()
    s = fit.summary()
print(json.dumps({"wall_s": wall, "fit_s": fit.meta["timing"]["total_s"], "divergences": d["divergences"],
                  "max_rhat": d["max_rhat"], "min_ess_bulk": d["min_ess_bulk"],
                  "effect": s[s.quantity == "effect"][["day", "mean"]].values.tolist(),
                  "moderation": s[s.quantity == "moderation"][["day", "mean"]].values.tolist(),
                  "truth_effect": trial.truth["effect_total"], "truth_moderation": trial.truth["moderation_total"]}))
"""


def speed():
    out = subprocess.run([sys.executable, "-c", FRESH], capture_output=True, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    r["ess_per_s"] = r["min_ess_bulk"] / r["wall_s"]
    return r


def brms(csv_dir):
    if not shutil.which("Rscript") or not BRMS.exists():
        return None
    import bayes_ket as bk

    f = bk.simulate("pooled_rct", seed=0).frame.dropna(subset=["madrs_total"])
    csv = Path(csv_dir) / "totals.csv"
    f.rename(columns={"madrs_total": "score"})[["patient", "study", "arm", "msm", "day", "score"]].to_csv(csv, index=False)
    out = subprocess.run(["Rscript", str(BRMS), str(csv), "fixed"], capture_output=True, text=True)
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("brms-totals")]
    if not line:
        return {"error": out.stderr[-500:]}
    fields = dict(kv.split("=") for kv in line[0].split()[1:])
    return {k: float(v) for k, v in fields.items()} | {"raw": out.stdout}


def real_data():
    import warnings

    import statsmodels.formula.api as smf

    import bayes_ket as bk

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = bk.fit("trajectory", bk.datasets.riesby(), outcome="hrsd17_total", moderators=(), time="linear",
                   seed=0, progressbar=False)
        s = f.summary().set_index(["quantity", "day"])
        k = bk.fit("trajectory", bk.datasets.ketamine_moa(), moderators=(), seed=0, progressbar=False)
        ks = k.summary()
    m0, m35 = s.loc[("mean_trajectory", 0.0), "mean"], s.loc[("mean_trajectory", 35.0), "mean"]
    riesby = {
        "intercept": (m0, 23.58), "slope_per_week": ((m35 - m0) / 5, -2.38),
        "sd_intercept": (s.xs("sd_patient_intercept", level=0)["mean"].iloc[0], 12.63 ** 0.5),
        "sd_slope_per_day": (s.xs("sd_patient_slope", level=0)["mean"].iloc[0], 2.08 ** 0.5 / 7),
        "sigma": (s.xs("sigma", level=0)["mean"].iloc[0], 12.22 ** 0.5),
        "diagnostics": {kk: f.diagnostics()[kk] for kk in ("divergences", "max_rhat", "min_ess_bulk")},
    }
    fr = bk.datasets.ketamine_moa().frame.dropna(subset=["madrs_total"]).copy()
    fr["d2"], fr["d10"], fr["p2"] = (fr.day == 2) * 1.0, (fr.day == 10) * 1.0, (fr.period == 2) * 1.0
    fr["k2"], fr["k10"] = fr.d2 * fr.arm, fr.d10 * fr.arm
    ml = smf.mixedlm("madrs_total ~ d2 + d10 + k2 + k10 + p2", fr, groups=fr["patient"]).fit(reml=True)
    ours = ks[(ks.quantity == "effect") & (ks.day == 2.0)].iloc[0]
    moa = {"ours_day2": (ours["mean"], ours["sd"]), "mixedlm_day2": (ml.params["k2"], ml.bse["k2"]),
           "diff_in_se": (ours["mean"] - ml.params["k2"]) / ml.bse["k2"]}
    return riesby, moa


def coverage(reps):
    from bayes_ket.calibration import coverage as cov, summarise_coverage

    t0 = time.perf_counter()
    table = cov("trajectory", replications=reps, ci_prob=0.9, seed=7,
                fit_options={"draws": 500, "tune": 500, "chains": 2})
    return summarise_coverage(table), table["divergences"].sum(), time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--coverage-reps", type=int, default=100)
    ap.add_argument("--skip-brms", action="store_true")
    args = ap.parse_args()
    lines = []
    say = lambda s: (print(s, flush=True), lines.append(s))
    r = speed()
    say(f"bayes_ket trajectory (pooled_rct, fresh process, 4x(1000+1000)): wall {r['wall_s']:.1f} s "
        f"(bk.fit {r['fit_s']:.1f} s), min bulk ESS {r['min_ess_bulk']:.0f}, max R-hat {r['max_rhat']:.3f}, "
        f"divergences {r['divergences']}, ESS/s {r['ess_per_s']:.1f}")
    te, tm = r["truth_effect"], r["truth_moderation"]
    for day, est in r["effect"]:
        say(f"  misspecification check day {day:g}: effect {est:.2f} vs Monte-Carlo truth "
            f"{te[str(day)] if str(day) in te else te.get(day, float('nan')):.2f} points")
    for day, est in r["moderation"]:
        say(f"  moderation day {day:g}: {est:.2f} vs Monte-Carlo truth {tm[str(day)]:.2f} points per MSM point")
    if not args.skip_brms:
        with tempfile.TemporaryDirectory() as tmp:
            b = brms(tmp)
        if b is None:
            say("brms: Rscript/brms not installed here; brms reference figure (issue 3): ~24 ESS/s")
        elif "error" in b:
            say(f"brms failed: {b['error']}")
        else:
            say(f"brms fixed study (same data, same run): total {b['total_s']:.1f} s, min ESS {b['min_ess_bulk']:.0f}, "
                f"ESS/s {b['ess_per_s_total']:.1f}, divergences {b['divergences']:.0f}; "
                f"ratio ours/brms = {r['ess_per_s'] / b['ess_per_s_total']:.2f}")
    riesby, moa = real_data()
    say("Riesby (estimate, Hedeker & Gibbons ML): " + json.dumps({k: v for k, v in riesby.items()}, default=float))
    say("ketamine_moa day-2 ketamine - placebo (mean, sd / coef, se): " + json.dumps(moa, default=float))
    if args.coverage_reps:
        table, div, secs = coverage(args.coverage_reps)
        say(f"coverage of 90% intervals, {args.coverage_reps} replications ({secs:.0f} s, {div} divergences total):")
        say(table.to_string(index=False))
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "trajectory.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
