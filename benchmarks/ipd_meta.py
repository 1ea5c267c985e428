"""IPD meta-analysis family (issue 14): peers on the same CSV, and the clean-and-fast default.

    python benchmarks/ipd_meta.py peers   [--out DIR] [--no-r]   # ours (one visit) vs brms and metafor
    python benchmarks/ipd_meta.py default [--out DIR]            # 4 patient + 3 study moderators, both visits
    python benchmarks/ipd_meta.py single                          # (internal) our single-visit fit, one line

peers: writes the CSV (patient, study, arm, y = percent improvement at the rapid visit, first
period; the rows our design uses) of bk.simulate("ipd_meta", seed=0); fits our model at that one
visit (no moderators; card priors; 4 chains x (1000 + 1000)) in a fresh process; runs
ipd_meta_brms.R (same structure and priors) and ipd_meta_metafor.R (two-stage, REML) on the CSV;
prints each figures line and the agreement: effect and tau within 0.2 posterior SD of brms's,
pooled effect within 0.5 SE of metafor's; and min bulk ESS per second of both (the package's metric:
wall time of the whole fit, compilation included).

default: the part-1 analysis (complete cases, normal priors: missing="complete", shrinkage="normal") of ipd_meta seed 0 with age, female, bmi,
msm and trd_threshold, crossover, active_placebo, both visits: time, divergences, R-hat, ESS.

Timings taken while other work shares the machine are inflated; rerun alone for reported figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIT = {"draws": 1000, "tune": 1000, "chains": 4, "seed": 1, "progressbar": False}


def write_csv(path: Path):
    import warnings

    import numpy as np
    import pandas as pd

    import bayes_ket as bk
    from bayes_ket.cards import load_card
    from bayes_ket.families import ipd_meta as fam

    trial = bk.simulate("ipd_meta", seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bk.BayesKetWarning)
        d = fam.FAMILY.design(trial, load_card("ipd_meta"), visits="rapid")
    ok = np.isfinite(d.Y[:, 0])
    t = pd.DataFrame({"patient": d.units["patient"][ok], "study": d.units["study"][ok],
                      "arm": d.arm[ok].astype(int), "y": d.Y[ok, 0]})
    t.to_csv(path, index=False)
    return t


def single():
    """Our single-visit fit, timed from import to summary (run in a fresh process)."""
    t0 = time.perf_counter()
    import warnings

    import bayes_ket as bk

    trial = bk.simulate("ipd_meta", seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bk.BayesKetWarning)
        fit = bk.fit("ipd_meta", trial, visits="rapid", **FIT)
        s = fit.summary(ci_prob=0.9)
    total = time.perf_counter() - t0
    d = fit.diagnostics()
    eff = s[(s.quantity == "effect")].iloc[0]
    tau = s[(s.quantity == "tau")].iloc[0]
    print(f"ours-ipd-meta total_s={total:.1f} fit_s={fit.meta['timing']['total_s']:.1f} "
          f"min_ess_bulk={d['min_ess_bulk']:.0f} max_rhat={d['max_rhat']:.3f} "
          f"ess_per_s_total={d['min_ess_bulk'] / fit.meta['timing']['total_s']:.2f} divergences={d['divergences']}")
    print(f"effect mean={eff['mean']:.3f} sd={eff['sd']:.3f} q05={eff['lower']:.3f} q95={eff['upper']:.3f}")
    print(f"tau mean={tau['mean']:.3f} sd={tau['sd']:.3f} q05={tau['lower']:.3f} q95={tau['upper']:.3f}")


def _parse(text: str, prefix: str) -> dict:
    out = {}
    for line in text.splitlines():
        if line.startswith(prefix):
            out["figures"] = {k: float(v) for k, v in re.findall(r"(\w+)=(-?[\d.]+|inf|nan)", line)}
            out["line"] = line
        for key in ("effect", "tau", "prediction"):
            if line.startswith(key + " "):
                out[key] = {k: float(v) for k, v in re.findall(r"(\w+)=(-?[\d.]+)", line)}
    return out


def peers(out: Path, use_r: bool = True):
    out.mkdir(parents=True, exist_ok=True)
    csv = out / "ipd_meta_rapid.csv"
    write_csv(csv)
    cold = dict(os.environ, BAYES_KET_JAX_CACHE="0")  # API.md's metric: cold compilation caches
    ours_txt = subprocess.run([sys.executable, __file__, "single"], capture_output=True, text=True, check=True,
                              env=cold).stdout
    ours = _parse(ours_txt, "ours-ipd-meta")
    lines = [ours["line"], f"  ours: effect {ours['effect']}, tau {ours['tau']}"]
    if use_r and shutil.which("Rscript"):
        brms_txt = subprocess.run(["Rscript", str(HERE / "ipd_meta_brms.R"), str(csv)], capture_output=True,
                                  text=True).stdout
        meta_txt = subprocess.run(["Rscript", str(HERE / "ipd_meta_metafor.R"), str(csv)], capture_output=True,
                                  text=True).stdout
        brms, metafor = _parse(brms_txt, "brms-ipd-meta"), _parse(meta_txt, "metafor-ipd-meta")
        (out / "ipd_meta_brms.txt").write_text(brms_txt)
        (out / "ipd_meta_metafor.txt").write_text(meta_txt)
        d_eff = abs(ours["effect"]["mean"] - brms["effect"]["mean"]) / brms["effect"]["sd"]
        d_tau = abs(ours["tau"]["mean"] - brms["tau"]["mean"]) / brms["tau"]["sd"]
        d_meta = abs(ours["effect"]["mean"] - metafor["effect"]["estimate"]) / metafor["effect"]["se"]
        speed = ours["figures"]["ess_per_s_total"] / brms["figures"]["ess_per_s_total"]
        lines += [brms["line"], f"  brms: effect {brms['effect']}, tau {brms['tau']}", metafor["line"],
                  f"  metafor: effect {metafor['effect']}, tau {metafor['tau']}, prediction {metafor.get('prediction')}",
                  f"agreement: |effect - brms| = {d_eff:.3f} posterior SD (<= 0.2: {d_eff <= 0.2}); "
                  f"|tau - brms| = {d_tau:.3f} posterior SD (<= 0.2: {d_tau <= 0.2}); "
                  f"|effect - metafor| = {d_meta:.3f} SE (<= 0.5: {d_meta <= 0.5})",
                  f"speed: ours / brms min bulk ESS per second (whole fit, compilation included) = {speed:.1f}x "
                  f"(>= 10: {speed >= 10})"]
    text = "\n".join(lines)
    print(text)
    (out / "ipd_meta_peers.txt").write_text(text + "\n")


def default(out: Path):
    code = r"""
