r"""The combined moderator M* (Kraemer 2013; Wallace, Frank and Kraemer 2013) from an ipd_meta fit.

Weights. Per visit v and posterior draw s, the within-study treatment x moderator interactions
per SD of each patient moderator, g_s (P,), normalised to unit length:

    w_s = sign g_s / ||g_s||,    sign = +1 for percent improvement, -1 for points,

so a higher M* always means more benefit from ketamine relative to control. ``mstar_weight``
(moderator, visit) summarises w_s.

Scores. Patient i's M*_is = w_s . z_i, with z_i the standardised moderators (continuous: (x -
mean) / SD; binary: (x - mean) / SD too, so every weight is per SD); a missing value is the
observed mean of that moderator in the patient's study (0, the overall mean, when the study never
measured it): a score uses baseline information only, never the outcome. M* is then standardised
over the analysed patients (mean 0, SD 1) within each draw. ``fit.mstar_scores()``: per patient
and visit the posterior mean and 90% interval of the score, the arm and the outcome.

Effect size (Kraemer). Per draw, weighted least squares of the outcome on study intercepts, the
treatment T (+1/2 ketamine, -1/2 control), M* and T x M*, with Bayesian-bootstrap weights
(Dirichlet(1, ..., 1) x n; Rubin 1981) so that the interval carries the sampling of patients as
well as the weights' posterior; with b2 the coefficient of M*, b3 that of T x M* and sigma_e^2 the
residual variance,

    r = (b3 / 2) / sqrt(sigma_e^2 + b2^2 + b3^2 / 4).

``mstar_r`` (visit). In-sample r is optimistic: the weights were fitted to the same outcomes.
``mstar_r_cv`` (visit; ``mstar_cv=True``): K-fold by study (``mstar_folds``, default 5): the model
is refitted without the fold's studies (the same card, options and sampler sizes), its weights
score the fold's patients, and r is computed on all patients' out-of-sample scores. The gap
between mstar_r and mstar_r_cv is the optimism.
"""

from __future__ import annotations

import numpy as np

from ..engine.draws import flat_draws


def filled_scores(d) -> np.ndarray:
    """(n, P) standardised patient moderators per SD, missing values at the study's observed mean
    (0 when the study never measured the moderator): baseline information only."""
    P = len(d.patient_moderators)
    Z = np.zeros((d.n, P))
    sd = d.mod_sd
    for k, m in enumerate(d.patient_moderators):
        x = (d.X[:, k] - d.mod_center[m]) / sd[m]
        ok = np.isfinite(x)
        s = np.bincount(d.study_idx[ok], weights=x[ok], minlength=d.n_studies)
        c = np.bincount(d.study_idx[ok], minlength=d.n_studies)
        fill = np.where(c > 0, s / np.maximum(c, 1), 0.0)
        Z[:, k] = np.where(ok, x, fill[d.study_idx])
    return Z


def weight_draws(d, gw: np.ndarray) -> np.ndarray:
    """(S, P, V) unit-length weights per SD from interaction draws gw (S, P, V) on the model's scale."""
    per_sd = np.array([1.0 if d.mod_kind[m] == "continuous" else d.mod_sd[m] for m in d.patient_moderators])
    g = gw * per_sd[None, :, None] * (1.0 if d.outcome_scale == "percent" else -1.0)
    norm = np.sqrt((g**2).sum(axis=1, keepdims=True))
    return g / np.where(norm > 0, norm, 1.0)


def standardise(m: np.ndarray) -> np.ndarray:
    """Rows (draws) of m (S, n) to mean 0, SD 1."""
    sd = m.std(axis=1, keepdims=True)
    return (m - m.mean(axis=1, keepdims=True)) / np.where(sd > 0, sd, 1.0)


def kraemer_r(d, v: int, mstar: np.ndarray, rng, bootstrap: bool = True) -> np.ndarray:
    """r per draw (S,) at visit v from standardised scores mstar (S, n) (module docstring)."""
    y = d.Y[:, v]
    ok = np.isfinite(y)
    y, T, M = y[ok], d.arm[ok] - 0.5, mstar[:, ok]
    sidx = d.study_idx[ok]
    S, n = M.shape
    J = d.n_studies
    W = rng.dirichlet(np.ones(n), size=S) * n if bootstrap else np.ones((S, n))
    A = np.zeros((J, n))
    A[sidx, np.arange(n)] = 1.0
    wsum = W @ A.T  # (S, J)

    def demean(x):  # (S, n) or (n,): weighted within-study demeaning
        x = np.broadcast_to(x, (S, n))
        means = (x * W) @ A.T / np.where(wsum > 0, wsum, 1.0)
        return x - means[:, sidx]

    X = np.stack([demean(T), demean(M), demean(T[None, :] * M)], axis=-1)  # (S, n, 3)
    yd = demean(y)
    XtX = np.einsum("sni,sn,snj->sij", X, W, X)
    Xty = np.einsum("sni,sn,sn->si", X, W, yd)
    beta = np.linalg.solve(XtX + 1e-9 * np.eye(3)[None], Xty[..., None])[..., 0]
    resid = yd - np.einsum("sni,si->sn", X, beta)
    dof = max(n - J - 3, 1)
    s2 = (W * resid**2).sum(axis=1) / dof
    b2, b3 = beta[:, 1], beta[:, 2]
    sign = 1.0 if d.outcome_scale == "percent" else -1.0
    return sign * (b3 / 2) / np.sqrt(s2 + b2**2 + b3**2 / 4)


