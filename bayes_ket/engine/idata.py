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
    loglik = dict(zip(cm.loglik_names, cm.apply(cm.loglik_fn, values, data)))
    logprior = dict(zip(cm.logprior_names, cm.apply(cm.logprior_fn, values, data)))
    dims = {name: list(d) for name, d in model.named_vars_to_dims.items()}
    coords = {name: np.asarray(v) for name, v in model.coords.items() if v is not None}
    current = dict(zip(cm.data_names, cm.data_values(data)))
    observed = {rv.name: current[model.rvs_to_values[rv].name] for rv in model.observed_RVs}
    stats = {k: np.asarray(v) for k, v in raw["stats"].items()}
    idata = az.from_dict(
        posterior=posterior,
        sample_stats=stats,
        log_likelihood=loglik,
        observed_data=observed,
        coords=coords,
        dims=dims,
    )
    # ArviZ 0.23's from_dict drops log_prior= silently: add the group explicitly.
    idata.add_groups(log_prior=logprior, coords=coords, dims={name: [] for name in logprior})
    return idata

