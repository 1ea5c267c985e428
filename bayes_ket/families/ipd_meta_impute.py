r"""Missing patient moderators imputed inside the ipd_meta model (``missing="impute"``).

Covariate model (per moderator m with a missing value among the analysed units; moderators
independent given their study parameters), on the model's scale (continuous: standardised;
binary: 0/1):

    continuous:  z_im ~ N(M_jm, S_jm),   M_jm = mu_m + sd_mu_m a_jm,
                                         log S_jm = ls_m + sd_ls_m b_jm,   a, b ~ N(0, 1)
    binary:      x_im ~ Bernoulli(p_jm), logit p_jm = l_m + sd_l_m a_jm

Study means and SDs are partially pooled across studies, so a study that never measured m
gets M_jm (p_jm) from the population of studies, with its uncertainty. The observed values
enter through per-study sufficient statistics (counts, sums, sums of squares).

In the outcome model a moderator with missing values uses the latent study mean: within
deviation z_im - M_jm (x_im - p_jm), across level M_jm centred at its mean over units. The
missing values themselves are integrated out exactly, so no patient is dropped and no
missing value is a parameter:

- continuous (Gaussian, linear): the deviation u_im = z_im - M_jm ~ N(0, S_jm^2) enters the
  unit's mean as u_im k_im with k_im = beta_m + c_i gw_m (its main effect and treatment
  interaction at the two visits), so it adds S_jm^2 k_im k_im' to the unit's 2 x 2 covariance;
- binary: an exact sum over the 2^K configurations of the unit's K missing binary moderators,
  log sum_x [ log P(x | p_j) + log N(y_i | mu_i + sum_k (x_k - p_jk) k_ik, Sigma_i) ].

Posterior-predictive replication (response and remission rates) uses the Gaussian with the
same mean and the mixture's covariance (binary: p (1 - p) k k'), i.e. the moderators' spread
given the model, not a per-patient imputation.
"""

from __future__ import annotations

import itertools

import numpy as np

from .._lazy import lazy_module
from .ipd_meta_model import bivariate_loglik, to_units

pm = lazy_module("pymc")
pt = lazy_module("pytensor.tensor")

#: a missing-binary configuration count beyond which the exact sum is refused (2^K terms per unit)
MAX_MISSING_BINARY = 10


def plan(d) -> dict | None:
    """Numpy arrays of the imputation (None when nothing is missing or missing != "impute")."""
    if d.missing != "impute" or not d.patient_moderators:
        return None
    Z = d.patient_standardised()
    miss = ~np.isfinite(Z)
    imp = [k for k in range(Z.shape[1]) if miss[:, k].any()]
    if not imp:
        return None
    cont = [k for k in imp if d.mod_kind[d.patient_moderators[k]] == "continuous"]
    bins = [k for k in imp if d.mod_kind[d.patient_moderators[k]] == "binary"]
    J, sidx = d.n_studies, d.study_idx
    out = {"imputed": imp, "cont": cont, "bins": bins}
    if cont:
        zc = Z[:, cont]
        ok = np.isfinite(zc)
        zf = np.where(ok, zc, 0.0)
        out["c_n"] = np.stack([np.bincount(sidx, weights=ok[:, i], minlength=J) for i in range(len(cont))], 1)
        out["c_s1"] = np.stack([np.bincount(sidx, weights=zf[:, i], minlength=J) for i in range(len(cont))], 1)
        out["c_s2"] = np.stack([np.bincount(sidx, weights=zf[:, i] ** 2, minlength=J) for i in range(len(cont))], 1)
        out["c_obs"] = ok.astype(float)
        out["c_z"] = zf
    if bins:
        xb = d.X[:, bins]
        ok = np.isfinite(xb)
        xf = np.where(ok, xb, 0.0)
        out["b_n"] = np.stack([np.bincount(sidx, weights=ok[:, i], minlength=J) for i in range(len(bins))], 1)
        out["b_ones"] = np.stack([np.bincount(sidx, weights=xf[:, i], minlength=J) for i in range(len(bins))], 1)
        out["b_obs"] = ok.astype(float)
        out["b_x"] = xf
        K = int((~ok).sum(axis=1).max())
        if K > MAX_MISSING_BINARY:
            from ..errors import BayesKetError

            raise BayesKetError(f"A patient misses {K} binary moderators: the exact sum over their 2^{K} values is too "
                                f"large. Fix: use at most {MAX_MISSING_BINARY} binary moderators with missing values.")
        slot = np.zeros((d.n, max(K, 1)), int)
        real = np.zeros((d.n, max(K, 1)))
        for i in range(d.n):
            ks = np.flatnonzero(~ok[i])
            slot[i, : len(ks)] = ks
            real[i, : len(ks)] = 1.0
        # one-hot (n, K, Pb) of each slot's moderator: gathers become dense contractions (fast gradients)
        onehot = np.zeros((d.n, max(K, 1), len(bins)))
        onehot[np.arange(d.n)[:, None], np.arange(max(K, 1))[None, :], slot] = real
        out["slot"], out["slot_real"], out["slot_onehot"], out["K"] = slot, real, onehot, K
        out["configs"] = np.array(list(itertools.product([0.0, 1.0], repeat=K))) if K else np.zeros((1, 1))
        count = real.sum(axis=1).astype(int)
        out["groups"] = [(k, np.flatnonzero(count == k)) for k in range(K + 1) if (count == k).any()]
    P = len(d.patient_moderators)
    for key, idx in (("cont", cont), ("bins", bins)):
        E = np.zeros((len(idx), P))
        E[np.arange(len(idx)), idx] = 1.0
        out[f"embed_{key}"] = E  # (P_key, P): column k of the block -> moderator position
    return out


