"""NUTS on a JAX log-density compiled once per model structure.

Why by hand: PyMC 5's ``pymc.sampling.jax`` replaces every shared variable
(``pm.Data``) by a constant, so each ``pm.sample`` call re-traces and re-compiles.
Here every ``pm.Data`` of the model (observed data *and* prior hyperparameters)
becomes an argument of one jitted function, so a prior sweep or a refit on new
data of the same shapes reuses the compiled sampler. The NUTS transition itself is
NumPyro's (``numpyro.infer.hmc.hmc``, functional API); only the chain driver
(warm-up + draws in ``lax.scan``, chains spread over CPU devices with ``pmap``)
is ours.
"""

from __future__ import annotations

import atexit
import math
import os
import shutil
import tempfile
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

#: number of times a sampler function was traced (compiled) in this process
COMPILATIONS = {"count": 0}
_STATE = {"sources": None, "device_warned": False}


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


def _jax():
    import jax  # deferred: importing jax is slow and optional for the pymc backend

    return jax


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
    outputs_fn: object  # -> constrained free RVs and deterministics
    output_names: list[str]
    loglik_fn: object  # -> pointwise log-likelihood per observed RV
    loglik_names: list[str]
    logprior_fn: object  # -> summed log prior per free RV (no Jacobian)
    logprior_names: list[str]
    extra_fns: dict = field(default_factory=dict)
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
                dense_mass):
        """The jitted sampler for these settings (compiled on first use only).

        dense_mass: True / False, or blocks (lists) of value-variable names, each block
        with its own dense metric and the other variables diagonal.
        """
        if not isinstance(dense_mass, bool):
            dense_mass = tuple(tuple(block) for block in dense_mass)
        key = (tune, draws, chains, target_accept, max_treedepth, dense_mass)
        if key not in self._samplers:
            self._samplers[key] = _build_sampler(self, *key)
        return self._samplers[key]

    def sample(self, *, tune, draws, chains, seed, target_accept=0.9, max_treedepth=10, dense_mass=False,
               data=None, progressbar=True, initvals=None) -> dict:
        """Run NUTS; returns raw unconstrained draws and sampler statistics (numpy)."""
        jax = _jax()
        rng = np.random.default_rng(seed)
        inits = self.initial_points(chains, rng, initvals)
        keys = jax.random.split(jax.random.PRNGKey(int(rng.integers(2**31 - 1))), chains)
        run, n_dev = self.sampler(tune, draws, chains, target_accept, max_treedepth, dense_mass)
        data_values = self.data_values(data)
        per = chains // n_dev
        reshape = lambda a: np.asarray(a).reshape((n_dev, per) + np.shape(a)[1:])
        bar = _ProgressBar(chains * (tune + draws), progressbar)
        with bar:
            out = run(reshape(np.asarray(keys)), [reshape(x) for x in inits], data_values)
            out = jax.tree_util.tree_map(lambda a: np.asarray(a).reshape((chains,) + a.shape[2:]), out)
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

        Batches of ``batch`` draws (the last one padded, so one shape is compiled)."""
        jax = _jax()
        data_values = self.data_values(data)
        chains, draws = values[0].shape[:2]
        n = chains * draws
        batch = min(batch, n)
        flat = [v.reshape((n,) + v.shape[2:]) for v in values]
        if id(fn) not in self._vmapped:
            self._vmapped[id(fn)] = jax.jit(jax.vmap(lambda vals, data: fn(*vals, *data), in_axes=(0, None)))
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
        return list(self.cm.extra_fns)

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
            yield sl, {n: self.cm.apply(self.cm.extra_fns[n], part, self.data)[0][0] for n in names}

    def full(self, name) -> np.ndarray:
        """(chain, draw, ...) array of one extra expression (for arrays that are small per draw)."""
        return self.cm.apply(self.cm.extra_fns[name], self.values, self.data)[0]


def flat_draws(da, sl=slice(None)) -> np.ndarray:
    """(chain, draw, ...) DataArray -> (flat draws, ...) numpy array, rows ``sl``."""
    a = np.asarray(da.transpose("chain", "draw", ...).to_numpy())
    return a.reshape((-1,) + a.shape[2:])[sl]


class _ProgressBar:
    """tqdm bar fed from inside the jitted scan by ``jax.debug.callback``."""

    current = None

    def __init__(self, total, enabled):
        self.total, self.enabled = total, enabled

    def __enter__(self):
        if self.enabled:
            from tqdm.auto import tqdm

            _ProgressBar.current = tqdm(total=self.total, desc="NUTS (jax)", unit="it", leave=False)
        return self

    def __exit__(self, *exc):
        if _ProgressBar.current is not None:
            _ProgressBar.current.close()
        _ProgressBar.current = None

    @staticmethod
    def advance(n):
        if _ProgressBar.current is not None:
            _ProgressBar.current.update(int(n))


def compile_model(model: pm.Model, extra: dict | None = None) -> CompiledModel:
    """Jaxify ``model`` with every shared variable as an explicit input.

    extra: name -> PyTensor expression of the model's variables (e.g. the mean on a
    prediction grid), compiled as further functions of (values, data).
    """
    from pymc.sampling.jax import get_jaxified_graph

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

    def jaxify(outs):
        outs = clone_replace(outs, replace=symbolic)
        with _generated_sources():
            return get_jaxified_graph(inputs=[*value_vars, *symbolic.values()], outputs=outs)

    point = model.initial_point()
    return CompiledModel(
        model=model,
        data_names=[s.name for s in shared],
        shared_vars=shared,
        value_names=[v.name for v in value_vars],
        value_shapes=[np.shape(point[v.name]) for v in value_vars],
        logp_fn=jaxify([logp]),
        outputs_fn=jaxify(outputs),
        output_names=output_names,
        loglik_fn=jaxify(loglik),
        loglik_names=[v.name for v in model.observed_RVs],
        logprior_fn=jaxify(logprior),
        logprior_names=[v.name for v in model.free_RVs],
        extra_fns={name: jaxify([g]) for name, g in zip(extra, extra_graphs)},
    )


def _build_sampler(cm: CompiledModel, tune, draws, chains, target_accept, max_treedepth, dense_mass):
    """pmap over CPU devices, lax.map over that device's chains, lax.scan over iterations."""
    jax = _jax()
    import jax.numpy as jnp
    from numpyro.infer.hmc import hmc

    n_dev = math.gcd(chains, jax.local_device_count())
    _warn_if_chains_serial(chains, jax.local_device_count())
    logp_fn = cm.logp_fn
    every = max(1, (tune + draws) // 50)

    names = cm.value_names

    def potential_fn_gen(*data):  # z: {value variable name: array}, so a block-dense metric can name them
        return lambda z: -logp_fn(*[z[n] for n in names], *data)[0]

    if not isinstance(dense_mass, bool):  # NumPyro wants a list of name tuples (the cache key is a tuple)
        dense_mass = list(dense_mass)

    init_kernel, sample_kernel = hmc(potential_fn_gen=potential_fn_gen, algo="NUTS")

    def tick(i):
        jax.lax.cond(
            (i + 1) % every == 0,
            lambda: jax.debug.callback(_ProgressBar.advance, every, ordered=False),
            lambda: None,
        )

    def one_chain(key, init, data):
        state = init_kernel(dict(zip(names, init)), tune, target_accept_prob=target_accept, max_tree_depth=max_treedepth,
                            dense_mass=dense_mass, model_args=tuple(data), rng_key=key)

        def warm(state, i):
            tick(i)
            state = sample_kernel(state, model_args=tuple(data))
            return state, state.num_steps

        def step(state, i):
            tick(i + tune)
            state = sample_kernel(state, model_args=tuple(data))
            stats = (state.diverging, state.energy, state.num_steps, state.accept_prob,
                     state.adapt_state.step_size, state.potential_energy)
            return state, ([state.z[n] for n in names], stats)

        state, warm_steps = jax.lax.scan(warm, state, jnp.arange(tune))
        _, (z, stats) = jax.lax.scan(step, state, jnp.arange(draws))
        return z, (*stats, warm_steps)

    def device_chains(keys, inits, data):
        COMPILATIONS["count"] += 1  # runs once per trace, i.e. per compilation
        return jax.lax.map(lambda ki: one_chain(ki[0], ki[1], data), (keys, inits))

    run = jax.pmap(device_chains, in_axes=(0, 0, None))

    def runner(keys, inits, data):
        z, stats = run(keys, inits, data)
        names = ("diverging", "energy", "n_steps", "acceptance_rate", "step_size", "lp", "warmup_steps")
        stats = dict(zip(names, stats))
        stats["lp"] = -stats["lp"]
        stats["tree_depth"] = jnp.floor(jnp.log2(stats["n_steps"])) + 1
        return {"values": z, "stats": stats}

    return runner, n_dev
