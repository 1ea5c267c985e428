"""Pieces every model family shares: row accounting, prior resolution, study level."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import BayesKetError


class Exclusions:
    """Rows a fit leaves out, with the reason: nothing is dropped silently."""

    def __init__(self):
        self.rows = []  # (source_row or index, patient, reason)

    def drop(self, frame: pd.DataFrame, mask, reason: str) -> pd.DataFrame:
        mask = pd.Series(mask, index=frame.index).fillna(False).astype(bool)
        if mask.any():
            gone = frame[mask]
            src = gone["source_row"] if "source_row" in gone else gone.index.to_series()
            self.rows.extend(zip(src.tolist(), gone["patient"].tolist(), [reason] * len(gone)))
        return frame[~mask]

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=["source_row", "patient", "reason"])

    def summary(self) -> str:
        if not self.rows:
            return "no rows excluded"
        counts = self.table()["reason"].value_counts()
        return "; ".join(f"{n} rows: {r}" for r, n in counts.items())


def resolve_priors(card, outcome_range: float, span: float, overrides: dict | None = None) -> dict:
    """Card prior specs -> numbers (value x scale), then user overrides by name."""
    factor = {"range": outcome_range, "range_per_span": outcome_range / span, "one": 1.0}
    priors = {name: float(spec["value"]) * factor[spec.get("scale", "one")] for name, spec in card.priors.items()}
    for name, value in (overrides or {}).items():
        if name not in priors:
            raise BayesKetError(
                f"priors= names {name!r}, which model {card.name!r} does not have. Fix: use one of {sorted(priors)}."
            )
        value = float(value)
        if not value > 0 and not name.endswith("_mu"):
            raise BayesKetError(f"Prior {name!r} must be positive, got {value}. Fix: pass a positive scale.")
        priors[name] = value
    return priors


def study_level(n_studies: int, min_random: int = 3) -> str:
    """'random' with >= min_random studies, 'fixed' with 2+, 'none' with one.

    With 2 studies a random study SD is a funnel (brms: 620 divergences on the
    seed-000 design), so two studies get fixed intercepts.
    """
    if n_studies >= min_random:
        return "random"
    return "fixed" if n_studies >= 2 else "none"


def build_units(rows: pd.DataFrame, moderators: list[str], has_arm: bool):
    """Units (patient x period) with indices and centred moderators; rows get ``unit_idx``.

    Moderators are centred at their mean over patients (x_m = m - mean) and must vary.
    Returns (rows, units, patients, studies, mod_ref, mod_sd).
    """
    patients = list(pd.unique(rows["patient"]))
    studies = sorted(pd.unique(rows["study"]).tolist(), key=str)
    units = rows.drop_duplicates(["patient", "period"])[["patient", "period", "study", *moderators]
                                                        + (["arm"] if has_arm else [])].reset_index(drop=True)
    if not has_arm:
        units["arm"] = 0.0
    ptab = rows.drop_duplicates("patient")
    mod_ref = np.array([ptab[m].mean() for m in moderators], float)
    mod_sd = np.array([ptab[m].std() for m in moderators], float)
    for m, sd in zip(moderators, mod_sd):
        if not sd > 0:
            raise BayesKetError(f"Moderator {m!r} does not vary over patients. Fix: drop it from moderators=.")
    for m, ref in zip(moderators, mod_ref):
        units[f"x_{m}"] = units[m] - ref
    units["patient_idx"] = pd.Categorical(units["patient"], categories=patients).codes
    units["study_idx"] = pd.Categorical(units["study"], categories=studies).codes
    units["period_idx"] = units["period"] - units["period"].min()
    key = pd.MultiIndex.from_frame(units[["patient", "period"]])
    rows = rows.reset_index(drop=True)
    rows["unit_idx"] = key.get_indexer(pd.MultiIndex.from_frame(rows[["patient", "period"]]))
    return rows, units, patients, studies, mod_ref, mod_sd
