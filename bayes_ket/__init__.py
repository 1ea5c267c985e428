"""bayes_ket: Bayesian hierarchical models of symptom change under IV ketamine.

Public surface: read_trial, TrialData, simulate, datasets, scales, fit, Analysis, Fit,
load_fit, compare, sweep, sensitivity, plot_sweep, BayesKetError, BayesKetWarning.
Names are imported on first use (``import bayes_ket`` itself is light; PyMC, JAX and
ArviZ load when a model is first fitted).
"""

import importlib as _importlib
import os as _os

# One XLA CPU device per core, so the JAX backend can run chains in parallel.
# Must be set before JAX starts; harmless when JAX is never used.
if "xla_force_host_platform_device_count" not in _os.environ.get("XLA_FLAGS", ""):
    _os.environ["XLA_FLAGS"] = (
        _os.environ.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={_os.cpu_count() or 1}"
    ).strip()

# PyTensor warns at import that it found no BLAS; bayes_ket samples with JAX and never uses
# PyTensor's C BLAS, so say so (an explicit empty ldflags) unless the user configured BLAS.
if "blas__ldflags" not in _os.environ.get("PYTENSOR_FLAGS", ""):
    _os.environ["PYTENSOR_FLAGS"] = ",".join(
        f for f in (_os.environ.get("PYTENSOR_FLAGS", ""), "blas__ldflags=") if f)

from ._version import __version__  # noqa: E402
from .errors import BayesKetError, BayesKetWarning  # noqa: E402

# Functions named like their own module are bound now: importing the module later would otherwise
# bind the package attribute to the module. Both are light (no PyMC, JAX or ArviZ).
from .sensitivity import sensitivity  # noqa: E402
from .simulate import simulate  # noqa: E402

#: public name -> (module, attribute); attribute None: the module itself
_LAZY = {
    "read_trial": (".data.reader", "read_trial"),
    "TrialData": (".data.trial", "TrialData"),
    "datasets": (".datasets", None),
    "scales": (".scales", None),
    "cards": (".cards", None),
    "fit": (".fitting", "fit"),
    "Analysis": (".fitting", "Analysis"),
    "Fit": (".results", "Fit"),
    "load_fit": (".results", "load_fit"),
    "compare": (".results", "compare"),
    "sweep": (".sweeps", "sweep"),
    "plot_sweep": (".plots", "plot_sweep"),
    "plot_trajectories": (".plots.trajectories", "plot_trajectories"),
    "select_classes": (".families.classes", "select_classes"),
    "ipd_meta_sequential": (".families.ipd_meta", "ipd_meta_sequential"),
}

__all__ = sorted(["BayesKetError", "BayesKetWarning", "sensitivity", "simulate", *_LAZY])


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'bayes_ket' has no attribute {name!r}")
    module, attribute = _LAZY[name]
    value = _importlib.import_module(module, __name__)
    if attribute is not None:
        value = getattr(value, attribute)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
