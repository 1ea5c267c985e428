"""Peer agreement for percent improvement, baseline-adjusted analyses and the open-label design.

Run: python benchmarks/outcomes_peers.py [--part bdi ols coverage] [--draws N] [--seeds 0-9]
Each part stores its figures in benchmarks/results/outcomes_peers_<part>.json; every run
re-renders benchmarks/results/outcomes_peers.txt from the parts there.

1. bdi: a two-arm trial on BDI-II (0-63), read with ``bk.read_trial`` as ``bdi2_total``, fitted
   as a trajectory (one mean per visit, baseline as an outcome) and with ``baseline="covariate"``;
   the treatment effect per visit against lme4 (REML, ``outcomes_lme4.R``) with the same fixed
   part and the same patient effects (correlated random intercept and slope in log(1 + day)).
   Agreement: |ours - lme4| < 0.3 lme4 SE at every visit.
2. ols: the open-label design, percent-improvement fit with hb3_change: the predictor's effect
   after the 4th infusion (day 10.06) against statsmodels OLS of the percent improvement at that
   visit on hb3_change (same patients), with the card's priors and with wider per-visit priors.
3. coverage: the open-label card over seeds: do the 90% and 95% intervals of remission after the
   4th infusion and at 12 months (and of sustained remission) cover the simulator's population
   rates (``trial.truth``)? Nominal +- 3 binomial SE. Two posterior quantities: the card's
   ``remission_rate`` (the trial's own patients, replicated) and the rate of a new patient of the
   fitted model's population, Phi((10.5 - mean_t) / sd_t) with sd_t from the patient effects and
   sigma (computed here from the draws).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
R_SCRIPT = HERE / "outcomes_lme4.R"

# ---- 1. BDI-II two-arm trial ---------------------------------------------------------------------
BDI_DAYS = np.array([0.0, 1.0, 7.0, 14.0, 28.0])
BDI_TRUTH = {
    "n_patients": 160,
    "control_mean": [31.0, 26.0, 24.0, 22.0, 21.0],  # BDI-II points by visit (severe at baseline)
    "effect": [-7.0, -5.0, -4.0, -3.0],  # ketamine - control after baseline
    "sd_intercept": 7.0, "sd_slope": 1.5, "corr": -0.2, "sigma": 4.0,  # slope per log(1 + day)
    "p_missing": 0.06,  # post-baseline visits missed at random
}


def bdi_trial_frame(seed: int = 0) -> pd.DataFrame:
    """A two-arm BDI-II trial in the trajectory family's generative form, rounded to 0..63."""
    t = BDI_TRUTH
    rng = np.random.default_rng([seed, 11])
    n = t["n_patients"]
    arm = rng.permutation(np.arange(n) % 2)
    cov = np.array([[t["sd_intercept"] ** 2, t["corr"] * t["sd_intercept"] * t["sd_slope"]],
                    [t["corr"] * t["sd_intercept"] * t["sd_slope"], t["sd_slope"] ** 2]])
    b = rng.multivariate_normal([0, 0], cov, n)
    eff = np.concatenate([[0.0], t["effect"]])
    mu = np.asarray(t["control_mean"])[None, :] + arm[:, None] * eff + b[:, :1] + b[:, 1:] * np.log1p(BDI_DAYS)
    y = np.clip(np.round(mu + rng.normal(0, t["sigma"], mu.shape)), 0, 63)
    keep = np.ones_like(y, bool)
    keep[:, 1:] = rng.random((n, len(BDI_DAYS) - 1)) > t["p_missing"]
    pi, ti = np.nonzero(keep)
    return pd.DataFrame({"Subject": [f"B{i:03d}" for i in pi], "Group": np.where(arm[pi] == 1, "Ketamine", "Saline"),
                         "Day": BDI_DAYS[ti], "BDI-II": y[pi, ti]})


