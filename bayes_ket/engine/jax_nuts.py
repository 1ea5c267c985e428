"""NUTS on a JAX log-density compiled once per model structure.

Why by hand: PyMC 5's ``pymc.sampling.jax`` replaces every shared variable
(``pm.Data``) by a constant, so each ``pm.sample`` call re-traces and re-compiles.
Here every ``pm.Data`` of the model (observed data *and* prior hyperparameters)
becomes an argument of one jitted function, so a prior sweep or a refit on new
data of the same shapes reuses the compiled sampler. The NUTS transition itself is
NumPyro's (``numpyro.infer.hmc.hmc``, functional API); only the chain driver
(warm-up and draws in one ``lax.fori_loop``, so the kernel is compiled once; chains
spread over CPU devices with ``pmap``) is ours, with two warm-up choices of our own,
each kept because it cut warm-up gradients per draw gradient (figures in ARCHITECTURE.md):
the metric starts from 1 / |gradient| at each chain's initial point (as nutpie starts),
and the first slow window is long enough for the metric it estimates
(``adaptation_schedule``).
"""

from __future__ import annotations

import atexit
import math
import os
import shutil
import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable
try:
    from pytensor.graph.traversal import graph_inputs
except ImportError:  # PyTensor < 2.32
    from pytensor.graph.basic import graph_inputs
from pytensor.graph.replace import clone_replace

with warnings.catch_warnings():
    # NumPyro imports tqdm.auto, which warns in a notebook kernel without ipywidgets that its bars
    # fall back to text: a note about the environment, not the analysis (our bars: _lazy.tqdm_bar)
    warnings.filterwarnings("ignore", message="IProgress not found")
    import tqdm.auto  # noqa: F401


#: number of times a sampler function was traced (compiled) in this process
COMPILATIONS = {"count": 0}
_STATE = {"sources": None, "device_warned": False, "cache": None}
#: environment variable: "0" / "off" switches the persistent compilation cache off; a path moves it
CACHE_VARIABLE = "BAYES_KET_JAX_CACHE"
PRECISIONS = ("float64", "float32")


@contextmanager
def _generated_sources():
    """PyTensor's JAX linker writes the source of each generated function to a file in the
    system temp folder and keeps it (about 1,200 after one test run). Send them to one
    folder of this process instead, removed when the process exits."""
    if _STATE["sources"] is None:
        _STATE["sources"] = tempfile.mkdtemp(prefix="bayes_ket_jax_")
        atexit.register(shutil.rmtree, _STATE["sources"], ignore_errors=True)
    old, tempfile.tempdir = tempfile.tempdir, _STATE["sources"]
    try:
        yield
    finally:
        tempfile.tempdir = old


def _warn_if_chains_serial(chains: int, n_devices: int) -> None:
    """Once per process: JAX was imported before bayes_ket (so our one-device-per-core flag
    came too late) and chains that could run in parallel will run one after another."""
    want = min(chains, os.cpu_count() or 1)
    if n_devices < want and not _STATE["device_warned"]:
        from ..errors import warn

        _STATE["device_warned"] = True
        warn(f"JAX sees {n_devices} CPU device(s) for {chains} chains on {os.cpu_count()} cores: chains will run "
             "one after another. Fix: import bayes_ket before jax (or set XLA_FLAGS="
             f"--xla_force_host_platform_device_count={os.cpu_count()} before Python starts).")


def compilation_cache_dir() -> str | None:
    """Where compiled samplers are kept between processes (JAX's persistent compilation cache):
    ``$BAYES_KET_JAX_CACHE`` when it names a folder, else ``$XDG_CACHE_HOME/bayes_ket/jax``
    (``~/.cache/bayes_ket/jax``); None when ``BAYES_KET_JAX_CACHE`` is 0 / off / false / no."""
    setting = os.environ.get(CACHE_VARIABLE, "").strip()
    if setting.lower() in ("0", "off", "false", "no"):
        return None
    if setting and setting.lower() not in ("1", "on", "true", "yes"):
        return setting
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "bayes_ket", "jax")


def _jax():
    """jax, with the persistent compilation cache configured once per process."""
    import jax  # deferred: importing jax is slow

    if _STATE["cache"] is None:
        _STATE["cache"] = compilation_cache_dir() or ""
        if _STATE["cache"]:
            jax.config.update("jax_compilation_cache_dir", _STATE["cache"])
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
    return jax


