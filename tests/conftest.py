"""Shared fixtures. Layers: the fast layer samples nothing (mock draws through the real
post-processing); ``integration`` tests run small real samplings; ``slow`` tests are the
statistical checks (recovery, coverage, SBC, real data). Fast layer alone:
``pytest -m "not integration and not slow" -n 2`` (two workers, pytest-xdist)."""

import warnings

import pytest

import bayes_ket as bk

TINY = {"draws": 150, "tune": 150, "chains": 2, "progressbar": False}
MOCK = {"draws": 60, "chains": 2, "progressbar": False, "engine": "mock"}


def quiet(fn, *args, **kwargs):
    """Call fn with every warning silenced (for fixtures whose warnings are not under test)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


@pytest.fixture(scope="session")
def pooled_trial():
    return bk.simulate("pooled_rct", seed=0)


@pytest.fixture(scope="session")
def trajectory_analysis(pooled_trial):
    return bk.Analysis("trajectory", pooled_trial)


@pytest.fixture(scope="session")
def mock_fit(trajectory_analysis):
    """Mock draws of the trajectory model through the real post-processing (no sampler)."""
    return trajectory_analysis.sample(seed=1, **MOCK)


@pytest.fixture(scope="session")
def small_items_trial():
    return bk.simulate("pooled_rct", seed=3, n_patients=40)


@pytest.fixture(scope="session")
def mock_items_fit(small_items_trial):
    return bk.Analysis("items", small_items_trial).sample(seed=1, **MOCK)


@pytest.fixture(scope="session")
def tiny_fit(pooled_trial):
    """One small real sampling of the trajectory model, shared by the integration tests."""
    return quiet(bk.fit, "trajectory", pooled_trial, seed=1, **TINY)
