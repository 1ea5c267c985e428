"""Figures for papers, each written by the suffix of its path (.png, .svg, .pdf).

Generic figures (``ppc``: observed visit means against posterior predictive bands;
``sweep``: a prior sweep) work for any family that provides their data; a family's own
figures live in ``plots/<family>.py`` and are found through ``Family.figures()``. Nothing
here imports a family.
"""

from .core import FORMATS, save_figure
from .sweep import plot_sweep

__all__ = ["FORMATS", "plot_sweep", "save_figure"]
