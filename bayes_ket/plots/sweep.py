"""Figure of a prior sweep: chosen quantities against the swept prior value, base setting marked."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import BayesKetError
from .core import pyplot, save_figure

MARKERS = {"base": "*", "refit": "o", "reweighted": "D"}
MARKER_LABELS = {"base": "base fit", "refit": "refit", "reweighted": "reweighted (PSIS)"}


def swept_columns(table: pd.DataFrame) -> list[str]:
    """The prior columns of a sweep table (between ``setting`` and ``method``)."""
    cols = list(table.columns)
    if "setting" not in cols or "method" not in cols:
        raise BayesKetError("Not a sweep table (bk.sweep's result): it has no setting / method columns.")
    return cols[cols.index("setting") + 1: cols.index("method")]


def coordinate_columns(table: pd.DataFrame) -> list[str]:
    """The coordinate columns of a summary or sweep table: those between quantity and mean."""
    cols = list(table.columns)
    return cols[cols.index("quantity") + 1: cols.index("mean")]


def plot_sweep(table: pd.DataFrame, quantity, path=None, coords=None, x=None, log_x=None):
    """Each quantity (str or list) against the prior setting, with its interval (lower, upper).

    coords: {coordinate: value or list} to keep (e.g. {"day": [1, 7, 14]}); every
    remaining coordinate combination is a series. x: the swept prior on the x axis
    (default: the first swept prior; with several, the other priors label the series).
    Markers: star = base fit, diamond = reweighted, circle = refit; the base value is a
    dashed vertical line. Written to ``path`` (format from the suffix); returns the Figure.
    """
    plt = pyplot(path)
    quantities = [quantity] if isinstance(quantity, str) else list(quantity)
    swept = swept_columns(table)
    x = x or swept[0]
    if x not in swept:
        raise BayesKetError(f"x={x!r} was not swept; swept priors: {swept}.")
    others = [c for c in swept if c != x]
    base_priors = table.attrs.get("base_priors", {})
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

    ci = table.attrs.get("ci_prob", 0.95)
    fig, axes = plt.subplots(len(quantities), 1, figsize=(9.5, 3.4 * len(quantities)), squeeze=False)
    for ax, q in zip(axes[:, 0], quantities):
        t = table[table["quantity"] == q]
        if t.empty:
            raise BayesKetError(f"The sweep has no quantity {q!r}; it has {sorted(table['quantity'].unique())}.")
        for name, value in (coords or {}).items():
            if name not in t:
                raise BayesKetError(f"{q} has no coordinate {name!r}.")
            values = value if isinstance(value, (list, tuple, np.ndarray)) else [value]
            t = t[t[name].isin(values)]
        group_cols = [c for c in coordinate_columns(t) if t[c].notna().any()] + others
        groups = list(t.groupby(group_cols, sort=False, dropna=False)) if group_cols else [((), t)]
        xs_all = np.sort(t[x].unique())
        log = log_x if log_x is not None else (xs_all.min() > 0 and xs_all.max() / xs_all.min() > 4)
        n = len(groups)
        for g, (label, sub) in enumerate(groups):
            sub = sub.sort_values(x)
            colour = plt.cm.viridis(g / max(1, n - 1)) if n > 1 else "#2c3e50"
            # small horizontal dodge so intervals do not overlap
            dodge = (g - (n - 1) / 2) * (0.02 if log else 0.01 * np.ptp(xs_all) if np.ptp(xs_all) else 0)
            xv = sub[x].to_numpy(float) * (10 ** dodge if log else 1) + (0 if log else dodge)
            values = label if isinstance(label, tuple) else (label,)
            lab = ", ".join(f"{c} {_number(v)}" for c, v in zip(group_cols, values)) or q
            ax.plot(xv, sub["mean"], color=colour, lw=1, label=lab)
            ax.vlines(xv, sub["lower"], sub["upper"], color=colour, lw=1.5, alpha=0.7)
            for method, marker in MARKERS.items():
                m = (sub["method"] == method).to_numpy()
                if m.any():
                    ax.scatter(xv[m], sub["mean"].to_numpy()[m], marker=marker, color=colour,
                               s=90 if method == "base" else 25, zorder=3,
                               edgecolor="k" if method == "base" else colour)
        if x in base_priors:
            ax.axvline(base_priors[x], color="grey", ls="--", lw=1, label=f"base {x} = {base_priors[x]:.3g}")
        if log:
            ax.set_xscale("log")
        # ticks at the swept values, written as plain numbers (no 10^0.5 labels on a log axis)
        ax.xaxis.set_major_locator(FixedLocator(xs_all))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_xlabel(f"{x} (prior setting{', log scale' if log else ''})")
        ax.set_ylabel(f"{q} (mean, {int(round(ci * 100))}% interval)")
        handles = [plt.Line2D([], [], ls="", marker=mk, color="k", label=MARKER_LABELS[mt])
                   for mt, mk in MARKERS.items() if (t["method"] == mt).any()]
        handles.append(plt.Line2D([], [], color="k", lw=1.5, alpha=0.7, label=f"{int(round(ci * 100))}% credible interval"))
        h0, _ = ax.get_legend_handles_labels()
        # outside the axes, on the right: the legend never covers data
        ax.legend(handles=h0 + handles, fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  ncol=2 if len(h0) > 14 else 1)
    fig.suptitle("Prior sweep: " + ", ".join(quantities), fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    return fig


def _number(v) -> str:
    """1.0 -> '1', 'apparent_sadness' -> 'apparent sadness'."""
    if isinstance(v, (int, float, np.number)) and not isinstance(v, bool):
        return f"{float(v):g}"
    return str(v).replace("_", " ")
