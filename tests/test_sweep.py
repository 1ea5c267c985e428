"""bk.sweep: compile once, resume after interruption, PSIS reweighting vs refits, a loaded fit as
base, Dask, figure."""

import warnings

import numpy as np
import pandas as pd
import pytest

import bayes_ket as bk
from bayes_ket.errors import BayesKetError
from bayes_ket.plots import plot_sweep
from bayes_ket.sweeps import clear_analyses, expand_grid, setting_seed, sweep
from bayes_ket.sweeps.execute import ANALYSES, AnalysisCache

SMALL = {"draws": 200, "tune": 200, "chains": 2, "seed": 3, "progressbar": False}


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def test_grid_forms_and_seeds():
    assert expand_grid({"a": [1, 2], "b": [3]}) == [{"a": 1.0, "b": 3.0}, {"a": 2.0, "b": 3.0}]
    assert expand_grid([{"a": 1}, {"b": 2}]) == [{"a": 1.0}, {"b": 2.0}]
    with pytest.raises(BayesKetError):
        expand_grid(["a"])
    base = {"a": 1.0, "b": 2.0}
    assert setting_seed(7, base, base) == 7
    s1 = setting_seed(7, {"a": 3.0, "b": 2.0}, base)
    assert s1 == setting_seed(7, {"b": 2.0, "a": 3.0}, base) != setting_seed(8, {"a": 3.0, "b": 2.0}, base)


def test_analysis_cache_is_bounded_and_clearable():
    cache = AnalysisCache(maxsize=2)
    built = []
    for key in ("a", "b", "a", "c"):
        cache.get(key, lambda k=key: built.append(k) or k)
    assert built == ["a", "b", "c"] and len(cache) == 2  # "b" (least recently used) was dropped
    cache.get("b", lambda: built.append("b") or "b")
    assert built[-1] == "b"
    cache.clear()
    assert len(cache) == 0


def test_unknown_prior_name_is_refused(pooled_trial):
    with pytest.raises(BayesKetError, match="moderation_sigma"):
        sweep("trajectory", pooled_trial, {"moderation_sd": [1.0]}, **SMALL)


@pytest.mark.integration
def test_refit_compiles_once_and_resumes_after_interruption(pooled_trial, tmp_path):
    clear_analyses()  # a fresh Analysis: its sampler must compile exactly once
    assert len(ANALYSES) == 0
    grid = {"moderation_sigma": [3.0, 6.0, 12.0]}
    full = sweep("trajectory", pooled_trial, grid, out=tmp_path / "full", method="refit", **SMALL)
    assert full.attrs["compilations"] == 1
    assert full.attrs["fitted"] == 3 and full.attrs["loaded"] == 0
    assert (full.drop_duplicates("setting")["method"] == ["refit", "base", "refit"]).all()
    assert full.groupby("setting").size().nunique() == 1
    assert (tmp_path / "full" / "sweep.parquet").exists()

    class Killed(RuntimeError):
        pass

    def kill_after_two(index, rows):
        if index == 1:
            raise Killed

    with pytest.raises(Killed):
        sweep("trajectory", pooled_trial, grid, out=tmp_path / "cut", method="refit", on_setting=kill_after_two,
              **SMALL)
    assert len(list((tmp_path / "cut").glob("*.parquet"))) == 2
    resumed = sweep("trajectory", pooled_trial, grid, out=tmp_path / "cut", method="refit", **SMALL)
    assert resumed.attrs["loaded"] == 2 and resumed.attrs["fitted"] == 1
    assert resumed.attrs["compilations"] == 0
    pd.testing.assert_frame_equal(resumed, full)
    # nothing missing: a third run fits nothing
    again = sweep("trajectory", pooled_trial, grid, out=tmp_path / "cut", method="refit", **SMALL)
    assert again.attrs["fitted"] == 0
    pd.testing.assert_frame_equal(again, full)


