"""Any rating scale through the families: registry-driven outcomes, remission precedence, a user's own
scale end to end, baseline as a covariate, percent improvement, categorical moderators, items of
other scales (issue: any rating scale, percent improvement, baseline-adjusted analyses)."""

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pandas as pd
import pytest

import bayes_ket as bk

from conftest import MOCK, TINY, quiet


def two_arm_trial(scale="bdi2", n=40, days=(0, 7, 14), seed=0, effect=-6.0):
    """A two-arm trial on any registered scale's total (rounded and clipped to its range)."""
    lo, hi = bk.scales.get(scale).range
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        arm, base, site = i % 2, rng.normal(0.55 * hi, 0.1 * hi), ["north", "south", "east"][i % 3]
        for d in days:
            y = base + (d > 0) * (-0.1 * hi + arm * effect) + rng.normal(0, 0.05 * hi)
            rows.append({"patient": f"P{i:02d}", "arm": ["Placebo", "Ketamine"][arm], "day": d,
                         "smoker": ["no", "yes"][i % 2 if i % 4 else 0], "site": site,
                         f"{scale}_total": float(np.clip(np.round(y), lo, hi))})
    return bk.read_trial(pd.DataFrame(rows))


@pytest.fixture(scope="module")
def bdi_trial():
    return two_arm_trial("bdi2")


def test_registry_drives_range_priors_and_remission(bdi_trial):
    a = bk.Analysis("trajectory", bdi_trial, outcome="bdi2_total", moderators=())
    assert a.design.remission_threshold == bk.scales.get("bdi2").remission == 13
    assert a.base_priors["effect_sigma"] == pytest.approx(0.25 * 63)  # scaled to BDI-II's 0-63
    fit = quiet(a.sample, seed=0, **MOCK)
    assert fit.meta["outcome_label"] == "BDI-II total" and fit.meta["remission_threshold"] == 13


def test_remission_precedence_argument_over_card_over_registry(bdi_trial):
    assert bk.Analysis("trajectory", bdi_trial, outcome="bdi2_total", moderators=(),
                       remission_threshold=9).design.remission_threshold == 9
    card = bk.cards.load_card("trajectory").to_dict()
    card["settings"]["remission_threshold"] = {"bdi2_total": 11}
    assert bk.Analysis(card, bdi_trial, outcome="bdi2_total", moderators=()).design.remission_threshold == 11
    assert bk.Analysis(card, bdi_trial, outcome="bdi2_total", moderators=(),
                       remission_threshold=7).design.remission_threshold == 7


def test_a_registered_user_scale_works_end_to_end(tmp_path):
    bk.scales.register(bk.scales.Scale(name="mytool", range=(0, 40), remission=8), replace=True)
    try:
        trial = two_arm_trial("mytool")
        assert "mytool_total" in trial.outcomes and "mytool_total" not in trial.moderators
        fit = quiet(bk.Analysis("trajectory", trial, outcome="mytool_total", moderators=()).sample, seed=0, **MOCK)
        s = quiet(fit.summary)
        assert {"effect", "remission_rate", "percent_improvement"} <= set(s["quantity"])
        assert fit.meta["remission_threshold"] == 8 and fit.meta["outcome_label"] == "mytool total"
        fig = fit.plot_ppc(tmp_path / "ppc.png")
        assert any("mytool" in ax.get_ylabel() for ax in fig.axes)
    finally:
        bk.scales.unregister("mytool")


def test_baseline_covariate_structure(pooled_trial):
    a = bk.Analysis("trajectory", pooled_trial, baseline="covariate")
    d = a.design
    assert (d.rows["day"] > 0).all() and d.baseline_rows > 0
    assert "baseline_coef" in a.model.named_vars
    fit = quiet(a.sample, seed=0, **MOCK)
    assert fit.meta["rows_used"] + len(fit.meta["rows_excluded"]) == len(pooled_trial.frame)
    s = quiet(fit.summary)
    assert 0.0 not in set(s.loc[s.quantity == "mean_trajectory", "day"])
    assert {"effect", "response_rate", "percent_difference"} <= set(s["quantity"])


def test_baseline_covariate_without_baseline_fails_fast_before_compiling(tmp_path):
    """The check runs in the design, before PyMC builds or JAX compiles anything."""
    script = tmp_path / "check.py"
    script.write_text(textwrap.dedent("""
        import time, pandas as pd
        import bayes_ket as bk
        f = bk.simulate("pooled_rct", seed=0).frame
        trial = bk.TrialData(f[f.day > 0])
        t0 = time.perf_counter()
        try:
            bk.fit("trajectory", trial, baseline="covariate")
        except bk.BayesKetError as e:
            import sys
            print(f"{time.perf_counter() - t0:.3f}", "jax" in sys.modules, "No baseline" in str(e))
    """))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True).stdout.split()
    assert float(out[0]) < 2.0 and out[1] == "False" and out[2] == "True", out