def centres(d, pl) -> dict:
    """Crude estimates and SEs of the covariate model's population parameters (``scaled_normal``)."""
    out = {}
    if pl.get("cont"):
        n = np.maximum(pl["c_n"].sum(0), 1)
        mean = pl["c_s1"].sum(0) / n
        var = np.maximum(pl["c_s2"].sum(0) / n - mean**2, 1e-4)
        out["covariate_mean"] = (mean, 1.0 / np.sqrt(n))
        out["covariate_log_sd"] = (0.5 * np.log(var), 1.0 / np.sqrt(2 * n))
    if pl.get("bins"):
        n = np.maximum(pl["b_n"].sum(0), 1)
        p = np.clip(pl["b_ones"].sum(0) / n, 0.02, 0.98)
        out["covariate_logit"] = (np.log(p / (1 - p)), 1.0 / np.sqrt(n * p * (1 - p)))
    return out


def covariate_model(d, pl, hp, scaled_normal):
    """The covariate model's parameters and log-likelihood; returns (latent study means of the
    imputed moderators on the model's scale (J, len(imputed)), within-study SDs (J, Pc) or None,
    binary shares (J, Pb) or None)."""
    c = centres(d, pl)
    J = d.n_studies
    names = d.patient_moderators
    M = S = p = None
    ll = 0.0
    if pl.get("cont"):
        cn = [names[k] for k in pl["cont"]]
        mean_c, mean_k = c["covariate_mean"]
        mu = scaled_normal("covariate_mean", 0.0, hp["covariate_mu_sigma"], mean_c, mean_k, "imputed_continuous")
        sd_mu = pm.HalfNormal("covariate_sd_mean", hp["covariate_sd_mu_sigma"], dims="imputed_continuous")
        a = pm.Normal("covariate_mean_z", 0.0, 1.0, dims=("study", "imputed_continuous"))
        ls_c, ls_k = c["covariate_log_sd"]
        ls = scaled_normal("covariate_log_sd", 0.0, hp["covariate_log_sd_sigma"], ls_c, ls_k, "imputed_continuous")
        sd_ls = pm.HalfNormal("covariate_sd_log_sd", hp["covariate_sd_log_sd_sigma"], dims="imputed_continuous")
        b = pm.Normal("covariate_log_sd_z", 0.0, 1.0, dims=("study", "imputed_continuous"))
        M = pm.Deterministic("covariate_study_mean", mu[None, :] + sd_mu[None, :] * a,
                             dims=("study", "imputed_continuous"))
        S = pm.Deterministic("covariate_study_sd", pt.exp(ls[None, :] + sd_ls[None, :] * b),
                             dims=("study", "imputed_continuous"))
        n, s1, s2 = (pm.Data(f"covariate_{k}", pl[f"c_{k}"]) for k in ("n", "s1", "s2"))
        ll = ll + pt.sum(-0.5 * n * np.log(2 * np.pi) - n * pt.log(S) - (s2 - 2 * M * s1 + n * M**2) / (2 * S**2))
        del cn
    if pl.get("bins"):
        lc, lk = c["covariate_logit"]
        lm = scaled_normal("covariate_logit", 0.0, hp["covariate_logit_sigma"], lc, lk, "imputed_binary")
        sd_l = pm.HalfNormal("covariate_sd_logit", hp["covariate_sd_logit_sigma"], dims="imputed_binary")
        ab = pm.Normal("covariate_logit_z", 0.0, 1.0, dims=("study", "imputed_binary"))
        eta = lm[None, :] + sd_l[None, :] * ab
        p = pm.Deterministic("covariate_study_share", pm.math.sigmoid(eta), dims=("study", "imputed_binary"))
        n, ones = pm.Data("covariate_binary_n", pl["b_n"]), pm.Data("covariate_binary_ones", pl["b_ones"])
        ll = ll + pt.sum(ones * (-pt.softplus(-eta)) + (n - ones) * (-pt.softplus(eta)))
    pm.Potential("covariate_loglik", ll)
    del J
    return M, S, p


