"""The family contract: everything a model family declares, and all the generic modules know of it.

A model family turns a card plus a trial into a PyMC model and its draws into summary
quantities. The generic modules (``fitting``, ``results``, ``summaries``, ``plots``,
``sweep``, ``sensitivity``, ``calibration``, ``engine``) never name a family: they ask
the family object for what they need, through the methods and attributes below.

Why a small base class: a family is behaviour (design, model, derived quantities,
generator) plus a few declarations, and several methods have sensible defaults that a
family overrides only when it must (``offset_priors``, ``loo_unit``, ``figures``). A
``typing.Protocol`` would give no defaults, and a bambi-style table (name -> likelihood,
link, priors) describes likelihoods, not the design and post-processing steps that
differ between our families. Abstract methods make a missing piece an error at import,
not at a user's first fit.

What a family declares, and who uses it:

===========================  ==========================================================
``name``                     the card's ``family`` field; registry key
``unit_dims``                model dims indexing per-unit parameters (patients): the
                             population-level set (monitored by R-hat/ESS, dense-mass
                             block, SBC) is every posterior variable without them
``coordinate_columns``       the summary's coordinate columns, in order
``dim_names``                model dim -> summary column (e.g. ``day_post`` -> ``day``)
``design / priors /``        data -> arrays; card priors -> numbers; the PyMC model;
``build_model / derive /``   posterior-predictive quantities; metadata kept with the fit
``describe``
``quantities(design)``       the summary quantities (``Quantity``), each with its
                             summariser
``figures()``                figure name -> function(fit, path, **options)
``methods()``                extra ``Fit`` methods (e.g. ``membership``)
``offset_priors(model)``     log-prior terms power-scaling leaves alone (per-unit offsets)
``prior_draws(model, n)``    parameters drawn from the prior (simulation-based calibration)
``loo_unit(design)``         what leave-one-out leaves out ("patient", "row", ...)
``simulate(design, params,`` a trial drawn from the family's own generative form, with
``rng)``                     the design of ``design`` and parameters ``params`` (model
                             variable names); builds ``TrialData`` directly
``calibration_trial(rng)``   a small trial from the generative form with a fixed truth
                             (coverage checks), keyed like the summary
===========================  ==========================================================
"""

from __future__ import annotations

import abc
from dataclasses import asdict, dataclass

#: summarisers a quantity can ask for (``summaries.SUMMARISERS``)
SUMMARY_KINDS = ("draws", "nnt")


@dataclass(frozen=True)
class Quantity:
    """One summary quantity of a family.

    name     : the summary's ``quantity`` value (also the variable name in the InferenceData,
               unless ``source`` is given)
    group    : InferenceData group holding the draws ("posterior" or "posterior_predictive")
    summary  : "draws" (mean, sd, equal-tailed interval, P(> 0) of the draws) or "nnt"
               (number needed to treat from the draws of ``source``, a risk difference: the
               median of 1/RD, interval [1/upper, 1/lower] of RD's interval, infinite upper
               bound when RD's interval reaches 0)
    source   : the variable the summariser reads, when it is not ``name``
    relevant : when set, rows carry ``prob_relevant`` = P(|quantity| > relevant); a number, or
               {dim: {coordinate value: size}} when the size differs along one coordinate
    missing_note : when set, a cell whose draws are all missing (a cell the design did not
               observe, e.g. a follow-up visit one protocol never had) is a row with no estimate
               and ``note`` = missing_note, rather than an extrapolation
    """

    name: str
    group: str = "posterior"
    summary: str = "draws"
    source: str | None = None
    relevant: float | dict | None = None
    missing_note: str | None = None

    @property
    def variable(self) -> str:
        return self.source or self.name

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, d) -> "Quantity":
        return cls(**d) if isinstance(d, dict) else cls(str(d))