import time, warnings
t0 = time.perf_counter()
import bayes_ket as bk
trial = bk.simulate("ipd_meta", seed=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", bk.BayesKetWarning)
    fit = bk.fit("ipd_meta", trial, moderators=("age", "female", "bmi", "msm"),
                 study_moderators=("trd_threshold", "crossover", "active_placebo"), missing="complete",
                 shrinkage="normal", mstar=False, **FIT)
    s = fit.summary(ci_prob=0.95)
total = time.perf_counter() - t0
d = fit.diagnostics()
print(f"ours-ipd-meta-default total_s={total:.1f} fit_s={fit.meta['timing']['total_s']:.1f} "
      f"build_s={fit.meta['timing']['build_s']:.1f} sample_s={fit.meta['timing']['sample_s']:.1f} "
      f"min_ess_bulk={d['min_ess_bulk']:.0f} max_rhat={d['max_rhat']:.4f} divergences={d['divergences']} "
      f"patients={fit.meta['n_patients']} studies={fit.meta['n_studies']} "
      f"gradients={d['warmup_gradients'] + d['draw_gradients']}")
print(s[s.quantity.isin(["effect", "effect_std", "tau", "moderation"])]
      .drop(columns=["arm", "study"]).round(3).to_string(index=False))
"""
    res = subprocess.run([sys.executable, "-c", f"FIT = {FIT!r}\n" + code], capture_output=True, text=True,
                         check=True, env=dict(os.environ, BAYES_KET_JAX_CACHE="0")).stdout
    print(res)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ipd_meta_default.txt").write_text(res)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["peers", "default", "single"])
    ap.add_argument("--out", default=str(HERE / "results"))
    ap.add_argument("--no-r", action="store_true")
    a = ap.parse_args(argv)
    if a.what == "single":
        single()
    elif a.what == "peers":
        peers(Path(a.out), use_r=not a.no_r)
    else:
        default(Path(a.out))


if __name__ == "__main__":
    main()
