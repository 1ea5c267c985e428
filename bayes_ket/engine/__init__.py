"""Sampling backends: our compile-once JAX/NumPyro NUTS driver, and PyMC's own sampler."""