def lme4_effects(rows: pd.DataFrame, kind: str) -> dict:
    """lme4 on the rows bayes_ket modelled: {day: (estimate, se)} of treatment x visit."""
    post = sorted(d for d in rows["day"].unique() if d > 0)
    d = pd.DataFrame({"patient": rows["patient"], "day": rows["day"], "score": rows["score"],
                      "s": np.log1p(rows["day"])})
    for k in post:
        d[f"trt_{k:g}"] = rows["arm"] * (rows["day"] == k)
        if kind == "covariate":
            d[f"base_{k:g}"] = rows["y0c"] * (rows["day"] == k)
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "rows.csv"
        d.to_csv(csv, index=False)
        out = subprocess.run(["Rscript", str(R_SCRIPT), str(csv), kind], capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    lines = out.stdout.splitlines()
    effects = {float(ln.split(",")[0][4:]): tuple(map(float, ln.split(",")[1:3]))
               for ln in lines if ln.startswith("trt_")}
    return {"header": lines[0], "effects": effects,
            "varcorr": [ln for ln in lines if ln.startswith("varcorr")]}


def part_bdi(draws: int) -> dict:
    import bayes_ket as bk

    raw = bdi_trial_frame(0)
    trial = bk.read_trial(raw, columns={"Subject": "patient", "Group": "arm", "Day": "day", "BDI-II": "bdi2_total"},
                          arm_labels={"Ketamine": 1, "Saline": 0})
    out = {"truth": BDI_TRUTH, "days": BDI_DAYS.tolist(), "n_rows": len(trial.frame), "fits": {}}
    for kind in ("outcome", "covariate"):
        t0 = time.perf_counter()
        analysis = bk.Analysis("trajectory", trial, outcome="bdi2_total", moderators=(), baseline=kind)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bk.BayesKetWarning)  # diagnostics are reported below
            fit = analysis.sample(draws=draws, tune=draws, chains=4, seed=0, progressbar=False)
        wall = time.perf_counter() - t0
        design = analysis.design
        rows, units = design.rows, design.units
        rows = pd.DataFrame({"patient": rows["patient"].astype(str), "day": rows["day"].astype(float),
                             "score": rows["_value"].astype(float),
                             "arm": rows["unit_idx"].map(units["arm"]).astype(float),
                             "y0c": rows["y0"].astype(float) - design.y0_mean})
        peer = lme4_effects(rows, kind)
        s = fit.summary()
        eff = s[s.quantity == "effect"].set_index("day")
        diag = fit.diagnostics()
        table = []
        for day, (est, se) in sorted(peer["effects"].items()):
            ours, sd = float(eff.loc[day, "mean"]), float(eff.loc[day, "sd"])
            table.append({"day": day, "ours_mean": ours, "ours_sd": sd, "lme4": est, "lme4_se": se,
                          "diff_in_se": (ours - est) / se, "truth": BDI_TRUTH["effect"][list(BDI_DAYS[1:]).index(day)]})
        out["fits"][kind] = {
            "rows_modelled": len(rows), "wall_s": wall, "lme4": peer["header"], "lme4_varcorr": peer["varcorr"],
            "ours_variance": {q: float(s.loc[s.quantity == q, "mean"].iloc[0]) for q in
                              ("sd_patient_intercept", "sd_patient_slope", "corr_patient", "sigma")},
            "scale": fit.meta.get("outcome_label"),
            "remission_threshold": design.remission_threshold,
            "diagnostics": {k: diag[k] for k in ("divergences", "max_rhat", "min_ess_bulk", "ok")},
            "table": table, "max_abs_diff_in_se": max(abs(r["diff_in_se"]) for r in table),
            "agree": all(abs(r["diff_in_se"]) < 0.3 for r in table),
        }
    return out


# ---- 2. open label: predictor vs OLS ----------------------------------------------------------
WIDE = {"moderator_effect_sigma": 100.0, "trajectory_sigma": 100.0}


