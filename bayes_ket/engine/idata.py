"""Raw JAX draws -> arviz.InferenceData (posterior, sample_stats, log_likelihood, log_prior)."""

from __future__ import annotations

import arviz as az
import numpy as np

from .jax_nuts import CompiledModel


def to_inference_data(cm: CompiledModel, raw: dict, data: dict | None = None) -> az.InferenceData:
    """Constrained draws and deterministics, pointwise log-likelihood, per-variable log prior."""
    model = cm.model
    values = raw["values"]
    outputs = cm.apply(cm.outputs_fn, values, data)
    posterior = {n: o for n, o in zip(cm.output_names, outputs) if not n.endswith("__")}
    # (no observed RVs when the family integrates its likelihood itself: it adds log_likelihood in derive)
    loglik = dict(zip(cm.loglik_names, cm.apply(cm.loglik_fn, values, data))) if cm.loglik_names else {}
    logprior = dict(zip(cm.logprior_names, cm.apply(cm.logprior_fn, values, data)))
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
    stats = {k: np.asarray(v) for k, v in raw["stats"].items()}
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
    return idata

