"""bayes_ket: Bayesian hierarchical models of symptom change under IV ketamine.

Public surface (API.md): read_trial, simulate, datasets, scales, fit, Fit,
load_fit, compare, sweep, sensitivity, TrialData, BayesKetError.
"""

import os as _os

# One XLA CPU device per core, so the JAX backend can run chains in parallel.
# Must be set before JAX starts; harmless when JAX is never used.
if "xla_force_host_platform_device_count" not in _os.environ.get("XLA_FLAGS", ""):
    _os.environ["XLA_FLAGS"] = (
        _os.environ.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={_os.cpu_count() or 1}"
    ).strip()

from . import datasets, scales  # noqa: E402
from .data.reader import read_trial  # noqa: E402
from .data.trial import TrialData  # noqa: E402
from .errors import BayesKetError, BayesKetWarning  # noqa: E402
from .fitting import Analysis, fit  # noqa: E402
from .results import Fit, compare, load_fit  # noqa: E402
from .plots_sweep import plot_sweep  # noqa: E402
from .sensitivity import sensitivity  # noqa: E402
from .simulate import simulate  # noqa: E402
from .sweep import sweep  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "Analysis", "BayesKetError", "BayesKetWarning", "Fit", "TrialData", "compare", "datasets", "fit", "load_fit",
    "plot_sweep", "read_trial", "scales", "sensitivity", "simulate", "sweep",
]
