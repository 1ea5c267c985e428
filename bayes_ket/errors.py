"""The one exception type users see from bayes_ket."""


class BayesKetError(ValueError):
    """Bad input or an impossible request.

    The message names the column, the first offending patients or rows, and the fix.
    Subclasses ``ValueError`` so generic handlers still catch it.
    """


def offending(rows, limit: int = 5) -> str:
    """Format the first few offending row labels or patient ids for a message."""
    rows = list(rows)
    shown = ", ".join(str(r) for r in rows[:limit])
    more = f" (and {len(rows) - limit} more)" if len(rows) > limit else ""
    return f"{shown}{more}"
