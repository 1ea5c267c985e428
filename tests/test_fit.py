"""The fit API on small real samplings: what mock draws cannot show."""

import gc
import sys

import numpy as np
import pytest

import bayes_ket as bk
from bayes_ket.engine.jax_nuts import COMPILATIONS

from conftest import TINY, quiet

pytestmark = pytest.mark.integration


def test_effect_sign_and_rates_are_plausible(tiny_fit):
    s = quiet(tiny_fit.summary)
    eff1 = s[(s.quantity == "effect") & (s.day == 1.0)].iloc[0]
    assert eff1["upper"] < 0  # simulated ketamine benefit at day 1 is ~ -8.8 points
    rr = s[(s.quantity == "response_rate") & (s.day == 1.0)].set_index("arm")["mean"]
    assert rr["ketamine"] > rr["control"]
    assert ((s.loc[s.quantity.str.endswith("_rate"), "mean"]).between(0, 1)).all()
    d = tiny_fit.diagnostics()
    assert d["divergences"] == 0 and d["treedepth_max_share"] == 0
    assert d["warmup_gradients"] > 0 and d["draw_gradients"] > 0


def test_prior_change_does_not_recompile(pooled_trial):
    a = bk.Analysis("trajectory", pooled_trial, moderators=())
    before = COMPILATIONS["count"]
    f1 = quiet(a.sample, seed=3, **TINY)
    f2 = quiet(a.sample, seed=3, priors={"effect_sigma": 0.5}, **TINY)
    f3 = quiet(a.sample, seed=3, **TINY)
    assert COMPILATIONS["count"] - before == 1
    assert f2.priors["effect_sigma"] == 0.5
    # tight prior shrinks the effect; same seed + same priors reproduces exactly
    assert abs(float(f2.draws("effect").mean())) < abs(float(f1.draws("effect").mean()))
    np.testing.assert_array_equal(f1.draws("effect"), f3.draws("effect"))


def test_compare_uses_patient_loo(tiny_fit, pooled_trial):
    log_time = quiet(bk.fit, "trajectory", pooled_trial, time="log", seed=2, **TINY)
    table = quiet(bk.compare, {"visit": tiny_fit, "log": log_time})
    assert set(table.index) == {"visit", "log"} and "elpd_loo" in table
    assert tiny_fit.loo().n_data_points == pooled_trial.n_patients


def test_single_arm_log_time():
    trial = bk.simulate("open_label", seed=0)
    fit = quiet(bk.fit, "trajectory", trial, time="log", moderators=("hb3_change",), **TINY)
    s = quiet(fit.summary)
    assert "effect" not in set(s.quantity) and "moderation" not in set(s.quantity)
    assert {"mean_trajectory", "moderator_effect", "response_rate"} <= set(s.quantity)
    assert fit.meta["rows_used"] + len(fit.meta["rows_excluded"]) == len(trial.frame)


def _memory_maps() -> int:
    gc.collect()
    with open("/proc/self/maps") as f:
        return sum(1 for _ in f)


def test_fits_in_a_loop_release_their_compiled_code(pooled_trial):
    """bk.fit drops the compiled code when it returns: dozens of fits in one process otherwise
    exhaust Linux's memory maps (~1,000-3,000 a model against vm.max_map_count 65,530) and crash.
    A held Analysis keeps its compiled sampler (no new compilation after other fits)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("counts /proc/self/maps, which only Linux has")
    a = bk.Analysis("trajectory", pooled_trial, moderators=())
    quiet(a.sample, seed=1, **TINY)
    quiet(bk.fit, "trajectory", pooled_trial, moderators=(), seed=1, **TINY)  # everything imported and warm
    before = _memory_maps()
    for n in (40, 50, 60):  # three new shapes: three new compilations
        quiet(bk.fit, "trajectory", bk.simulate("pooled_rct", seed=0, n_patients=n), moderators=(), seed=1, **TINY)
    assert _memory_maps() - before < 500  # ~900 or more per model when the code stays mapped
    compiled = COMPILATIONS["count"]
    quiet(a.sample, seed=2, **TINY)
    assert COMPILATIONS["count"] == compiled
