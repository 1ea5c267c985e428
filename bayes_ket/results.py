"""Fit: a sampled model and everything a user asks of it.

A Fit is an ``arviz.InferenceData`` plus a metadata dict (card, priors, design facts,
the family's quantity specs) kept in ``idata.attrs``; every summary is computed from
those two alone, so a fit loaded from disk summarises identically. ``Fit.save`` also
keeps the trial's canonical frame and the package version, so a loaded fit can be
checked against its data and swept over priors.
"""

from __future__ import annotations

import io
import json
import operator

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from ._lazy import arviz_numpy
from ._version import __version__
from .errors import BayesKetError, warn
from .families import get as get_family
from .families.base import Quantity
from .summaries import order_columns, rename_dims, summarise

_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
META_KEY = "bayes_ket"
TRIAL_VAR = "trial_frame_parquet"
#: share of draws at the maximum tree depth above which sampling is not ok
MAX_TREEDEPTH_SHARE = 0.01


class Fit:
    """Posterior of one model on one trial.

    Summary quantities, their coordinates and meaning: see the model family's page
    (``fit.meta["family"]``) and ``fit.quantities``. Extra methods of a family (e.g.
    ``membership`` of trajectory classes) are available as ``fit.<name>(...)``.
    """

    def __init__(self, idata: az.InferenceData, meta: dict, trial=None):
        self.idata = idata
        self.meta = meta
        self.trial = trial
        self._loo = None
        idata.attrs[META_KEY] = json.dumps(meta, default=_json_default)

    # ---- what was fitted ---------------------------------------------------
    @property
    def family(self):
        return get_family(self.meta["family"])

    @property
    def priors(self) -> dict:
        """Every prior hyperparameter this fit used: name -> number."""
        return dict(self.meta["priors"])

    @property
    def card(self) -> dict:
        return self.meta["card"]

    def __repr__(self) -> str:
        m = self.meta
        return (f"Fit({m['card']['name']}: {m.get('outcome')} ~ time={m.get('time')}, moderators={m.get('moderators')}, "
                f"{m.get('n_patients')} patients, study level {m.get('study_level')}, {m['chains']}x{m['draws']} draws)")

    def __getattr__(self, name):
        if name.startswith("_") or name in ("idata", "meta", "trial"):
            raise AttributeError(name)
        methods = get_family(self.meta["family"]).methods()
        if name in methods:
            return lambda *args, **kwargs: methods[name](self, *args, **kwargs)
        raise AttributeError(f"{type(self).__name__} of family {self.meta['family']!r} has no attribute {name!r}")

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self.family.methods()))

    # ---- draws of a quantity -----------------------------------------------
    @property
    def quantity_specs(self) -> list[Quantity]:
        return [Quantity.from_dict(q) for q in self.meta["quantities"]]

    @property
    def quantities(self) -> list[str]:
        return [q.name for q in self.quantity_specs]

    def _spec(self, quantity: str) -> Quantity:
        for q in self.quantity_specs:
            if q.name == quantity:
                return q
        raise BayesKetError(f"This fit has no quantity {quantity!r}. Fix: use one of {self.quantities}.")

    def draws(self, quantity: str) -> xr.DataArray:
        """Posterior draws (chain, draw, coords...) of a quantity's variable, dims named as in the summary."""
        spec = self._spec(quantity) if quantity in self.quantities else Quantity(quantity)
        for group in (spec.group, "posterior", "posterior_predictive"):
            if group in self.idata.groups() and spec.variable in self.idata[group]:
                return rename_dims(self.idata[group][spec.variable], self.meta.get("dim_names", {}))
        raise BayesKetError(f"This fit has no quantity {quantity!r}. Fix: use one of {self.quantities}.")

    # ---- summaries -----------------------------------------------------------
    def summary(self, ci_prob: float = 0.95, quantities=None) -> pd.DataFrame:
        """Tidy table: quantity, coordinates, mean, sd, lower, upper, prob_positive, r_hat, ess_bulk, ess_tail.

        ``df.attrs["diagnostics"]`` carries ``diagnostics()`` and ``df.attrs["patients_excluded"]``
        the patients left out and why; a BayesKetWarning is raised when the diagnostics are not ok.
        """
        table = summary_table(self, ci_prob, quantities)
        diag = self.diagnostics()
        table.attrs["diagnostics"] = diag
        table.attrs["patients_excluded"] = dict(self.meta.get("patients_excluded", {}))
        if not diag["ok"]:
            warn("Sampling problems: " + "; ".join(diag["reasons"]))
        return table

    def diagnostics(self, min_ess: int = 400) -> dict:
        """Divergences, R-hat, ESS, BFMI, tree depth, Pareto-k and gradient counts, with a verdict.

        Monitored: every population-level variable (not indexed by patients) and every summary
        quantity in the posterior. ``ok`` is False on any divergence, R-hat > 1.01 (or fewer than
        2 chains), ESS < ``min_ess``, BFMI < 0.3, more than 1% of draws at the maximum tree
        depth, or a reason the model family found (``meta["family_diagnostics"]``, e.g. chains
        in different modes); Pareto-k is reported, not judged.
        """
        return diagnose(self.idata, self.meta, min_ess=min_ess, loo=self.loo())

    def loo(self):
        """PSIS-LOO (``arviz.loo``, pointwise), computed once per fit; its unit is ``meta["loo_unit"]``."""
        if self._loo is None:
            self._loo = compute_loo(self.idata)
        return self._loo

    def prob(self, quantity: str, op: str, value: float, **coords):
        """Posterior probability that ``quantity op value`` at the given coordinates.

        e.g. fit.prob("effect", "<", -2, day=14). Returns a float, or a Series over
        the coordinates not fixed.
        """
        if op not in _OPS:
            raise BayesKetError(f"op={op!r}: use one of {list(_OPS)}.")
        da = _select(self.draws(quantity), quantity, coords, self.meta.get("moderator_terms"))
        p = _OPS[op](da, value).mean(("chain", "draw"))
        return float(p) if p.ndim == 0 else p.to_series()

    def conditional_effect(self, moderator: str = "msm", values=(4, 8, 12, 15), ci_prob: float = 0.95,
                           quantity: str = "effect") -> pd.DataFrame:
        """``quantity`` at chosen moderator values: effect + sum over the moderator's terms of
        (x(v) - reference) x moderation.

        moderator: the trial's column name (or a summary label). values: numbers; for a 0/1-coded
        column its labels or 0/1; for a categorical column its level labels. Values outside the
        observed range are extrapolations: marked in the ``extrapolated`` column and warned about.
        """
        terms = self._moderator_terms(moderator)
        base = self.draws(quantity)
        slopes = self.draws("moderation")
        refs = self.meta["moderator_reference"]
        ranges = self.meta.get("moderator_range", {})
        spec, tables, outside = Quantity(quantity), [], []
        for v in values:
            x = {label: _term_value(t, v, moderator) for label, t in terms.items()}
            extrapolated = any(not ranges.get(label, (-np.inf, np.inf))[0] <= x[label]
                               <= ranges.get(label, (-np.inf, np.inf))[1] for label in terms)
            draws = base
            for label in terms:
                draws = draws + (x[label] - refs[label]) * slopes.sel(moderator=label, drop=True)
            t = summarise(draws, spec, ci_prob)
            t.insert(1, moderator, v)
            t["extrapolated"] = extrapolated
            outside += [v] if extrapolated else []
            tables.append(t)
        if outside:
            lo_hi = "; ".join(f"{label} {ranges[label][0]:g}-{ranges[label][1]:g}" for label in terms if label in ranges)
            warn(f"conditional_effect: {moderator} = {outside} lie outside the observed range ({lo_hi}): the effect "
                 "there is an extrapolation of a straight line (rows marked extrapolated=True).")
        return pd.concat(tables, ignore_index=True)

    def _moderator_terms(self, moderator: str) -> dict:
        """The fit's moderator terms (summary label -> {source, level, levels}) of a column or label."""
        mods = self.meta.get("moderators", [])
        terms = self.meta.get("moderator_terms") or {m: {"source": m, "level": None, "levels": []} for m in mods}
        chosen = {label: t for label, t in terms.items() if label == moderator or t["source"] == moderator}
        if not chosen:
            sources = list(dict.fromkeys(t["source"] for t in terms.values()))
            raise BayesKetError(f"Moderator {moderator!r} was not in this fit. Fix: use one of {sources}.")
        return chosen

    # ---- figures ---------------------------------------------------------------------------
    def plot(self, figure: str, path=None, **options):
        """A figure of this family by name (``fit.family.figures()``), written to ``path``."""
        figures = self.family.figures()
        if figure not in figures:
            raise BayesKetError(f"Family {self.meta['family']!r} has no figure {figure!r}; it has {sorted(figures)}.")
        return figures[figure](self, path, **options)

    def plot_ppc(self, path=None, **options):
        """Posterior predictive figure, written to ``path`` (format from its suffix)."""
        return self.plot("ppc", path, **options)

    def plot_effect(self, path=None, **options):
        """The treatment effect with its intervals (per day; per item for item-level fits)."""
        from .plots.effects import plot_effect

        return plot_effect(self, path, **options)

    def plot_moderation(self, path=None, moderator: str = "msm", **options):
        """The effect against a moderator, with the range outside the observed data shaded."""
        from .plots.effects import plot_moderation

        return plot_moderation(self, path, moderator=moderator, **options)

    # ---- persistence -----------------------------------------------------------------------
    def save(self, path) -> None:
        """netCDF with the card, priors, design facts, package version and the trial's frame."""
        self.meta["version"] = __version__
        self.idata.attrs[META_KEY] = json.dumps(self.meta, default=_json_default)
        idata = self.idata
        if self.trial is not None:
            idata = idata.copy()
            buffer = io.BytesIO()
            self.trial.frame.to_parquet(buffer, index=False)
            blob = np.frombuffer(buffer.getvalue(), dtype=np.uint8)
            group = xr.Dataset({TRIAL_VAR: ("trial_bytes", blob)})
            if "constant_data" in idata.groups():
                idata.constant_data = idata.constant_data.merge(group)
            else:
                idata.add_groups(constant_data=group)
        idata.to_netcdf(str(path))


