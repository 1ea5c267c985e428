"""A module imported on first attribute access.

The design of a model (every check of the user's request) needs only numpy and pandas;
PyMC and PyTensor are needed once a model is built. Family modules refer to them through
``lazy_module`` so that a bad request fails within a second of ``import bayes_ket``,
before the heavy libraries load.
"""

from __future__ import annotations

import importlib


class lazy_module:  # noqa: N801 - used like a module
    def __init__(self, name: str):
        self._name = name
        self._module = None

    def __getattr__(self, attribute):
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attribute)


def tqdm_bar(**options):
    """A tqdm progress bar: the notebook widget where ipywidgets is installed, the text bar
    otherwise (``tqdm.auto`` falls back too, but with a TqdmWarning in every notebook)."""
    try:
        import ipywidgets  # noqa: F401
        from tqdm.auto import tqdm
    except ImportError:
        from tqdm import tqdm
    return tqdm(**options)
