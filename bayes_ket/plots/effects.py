"""Figures of a fit's treatment effect: per day (or per item, visit, ...) and against a moderator.

Both figures are generic: they read the summary quantities ``effect`` and ``moderation``
and dispatch on the coordinates those quantities carry (``item``: one row per item;
``day``: a numeric time axis; any other coordinate, e.g. ``visit``: a categorical axis),
never on the family's name. Axis labels come from the outcome's scale
(``bk.scales.for_column``: "MADRS total", "HRSD-17 total", ...), arm names from the data
the fit was read from (``fit.trial.arm_names``: "Ketamine", "Saline"); summaries keep
"ketamine" / "control". Every band and error bar has a legend entry. Each figure is
written by the suffix of ``path`` (.png, .svg, .pdf).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import BayesKetError
from .core import pyplot, save_figure

#: display names of moderators that are not scale columns
MODERATOR_LABELS = {"msm": "MSM score (Maudsley Staging Method, treatment resistance)"}
MODERATOR_SHORT = {"msm": "MSM"}
#: coordinates drawn as the figure's axis, in order of preference (the first one the effect has)
AXIS_ORDER = ("item", "day", "visit")
EFFECT_COLOUR = "#2471a3"
EXTRAPOLATION_COLOUR = "#bdc3c7"


# ---- labels ---------------------------------------------------------------------------------
def outcome_scale(fit):
    """The registered scale of the fit's outcome (``madrs_total`` -> MADRS; item-level fits:
    the scale of their items), or None."""
    from .. import scales

    outcome = str(fit.meta.get("outcome") or "")
    scale = scales.for_column(outcome)
    if scale is None and outcome.endswith("_items"):
        try:
            scale = scales.get(outcome[: -len("_items")])
        except BayesKetError:
            scale = None
    return scale


def outcome_label(fit) -> str:
    """Axis text for the outcome: the scale's label ("MADRS total"), else the column name."""
    scale = outcome_scale(fit)
    outcome = str(fit.meta.get("outcome") or "outcome")
    if scale is None:
        return outcome.replace("_", " ")
    if outcome.endswith("_items"):
        return f"{scale.name.upper()} items"
    return scale.label


def arm_names(fit_or_trial) -> dict[int, str]:
    """{1: name, 0: name}: the data's own arm labels when known, else ketamine / control."""
    trial = getattr(fit_or_trial, "trial", fit_or_trial)
    names = dict(getattr(trial, "arm_names", None) or {})
    return {1: names.get(1, "ketamine"), 0: names.get(0, "control")}


def arm_label(fit_or_trial, arm) -> str:
    """The display name of a summary arm label ("ketamine", "control", "all") or code (1, 0)."""
    codes = {"ketamine": 1, "control": 0, 1: 1, 0: 0}
    if arm in codes:
        return arm_names(fit_or_trial)[codes[arm]]
    return "all patients" if arm == "all" else str(arm)


def contrast_label(fit) -> str:
    """'Ketamine - Saline' from the data's arm names."""
    names = arm_names(fit)
    return f"{names[1]} \u2212 {names[0]}"


def effect_unit(fit, quantity: str = "effect") -> str:
    """What one unit of the effect is: outcome points, log-odds, percentage points."""
    if fit.meta.get("outcome_scale") == "percent":
        return "percentage points of improvement"
    if str(fit.meta.get("outcome", "")).endswith("_items") and quantity == "effect":
        return "log-odds"
    if quantity == "effect_points":
        return "item points"
    return "points"


def effect_axis_label(fit, quantity: str = "effect") -> str:
    """e.g. 'MADRS total difference, Ketamine − Saline (points)'; item-level fits:
    'MADRS item effect, Ketamine − Saline (log-odds)'."""
    label = outcome_label(fit)
    if label.endswith(" items"):
        return f"{label[:-1]} effect, {contrast_label(fit)} ({effect_unit(fit, quantity)})"
    return f"{label} difference, {contrast_label(fit)} ({effect_unit(fit, quantity)})"


def sign_note(fit) -> str:
    """Which direction of the effect is a benefit of ketamine."""
    if fit.meta.get("outcome_scale") == "percent":
        return "above 0: more improvement with ketamine"
    return "below 0: fewer symptoms with ketamine"


def moderator_label(moderator: str) -> str:
    from .. import scales

    scale = scales.for_column(moderator)
    return scale.label if scale is not None else MODERATOR_LABELS.get(moderator, moderator.replace("_", " "))


def _ci_text(ci_prob: float) -> str:
    return f"{round(ci_prob * 100):g}% credible interval"


