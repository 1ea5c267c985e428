"""Model cards: declarative, named analyses (models/*.toml, shipped as bayes_ket.model_cards).

A card names a model family, its settings and its priors. Cards are data; the
family module (bayes_ket.families.<family>) turns a card plus a trial into a model.
"""

from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from .errors import BayesKetError

PRIOR_SCALES = ("range", "range_per_span", "one")


@dataclass
class Card:
    name: str
    family: str
    description: str = ""
    settings: dict = field(default_factory=dict)
    priors: dict = field(default_factory=dict)  # name -> {"value", "scale", "doc"}

    @classmethod
    def from_dict(cls, d: dict) -> "Card":
        missing = [k for k in ("name", "family", "priors") if k not in d]
        if missing:
            raise BayesKetError(f"Model card lacks {missing}. Fix: add them (see models/trajectory.toml).")
        for name, spec in d["priors"].items():
            if not isinstance(spec, dict) or "value" not in spec or spec.get("scale", "one") not in PRIOR_SCALES:
                raise BayesKetError(
                    f"Card {d['name']!r}, prior {name!r}: needs {{value = number, scale = one of {PRIOR_SCALES}}}."
                )
        return cls(d["name"], d["family"], d.get("description", ""), dict(d.get("settings", {})), dict(d["priors"]))

    def to_dict(self) -> dict:
        return copy.deepcopy(
            {"name": self.name, "family": self.family, "description": self.description,
             "settings": self.settings, "priors": self.priors}
        )


def available() -> list[str]:
    """Names of the cards shipped with the package."""
    return sorted(p.name[:-5] for p in resources.files("bayes_ket.model_cards").iterdir() if p.name.endswith(".toml"))


def load_card(model) -> Card:
    """A card from a shipped name ("trajectory"), a .toml path, a dict or a Card."""
    if isinstance(model, Card):
        return model
    if isinstance(model, dict):
        return Card.from_dict(model)
    if isinstance(model, (str, Path)) and str(model).endswith(".toml"):
        return Card.from_dict(tomllib.loads(Path(model).read_text()))
    if isinstance(model, str):
        if model not in available():
            raise BayesKetError(f"Unknown model {model!r}. Fix: use one of {available()} or a path to a .toml card.")
        return Card.from_dict(tomllib.loads(resources.files("bayes_ket.model_cards").joinpath(f"{model}.toml").read_text()))
    raise BayesKetError(f"model must be a card name, a .toml path, a dict or a Card, not {type(model).__name__}.")
