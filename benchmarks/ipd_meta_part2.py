"""IPD meta-analysis, part 2 (issue 15): the full default, false positives among null moderators,
imputation against complete cases, and the combined moderator M*.

    python benchmarks/ipd_meta_part2.py default        [--out DIR]   # time, divergences, R-hat, ESS
    python benchmarks/ipd_meta_part2.py false_positives [--seeds 0 1 2 3 4] [--draws N] [--out DIR]
    python benchmarks/ipd_meta_part2.py mstar          [--seeds 0 1 2 3 4] [--draws N] [--out DIR]
    python benchmarks/ipd_meta_part2.py imputation     [--seeds 0 1 2 3 4] [--draws N] [--out DIR]

default: ipd_meta seed 0 with null_moderators=20; age, female, bmi, msm + the 20 null moderators,
trd_threshold, crossover, active_placebo; both visits; imputation, horseshoe, M* (no CV); 4 chains x
(1000 + 1000), in a fresh process (wall from import; the fit's own time also printed).

false_positives: per seed (null_moderators=20), the full default fit and, on the same data, the
one-at-a-time analysis (bk.ipd_meta_sequential: each moderator alone, complete cases, normal priors).
Share of the 20 null moderators x 2 visits (within level) whose 90% interval excludes 0, for both;
the true non-zero patient moderators' P(right sign); imputation vs complete cases (the same model with
missing="complete") for the moderators most affected by missingness (msm, bmi): coverage of their
truth and interval widths.

imputation: the four patient moderators with normal priors and no study-level moderators, imputed
against complete cases (part 1's behaviour), so that the comparison is of the missing-value handling alone (false_positives compares them
under the horseshoe): coverage of the truth, interval width, P(right sign), patients analysed.

mstar: (a) direction: data with three true patient moderators of known weights (simulate option
patient_moderators: age 0.15, bmi -0.6, msm 2.0 points per unit, female 0), no null moderators;
angle between the posterior mean M* weight vector and the true one (per SD; percent scale: the
truth flips sign, benefit being positive); (b) no true moderators (all four 0),
mstar_cv=True: the cross-validated r and its 90% interval (covers 0?), beside the in-sample r.

Timings taken while other work shares the machine are inflated; rerun alone for reported figures.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
STUDY = ("trd_threshold", "crossover", "active_placebo")
PATIENT = ("age", "female", "bmi", "msm")
STRONG = {"age": 0.15, "female": 0.0, "bmi": -0.6, "msm": 2.0}
NONE = {"age": 0.0, "female": 0.0, "bmi": 0.0, "msm": 0.0}


def _fit(trial, draws, **kw):
    import bayes_ket as bk

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bk.BayesKetWarning)
        f = bk.fit("ipd_meta", trial, draws=draws, tune=draws, chains=4, seed=1, progressbar=False, **kw)
        return f, f.summary(ci_prob=0.9)


def full_options(trial):
    return dict(moderators=PATIENT + tuple(trial.truth.get("null_moderators", ())), study_moderators=STUDY,
                missing="impute", shrinkage="horseshoe", mstar=True)


def default(out: Path):
    code = r"""
import time, warnings
t0 = time.perf_counter()
import bayes_ket as bk
trial = bk.simulate("ipd_meta", seed=0, null_moderators=20)
mods = ("age", "female", "bmi", "msm") + tuple(trial.truth["null_moderators"])
with warnings.catch_warnings():
    warnings.simplefilter("ignore", bk.BayesKetWarning)
    fit = bk.fit("ipd_meta", trial, moderators=mods, study_moderators=("trd_threshold", "crossover", "active_placebo"),
                 missing="impute", shrinkage="horseshoe", mstar=True, draws=1000, tune=1000, chains=4, seed=1,
                 progressbar=False)
    s = fit.summary(ci_prob=0.9)
