"""Post-processing of the trajectory-classes family (``families/classes.py``): relabelling, chains
in different modes, membership and adequacy per draw, the posterior-predictive replication, the
``membership`` Fit method, and the family's generator (``simulate``, ``calibration_trial``)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import xarray as xr

from ..data.trial import TrialData
from ..engine.draws import flat_draws
from ..errors import warn
from . import classes_post as post
from .trajectory import draw_patient_effects


# ---- relabelling and modes -------------------------------------------------------------------------
def _class_dim_levels(d) -> list:
    """(dim, level variable) per class variable: the variable whose posterior mean orders the labels."""
    out = [("class", "class_level")]
    if d.structure == "dual":
        out.append(("class_2", "class_level_2"))
    return out


def relabel(d, idata, q: list, joint=None):
    """Relabel the draws (Stephens) and number the classes by their posterior mean at the ordering day.

    q: membership probabilities per class variable, (chain, draw, patient, K). Permutes every
    posterior variable along its class dims, recomputes the predictor contrasts against the new
    class "1", and returns (perms per dim, permuted q, permuted joint, report)."""
    posterior = idata.posterior
    n_chain, n_draw = q[0].shape[:2]
    lp = np.asarray(idata.sample_stats["lp"].transpose("chain", "draw").to_numpy()).reshape(-1)
    pivot = int(np.nanargmax(lp)) if np.isfinite(lp).any() else 0
    perms, report = {}, {}
    for (dim, level), qi in zip(_class_dim_levels(d), q):
        K = qi.shape[-1]
        p = post.stephens(qi.reshape((-1,) + qi.shape[2:]), pivot=pivot).reshape(n_chain, n_draw, K)
        lev = post.permute(posterior[level].transpose("chain", "draw", dim).to_numpy(), p, axis=2)
        order = np.argsort(lev.mean(axis=(0, 1)), kind="stable")
        p = p[..., order]
        perms[dim] = p
        # label switches within chains: draws whose labels differ from their chain's most common
        # labelling; a chain whose labelling as a whole differs from the others' is only renamed
        codes = (p * K ** np.arange(K)).sum(axis=-1)  # (chain, draw)
        modal = np.array([np.bincount(c).argmax() for c in codes])
        switched = codes != modal[:, None]
        overall = np.bincount(codes.ravel()).argmax()
        report[dim] = {"relabelled_share": float(switched.mean()),
                       "relabelled_share_by_chain": switched.mean(axis=1).round(4).tolist(),
                       "chains_renamed": int((modal != overall).sum())}
    for name in list(posterior.data_vars):
        da = posterior[name]
        dims = [dim for dim in da.dims if dim in perms]
        if not dims:
            continue
        da = da.transpose("chain", "draw", ...)
        arr = da.to_numpy()
        for dim in dims:
            arr = post.permute(arr, perms[dim], da.dims.index(dim))
        posterior[name] = (da.dims, arr)
    if "membership_coef" in posterior:
        da = posterior["membership_coef"].transpose("chain", "draw", "class", "predictor")
        full = da.to_numpy()
        full = full - full[:, :, :1, :]  # log-odds against the (new) class 1
        posterior["membership_coef"] = (da.dims, full)
        posterior["predictor_coef"] = (("chain", "draw", "class_contrast", "predictor"), full[:, :, 1:, :])
    q = [post.permute(qi, perms[dim], axis=3) for (dim, _), qi in zip(_class_dim_levels(d), q)]
    if joint is not None:
        joint = post.permute(post.permute(joint, perms["class"], axis=3), perms["class_2"], axis=4)
    return perms, q, joint, report


def detect_modes(d, idata) -> dict:
    """Chains in different modes after relabelling (``classes_post.chain_modes``)."""
    posterior = idata.posterior
    if posterior.sizes["chain"] < 2:
        return {"groups": [[0]], "separate": False}
    summaries = {"lp": idata.sample_stats["lp"].transpose("chain", "draw").to_numpy()}
    for name in ("class_share", "class_level", "class_share_2", "class_level_2", "class_trajectory"):
        if name in posterior:
            summaries[name] = posterior[name].transpose("chain", "draw", ...).to_numpy()
    modes = post.chain_modes(summaries, float(d.settings.get("mode_tolerance", 1.0)))
    lp = summaries["lp"]
    modes["chain_lp"] = lp.mean(axis=1).round(2).tolist()
    if "class_share" in posterior:
        modes["chain_class_share"] = posterior["class_share"].mean("draw").round(3).to_numpy().tolist()
    return modes


# ---- derive ---------------------------------------------------------------------------------------
def derive(family, d, idata, extras, rng) -> None:
    """Log-likelihood per patient, relabelling, modes, membership and adequacy per draw, and the
    posterior-predictive rates (chunk by chunk of draws)."""
    n_chain, n_draw = extras.shape
    patients = [str(p) for p in d.patients]
    terms = extras.full("patient_terms")  # (chain, draw, patient, classes [x classes_2] + 1)
    idata.add_groups(log_likelihood=xr.Dataset(
        {"y_patient": (("chain", "draw", "patient"), terms[..., -1])}, coords={"patient": patients}))
    m = np.exp(terms[..., :-1]).reshape(terms.shape[:3] + tuple(K for _, K, _ in d.class_dims))
    joint = m if d.structure == "dual" else None
    q = [m.sum(axis=-1), m.sum(axis=-2)] if d.structure == "dual" else [m]
    perms, q, joint, labels = relabel(d, idata, q, joint)
    posterior = idata.posterior
    modes = detect_modes(d, idata)

    reasons, facts = [], {"relabelled_share": max(r["relabelled_share"] for r in labels.values()),
                          "chains_renamed": max(r["chains_renamed"] for r in labels.values()),
                          "chain_mode_groups": len(modes["groups"])}
    if modes["separate"]:
        groups = modes["groups"]
        shares = modes.get("chain_class_share")
        detail = "; ".join(f"chains {g}: mean log density {np.mean([modes['chain_lp'][c] for c in g]):.1f}"
                           + (f", class shares {np.round(np.mean([shares[c] for c in g], axis=0), 2).tolist()}"
                              if shares else "") for g in groups)
        reasons.append(f"chains in different modes (not label switches): {detail}. Their draws are not one "
                       "posterior: refit with more warm-up, another seed, or fewer classes (bk.select_classes)")

    # membership and adequacy per draw
    collapse = float(d.settings.get("collapse_share", 0.02))
    for (dim, K, _), qi in zip(d.class_dims, q):
        sfx = "" if dim == "class" else "_2"
        share = posterior[f"class_share{sfx}"].transpose("chain", "draw", dim).to_numpy()
        stats = post.membership_stats(qi, share)
        posterior[f"membership{sfx}"] = xr.DataArray(
            qi.astype(np.float32), dims=("chain", "draw", "patient", dim),
            coords={"chain": posterior["chain"], "draw": posterior["draw"], "patient": patients,
                    dim: posterior[dim].values})
        posterior[f"class_share_assigned{sfx}"] = (("chain", "draw", dim), stats["assigned"])
        posterior[f"appa{sfx}"] = (("chain", "draw", dim), stats["appa"])
        if K > 1:
            posterior[f"occ{sfx}"] = (("chain", "draw", dim), stats["occ"])
            posterior[f"entropy{sfx}"] = (("chain", "draw"), stats["entropy"])
        mean_share = share.mean(axis=(0, 1))
        assigned = np.bincount(qi.mean(axis=(0, 1)).argmax(axis=1), minlength=K)
        gone = [i for i in range(K) if mean_share[i] < collapse or assigned[i] == 0]
        if gone and K > 1:
            what = ", ".join(f"{dim} {i + 1} (model share {100 * mean_share[i]:.1f}%, {assigned[i]} patients "
                             "assigned)" for i in gone)
            key = "k" if dim == "class" else "k (second entry)"
            msg = (f"{what}: the class collapsed, so the data support fewer classes than {key}={K}. "
                   f"Fix: fit with {key}={K - len(gone)} (bk.select_classes compares them).")
            reasons.append(msg)
            warn(msg)
    constraint = {dim: bool(d.init.get(f"ordered:{dim}")) for dim, _, _ in d.class_dims}
    method = "; ".join(f"{dim}: " + (f"ordered class means at day {d.order_day:g}" if on else
                                      "no ordering constraint (the class means at the ordering day are "
                                      "too close to identify the labels)") for dim, on in constraint.items())
    d.fit_report = {
        "label_switching": {"method": method + "; then Stephens relabelling, classes numbered by their posterior "
                                               f"mean at day {d.order_day:g}",
                            "order_day": d.order_day, "ordered": constraint,
                            "gap_z": {dim: d.init.get(f"gap_z:{dim}") for dim, _, _ in d.class_dims},
                            **{dim: r for dim, r in labels.items()}},
        "chain_modes": modes,
        "family_diagnostics": {"facts": facts, "reasons": reasons},
    }
    _replicate(d, idata, q, joint, rng, (n_chain, n_draw))


def _params(d, posterior, o: int, sl) -> dict:
    """Flat draws (rows ``sl``) of one outcome's class parameters: theta (S, K, q), theta_full
    (S, K, P), sigma (S,) or (S, K), tau, corr."""
    sfx = "" if o == 0 else "_2"
    level = flat_draws(posterior[f"class_level{sfx}"], sl)
    coef = flat_draws(posterior[f"class_coef{sfx}"], sl)
    li = d.level_index
    theta = np.concatenate([coef[:, :, :li], level[:, :, None], coef[:, :, li:]], axis=2)
    full = theta
    gamma = None
    if d.covariates:
        gamma = flat_draws(posterior[f"covariate_coef{sfx}"], sl)  # (S, C, qc)
        flat = gamma.reshape(len(gamma), 1, -1)
        full = np.concatenate([theta, np.repeat(flat, theta.shape[1], axis=1)], axis=2)
    out = {"theta": theta, "full": full, "gamma": gamma, "sigma": flat_draws(posterior[f"sigma{sfx}"], sl),
           "tau": None, "corr": None}
    if d.random == "intercept":
        out["tau"] = flat_draws(posterior[f"sd_patient_intercept{sfx}"], sl)
    elif d.random == "intercept_slope":
        out["tau"] = np.stack([flat_draws(posterior[f"sd_patient_intercept{sfx}"], sl),
                               flat_draws(posterior[f"sd_patient_slope{sfx}"], sl)], axis=1)
        out["corr"] = flat_draws(posterior[f"corr_patient{sfx}"], sl)
    return out


def _replicated_scores(d, o: int, p: dict, z: np.ndarray, days: np.ndarray, rng) -> np.ndarray:
    """Replicated scores (S, N, days) of outcome o for the draws' classes z (S, N): the class curve,
    the covariate shift, patient effects from their conditional given data and class, noise;
    rounded and clipped to the scale's range."""
    od = d.outcomes[o]
    S, N = z.shape
    curves = p["theta"] @ d.basis(days).T  # (S, K, days)
    mu = np.take_along_axis(curves, z[:, :, None], axis=1)  # (S, N, days)
    if d.covariates:
        mu = mu + np.einsum("nc,scq,dq->snd", d.X, p["gamma"], d.change_basis(days))
    if d.random != "none":
        mean, cov = post.conditional_effects(od.stats, p["full"], p["sigma"], d.random, p["tau"], p["corr"])
        mean = np.take_along_axis(mean, z[:, :, None, None], axis=2)[:, :, 0]
        cov = np.take_along_axis(cov, z[:, :, None, None], axis=2)[:, :, 0]
        b = draw_patient_effects(mean, cov, rng)
        mu = mu + b[..., :1] + b[..., 1:] * d.slope(days)[None, None, :]
    sigma = p["sigma"]
    sig = sigma[:, None, None] if sigma.ndim == 1 else np.take_along_axis(sigma, z, axis=1)[:, :, None]
    return np.clip(np.round(mu + sig * rng.standard_normal(mu.shape)), od.lo, od.hi)


