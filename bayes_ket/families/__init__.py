"""Model families: each module turns a card plus a trial into a PyMC model.

A family module provides:
  design(trial, card, outcome, moderators, time, **options) -> design object
  priors(card, design, overrides) -> {name: number}
  build_model(design, priors) -> (pm.Model, {name: extra expression})
  derive(design, idata, extras, rng) -> adds posterior-predictive quantities to idata
  describe(design) -> metadata dict stored with the fit (quantities, coords, study level)
"""

from importlib import import_module

from ..errors import BayesKetError

FAMILIES = ("trajectory", "items")


def family_of(card):
    if card.family not in FAMILIES:
        raise BayesKetError(f"Card {card.name!r} names family {card.family!r}. Fix: use one of {FAMILIES}.")
    return import_module(f"{__name__}.{card.family}")