def load_fit(path, trial=None) -> Fit:
    """Read a fit written by ``Fit.save``.

    Warns (BayesKetWarning) when it was written by another bayes_ket version, or, given
    ``trial``, when that trial's data differ from the data it was fitted to. Without
    ``trial`` the fit keeps the trial stored in the file (for ``bk.sweep(fit, ...)``).
    """
    from .data.trial import TrialData
    from .fitting import data_hash

    idata = az.from_netcdf(str(path))
    if META_KEY not in idata.attrs:
        raise BayesKetError(f"{path} was not written by Fit.save (no {META_KEY!r} attribute).")
    meta = json.loads(idata.attrs[META_KEY])
    saved = meta.get("version")
    if saved != __version__:
        warn(f"{path} was written by bayes_ket {saved or '(unknown version)'}; this is {__version__}. "
             "Summaries use today's code on the stored draws.")
    if trial is not None:
        if data_hash(trial) != meta.get("data_hash"):
            warn(f"The trial given to load_fit differs from the data {path} was fitted to (data hash "
                 f"{data_hash(trial)} vs {meta.get('data_hash')}).")
    elif "constant_data" in idata.groups() and TRIAL_VAR in idata.constant_data:
        blob = idata.constant_data[TRIAL_VAR].to_numpy().astype(np.uint8).tobytes()
        trial = TrialData(pd.read_parquet(io.BytesIO(blob)), source=f"stored in {path}")
    return Fit(idata, meta, trial=trial)


