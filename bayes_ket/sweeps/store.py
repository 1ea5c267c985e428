"""A sweep's files: one Parquet file per finished setting, the base fit, the final table.

Files are named by the sweep's fingerprint (card, data, options, seeds) and the setting's
key, and written by atomic rename, so a killed sweep leaves only finished settings and a
rerun with the same ``out`` fits only the missing ones.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd


class Store:
    """Per-setting Parquet files under one directory (``out``), or nothing when ``out`` is None."""

    def __init__(self, out, fingerprint: str):
        self.final = self.dir = None
        self.fp = fingerprint
        if out is None:
            return
        out = Path(out)
        if out.suffix == ".parquet":
            self.final, self.dir = out, out.with_name(out.stem + "_parts")
        else:
            self.dir, self.final = out, out / "sweep.parquet"
        self.dir.mkdir(parents=True, exist_ok=True)

    def _atomic(self, target: Path, write) -> None:
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        write(tmp)
        os.replace(tmp, target)

    def path(self, key: str) -> Path:
        return self.dir / f"{self.fp}-{key}.parquet"

    def load(self, key: str):
        if self.dir is None or not self.path(key).exists():
            return None
        return pd.read_parquet(self.path(key))

    def write(self, key: str, rows: pd.DataFrame) -> None:
        if self.dir is not None:
            self._atomic(self.path(key), lambda p: rows.to_parquet(p, index=False))

    def write_final(self, table: pd.DataFrame) -> None:
        if self.final is not None:
            self._atomic(self.final, lambda p: table.to_parquet(p, index=False))

    def save_base(self, fit) -> None:
        """The base fit (its unconstrained draws included), for reweighting after a restart."""
        if self.dir is not None:
            self._atomic(self.dir / f"{self.fp}-base.nc", lambda p: fit.save(p))

    def load_base(self):
        if self.dir is None or not (self.dir / f"{self.fp}-base.nc").exists():
            return None
        from ..results import load_fit

        return load_fit(self.dir / f"{self.fp}-base.nc")
