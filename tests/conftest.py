import warnings

import pytest

import bayes_ket as bk

TINY = {"draws": 150, "tune": 150, "chains": 2, "progressbar": False}


@pytest.fixture(scope="session")
def pooled_trial():
    return bk.simulate("pooled_rct", seed=0)


@pytest.fixture(scope="session")
def tiny_fit(pooled_trial):
    """One small real sampling of the trajectory model, shared by the API tests."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bk.fit("trajectory", pooled_trial, seed=1, **TINY)
