"""Statistical self-checks of any model family: interval coverage and simulation-based calibration.

Both draw trials from a family's own generative form (``Family.calibration_trial`` /
``Family.simulate``), fit them with one compiled ``Analysis`` (replicates are swapped in
as data, ``Analysis.rebind``), and compare with the truth.

**Coverage** (``coverage``, ``summarise_coverage``): R trials drawn with one fixed truth;
how often the central ``ci_prob`` interval of each checked quantity covers its true
value. Two-sided check: |coverage - ci_prob| <= 3 standard errors, the standard error
clustered by replicated trial (the cells of one trial share its data).

**Simulation-based calibration** (``sbc``, ``sbc_uniformity``; Talts et al. 2018): for
r = 1..R, parameters theta_r are drawn from the prior, a trial from the model given
theta_r, and the rank of each population-level parameter's true value among L thinned
posterior draws is recorded. If the sampler and the model are right, each parameter's
ranks are uniform on 0..L; ``sbc_uniformity`` tests that with a simultaneous ECDF band
(ArviZ's optimised band) at ``familywise`` error over all parameters (Bonferroni).
``perturb`` and ``fit_priors`` inject a known error (data drawn with a residual SD 30%
larger; a fitted prior scale halved) to show that the check fails when it should.
"""

from __future__ import annotations

import time as _time
import warnings

import numpy as np
import pandas as pd

from .cards import load_card
from .families import family_of
from .fitting import Analysis

DEFAULT_FIT = {"draws": 500, "tune": 500, "chains": 2}


# ---- coverage -------------------------------------------------------------------------------
def _coord_column(rows: pd.DataFrame, at) -> str:
    """The summary column that holds the truth key's coordinate value ``at``."""
    for col in rows.columns:
        if col in ("quantity", "mean", "sd", "lower", "upper") or not rows[col].notna().any():
            continue
        if at in set(rows[col].dropna().tolist()):
            return col
    raise ValueError(f"no coordinate column of {rows['quantity'].iloc[0]} holds {at!r}")


def _truth_row(rows: pd.DataFrame, at) -> pd.Series:
    """The summary row a truth key's ``at`` names: a coordinate value, or a tuple of
    (column, value) pairs for a quantity with several coordinates."""
    if isinstance(at, tuple) and at and all(isinstance(p, tuple) and len(p) == 2 for p in at):
        mask = np.ones(len(rows), bool)
        for col, value in at:
            mask &= (rows[col] == value).to_numpy()
        return rows[mask].iloc[0]
    return rows[rows[_coord_column(rows, at)] == at].iloc[0]


def coverage(model, replications=20, ci_prob=0.9, seed=0, fit_options=None, make_trial=None,
             progressbar=False, **sizes) -> pd.DataFrame:
    """Fit ``replications`` trials of one fixed truth; one row per replication x checked cell.

    make_trial(rng) -> TrialData with ``truth`` {(quantity, at): value}, ``at`` a coordinate
    value or a tuple of (column, value) pairs;
    default: the family's ``calibration_trial(rng, **sizes)``. Columns: replication,
    quantity, at, truth, mean, lower, upper, covered, divergences, max_rhat.
    """
    fit_options = DEFAULT_FIT | (fit_options or {})
    family = family_of(load_card(model))
    make_trial = make_trial or (lambda rng: family.calibration_trial(rng, **sizes))
    rng = np.random.default_rng(seed)
    analysis, rows = None, []
    for r in range(replications):
        trial = make_trial(rng)
        analysis = Analysis(model, trial) if analysis is None else analysis.rebind(trial)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = analysis.sample(seed=seed * 10_000 + r, progressbar=progressbar, **fit_options)
            summary = fit.summary(ci_prob=ci_prob, quantities=sorted({q for q, _ in trial.truth}))
        diag = summary.attrs["diagnostics"]
        for (q, at), value in trial.truth.items():
            row = _truth_row(summary[summary["quantity"] == q], at)
            rows.append({"replication": r, "quantity": q, "at": at, "truth": value, "mean": row["mean"],
                         "lower": row["lower"], "upper": row["upper"],
                         "covered": bool(row["lower"] <= value <= row["upper"]),
                         "divergences": diag["divergences"], "max_rhat": diag["max_rhat"]})
    return pd.DataFrame(rows)


def summarise_coverage(table: pd.DataFrame, ci_prob: float = 0.9) -> pd.DataFrame:
    """Coverage per quantity with a standard error clustered by replicated trial.

    se = sqrt(sum_r (sum_j (c_rj - ci_prob))^2) / n: the cluster-robust standard error of the
    share of covered cells under the nominal rate (never 0, so a run where every interval
    covers is judged too). z = (coverage - ci_prob) / se; ok = |z| <= 3.
    """
    out = []
    for q, g in table.groupby("quantity"):
        c = g["covered"].astype(float)
        per_rep = (c - ci_prob).groupby(g["replication"]).sum()
        se = float(np.sqrt((per_rep**2).sum()) / len(g))
        cov = float(c.mean())
        out.append({"quantity": q, "n": len(g), "replications": g["replication"].nunique(), "coverage": cov,
                    "se_clustered": se, "z": (cov - ci_prob) / se, "ok": abs(cov - ci_prob) <= 3 * se})
    return pd.DataFrame(out)