def release_compiled_code() -> None:
    """Drop the compiled code JAX keeps for every jitted function in this process (it is compiled
    again, or read from the persistent cache, when next called).

    XLA's CPU code for a compiled model stays mapped in the process until then: about 1,000-3,000
    memory maps a model, and Linux allows 65,530 per process by default (``vm.max_map_count``).
    A loop over dozens of models in one process (one fit per moderator, per outcome or per data
    set) then ends in "LLVM compilation error: Cannot allocate memory" and a crash (measured after
    about 46 fits). Compiled samplers held by an ``Analysis`` for reuse (sweeps, calibration) are
    objects of their own and stay.
    """
    _jax().clear_caches()


@dataclass
class CompiledModel:
    """A PyMC model turned into JAX functions of (unconstrained values, data).

    ``data_names`` orders the model's ``pm.Data`` containers; ``data_values()``
    returns their current values in that order. Each function takes the flat
    list of value variables followed by the data list.
    """

    model: pm.Model
    data_names: list[str]
    shared_vars: list
    value_names: list[str]
    value_shapes: list[tuple]
    logp_fn: object
    output_names: list[str]  # after_sampling_fn's outputs: constrained free RVs and deterministics,
    loglik_names: list[str]  # then pointwise log-likelihoods per observed RV, then log priors
    logprior_fn: object  # -> summed log prior per free RV (no Jacobian)
    logprior_names: list[str]
    after_sampling_fn: object = None  # -> outputs, log-likelihoods and log priors in one function
    extra_fns: dict = field(default_factory=dict)
    extra_graphs: dict = field(default_factory=dict)  # name -> graph, for functions of several extras
    jaxify: object = None
    _samplers: dict = field(default_factory=dict)
    _vmapped: dict = field(default_factory=dict)  # id(fn) -> jit(vmap(fn)); fns live as long as self

    def population_block(self, unit_dims=("patient",)) -> list[str]:
        """Value variables that are not indexed by a unit dimension (per-patient effects)."""
        model = self.model
        dims = model.named_vars_to_dims
        out = []
        for value_var in model.value_vars:
            rv = model.values_to_rvs[value_var]
            if not set(dims.get(rv.name, ())) & set(unit_dims):
                out.append(value_var.name)
        return out

    def extras_fn(self, names: tuple):
        """One compiled function returning several extras, so work they share is done once."""
        names = tuple(names)
        if len(names) == 1:
            return self.extra_fns[names[0]]
        if names not in self.extra_fns:
            self.extra_fns[names] = self.jaxify([self.extra_graphs[n] for n in names])
        return self.extra_fns[names]

    @property
    def n_parameters(self) -> int:
        """Number of unconstrained parameters NUTS moves."""
        return int(sum(np.prod(shape, dtype=int) for shape in self.value_shapes))

    # ---- data --------------------------------------------------------------
    def data_values(self, overrides: dict | None = None) -> list[np.ndarray]:
        overrides = overrides or {}
        return [
            np.asarray(overrides.get(var.name, var.get_value()), dtype=var.dtype) for var in self.shared_vars
        ]

    # ---- initial points ----------------------------------------------------
    def initial_point(self, initvals: dict | None = None) -> dict:
        """PyMC's initial point (unconstrained); ``initvals`` ({free RV name: constrained value})
        replace the model's own initial values (a rebound analysis starts where its own data
        put it, e.g. a mixture's EM start), mapped through this model's transforms."""
        model = self.model
        if not initvals:
            return model.initial_point()
        saved = dict(model.rvs_to_initial_values)
        try:
            for rv in model.free_RVs:
                if rv.name in initvals:
                    model.rvs_to_initial_values[rv] = initvals[rv.name]
            return model.initial_point()
        finally:
            model.rvs_to_initial_values.clear()
            model.rvs_to_initial_values.update(saved)

    def initial_points(self, chains: int, rng: np.random.Generator, initvals: dict | None = None) -> list[np.ndarray]:
        """The initial point (``initial_point``) jittered by U(-1, 1), per chain."""
        point = self.initial_point(initvals)
        return [
            np.stack([point[name] + rng.uniform(-1, 1, size=np.shape(point[name])) for _ in range(chains)])
            for name in self.value_names
        ]

    # ---- sampling ----------------------------------------------------------
    def sampler(self, tune: int, draws: int, chains: int, target_accept: float, max_treedepth: int,
                dense_mass, precision: str = "float64", progressbar: bool = True):
        """The sampler for these settings (compiled on its first run only).

        dense_mass: True / False, or blocks (lists) of value-variable names, each block
        with its own dense metric and the other variables diagonal. precision: "float64" or
        "float32" (the log density, its gradient and NUTS in single precision).
        """
        if not isinstance(dense_mass, bool):
            dense_mass = tuple(tuple(block) for block in dense_mass)
        if precision not in PRECISIONS:
            from ..errors import BayesKetError

            raise BayesKetError(f"precision={precision!r}. Fix: use one of {PRECISIONS}.")
        key = (tune, draws, chains, target_accept, max_treedepth, dense_mass, precision, bool(progressbar))
        if key not in self._samplers:
            self._samplers[key] = _build_sampler(self, *key)
        return self._samplers[key]

    def sample(self, *, tune, draws, chains, seed, target_accept=0.9, max_treedepth=10, dense_mass=False,
               data=None, progressbar=True, precision="float64", initvals=None) -> dict:
        """Run NUTS; returns raw unconstrained draws (float64), sampler statistics and the
        seconds spent compiling in this call (0 when the sampler was compiled before).
        ``initvals``: initial values of this data's own (see ``Analysis.initvals``)."""
        jax = _jax()
        rng = np.random.default_rng(seed)
        inits = self.initial_points(chains, rng, initvals)
        keys = jax.random.split(jax.random.PRNGKey(int(rng.integers(2**31 - 1))), chains)
        run = self.sampler(tune, draws, chains, target_accept, max_treedepth, dense_mass, precision, progressbar)
        bar = _ProgressBar(chains * (tune + draws), progressbar)
        with bar:
            out = run(np.asarray(keys), inits, self.data_values(data))
        out["values"] = [np.asarray(v, dtype=np.float64) for v in out["values"]]
        return out

    def mock_sample(self, *, draws, chains, seed, tune=0, initvals=None, **_) -> dict:
        """Draws without NUTS, for fast tests of everything downstream of the sampler: the
        initial point jittered by N(0, 0.3) on the unconstrained scale, with zeroed sampler
        statistics (0 divergences, 1 leapfrog step). Not a posterior."""
        rng = np.random.default_rng(seed)
        point = self.initial_point(initvals)
        values = [np.asarray(point[n])[None, None] + 0.3 * rng.standard_normal((chains, draws) + np.shape(point[n]))
                  for n in self.value_names]
        zeros = np.zeros((chains, draws))
        stats = {"diverging": zeros.astype(bool), "energy": rng.standard_normal((chains, draws)),
                 "n_steps": np.ones((chains, draws), int), "acceptance_rate": np.full((chains, draws), 0.9),
                 "step_size": np.full((chains, draws), 0.5), "lp": zeros, "tree_depth": np.ones((chains, draws)),
                 "warmup_steps": np.ones((chains, max(tune, 1)), int)}
        return {"values": values, "stats": stats}

    # ---- post-processing ---------------------------------------------------
    def apply(self, fn, values: list[np.ndarray], data=None, batch: int = 500) -> list[np.ndarray]:
        """Evaluate a compiled function on every (chain, draw) of unconstrained values.

        Calls of ``batch`` draws (the last one padded, so one shape is compiled); within a call,
        lax.map over groups of 8 draws vmapped: a full vmap was 2-3x slower on CPUs (measured
        on per-row extras at 154 and 10,000 patients: batched scatters)."""
        jax = _jax()
        data_values = self.data_values(data)
        chains, draws = values[0].shape[:2]
        n = chains * draws
        batch = min(batch, n)
        group = min(8, batch)
        batch -= batch % group  # whole groups: lax.map compiles the body a second time for a remainder
        flat = [v.reshape((n,) + v.shape[2:]) for v in values]
        if id(fn) not in self._vmapped:
            self._vmapped[id(fn)] = jax.jit(lambda vals, data: jax.lax.map(
                lambda one: fn(*one, *data), vals, batch_size=group))
        vfn = self._vmapped[id(fn)]
        pieces = []
        for start in range(0, n, batch):
            part = [f[start:start + batch] for f in flat]
            short = batch - len(part[0])
            if short:
                part = [np.concatenate([p, np.repeat(p[-1:], short, axis=0)]) for p in part]
            out = vfn(part, data_values)
            pieces.append([np.asarray(o)[: batch - short] for o in out])
        outs = [np.concatenate([p[i] for p in pieces]) for i in range(len(pieces[0]))]
        return [o.reshape((chains, draws) + o.shape[1:]) for o in outs]