total = time.perf_counter() - t0
d = fit.diagnostics()
t = fit.meta["timing"]
print(f"ours-ipd-meta-part2-default total_s={total:.1f} fit_s={t['total_s']:.1f} build_s={t['build_s']:.1f} "
      f"sample_s={t['sample_s']:.1f} postprocess_s={t['postprocess_s']:.1f} min_ess_bulk={d['min_ess_bulk']:.0f} "
      f"min_ess_tail={d['min_ess_tail']:.0f} max_rhat={d['max_rhat']:.4f} divergences={d['divergences']} "
      f"treedepth_max_share={d['treedepth_max_share']:.3f} patients={fit.meta['n_patients']} "
      f"gradients={d['warmup_gradients'] + d['draw_gradients']} reasons={d['reasons']}")
print(s[s.quantity.isin(["effect", "effect_std", "tau", "mstar_r"])].drop(columns=["arm", "study", "level"]).round(3)
      .to_string(index=False))
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    text = res.stdout + (res.stderr[-2000:] if res.returncode else "")
    print(text)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ipd_meta_part2_default.txt").write_text(text)


#: the cell tables false_positives writes (after every seed), in the order _false_positive_report takes them;
#: "fits" has the full model's diagnostics per seed
FALSE_POSITIVE_TABLES = ("null_cells", "sequential_cells", "imputed_vs_complete_cells", "true_moderator_cells", "fits")


def false_positives(seeds, draws, out: Path):
    import bayes_ket as bk

    rows, seq_rows, cc_rows, sign_rows, diags = [], [], [], [], []
    t0 = time.perf_counter()
    for k, seed in enumerate(seeds):
        trial = bk.simulate("ipd_meta", seed=seed, null_moderators=20)
        truth = trial.truth["model"]["percent"]["moderation"]
        nulls = trial.truth["null_moderators"]
        f, s = _fit(trial, draws, **full_options(trial))
        d = f.diagnostics()
        diags.append({"seed": seed, "fit": "full", "divergences": d["divergences"], "max_rhat": d["max_rhat"],
                      "min_ess_bulk": d["min_ess_bulk"], "patients": f.meta["n_patients"],
                      "fit_s": f.meta["timing"]["total_s"]})
        m = s[(s.quantity == "moderation") & (s.level == "within")]
        for _, r in m.iterrows():
            t = truth[r["moderator"]]["within"][r["visit"]]
            row = {"seed": seed, "moderator": r["moderator"], "visit": r["visit"], "truth": t, "mean": r["mean"],
                   "lower": r["lower"], "upper": r["upper"], "excludes_0": not r["lower"] <= 0 <= r["upper"],
                   "covered": r["lower"] <= t <= r["upper"], "p_right_sign":
                   (r["prob_positive"] if t > 0 else 1 - r["prob_positive"]) if t != 0 else np.nan}
            (rows if r["moderator"] in nulls else sign_rows).append(row)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bk.BayesKetWarning)
            seq = bk.ipd_meta_sequential(trial, moderators=list(nulls), ci_prob=0.9, draws=draws,
                                         tune=draws, chains=4, seed=1)
        for _, r in seq[seq.level == "within"].iterrows():
            t = truth[r["moderator"]]["within"][r["visit"]]
            seq_rows.append({"seed": seed, "moderator": r["moderator"], "visit": r["visit"], "truth": t,
                             "lower": r["lower"], "upper": r["upper"], "excludes_0": not r["lower"] <= 0 <= r["upper"],
                             "covered": r["lower"] <= t <= r["upper"], "divergences": r["divergences"]})
        # complete cases, no study-level moderators: dropping patients can leave one constant over the studies
        fc, sc = _fit(trial, draws, **(full_options(trial) | {"missing": "complete", "moderators": PATIENT,
                                                              "study_moderators": (), "mstar": False}))
        for fit_name, tab in (("imputed", s), ("complete cases", sc)):
            for mod in ("msm", "bmi"):
                for _, r in tab[(tab.quantity == "moderation") & (tab.moderator == mod)
                                & (tab.level == "within")].iterrows():
                    t = truth[mod]["within"][r["visit"]]
                    cc_rows.append({"seed": seed, "fit": fit_name, "moderator": mod, "visit": r["visit"], "truth": t,
                                    "width": r["upper"] - r["lower"], "covered": r["lower"] <= t <= r["upper"],
                                    "patients": (f if fit_name == "imputed" else fc).meta["n_patients"]})
        print(f"seed {seed} done ({time.perf_counter() - t0:.0f} s)", flush=True)
        # written after every seed: a long run leaves its finished seeds
        _false_positive_report(seeds[: k + 1], draws, out, t0, rows, seq_rows, cc_rows, sign_rows, diags)


