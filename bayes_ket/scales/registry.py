"""The scale registry: one ``Scale`` per rating scale, looked up by name or by column.

The registry is the one table of ranges, bands and response/remission thresholds in
bayes_ket: ``read_trial`` validates every registered scale's columns from it, and the
response/remission helpers read their defaults from it. The eight built-in scales are
defined in ``bayes_ket.scales.builtin``; ``register`` adds a scale of your own.

Canonical columns of a scale named ``<name>``: the total ``<name>_total`` (e.g.
``bdi2_total``) and, for a scale with items, the items ``<name>_1`` .. ``<name>_<n>``
in the order of ``Scale.items`` (``madrs_1`` .. ``madrs_10``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import BayesKetError, offending

DIRECTIONS = ("higher_is_worse",)
TOTAL_RULES = ("sum", None)
NAME = re.compile(r"^[a-z][a-z0-9_]*[a-z0-9]$")
ITEM_COLUMN = re.compile(r"^(?P<name>[a-z][a-z0-9_]*[a-z0-9])_(?P<k>\d+)$")

#: other spellings that ``get`` understands for the built-in scales
ALIASES = {
    "hamd": "hrsd17", "hamd17": "hrsd17", "ham_d": "hrsd17", "ham_d_17": "hrsd17", "hdrs": "hrsd17",
    "hdrs17": "hrsd17", "hrsd": "hrsd17", "hrsd_17": "hrsd17",
    "gad_7": "gad7", "bdi": "bdi2", "bdi_ii": "bdi2", "bdiii": "bdi2", "qids": "qids_sr16", "qids_sr": "qids_sr16",
    "qidssr16": "qids_sr16", "phq_9": "phq9", "ham_a": "hama", "hars": "hama", "cgi_s": "cgis", "cgi": "cgis",
}


@dataclass(frozen=True)
class Scale:
    """A clinician- or self-rated symptom scale: what its scores mean and how they are read.

    name : lower-case identifier; the canonical columns are ``<name>_total`` and
        ``<name>_1`` .. ``<name>_<n>`` (one per item, in the order of ``items``).
    range : (lowest, highest) possible total score, e.g. (0, 60) for MADRS, (1, 7) for
        CGI-S.
    direction : ``"higher_is_worse"``: a higher score means more symptoms (true of every
        built-in scale). Scales where higher is better are not supported: reverse-score
        them (``lo + hi - score``) before registering.
    bands : ((label, lowest, highest), ...) severity bands in increasing order, each
        inclusive at both ends, covering the whole range (``bands()`` labels scores with
        them); empty when the scale has none.
    response : the fraction of the baseline-to-floor distance a patient must improve by
        to count as a responder (0.5: at least 50 % improvement, see
        ``percent_improvement``); None where the scale has no response definition
        (CGI-S).
    remission : a score at or below this value (inclusive: ``score <= remission``) is a
        remission; None where undefined.
    items : ((item name, (lowest, highest)), ...): the items in column order; item ranges
        may differ (HRSD-17 has 0-4 and 0-2 items). Empty for a single-score scale.
    total_from_items : ``"sum"`` when the total is the plain sum of the items (read_trial
        then derives ``<name>_total`` from complete items and checks a given total
        against them); None when it is not (QIDS-SR16 sums domain maxima) or there are no
        items.
    label : axis or legend text for figures, e.g. "MADRS total"; defaults to
        "<name> total".
    source : citation(s) for the range, bands and thresholds.

    ``floor`` is ``range[0]``: the score of a patient free of symptoms (1 for CGI-S).
    Fields are checked on creation: a bad one raises ``BayesKetError`` naming it.
    """

    name: str
    range: tuple[float, float]
    direction: str = "higher_is_worse"
    bands: tuple[tuple[str, float, float], ...] = ()
    response: float | None = 0.5
    remission: float | None = None
    items: tuple[tuple[str, tuple[int, int]], ...] = ()
    total_from_items: str | None = None
    label: str = ""
    source: str = ""

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "name", _check_name(self.name))
        set_(self, "range", _check_range(self.name, self.range))
        set_(self, "bands", _check_bands(self.name, self.range, self.bands))
        set_(self, "items", _check_items(self.name, self.items))
        set_(self, "label", str(self.label or f"{self.name} total"))
        set_(self, "source", str(self.source or ""))
        if self.direction not in DIRECTIONS:
            raise BayesKetError(
                f"Scale '{self.name}': direction={self.direction!r} is not supported; only 'higher_is_worse'. "
                "Fix: reverse-score the scale (lowest + highest - score) and register it as 'higher_is_worse'."
            )
        if self.response is not None and not (_number(self.response) and 0 < self.response <= 1):
            raise BayesKetError(
                f"Scale '{self.name}': response={self.response!r} must be a fraction in (0, 1] (0.5 = at least "
                "50 % improvement) or None. Fix: correct it."
            )
        lo, hi = self.range
        if self.remission is not None and not (_number(self.remission) and lo <= self.remission <= hi):
            raise BayesKetError(
                f"Scale '{self.name}': remission={self.remission!r} must be a score within {lo:g}-{hi:g} or None. "
                "Fix: correct it."
            )
        if self.total_from_items not in TOTAL_RULES:
            raise BayesKetError(
                f"Scale '{self.name}': total_from_items={self.total_from_items!r}; use 'sum' or None."
            )
        if self.total_from_items == "sum":
            if not self.items:
                raise BayesKetError(f"Scale '{self.name}': total_from_items='sum' needs items. Fix: give items= or None.")
            item_lo = sum(r[0] for _, r in self.items)
            item_hi = sum(r[1] for _, r in self.items)
            if (item_lo, item_hi) != (lo, hi):
                raise BayesKetError(
                    f"Scale '{self.name}': the items sum to {item_lo:g}-{item_hi:g}, not the range {lo:g}-{hi:g}. "
                    "Fix: correct the item ranges or the range, or set total_from_items=None."
                )

    # ---- derived facts ----------------------------------------------------
    @property
    def floor(self) -> float:
        """The lowest possible score, ``range[0]`` (no symptoms): 0 for most scales, 1 for CGI-S."""
        return self.range[0]

    @property
    def total_column(self) -> str:
        """The canonical total column, ``<name>_total``."""
        return f"{self.name}_total"

    @property
    def item_columns(self) -> tuple[str, ...]:
        """The canonical item columns ``<name>_1`` .. ``<name>_<n>`` (empty without items)."""
        return tuple(f"{self.name}_{k}" for k in range(1, len(self.items) + 1))

    @property
    def item_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.items)

    def item_range(self, column: str) -> tuple[int, int]:
        """(lowest, highest) score of the item in ``column`` (e.g. ``"hrsd17_4"`` -> (0, 2))."""
        return self.items[self.item_columns.index(column)][1]

    @property
    def columns(self) -> tuple[str, ...]:
        """Every canonical column of the scale: the items, then the total."""
        return (*self.item_columns, self.total_column)


# ---- field checks ----------------------------------------------------------
def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _check_name(name) -> str:
    if not isinstance(name, str) or not NAME.match(name) or ITEM_COLUMN.match(name):
        raise BayesKetError(
            f"Scale name {name!r} must be lower-case letters, digits and underscores, start with a letter and "
            "not end in '_<number>' (it names the columns <name>_total and <name>_1..). Fix: e.g. name='mytool'."
        )
    return name


def _check_range(name, rng) -> tuple[float, float]:
    try:
        lo, hi = rng
    except (TypeError, ValueError):
        lo = hi = None
    if not (_number(lo) and _number(hi) and lo < hi):
        raise BayesKetError(f"Scale '{name}': range={rng!r} must be (lowest, highest) numbers with lowest < highest.")
    return (lo, hi)


def _check_bands(name, rng, bands) -> tuple:
    out = []
    for band in bands or ():
        try:
            label, lo, hi = band
        except (TypeError, ValueError):
            label = lo = hi = None
        if not (isinstance(label, str) and _number(lo) and _number(hi) and lo <= hi):
            raise BayesKetError(f"Scale '{name}': band {band!r} must be (label, lowest, highest) with lowest <= highest.")
        out.append((label, lo, hi))
    if out:
        gaps_ok = all(0 < b[1] - a[2] <= 1 for a, b in zip(out, out[1:]))
        if out[0][1] != rng[0] or out[-1][2] != rng[1] or not gaps_ok:
            raise BayesKetError(
                f"Scale '{name}': bands {out} must run in increasing order from {rng[0]:g} to {rng[1]:g}, each "
                "starting just above the previous one's highest score (e.g. 0-6, 7-19). Fix: correct the bands."
            )
    return tuple(out)


def _check_items(name, items) -> tuple:
    pairs = list(items.items()) if isinstance(items, Mapping) else list(items or ())
    out = []
    for pair in pairs:
        try:
            item, (lo, hi) = pair
        except (TypeError, ValueError):
            item = lo = hi = None
        whole = all(_number(v) and float(v).is_integer() for v in (lo, hi))
        if not (isinstance(item, str) and item and whole and lo < hi):
            raise BayesKetError(
                f"Scale '{name}': item {pair!r} must be (item name, (lowest, highest)) with whole-number scores."
            )
        out.append((item, (int(lo), int(hi))))
    dup = sorted({n for n, _ in out if [m for m, _ in out].count(n) > 1})
    if dup:
        raise BayesKetError(f"Scale '{name}': item names {offending(dup)} appear twice. Fix: name each item once.")
    return tuple(out)


# ---- the registry ------------------------------------------------------------
_BUILTIN: dict[str, Scale] = {}
_REGISTRY: dict[str, Scale] = {}


def _add_builtin(scale: Scale) -> Scale:
    """Used once per built-in scale by ``bayes_ket.scales.builtin``."""
    _BUILTIN[scale.name] = scale
    _REGISTRY[scale.name] = scale
    return scale


def _key(name: str) -> str:
    key = re.sub(r"[\s\-]+", "_", str(name).strip().lower())
    return ALIASES.get(key, key)


def get(name) -> Scale:
    """The registered ``Scale`` called ``name`` (a ``Scale`` is returned as it is).

    Case and '-' are ignored and common spellings are understood ("HAM-D" and "hamd17"
    give hrsd17, "BDI-II" bdi2, "CGI-S" cgis). An unknown name raises BayesKetError.
    """
    if isinstance(name, Scale):
        return name
    key = _key(name)
    if key not in _REGISTRY:
        raise BayesKetError(
            f"No scale {name!r}; registered: {', '.join(_REGISTRY)}. Fix: use one of these, or register yours with "
            f"bk.scales.register(bk.scales.Scale(name='{key}', range=(lowest, highest), remission=...))."
        )
    return _REGISTRY[key]


def names() -> tuple[str, ...]:
    """Names of every registered scale: the built-ins first, then yours, in order of registration."""
    return tuple(_REGISTRY)


def builtin_names() -> tuple[str, ...]:
    """Names of the scales that ship with bayes_ket."""
    return tuple(_BUILTIN)


def all_scales() -> tuple[Scale, ...]:
    """Every registered ``Scale``, in the order of ``names()``."""
    return tuple(_REGISTRY.values())


def register(scale: Scale, replace: bool = False) -> Scale:
    """Add ``scale`` to the registry, so that ``read_trial`` reads its columns as scores and
    ``get`` finds it. Returns the scale.

    A scale whose name is already registered (a built-in, or one of yours) is refused
    unless it is identical or ``replace=True`` (replacing a built-in changes it for the
    whole session; ``unregister`` restores it). Its columns may not clash with another
    scale's columns.
    """
    if not isinstance(scale, Scale):
        raise BayesKetError(
            f"register() takes a Scale, not {type(scale).__name__}. "
            "Fix: bk.scales.register(bk.scales.Scale(name=..., range=(lowest, highest), ...))."
        )
    current = _REGISTRY.get(scale.name)
    if current is not None and current != scale and not replace:
        kind = "a built-in scale" if scale.name in _BUILTIN else "already registered"
        raise BayesKetError(
            f"Scale '{scale.name}' is {kind} (range {current.range[0]:g}-{current.range[1]:g}, remission "
            f"{current.remission}) and differs from the one given. Fix: choose another name, or pass replace=True to "
            "replace it for this session."
        )
    others = {col: s.name for s in _REGISTRY.values() if s.name != scale.name for col in s.columns}
    clash = [col for col in scale.columns if col in others]
    if clash:
        raise BayesKetError(
            f"Scale '{scale.name}': columns {offending(clash)} are already columns of scale "
            f"'{others[clash[0]]}'. Fix: choose another name."
        )
    _REGISTRY[scale.name] = scale
    return scale


def unregister(name: str) -> None:
    """Remove a scale you registered; for a replaced built-in, restore the original."""
    key = _key(name)
    if key in _BUILTIN:
        _REGISTRY[key] = _BUILTIN[key]
    elif key in _REGISTRY:
        del _REGISTRY[key]
    else:
        raise BayesKetError(f"No registered scale {name!r}. Registered: {', '.join(_REGISTRY)}.")


def for_column(column) -> Scale | None:
    """The scale a canonical column belongs to: ``<name>_total`` or an item ``<name>_<k>``
    (k = 1..number of items); None for any other column."""
    column = str(column)
    for scale in _REGISTRY.values():
        if column == scale.total_column or column in scale.item_columns:
            return scale
    return None


def claimed_item(column) -> Scale | None:
    """The scale whose item columns ``column`` looks like but is not: ``madrs_11`` (MADRS
    has 10 items) or ``cgis_1`` (CGI-S has none); None otherwise."""
    m = ITEM_COLUMN.match(str(column))
    if m is None or for_column(column) is not None:
        return None
    return _REGISTRY.get(m["name"])
