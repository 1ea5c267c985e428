"""Model families: each turns a card plus a trial into a PyMC model (contract: ``base.Family``).

The registry maps a card's ``family`` field to its family object. The built-in families
register here; a user's own family registers with ``register(MyFamily())``.
"""

from __future__ import annotations

from ..errors import BayesKetError
from .base import Family, Quantity

_REGISTRY: dict[str, Family] = {}


def register(family: Family, replace: bool = False) -> Family:
    """Add a family (an instance of a ``Family`` subclass) under its ``name``."""
    if not isinstance(family, Family):
        raise BayesKetError(f"register() takes a bayes_ket.families.Family instance, not {type(family).__name__}.")
    if not family.name:
        raise BayesKetError(f"{type(family).__name__} has no name. Fix: set the class attribute name = '...'.")
    if family.name in _REGISTRY and not replace:
        raise BayesKetError(f"A family named {family.name!r} is registered already. Fix: pass replace=True.")
    _REGISTRY[family.name] = family
    return family


def names() -> list[str]:
    return sorted(_REGISTRY)


def get(name: str) -> Family:
    if name not in _REGISTRY:
        raise BayesKetError(f"Unknown model family {name!r}. Fix: use one of {names()}.")
    return _REGISTRY[name]


def family_of(card) -> Family:
    """The family a card names."""
    if card.family not in _REGISTRY:
        raise BayesKetError(f"Card {card.name!r} names family {card.family!r}. Fix: use one of {names()}.")
    return _REGISTRY[card.family]


def _register_builtins() -> None:
    from . import classes, ipd_meta, items, trajectory

    for module in (trajectory, items, classes, ipd_meta):
        register(module.FAMILY)


_register_builtins()

__all__ = ["Family", "Quantity", "family_of", "get", "names", "register"]
