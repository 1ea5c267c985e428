"""Benchmark: prior sweep of the MSM moderation prior scale on pooled_rct (trajectory model).

8 settings of moderation_sigma from 0.5x to 4x its default, default sampler settings
(1000 tune / 1000 draws, 4 chains). Reports:
  - one bk.fit in this process (build + compile + sample), timed first;
  - method="refit": total wall, compilations, ratio to 8 x one fit's wall (target <= 0.6);
  - method="auto": total wall and how many settings were refit (k-hat > 0.7).
Writes the figures to benchmarks/results/sweep.txt.

Run: python benchmarks/sweep.py
"""

import os
import platform
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402

import bayes_ket as bk  # noqa: E402
from bayes_ket.sweeps import clear_analyses, sweep  # noqa: E402

OUT = Path(__file__).parent / "results" / "sweep.txt"


def main():
    trial = bk.simulate("pooled_rct")
    lines = [f"bayes_ket sweep benchmark  ({platform.node()}, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M')})",
             "data: simulate('pooled_rct'); model: trajectory; draws=1000 tune=1000 chains=4"]

    t0 = time.perf_counter()
    one = bk.fit("trajectory", trial, progressbar=False, draws=1000, tune=1000)
    t_one = time.perf_counter() - t0
    default = one.priors["moderation_sigma"]
    factors = np.geomspace(0.5, 4.0, 8)
    grid = {"moderation_sigma": [float(default * f) for f in factors]}
    lines.append(f"one bk.fit: {t_one:.1f} s (build {one.meta['timing']['build_s']:.1f} s, "
                 f"sample {one.meta['timing']['sample_s']:.1f} s)")
    lines.append(f"grid: moderation_sigma = {default:g} x " + ", ".join(f"{f:.3g}" for f in factors))

    clear_analyses()
    t0 = time.perf_counter()
    refit = sweep("trajectory", trial, grid, method="refit", progressbar=False, draws=1000, tune=1000)
    t_refit = time.perf_counter() - t0
    ratio = t_refit / (8 * t_one)
    lines.append(f"method='refit': total {t_refit:.1f} s for 8 settings, compilations {refit.attrs['compilations']}, "
                 f"= {ratio:.2f} x (8 x one fit = {8 * t_one:.1f} s)  [target <= 0.6: "
                 f"{'met' if ratio <= 0.6 else 'NOT met'}]")

    clear_analyses()
    t0 = time.perf_counter()
    auto = sweep("trajectory", trial, grid, method="auto", progressbar=False, draws=1000, tune=1000)
    t_auto = time.perf_counter() - t0
    per = auto.drop_duplicates("setting")
    lines.append(f"method='auto': total {t_auto:.1f} s, refit {auto.attrs['refit']} of 8 settings, reweighted "
                 f"{auto.attrs['reweighted']}, sampled {auto.attrs['fitted']} (base fit included, base not in grid), "
                 f"compilations {auto.attrs['compilations']}")
    lines.append("k-hat per setting: " + ", ".join(
        f"{v:.3g}:{m}({k:.2f})" for v, m, k in zip(per["moderation_sigma"], per["method"], per["khat"])))
    # agreement of auto with refit on the moderation at day 14
    q = lambda t: t[(t["quantity"] == "moderation") & (t["day"] == t["day"].max())][["moderation_sigma", "mean", "sd"]]
    merged = q(refit).merge(q(auto), on="moderation_sigma", suffixes=("_refit", "_auto"))
    lines.append("moderation (last day), refit vs auto:\n" + merged.round(3).to_string(index=False))
    text = "\n".join(lines)
    print(text)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text + "\n")


if __name__ == "__main__":
    main()