def test_percent_outcome_signs_and_floor_rule():
    trial = two_arm_trial("madrs", effect=-8.0)
    frame = trial.frame.copy()
    first = frame["patient"].iloc[0]
    frame.loc[(frame.patient == first) & (frame.day == 0), "madrs_total"] = 0.0  # a baseline at the floor
    a = bk.Analysis("trajectory", bk.TrialData(frame), outcome_scale="percent", moderators=())
    excluded = a.design.exclusions.table()
    assert (excluded["patient"] == first).all() and excluded["reason"].str.contains("floor").all()
    assert a.base_priors["effect_sigma"] == pytest.approx(0.25 * 100)  # percent points
    with pytest.raises(bk.BayesKetError, match="percent improvement is 0 at baseline"):
        bk.Analysis("trajectory", trial, outcome_scale="percent", baseline="outcome")


@pytest.mark.integration
def test_percent_effect_is_positive_for_benefit():
    trial = two_arm_trial("madrs", effect=-8.0, n=60)
    fit = quiet(bk.fit, "trajectory", trial, outcome_scale="percent", moderators=(), seed=1, **TINY)
    eff = quiet(fit.summary).query("quantity == 'effect'")
    assert (eff["mean"] > 0).all() and eff["prob_positive"].min() > 0.9


def test_categorical_moderators_are_coded_reported_and_labelled(bdi_trial):
    assert bdi_trial.codings["smoker"].kind == "binary" and bdi_trial.codings["site"].kind == "categorical"
    report = str(bdi_trial.report())
    assert "smoker" in report and "site" in report
    a = bk.Analysis("trajectory", bdi_trial, outcome="bdi2_total", moderators=("smoker", "site"))
    fit = quiet(a.sample, seed=0, **MOCK)
    labels = fit.meta["moderators"]
    assert labels[0] == bdi_trial.codings["smoker"].label == "smoker: yes vs no"
    assert labels[1:] == ["site: north vs east", "site: south vs east"]  # indicators against the reference
    s = quiet(fit.summary)
    assert set(s.loc[s.quantity == "moderation", "moderator"]) == set(labels)
    by_label = fit.conditional_effect("smoker", values=("no", "yes"))
    by_code = fit.conditional_effect("smoker", values=(0, 1))
    np.testing.assert_allclose(by_label["mean"], by_code["mean"])
    sites = fit.conditional_effect("site", values=("east", "north", "south"))
    assert len(sites) == 3 * len(s[s.quantity == "effect"])
    assert fit.prob("moderation", ">", 0, moderator="smoker").shape == (2,)  # the column name selects its term


def test_a_categorical_moderator_is_never_silently_left_out(bdi_trial):
    assert {"smoker", "site"} <= set(bdi_trial.moderators)


def _items_trial(scale, n=40, seed=0):
    s = bk.scales.get(scale)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        level = rng.normal(0, 0.8)
        for d in (0, 7, 14):
            eta = level - (d > 0) * (0.4 + 0.8 * (i % 2))
            row = {"patient": f"P{i:02d}", "arm": i % 2, "day": d}
            for (_, (lo, hi)), col in zip(s.items, s.item_columns):
                row[col] = float(np.clip(np.round((lo + hi) / 2 + eta + rng.normal(0, 0.8)), lo, hi))
            rows.append(row)
    return bk.read_trial(pd.DataFrame(rows))


def test_items_of_a_scale_with_mixed_item_ranges_build():
    """HRSD-17 has 0-4 and 0-2 items: one ordered cutpoint matrix per group, finite log density."""
    a = bk.Analysis("items", _items_trial("hrsd17"), scale="hrsd17", moderators=())
    assert sorted(J for J, _ in a.design.groups) == [2, 4]
    assert {"cutpoints_2", "cutpoints_4"} <= set(a.model.named_vars)
    assert np.isfinite(a.model.compile_logp()(a.model.initial_point()))
    fit = quiet(a.sample, seed=0, **MOCK)
    counts = fit.idata.posterior_predictive["item_counts_rep"]
    obs = np.asarray(fit.meta["observed_item_counts"])
    assert np.all(counts.sum("category").values == obs.sum(1)[None, None, :])
    assert list(fit.draws("effect")["item"].values) == list(bk.scales.get("hrsd17").item_names)


@pytest.mark.integration
def test_items_family_runs_on_gad7_items(tmp_path):
    fit = quiet(bk.fit, "items", _items_trial("gad7", n=60), scale="gad7", moderators=(), seed=2, **TINY)
    s = quiet(fit.summary)
    eff = s[s.quantity == "effect"]
    assert list(eff["item"]) == list(bk.scales.get("gad7").item_names)
    assert eff["mean"].mean() < 0  # ketamine arm improves more in the generator
    mt = s[s.quantity == "mean_trajectory"]
    assert mt["mean"].between(0, 21).all()
    fit.plot_ppc(tmp_path / "gad7.png")
    assert fit.diagnostics()["divergences"] <= 5


def test_items_default_is_still_madrs(small_items_trial):
    d = bk.Analysis("items", small_items_trial).design
    assert d.scale == "madrs" and d.item_names == bk.scales.MADRS_ITEMS and d.groups[0][0] == 6
