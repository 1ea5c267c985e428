"""Numerical helpers of the trajectory-classes family (``families/classes.py``), numpy only.

- ``class_loglik``: each patient's marginal log-likelihood under each class from per-patient
  sufficient statistics (array-agnostic: the model calls it on PyTensor tensors, the EM
  initialisation and the tests on numpy arrays);
- ``em_start``: a quick EM fit of the plain group-based model (no patient effects) from
  several starts, the sampler's initial point;
- ``stephens`` / ``permute``: relabelling of draws (Stephens 2000) and its application;
- ``chain_modes``: chains that sit in different modes (not label permutations);
- ``membership_stats``: assigned shares, APPA, OCC and relative entropy per draw;
- ``conditional_effects`` and ``rates``: the posterior-predictive replication.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.special import logsumexp

LOG_2PI = float(np.log(2.0 * np.pi))


# ---- likelihood ------------------------------------------------------------------------------
def residual_sums(st: dict, theta):
    """Per patient x class: R0 = sum r, RR = sum r^2 (and R1 = sum s r when slope stats are present)
    of the residuals r = y - D theta_k, from the sufficient statistics ``st`` (see ``suff_stats``).
    theta: (K, P). Works for numpy arrays and PyTensor tensors."""
    tT = theta.T
    R0 = st["Sy"][:, None] - st["SD"] @ tT
    outer = (theta[:, :, None] * theta[:, None, :]).reshape((theta.shape[0], -1))  # (K, P * P)
    quad = st["SDD"].reshape((st["SDD"].shape[0], -1)) @ outer.T  # one (N, P*P) x (P*P, K) product
    RR = st["Syy"][:, None] - 2.0 * (st["SDy"] @ tT) + quad
    R1 = st["Ssy"][:, None] - st["SsD"] @ tT if "Ssy" in st else None
    return R0, RR, R1


def class_loglik(st: dict, theta, sigma, random: str, tau=None, corr=None, lib=np):
    """log N(y_i | D_i theta_k, sigma_k^2 I + Z_i Sigma Z_i') for every patient i and class k: (N, K).

    random="none": Sigma = 0; "intercept": Z = 1, Sigma = tau^2 (closed form,
        log|V| = (n-1) log s2 + log(s2 + n t2),  V^-1 = (I - t2 / (s2 + n t2) J) / s2);
    "intercept_slope": Z = [1, s], Sigma = L L' with L from (tau0, tau1, corr): 2 x 2 Woodbury
        as in ``trajectory.marginal_from_sums``.
    A patient with no rows of this outcome (n = 0) gets 0. ``lib``: numpy or pytensor.tensor.
    """
    R0, RR, R1 = residual_sums(st, theta)
    n = st["n"][:, None]
    s2 = sigma**2
    if random == "none":
        return -0.5 * (n * (LOG_2PI + lib.log(s2)) + RR / s2)
    if random == "intercept":
        t2 = tau**2
        return -0.5 * (n * (LOG_2PI + lib.log(s2)) + lib.log1p(n * t2 / s2) + RR / s2
                       - t2 / (s2 * (s2 + n * t2)) * R0**2)
    S1, S2 = st["S1"][:, None], st["S2"][:, None]
    l11, l21, l22 = tau[0], tau[1] * corr, tau[1] * lib.sqrt(1.0 - corr**2)
    v = 1.0 / s2
    M11 = 1.0 + v * (l11**2 * n + 2.0 * l11 * l21 * S1 + l21**2 * S2)
    M12 = v * (l11 * l22 * S1 + l21 * l22 * S2)
    M22 = 1.0 + v * l22**2 * S2
    det = M11 * M22 - M12**2
    h1, h2 = l11 * R0 + l21 * R1, l22 * R1
    quad = v * RR - v**2 * (M22 * h1**2 - 2.0 * M12 * h1 * h2 + M11 * h2**2) / det
    return -0.5 * (n * (LOG_2PI - lib.log(v)) + lib.log(det) + quad)


def conditional_effects(st: dict, theta, sigma, random: str, tau=None, corr=None):
    """Patient effects given the data and the class (numpy): mean (..., 2) and covariance (..., 3)
    (var b0, cov, var b1) for every patient x class; theta (S, K, P), sigma (S,) or (S, K),
    tau (S,) or (S, 2), corr (S,). Leading shape (S, N, K)."""
    tT = np.swapaxes(theta, 1, 2)  # (S, P, K)
    R0 = st["Sy"][None, :, None] - np.einsum("np,spk->snk", st["SD"], tT)
    n = st["n"][None, :, None]
    s2 = (sigma**2)[:, None, None] if np.ndim(sigma) == 1 else (sigma**2)[:, None, :]
    if random == "intercept":
        t2 = (tau**2)[:, None, None]
        den = s2 + n * t2
        mean = np.stack([t2 * R0 / den, np.zeros_like(R0)], axis=-1)
        zeros = np.zeros_like(R0)
        cov = np.stack([np.broadcast_to(t2 * s2 / den, R0.shape), zeros, zeros], axis=-1)
        return mean, cov
    R1 = st["Ssy"][None, :, None] - np.einsum("np,spk->snk", st["SsD"], tT)
    S1, S2 = st["S1"][None, :, None], st["S2"][None, :, None]
    t0, t1, r = tau[:, 0][:, None, None], tau[:, 1][:, None, None], corr[:, None, None]
    l11, l21, l22 = t0, t1 * r, t1 * np.sqrt(1.0 - r**2)
    v = 1.0 / s2
    M11 = 1.0 + v * (l11**2 * n + 2.0 * l11 * l21 * S1 + l21**2 * S2)
    M12 = v * (l11 * l22 * S1 + l21 * l22 * S2)
    M22 = 1.0 + v * l22**2 * S2
    det = M11 * M22 - M12**2
    P11, P12, P22 = M22 / det, -M12 / det, M11 / det
    h1, h2 = l11 * R0 + l21 * R1, l22 * R1
    u1, u2 = v * (P11 * h1 + P12 * h2), v * (P12 * h1 + P22 * h2)
    mean = np.stack([np.broadcast_to(l11 * u1, R0.shape), np.broadcast_to(l21 * u1 + l22 * u2, R0.shape)], axis=-1)
    cov = np.stack([np.broadcast_to(x, R0.shape) for x in (l11**2 * P11, l11 * (l21 * P11 + l22 * P12),
                                                           l21**2 * P11 + 2.0 * l21 * l22 * P12 + l22**2 * P22)],
                   axis=-1)
    return mean, cov


def suff_stats(D: np.ndarray, y: np.ndarray, patient: np.ndarray, n_patients: int, s=None) -> dict:
    """Per-patient sufficient statistics of rows (design D (rows, P), outcome y, patient index):
    n, Sy, Syy, SD, SDy, SDD and, with the slope basis s, S1, S2, Ssy, SsD."""
    N, P = n_patients, D.shape[1]

    def seg(x):
        out = np.zeros((N,) + np.shape(x)[1:])
        np.add.at(out, patient, x)
        return out

    st = {"n": seg(np.ones(len(y))), "Sy": seg(y), "Syy": seg(y**2), "SD": seg(D), "SDy": seg(D * y[:, None]),
          "SDD": seg(D[:, :, None] * D[:, None, :]).reshape(N, P, P)}
    if s is not None:
        st.update({"S1": seg(s), "S2": seg(s**2), "Ssy": seg(s * y), "SsD": seg(D * s[:, None])})
    return st


# ---- initial point --------------------------------------------------------------------------
def em_start(stats: list[dict], q: int, K: int, rng, starts: int = 8, iters: int = 80, intercept: bool = True) -> dict:
    """Maximum likelihood of the model with a patient intercept within class (``intercept``; else the
    plain group-based model) by ECM from ``starts`` starts (the first: patients split by quantiles of
    their mean outcome; the others random soft allocations); the best log-likelihood wins. Uses the
    first ``q`` design columns (the class basis; covariates are left at 0) and one residual SD and
    one intercept SD per outcome. Steps: E (membership), CM theta (generalised least squares with
    V^-1 = (I - c J) / s2, c = t2 / (s2 + n t2), from the sufficient statistics), then (s2, t2) by
    moments (within-patient spread of the residuals; spread of the patients' mean residuals). Returns theta (per outcome, (K, q)), s2, tau2 (per outcome),
    pi (K,), resp (N, K) and loglik."""
    sub = [{"n": st["n"], "Sy": st["Sy"], "Syy": st["Syy"], "SD": st["SD"][:, :q], "SDy": st["SDy"][:, :q],
            "SDD": st["SDD"][:, :q, :q]} for st in stats]
    N = len(sub[0]["n"])
    ridge = 1e-6 * np.eye(q)
    best = None
    mean0 = sub[0]["Sy"] / np.maximum(sub[0]["n"], 1)
    random = "intercept" if intercept else "none"

    def var_step(st, resp, theta):
        """Moment estimates given the allocation: s2 from the within-patient spread of the residuals,
        t2 from the spread of the patients' mean residuals beyond what s2 explains."""
        R0, RR, _ = residual_sums(st, theta)
        n = st["n"][:, None]
        seen = st["n"] > 0
        within = (resp * (RR - np.where(n > 0, R0**2 / np.maximum(n, 1), 0.0))).sum()
        s2 = max(float(within / max((resp * np.maximum(n - 1, 0)).sum(), 1.0)), 1e-6)
        if not intercept:
            return max(float((resp * RR).sum() / max(st["n"].sum(), 1.0)), 1e-6), 0.0
        between = (resp * np.where(n > 0, (R0 / np.maximum(n, 1)) ** 2, 0.0)).sum(axis=1)[seen].mean()
        t2 = max(float(between - s2 * np.mean(1.0 / st["n"][seen])), 0.05 * s2)
        return s2, t2

    for start in range(max(1, starts)):
        if start == 0:
            ranks = np.argsort(np.argsort(mean0))
            resp = np.eye(K)[np.minimum(ranks * K // N, K - 1)] * 0.9 + 0.1 / K
        else:
            resp = rng.dirichlet(np.ones(K), N)
        var = [(float(np.var(st["Sy"][st["n"] > 0] / st["n"][st["n"] > 0])) + 1.0, 0.0) for st in sub]
        var = [(v, 0.5 * v if intercept else 0.0) for v, _ in var]
        ll = -np.inf
        for it in range(iters):
            thetas, lik = [], np.zeros((N, K))
            for j, st in enumerate(sub):
                s2, t2 = var[j]
                c = t2 / (s2 + st["n"] * t2)  # (N,)
                A = np.einsum("nk,npq->kpq", resp, st["SDD"] - c[:, None, None] * st["SD"][:, :, None] * st["SD"][:, None, :])
                b = np.einsum("nk,np->kp", resp, st["SDy"] - c[:, None] * st["SD"] * st["Sy"][:, None])
                theta = np.linalg.solve(A + ridge * (1.0 + np.abs(A).mean()), b[..., None])[..., 0]
                var[j] = var_step(st, resp, theta)
                s2, t2 = var[j]
                lik += class_loglik(st, theta, np.sqrt(s2), random, np.sqrt(t2) if intercept else None)
                thetas.append(theta)
            pi = np.clip(resp.mean(axis=0), 1e-6, None)
            logpost = np.log(pi) + lik
            norm = logsumexp(logpost, axis=1, keepdims=True)
            resp = np.exp(logpost - norm)
            new = float(norm.sum())
            if abs(new - ll) < 1e-7 * abs(new) and it > 8:
                ll = new
                break
            ll = new
        if best is None or ll > best["loglik"]:
            best = {"theta": thetas, "s2": [v[0] for v in var], "tau2": [v[1] for v in var],
                    "pi": resp.mean(axis=0), "resp": resp, "loglik": ll}
    if not intercept:  # a starting value for the patient SD of the model that has one
        z = best["resp"].argmax(axis=1)
        tau2 = []
        for st, theta, s2 in zip(sub, best["theta"], best["s2"]):
            R0, _, _ = residual_sums(st, theta)
            seen = st["n"] > 0
            m = R0[np.arange(N), z][seen] / st["n"][seen]
            tau2.append(float(max(np.var(m) - s2 / max(st["n"][seen].mean(), 1.0), 0.1 * s2)))
        best["tau2"] = tau2
    return best


# ---- relabelling -----------------------------------------------------------------------------
def stephens(q: np.ndarray, pivot: int = 0, max_iter: int = 20) -> np.ndarray:
    """Stephens' (2000) relabelling: per draw s the permutation of labels that minimises the
    Kullback-Leibler divergence of its membership probabilities q[s] (N, K) from their current
    mean over draws, iterated to a fixed point; the first reference is draw ``pivot``'s (e.g. the
    draw of highest log density: a mean over draws with switched labels can be a symmetric blend).
    Returns perms (S, K): slot k of draw s holds the draw's original label perms[s, k] (identity
    where the labels already agree)."""
    S, _, K = q.shape
    perms = np.tile(np.arange(K), (S, 1))
    if K == 1:
        return perms
    table = np.array(list(itertools.permutations(range(K)))) if K <= 6 else None
    for it in range(max_iter):
        Q = q[pivot] if it == 0 else np.take_along_axis(q, perms[:, None, :], axis=2).mean(axis=0)
        logQ = np.log(np.clip(Q, 1e-300, None))
        cost = -np.einsum("snj,nk->sjk", q, logQ)  # label j of draw s placed in slot k
        if table is not None:
            total = cost[:, table, np.arange(K)].sum(axis=2)  # (S, permutations)
            new = table[np.argmin(total, axis=1)]
        else:
            from scipy.optimize import linear_sum_assignment

            new = np.empty_like(perms)
            for s in range(S):
                rows, cols = linear_sum_assignment(cost[s])
                new[s, cols] = rows
        if it > 0 and np.array_equal(new, perms):
            break
        perms = new
    return perms


def permute(a: np.ndarray, perms: np.ndarray, axis: int) -> np.ndarray:
    """Reorder ``axis`` of ``a`` by per-draw permutations: ``perms`` has the leading dims of ``a``
    ((chain, draw) or (S,)) and K last; out[..., k, ...] = a[..., perms[..., k], ...]."""
    lead, K = perms.ndim - 1, perms.shape[-1]
    idx = perms.reshape(perms.shape[:lead] + (1,) * (axis - lead) + (K,) + (1,) * (a.ndim - axis - 1))
    return np.take_along_axis(a, np.broadcast_to(idx, a.shape), axis=axis)


# ---- modes -----------------------------------------------------------------------------------
def chain_modes(summaries: dict[str, np.ndarray], tolerance: float = 1.0) -> dict:
    """Chains in different modes: chain means of each summary (chain, draw, ...) standardised by
    the pooled within-chain SD; two chains are in the same mode when no summary differs by more
    than ``tolerance`` SDs (or more than 6 Monte Carlo standard errors, whichever is larger).
    Groups are the connected components of "same mode". Returns groups (list of chain lists),
    separate (bool), distance (chain x chain, in SDs) and the worst summary."""
    names = list(summaries)
    n_chain = next(iter(summaries.values())).shape[0]
    dist = np.zeros((n_chain, n_chain))
    worst = np.full((n_chain, n_chain), "", dtype=object)
    for name in names:
        x = np.asarray(summaries[name], float)
        x = x.reshape(x.shape[0], x.shape[1], -1)
        means, sd = x.mean(axis=1), np.sqrt(x.var(axis=1, ddof=1).mean(axis=0))
        mcse = sd / np.sqrt(max(x.shape[1] / 10.0, 1.0))  # a pessimistic ESS of draws / 10
        limit = np.maximum(tolerance, 6.0 * np.sqrt(2.0) * mcse / np.where(sd > 0, sd, 1.0))
        with np.errstate(invalid="ignore", divide="ignore"):
            d = np.abs(means[:, None, :] - means[None, :, :]) / np.where(sd > 0, sd, np.inf) / limit
        d = np.nan_to_num(d).max(axis=2)
        worse = d > dist
        worst[worse] = name
        dist = np.maximum(dist, d)
    close = dist <= 1.0
    groups, seen = [], set()
    for c in range(n_chain):
        if c in seen:
            continue
        stack, group = [c], set()
        while stack:
            i = stack.pop()
            if i in group:
                continue
            group.add(i)
            stack.extend(j for j in range(n_chain) if close[i, j] and j not in group)
        seen |= group
        groups.append(sorted(group))
    return {"groups": groups, "separate": len(groups) > 1, "distance": dist.round(3).tolist(),
            "worst": worst.tolist()}


# ---- membership ------------------------------------------------------------------------------
def membership_stats(q: np.ndarray, share: np.ndarray) -> dict:
    """Per draw (leading dims ...): q (..., N, K) membership probabilities, share (..., K) the model
    shares. assigned share (..., K), APPA (..., K; NaN for a class with nobody assigned),
    OCC (..., K) and relative entropy (...). Assignment: the most probable class in that draw."""
    K = q.shape[-1]
    a = q.argmax(axis=-1)
    onehot = np.eye(K, dtype=bool)[a]
    count = onehot.sum(axis=-2)
    qmax = q.max(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        appa = np.where(count > 0, (onehot * qmax[..., None]).sum(axis=-2) / count, np.nan)
        odds_appa = appa / (1.0 - np.minimum(appa, 1.0 - 1e-12))
        occ = odds_appa / (share / (1.0 - np.minimum(share, 1.0 - 1e-12)))
        plogp = np.where(q > 0, q * np.log(np.clip(q, 1e-300, None)), 0.0)
        entropy = 1.0 - (-plogp.sum(axis=(-2, -1))) / (q.shape[-2] * np.log(K)) if K > 1 else np.ones(q.shape[:-2])
    return {"assigned": count / q.shape[-2], "appa": appa, "occ": occ, "entropy": entropy}


def draw_classes(q: np.ndarray, rng) -> np.ndarray:
    """One class per patient and draw from membership probabilities q (S, N, K)."""
    u = rng.random(q.shape[:-1])
    return np.minimum((u[..., None] > np.cumsum(q, axis=-1)).sum(axis=-1), q.shape[-1] - 1)


def group_rates(flag: np.ndarray, valid: np.ndarray, klass: np.ndarray, K: int, protocol_onehot: np.ndarray):
    """Rates of ``flag`` (S, N, D) among valid cells by class (the draw's classes; plus "all") and
    protocol (one-hot (N, P), plus "all"): (S, D, K + 1, P + 1); NaN where a cell has nobody."""
    cls = np.concatenate([np.eye(K)[klass], np.ones(klass.shape + (1,))], axis=-1)  # (S, N, K+1)
    prot = np.concatenate([protocol_onehot, np.ones((protocol_onehot.shape[0], 1))], axis=1)
    S, N = klass.shape
    cells = (cls[:, :, :, None] * prot[None, :, None, :]).reshape(S, N, -1)  # (S, N, (K+1)(P+1))
    shape = (S, flag.shape[2], K + 1, prot.shape[1])
    num = (np.swapaxes(np.where(valid, flag, 0.0), 1, 2) @ cells).reshape(shape)
    den = (np.swapaxes(valid.astype(float), 1, 2) @ cells).reshape(shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
