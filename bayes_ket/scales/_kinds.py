"""Keep the kind of a user's input: a scalar gives a scalar, an array (or list) an
array, a pandas Series a Series with the same index. Missing values (NaN) pass through."""

from __future__ import annotations

import numpy as np
import pandas as pd


def as_float(x):
    """(float array, function restoring the input's kind) for scalar/list/array/Series."""
    if isinstance(x, pd.Series):
        values = pd.to_numeric(x).to_numpy(dtype=float, na_value=np.nan)
        return values, lambda v: pd.Series(v, index=x.index, name=x.name)
    arr = np.asarray(x, dtype=float)
    if arr.ndim == 0:
        return arr, lambda v: v.item() if isinstance(v, np.ndarray) else v
    return arr, lambda v: v


def as_flag(cond: np.ndarray, missing: np.ndarray, like):
    """Boolean result with missing values: a pandas 'boolean' Series for Series input, a
    float array (1.0 / 0.0 / NaN) for arrays, a bool (pd.NA when missing) for scalars."""
    if isinstance(like, pd.Series):
        return pd.Series(pd.array(np.where(missing, None, cond), dtype="boolean"), index=like.index, name=like.name)
    if np.ndim(like) == 0:
        return pd.NA if missing.item() else bool(cond.item())
    return np.where(missing, np.nan, cond.astype(float))


def as_text(labels: np.ndarray, like):
    """Object labels (None where missing) in the kind of ``like``."""
    if isinstance(like, pd.Series):
        return pd.Series(labels, index=like.index, name=like.name, dtype=object)
    if np.ndim(like) == 0:
        return np.asarray(labels, dtype=object).reshape(()).item()
    return np.asarray(labels, dtype=object)
