"""bayes_ket: Bayesian hierarchical models of symptom change under IV ketamine."""

import os as _os

# One XLA CPU device per core, so the JAX backend can run chains in parallel.
# Must be set before JAX starts; harmless when JAX is never used.
if "xla_force_host_platform_device_count" not in _os.environ.get("XLA_FLAGS", ""):
    _os.environ["XLA_FLAGS"] = (
        _os.environ.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={_os.cpu_count() or 1}"
    ).strip()

from .errors import BayesKetError  # noqa: E402
from .data.trial import TrialData  # noqa: E402

__version__ = "0.1.0"
