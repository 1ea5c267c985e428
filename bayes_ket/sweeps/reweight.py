"""Answering a prior setting from the base fit's draws: PSIS importance reweighting.

    log w = log p_new(theta) - log p_base(theta)

over the full prior of every free RV (the standard-normal priors of non-centred offsets
are the same under both and cancel), Pareto-smoothed with ArviZ's ``psislw``. The rows
are the summary's under the weights (``results.summary_table``); R-hat is the base fit's,
ESS the base fit's times the PSIS effective-sample-size ratio (1 / sum w^2) / n.
"""

from __future__ import annotations

import warnings

import numpy as np


def log_prior_draws(analysis, values: list, priors: dict) -> np.ndarray:
    """Summed log prior (all free RVs, no Jacobian) of each draw under ``priors``: (chain, draw)."""
    parts = analysis.compiled.apply(analysis.compiled.logprior_fn, values, priors)
    return np.sum([np.asarray(p, dtype=float) for p in parts], axis=0)


def psis_weights(log_w: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Flat log ratios -> (normalised PSIS weights, k-hat, ESS ratio)."""
    import arviz as az

    flat = np.asarray(log_w, float).ravel()
    flat = np.where(np.isfinite(flat), flat, -np.inf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lw, khat = az.psislw(flat[None, :] - np.max(flat))
    w = np.exp(np.asarray(lw)[0])
    w = w / w.sum()
    return w, float(np.asarray(khat).ravel()[0]), float(1.0 / np.sum(w**2) / len(w))


def reweighted_table(fit, w: np.ndarray, ess_ratio: float, ci_prob: float):
    """The base fit's summary rows under normalised weights ``w`` (flattened chain-major draws)."""
    from ..results import summary_table

    return summary_table(fit, ci_prob, weights=w, ess_scale=ess_ratio)