def _replicate(d, idata, q: list, joint, rng, shape) -> None:
    """Posterior-predictive rates by class and protocol, the protocol difference and visit means."""
    posterior = idata.posterior
    n_total = shape[0] * shape[1]
    qf = [qi.reshape((n_total,) + qi.shape[2:]) for qi in q]
    jf = None if joint is None else joint.reshape((n_total,) + joint.shape[2:])
    days = d.summary_days
    post_mask = days > 0
    base_idx = int(np.flatnonzero(days == 0)[0]) if (days == 0).any() else None
    sched = np.array([[day in set(d.schedule.get(p, [])) for day in days] for p in d.protocol])  # (N, days)
    prot_onehot = (d.protocol[:, None] == np.array(d.protocols)[None, :]).astype(float)
    same_grid = np.array_equal(days, d.model_days)
    pair = sorted(d.milestones, key=lambda p: d.protocols.index(p))
    out = {}
    chunk = 100
    for start in range(0, n_total, chunk):
        sl = slice(start, min(n_total, start + chunk))
        S = sl.stop - sl.start
        if d.structure == "dual":
            K1, K2 = d.k
            flat = post.draw_classes(jf[sl].reshape(S, len(d.patients), K1 * K2), rng)
            zs = [flat // K2, flat % K2]
        else:
            z = post.draw_classes(qf[0][sl], rng)
            zs = [z] * len(d.outcomes)
        for o, od in enumerate(d.outcomes):
            sfx = "" if o == 0 else "_2"
            p = _params(d, posterior, o, sl)
            y = _replicated_scores(d, o, p, zs[o], days, rng)
            if o == 0:
                y_obs = y if same_grid else _replicated_scores(d, o, p, zs[o], d.model_days, rng)
                obs = od.observed[None].astype(float)
                with np.errstate(invalid="ignore", divide="ignore"):
                    vm = (y_obs * obs).sum(axis=1) / obs.sum(axis=1)
                out.setdefault("visit_mean_rep", []).append(vm[..., None])
            if base_idx is None:
                continue
            base = y[:, :, base_idx][..., None]
            yp = y[:, :, post_mask]
            sc = np.broadcast_to(sched[None][:, :, post_mask], yp.shape)
            K = d.k_of(o)
            if od.response is not None:
                with np.errstate(invalid="ignore", divide="ignore"):
                    pct = np.where(base > od.lo, 100.0 * (base - yp) / np.where(base > od.lo, base - od.lo, 1.0), 0.0)
                flag = (pct >= 100.0 * od.response - 1e-9).astype(float)
                rates = post.group_rates(flag, sc & (base > od.lo), zs[o], K, prot_onehot)
                out.setdefault(f"response_rate{sfx}", []).append(rates)
                if len(pair) == 2:
                    out.setdefault(f"protocol_response_difference{sfx}", []).append(_difference(d, rates, pair))
            if od.remission is not None:
                flag = (yp <= od.remission).astype(float)
                out.setdefault(f"remission_rate{sfx}", []).append(post.group_rates(flag, sc, zs[o], K, prot_onehot))
    data, coords = {}, {"day_post": d.post_days, "day_obs": d.model_days, "arm_obs": ["all"],
                        "protocol": list(d.protocols) + ["all"]}
    for name, parts in out.items():
        value = np.concatenate(parts).reshape(shape + parts[0].shape[1:])
        if name == "visit_mean_rep":
            dims = ("day_obs", "arm_obs")
        elif name.startswith("protocol_response_difference"):
            dims = ("day_milestone",)
            coords["day_milestone"] = [float(x) for x in [d.milestones[pair[0]]["end_of_treatment"],
                                                          *d.milestones[pair[0]]["follow_up"]]]
        else:
            cdim = "class_2_all" if name.endswith("_2") and d.structure == "dual" else "class_all"
            K = d.k[1] if cdim == "class_2_all" else d.k[0]
            coords[cdim] = [str(i + 1) for i in range(K)] + ["all"]
            dims = ("day_post", cdim, "protocol")
        data[name] = (("chain", "draw") + dims, value)
    idata.add_groups(posterior_predictive=xr.Dataset(data, coords=coords))


def _difference(d, rates: np.ndarray, pair: list) -> np.ndarray:
    """Second protocol minus first, class "all", at matched milestones (end of treatment, then each
    follow-up of the first protocol); NaN where the second protocol has no such visit."""
    days = list(d.post_days)
    first, second = (d.milestones[p] for p in pair)
    a = [first["end_of_treatment"], *first["follow_up"]]
    b = [second["end_of_treatment"], *second["follow_up"]]
    i1, i2 = d.protocols.index(pair[0]), d.protocols.index(pair[1])
    out = np.full((rates.shape[0], len(a)), np.nan)
    for j, day in enumerate(a):
        if j < len(b) and day in days and b[j] in days:
            out[:, j] = rates[:, days.index(b[j]), -1, i2] - rates[:, days.index(day), -1, i1]
    return out


# ---- Fit method ---------------------------------------------------------------------------------
def membership(fit, ci_prob: float = 0.95) -> pd.DataFrame:
    """Posterior membership probabilities, long: one row per patient x class with the posterior mean
    probability (prob), its equal-tailed ``ci_prob`` interval (lower, upper) and ``assigned`` (the
    most probable class by posterior mean). Dual models add rows with ``class_2`` (``class`` empty)."""
    posterior = fit.idata.posterior
    tables = []
    tail = (1 - ci_prob) / 2
    for var, col in (("membership", "class"), ("membership_2", "class_2")):
        if var not in posterior:
            continue
        da = posterior[var].transpose("chain", "draw", "patient", ...)
        a = da.to_numpy().astype(float)
        a = a.reshape((-1,) + a.shape[2:])
        mean = a.mean(axis=0)
        lo, hi = np.quantile(a, [tail, 1 - tail], axis=0)
        assigned = mean.argmax(axis=1)
        labels = list(da[da.dims[-1]].values)
        N, K = mean.shape
        t = pd.DataFrame({"patient": np.repeat(da["patient"].values, K), col: np.tile(labels, N),
                          "prob": mean.ravel(), "lower": lo.ravel(), "upper": hi.ravel(),
                          "assigned": (assigned[:, None] == np.arange(K)[None, :]).ravel()})
        tables.append(t)
    table = pd.concat(tables, ignore_index=True)
    cols = ["patient", "class"] + (["class_2"] if "class_2" in table else []) + ["prob", "lower", "upper", "assigned"]
    return table[cols]


# ---- generator ---------------------------------------------------------------------------------------
def _softmax(eta):
    e = np.exp(eta - eta.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _draw(prob, rng):
    u = rng.random(prob.shape[0])
    return np.minimum((u[:, None] > np.cumsum(prob, axis=1)).sum(axis=1), prob.shape[1] - 1)


def simulate_rows(d, params: dict, rng, source: str) -> TrialData:
    """The design's rows with outcomes drawn from the model given ``params`` (see Family.simulate)."""
    g = lambda name: np.asarray(params[name], float)  # noqa: E731
    N = len(d.patients)
    K1 = d.k[0]
    if K1 == 1:
        z1 = np.zeros(N, int)
    else:
        eta = np.log(g("class_weight"))[None, :] + np.zeros((N, 1))
        if d.predictors:
            G = np.concatenate([np.zeros((1, len(d.predictors))), g("predictor_coef")], axis=0)
            eta = eta + d.V @ G.T
        z1 = _draw(_softmax(eta), rng)
    zs = [z1] * len(d.outcomes)
    if d.structure == "dual":
        zs[1] = np.zeros(N, int) if d.k[1] == 1 else _draw(g("conditional_class")[z1], rng)
    frame = d.rows.copy()
    pidx = pd.Categorical(frame["patient"], categories=d.patients).codes
    for o, od in enumerate(d.outcomes):
        sfx = "" if o == 0 else "_2"
        seen = frame[od.column].notna().to_numpy()
        days = frame.loc[seen, "day"].to_numpy(float)
        idx = pidx[seen]
        li = d.level_index
        coef = g(f"class_coef{sfx}")
        theta = np.concatenate([coef[:, :li], g(f"class_level{sfx}")[:, None], coef[:, li:]], axis=1)
        if d.covariates:
            theta = np.concatenate([theta, np.repeat(g(f"covariate_coef{sfx}").reshape(1, -1), len(theta), 0)], 1)
        D = d.row_design(days, idx)
        z = zs[o][idx]
        mu = (D * theta[z]).sum(axis=1)
        if d.random == "intercept":
            mu = mu + (float(g(f"sd_patient_intercept{sfx}")) * rng.standard_normal(N))[idx]
        elif d.random == "intercept_slope":
            t0, t1 = float(g(f"sd_patient_intercept{sfx}")), float(g(f"sd_patient_slope{sfx}"))
            r = float(g(f"corr_patient{sfx}"))
            b = rng.multivariate_normal([0, 0], [[t0**2, r * t0 * t1], [r * t0 * t1, t1**2]], N)
            mu = mu + b[idx, 0] + b[idx, 1] * d.slope(days)
        sigma = g(f"sigma{sfx}")
        sig = sigma[z] if sigma.ndim else float(sigma)
        y = np.full(len(frame), np.nan)
        y[seen] = mu + sig * rng.standard_normal(len(mu))
        frame[od.column] = y
    return TrialData(frame, source=source)


#: calibration_trial: the real-world MADRS curves (b0, b1, b2 in log(1 + day)) used for k classes
CALIBRATION_CURVES = {
    2: [(30.0, -14.0, 2.2), (33.0, -0.5, 0.0)],
    3: [(30.0, -14.0, 2.2), (33.0, -3.0, 0.0), (33.0, -0.5, 0.0)],
    4: [(30.0, -14.0, 2.2), (32.0, -6.0, 0.0), (33.0, -3.0, 0.0), (33.0, -0.5, 0.0)],
}
CALIBRATION_SHARES = {2: (0.4, 0.6), 3: (0.25, 0.4, 0.35), 4: (0.18, 0.30, 0.32, 0.20)}


def calibration_trial(rng, truth, n_patients, k, days) -> TrialData:
    """See ``ClassesFamily.calibration_trial``."""
    if k not in CALIBRATION_CURVES:
        raise ValueError(f"calibration_trial: k={k}; use one of {sorted(CALIBRATION_CURVES)}")
    t = {"curves": np.array(CALIBRATION_CURVES[k]), "shares": np.array(CALIBRATION_SHARES[k]),
         "sd_intercept": 4.0, "sigma": 3.5} | (truth or {})
    days = np.asarray(days, float)
    L = np.log1p(days)
    curves = t["curves"][:, :1] + t["curves"][:, 1:2] * L + t["curves"][:, 2:3] * L**2  # (k, days)
    z = _draw(np.tile(np.asarray(t["shares"]), (n_patients, 1)), rng)
    y = curves[z] + rng.normal(0, t["sd_intercept"], (n_patients, 1)) + rng.normal(0, t["sigma"], (n_patients, len(days)))
    frame = pd.DataFrame({"patient": np.repeat([f"P{i:03d}" for i in range(n_patients)], len(days)),
                          "day": np.tile(days, n_patients), "madrs_total": y.ravel()})
    labels = [str(i + 1) for i in range(k)]
    keys = {("class_share", c): float(s) for c, s in zip(labels, t["shares"])}
    for j, day in enumerate(days):
        if day in (3.0, 10.0, 40.0):
            keys |= {("class_trajectory", (("class", c), ("day", float(day)))): float(curves[i, j])
                     for i, c in enumerate(labels)}
    return TrialData(frame, source="calibration:classes", truth=keys)


def quiet_summary(fit, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit.summary(**kwargs)