# ---- the effect ------------------------------------------------------------------------------
def effect_table(fit, quantity: str = "effect", ci_prob: float = 0.95) -> tuple[pd.DataFrame, list[str]]:
    """(summary rows of ``quantity``, its coordinate columns that hold values)."""
    from ..results import summary_table

    if quantity not in fit.quantities:
        if not fit.meta.get("has_arm", True):
            raise BayesKetError("This fit has a single arm: there is no treatment effect to plot. "
                                "Fix: plot the trajectory instead (fit.plot_ppc, bk.plot_trajectories).")
        raise BayesKetError(f"This fit has no quantity {quantity!r}. Fix: use one of {fit.quantities}.")
    t = summary_table(fit, ci_prob=ci_prob, quantities=[quantity])
    coords = [c for c in t.columns[1: list(t.columns).index("mean")] if t[c].notna().any()]
    return t, coords


def plot_effect(fit, path=None, quantity: str = "effect", ci_prob: float = 0.95, inner_prob: float = 0.5):
    """The treatment effect (ketamine minus control) with its credible intervals.

    Dispatches on the coordinates of ``quantity``: per item (one row per item, in scale
    order; with a ``day`` coordinate too, one marker per day), per day (numeric axis), or
    per any other coordinate (categorical axis). The thick bar is the ``inner_prob``
    interval, the thin one the ``ci_prob`` interval; the dashed line is no difference.
    ``quantity="effect_points"`` plots an item-level fit's effect in item points.
    Written to ``path`` (format from the suffix); returns the matplotlib Figure.
    """
    plt = pyplot(path)
    t, coords = effect_table(fit, quantity, ci_prob)
    inner, _ = effect_table(fit, quantity, inner_prob)
    t = t.assign(inner_lower=inner["lower"].to_numpy(), inner_upper=inner["upper"].to_numpy())
    axis = next((c for c in AXIS_ORDER if c in coords), coords[0] if coords else None)
    series = [c for c in coords if c != axis]
    label = effect_axis_label(fit, quantity)
    if axis == "item":
        fig, ax = _effect_by_item(plt, fit, t, series, label)
    else:
        fig, ax = _effect_by_axis(plt, fit, t, axis, series, label)
    handles = [
        plt.Line2D([], [], color="#444444", marker="o", ls="", label="posterior mean"),
        plt.Line2D([], [], color="#444444", lw=4, alpha=0.6, label=f"{round(inner_prob * 100):g}% credible interval"),
        plt.Line2D([], [], color="#444444", lw=1.2, label=_ci_text(ci_prob)),
        plt.Line2D([], [], color="black", lw=0.8, ls="--", label="no difference"),
    ]
    series_handles = [h for h in ax.get_legend_handles_labels()[0]]
    ax.legend(handles=series_handles + handles, fontsize=8, frameon=False, loc="upper left",
              bbox_to_anchor=(1.01, 1.0))
    ax.set_title(f"Treatment effect on {outcome_label(fit)} ({sign_note(fit)})", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    return fig


def _series(t: pd.DataFrame, series: list[str]):
    if not series:
        return [(None, t)]
    return [(k if len(series) > 1 else (k[0] if isinstance(k, tuple) else k), g)
            for k, g in t.groupby(series, sort=True, dropna=False)]


def _series_name(series: list[str], key) -> str:
    keys = key if isinstance(key, tuple) else (key,)
    return ", ".join(f"{c} {v:g}" if isinstance(v, (int, float, np.number)) else f"{c} {v}" for c, v in zip(series, keys))


def _bars(ax, x, t, colour, horizontal=False, label=None):
    """Mean marker, thick inner interval, thin outer interval."""
    lines = ax.hlines if horizontal else ax.vlines
    lines(x, t["lower"], t["upper"], color=colour, lw=1.2)
    lines(x, t["inner_lower"], t["inner_upper"], color=colour, lw=4, alpha=0.6)
    if horizontal:
        ax.scatter(t["mean"], x, color=colour, s=26, zorder=3, label=label)
    else:
        ax.scatter(x, t["mean"], color=colour, s=26, zorder=3, label=label)


def _colours(plt, n):
    return [EFFECT_COLOUR] if n == 1 else [plt.cm.viridis(i / max(1, n - 1) * 0.85) for i in range(n)]


def _effect_by_item(plt, fit, t, series, label):
    from ..scales import MADRS_ITEMS

    items = list(dict.fromkeys(t["item"]))
    order = [i for i in MADRS_ITEMS if i in items] + [i for i in items if i not in MADRS_ITEMS]
    y = np.arange(len(order))[::-1].astype(float)
    groups = _series(t, series)
    fig, ax = plt.subplots(figsize=(7.5, 0.42 * len(order) + 1.6))
    step = 0.7 / max(1, len(groups))
    for g, ((key, sub), colour) in enumerate(zip(groups, _colours(plt, len(groups)))):
        sub = sub.set_index("item").loc[[i for i in order if i in set(sub["item"])]]
        yy = y[[order.index(i) for i in sub.index]] + (g - (len(groups) - 1) / 2) * step
        _bars(ax, yy, sub, colour, horizontal=True, label=_series_name(series, key) if key is not None else None)
    ax.axvline(0, color="black", lw=0.8, ls="--")
    ax.set_yticks(y)
    ax.set_yticklabels([str(i).replace("_", " ") for i in order])
    ax.set_xlabel(label)
    ax.set_ylabel("item")
    ax.grid(axis="x", alpha=0.3)
    return fig, ax


def _effect_by_axis(plt, fit, t, axis, series, label):
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    groups = _series(t, series)
    numeric = axis is not None and pd.api.types.is_numeric_dtype(t[axis])
    if axis is None:
        positions = {None: 0.0}
    elif numeric:
        positions = {v: float(v) for v in sorted(t[axis].unique())}
    else:
        positions = {v: float(i) for i, v in enumerate(dict.fromkeys(t[axis]))}
    span = (max(positions.values()) - min(positions.values())) or 1.0
    step = 0.012 * span if numeric else 0.12
    for g, ((key, sub), colour) in enumerate(zip(groups, _colours(plt, len(groups)))):
        x = np.array([positions[v] for v in (sub[axis] if axis else [None] * len(sub))])
        x = x + (g - (len(groups) - 1) / 2) * step
        _bars(ax, x, sub, colour, label=_series_name(series, key) if key is not None else None)
        if numeric and len(sub) > 1:
            ax.plot(x, sub["mean"], color=colour, lw=0.8, alpha=0.6)
    ax.axhline(0, color="black", lw=0.8, ls="--")
    if axis == "day":
        ax.set_xlabel("day (since the infusion; 0 = baseline)")
        ax.set_xticks(sorted(positions.values()))
        ax.set_xticklabels([f"{v:g}" for v in sorted(positions.values())])
    elif axis is not None:
        ax.set_xlabel(axis)
        if not numeric:
            ax.set_xticks(list(positions.values()))
            ax.set_xticklabels([str(k) for k in positions])
    else:
        ax.set_xticks([])
    ax.set_ylabel(label)
    ax.grid(axis="y", alpha=0.3)
    return fig, ax


# ---- the effect against a moderator ------------------------------------------------------------
def moderator_grid(fit, moderator: str, values=None, n: int = 61) -> tuple[np.ndarray, tuple[float, float]]:
    """(x values, observed range): the observed range widened by a quarter of its span on each
    side (the MSM scale's own range 3-15 for ``msm``), plus any ``values`` asked for."""
    lo, hi = (float(v) for v in fit.meta.get("moderator_range", {}).get(moderator, (np.nan, np.nan)))
    if not np.isfinite(lo):
        raise BayesKetError(f"The fit records no observed range of {moderator!r} (fitted with an older bayes_ket?). "
                            "Fix: refit it.")
    if moderator == "msm":
        from ..scales import MSM_RANGE

        a, b = float(MSM_RANGE[0]), float(MSM_RANGE[1])
    else:
        pad = 0.25 * (hi - lo) if hi > lo else 1.0
        a, b = lo - pad, hi + pad
    extra = np.asarray(values if values is not None else [], float)
    a, b = min([a, lo, *extra]), max([b, hi, *extra])
    return np.unique(np.concatenate([np.linspace(a, b, n), [lo, hi], extra])), (lo, hi)


def plot_moderation(fit, path=None, moderator: str = "msm", values=None, ci_prob: float = 0.95,
                    coords: dict | None = None, max_panels: int = 12):
    """The effect against a moderator: effect + (x - reference) x moderation, with its band.

    The region outside the moderator's observed range (``fit.meta["moderator_range"]``) is
    shaded: the line there is an extrapolation. The reference value (where ``effect`` is
    evaluated) is marked. Other coordinates of the effect become lines (``day``: by default
    the first and last post-baseline day) or panels (``item``, ...); ``coords`` picks values,
    e.g. ``coords={"day": [1, 7, 14]}`` or ``coords={"item": ["apparent_sadness"]}``.
    ``values``: moderator values that must lie on the x axis. Written to ``path``; returns
    the Figure.
    """
    plt = pyplot(path)
    mods = list(fit.meta.get("moderators") or [])
    if moderator not in mods:
        raise BayesKetError(f"Moderator {moderator!r} was not in this fit. Fix: use one of {mods} "
                            "(or fit with moderators=[...] including it).")
    if "moderation" not in fit.quantities or "effect" not in fit.quantities:
        raise BayesKetError("This fit has no treatment effect to moderate (single arm). Fix: plot moderator_effect "
                            "from fit.summary() instead.")
    base = fit.draws("effect")
    slope = fit.draws("moderation").sel(moderator=moderator, drop=True)
    ref = float(fit.meta["moderator_reference"][moderator])
    x, (lo, hi) = moderator_grid(fit, moderator, values)
    extra_dims = [d for d in base.dims if d not in ("chain", "draw")]
    coords = dict(coords or {})
    if "day" in extra_dims and "day" not in coords:
        days = [float(d) for d in base["day"].values if float(d) > 0]
        coords["day"] = sorted({days[0], days[-1]}) if days else []
    for name, value in coords.items():
        if name not in extra_dims:
            raise BayesKetError(f"effect has no coordinate {name!r}; it has {extra_dims}.")
        wanted = value if isinstance(value, (list, tuple, np.ndarray)) else [value]
        base = base.sel({name: list(wanted)})
        slope = slope.sel({name: list(wanted)})
    line_dim = "day" if "day" in extra_dims else None
    panel_dims = [d for d in extra_dims if d != line_dim]
    panel_keys = _product(base, panel_dims)[:max_panels]
    n = len(panel_keys)
    cols = min(n, 5)
    rows = int(np.ceil(n / cols))
    size = (9.0, 4.6) if n == 1 else (2.9 * cols + 2.8, 2.6 * rows + 1.2)
    fig, axes = plt.subplots(rows, cols, figsize=size, squeeze=False, sharex=True, sharey=True)
    q = [(1 - ci_prob) / 2, 0.5, (1 + ci_prob) / 2]
    line_values = list(base[line_dim].values) if line_dim else [None]
    colours = [EFFECT_COLOUR] if len(line_values) == 1 else _colours(plt, len(line_values))
    for k, (ax, key) in enumerate(zip(axes.ravel(), panel_keys)):
        b = base.sel(key) if key else base
        s = slope.sel(key) if key else slope
        for value, colour in zip(line_values, colours):
            bb = b.sel({line_dim: value}) if line_dim else b
            ss = s.sel({line_dim: value}) if line_dim else s
            draws = bb.values.reshape(-1)[:, None] + (x[None, :] - ref) * ss.values.reshape(-1)[:, None]
            low, mid, high = np.quantile(draws, q, axis=0)
            name = f"day {float(value):g}" if line_dim else "effect"
            ax.fill_between(x, low, high, color=colour, alpha=0.2, lw=0, label=f"{name}: {_ci_text(ci_prob)}")
            ax.plot(x, mid, color=colour, lw=1.6, label=f"{name}: posterior median")
        if x.min() < lo or x.max() > hi:  # one shaded artist for both sides, one legend entry
            ax.fill_between(x, 0, 1, where=(x <= lo) | (x >= hi), transform=ax.get_xaxis_transform(),
                            color=EXTRAPOLATION_COLOUR, alpha=0.45, lw=0,
                            label=f"outside the observed range ({lo:g}\u2013{hi:g}): extrapolation")
        ax.axhline(0, color="black", lw=0.8, ls="--", label="no difference")
        ax.axvline(ref, color="#7f8c8d", lw=0.8, ls=":", label=f"reference {moderator} = {ref:.3g} (where 'effect' is)")
        ax.set_xlim(x.min(), x.max())
        if key:
            ax.set_title(", ".join(str(v).replace("_", " ") for v in key.values()), fontsize=9)
        if n == 1:
            ax.set_ylabel(effect_axis_label(fit))
            ax.set_xlabel(moderator_label(moderator))
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    first = axes.ravel()[0]
    handles, labels = first.get_legend_handles_labels()
    keep = dict(zip(labels, handles))
    if n == 1:
        first.legend(keep.values(), keep.keys(), fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        fig.legend(keep.values(), keep.keys(), fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 0.98))
    title = f"Treatment effect on {outcome_label(fit)} by {MODERATOR_SHORT.get(moderator, moderator)} ({sign_note(fit)})"
    if n > 1:
        fig.supxlabel(moderator_label(moderator), fontsize=10)
        fig.supylabel(effect_axis_label(fit), fontsize=10)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    return fig


def _product(da, dims: list[str]) -> list[dict]:
    """Every combination of the values of ``dims`` (one empty dict when there are none)."""
    keys = [{}]
    for d in dims:
        keys = [{**k, d: v} for k in keys for v in da[d].values]
    return keys


__all__ = ["arm_label", "arm_names", "effect_axis_label", "outcome_label", "plot_effect", "plot_moderation"]