@pytest.mark.integration
def test_auto_reweights_close_settings_and_refits_far_ones(pooled_trial, tmp_path):
    base = 6.0  # moderation_sigma default: 0.1 x range 60
    grid = {"moderation_sigma": [base, base * 1.25, base * 0.02]}
    auto = sweep("trajectory", pooled_trial, grid, method="auto", **SMALL)
    per = auto.drop_duplicates("setting").set_index("setting")
    assert list(per["method"]) == ["base", "reweighted", "refit"]
    assert per.loc[1, "khat"] < 0.7 and per.loc[2, "khat"] > 0.7
    assert auto.attrs["refit"] == 1 and auto.attrs["reweighted"] == 1 and auto.attrs["fitted"] == 2
    refit = sweep("trajectory", pooled_trial, [{"moderation_sigma": base * 1.25}], method="refit", **SMALL)
    rw = auto[auto["setting"] == 1].reset_index(drop=True)
    assert (rw["r_hat"].notna()).all() and (rw["ess_bulk"] > 0).all()
    for q in ("effect", "moderation", "mean_trajectory", "response_rate"):
        a, b = rw[rw["quantity"] == q], refit[refit["quantity"] == q]
        se = np.sqrt(a["sd"].to_numpy() ** 2 / a["ess_bulk"].to_numpy() + b["sd"].to_numpy() ** 2 / b["ess_bulk"].to_numpy())
        z = np.abs(a["mean"].to_numpy() - b["mean"].to_numpy()) / se
        assert np.all(z < 4.5), (q, z)
        assert np.allclose(a["sd"], b["sd"], rtol=0.35), q
    # the far setting was refit: its moderation shrinks towards 0 with the tight prior
    far = auto[(auto["setting"] == 2) & (auto["quantity"] == "moderation")]
    assert far["sd"].max() < 0.3 * auto[(auto["setting"] == 0) & (auto["quantity"] == "moderation")]["sd"].min()

    fig = plot_sweep(auto, ["moderation", "effect"], path=tmp_path / "sweep.png", coords={"day": [7.0, 14.0]})
    assert (tmp_path / "sweep.png").stat().st_size > 5000
    assert len(fig.axes) == 2


@pytest.mark.integration
def test_sweep_based_on_a_loaded_fit(pooled_trial, tmp_path):
    """bk.sweep(fit, grid=...): the fit (here read back from disk) is the base; its draws are reweighted."""
    fit = bk.fit("trajectory", pooled_trial, **SMALL)
    fit.save(tmp_path / "fit.nc")
    loaded = bk.load_fit(tmp_path / "fit.nc")
    base = fit.priors["moderation_sigma"]
    table = sweep(loaded, grid={"moderation_sigma": [base, base * 1.2]})
    per = table.drop_duplicates("setting").set_index("setting")
    assert list(per["method"]) == ["base", "reweighted"]
    assert table.attrs["fitted"] == 0  # nothing sampled: the loaded draws answer both settings
    direct = sweep(fit, grid={"moderation_sigma": [base, base * 1.2]})
    pd.testing.assert_frame_equal(table, direct)
    base_rows = table[table["setting"] == 0].reset_index(drop=True)
    from bayes_ket.results import summary_table

    s = summary_table(fit)
    np.testing.assert_allclose(base_rows["mean"], s["mean"])


@pytest.mark.integration
def test_dask_local_cluster(pooled_trial):
    distributed = pytest.importorskip("dask.distributed")
    grid = {"moderation_sigma": [3.0, 6.0]}
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cl, \
            distributed.Client(cl) as client:
        remote = sweep("trajectory", pooled_trial, grid, scheduler=client, method="refit", **SMALL)
    assert remote.attrs["compilations"] == 1  # one worker: one Analysis serving both settings
    local = sweep("trajectory", pooled_trial, grid, method="refit", **SMALL)
    pd.testing.assert_frame_equal(remote, local, check_exact=False, rtol=1e-6)