class Family(abc.ABC):
    """Base class of a model family (see the module docstring for the contract)."""

    name: str = ""
    unit_dims: tuple[str, ...] = ("patient",)
    coordinate_columns: tuple[str, ...] = ("day", "arm", "moderator")
    dim_names: dict = {}

    # ---- data -> model -------------------------------------------------------------
    #: the function whose keyword parameters are the family's options (None: ``design``); a
    #: family whose ``design`` forwards ``**options`` names the function that receives them
    options_function = None

    def option_names(self) -> set[str]:
        """The options ``bk.fit`` may pass on to ``design`` (checked before anything is built)."""
        import inspect

        params = inspect.signature(self.options_function or self.design).parameters.values()
        return {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} - {
            "self", "trial", "card", "outcome", "moderators", "time"}

    @abc.abstractmethod
    def design(self, trial, card, outcome=None, moderators=None, time=None, **options):
        """Validate the request against the trial (before anything is compiled); return the design."""

    @abc.abstractmethod
    def priors(self, card, design, overrides: dict | None = None) -> dict:
        """Card prior specs scaled to the design (outcome range, time span), then overrides."""

    @abc.abstractmethod
    def build_model(self, design, priors: dict):
        """(pm.Model, {name: PyTensor expression}) with every data array and prior as ``pm.Data``."""

    @abc.abstractmethod
    def derive(self, design, idata, extras, rng) -> None:
        """Add posterior-predictive quantities (and any log-likelihood the model integrates itself)."""

    @abc.abstractmethod
    def describe(self, design) -> dict:
        """Design facts kept with the fit (JSON-serialisable): enough to summarise and plot."""

    @abc.abstractmethod
    def quantities(self, design) -> list[Quantity]:
        """The summary quantities of this design, in summary order."""

    # ---- calibration -------------------------------------------------------------------
    @abc.abstractmethod
    def simulate(self, design, params: dict, rng):
        """A TrialData with the structure of ``design`` and outcomes drawn from the model given
        ``params`` (model variable name -> value; population-level variables suffice)."""

    @abc.abstractmethod
    def calibration_trial(self, rng, truth: dict | None = None, **sizes):
        """A trial drawn from the family's generative form with a fixed, known truth; its
        ``truth`` maps (quantity, coordinate value) to the true value of a summary quantity."""

    # ---- defaults a family may override ------------------------------------------------
    def figures(self) -> dict:
        """Figure name -> function(fit, path=None, **options); "ppc" at least."""
        return {}

    def methods(self) -> dict:
        """Extra Fit methods: name -> function(fit, *args, **kwargs)."""
        return {}

    def loo_unit(self, design) -> str:
        return "row"

    def prior_draws(self, model, n: int, rng) -> list[dict]:
        """``n`` draws of the model's free variables and deterministics from their prior
        (forward sampling, which ignores potentials). A family whose priors carry a
        constraint that forward sampling ignores (e.g. an ordered transform) overrides this."""
        import warnings

        import pymc as pm

        names = [v.name for v in model.free_RVs + model.deterministics]
        with model, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prior = pm.sample_prior_predictive(draws=n, var_names=names, random_seed=rng).prior
        return [{k: prior[k].isel(chain=0, draw=i).to_numpy() for k in names} for i in range(n)]

    def offset_priors(self, model) -> list[str]:
        """Free RVs whose prior power-scaling leaves alone: per-unit terms (indexed by a unit
        dim) and non-centred standardised offsets (a fixed N(0, 1) prior, e.g. ``study_z``)."""
        dims = model.named_vars_to_dims
        out = []
        for rv in model.free_RVs:
            if set(dims.get(rv.name, ())) & set(self.unit_dims) or _is_standard_normal(rv):
                out.append(rv.name)
        return out


def _is_standard_normal(rv) -> bool:
    """A Normal(0, 1) random variable with constant parameters (a non-centred offset)."""
    from pytensor.tensor.basic import NotScalarConstantError, get_underlying_scalar_constant_value

    if type(rv.owner.op).__name__ != "NormalRV":
        return False
    try:
        mu, sigma = (get_underlying_scalar_constant_value(x) for x in rv.owner.inputs[-2:])
    except NotScalarConstantError:
        return False
    return float(mu) == 0.0 and float(sigma) == 1.0
