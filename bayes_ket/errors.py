"""The one exception and the one warning class users see from bayes_ket."""


class BayesKetError(ValueError):
    """Bad input or an impossible request.

    The message names the column, the first offending patients or rows, and the fix.
    Subclasses ``ValueError`` so generic handlers still catch it.
    """


class BayesKetWarning(UserWarning):
    """Every warning bayes_ket raises (sampling problems, excluded patients, extrapolation, ...).

    Filter or catch it with the ``warnings`` module, e.g.
    ``warnings.filterwarnings("error", category=bk.BayesKetWarning)`` in a pipeline that must stop.
    """


def warn(message: str, stacklevel: int = 2) -> None:
    """Raise ``message`` as a ``BayesKetWarning`` (the package's one way to warn)."""
    import warnings

    warnings.warn(message, BayesKetWarning, stacklevel=stacklevel + 1)


def offending(rows, limit: int = 5) -> str:
    """Format the first few offending row labels or patient ids for a message."""
    rows = list(rows)
    shown = ", ".join(str(r) for r in rows[:limit])
    more = f" (and {len(rows) - limit} more)" if len(rows) > limit else ""
    return f"{shown}{more}"
