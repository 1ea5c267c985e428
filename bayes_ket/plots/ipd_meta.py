"""Figures of the IPD meta-analysis family (format from the path's suffix): posterior predictive
check, forest plot of study effects, moderator forest plot, and the combined moderator M*."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import BayesKetError
from .core import ARM_COLOURS, save_figure
from .core import pyplot as _plt

LEVEL_COLOURS = {"within": "#c0392b", "across": "#2980b9", "study": "#27ae60"}


def _unit(fit) -> str:
    return "percent improvement" if fit.meta.get("outcome_scale") == "percent" else f"{fit.meta['outcome']} points"


def plot_ppc(fit, path=None, bands=(0.5, 0.9)):
    """Observed outcome means per visit and arm (+-1 SE) against the replicated data's means
    (posterior predictive ``outcome_mean_rep``: 50% and 90% intervals). Returns the Figure."""
    plt = _plt(path)
    rep = fit.idata.posterior_predictive["outcome_mean_rep"]
    obs = pd.DataFrame(fit.meta["observed_outcome_means"])
    visits = list(rep["visit"].values)
    fig, ax = plt.subplots(figsize=(5.5, 4.0))
    for k, arm in enumerate(rep["arm"].values):
        colour = ARM_COLOURS.get(str(arm), "k")
        x = np.arange(len(visits)) + (k - 0.5) * 0.25
        draws = rep.sel(arm=arm).stack(s=("chain", "draw")).values
        for width, lw in zip(sorted(bands, reverse=True), (1.5, 4)):
            lo, hi = np.nanquantile(draws, [(1 - width) / 2, (1 + width) / 2], axis=1)
            ax.vlines(x, lo, hi, color=colour, lw=lw, alpha=0.35,
                      label=f"{arm}: {int(width * 100)}% predictive" if width == max(bands) else None)
        o = obs[obs["arm"] == arm].set_index("visit").reindex(visits)
        se = o["sd"] / np.sqrt(o["count"])
        ax.errorbar(x, o["mean"], yerr=se, fmt="o", color=colour, ms=5, capsize=2, label=f"{arm}: observed mean")
    ax.set_xticks(np.arange(len(visits)), visits)
    ax.set_ylabel(f"mean {_unit(fit)}")
    ax.set_title("Posterior predictive check: outcome means by visit and arm")
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    save_figure(fig, path)
    return fig


def plot_forest(fit, path=None, visit=None, ci_prob=0.95):
    """Forest plot: each study's (shrunken) effect with its interval, its number of patients and its
    day at each visit drawn (rapid / post_rapid), the pooled effect, and the effect expected in a
    new study (prediction interval), per visit. Returns the Figure."""
    from ..results import summary_table

    plt = _plt(path)
    visits = [visit] if visit else fit.meta["visits"]
    qs = [q for q in ("effect", "study_effect", "effect_new_study") if q in fit.quantities]
    s = summary_table(fit, ci_prob=ci_prob, quantities=qs)
    vt = pd.DataFrame(fit.meta["visit_table"]).set_index("study")
    studies = fit.meta["studies"]
    fig, axes = plt.subplots(1, len(visits), figsize=(4.6 * len(visits) + 1.2, 0.32 * len(studies) + 2.2),
                             sharey=True, squeeze=False)
    for ax, v in zip(axes[0], visits):
        se = s[(s["quantity"] == "study_effect") & (s["visit"] == v)].set_index("study").reindex(studies)
        ypos = np.arange(len(studies))[::-1] + 2
        ax.errorbar(se["mean"], ypos, xerr=[se["mean"] - se["lower"], se["upper"] - se["mean"]], fmt="s",
                    color="#2c3e50", ms=4, capsize=2)
        pooled = s[(s["quantity"] == "effect") & (s["visit"] == v)].iloc[0]
        ax.errorbar([pooled["mean"]], [1], xerr=[[pooled["mean"] - pooled["lower"]], [pooled["upper"] - pooled["mean"]]],
                    fmt="D", color="#c0392b", ms=7, capsize=3, label="pooled effect")
        ax.axvline(pooled["mean"], color="#c0392b", lw=0.8, ls=":")
        new = s[(s["quantity"] == "effect_new_study") & (s["visit"] == v)]
        if len(new):
            ax.plot([new.iloc[0]["lower"], new.iloc[0]["upper"]], [0.3, 0.3], color="#8e44ad", lw=3,
                    label=f"{int(ci_prob * 100)}% prediction (new study)")
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_title(v)
        ax.set_xlabel(f"effect ({_unit(fit)})")
        # the panels share the y axis: one label per study, with its day at every visit drawn
        labels = []
        for st in studies:
            days = [vt.loc[st, f"{w}_day"] if st in vt.index else np.nan for w in visits]
            n = vt.loc[st, "patients"] if st in vt.index else ""
            day_txt = " / ".join(f"{x:g}" if np.isfinite(x) else "none" for x in days)
            labels.append(f"{st} (n={n}, day{'s' if len(days) > 1 else ''} {day_txt})")
        ax.set_yticks(list(ypos) + [1, 0.3], labels + ["pooled", "new study"])
    axes[0][0].legend(fontsize=8, frameon=False, loc="lower right")
    fig.suptitle(f"Study effects (shrunken), pooled effect and prediction ({int(ci_prob * 100)}% intervals)")
    fig.tight_layout()
    save_figure(fig, path)
    return fig


def plot_moderators(fit, path=None, visit=None, ci_prob=0.95, one_at_a_time=None, per="sd"):
    """Moderator forest plot: each moderator's treatment interaction at the within, across and
    study levels, per visit. per="sd" shows it per SD of a continuous moderator (per 0 -> 1 of a
    binary one), comparable across moderators; per="unit" per original unit (as the summary).
    ``one_at_a_time``: a table from ``bk.ipd_meta_sequential`` drawn beside this fit's (shrunken)
    intervals. Returns the Figure."""
    from ..results import summary_table

    if "moderation" not in fit.quantities:
        raise BayesKetError("This fit has no moderators. Fix: fit with moderators= or study_moderators=.")
    plt = _plt(path)
    visits = [visit] if visit else fit.meta["visits"]
    s = summary_table(fit, ci_prob=ci_prob, quantities=["moderation"])
    tables = [("this fit", s)]
    if one_at_a_time is not None:
        tables.append(("one at a time", one_at_a_time[one_at_a_time["quantity"] == "moderation"]))
    sd = fit.meta["moderator_sd"]
    kind = fit.meta["moderator_kind"]
    factor = {m: (sd[m] if (per == "sd" and kind[m] == "continuous") else 1.0) for m in fit.meta["moderators"]}
    rows = s[["moderator", "level"]].drop_duplicates().reset_index(drop=True)
    fig, axes = plt.subplots(1, len(visits), figsize=(4.8 * len(visits) + 1.6, 0.34 * len(rows) + 1.8),
                             sharey=True, squeeze=False)
    for ax, v in zip(axes[0], visits):
        for t, (label, tab) in enumerate(tables):
            for i, r in rows.iterrows():
                hit = tab[(tab["visit"] == v) & (tab["moderator"] == r["moderator"]) & (tab["level"] == r["level"])]
                if not len(hit):
                    continue
                h = hit.iloc[0]
                f = factor[r["moderator"]]
                y = len(rows) - i - 0.18 * t
                ax.errorbar([h["mean"] * f], [y], xerr=[[(h["mean"] - h["lower"]) * f], [(h["upper"] - h["mean"]) * f]],
                            fmt="o" if t == 0 else "^", ms=4, capsize=2, mfc="white" if t else None,
                            color=LEVEL_COLOURS.get(r["level"], "k"), alpha=1.0 if t == 0 else 0.6)
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_title(v)
        unit = "per SD (binary: 0 -> 1)" if per == "sd" else "per unit"
        ax.set_xlabel(f"change of effect {unit}")
        ax.set_yticks(len(rows) - np.arange(len(rows)), [f"{m} [{lv}]" for m, lv in zip(rows["moderator"], rows["level"])])
    handles = [plt.Line2D([], [], color=c, marker="o", ls="", label=lv) for lv, c in LEVEL_COLOURS.items()]
    if one_at_a_time is not None:
        handles += [plt.Line2D([], [], color="k", marker="o", ls="", label="this fit"),
                    plt.Line2D([], [], color="k", marker="^", mfc="white", ls="", label="one at a time")]
    axes[0][-1].legend(handles=handles, fontsize=8, frameon=False, loc="best")
    fig.suptitle(f"Treatment x moderator interactions ({int(ci_prob * 100)}% intervals; {_unit(fit)})")
    fig.tight_layout()
    save_figure(fig, path)
    return fig


def plot_mstar(fit, path=None, visit=None, ci_prob=0.9):
    """The combined moderator M*: outcome against each patient's M* score by arm (with the
    least-squares lines), and the M* weights (posterior mean, intervals) as a bar chart."""
    if "mstar_weight" not in fit.quantities:
        raise BayesKetError("This fit has no combined moderator M*. Fix: fit with mstar=True and >= 2 patient moderators.")
    from ..results import summary_table

    plt = _plt(path)
    visit = visit or fit.meta["visits"][0]
    scores = fit.mstar_scores()
    scores = scores[scores["visit"] == visit]
    w = summary_table(fit, ci_prob=ci_prob, quantities=["mstar_weight"])
    w = w[w["visit"] == visit]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4.2), gridspec_kw={"width_ratios": [1.3, 1]})
    for arm, g in scores.groupby("arm"):
        colour = ARM_COLOURS.get(arm, "k")
        ok = np.isfinite(g["outcome"])
        a1.scatter(g["mstar"][ok], g["outcome"][ok], s=8, alpha=0.45, color=colour, label=arm)
        if ok.sum() > 2:
            b = np.polyfit(g["mstar"][ok], g["outcome"][ok], 1)
            xs = np.linspace(g["mstar"].min(), g["mstar"].max(), 20)
            a1.plot(xs, np.polyval(b, xs), color=colour, lw=2)
    a1.set_xlabel("M* (standardised)")
    a1.set_ylabel(_unit(fit))
    a1.set_title(f"Outcome against M* by arm ({visit})")
    a1.legend(fontsize=8, frameon=False)
    y = np.arange(len(w))
    a2.barh(y, w["mean"], xerr=[w["mean"] - w["lower"], w["upper"] - w["mean"]], color="#7f8c8d", capsize=2)
    a2.set_yticks(y, w["moderator"])
    a2.axvline(0, color="grey", lw=0.8)
    a2.set_xlabel("M* weight (unit-length, per SD)")
    a2.set_title("M* weights")
    fig.tight_layout()
    save_figure(fig, path)
    return fig