class Extras:
    """A fit's extra expressions (compiled functions of the draws), evaluated chunk by chunk.

    Families read per-row arrays (means on observed rows, on a prediction grid) through
    ``chunks`` so post-processing never holds them for all draws at once; small arrays
    (per patient) can be taken whole with ``full``. Draws are flattened chain-major:
    flat index = chain * n_draws + draw.
    """

    def __init__(self, cm: "CompiledModel", values: list[np.ndarray], data=None, chunk: int = 200):
        self.cm, self.values, self.data, self.chunk = cm, values, data, chunk
        self.shape = values[0].shape[:2]

    @property
    def names(self) -> list[str]:
        return list(self.cm.extra_graphs)

    @property
    def n_samples(self) -> int:
        return int(np.prod(self.shape))

    def chunks(self, names, size: int | None = None):
        """Yield (slice of flat draws, {name: array (n in chunk, ...)})."""
        size = size or self.chunk
        flat = [v.reshape((self.n_samples,) + v.shape[2:]) for v in self.values]
        for start in range(0, self.n_samples, size):
            sl = slice(start, min(self.n_samples, start + size))
            part = [f[sl][None] for f in flat]
            outs = self.cm.apply(self.cm.extras_fn(names), part, self.data)
            yield sl, {n: o[0] for n, o in zip(names, outs)}

    def full(self, name) -> np.ndarray:
        """(chain, draw, ...) array of one extra expression (for arrays that are small per draw)."""
        return self.cm.apply(self.cm.extra_fns[name], self.values, self.data)[0]


