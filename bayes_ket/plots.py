"""Figures for papers: posterior predictive check of visit means (format from the path's suffix)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .errors import BayesKetError

FORMATS = (".png", ".svg", ".pdf")
ARM_COLOURS = {"ketamine": "#c0392b", "control": "#2c3e50", "all": "#2c3e50"}


def save_figure(fig, path) -> Path | None:
    """Write ``fig`` to ``path`` (format from the suffix); None path: don't write."""
    if path is None:
        return None
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise BayesKetError(f"Figure path {str(path)!r}: suffix must be one of {FORMATS}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150, bbox_inches="tight")
    return path


def plot_ppc(fit, path=None, bands=(0.5, 0.9)):
    """Observed visit means by arm (points, +-1 SE) over posterior predictive bands of the mean.

    The bands are quantiles of the replicated data's visit means, over the same
    observed rows, per arm. Item-level fits get the per-item rootogram instead
    (``plots_items.plot_item_ppc``). Returns the matplotlib Figure.
    """
    if fit.meta.get("family") == "items":
        from .plots_items import plot_item_ppc

        return plot_item_ppc(fit, path)
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    rep = fit.idata.posterior_predictive["visit_mean_rep"]
    observed = pd.DataFrame(fit.meta["observed_visit_means"])
    arms = list(rep["arm_obs"].values)
    arm_codes = {"ketamine": 1, "control": 0, "all": 0}
    days = rep["day_obs"].values
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for arm in arms:
        colour = ARM_COLOURS.get(arm, "k")
        draws = rep.sel(arm_obs=arm).stack(s=("chain", "draw")).values
        for width, alpha in zip(sorted(bands, reverse=True), (0.18, 0.35)):
            lo, hi = np.nanquantile(draws, [(1 - width) / 2, (1 + width) / 2], axis=1)
            ax.fill_between(days, lo, hi, color=colour, alpha=alpha, lw=0,
                            label=f"{arm}: {int(width * 100)}% predictive" if width == max(bands) else None)
        ax.plot(days, np.nanmedian(draws, axis=1), color=colour, lw=1)
        obs = observed[observed["arm"] == arm_codes[arm]].sort_values("day")
        se = obs["std"] / np.sqrt(obs["count"])
        ax.errorbar(obs["day"], obs["mean"], yerr=se, fmt="o", color=colour, ms=4, capsize=2,
                    label=f"{arm}: observed mean")
    outcome = fit.meta["outcome"]
    ax.set_xlabel("day")
    ax.set_ylabel(f"{outcome} (visit mean)")
    ax.set_title(f"Posterior predictive check: {fit.meta['card']['name']}, {outcome}")
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    save_figure(fig, path)
    return fig