def latent_arrays(d, pl, a, M, p):
    """Within deviations and across levels (J, P) with the imputed moderators on their latent study
    means (observed deviations z - M_j; missing: 0, integrated out), and the study means of every
    patient moderator on the model's scale (J, P; constant for the fully observed ones). The within
    deviations are returned as the complete moderators' (n, P) array and a list of (U, E): the
    imputed blocks' deviations U (n, k) and their positions E (k, P) (``ipd_meta_model._within``)."""
    keep = np.ones(len(d.patient_moderators))
    keep[pl["imputed"]] = 0.0
    keep = pm.Data("moderator_complete", keep)
    Xw, Xa = a["Xw"] * keep[None, :], a["Xa"] * keep[None, :]  # the imputed columns are replaced below
    w = pm.Data("unit_study_share", np.bincount(d.study_idx, minlength=d.n_studies) / d.n)
    means = pm.Data("moderator_study_mean_observed", d.study_means()) * keep[None, :]
    sidx = a["sidx"]
    latent = []
    if pl.get("cont"):
        E = pm.Data("embed_continuous", pl["embed_cont"])
        obs, z = pm.Data("covariate_observed", pl["c_obs"]), pm.Data("covariate_value", pl["c_z"])
        latent.append(((z - to_units(a, M)) * obs, E))
        Xa = Xa + (M - (w[:, None] * M).sum(0)[None, :]) @ E
        means = means + M @ E
    if pl.get("bins"):
        E = pm.Data("embed_binary", pl["embed_bins"])
        centre = np.array([d.mod_center[d.patient_moderators[k]] for k in pl["bins"]])
        obs, x = pm.Data("covariate_binary_observed", pl["b_obs"]), pm.Data("covariate_binary_value", pl["b_x"])
        latent.append(((x - to_units(a, p)) * obs, E))
        Xa = Xa + (p - (w[:, None] * p).sum(0)[None, :]) @ E
        means = means + (p - centre[None, :]) @ E
    return Xw, latent, Xa, means


