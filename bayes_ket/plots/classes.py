"""Figures of the trajectory-classes family (format from the path's suffix: .png .svg .pdf).

- ``plot_ppc``: observed visit means against posterior-predictive bands (the generic check);
- ``plot_class_trajectories``: each class's mean curve with its credible band over thin lines
  of the patients assigned to it;
- ``plot_membership``: every patient's posterior membership probabilities, sorted by class;
- ``plot_conditional``: P(class_2 | class) of a dual model as an annotated heat map;
- ``plot_predictors``: membership-predictor odds ratios against class "1";
- ``plot_selection``: the ``bk.select_classes`` table (elpd with SE, BIC, the recommendation).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import BayesKetError
from .core import pyplot, save_figure

CLASS_COLOURS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666")


def _check(fit):
    if "membership" not in fit.idata.posterior:
        raise BayesKetError("This figure needs a fit of the classes model (bk.fit('classes', ...)).")


def plot_ppc(fit, path=None, **options):
    """Observed visit means (+-1 SE) over the posterior-predictive bands of the replicated means."""
    from .ppc import plot_visit_means

    return plot_visit_means(fit, path, **options)


def plot_class_trajectories(fit, path=None, ci_prob=0.9, second=False, max_lines=60, log_day=True):
    """Class mean curves (posterior mean, ``ci_prob`` band) over thin lines of the observed
    trajectories of the patients assigned to each class (most probable class by posterior mean).
    second=True: the second outcome (dual / shared models). Returns the Figure."""
    _check(fit)
    plt = pyplot(path)
    from matplotlib.ticker import ScalarFormatter

    sfx = "_2" if second else ""
    outcomes = fit.meta["outcomes"]
    if second and len(outcomes) < 2:
        raise BayesKetError("second=True needs a fit with two outcomes.")
    outcome = outcomes[1 if second else 0]
    dual = fit.meta["structure"] == "dual"
    cdim = "class_2" if second and dual else "class"
    traj = fit.draws(f"class_trajectory{sfx}")
    days = traj["day"].values
    labels = list(traj[cdim].values)
    flat = traj.stack(s=("chain", "draw")).transpose(cdim, "day", "s").values
    lo, hi = np.quantile(flat, [(1 - ci_prob) / 2, (1 + ci_prob) / 2], axis=2)
    mean = flat.mean(axis=2)
    memb = fit.membership()
    memb = memb[memb[cdim].notna()] if cdim in memb else memb
    assigned = memb[memb["assigned"]].set_index("patient")[cdim]
    share = fit.draws(f"class_share{'_2' if cdim == 'class_2' else ''}").mean(("chain", "draw")).to_series()
    frame = fit.trial.frame if fit.trial is not None else None
    K = len(labels)
    fig, axes = plt.subplots(1, K, figsize=(3.0 * K + 0.5, 3.6), sharey=True, squeeze=False)
    rng = np.random.default_rng(0)
    for ax, label, colour, m, a, b in zip(axes[0], labels, CLASS_COLOURS * 3, mean, lo, hi):
        if frame is not None:
            pats = assigned.index[assigned == label].tolist()
            pats = list(rng.choice(pats, size=min(max_lines, len(pats)), replace=False)) if pats else []
            for p, g in frame[frame["patient"].astype(str).isin(pats)].groupby("patient"):
                g = g[g[outcome].notna()]
                ax.plot(g["day"], g[outcome], color=colour, alpha=0.18, lw=0.7)
        ax.fill_between(days, a, b, color=colour, alpha=0.35, lw=0, label=f"{int(100 * ci_prob)}% interval")
        ax.plot(days, m, color=colour, lw=2.2, label="class mean")
        ax.set_title(f"class {label} ({100 * float(share.get(label, np.nan)):.0f}%)", fontsize=10)
        ax.set_xlabel("day")
        if log_day:
            ax.set_xscale("symlog", linthresh=1.0)
            ax.set_xticks([d for d in (0, 1, 3, 7, 14, 28, 40, 90, 180, 365) if d <= days.max() * 1.05])
            ax.get_xaxis().set_major_formatter(ScalarFormatter())
    axes[0][0].set_ylabel(outcome)
    axes[0][0].legend(fontsize=7, frameon=False, loc="lower left")
    fig.suptitle(f"Trajectory classes of {outcome}: mean with {int(100 * ci_prob)}% band, thin lines = assigned "
                 "patients", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    return fig


def plot_membership(fit, path=None, second=False):
    """Posterior mean membership probabilities of every patient (stacked), patients sorted by
    their most probable class and then by its probability. Returns the Figure."""
    _check(fit)
    plt = pyplot(path)
    col = "class_2" if second else "class"
    memb = fit.membership()
    if col not in memb or memb[col].isna().all():
        raise BayesKetError("second=True needs a dual model (k=(K1, K2)).")
    memb = memb[memb[col].notna()]
    wide = memb.pivot(index="patient", columns=col, values="prob")
    labels = list(wide.columns)
    top = wide.idxmax(axis=1)
    order = pd.DataFrame({"cls": top.map(labels.index), "p": wide.max(axis=1)}).sort_values(["cls", "p"],
                                                                                           ascending=[True, False])
    wide = wide.loc[order.index]
    fig, ax = plt.subplots(figsize=(8, 3.4))
    x = np.arange(len(wide))
    bottom = np.zeros(len(wide))
    for label, colour in zip(labels, CLASS_COLOURS * 3):
        ax.bar(x, wide[label].to_numpy(), bottom=bottom, width=1.0, color=colour, label=f"class {label}", lw=0)
        bottom += wide[label].to_numpy()
    ax.axhline(0.7, color="k", lw=0.8, ls="--")
    ax.set_xlim(-0.5, len(wide) - 0.5)
    ax.set_ylim(0, 1)
    ax.set_xlabel("patients (sorted by most probable class)")
    ax.set_ylabel("P(class | data)")
    ax.set_title("Posterior membership probabilities (dashed: 0.7)", fontsize=10)
    ax.legend(fontsize=7, frameon=False, ncol=len(labels), loc="upper center", bbox_to_anchor=(0.5, -0.18))
    fig.tight_layout()
    save_figure(fig, path)
    return fig


def plot_conditional(fit, path=None, quantity="conditional_class"):
    """Heat map of P(class_2 | class) (rows: class; ``quantity="joint_class"`` for the joint
    table), cells annotated with the posterior mean and 90% interval. Returns the Figure."""
    _check(fit)
    if quantity not in fit.quantities:
        raise BayesKetError(f"{quantity} needs a dual model: bk.fit('classes', trial, k=(K1, K2), "
                            "outcome=(first, second)).")
    plt = pyplot(path)
    da = fit.draws(quantity).transpose("chain", "draw", "class", "class_2")
    flat = da.values.reshape((-1,) + da.shape[2:])
    mean = flat.mean(axis=0)
    lo, hi = np.quantile(flat, [0.05, 0.95], axis=0)
    fig, ax = plt.subplots(figsize=(1.2 * mean.shape[1] + 2.2, 1.0 * mean.shape[0] + 1.4))
    im = ax.imshow(mean, cmap="viridis", vmin=0, vmax=1)
    for i in range(mean.shape[0]):
        for j in range(mean.shape[1]):
            ax.text(j, i, f"{mean[i, j]:.2f}\n({lo[i, j]:.2f}-{hi[i, j]:.2f})", ha="center", va="center", fontsize=7,
                    color="white" if mean[i, j] < 0.5 else "black")
    outcomes = fit.meta["outcomes"]
    ax.set_xticks(range(mean.shape[1]), [str(v) for v in da["class_2"].values])
    ax.set_yticks(range(mean.shape[0]), [str(v) for v in da["class"].values])
    ax.set_xlabel(f"class_2 ({outcomes[1]})")
    ax.set_ylabel(f"class ({outcomes[0]})")
    ax.set_title("P(class_2 | class)" if quantity == "conditional_class" else "P(class, class_2)", fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    save_figure(fig, path)
    return fig


def plot_predictors(fit, path=None, ci_prob=0.95):
    """Membership-predictor odds ratios against class "1" (per unit of each predictor), with
    ``ci_prob`` intervals, on a log axis. Returns the Figure."""
    _check(fit)
    if "class_predictor" not in fit.quantities:
        raise BayesKetError("This fit has no membership predictors. Fix: bk.fit('classes', ..., predictors=(...)).")
    plt = pyplot(path)
    da = fit.draws("class_predictor")
    preds = list(da["predictor"].values)
    classes = list(da["class"].values)
    flat = da.stack(s=("chain", "draw")).transpose("class", "predictor", "s").values
    lo, hi = np.quantile(flat, [(1 - ci_prob) / 2, (1 + ci_prob) / 2], axis=2)
    fig, axes = plt.subplots(1, len(preds), figsize=(3.4 * len(preds), 0.5 * len(classes) + 1.8), squeeze=False)
    for j, (ax, p) in enumerate(zip(axes[0], preds)):
        y = np.arange(len(classes))
        ax.errorbar(np.exp(flat[:, j].mean(axis=1)), y, xerr=None, fmt="o", color="k", ms=4)
        ax.hlines(y, np.exp(lo[:, j]), np.exp(hi[:, j]), color="k")
        ax.axvline(1.0, color="grey", lw=0.8, ls="--")
        ax.set_xscale("log")
        ax.set_yticks(y, [f"class {c}" for c in classes])
        ax.set_title(f"{p}: odds ratio vs class 1 per unit", fontsize=9)
        ax.invert_yaxis()
    fig.tight_layout()
    save_figure(fig, path)
    return fig


def plot_selection(table: pd.DataFrame, path=None):
    """The ``bk.select_classes`` table: elpd (PSIS-LOO / K-fold by patient) with +-1 SE of the
    difference from the best k, and BIC at the posterior mode; the recommended k is marked."""
    plt = pyplot(path)
    t = table.sort_values("k")
    best = t["elpd_loo"].max()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8.5, 3.4))
    a1.errorbar(t["k"], t["elpd_loo"] - best, yerr=t["se_diff"], fmt="o-", color="k", capsize=3)
    a1.axhline(0, color="grey", lw=0.8)
    a2.plot(t["k"], t["bic"], "o-", color="#7570b3")
    for ax in (a1, a2):
        rec = t[t["recommended"]]
        ax.axvline(float(rec["k"].iloc[0]), color="#d95f02", ls="--", lw=1, label="recommended")
        ax.set_xlabel("number of classes k")
        ax.set_xticks(t["k"])
    flagged = t[t["flag"].astype(str) != ""]
    for _, row in flagged.iterrows():
        a1.annotate(row["flag"], (row["k"], row["elpd_loo"] - best), fontsize=6, rotation=30,
                    xytext=(3, 6), textcoords="offset points")
    a1.set_ylabel("elpd difference from the best (+-1 se_diff)")
    a2.set_ylabel("BIC (lower is better)")
    a1.legend(fontsize=7, frameon=False)
    fig.suptitle("Choosing the number of trajectory classes", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    return fig