def derive(d, idata, rng) -> dict:
    """mstar_weight (moderator, visit), mstar_r (visit), mstar_r_cv (visit) and the score table."""
    post = idata.posterior
    n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
    gw = flat_draws(post["moderation_within"])  # (S, P, V)
    w = weight_draws(d, gw)
    Z = filled_scores(d)
    out = {"mstar_weight": (("chain", "draw", "mstar_moderator", "visit"), w.reshape(n_chain, n_draw, *w.shape[1:]),
                            {"mstar_moderator": list(d.patient_moderators)})}
    r, scores = [], []
    for v in range(len(d.visits)):
        m = standardise(w[:, :, v] @ Z.T)  # (S, n)
        scores.append(np.stack([m.mean(0), np.quantile(m, 0.05, axis=0), np.quantile(m, 0.95, axis=0)], -1))
        r.append(kraemer_r(d, v, m, rng))
    out["mstar_r"] = (("chain", "draw", "visit"), np.stack(r, -1).reshape(n_chain, n_draw, -1), {})
    if d.mstar_cv:
        out["mstar_r_cv"] = (("chain", "draw", "visit"), cross_validated_r(d, idata, Z, rng), {})
    return out, np.stack(scores, 1)  # scores (n, V, 3)


def folds(d, rng) -> list:
    """K groups of studies (a seeded random split, sizes within one of each other)."""
    order = rng.permutation(d.n_studies)
    return [sorted(order[k::d.mstar_folds].tolist()) for k in range(d.mstar_folds)]


def cross_validated_r(d, idata, Z, rng) -> np.ndarray:
    """(chain, draw, V) out-of-sample r: per fold of studies, the model refitted without them scores them."""
    import warnings

    from ..errors import warn
    from ..fitting import Analysis
    from .ipd_meta import design_to_trial

    post = idata.posterior
    n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
    S, V = n_chain * n_draw, len(d.visits)
    mstar = np.zeros((V, S, d.n))
    trial = design_to_trial(d, d.Y, source="mstar cross-validation")
    req = d.request
    options = dict(req["options"]) | {"mstar": True, "mstar_cv": False, "visits": d.visits}
    for k, held in enumerate(folds(d, rng)):
        keep = [s for j, s in enumerate(d.studies) if j not in held]
        sub = type(trial)(trial.frame[trial.frame["study"].isin(keep)].reset_index(drop=True), source=trial.source)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a = Analysis(req["card"], sub, moderators=d.patient_moderators, **options)
            fit = a.sample(draws=n_draw, tune=n_draw, chains=n_chain, seed=int(rng.integers(2**31 - 1)),
                           progressbar=False)
        diag = fit.diagnostics()
        if diag["divergences"]:
            warn(f"M* cross-validation fold {k + 1}: {diag['divergences']} divergent transitions in the refit.")
        sub_d = a.design
        gw = flat_draws(fit.idata.posterior["moderation_within"])
        order = [sub_d.patient_moderators.index(m) for m in d.patient_moderators]
        w = weight_draws(sub_d, gw)[:, order, :]
        rows = np.isin(d.study_idx, held)
        for v in range(V):
            mstar[v][:, rows] = w[:, :, v] @ Z[rows].T
    r = [kraemer_r(d, v, standardise(mstar[v]), rng) for v in range(V)]
    return np.stack(r, -1).reshape(n_chain, n_draw, V)


def mstar_scores(fit):
    """Per patient and visit: the M* score (posterior mean, 90% interval), study, arm and outcome."""
    import pandas as pd

    from ..errors import BayesKetError

    if "constant_data" not in fit.idata.groups() or "mstar_score" not in fit.idata.constant_data:
        raise BayesKetError("This fit has no combined moderator M*. Fix: bk.fit('ipd_meta', ..., mstar=True) with "
                            "at least two patient moderators.")
    cd = fit.idata.constant_data
    sc = cd["mstar_score"]
    rows = []
    for v in sc["visit"].values:
        s = sc.sel(visit=v)
        rows.append(pd.DataFrame({
            "patient": cd["mstar_patient"].values, "study": cd["mstar_study"].values,
            "arm": cd["mstar_arm"].values, "visit": v, "mstar": s.sel(stat="mean").values,
            "lower": s.sel(stat="lower").values, "upper": s.sel(stat="upper").values,
            "outcome": cd["mstar_outcome"].sel(visit=v).values}))
    return pd.concat(rows, ignore_index=True)
