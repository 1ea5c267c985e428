"""A new user's first hour: the README path on a raw trial export, printing what the user sees.

The export is what a study team produces: its own column names ("Subject ID", "Visit day",
"Group", "MADRS", "Maudsley score"), actual visit days scattered around the protocol's visits
(6-8 for day 7), semicolons, latin-1 encoding with accented site names, a few patients without
an MSM score, and one typo (day 4000 for 14). The script walks the README's "Use" section and then
the command line (bayes-ket init / fit --config), prints every message, warning and result the
user would see, and the time each step took.

    .venv/bin/python benchmarks/first_hour.py [--draws 300] [--chains 2] [--out first_hour_out]

Its last output is kept in benchmarks/results/first_hour.txt.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import bayes_ket as bk

STEP = {"t": time.perf_counter()}


def step(title: str) -> None:
    now = time.perf_counter()
    print(f"\n(that step took {now - STEP['t']:.1f} s)\n{'=' * 100}\n{title}\n{'=' * 100}")
    STEP["t"] = now


def show(fn, *args, **kwargs):
    """Call fn as the user would, printing every warning and error it raises."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", bk.BayesKetWarning)
        try:
            result = fn(*args, **kwargs)
        except bk.BayesKetError as err:
            print(f"BayesKetError: {err}")
            result = None
    for w in caught:
        if issubclass(w.category, bk.BayesKetWarning):
            print(f"BayesKetWarning: {w.message}")
    return result


def write_export(path: Path, n_patients: int = 154, seed: int = 0) -> dict:
    """The raw export, from the simulated pooled two-RCT design (its truth returned)."""
    trial = bk.simulate("pooled_rct", seed=seed, n_patients=n_patients)
    f = trial.frame.copy()
    rng = np.random.default_rng(seed)
    jitter = {0: 0, 1: 0, 3: 0, 7: 1, 10: 1, 14: 2}
    f["actual"] = [d + (rng.integers(-jitter[d], jitter[d] + 1) if jitter[d] else 0) for d in f["day"]]
    typo = f.index[(f["day"] == 14) & f["madrs_total"].notna()][3]
    f.loc[typo, "actual"] = 4000
    no_msm = f["patient"].isin(f["patient"].unique()[[5, 40, 90]])
    f.loc[no_msm, "msm"] = np.nan
    out = f.rename(columns={"patient": "Subject ID", "study": "Centre", "arm": "Group", "actual": "Visit day",
                            "madrs_total": "MADRS", "msm": "Maudsley score"})
    out["Group"] = out["Group"].map({1: "Ketamine", 0: "Saline"})
    out["Centre"] = out["Centre"].map({"S01": "Zürich", "S02": "Montréal"})
    out = out[["Subject ID", "Centre", "Group", "Visit day", "MADRS", "Maudsley score"]]
    out.to_csv(path, sep=";", index=False, encoding="latin-1")
    return trial.truth


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=300)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--out", default=None, help="working folder (default: a temporary one)")
    args = parser.parse_args(argv)
    work = Path(args.out or tempfile.mkdtemp(prefix="first_hour_"))
    work.mkdir(parents=True, exist_ok=True)
    export = work / "export.csv"
    t0 = time.perf_counter()

    step("0. The export (what the study team sent)")
    truth = write_export(export)
    print(export.read_bytes()[:400].decode("latin-1"))

    step("1. README: bk.read_trial('export.csv') without a mapping")
    show(bk.read_trial, export)

    step("2. README: read_trial with columns= (the export's names)")
    columns = {"Subject ID": "patient", "Centre": "study", "Group": "arm", "Visit day": "day",
               "MADRS": "madrs_total", "Maudsley score": "msm"}
    trial = show(bk.read_trial, export, columns=columns)
    print(trial.report())

    step("3. The report proposes visit windows: read again with them")
    windows = {float(k): tuple(v) for k, v in trial.schedule["proposal"].items()}
    print("visit_windows =", windows)
    trial = show(bk.read_trial, export, columns=columns, visit_windows=windows)
    print(trial.report())

    step(f"4. README: bk.fit('trajectory', trial)  ({args.chains} chains x {args.draws} draws)")
    fit = show(bk.fit, "trajectory", trial, draws=args.draws, tune=args.draws, chains=args.chains, progressbar=False)
    print(fit)
    print("timing:", {k: round(v, 1) for k, v in fit.meta["timing"].items()})

    step("5. README: fit.summary(), fit.diagnostics(), fit.prob(...)")
    summary = show(fit.summary)
    cols = ["quantity", "day", "moderator", "mean", "lower", "upper", "prob_positive"]
    print(summary[summary.quantity.isin(["effect", "moderation", "response_difference", "nnt_response"])][cols]
          .round(2).to_string(index=False))
    print("patients excluded (summary.attrs):", summary.attrs["patients_excluded"])
    print("diagnostics:", fit.diagnostics())
    print("P(benefit > 2 points at day 14):", round(fit.prob("effect", "<", -2, day=14.0), 3))
    print("truth of the simulation: effect day 14 =", round(truth["effect_total"][14.0], 2),
          "| moderation day 14 =", round(truth["moderation_total"][14.0], 2))

    step("6. README: fit.conditional_effect('msm', values=(4, 8, 12, 15))")
    ce = show(fit.conditional_effect, "msm", values=(4, 8, 12, 15))
    print(ce.query("day == 14.0")[["msm", "day", "mean", "lower", "upper", "extrapolated"]].round(2).to_string(index=False))

    step("7. Figures for the paper, and save / load")
    figures = work / "figures"
    show(bk.plot_trajectories, trial, figures / "trajectories.png")
    show(fit.plot_effect, figures / "effect.pdf")
    show(fit.plot_moderation, figures / "moderation.png", moderator="msm")
    show(fit.plot_ppc, figures / "ppc.svg")
    print("written:", sorted(p.name for p in figures.iterdir()))
    fit.save(work / "fit.nc")
    loaded = show(bk.load_fit, work / "fit.nc")
    print("loaded:", loaded)

    step("8. The command line: bayes-ket init export.csv, then bayes-ket fit --config analysis.toml")
    exe = Path(sys.executable).with_name("bayes-ket")
    run = subprocess.run([str(exe), "init", str(export), "--out", str(work / "analysis.toml"), "--force"],
                         capture_output=True, text=True)
    print(run.stdout[-2500:], run.stderr)
    run = subprocess.run([str(exe), "fit", "--config", str(work / "analysis.toml"), "--draws", str(args.draws),
                          "--tune", str(args.draws), "--chains", str(args.chains), "--out", str(work / "cli_out")],
                         capture_output=True, text=True)
    lines = run.stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("Fit(")), 0)
    print("\n".join(lines[start:]))
    stderr = [line for line in run.stderr.splitlines() if "NUTS (jax)" not in line]
    print("\n".join(stderr[-12:]))
    print("exit status", run.returncode)

    step("Done")
    print(f"total {time.perf_counter() - t0:.0f} s; files in {work}")


if __name__ == "__main__":
    main()