class _ProgressBar:
    """tqdm bar fed from inside the jitted scan by ``jax.debug.callback``."""

    current = None

    def __init__(self, total, enabled):
        self.total, self.enabled = total, enabled

    def __enter__(self):
        if self.enabled:
            from .._lazy import tqdm_bar

            _ProgressBar.current = tqdm_bar(total=self.total, desc="NUTS (jax)", unit="it", leave=False)
        return self

    def __exit__(self, *exc):
        if _ProgressBar.current is not None:
            _ProgressBar.current.close()
        _ProgressBar.current = None

    @staticmethod
    def advance(n):
        if _ProgressBar.current is not None:
            _ProgressBar.current.update(int(n))


class _Jaxifier:
    """PyTensor graphs rewritten once, together, then turned into JAX functions group by group.

    PyMC's ``get_jaxified_graph`` rewrites each function's graph on its own. The constrained
    draws, log-likelihood, log prior and every extra share much of their graph; rewriting them
    one by one cost 0.4-0.9 s more of a fit's build than rewriting them together (measured on
    three of the built-in models). Here the JAX mode's rewrites run once over all
    the outputs given, and a group of rewritten outputs becomes a function of (values, data)
    with ``jax_funcify`` (no further rewriting). The JAX mode excludes in-place rewrites, so
    outputs can be split.
    """

    def __init__(self, inputs, graphs):
        from pytensor import config
        from pytensor.compile import mode
        from pytensor.graph.fg import FunctionGraph

        whole = FunctionGraph(inputs=inputs, outputs=graphs, clone=True)
        # as pytensor.function does while it rewrites: no stack trace on the nodes rewrites make
        with config.change_flags(traceback__limit=config.traceback__compile_limit):
            mode.JAX.optimizer.rewrite(whole)
        self.inputs, self.rewritten = whole.inputs, list(whole.outputs)

    def __call__(self, outputs):
        """A JAX function of (values, data) returning ``outputs`` (variables of ``rewritten``)."""
        from pytensor.graph.fg import FunctionGraph
        from pytensor.link.jax.dispatch import jax_funcify

        with _generated_sources():
            return jax_funcify(FunctionGraph(inputs=self.inputs, outputs=list(outputs), clone=True))


