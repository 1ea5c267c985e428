"""Calibration of the ipd_meta family on its own generative form: two-sided coverage and SBC.

    python benchmarks/ipd_meta_calibration.py [--coverage-reps 40] [--sbc-reps 100] [--out DIR]

Coverage: ``calibration.coverage("ipd_meta")`` on ``calibration_trial`` (6 studies x 30 patients, fixed
truth), 90% intervals of the effect at both visits, judged within 3 clustered SE of 0.90.
SBC: ``calibration.sbc`` of the card's default model (horseshoe, M*) with patient moderators age,
female and study moderator crossover, on 5 studies x 24 patients; ranks of every population-level free
parameter among 49 thinned draws, simultaneous ECDF band (familywise 1%).
Writes benchmarks/results/ipd_meta_calibration.txt.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIT = {"draws": 300, "tune": 300, "chains": 2}


def main(argv=None):
    from bayes_ket.calibration import coverage, sbc, sbc_uniformity, summarise_coverage
    from bayes_ket.cards import load_card

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--coverage-reps", type=int, default=40)
    ap.add_argument("--sbc-reps", type=int, default=100)
    ap.add_argument("--out", default=str(HERE / "results"))
    a = ap.parse_args(argv)
    lines = []
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = coverage("ipd_meta", replications=a.coverage_reps, ci_prob=0.9, seed=2, fit_options=FIT, n_studies=6,
                         n_per_study=30)
    cov = summarise_coverage(table)
    lines += [f"coverage of 90% intervals, {a.coverage_reps} replications of calibration_trial (6 studies x 30 "
              f"patients), {FIT}: {time.perf_counter() - t0:.0f} s, divergences total {int(table['divergences'].sum())}",
              cov.round(4).to_string(index=False), ""]
    card = load_card("ipd_meta").to_dict()
    card["settings"] |= {"moderators": ["age", "female"], "study_moderators": ["crossover"]}
    t1 = time.perf_counter()
    t = sbc(card, replications=a.sbc_reps, thin_to=49, seed=3, sizes={"n_studies": 5, "n_per_study": 24},
            fit_options=FIT)
    u = sbc_uniformity(t)
    div = t.groupby("replication")["divergences"].first()
    lines += [f"SBC: {a.sbc_reps} replications, {u.shape[0]} scalar parameters, L = 49, "
              f"{time.perf_counter() - t1:.0f} s; inside the simultaneous band (familywise 1%): "
              f"{int(u['inside'].sum())} of {len(u)}; replications without divergences {int((div == 0).sum())} "
              f"of {len(div)}; max R-hat median {t.groupby('replication')['max_rhat'].first().median():.3f}",
              u.sort_values("max_deviation", ascending=False).head(12).round(3).to_string(index=False)]
    text = "\n".join(lines)
    print(text)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ipd_meta_calibration.txt").write_text(text + "\n")


if __name__ == "__main__":
    main()
