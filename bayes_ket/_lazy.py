"""A module imported on first attribute access.

The design of a model (every check of the user's request) needs only numpy and pandas;
PyMC and PyTensor are needed once a model is built. Family modules refer to them through
``lazy_module`` so that a bad request fails within a second of ``import bayes_ket``,
before the heavy libraries load.
"""

from __future__ import annotations

import importlib
from contextlib import contextmanager


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


@contextmanager
def arviz_numpy():
    """ArviZ's diagnostics with numpy's variance, not its numba one.

    Where numba is installed (PyTensor needs it) ArviZ compiles a numba variance on first use:
    about 0.45 s of every process that fits a model (measured in ``fit.diagnostics()``). On
    arrays of a fit's size (chains x draws per variable) numpy is as fast. ArviZ's switch is a
    class flag; it is set back as it was.
    """
    from arviz.utils import Numba

    was = Numba.numba_flag
    Numba.numba_flag = False
    try:
        yield
    finally:
        Numba.numba_flag = was