def compare(fits: dict, **kwargs) -> pd.DataFrame:
    """PSIS-LOO comparison table of named fits (``arviz.compare``).

    Fits must leave out the same unit (``fit.meta["loo_unit"]``: patient or row) and
    be fitted to the same data; otherwise their elpd values are not comparable.
    """
    if not fits or not all(isinstance(f, Fit) for f in fits.values()):
        raise BayesKetError("compare() takes {name: Fit, ...} with at least one fit.")
    units = {name: f.meta.get("loo_unit", "row") for name, f in fits.items()}
    if len(set(units.values())) > 1:
        raise BayesKetError(
            f"compare(): the fits leave out different units {units}, so their LOO values are not comparable. "
            "Fix: fit them with the same unit (the same model options, e.g. the same parameterization=).")
    return az.compare({name: f.loo() for name, f in fits.items()}, **kwargs)


def summary_table(fit: Fit, ci_prob: float = 0.95, quantities=None, weights=None, ess_scale: float = 1.0):
    """The summary rows of ``fit`` (all quantities, or ``quantities``), optionally under
    normalised importance ``weights`` over the flattened draws (a prior sweep's reweighting)."""
    if not 0 < ci_prob < 1:
        raise BayesKetError(f"ci_prob={ci_prob} must lie strictly between 0 and 1.")
    specs = [fit._spec(q) for q in (quantities or fit.quantities)]
    table = pd.concat([summarise(fit.draws(q.name), q, ci_prob, weights, ess_scale) for q in specs],
                      ignore_index=True)
    return order_columns(table, fit.meta.get("coordinate_columns", ()))


# ---- diagnostics ----------------------------------------------------------------------------
def compute_loo(idata):
    """PSIS-LOO of the fit's one log-likelihood variable (None when there is none)."""
    import warnings

    if "log_likelihood" not in idata.groups() or not idata.log_likelihood.data_vars:
        return None
    var = list(idata.log_likelihood.data_vars)[0]
    with warnings.catch_warnings(), arviz_numpy():
        warnings.simplefilter("ignore")
        return az.loo(idata, pointwise=True, var_name=var)