# ---- simulation-based calibration -------------------------------------------------------------
def _scalar_names(prior: dict, names: list[str]) -> list[tuple[str, tuple]]:
    """(variable, index) of every scalar component of the variables ``names`` in a prior draw."""
    out = []
    for n in names:
        shape = np.shape(prior[n])
        out += [(n, idx) for idx in np.ndindex(*shape)] if shape else [(n, ())]
    return out


def _label(name, idx) -> str:
    return f"{name}[{','.join(map(str, idx))}]" if idx else name


def sbc(model, replications=100, thin_to=99, seed=0, fit_options=None, sizes=None, fit_priors=None,
        perturb=None, parameters=None, progressbar=False) -> pd.DataFrame:
    """Simulation-based calibration of a family on its own generative form.

    One template trial (``calibration_trial(rng, **sizes)``) fixes the design; for each
    replication, theta ~ prior (``Family.prior_draws``), data ~ model | theta
    (``Family.simulate``), a fit with ``fit_options`` (priors: the card's, overridden by
    ``fit_priors``), and the rank of each true scalar among ``thin_to`` evenly thinned draws.
    perturb: {variable: factor} multiplies theta's variables before the data are drawn (an
    injected misspecification). parameters: the variables ranked (default: every
    population-level free variable; deterministics of them would only repeat them).

    Returns one row per replication x scalar parameter: replication, parameter, rank, L,
    truth, divergences, max_rhat; ``attrs``: wall_s, design sizes.
    """
    t0 = _time.perf_counter()
    fit_options = DEFAULT_FIT | (fit_options or {})
    family = family_of(load_card(model))
    rng = np.random.default_rng(seed)
    template = family.calibration_trial(rng, **(sizes or {}))
    analysis = Analysis(model, template)
    free = {v.name for v in analysis.model.free_RVs}
    names = parameters or [n for n in analysis.population_vars if n in free]
    priors_fit = analysis.priors_with(fit_priors)
    draws = family.prior_draws(analysis.model, replications, rng)
    scalars = _scalar_names(draws[0], names)
    rows = []
    for r, theta in enumerate(draws):
        theta_sim = {k: np.asarray(v, float) * (perturb or {}).get(k, 1.0) for k, v in theta.items()}
        trial = family.simulate(analysis.design, theta_sim, rng)
        fitted = analysis.rebind(trial)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = fitted.sample(priors=priors_fit, seed=seed * 100_000 + r, progressbar=progressbar, **fit_options)
            diag = fit.diagnostics()
        post = fit.idata.posterior
        n_total = post.sizes["chain"] * post.sizes["draw"]
        keep = np.linspace(0, n_total - 1, min(thin_to, n_total)).round().astype(int)
        for name, idx in scalars:
            x = post[name].transpose("chain", "draw", ...).to_numpy().reshape((n_total,) + post[name].shape[2:])
            x = x[(keep, *idx)] if idx else x[keep]
            truth = float(np.asarray(theta[name])[idx]) if idx else float(theta[name])
            rows.append({"replication": r, "parameter": _label(name, idx), "rank": int((x < truth).sum()),
                         "L": len(keep), "truth": truth, "divergences": diag["divergences"],
                         "max_rhat": diag["max_rhat"]})
    table = pd.DataFrame(rows)
    table.attrs = {"wall_s": _time.perf_counter() - t0, "replications": replications,
                   "n_patients": analysis.design.units["patient"].nunique() if hasattr(analysis.design, "units")
                   else None, "fit_options": fit_options}
    return table


def sbc_uniformity(table: pd.DataFrame, familywise: float = 0.01) -> pd.DataFrame:
    """Per parameter: is the ECDF of its ranks inside a simultaneous uniformity band?

    Ranks on 0..L become u = (rank + 1) / (L + 1); the ECDF at the grid k / (L + 1),
    k = 1..L, is compared with ArviZ's optimised simultaneous band for R draws of a
    uniform at level 1 - familywise / (number of parameters). Columns: parameter, n,
    max_deviation (largest |ECDF - uniform| at the grid), inside (bool).
    """
    from arviz.stats.ecdf_utils import ecdf_confidence_band

    params = list(dict.fromkeys(table["parameter"]))
    L = int(table["L"].iloc[0])
    prob = 1.0 - familywise / len(params)
    out = []
    bands = {}
    for p in params:
        ranks = table.loc[table["parameter"] == p, "rank"].to_numpy()
        n = len(ranks)
        grid = np.arange(1, L + 1) / (L + 1)
        if n not in bands:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                bands[n] = ecdf_confidence_band(n, grid, grid, prob=prob, method="optimized")
        lower, upper = bands[n]
        ecdf = ((ranks[None, :] + 1) / (L + 1) <= grid[:, None] + 1e-12).mean(axis=1)
        out.append({"parameter": p, "n": n, "max_deviation": float(np.max(np.abs(ecdf - grid))),
                    "inside": bool(np.all((ecdf >= lower - 1e-12) & (ecdf <= upper + 1e-12)))})
    return pd.DataFrame(out)
