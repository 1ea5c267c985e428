"""Raw JAX draws -> arviz.InferenceData.

Groups: posterior (constrained free RVs and deterministics), sample_stats (per draw:
diverging, energy, n_steps, tree_depth, acceptance_rate, step_size, lp),
warmup_sample_stats (n_steps per warm-up iteration: the gradients warm-up cost),
log_likelihood (pointwise, for observed RVs), log_prior (per free RV, no Jacobian),
observed_data, and unconstrained_posterior (the sampler's own coordinates, one
variable per value variable: prior reweighting in ``bk.sweep`` needs them, also on a
fit loaded from disk).
"""

from __future__ import annotations

import arviz as az
import numpy as np
import xarray as xr

from .jax_nuts import CompiledModel

UNCONSTRAINED = "unconstrained_posterior"


def to_inference_data(cm: CompiledModel, raw: dict, data: dict | None = None) -> az.InferenceData:
    """Constrained draws and deterministics, pointwise log-likelihood, per-variable log prior."""
    model = cm.model
    values = raw["values"]
    # one compiled pass over the draws for all three (three passes compiled three programs)
    flat = cm.apply(cm.after_sampling_fn, values, data)
    n_out, n_lik = len(cm.output_names), len(cm.loglik_names)
    outputs, loglik, logprior = flat[:n_out], flat[n_out:n_out + n_lik], flat[n_out + n_lik:]
    posterior = {n: o for n, o in zip(cm.output_names, outputs) if not n.endswith("__")}
    # (no observed RVs when the family integrates its likelihood itself: it adds log_likelihood in derive)
    loglik = dict(zip(cm.loglik_names, loglik)) if cm.loglik_names else {}
    logprior = dict(zip(cm.logprior_names, logprior))
    dims = {name: list(d) for name, d in model.named_vars_to_dims.items()}
    coords = {name: np.asarray(v) for name, v in model.coords.items() if v is not None}
    current = dict(zip(cm.data_names, cm.data_values(data)))
    # an observed container the log-density does not read (a family computing the likelihood
    # on its own layout) is not an input of the compiled functions: take it from data or the model
    data = data or {}

    def observed_value(rv):
        var = model.rvs_to_values[rv]
        return current.get(var.name, data.get(var.name, var.get_value() if hasattr(var, "get_value") else var.data))

    observed = {rv.name: np.asarray(observed_value(rv)) for rv in model.observed_RVs}
    stats = {k: np.asarray(v) for k, v in raw["stats"].items() if k != "warmup_steps"}
    idata = az.from_dict(
        posterior=posterior,
        sample_stats=stats,
        log_likelihood=loglik or None,
        observed_data=observed,
        coords=coords,
        dims=dims,
    )
    # ArviZ 0.23's from_dict drops log_prior= silently: add the group explicitly.
    idata.add_groups(log_prior=logprior, coords=coords, dims={name: [] for name in logprior})
    warm = np.asarray(raw["stats"].get("warmup_steps", np.zeros((values[0].shape[0], 0))))
    idata.add_groups(warmup_sample_stats=xr.Dataset({"n_steps": (("chain", "draw"), warm)}))
    idata.add_groups({UNCONSTRAINED: unconstrained_dataset(cm.value_names, values)})
    return idata


def unconstrained_dataset(names: list[str], values: list[np.ndarray]) -> xr.Dataset:
    """The sampler's unconstrained draws, one variable per value variable (own dim names)."""
    out = {}
    for name, v in zip(names, values):
        v = np.asarray(v)
        out[name] = (("chain", "draw", *[f"{name}_dim_{i}" for i in range(v.ndim - 2)]), v)
    return xr.Dataset(out)


def unconstrained_values(idata, names: list[str]) -> list[np.ndarray] | None:
    """The unconstrained draws in ``names`` order, or None when the fit does not carry them."""
    if UNCONSTRAINED not in idata.groups():
        return None
    group = idata[UNCONSTRAINED]
    if any(n not in group for n in names):
        return None
    return [group[n].transpose("chain", "draw", ...).to_numpy() for n in names]
