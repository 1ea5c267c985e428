"""Command line: bayes-ket demo | fit | sweep."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import BayesKetError


def _write_outputs(fit, out: Path, trial) -> None:
    out.mkdir(parents=True, exist_ok=True)
    summary = fit.summary()
    summary.to_csv(out / "summary.csv", index=False)
    diag = fit.diagnostics()
    (out / "diagnostics.json").write_text(json.dumps(diag, indent=2))
    (out / "data_report.txt").write_text(str(trial.report()))
    (out / "priors.json").write_text(json.dumps(fit.priors, indent=2))
    fit.plot_ppc(out / "ppc.png")
    fit.save(out / "fit.nc")
    return summary, diag


def _headline(fit, summary, diag) -> str:
    lines = [repr(fit)]
    eff = summary[summary["quantity"] == "effect"]
    for day in (1.0, 14.0):
        row = eff[eff["day"] == day]
        if len(row):
            r = row.iloc[0]
            lines.append(f"effect at day {day:g}: {r['mean']:.2f} points (95% CrI {r['lower']:.2f} to {r['upper']:.2f}),"
                         f" P(benefit > 2 points) = {fit.prob('effect', '<', -2, day=day):.2f}")
    mod = summary[summary["quantity"] == "moderation"]
    for _, r in mod.iterrows():
        lines.append(f"moderation by {r['moderator']} at day {r['day']:g}: {r['mean']:.2f} points per unit "
                     f"(95% CrI {r['lower']:.2f} to {r['upper']:.2f}), P(weaker benefit) = {r['prob_positive']:.2f}")
    lines.append("diagnostics: " + ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                                             for k, v in diag.items() if k != "reasons"))
    if diag["reasons"]:
        lines.append("SAMPLING PROBLEMS: " + "; ".join(diag["reasons"]))
    return "\n".join(lines)


def load_grid(path) -> dict | list:
    """A sweep grid from JSON or TOML: {prior: [values]} or a list of {prior: value} settings."""
    import tomllib

    text = Path(path).read_text()
    grid = tomllib.loads(text) if str(path).endswith(".toml") else json.loads(text)
    return grid.get("settings", grid) if isinstance(grid, dict) else grid


def main(argv=None) -> int:
    import bayes_ket as bk

    parser = argparse.ArgumentParser(prog="bayes-ket", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="trajectory model on a simulated pooled RCT (seed-000 design)")
    demo.add_argument("--out", default="bayes_ket_demo")
    demo.add_argument("--draws", type=int, default=1000)
    demo.add_argument("--tune", type=int, default=1000)
    demo.add_argument("--chains", type=int, default=4)
    f = sub.add_parser("fit", help="fit a model card to a data file")
    f.add_argument("model")
    f.add_argument("data")
    f.add_argument("--out", required=True)
    f.add_argument("--outcome")
    f.add_argument("--time")
    f.add_argument("--moderators", help="comma-separated; '' for none")
    f.add_argument("--draws", type=int, default=1000)
    f.add_argument("--tune", type=int, default=1000)
    f.add_argument("--chains", type=int, default=4)
    f.add_argument("--seed", type=int, default=0)
    s = sub.add_parser("sweep", help="prior-sensitivity sweep over a grid (JSON or TOML file)")
    s.add_argument("model")
    s.add_argument("data")
    s.add_argument("--grid", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--scheduler")
    s.add_argument("--method", default="auto")
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            trial = bk.simulate("pooled_rct", seed=0)
            print(trial.report())
            fit = bk.fit("trajectory", trial, draws=args.draws, tune=args.tune, chains=args.chains, seed=0)
            summary, diag = _write_outputs(fit, Path(args.out), trial)
            print(_headline(fit, summary, diag))
            truth = trial.truth["effect_total"]
            print("simulation truth (Monte Carlo): effect day 1 = "
                  f"{truth.get(1.0, truth.get('1.0')):.2f}, day 14 = {truth.get(14.0, truth.get('14.0')):.2f}")
            print(f"wrote {args.out}/summary.csv, diagnostics.json, ppc.png, fit.nc, data_report.txt, priors.json")
        elif args.command == "fit":
            trial = bk.read_trial(args.data)
            print(trial.report())
            mods = None if args.moderators is None else [m for m in args.moderators.split(",") if m]
            fit = bk.fit(args.model, trial, outcome=args.outcome, moderators=mods, time=args.time,
                         draws=args.draws, tune=args.tune, chains=args.chains, seed=args.seed)
            summary, diag = _write_outputs(fit, Path(args.out), trial)
            print(_headline(fit, summary, diag))
        else:
            from .sweeps import sweep

            trial = bk.read_trial(args.data)
            table = sweep(args.model, trial, grid=load_grid(args.grid), out=args.out, scheduler=args.scheduler,
                          method=args.method)
            table.to_csv(Path(args.out) / "sweep.csv", index=False)
            print(table.head(20).to_string())
    except BayesKetError as err:
        print(f"bayes-ket: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
