"""A sweep's settings: the grid of prior values, their keys and their seeds."""

from __future__ import annotations

import itertools
import json
import zlib

import numpy as np

from ..errors import BayesKetError


def expand_grid(grid) -> list[dict]:
    """dict of lists -> cartesian settings; list of dicts -> as given."""
    if isinstance(grid, dict):
        if not grid:
            raise BayesKetError("grid is empty. Fix: grid={prior_name: [values, ...]}.")
        names = list(grid)
        lists = [list(np.atleast_1d(grid[n])) for n in names]
        if any(len(v) == 0 for v in lists):
            raise BayesKetError("grid has a prior with no values. Fix: give each prior at least one value.")
        return [{n: float(v) for n, v in zip(names, combo)} for combo in itertools.product(*lists)]
    if isinstance(grid, (list, tuple)) and grid and all(isinstance(s, dict) for s in grid):
        return [{str(n): float(v) for n, v in s.items()} for s in grid]
    raise BayesKetError(
        "grid must be a dict of lists ({'moderation_sigma': [3, 6, 12]}: cartesian) or a list of dicts "
        f"(explicit settings), not {type(grid).__name__}."
    )


def validate_settings(settings: list[dict], valid: dict) -> None:
    for s in settings:
        bad = [n for n in s if n not in valid]
        if bad:
            raise BayesKetError(
                f"grid names prior(s) {bad} which this model does not have. Fix: use names from {sorted(valid)}.")
        for n, v in s.items():
            if not np.isfinite(v) or (v <= 0 and not n.endswith("_mu")):
                raise BayesKetError(f"grid value {n}={v}: must be a positive finite number.")


def setting_key(values: dict) -> str:
    """Stable id of a full prior setting (sorted names and rounded values)."""
    text = json.dumps({k: float(f"{v:.12g}") for k, v in sorted(values.items())})
    return f"{zlib.crc32(text.encode()):08x}"


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.isclose(a[k], b[k], rtol=1e-12, atol=0) for k in a)


def setting_seed(base_seed: int, full: dict, base: dict) -> int:
    """The base seed for the base setting; otherwise derived from the base seed and the values,
    so a rerun gives identical numbers."""
    if same(full, base):
        return int(base_seed)
    key = int(setting_key(full), 16)
    return int(np.random.SeedSequence([int(base_seed), key]).generate_state(1)[0])
