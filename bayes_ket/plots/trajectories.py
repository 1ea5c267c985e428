"""The observed data before any model: each patient's trajectory by arm, with the visit means.

``bk.plot_trajectories(trial, path)`` draws one panel per arm (the data's own arm names,
e.g. "Ketamine" and "Saline"): a thin line per patient (per patient and period in crossover
data) and the visit means with their 95% confidence intervals (mean +- 1.96 SE). The y axis
is labelled from the outcome's scale ("MADRS total"). Written by the suffix of ``path``.
"""

from __future__ import annotations

import numpy as np

from ..errors import BayesKetError
from .core import ARM_COLOURS, pyplot, save_figure

#: above this many patients per arm, a random subset of lines is drawn (the means use everyone)
MAX_LINES = 300


def plot_trajectories(trial, path=None, outcome: str | None = None, max_lines: int = MAX_LINES, seed: int = 0,
                      time: str = "day"):
    """Observed trajectories by arm: one line per patient, visit means with 95% CIs.

    trial : a ``bk.TrialData`` (``bk.read_trial``, ``bk.simulate``, ``bk.datasets.*``).
    outcome : the score column (default: the trial's first outcome, ``madrs_total`` when present).
    max_lines : at most this many patient lines per arm (a random subset, ``seed``); the means
        always use every patient.
    time : "day" (scheduled days, the model's) or "actual_day" (when a visit schedule was applied).
    Returns the matplotlib Figure; written to ``path`` (format from the suffix).
    """
    from ..data.trial import TrialData
    from .effects import arm_names

    if not isinstance(trial, TrialData):
        raise BayesKetError(f"plot_trajectories takes a bayes_ket.TrialData, not {type(trial).__name__}. "
                            "Fix: bk.read_trial(your_data).")
    plt = pyplot(path)
    outcome = outcome or (trial.outcomes[0] if trial.outcomes else None)
    if outcome is None or outcome not in trial.frame:
        raise BayesKetError(f"outcome={outcome!r} is not a score column of this trial; it has {trial.outcomes}.")
    if time not in trial.frame:
        raise BayesKetError(f"time={time!r} is not a column of this trial. Fix: use 'day'"
                            + (" or 'actual_day'." if "actual_day" in trial.frame else "."))
    frame = trial.frame[trial.frame[outcome].notna()]
    names = arm_names(trial)
    arms = [1, 0] if trial.has_arm else [None]
    fig, axes = plt.subplots(1, len(arms), figsize=(5.2 * len(arms) + 1.8, 4.3), sharey=True, squeeze=False)
    rng = np.random.default_rng(seed)
    unit_keys = ["patient", "period"] if "period" in frame and frame["period"].nunique() > 1 else ["patient"]
    for ax, arm in zip(axes[0], arms):
        rows = frame if arm is None else frame[frame["arm"] == arm]
        name = "all patients" if arm is None else names[arm]
        colour = ARM_COLOURS["all" if arm is None else ("ketamine" if arm == 1 else "control")]
        units = list(rows.groupby(unit_keys, sort=False))
        n_patients = rows["patient"].nunique()
        shown = units if len(units) <= max_lines else [units[i] for i in sorted(rng.choice(len(units), max_lines, replace=False))]
        for i, (_, g) in enumerate(shown):
            g = g.sort_values(time)
            ax.plot(g[time], g[outcome], color=colour, lw=0.6, alpha=0.22,
                    label=(f"{name}: one line per patient (n = {n_patients}"
                           + (f", {len(shown)} drawn" if len(shown) < len(units) else "") + ")") if i == 0 else None)
        means = rows.groupby(time)[outcome].agg(["mean", "std", "count"]).reset_index()
        half = 1.96 * means["std"].fillna(0) / np.sqrt(means["count"])
        ax.errorbar(means[time], means["mean"], yerr=half, color="black", lw=1.8, marker="o", ms=4, capsize=3,
                    label=f"{name}: visit mean with 95% CI")
        ax.set_title(f"{name} (n = {n_patients})", fontsize=10)
        ax.set_xlabel("day (since the infusion; 0 = baseline)" if time == "day" else "actual day (since the infusion)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, frameon=False, loc="upper right")
    axes[0, 0].set_ylabel(_label(outcome))
    fig.suptitle(f"Observed {_label(outcome)} by arm", fontsize=11)
    fig.tight_layout()
    save_figure(fig, path)
    return fig


def _label(outcome: str) -> str:
    from .. import scales

    scale = scales.for_column(outcome)
    if scale is None:
        return outcome.replace("_", " ")
    if outcome in scale.item_columns:
        k = scale.item_columns.index(outcome)
        return f"{scale.name.upper()} item {k + 1} ({scale.item_names[k].replace('_', ' ')})"
    return scale.label
