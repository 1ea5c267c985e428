"""Posterior predictive check of visit means, for any family that replicates them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .core import ARM_COLOURS, pyplot, save_figure


def plot_visit_means(fit, path=None, bands=(0.5, 0.9)):
    """Observed visit means by arm (points, +-1 SE) over posterior predictive bands of the mean.

    The bands are quantiles of the replicated data's visit means (posterior predictive
    variable ``visit_mean_rep``: chain, draw, day_obs, arm_obs), over the same observed
    rows, per arm; the observed means come from ``fit.meta["observed_visit_means"]``.
    Returns the matplotlib Figure.
    """
    from .effects import arm_label, outcome_label

    plt = pyplot(path)

    rep = fit.idata.posterior_predictive["visit_mean_rep"]
    observed = pd.DataFrame(fit.meta["observed_visit_means"])
    arms = list(rep["arm_obs"].values)
    arm_codes = {"ketamine": 1, "control": 0, "all": 0}
    days = rep["day_obs"].values
    fig, ax = plt.subplots(figsize=(10.5, 4.6))
    for arm in arms:
        colour = ARM_COLOURS.get(arm, "k")
        name = arm_label(fit, arm)
        draws = rep.sel(arm_obs=arm).stack(s=("chain", "draw")).values
        for width, alpha in zip(sorted(bands, reverse=True), (0.18, 0.35)):
            lo, hi = np.nanquantile(draws, [(1 - width) / 2, (1 + width) / 2], axis=1)
            ax.fill_between(days, lo, hi, color=colour, alpha=alpha, lw=0,
                            label=f"{name}: {int(round(width * 100))}% predictive interval of the visit mean")
        ax.plot(days, np.nanmedian(draws, axis=1), color=colour, lw=1, label=f"{name}: predictive median")
        obs = observed[observed["arm"] == arm_codes[arm]].sort_values("day")
        se = obs["std"] / np.sqrt(obs["count"])
        ax.errorbar(obs["day"], obs["mean"], yerr=se, fmt="o", color=colour, ms=4, capsize=2,
                    label=f"{name}: observed mean \u00b1 1 SE")
    label = outcome_label(fit)
    ax.set_xlabel("day (since the infusion; 0 = baseline)")
    ax.set_ylabel(f"{label} (visit mean)")
    ax.set_title(f"Posterior predictive check: visit means of {label}", fontsize=10)
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    save_figure(fig, path)
    return fig