def ols_slope(trial, day: float) -> tuple[float, float, int]:
    import statsmodels.api as sm

    f = trial.frame
    w = f.pivot(index="patient", columns="day", values="madrs_total")
    h = f.groupby("patient")["hb3_change"].first().reindex(w.index)
    pct = 100.0 * (w[0.0] - w[day]) / w[0.0]
    ok = pct.notna() & (w[0.0] > 0)
    r = sm.OLS(pct[ok].to_numpy(), sm.add_constant(h[ok].to_numpy())).fit()
    return float(r.params[1]), float(r.bse[1]), int(ok.sum())


def part_ols(draws: int, seeds) -> dict:
    import bayes_ket as bk

    rows = []
    for seed in seeds:
        trial = bk.simulate("open_label", seed=seed)
        analysis = bk.Analysis("open_label", trial, outcome_scale="percent", moderators=("hb3_change",))
        for label, priors in (("card", None), ("wide", WIDE)):
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", bk.BayesKetWarning)
                fit = analysis.sample(priors=priors, draws=draws, tune=draws, chains=4, seed=seed, progressbar=False)
                s = fit.summary()
                diag = fit.diagnostics()
            me = s[s.quantity == "moderator_effect"].set_index("day")
            for day in (10.06, 370.0):
                b, se, n = ols_slope(trial, day)
                rows.append({"seed": seed, "priors": label, "day": day, "ours_mean": float(me.loc[day, "mean"]),
                             "ours_sd": float(me.loc[day, "sd"]), "ours_lower": float(me.loc[day, "lower"]),
                             "ours_upper": float(me.loc[day, "upper"]), "ols": b, "ols_se": se, "ols_n": n,
                             "diff_in_se": (float(me.loc[day, "mean"]) - b) / se,
                             "max_rhat": diag["max_rhat"], "divergences": diag["divergences"],
                             "wall_s": time.perf_counter() - t0})
            print(f"ols seed {seed} {label}: " + ", ".join(
                f"{r['day']:g}: {r['ours_mean']:.2f} vs {r['ols']:.2f} ({r['diff_in_se']:+.2f} SE)"
                for r in rows[-2:]), flush=True)
    truth = bk.simulate("open_label").truth
    return {"rows": rows, "wide_priors": WIDE, "priors_card": analysis.priors_with(None),
            "population_slope": {"10.06": truth["hb3_slope"][10.06], "370.0": truth["hb3_slope"][370.0]}}


# ---- 3. open label: coverage of remission ----------------------------------------------------
DAYS = (10.06, 370.0)


def new_patient_rates(fit, threshold: float = 10.0, n_mc: int = 4000, seed: int = 0) -> dict:
    """Posterior draws of the model-population rates: remission at each day of DAYS and sustained.

    A new patient's score at day t: mean_t + b0 + b1 log(1 + t) + e (the fitted model), remitted
    when it rounds to <= threshold. Marginal rates: Phi((threshold + 0.5 - mean_t) / sd_t); sustained
    (both days): Monte Carlo over the patient effects and residuals per draw.
    """
    from scipy.stats import norm

    post = fit.idata.posterior
    mt = post["mean_trajectory"].stack(sample=("chain", "draw"))
    tau0 = post["sd_patient_intercept"].stack(sample=("chain", "draw")).to_numpy()
    tau1 = post["sd_patient_slope"].stack(sample=("chain", "draw")).to_numpy()
    r = post["corr_patient"].stack(sample=("chain", "draw")).to_numpy()
    sigma = post["sigma"].stack(sample=("chain", "draw")).to_numpy()
    day_dim = [d for d in mt.dims if d != "sample"][0]
    out, means, sds = {}, {}, {}
    for t in DAYS:
        m = mt.sel({day_dim: t}).to_numpy()
        s = np.log1p(t)
        sd = np.sqrt(tau0**2 + 2 * r * tau0 * tau1 * s + tau1**2 * s**2 + sigma**2)
        out[t], means[t], sds[t] = norm.cdf((threshold + 0.5 - m) / sd), m, sd
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((3, n_mc))  # b0, b1 (correlated), and the residual at each day
    e = rng.standard_normal((2, n_mc))
    b0 = tau0[:, None] * z[0]
    b1 = tau1[:, None] * (r[:, None] * z[0] + np.sqrt(1 - r[:, None] ** 2) * z[1])
    both = np.ones((len(tau0), n_mc), bool)
    for k, t in enumerate(DAYS):
        y = means[t][:, None] + b0 + b1 * np.log1p(t) + sigma[:, None] * e[k]
        both &= y <= threshold + 0.5
    out["sustained"] = both.mean(axis=1)
    return out