def compile_model(model: pm.Model, extra: dict | None = None) -> CompiledModel:
    """Jaxify ``model`` with every shared variable as an explicit input.

    extra: name -> PyTensor expression of the model's variables (e.g. the mean on a
    prediction grid), compiled as further functions of (values, data).
    """
    value_vars = model.value_vars
    logp = model.logp(jacobian=True)
    outputs = model.unobserved_value_vars
    output_names = [v.name for v in model.unobserved_value_vars]
    loglik = model.logp(vars=model.observed_RVs, sum=False)
    logprior = [pt.sum(t) for t in model.logp(vars=model.free_RVs, sum=False, jacobian=False)]
    extra = extra or {}
    extra_graphs = model.replace_rvs_by_values(list(extra.values())) if extra else []

    graphs = [logp, *outputs, *loglik, *logprior, *extra_graphs]
    shared = sorted({v for v in graph_inputs(graphs) if isinstance(v, SharedVariable)}, key=lambda v: v.name)
    symbolic = {s: s.type(name=s.name) for s in shared}
    inputs = [*value_vars, *symbolic.values()]
    # the sampler's log density on its own (its rewrite, hence its arithmetic and draws, as PyMC's
    # get_jaxified_graph gives); everything evaluated after sampling rewritten together
    density = _Jaxifier(inputs, clone_replace([logp], replace=symbolic))
    jaxify = _Jaxifier(inputs, clone_replace(graphs[1:], replace=symbolic))
    sizes = np.cumsum([0, len(outputs), len(loglik), len(logprior)])
    outputs_r, loglik_r, logprior_r = (jaxify.rewritten[a:b] for a, b in zip(sizes[:-1], sizes[1:]))
    extra_r = jaxify.rewritten[sizes[-1]:]

    point = model.initial_point()
    return CompiledModel(
        model=model,
        data_names=[s.name for s in shared],
        shared_vars=shared,
        value_names=[v.name for v in value_vars],
        value_shapes=[np.shape(point[v.name]) for v in value_vars],
        logp_fn=density(density.rewritten),
        output_names=output_names,
        loglik_names=[v.name for v in model.observed_RVs],
        logprior_fn=jaxify(logprior_r),
        logprior_names=[v.name for v in model.free_RVs],
        after_sampling_fn=jaxify([*outputs_r, *loglik_r, *logprior_r]),
        extra_fns={name: jaxify([g]) for name, g in zip(extra, extra_r)},
        extra_graphs=dict(zip(extra, extra_r)),
        jaxify=jaxify,
    )


#: the metric starts from 1 / |gradient| at a chain's initial point (nutpie's start), clipped
GRADIENT_METRIC_CLIP = (1e-3, 1e3)


def adaptation_schedule(num_steps: int, first_window: int = 100, stan_schedule=None):
    """Warm-up windows: a 75-iteration buffer (step size only), slow windows that estimate the
    metric, doubling from ``first_window``, and a 50-iteration end buffer (Stan's scheme).

    Stan's (and NumPyro's) first slow window is 25 iterations: a dense metric of dozens of
    parameters estimated from 25 draws is noise, and the next window pays for it in long
    trees. The first window here is long enough for the metric it estimates (see
    ``_first_window``). Short warm-ups (< 300) keep NumPyro's schedule (``stan_schedule``).
    """
    from numpyro.infer.hmc_util import AdaptWindow, build_adaptation_schedule

    if num_steps < 300:
        return (stan_schedule or build_adaptation_schedule)(num_steps)
    windows, start, size, end = [AdaptWindow(0, 74)], 75, first_window, num_steps - 50
    while start < end:
        current = size if 3 * size <= end - start else end - start
        windows.append(AdaptWindow(start, start + current - 1))
        start, size = start + current, 2 * size
    windows.append(AdaptWindow(end, num_steps - 1))
    return windows