def _false_positive_report(seeds, draws, out: Path, t0, rows, seq_rows, cc_rows, sign_rows, diags):
    fp, sq, cc, sg = (pd.DataFrame(x) for x in (rows, seq_rows, cc_rows, sign_rows))
    sq_null = sq[sq.moderator.str.startswith("null")]
    lines = [f"ipd_meta part 2: false positives among 20 null moderators x 2 visits, seeds {seeds} "
             f"(null_moderators=20), 4 chains x ({draws} + {draws}), 90% intervals; wall {time.perf_counter() - t0:.0f} s",
             "", pd.DataFrame(diags).round(3).to_string(index=False), "",
             f"full model (imputation + horseshoe): share of null within-study interactions whose interval excludes 0: "
             f"{fp['excludes_0'].mean():.3f} (per seed {fp.groupby('seed')['excludes_0'].mean().round(3).tolist()}; "
             f"<= 0.05: {fp['excludes_0'].mean() <= 0.05})",
             f"one at a time (complete cases, normal priors): {sq_null['excludes_0'].mean():.3f} "
             f"(per seed {sq_null.groupby('seed')['excludes_0'].mean().round(3).tolist()})", "",
             "true non-zero patient moderators (full model): mean P(right sign) over seeds",
             sg.groupby(["moderator", "visit"])["p_right_sign"].mean().round(3).to_string(),
             f"overall {sg['p_right_sign'].mean():.3f} (>= 0.8: {sg['p_right_sign'].mean() >= 0.8})",
             f"coverage of their truth (90%): {sg['covered'].mean():.3f}", "",
             "imputation vs complete cases (msm, bmi: the moderators most affected by missingness), within level:",
             cc.groupby(["fit", "moderator"])[["covered", "width", "patients"]].mean().round(3).to_string(), ""]
    text = "\n".join(lines)
    print(text)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ipd_meta_part2_false_positives.txt").write_text(text + "\n")
    for name, table in zip(FALSE_POSITIVE_TABLES, (fp, sq, cc, sg, pd.DataFrame(diags))):
        table.to_csv(out / f"ipd_meta_part2_{name}.csv", index=False)


def _angle(a, b) -> float:
    c = float(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b))
    return float(np.degrees(np.arccos(np.clip(c, -1, 1))))


def mstar(seeds, draws, out: Path):
    import bayes_ket as bk

    lines = [f"ipd_meta part 2: M*, seeds {seeds}, 4 chains x ({draws} + {draws})", ""]
    angles = []
    t0 = time.perf_counter()
    for seed in seeds:
        trial = bk.simulate("ipd_meta", seed=seed, patient_moderators=STRONG)
        f, s = _fit(trial, draws, **(full_options(trial)))
        sd = f.meta["moderator_sd"]
        slope = trial.truth["model"]["points"]["percent_per_point"]
        for v in f.meta["visits"]:
            true = np.array([STRONG[m] * sd[m] * slope[v] for m in PATIENT])  # percent per SD
            w = s[(s.quantity == "mstar_weight") & (s.visit == v)].set_index("moderator").loc[list(PATIENT), "mean"]
            angles.append({"seed": seed, "visit": v, "angle_deg": _angle(w.to_numpy(), true),
                           "weights": np.round(w.to_numpy(), 3).tolist(),
                           "true": np.round(true / np.linalg.norm(true), 3).tolist(),
                           "mstar_r": float(s[(s.quantity == "mstar_r") & (s.visit == v)]["mean"].iloc[0]),
                           "divergences": f.diagnostics()["divergences"]})
        print(f"seed {seed} done ({time.perf_counter() - t0:.0f} s)", flush=True)
    a = pd.DataFrame(angles)
    lines += ["(a) three true moderators (age, bmi, msm; female 0): angle of the posterior mean weights to the truth",
              a.to_string(index=False),
              f"within 30 degrees in {int((a['angle_deg'] <= 30).sum())} of {len(a)} seed x visit cells; "
              f"mean angle {a['angle_deg'].mean():.1f}", ""]
    trial = bk.simulate("ipd_meta", seed=seeds[0], patient_moderators=NONE)
    f, s = _fit(trial, draws, **(full_options(trial) | {"mstar_cv": True}))
    r = s[s.quantity.isin(["mstar_r", "mstar_r_cv"])][["quantity", "visit", "mean", "lower", "upper"]]
    r = r.assign(covers_0=(r["lower"] <= 0) & (r["upper"] >= 0))
    lines += [f"(b) no true moderators (seed {seeds[0]}: age, female, bmi, msm with zero effect), mstar_cv=True "
              f"({f.meta.get('mstar_folds', 5)}-fold by study): in-sample and cross-validated r (90% intervals)",
              r.round(3).to_string(index=False),
              f"cross-validated r covers 0 at every visit: {bool(r[r.quantity == 'mstar_r_cv']['covers_0'].all())}; "
              f"fit with CV took {f.meta['timing']['total_s']:.0f} s"]
    text = "\n".join(lines)
    print(text)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ipd_meta_part2_mstar.txt").write_text(text + "\n")


