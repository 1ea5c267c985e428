"""Speed where users feel it: one table, medians of 3 runs, brms in the same run.

Every bayes_ket figure comes from a fresh process running the default call ``bk.fit(model,
trial)`` (the card's draws and warm-up) with the persistent compilation cache off (cold: the
speed metric), unless a row says otherwise. ESS/s = min bulk ESS over the population-level
parameters and summary quantities / wall time of the whole process (imports, build, compile,
sampling, post-processing). "sampling only" divides by the sampling seconds.

Sections (each can be skipped):
  clean     items default on pooled_rct seeds 0-4: divergences, max R-hat, min tail ESS
  items     items default, pooled_rct seed 0: median of --runs; brms on the same structure
            (benchmarks/items_default.R), median of --brms-runs; ratios end to end and sampling only
  trajectory  trajectory default, pooled_rct seed 0: median of --runs; brms totals.R (fixed study)
  scaling   trajectory 154 / 1000 / 10000 patients, items 154 / 1000 / 3000: wall, compile, sampling,
            post-processing, warm-up and draw gradients, peak memory, min ESS, R-hat; growth exponent
            of sampling time against patients on the two largest sizes
  float32   precision="float32" against float64 (trajectory and items, pooled_rct): estimates within
            Monte Carlo error
  warm      the trajectory run again with a warm persistent compilation cache

Run: python benchmarks/speed.py [--runs 3] [--brms-runs 3] [--skip clean,items,...]
       [--scaling-models trajectory,items] [--scaling-sizes items=154:1000] [--out speed]
       [--brms-from speed_items_vs_brms]  (reuse an earlier run's brms items figures, labelled as such)
Writes benchmarks/results/<out>.txt (the table) and <out>.json (every number).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
BRMS_TOTALS = HERE / "brms_totals.R"
BRMS_ITEMS = HERE / "items_default.R"

WORKER = r'''
import json, resource, sys, time, warnings
t_start = time.perf_counter()
warnings.simplefilter("ignore")
import numpy as np
import bayes_ket as bk
spec = json.loads(sys.argv[1])
trial = bk.simulate("pooled_rct", seed=spec.get("seed", 0), n_patients=spec.get("n", 154))
fit = bk.fit(spec["model"], trial, progressbar=False, **spec.get("options", {}))
d = fit.diagnostics()
wall = time.perf_counter() - t_start
s = fit.summary()
keep = s[s["quantity"].isin(["effect", "moderation", "sigma", "effect_mean", "sd_patient_intercept"])]
est = [[r["quantity"] + "|" + "|".join(str(r[c]) for c in ("day", "item", "moderator") if c in s and str(r[c]) != "nan"),
        float(r["mean"]), float(r["sd"]), float(r["ess_bulk"])] for _, r in keep.iterrows()]
print("RESULT " + json.dumps({"wall_s": wall, "timing": fit.meta["timing"], "draws": fit.meta["draws"],
    "tune": fit.meta["tune"], "n_patients": fit.meta["n_patients"], "rows": len(trial.frame),
    "divergences": d["divergences"], "max_rhat": d["max_rhat"], "min_ess_bulk": d["min_ess_bulk"],
    "min_ess_tail": d["min_ess_tail"], "warmup_gradients": d["warmup_gradients"], "draw_gradients": d["draw_gradients"],
    "treedepth_max_share": d["treedepth_max_share"], "ok": d["ok"], "reasons": d["reasons"],
    "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, "estimates": est}, default=float))
'''


def ours(model, n=154, seed=0, cache=None, **options) -> dict:
    env = dict(os.environ, BAYES_KET_JAX_CACHE=cache or "0")
    spec = {"model": model, "n": n, "seed": seed, "options": options}
    out = subprocess.run([sys.executable, "-c", WORKER, json.dumps(spec)], capture_output=True, text=True, env=env)
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
    if not line:
        raise RuntimeError(out.stderr[-2000:])
    r = json.loads(line[0][7:])
    r["ess_per_s"] = r["min_ess_bulk"] / r["wall_s"]
    r["ess_per_s_sampling"] = r["min_ess_bulk"] / r["timing"]["sample_s"]
    return r


def brms(script: Path, csv: Path, mode=None) -> dict | None:
    if not shutil.which("Rscript") or not script.exists():
        return None
    args = ["Rscript", str(script), str(csv)] + ([mode] if mode else [])
    out = subprocess.run(args, capture_output=True, text=True)
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("brms-")]
    if not line:
        return {"error": out.stderr[-800:]}
    fields = dict(kv.split("=") for kv in line[0].split()[1:])
    return {k: float(v) for k, v in fields.items()}


def items_csv(path: Path) -> None:
    import bayes_ket as bk

    f = bk.simulate("pooled_rct", seed=0).frame
    long = f.melt(id_vars=["patient", "study", "arm", "msm", "day"], value_vars=[f"madrs_{k}" for k in range(1, 11)],
                  var_name="item", value_name="score").dropna(subset=["score"])
    long.to_csv(path, index=False)


def totals_csv(path: Path) -> None:
    import bayes_ket as bk

    f = bk.simulate("pooled_rct", seed=0).frame.dropna(subset=["madrs_total"])
    f.rename(columns={"madrs_total": "score"})[["patient", "study", "arm", "msm", "day", "score"]].to_csv(path, index=False)


def median(runs, key):
    return statistics.median(r[key] for r in runs)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--brms-runs", type=int, default=3)
    ap.add_argument("--skip", default="")
    ap.add_argument("--scaling-models", default="trajectory,items", help="models in the scaling section")
    ap.add_argument("--scaling-sizes", default="", help="patients per model, e.g. items=154:1000 (default: "
                    "trajectory 154, 1000, 10000; items 154, 1000, 3000)")
    ap.add_argument("--out", default="speed", help="results/<out>.txt and .json")
    ap.add_argument("--brms-from", default="", help="an earlier results/<name>.json whose brms items runs stand in "
                    "for new ones (brms takes about 17 min a run here); the table says so")
    args = ap.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    lines, record = [], {}

    def say(text=""):
        print(text, flush=True)
        lines.append(text)

    say(f"# python benchmarks/speed.py ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs; each run a fresh "
        "process, persistent compilation cache off unless marked warm)")
    tmp = Path(tempfile.mkdtemp())

    if "clean" not in skip:
        from bayes_ket.cards import load_card

        card = load_card("items").settings
        say(f"\n## items default bk.fit('items', trial) on pooled_rct seeds 0-4 (card: 4 chains x ({card['tune']} warm-up "
            f"+ {card['draws']} draws), patient_change)")
        say("seed  wall_s  divergences  max_rhat  min_ess_bulk  min_ess_tail  ok")
        record["clean"] = []
        for seed in range(5):
            r = ours("items", seed=seed)
            record["clean"].append(r)
            say(f"{seed:4d}  {r['wall_s']:6.1f}  {r['divergences']:11d}  {r['max_rhat']:8.4f}  {r['min_ess_bulk']:12.0f}  "
                f"{r['min_ess_tail']:12.0f}  {r['ok']}  {'; '.join(r['reasons'])}")

    if "items" not in skip:
        say("\n## items default, pooled_rct seed 0 (median of runs) vs brms on the same structure, same CSV")
        runs = [ours("items") for _ in range(args.runs)]
        record["items"] = runs
        say(f"ours: wall {median(runs, 'wall_s'):.1f} s (compile {statistics.median(r['timing']['compile_s'] for r in runs):.1f}, "
            f"sampling {statistics.median(r['timing']['sample_s'] for r in runs):.1f}), min bulk ESS "
            f"{median(runs, 'min_ess_bulk'):.0f}, ESS/s {median(runs, 'ess_per_s'):.2f} end to end, "
            f"{median(runs, 'ess_per_s_sampling'):.2f} sampling only")
        csv = tmp / "items.csv"
        items_csv(csv)
        if args.brms_from:  # same CSV (pooled_rct seed 0), same R script: an earlier run's figures
            b = json.loads((HERE / "results" / f"{args.brms_from}.json").read_text())["items_brms"]
            say(f"brms: {len(b)} earlier run(s) from results/{args.brms_from}.json (not rerun here)")
        else:
            b = [brms(BRMS_ITEMS, csv) for _ in range(args.brms_runs)]
        b = [x for x in b if x and "error" not in x]
        record["items_brms"] = b
        if b:
            be, bs = statistics.median(x["ess_per_s_total"] for x in b), statistics.median(x["ess_per_s_sampling"] for x in b)
            say(f"brms ({len(b)} runs): total {statistics.median(x['total_s'] for x in b):.1f} s, min bulk ESS "
                f"{statistics.median(x['min_ess_bulk'] for x in b):.0f}, ESS/s {be:.3f} end to end, {bs:.3f} sampling only, "
                f"divergences {statistics.median(x['divergences'] for x in b):.0f}, max R-hat "
                f"{statistics.median(x['max_rhat'] for x in b):.3f}")
            say(f"ratio ours / brms: {median(runs, 'ess_per_s') / be:.1f}x end to end (target >= 15x), "
                f"{median(runs, 'ess_per_s_sampling') / bs:.1f}x sampling only")
        else:
            say("brms: not run (no Rscript with brms)")

    if "trajectory" not in skip:
        say("\n## trajectory default, pooled_rct seed 0 (median of runs) vs brms totals.R (fixed study), same CSV")
        runs = [ours("trajectory") for _ in range(args.runs)]
        record["trajectory"] = runs
        say(f"ours: walls {[round(r['wall_s'], 1) for r in runs]} s, min bulk ESS {[round(r['min_ess_bulk']) for r in runs]}, "
            f"ESS/s {[round(r['ess_per_s']) for r in runs]} -> median {median(runs, 'ess_per_s'):.0f} (target >= 250), "
            f"divergences {[r['divergences'] for r in runs]}")
        csv = tmp / "totals.csv"
        totals_csv(csv)
        b = [brms(BRMS_TOTALS, csv, "fixed") for _ in range(args.brms_runs)]
        b = [x for x in b if x and "error" not in x]
        record["trajectory_brms"] = b
        if b:
            be = statistics.median(x["ess_per_s_total"] for x in b)
            say(f"brms ({len(b)} runs): ESS/s {be:.1f}; ratio ours / brms {median(runs, 'ess_per_s') / be:.1f}x")

    if "scaling" not in skip:
        say("\n## scaling (one run each; default call; pooled_rct design with more patients)")
        say("model       patients   rows   wall_s  compile_s  sample_s  post_s  warm_grad  draw_grad  peak_GB  min_ess  max_rhat  div")
        record["scaling"] = {}
        wanted = args.scaling_models.split(",")
        sizes_of = {"trajectory": (154, 1000, 10000), "items": (154, 1000, 3000)}
        for spec in filter(None, args.scaling_sizes.split(",")):
            model, sizes = spec.split("=")
            sizes_of[model] = tuple(int(n) for n in sizes.split(":"))
        for model, sizes in ((m, sizes_of[m]) for m in wanted):
            rows = []
            for n in sizes:
                r = ours(model, n=n)
                rows.append(r)
                t = r["timing"]
                say(f"{model:10s} {n:9d} {r['rows']:6d} {r['wall_s']:8.1f} {t['compile_s']:10.1f} {t['sample_s']:9.1f} "
                    f"{t['postprocess_s']:7.1f} {r['warmup_gradients']:10d} {r['draw_gradients']:10d} {r['peak_rss_gb']:8.2f} "
                    f"{r['min_ess_bulk']:8.0f} {r['max_rhat']:9.4f} {r['divergences']:4d}")
            record["scaling"][model] = rows
            a, b = rows[-2], rows[-1]
            exponent = np.log(b["timing"]["sample_s"] / a["timing"]["sample_s"]) / np.log(b["n_patients"] / a["n_patients"])
            say(f"{model}: growth exponent of sampling time, {a['n_patients']} -> {b['n_patients']} patients: {exponent:.2f}")

    if "float32" not in skip:
        say("\n## precision='float32' vs float64 (pooled_rct seed 0; |difference| / combined MCSE)")
        record["float32"] = {}
        for model in ("trajectory", "items"):
            r64, r32 = ours(model), ours(model, precision="float32")
            record["float32"][model] = [r64, r32]
            by = {name: (m, sd, ess) for name, m, sd, ess in r64["estimates"]}
            z = []
            for name, m, sd, ess in r32["estimates"]:
                m0, sd0, ess0 = by[name]
                z.append(abs(m - m0) / np.sqrt(sd**2 / ess + sd0**2 / ess0))
            say(f"{model}: float64 wall {r64['wall_s']:.1f} s (sampling {r64['timing']['sample_s']:.1f}), float32 wall "
                f"{r32['wall_s']:.1f} s (sampling {r32['timing']['sample_s']:.1f}); {len(z)} estimates, max |diff|/MCSE "
                f"{max(z):.2f}, share within 3 MCSE {np.mean(np.array(z) <= 3):.2f}; min ESS {r64['min_ess_bulk']:.0f} vs "
                f"{r32['min_ess_bulk']:.0f}")

    if "warm" not in skip:
        say("\n## warm persistent compilation cache (trajectory, pooled_rct seed 0)")
        cache = str(tmp / "jax_cache")
        cold, warm = ours("trajectory", cache=cache), ours("trajectory", cache=cache)
        record["warm"] = [cold, warm]
        say(f"first run (cache filled): wall {cold['wall_s']:.1f} s, compile {cold['timing']['compile_s']:.1f} s; "
            f"second (warm): wall {warm['wall_s']:.1f} s, compile {warm['timing']['compile_s']:.1f} s, "
            f"ESS/s {warm['ess_per_s']:.0f}")

    say("\nGPU: no accelerator was lent to this session; the package runs chains side by side (vmap) on one, untested here.")
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / f"{args.out}.txt").write_text("\n".join(lines) + "\n")
    (HERE / "results" / f"{args.out}.json").write_text(json.dumps(record, default=float, indent=1))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
