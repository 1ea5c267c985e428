"""Items model: calibration on its own generative form, and per-item recovery on pooled_rct.

    python benchmarks/items_calibration.py [--reps 60]

1. coverage of 90% intervals of per-item `effect` and `moderation` over --reps trials
   drawn from the items model's generative form (the items family's calibration_trial),
   one compiled model re-bound to each trial, 2 chains x (300 + 300);
2. pooled_rct (seed 0) fitted in the simulator's structure (patient_change=True,
   effect_by_day=True), 4 x (1000 + 1000): per item x day effect vs the simulator's
   item_effect_by_day, coverage of the 50 intervals, and the patient SDs.
Writes benchmarks/results/items_calibration.txt.
"""

import argparse
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=60)
    args = ap.parse_args()
    import bayes_ket as bk
    from bayes_ket.calibration import coverage, summarise_coverage
    from bayes_ket.families.items import item_effect_recovery

    lines = []
    say = lambda s: (print(s, flush=True), lines.append(s))
    t0 = time.perf_counter()
    table = coverage("items", replications=args.reps, ci_prob=0.9, seed=11,
                     fit_options={"draws": 300, "tune": 300, "chains": 2})
    say(f"items calibration: {args.reps} trials from the model's generative form, 90% intervals "
        f"({time.perf_counter() - t0:.0f} s, divergences total {int(table['divergences'].sum())}, "
        f"max R-hat {table['max_rhat'].max():.3f}):")
    say(summarise_coverage(table).to_string(index=False))
    per_item = table.groupby(["quantity", "at"])["covered"].mean().unstack(0)
    say("coverage per item:\n" + per_item.round(2).to_string())
    err = table.assign(err=table["mean"] - table["truth"]).groupby("quantity")["err"].agg(["mean", "std"])
    say("estimate - truth (log-odds):\n" + err.round(4).to_string())

    trial = bk.simulate("pooled_rct", seed=0)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = bk.fit("items", trial, effect_by_day=True, patient_change=True, seed=1, progressbar=False)
    d = fit.diagnostics()
    e = item_effect_recovery(fit, trial.truth)
    s = fit.summary()
    say(f"pooled_rct recovery (patient_change, effect_by_day; 4x(1000+1000), {time.perf_counter() - t0:.0f} s, "
        f"divergences {d['divergences']}, max R-hat {d['max_rhat']:.3f}, min bulk ESS {d['min_ess_bulk']:.0f}):")
    say(f"  per item x day effect: 90% coverage {e['covered'].mean():.2f} of {len(e)}, "
        f"corr(estimate, truth) {np.corrcoef(e['mean'], e['truth'])[0, 1]:.3f}, "
        f"mean error {(e['mean'] - e['truth']).mean():+.3f}")
    say("  by day (mean over items):\n" + e.groupby("day")[["mean", "truth", "covered"]].mean().round(3).to_string())
    for q, true in (("sd_patient_intercept", trial.truth["sd_patient"]), ("sd_patient_change", trial.truth["sd_change"])):
        est = s[s.quantity == q]["mean"].iloc[0]
        say(f"  {q}: {est:.3f} (truth {true})")
    out = HERE / "results" / "items_calibration.txt"
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
