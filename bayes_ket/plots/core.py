"""What every figure shares: matplotlib without a display, the arm colours, writing by suffix."""

from __future__ import annotations

from pathlib import Path

from ..errors import BayesKetError

FORMATS = (".png", ".svg", ".pdf")
ARM_COLOURS = {"ketamine": "#c0392b", "control": "#2c3e50", "all": "#2c3e50"}


def pyplot(path=None):
    """matplotlib.pyplot, on the file-only Agg backend when the figure goes to a file."""
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path) -> Path | None:
    """Write ``fig`` to ``path`` (format from the suffix); None path: don't write."""
    if path is None:
        return None
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise BayesKetError(f"Figure path {str(path)!r}: suffix must be one of {FORMATS}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150, bbox_inches="tight")
    return path