def diagnose(idata: az.InferenceData, meta: dict, min_ess: int = 400, loo=None) -> dict:
    """Sampling diagnostics over population-level variables and summary quantities."""
    import warnings

    post = idata.posterior
    names = [v for v in meta["population_vars"] + [Quantity.from_dict(q).variable for q in meta["quantities"]]
             if v in post]
    names = list(dict.fromkeys(names))
    ds = post[names]
    n_chains = post.sizes["chain"]
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"), arviz_numpy():
        warnings.simplefilter("ignore")
        rhat = az.rhat(ds) if n_chains > 1 else None
        ess_b = az.ess(ds, method="bulk")
        ess_t = az.ess(ds, method="tail")
        bfmi = float(np.min(az.bfmi(idata))) if post.sizes["draw"] > 1 else np.nan
    stats = idata.sample_stats
    divergences = int(stats["diverging"].sum())
    max_depth = meta.get("max_treedepth", 10)
    at_max = float((stats["tree_depth"] >= max_depth).mean()) if "tree_depth" in stats else 0.0
    warm = int(idata.warmup_sample_stats["n_steps"].sum()) if "warmup_sample_stats" in idata.groups() else None
    out = {
        "divergences": divergences,
        "max_rhat": _extreme(rhat, np.nanmax) if rhat is not None else float("nan"),
        "min_ess_bulk": _extreme(ess_b, np.nanmin),
        "min_ess_tail": _extreme(ess_t, np.nanmin),
        "bfmi": bfmi,
        "treedepth_max_share": at_max,
        "pareto_k_high": int((loo.pareto_k.values > 0.7).sum()) if loo is not None else 0,
        "loo_unit": meta.get("loo_unit"),
        "warmup_gradients": warm,
        "draw_gradients": int(stats["n_steps"].sum()) if "n_steps" in stats else None,
        "study_level": meta.get("study_level"),
        "backend": meta.get("backend"),
    }
    reasons = []
    if divergences:
        reasons.append(f"{divergences} divergent transitions")
    if n_chains < 2:
        reasons.append("R-hat needs at least 2 chains")
    elif out["max_rhat"] > 1.01:
        reasons.append(f"max R-hat {out['max_rhat']:.3f} > 1.01")
    if not out["min_ess_bulk"] >= min_ess:
        reasons.append(f"min bulk ESS {out['min_ess_bulk']:.0f} < {min_ess}")
    if not out["min_ess_tail"] >= min_ess:
        reasons.append(f"min tail ESS {out['min_ess_tail']:.0f} < {min_ess}")
    if out["bfmi"] < 0.3:
        reasons.append(f"BFMI {out['bfmi']:.2f} < 0.3")
    if at_max > MAX_TREEDEPTH_SHARE:
        reasons.append(f"{100 * at_max:.1f}% of draws at the maximum tree depth {max_depth}")
    # checks only the model family can make (e.g. chains in different modes of a mixture), stored
    # with the fit by the family: {"facts": {name: value}, "reasons": [text, ...]}
    family_checks = meta.get("family_diagnostics") or {}
    out.update(family_checks.get("facts", {}))
    reasons += list(family_checks.get("reasons", []))
    out["ok"] = not reasons
    out["reasons"] = reasons
    return out


def _extreme(ds: xr.Dataset, f) -> float:
    vals = [float(f(ds[v].values)) for v in ds.data_vars if np.isfinite(ds[v].values).any()]
    return float(f(vals)) if vals else float("nan")


# ---- helpers ------------------------------------------------------------------
def _term_value(term: dict, value, moderator: str) -> float:
    """A moderator value on a term's numeric scale: an indicator for a categorical level, the code
    of a 0/1-coded column's label, or the number itself."""
    if term.get("level") is not None:
        return float(str(value) == str(term["level"]))
    levels = [str(v) for v in term.get("levels") or []]
    if str(value) in levels and not isinstance(value, (int, float, np.number)):
        return float(levels.index(str(value)))
    try:
        return float(value)
    except (TypeError, ValueError):
        raise BayesKetError(f"{moderator}={value!r} is not a value of this moderator. Fix: use numbers"
                            + (f" or one of {levels}" if levels else "") + ".") from None


def _select(da: xr.DataArray, quantity: str, coords: dict, terms: dict | None = None) -> xr.DataArray:
    for name, value in coords.items():
        if name == "moderator" and terms and value not in da[name].values:
            labels = [label for label, t in terms.items() if t["source"] == value]
            value = labels[0] if len(labels) == 1 else value
        if name not in da.dims:
            raise BayesKetError(f"{quantity} has no coordinate {name!r}; it has {list(da.dims[2:])}.")
        if value not in da[name].values:
            raise BayesKetError(f"{quantity}: {name}={value!r} not among {list(da[name].values)}.")
        da = da.sel({name: value})
    return da


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (pd.Timestamp,)):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
