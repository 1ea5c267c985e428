"""Figures ready for a paper (issue 12, item 9): axis labels from the outcome's scale, the data's
arm names, a legend entry for every band and error bar, sweep ticks as numbers, and each
figure written by the suffix of its path. Mock draws: nothing is sampled."""

import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection, PolyCollection  # noqa: E402
from matplotlib.container import ErrorbarContainer  # noqa: E402

import bayes_ket as bk  # noqa: E402
from conftest import MOCK  # noqa: E402


def legend_texts(fig) -> set[str]:
    texts = set()
    for legend in [ax.get_legend() for ax in fig.axes] + list(fig.legends):
        if legend is not None:
            texts |= {t.get_text() for t in legend.get_texts()}
    return texts


def unlabelled_bands(fig) -> list[str]:
    """Bands (fill_between, axvspan), error bars and interval lines (vlines/hlines) that have no
    legend entry, directly or through an error-bar container or a same-styled artist."""
    texts = legend_texts(fig)
    missing = []
    for ax in fig.axes:
        in_containers = set()
        for c in ax.containers:
            if isinstance(c, ErrorbarContainer):
                parts = [a for group in c.lines[1:] for a in (group or ())]
                in_containers |= {id(a) for a in parts}
                if c.get_label() not in texts:
                    missing.append(f"error bars {c.get_label()!r}")
        for artist in list(ax.collections) + list(ax.patches):
            if id(artist) in in_containers:
                continue
            if isinstance(artist, (PolyCollection, LineCollection)) or type(artist).__name__ in ("Rectangle", "Polygon"):
                label = str(artist.get_label())
                if label.startswith("_") or label not in texts:
                    missing.append(f"{type(artist).__name__} {label!r} on {ax.get_title()!r}")
    return missing


def interval_lines_explained(fig) -> bool:
    """vlines/hlines carry no label themselves: the legend must say what an interval is."""
    return any("interval" in t or "CI" in t for t in legend_texts(fig))


def check_bands(fig):
    missing = [m for m in unlabelled_bands(fig) if not m.startswith("LineCollection")]
    assert not missing, missing
    if any(isinstance(a, LineCollection) for ax in fig.axes for a in ax.collections):
        assert interval_lines_explained(fig), legend_texts(fig)


@pytest.fixture(scope="module")
def saline_trial():
    """The pooled two-RCT design with the data's own arm labels and a narrower MSM range."""
    trial = bk.simulate("pooled_rct", seed=0)
    frame = trial.frame[trial.frame["msm"].between(6, 13)].copy()
    frame["arm"] = frame["arm"].map({1: "Ketamine", 0: "Saline"})
    return bk.read_trial(frame.drop(columns=["source_row"], errors="ignore"))


@pytest.fixture(scope="module")
def saline_fit(saline_trial):
    return bk.Analysis("trajectory", saline_trial).sample(seed=1, **MOCK)


def test_effect_axis_labels_and_legend(saline_fit, tmp_path):
    fig = saline_fit.plot_effect(tmp_path / "effect.png")
    ax = fig.axes[0]
    assert ax.get_ylabel().startswith("MADRS total difference, Ketamine \u2212 Saline")
    assert "day" in ax.get_xlabel()
    assert {"posterior mean", "95% credible interval", "50% credible interval"} <= legend_texts(fig)
    check_bands(fig)
    assert (tmp_path / "effect.png").stat().st_size > 0
    plt.close(fig)


def test_moderation_shades_outside_observed_range(saline_fit, tmp_path):
    fig = saline_fit.plot_moderation(tmp_path / "moderation.svg", moderator="msm")
    ax = fig.axes[0]
    assert ax.get_xlabel().startswith("MSM score")
    assert ax.get_ylabel().startswith("MADRS total difference")
    lo, hi = saline_fit.meta["moderator_range"]["msm"]
    shaded = [p for p in ax.collections if "outside the observed range" in str(p.get_label())]
    assert shaded, "the extrapolated range is not shaded"
    texts = legend_texts(fig)
    assert f"outside the observed range ({lo:g}\u2013{hi:g}): extrapolation" in texts
    assert any("95% credible interval" in t for t in texts)
    check_bands(fig)
    assert (tmp_path / "moderation.svg").read_text().lstrip().startswith("<?xml")
    plt.close(fig)


