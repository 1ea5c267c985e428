"""Clean and fast: K = 4 with the default card on the real-world design (seed 0), in a fresh process.

bk.fit("classes", trial) with the card's settings (4 chains x (1000 tune + 2000 draws), target_accept 0.95,
compilation included): wall time end to end, divergences, max R-hat and min bulk / tail ESS after
relabelling, min bulk ESS per second, relabelled share, chain-mode groups. Then bk.select_classes over
k = 1..6 (its default 4 x (500 + 500) per k) with its wall time. Targets: 0 divergences, R-hat <= 1.01,
fit under 60 s and selection under 5 minutes on 2 cores. Figures are inflated when other jobs share
the machine.

usage: python benchmarks/classes_speed.py [--seed 0] [--no-select]
"""

from __future__ import annotations

import argparse
import json
import time

t_import = time.perf_counter()
import bayes_ket as bk  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-select", action="store_true")
    args = p.parse_args()
    trial = bk.simulate("real_world", seed=args.seed)
    t0 = time.perf_counter()
    fit = bk.fit("classes", trial, progressbar=False)
    wall = time.perf_counter() - t0
    d = fit.diagnostics()
    row = {"seed": args.seed, "fit_wall_s": round(wall, 1), "timing": {k: round(v, 1) for k, v in fit.meta["timing"].items()},
           "divergences": d["divergences"], "max_rhat": round(d["max_rhat"], 4),
           "min_ess_bulk": round(d["min_ess_bulk"]), "min_ess_tail": round(d["min_ess_tail"]),
           "ess_per_s": round(d["min_ess_bulk"] / wall, 1), "relabelled_share": d["relabelled_share"],
           "chain_mode_groups": d["chain_mode_groups"], "ok": d["ok"], "reasons": d["reasons"],
           "ordered": fit.meta["label_switching"]["ordered"]}
    print(json.dumps(row), flush=True)
    if not args.no_select:
        t0 = time.perf_counter()
        table = bk.select_classes(trial, k=range(1, 7))
        row = {"select_wall_s": round(time.perf_counter() - t0, 1),
               "recommended": int(table.loc[table.recommended, "k"].iloc[0]),
               "per_k_s": [round(x, 1) for x in table["seconds"]], "n_kfold": table["n_kfold"].tolist()}
        print(json.dumps(row), flush=True)
        print(table.drop(columns=["why"]).round(3).to_string())


if __name__ == "__main__":
    main()