def _first_window(cm: CompiledModel, dense_mass) -> int:
    """100 iterations, or twice the size of the largest dense block when that is larger."""
    sizes = dict(zip(cm.value_names, (int(np.prod(s, dtype=int)) for s in cm.value_shapes)))
    if dense_mass is True:
        block = sum(sizes.values())
    elif dense_mass is False:
        block = 0
    else:
        block = max((sum(sizes[n] for n in b) for b in dense_mass), default=0)
    return max(100, 2 * block)


@contextmanager
def _schedule(first_window: int):
    """NumPyro builds its warm-up schedule with a module-level function when a kernel is
    initialised (at trace time): swap ours in for that moment."""
    import numpyro.infer.hmc_util as hmc_util

    original = hmc_util.build_adaptation_schedule
    hmc_util.build_adaptation_schedule = lambda n: adaptation_schedule(n, first_window, original)
    try:
        yield
    finally:
        hmc_util.build_adaptation_schedule = original


def _gradient_metric(abs_grads: dict, names, dense_mass):
    """An initial inverse mass matrix from gradients at the chains' initial points: 1 / mean |g|
    per coordinate (clipped), in NumPyro's layout for a dense, diagonal or block-dense metric."""
    import jax.numpy as jnp

    lo, hi = GRADIENT_METRIC_CLIP
    inv = {n: (1.0 / jnp.clip(abs_grads[n], lo, hi)).reshape(-1) for n in names}
    cat = lambda keys: jnp.concatenate([inv[n] for n in keys])  # noqa: E731
    if dense_mass is True:
        return jnp.diag(cat(sorted(names)))
    if dense_mass is False:
        return cat(sorted(names))
    out = {tuple(b): jnp.diag(cat(b)) for b in dense_mass}
    rest = tuple(sorted(set(names) - {n for b in dense_mass for n in b}))
    if rest:
        out[rest] = cat(rest)
    return out


