"""Figures of the items family: item forest plot and per-item rootogram (format from the path's suffix)."""

from __future__ import annotations

import numpy as np

from ..errors import BayesKetError
from .core import pyplot as _plt
from .core import save_figure


def _check(fit):
    if "item_counts_rep" not in fit.idata.get("posterior_predictive", {}):
        raise BayesKetError("This figure needs a fit of the items model (bk.fit('items', ...)).")


def plot_item_forest(fit, path=None, ci_prob=0.95, moderator=None, day=None):
    """Per-item effect (log-odds) and moderation (per moderator unit) with ``ci_prob`` intervals.

    Items in scale order, top to bottom; the population mean as a dashed line. For
    effects by day, pass ``day`` (default: the first post-baseline day). Returns the Figure.
    """
    _check(fit)
    plt = _plt(path)
    if not fit.meta.get("has_arm"):
        raise BayesKetError("Single-arm fit: no treatment effects to plot.")
    from ..results import summary_table

    s = summary_table(fit, ci_prob=ci_prob, quantities=[q for q in ("effect", "effect_mean", "moderation",
                                                               "moderation_mean") if q in fit.quantities])
    if "day" in s and s["day"].notna().any():
        day = day if day is not None else float(s["day"].dropna().min())
        s = s[s["day"].isna() | (s["day"] == day)]
    mods = fit.meta["moderators"]
    moderator = moderator or (mods[0] if mods else None)
    panels = [("effect", "effect_mean", "effect (log-odds, ketamine - control)")]
    if moderator is not None:
        panels.append(("moderation", "moderation_mean", f"moderation (log-odds per {moderator} point)"))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels) + 1.5, 4.8), sharey=True)
    axes = np.atleast_1d(axes)
    items = list(fit.idata.posterior["effect"]["item"].values)
    y = np.arange(len(items))[::-1]
    for ax, (q, qm, label) in zip(axes, panels):
        t = s[s["quantity"] == q]
        m = s[s["quantity"] == qm]
        if q == "moderation":
            t = t[t["moderator"] == moderator]
            m = m[m["moderator"] == moderator]
        t = t.set_index("item").loc[items]
        colour = np.where(t["upper"] < 0, "#2471a3", np.where(t["lower"] > 0, "#c0392b", "#7f8c8d"))
        ax.hlines(y, t["lower"], t["upper"], color=colour, lw=2)
        ax.scatter(t["mean"], y, color=colour, zorder=3, s=28)
        ax.axvline(0, color="black", lw=0.8)
        if len(m):
            ax.axvline(float(m["mean"].iloc[0]), color="#555555", lw=1, ls="--", label="population mean")
            ax.legend(loc="lower right", fontsize=8, frameon=False)
        ax.set_xlabel(label)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y)
    axes[0].set_yticklabels([k.replace("_", " ") for k in items])
    fig.suptitle(f"{fit.meta.get('outcome_label', 'items')}: posterior means and {int(ci_prob * 100)}% intervals",
                 fontsize=11)
    fig.tight_layout()
    save_figure(fig, path)
    return fig


def plot_item_ppc(fit, path=None, prob=0.9):
    """Hanging-rootogram-style bars per item: observed category counts (bars, sqrt scale) against
    the replicated counts' median and ``prob`` interval (points and lines). Returns the Figure."""
    _check(fit)
    plt = _plt(path)
    rep = fit.idata.posterior_predictive["item_counts_rep"]
    obs = np.asarray(fit.meta["observed_item_counts"], float)
    q = rep.quantile([(1 - prob) / 2, 0.5, (1 + prob) / 2], dim=("chain", "draw")).to_numpy()  # (3, item, cat)
    K = obs.shape[0]
    ncols = min(5, K)
    nrows = int(np.ceil(K / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.6 * ncols, 2.7 * nrows), sharex=True, squeeze=False)
    cats = np.arange(obs.shape[1])
    lowest = fit.meta.get("item_lowest", [0] * K)
    for ax in axes.ravel()[K:]:
        ax.set_visible(False)
    for k, ax in enumerate(axes.ravel()[:K]):
        ax.bar(cats, np.sqrt(obs[k]), color="#aab7b8", width=0.8, label="observed")
        ax.vlines(cats, np.sqrt(q[0, k]), np.sqrt(q[2, k]), color="#c0392b", lw=2)
        ax.scatter(cats, np.sqrt(q[1, k]), color="#c0392b", s=14, zorder=3, label=f"replicated (median, {int(prob * 100)}%)")
        ax.set_title(str(rep["item"].values[k]).replace("_", " "), fontsize=9)
        ax.set_xticks(cats, [f"{c + lowest[k]:g}" for c in cats])
        if k % ncols == 0:
            ax.set_ylabel("sqrt(count)")
    axes[-1, 0].set_xlabel("item score")
    axes[0, 0].legend(fontsize=7, frameon=False, loc="upper right")
    fig.suptitle(f"Posterior predictive check: category counts per item, {fit.meta.get('outcome_label', 'items')} "
                 "(rootogram scale)", fontsize=11)
    fig.tight_layout()
    save_figure(fig, path)
    return fig