def interval(x, prob):
    tail = (1 - prob) / 2
    return float(np.quantile(x, tail)), float(np.quantile(x, 1 - tail))


#: the coverage part's prior variants: the card's, and a wider per-visit prior on the visit means
#: (the card's 15 MADRS points per visit leave the level common to 17 visits a prior SD of 3.6)
COVERAGE_PRIORS = {"card": None, "wide": {"trajectory_sigma": 60.0}}


def part_coverage(draws: int, seeds, priors: str = "card") -> dict:
    import bayes_ket as bk

    rows = []
    for seed in seeds:
        trial = bk.simulate("open_label", seed=seed)
        truth = trial.truth
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bk.BayesKetWarning)
            fit = bk.fit("open_label", trial, priors=COVERAGE_PRIORS[priors], draws=draws, tune=draws, chains=4,
                         seed=seed, progressbar=False)
            diag = fit.diagnostics()
        wall = time.perf_counter() - t0
        w = trial.frame.pivot(index="patient", columns="day", values="madrs_total")
        rr = fit.idata.posterior_predictive["remission_rate"].stack(sample=("chain", "draw"))
        sr = fit.idata.posterior_predictive["sustained_remission"].stack(sample=("chain", "draw")).to_numpy()
        pop = new_patient_rates(fit)
        day_dim = [d for d in rr.dims if d != "sample"][0]
        for key in (*DAYS, "sustained"):
            if key == "sustained":
                true = truth["sustained_remission"]
                both = w[list(DAYS)].dropna()
                observed = float((both <= 10).all(axis=1).mean())
                trial_q = sr
            else:
                true = truth["remission_rate"][key]
                observed = float((w[key].dropna() <= 10).mean())
                trial_q = rr.sel({day_dim: key}).to_numpy()
            row = {"seed": seed, "quantity": "sustained" if key == "sustained" else f"remission {key:g}",
                   "truth": true, "observed": observed, "wall_s": wall, "max_rhat": diag["max_rhat"],
                   "divergences": diag["divergences"], "min_ess_bulk": diag["min_ess_bulk"]}
            for name, x in (("trial", trial_q), ("population", pop[key])):
                row[f"{name}_mean"] = float(np.mean(x))
                for prob in (0.9, 0.95):
                    lo, hi = interval(x, prob)
                    row[f"{name}_{int(prob * 100)}"] = [lo, hi]
                    row[f"{name}_covers_{int(prob * 100)}"] = bool(lo <= true <= hi)
            rows.append(row)
        print(f"coverage seed {seed} ({wall:.0f} s): " + "; ".join(
            f"{r['quantity']}: truth {r['truth']:.3f} observed {r['observed']:.3f} trial 95% "
            f"[{r['trial_95'][0]:.3f}, {r['trial_95'][1]:.3f}] population 95% "
            f"[{r['population_95'][0]:.3f}, {r['population_95'][1]:.3f}]" for r in rows[-3:]), flush=True)
    return {"rows": rows, "draws": draws, "chains": 4, "priors": priors, "prior_values": COVERAGE_PRIORS[priors]}


# ---- report -----------------------------------------------------------------------------------
def coverage_lines(rows, quantities) -> list[str]:
    lines = []
    sel = [r for r in rows if r["quantity"] in quantities]
    n = len(sel)
    for name in ("trial", "population"):
        for prob in (90, 95):
            k = sum(r[f"{name}_covers_{prob}"] for r in sel)
            p = prob / 100
            se = np.sqrt(p * (1 - p) / n)
            ok = abs(k / n - p) <= 3 * se
            lines.append(f"  {name:10s} {prob}%: {k}/{n} = {k / n:.2f}  (nominal {p:.2f}, 3 binomial SE = "
                         f"{3 * se:.2f}: {'consistent' if ok else 'NOT consistent'})")
    return lines