def marginal_likelihood(d, pl, par, a, mu, y, o, s11, s12, s22, S, p):
    """(per-unit log-likelihood, mean (n, V), covariance entries (n, 3) for replication)."""
    V = len(d.visits)
    c = a["c"]
    beta, gw = par["moderator_coef"], par["moderation_within"]
    if V == 1:
        y = pt.concatenate([y, pt.zeros_like(y)], axis=1)
        o = pt.concatenate([o, pt.zeros_like(o)], axis=1)
        mu = pt.concatenate([mu, pt.zeros_like(mu)], axis=1)
        beta = pt.concatenate([beta, pt.zeros_like(beta)], axis=1)
        gw = pt.concatenate([gw, pt.zeros_like(gw)], axis=1)
    sidx = a["sidx"]
    r11, r12, r22 = s11, s12, s22
    if pl.get("cont"):
        mc = 1.0 - pm.Data("covariate_observed_mask", pl["c_obs"])
        E = pm.Data("embed_continuous_lik", pl["embed_cont"])
        # k_im = beta_m + c_i gw_m takes one of two values (c = +-1/2): per arm the products
        # k_m,v k_m,w are (Pc,) vectors, and the added covariance is (mc S^2) @ those (no (n, Pc, 2) arrays)
        bc, gc = E @ beta, E @ gw  # (Pc, 2)
        prods = []
        for sign in (0.5, -0.5):  # ketamine, control
            k0, k1 = bc[:, 0] + sign * gc[:, 0], bc[:, 1] + sign * gc[:, 1]
            prods += [k0 * k0, k0 * k1, k1 * k1]
        add = (mc * to_units(a, S**2)) @ pt.stack(prods, axis=1)  # (n, 6)
        ket = pm.Data("unit_is_ketamine", (d.arm == 1).astype(float))
        s11 = s11 + ket * add[:, 0] + (1 - ket) * add[:, 3]
        s12 = s12 + ket * add[:, 1] + (1 - ket) * add[:, 4]
        s22 = s22 + ket * add[:, 2] + (1 - ket) * add[:, 5]
        r11, r12, r22 = s11, s12, s22
    resid = (y - mu) * o
    if pl.get("bins") and pl["K"] > 0:
        onehot = pm.Data("binary_slot_onehot", pl["slot_onehot"])  # (n, K, Pb)
        real = pm.Data("binary_slot_real", pl["slot_real"])
        cfg = pm.Data("binary_configs", pl["configs"])  # (C, K)
        E = pm.Data("embed_binary_lik", pl["embed_bins"])
        ps = (onehot * to_units(a, p)[:, None, :]).sum(-1) + (1.0 - real) * 0.5  # (n, K); 0.5 on empty slots
        kb = (E @ beta)[None, :, :] + c[:, None, None] * (E @ gw)[None, :, :]  # (n, Pb, 2)
        ks = pt.einsum("nkp,npv->nkv", onehot, kb)  # (n, K, 2)
        # Units are grouped by their number k of missing binary moderators, each group summed over its
        # own 2^k configurations (most units miss few). Per group, as contractions over the slots:
        # shift_ncv = sum_k (cfg_ck - p_nk) k_nkv, log prior = sum_k cfg_ck logit p_nk + log(1 - p_nk).
        rk = real[:, :, None] * ks  # (n, K, 2)
        lo = pt.log(ps) - pt.log1p(-ps)  # (n, K)
        base = (ps[:, :, None] * rk).sum(1)  # (n, 2)
        l0 = (real * pt.log1p(-ps)).sum(1)  # (n,)
        parts, order = [], []
        for k, rows in pl["groups"]:
            order.append(rows)
            if k == 0:
                parts.append(bivariate_loglik(resid[rows, 0], resid[rows, 1], o[rows, 0], o[rows, 1], s11[rows],
                                              s12[rows], s22[rows]))
                continue
            cfg_k = pl["configs"][: 2**k, -k:]  # (2^k, k) constants: the structure, not data
            rk_g, lo_g = rk[rows], lo[rows]
            shift = -base[rows][:, None, :]
            logw = l0[rows][:, None]
            for j in range(k):  # k <= MAX_MISSING_BINARY small broadcasts (no reshapes of data-shaped arrays)
                shift = shift + cfg_k[None, :, j, None] * rk_g[:, None, j, :]
                logw = logw + cfg_k[None, :, j] * lo_g[:, j, None]
            r = resid[rows][:, None, :] - shift * o[rows][:, None, :]
            ll = bivariate_loglik(r[..., 0], r[..., 1], o[rows][:, None, 0], o[rows][:, None, 1], s11[rows][:, None],
                                  s12[rows][:, None], s22[rows][:, None])
            parts.append(pm.math.logsumexp(ll + logw, axis=1, keepdims=False))
        ll = pt.concatenate(parts)[np.argsort(np.concatenate(order))]
        var = real * ps * (1 - ps)  # (n, K): replication's covariance of the mixture
        r11 = r11 + (var * ks[..., 0] ** 2).sum(1)
        r12 = r12 + (var * ks[..., 0] * ks[..., 1]).sum(1)
        r22 = r22 + (var * ks[..., 1] ** 2).sum(1)
    else:
        ll = bivariate_loglik(resid[:, 0], resid[:, 1], o[:, 0], o[:, 1], s11, s12, s22)
    if V == 1:
        mu = mu[:, :1]
        r12, r22 = pt.zeros_like(r12), pt.ones_like(r22)
    return ll, mu, pt.stack([r11, r12, r22], axis=1)
