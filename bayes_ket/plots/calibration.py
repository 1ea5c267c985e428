"""Figure of simulation-based calibration: ECDF differences of ranks with simultaneous bands."""

from __future__ import annotations

import numpy as np

from .core import pyplot, save_figure


def plot_sbc_ecdf(table, path=None, familywise: float = 0.01, columns: int = 6):
    """One panel per parameter: ECDF of its fractional ranks minus the uniform CDF, with the
    simultaneous band of ``calibration.sbc_uniformity`` (ArviZ's optimised band at level
    1 - familywise / parameters). A correct family stays inside every band; a curve above the
    band means the truth sits low in the posterior (posterior too high), below it the reverse,
    and an S shape that the posterior is too wide or too narrow. ``table``: ``calibration.sbc``'s.
    """
    import warnings

    from arviz.stats.ecdf_utils import ecdf_confidence_band

    plt = pyplot(path)
    params = list(dict.fromkeys(table["parameter"]))
    L = int(table["L"].iloc[0])
    grid = np.arange(1, L + 1) / (L + 1)
    rows = int(np.ceil(len(params) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(2.4 * columns, 1.9 * rows), sharex=True, sharey=True,
                             squeeze=False)
    n = int(table.groupby("parameter").size().iloc[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lower, upper = ecdf_confidence_band(n, grid, grid, prob=1 - familywise / len(params), method="optimized")
    for ax, p in zip(axes.ravel(), params):
        ranks = table.loc[table["parameter"] == p, "rank"].to_numpy()
        ecdf = ((ranks[None, :] + 1) / (L + 1) <= grid[:, None] + 1e-12).mean(axis=1)
        inside = np.all((ecdf >= lower - 1e-12) & (ecdf <= upper + 1e-12))
        ax.fill_between(grid, lower - grid, upper - grid, color="#d5dbdb", lw=0,
                        label=f"{100 * (1 - familywise):.0f}% simultaneous band (all parameters)")
        ax.plot(grid, ecdf - grid, color="#2c3e50" if inside else "#c0392b", lw=1.2,
                label="ECDF of ranks - uniform")
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_title(p, fontsize=7, color="black" if inside else "#c0392b")
    for ax in axes.ravel()[len(params):]:
        ax.set_visible(False)
    axes[0, 0].legend(fontsize=6, frameon=False, loc="lower left")
    for ax in axes[-1]:
        ax.set_xlabel("fractional rank")
    for ax in axes[:, 0]:
        ax.set_ylabel("ECDF difference")
    fig.suptitle(f"Simulation-based calibration: {n} replications, ranks among {L} draws", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    return fig