def render() -> str:
    out = ["Peer agreement: percent improvement, baseline-adjusted analyses, open label "
           "(benchmarks/outcomes_peers.py)", ""]
    f = RESULTS / "outcomes_peers_bdi.json"
    if f.exists():
        r = json.loads(f.read_text())
        out += [f"[code {r.get('code', 'before b2afd9f: 23c5e5a + open_label truth')}]",
                "1. Two-arm trial on BDI-II (0-63), read as bdi2_total, one mean per visit, treatment x post-baseline",
                f"   visit, correlated patient intercept + slope in log(1 + day); {r['truth']['n_patients']} patients, "
                f"days {r['days']}, {r['n_rows']} rows.", "   Generator: " + json.dumps(r["truth"])]
        for kind, fit in r["fits"].items():
            out += ["", f"   baseline={kind!r}: {fit['rows_modelled']} rows modelled; remission threshold "
                    f"{fit['remission_threshold']:g} ({fit['scale']}); ours {fit['wall_s']:.0f} s, diagnostics "
                    f"{fit['diagnostics']}", f"   peer: {fit['lme4']}",
                    "   patient effects and residual, ours (posterior means): " + ", ".join(
                        f"{k} {v:.2f}" for k, v in fit.get("ours_variance", {}).items()),
                    "   lme4 (REML): " + ", ".join(v.split(",", 1)[1].replace(",", " ") for v in fit["lme4_varcorr"]),
                    "    day   ours mean (sd)     lme4 est (SE)    diff/SE   truth"]
            for t in fit["table"]:
                out.append(f"   {t['day']:4g}  {t['ours_mean']:7.3f} ({t['ours_sd']:.3f})  {t['lme4']:7.3f} "
                           f"({t['lme4_se']:.3f})  {t['diff_in_se']:+6.3f}   {t['truth']:g}")
            out.append(f"   max |diff| = {fit['max_abs_diff_in_se']:.3f} SE: "
                       f"{'within' if fit['agree'] else 'NOT within'} 0.3 SE")
        out.append("")
    f = RESULTS / "outcomes_peers_ols.json"
    if f.exists():
        r = json.loads(f.read_text())
        df = pd.DataFrame(r["rows"])
        out += [f"[code {r.get('code', 'before b2afd9f: 23c5e5a + open_label truth')}]",
                "2. Open label, percent-improvement fit with hb3_change (moderator_effect, percent points per unit)",
                "   vs statsmodels OLS of percent improvement at that visit on hb3_change (same patients).",
                f"   'card': the open_label card's priors; 'wide': priors={r['wide_priors']} (per visit, wider still than the card's).",
                f"   Population slope (simulator, Monte Carlo): {r['population_slope']}",
                "   seed priors   day   ours mean (sd) [95%]            OLS (SE)        diff/SE"]
        for _, t in df.iterrows():
            out.append(f"   {t['seed']:4d} {t['priors']:5s} {t['day']:6g}  {t['ours_mean']:6.3f} ({t['ours_sd']:.3f}) "
                       f"[{t['ours_lower']:6.3f}, {t['ours_upper']:6.3f}]  {t['ols']:6.3f} ({t['ols_se']:.3f}, n={t['ols_n']})"
                       f"  {t['diff_in_se']:+6.2f}")
        a4 = df[df.day == 10.06]
        for label, g in a4.groupby("priors"):
            out.append(f"   after the 4th infusion, priors {label}: max |diff| = {g['diff_in_se'].abs().max():.2f} SE "
                       f"over {len(g)} seeds: {'within' if (g['diff_in_se'].abs() < 0.3).all() else 'NOT within'} 0.3 SE")
        out.append("")
    for part in ("coverage", "coverage_wide"):
        f = RESULTS / f"outcomes_peers_{part}.json"
        if not f.exists():
            continue
        r = json.loads(f.read_text())
        rows = r["rows"]
        seeds = sorted({x["seed"] for x in rows})
        label = "the card's priors" if r.get("priors", "card") == "card" else f"priors={r['prior_values']}"
        out += [f"[code {r.get('code', 'before b2afd9f: 23c5e5a + open_label truth')}]",
                f"3{'b' if part.endswith('wide') else 'a'}. Open label ({label}, {r['chains']} chains x {r['draws']} "
                f"draws), seeds {seeds[0]}-{seeds[-1]}: do the remission intervals cover the simulator's population rates?",
                "   trial: the card's remission_rate / sustained_remission (the trial's own 30 patients, replicated);",
                "   population: a new patient of the fitted model, Phi((10.5 - mean_t) / sd_t) (sustained: Monte Carlo).",
                "   seed quantity        truth  observed  trial mean [95%]      population mean [95%]  Rhat"]
        for x in rows:
            out.append(f"   {x['seed']:4d} {x['quantity']:15s} {x['truth']:.3f}  {x['observed']:.3f}    "
                       f"{x['trial_mean']:.3f} [{x['trial_95'][0]:.3f}, {x['trial_95'][1]:.3f}]  "
                       f"{x['population_mean']:.3f} [{x['population_95'][0]:.3f}, {x['population_95'][1]:.3f}]  "
                       f"{x['max_rhat']:.3f}")
        out.append("   coverage, remission after the 4th infusion and at 12 months (2 per seed):")
        out += coverage_lines(rows, ("remission 10.06", "remission 370"))
        out.append("   coverage, sustained remission (1 per seed):")
        out += coverage_lines(rows, ("sustained",))
        out.append("   (judged: the population rows. The trial rows estimate the 30 patients' own rates, which differ from the")
        out.append("   population rate by sampling; their coverage of the population rate is shown for reference only.)")
        obs = pd.DataFrame(rows)
        for q, g in obs.groupby("quantity"):
            out.append(f"   {q}: mean over seeds: observed {g['observed'].mean():.3f} (truth {g['truth'].iloc[0]:.3f}); "
                       f"trial quantity {g['trial_mean'].mean():.3f}, population quantity {g['population_mean'].mean():.3f}")
        out.append("")
    return "\n".join(out) + "\n"