def imputation(seeds, draws, out: Path):
    """Imputation against complete cases with the same (normal) priors, so that only the handling of
    missing values differs: the seed design's four patient moderators (msm and bmi the most often
    missing), within level, 90% intervals: coverage of the truth, width, patients analysed."""
    import bayes_ket as bk

    rows, t0 = [], time.perf_counter()
    for k, seed in enumerate(seeds):
        trial = bk.simulate("ipd_meta", seed=seed)
        truth = trial.truth["model"]["percent"]["moderation"]
        for label, missing in (("imputed", "impute"), ("complete cases", "complete")):
            # no study-level moderators: complete cases can leave one constant over the studies left
            f, s = _fit(trial, draws, moderators=PATIENT, study_moderators=(), missing=missing,
                        shrinkage="normal", mstar=False)
            m = s[(s.quantity == "moderation") & (s.level == "within")]
            divergences = f.diagnostics()["divergences"]
            for _, r in m.iterrows():
                t = truth[r["moderator"]]["within"][r["visit"]]
                rows.append({"seed": seed, "fit": label, "moderator": r["moderator"], "visit": r["visit"],
                             "truth": t, "mean": r["mean"], "width": r["upper"] - r["lower"],
                             "covered": r["lower"] <= t <= r["upper"],
                             "p_right_sign": (r["prob_positive"] if t > 0 else 1 - r["prob_positive"]) if t != 0
                             else np.nan, "patients": f.meta["n_patients"], "divergences": divergences})
        print(f"seed {seed} done ({time.perf_counter() - t0:.0f} s)", flush=True)
        _imputation_report(seeds[: k + 1], draws, out, t0, rows)


def _imputation_report(seeds, draws, out: Path, t0, rows):
    a = pd.DataFrame(rows)
    text = "\n".join([
        f"ipd_meta part 2: imputation vs complete cases, same normal priors (shrinkage='normal'), moderators "
        f"{', '.join(PATIENT)} (within level), seeds {seeds}, 4 chains x ({draws} + {draws}), 90% intervals; "
        f"wall {time.perf_counter() - t0:.0f} s", "",
        a.groupby(["moderator", "fit"])[["covered", "width", "p_right_sign", "patients"]].mean().round(3).to_string(),
        "", "all four moderators:",
        a.groupby("fit")[["covered", "width", "p_right_sign", "patients", "divergences"]].mean().round(3).to_string()])
    print(text)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ipd_meta_part2_imputation.txt").write_text(text + "\n")
    a.to_csv(out / "ipd_meta_part2_imputation_cells.csv", index=False)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["default", "false_positives", "mstar", "imputation"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--out", default=str(HERE / "results"))
    a = ap.parse_args(argv)
    out = Path(a.out)
    if a.what == "default":
        default(out)
    elif a.what == "false_positives":
        false_positives(a.seeds, a.draws, out)
    elif a.what == "imputation":
        imputation(a.seeds, a.draws, out)
    else:
        mstar(a.seeds, a.draws, out)


if __name__ == "__main__":
    main()