def test_moderation_needs_a_fitted_moderator(saline_fit):
    with pytest.raises(bk.BayesKetError, match="was not in this fit"):
        saline_fit.plot_moderation(None, moderator="age")


def test_ppc_uses_scale_label_and_arm_names(saline_fit, tmp_path):
    fig = saline_fit.plot_ppc(tmp_path / "ppc.pdf")
    ax = fig.axes[0]
    assert ax.get_ylabel() == "MADRS total (visit mean)"
    texts = legend_texts(fig)
    assert "Saline: observed mean \u00b1 1 SE" in texts
    assert "Ketamine: 50% predictive interval of the visit mean" in texts
    assert "Ketamine: 90% predictive interval of the visit mean" in texts
    check_bands(fig)
    assert (tmp_path / "ppc.pdf").read_bytes()[:4] == b"%PDF"
    plt.close(fig)


def test_summary_keeps_ketamine_control(saline_fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bk.BayesKetWarning)
        arms = set(saline_fit.summary()["arm"].dropna())
    assert arms == {"ketamine", "control"}


def test_trajectories_by_arm(saline_trial, tmp_path):
    fig = bk.plot_trajectories(saline_trial, tmp_path / "trajectories.png")
    assert [ax.get_title().split(" (")[0] for ax in fig.axes] == ["Ketamine", "Saline"]
    assert fig.axes[0].get_ylabel() == "MADRS total"
    check_bands(fig)
    assert any("one line per patient" in t for t in legend_texts(fig))
    plt.close(fig)


def test_trajectories_single_arm_and_other_scale(tmp_path):
    trial = bk.datasets.riesby()
    fig = bk.plot_trajectories(trial, tmp_path / "riesby.png", outcome="hrsd17_total")
    assert fig.axes[0].get_ylabel() == "HRSD-17 total"
    check_bands(fig)
    plt.close(fig)
    with pytest.raises(bk.BayesKetError, match="TrialData"):
        bk.plot_trajectories(trial.frame, None)


def test_items_effect_dispatches_on_item_coordinate(mock_items_fit, tmp_path):
    fig = mock_items_fit.plot_effect(tmp_path / "items_effect.png")
    ax = fig.axes[0]
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert ticks[0] == "apparent sadness" and len(ticks) == 10
    assert ax.get_xlabel() == "MADRS item effect, ketamine \u2212 control (log-odds)"
    check_bands(fig)
    fig2 = mock_items_fit.plot_effect(None, quantity="effect_points")
    assert fig2.axes[0].get_xlabel().endswith("(item points)")
    fig3 = mock_items_fit.plot_moderation(None, coords={"item": ["apparent_sadness", "inner_tension"]})
    check_bands(fig3)
    for f in (fig, fig2, fig3):
        plt.close(f)


def test_sweep_ticks_are_numbers_and_legend_outside(tmp_path):
    rows = []
    for i, (value, method) in enumerate([(0.5, "reweighted"), (1.5, "reweighted"), (6.0, "base"), (24.0, "refit")]):
        for day in (1.0, 14.0):
            rows.append({"setting": i, "moderation_sigma": value, "method": method, "khat": 0.1, "seed": 0,
                         "quantity": "moderation", "day": day, "moderator": "msm", "mean": 0.3 * i, "sd": 0.2,
                         "lower": 0.3 * i - 0.4, "upper": 0.3 * i + 0.4})
    table = pd.DataFrame(rows)
    table.attrs["base_priors"] = {"moderation_sigma": 6.0}
    fig = bk.plot_sweep(table, "moderation", tmp_path / "sweep.png")
    ax = fig.axes[0]
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert labels == ["0.5", "1.5", "6", "24"], labels
    assert ax.get_xscale() == "log"
    legend = ax.get_legend()
    box = legend.get_window_extent()
    assert box.x0 >= ax.get_window_extent().x1 - 1, "the legend overlaps the axes"
    texts = legend_texts(fig)
    assert {"day 1, moderator msm", "day 14, moderator msm", "base fit", "95% credible interval"} <= texts
    plt.close(fig)


def test_figure_suffix_is_checked(saline_fit):
    with pytest.raises(bk.BayesKetError, match="suffix"):
        saline_fit.plot_effect("effect.jpg")
    assert np.isfinite(saline_fit.meta["moderator_range"]["msm"]).all()
