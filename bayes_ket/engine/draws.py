"""Draws as arrays: the one reshape from (chain, draw, ...) to flat draws (no JAX or PyMC here)."""

from __future__ import annotations

import numpy as np


def flat_draws(da, sl=slice(None)) -> np.ndarray:
    """(chain, draw, ...) DataArray -> (flat draws, ...) numpy array, chain-major; rows ``sl``."""
    a = np.asarray(da.transpose("chain", "draw", ...).to_numpy())
    return a.reshape((-1,) + a.shape[2:])[sl]
