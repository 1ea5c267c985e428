"""The canonical long layout: column names, and views of the scale registry.

``TOTAL_RANGES`` and ``OUTCOMES`` are live views of ``bayes_ket.scales``: a scale
registered with ``bk.scales.register`` appears in them at once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from .. import scales

MADRS_ITEM_COLUMNS = scales.MADRS.item_columns
#: range of each MADRS item
ITEM_RANGE = scales.MADRS_ITEM_RANGE


class _TotalRanges(Mapping):
    """{``<scale>_total``: (lowest, highest)} for every registered scale (a live view)."""

    def __getitem__(self, column: str) -> tuple[float, float]:
        scale = scales.for_column(column)
        if scale is None or column != scale.total_column:
            raise KeyError(column)
        return scale.range

    def __iter__(self) -> Iterator[str]:
        return (s.total_column for s in scales.all_scales())

    def __len__(self) -> int:
        return len(scales.names())

    def __repr__(self) -> str:
        return repr(dict(self))


class _Outcomes(Sequence):
    """The ``<scale>_total`` columns of every registered scale, in registry order (a live view)."""

    def __getitem__(self, i):
        return tuple(TOTAL_RANGES)[i]

    def __len__(self) -> int:
        return len(scales.names())

    def __repr__(self) -> str:
        return repr(tuple(self))


#: outcome column -> (min, max) of the total score, from the scale registry
TOTAL_RANGES: Mapping[str, tuple[float, float]] = _TotalRanges()
#: the total-score columns of the registered scales
OUTCOMES: Sequence[str] = _Outcomes()


def score_columns() -> tuple[str, ...]:
    """Every registered scale's item and total columns."""
    return tuple(col for s in scales.all_scales() for col in s.columns)


def is_score(column) -> bool:
    """True for a registered scale's ``<name>_total`` or item column."""
    return scales.for_column(column) is not None


ID_COLUMNS = ("patient", "study", "arm", "period", "day")
REQUIRED_COLUMNS = ("patient", "day")
#: bookkeeping columns read_trial may add or read: never moderators
BOOKKEEPING_COLUMNS = ("actual_day", "scheduled_day", "madrs_converted", "source_row")


def non_moderator(column) -> bool:
    """Identifiers, scores and bookkeeping columns: never moderators."""
    return column in ID_COLUMNS or column in BOOKKEEPING_COLUMNS or is_score(column)


#: arm labels read without arm_labels= (case-insensitive): the only ones
ARM_LABELS = {
    1: ("ketamine", "1"),
    0: ("placebo", "saline", "midazolam", "control", "0"),
}
#: arm names used in summaries and by default in legends
ARM_NAMES = {1: "ketamine", 0: "control"}