def code_version() -> str:
    """The commit the figures come from (+ "dirty" with uncommitted changes in bayes_ket/ or models/)."""
    git = ["git", "-C", str(HERE.parent)]
    try:
        head = subprocess.run(git + ["rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(git + ["status", "--porcelain", "bayes_ket", "models"], capture_output=True, text=True).stdout
    except OSError:
        return "unknown"
    return head + (" (dirty)" if dirty.strip() else "")


def seeds_arg(text: str) -> list[int]:
    if "-" in text:
        a, b = text.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(s) for s in text.split(",")]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--part", nargs="*", default=["bdi", "ols", "coverage"], choices=["bdi", "ols", "coverage"])
    p.add_argument("--draws", type=int, default=1000, help="draws (= warm-up) per chain, 4 chains")
    p.add_argument("--seeds", default="0-9", help="open-label seeds, e.g. 0-9 or 0,3")
    p.add_argument("--ols-seeds", default="0-4")
    p.add_argument("--coverage-priors", default="card", choices=list(COVERAGE_PRIORS))
    args = p.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    for part in args.part:
        if part == "bdi":
            if not shutil.which("Rscript"):
                sys.exit("Rscript not found: the BDI-II part needs R with lme4.")
            r = part_bdi(args.draws)
        elif part == "ols":
            r = part_ols(args.draws, seeds_arg(args.ols_seeds))
        else:
            r = part_coverage(args.draws, seeds_arg(args.seeds), args.coverage_priors)
            part = part if args.coverage_priors == "card" else f"{part}_{args.coverage_priors}"
        r["code"] = code_version()
        (RESULTS / f"outcomes_peers_{part}.json").write_text(json.dumps(r, indent=1, default=float))
        text = render()
        (RESULTS / "outcomes_peers.txt").write_text(text)
    print(render())


if __name__ == "__main__":
    main()
