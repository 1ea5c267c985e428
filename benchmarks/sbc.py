"""Simulation-based calibration per model family (Talts et al. 2018), at the largest size two cores
allow in about an hour, with an ECDF-difference figure.

For each replication: population-level parameters drawn from the family's prior, a trial drawn
from its own generative form (``Family.simulate``), a fit with 2 chains, and the rank of each true
value among evenly thinned posterior draws (``calibration.sbc``). Uniformity is judged with
simultaneous ECDF bands at 1% familywise error over all ranked parameters
(``calibration.sbc_uniformity``). Also run: the same check with an injected error (data drawn with
a residual SD 30% larger than the prior draw; a fitted effect prior scale half the simulating one),
to show that the check fails when it should.

Run: python benchmarks/sbc.py --family trajectory --reps 100 --n-patients 154 --inject
     python benchmarks/sbc.py --family items --reps 100 --n-patients 40
     python benchmarks/sbc.py --family ipd_meta --reps 100 --size n_studies=6 --size n_per_study=30 \
         --setting moderators=age,female --setting study_moderators=crossover --target-accept 0.95
--family is a card name; --setting key=a,b sets a card setting (a list when it has a comma or names
moderators); --size key=value passes a design size to the family's calibration_trial.
Writes benchmarks/results/sbc_<family>.txt, sbc_<family>.csv and sbc_<family>.png.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--family", default="trajectory")
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--n-patients", type=int, default=None, help="shorthand for --size n_patients=N")
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--thin-to", type=int, default=99)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", action="append", default=[], help="calibration_trial size, key=value (repeatable)")
    ap.add_argument("--setting", action="append", default=[], help="card setting, key=value[,value] (repeatable)")
    ap.add_argument("--target-accept", type=float, default=None)
    ap.add_argument("--inject", action="store_true", help="also run the two injected errors (trajectory)")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    from bayes_ket.calibration import sbc, sbc_uniformity
    from bayes_ket.cards import load_card
    from bayes_ket.plots.calibration import plot_sbc_ecdf

    fit = {"draws": args.draws, "tune": args.draws, "chains": 2}
    if args.target_accept:
        fit["target_accept"] = args.target_accept
    sizes = {} if args.n_patients is None else {"n_patients": args.n_patients}
    for item in args.size:
        key, value = item.split("=", 1)
        sizes[key] = int(value)
    model = args.family
    if args.setting:
        card = load_card(args.family).to_dict()
        for item in args.setting:
            key, value = item.split("=", 1)
            card["settings"][key] = value.split(",") if ("," in value or "moderators" in key) else value
        model = card
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    lines = [f"# python benchmarks/sbc.py {' '.join(sys.argv[1:] if argv is None else argv)} "
             f"({time.strftime('%Y-%m-%d %H:%M')}): fits 2 x ({args.draws} + {args.draws}), ranks among {args.thin_to}, "
             f"sizes {sizes}, fit options {fit}"]
    runs = [("correct model", {})]
    if args.inject:
        runs += [("residual SD x 1.3 in the data", {"perturb": {"sigma": 1.3}}),
                 ("fitted effect prior scale halved", {"fit_priors": {"effect_sigma": 0.125 * 60}})]
    for label, kw in runs:
        t0 = time.perf_counter()
        table = sbc(model, replications=args.reps, thin_to=args.thin_to, seed=args.seed,
                    sizes=sizes, fit_options=fit, **kw)
        u = sbc_uniformity(table)
        secs = time.perf_counter() - t0
        div = table.groupby("replication")["divergences"].first()
        rhat = table.groupby("replication")["max_rhat"].first()
        lines.append(f"\n## {label}: {secs:.0f} s; replications with divergences {int((div > 0).sum())} of {len(div)}; "
                     f"max R-hat median {rhat.median():.3f}")
        lines.append(f"parameters outside their band: {u.loc[~u['inside'], 'parameter'].tolist() or 'none'} "
                     f"of {len(u)}; largest ECDF deviation {u['max_deviation'].max():.3f}")
        lines.append(u.to_string(index=False))
        if not kw:
            table.to_csv(out / f"sbc_{args.family}.csv", index=False)
            plot_sbc_ecdf(table, out / f"sbc_{args.family}.png")
        print("\n".join(lines[-3:]), flush=True)
    (out / f"sbc_{args.family}.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