def _build_sampler(cm: CompiledModel, tune, draws, chains, target_accept, max_treedepth, dense_mass,
                   precision="float64", progressbar=True):
    """The chain driver: one lax.fori_loop over the warm-up and draw iterations of NumPyro's
    NUTS kernel.

    On CPUs, chains are spread over the CPU devices with pmap and run one after another on
    each (lax.map); on an accelerator (one device), they run side by side (vmap). The first
    run is compiled ahead of time, so its compile time is measured apart from sampling.
    """
    import time as _time

    jax = _jax()
    import jax.numpy as jnp
    from numpyro.infer.hmc import hmc
    from numpyro.infer.util import ParamInfo

    vectorized = jax.default_backend() != "cpu"
    n_dev = 1 if vectorized else math.gcd(chains, jax.local_device_count())
    if not vectorized:
        _warn_if_chains_serial(chains, jax.local_device_count())
    logp_fn = cm.logp_fn
    every = max(1, (tune + draws) // 50)

    names = cm.value_names

    def potential_fn_gen(*data):  # z: {value variable name: array}, so a block-dense metric can name them
        return lambda z: -logp_fn(*[z[n] for n in names], *data)[0]

    if not isinstance(dense_mass, bool):  # NumPyro wants a list of name tuples (the cache key is a tuple)
        dense_mass = [tuple(b) for b in dense_mass]
    first_window = _first_window(cm, dense_mass)

    init_kernel, sample_kernel = hmc(potential_fn_gen=potential_fn_gen, algo="NUTS")

    def tick(i):
        if not progressbar:  # no host callback in the graph (nor in the cached executable)
            return
        jax.lax.cond(
            (i + 1) % every == 0,
            lambda: jax.debug.callback(_ProgressBar.advance, every, ordered=False),
            lambda: None,
        )

    def one_chain(key, init, energy, data, abs_grads):
        start = ParamInfo(dict(zip(names, init)), *energy)  # so init_kernel does not differentiate again
        with _schedule(first_window):
            state = init_kernel(start, tune, target_accept_prob=target_accept,
                                max_tree_depth=max_treedepth, dense_mass=dense_mass, model_args=tuple(data),
                                rng_key=key, inverse_mass_matrix=_gradient_metric(abs_grads, names, dense_mass))

        def stats_of(state):
            return (state.diverging, state.energy, state.num_steps, state.accept_prob,
                    state.adapt_state.step_size, state.potential_energy)

        # One loop over warm-up and draws, so the NUTS kernel is compiled once (two scans
        # compiled it twice). Warm-up iterations write draw slot 0, which the first draw
        # overwrites; NumPyro's kernel adapts while its iteration counter is below `tune`.
        def body(i, carry):
            state, z, stats, warm_steps = carry
            tick(i)
            state = sample_kernel(state, model_args=tuple(data))
            k = jnp.clip(i - tune, 0, draws - 1)
            z = [b.at[k].set(state.z[n]) for b, n in zip(z, names)]
            stats = [b.at[k].set(v) for b, v in zip(stats, stats_of(state))]
            w = jnp.clip(i, 0, max(tune, 1) - 1)
            warm_steps = warm_steps.at[w].set(jnp.where(i < tune, state.num_steps, warm_steps[w]))
            return state, z, stats, warm_steps

        z0 = [jnp.zeros((draws,) + jnp.shape(state.z[n]), jnp.result_type(state.z[n])) for n in names]
        stats0 = [jnp.zeros((draws,) + jnp.shape(v), jnp.result_type(v)) for v in stats_of(state)]
        warm0 = jnp.zeros(max(tune, 1), jnp.result_type(state.num_steps))
        _, z, stats, warm_steps = jax.lax.fori_loop(0, tune + draws, body, (state, z0, stats0, warm0))
        return z, (*stats, warm_steps[:tune])

    def initial_energy(inits, data):
        """Potential energy and its gradient at each chain's initial point (these chains).

        Computed once and handed to NumPyro's init_kernel (``ParamInfo``), which then does not
        differentiate again: each copy of the log density's gradient in the sampler's program
        costs its XLA compile time (about 1.1 s for a 27-parameter model at 154 patients)."""
        value_and_grad = jax.value_and_grad(potential_fn_gen(*data))
        return jax.lax.map(lambda init: value_and_grad(dict(zip(names, init))), inits)  # unbatched, as NUTS runs it

    def mean_abs(grads):
        return jax.tree_util.tree_map(lambda g: jnp.abs(g).mean(axis=0), grads)

    def device_chains(keys, inits, data):
        COMPILATIONS["count"] += 1  # runs once per trace, i.e. per compilation
        energy = initial_energy(inits, data)
        abs_grads = jax.lax.pmean(mean_abs(energy[1]), axis_name="devices")  # over all chains
        return jax.lax.map(lambda c: one_chain(c[0], c[1], c[2], data, abs_grads), (keys, inits, energy))

    def side_by_side(keys, inits, data):
        COMPILATIONS["count"] += 1
        energy = initial_energy(inits, data)
        return jax.vmap(lambda k, i, e: one_chain(k, i, e, data, mean_abs(energy[1])))(keys, inits, energy)

    run = jax.jit(side_by_side) if vectorized else jax.pmap(device_chains, in_axes=(0, 0, None), axis_name="devices")
    single = precision == "float32"
    cast = (lambda a: np.asarray(a, np.float32) if np.issubdtype(np.asarray(a).dtype, np.floating)
            else np.asarray(a, np.int32) if np.issubdtype(np.asarray(a).dtype, np.integer) else np.asarray(a)) \
        if single else np.asarray
    per = chains // n_dev
    layout = (lambda a: np.asarray(a)) if vectorized else (lambda a: np.asarray(a).reshape((n_dev, per) + np.shape(a)[1:]))
    compiled = {}
    names_out = ("diverging", "energy", "n_steps", "acceptance_rate", "step_size", "lp", "warmup_steps")

    def runner(keys, inits, data):
        args = (layout(keys), [cast(layout(x)) for x in inits], [cast(d) for d in data])
        compile_s = 0.0
        with jax.enable_x64(not single):
            if "exe" not in compiled:
                t0 = _time.perf_counter()
                compiled["exe"] = run.lower(*args).compile()
                compile_s = _time.perf_counter() - t0
            z, stats = compiled["exe"](*args)
        flat = lambda a: np.asarray(a).reshape((chains,) + np.shape(a)[(1 if vectorized else 2):])  # noqa: E731
        stats = {k: flat(v) for k, v in zip(names_out, stats)}
        stats["lp"] = -stats["lp"]
        stats["tree_depth"] = np.floor(np.log2(stats["n_steps"])) + 1
        return {"values": [flat(v) for v in z], "stats": stats, "compile_s": compile_s}

    return runner
