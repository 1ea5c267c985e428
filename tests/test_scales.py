import numpy as np
import pandas as pd
import pytest

from bayes_ket import scales
from bayes_ket.errors import BayesKetError


def test_madrs_items_exact():
    assert scales.MADRS_ITEMS == (
        "apparent_sadness", "reported_sadness", "inner_tension", "reduced_sleep", "reduced_appetite",
        "concentration_difficulties", "lassitude", "inability_to_feel", "pessimistic_thoughts",
        "suicidal_thoughts",
    )
    assert scales.MADRS_ITEM_RANGE == (0, 6) and scales.MADRS_RANGE == (0, 60)


def test_ranges_and_thresholds():
    assert scales.GAD7_N_ITEMS == 7 and scales.GAD7_ITEM_RANGE == (0, 3) and scales.GAD7_RANGE == (0, 21)
    assert scales.HRSD17_RANGE == (0, 52)
    assert scales.REMISSION_THRESHOLDS == {"madrs_total": 10, "hrsd17_total": 7, "gad7_total": 4}


@pytest.mark.parametrize(
    "fn, scores, expected",
    [
        (scales.madrs_band, [0, 6, 7, 19, 20, 34, 35, 60], ["none", "none", "mild", "mild", "moderate", "moderate", "severe", "severe"]),
        (scales.gad7_band, [4, 5, 9, 10, 14, 15, 21], ["minimal", "mild", "mild", "moderate", "moderate", "severe", "severe"]),
        (scales.hrsd17_band, [7, 8, 17, 24], ["none", "mild", "moderate", "severe"]),
        (scales.msm_band, [3, 6, 7, 10, 11, 15], ["mild", "mild", "moderate", "moderate", "severe", "severe"]),
    ],
)
def test_bands(fn, scores, expected):
    assert list(fn(scores)) == expected


def test_band_kinds_and_errors():
    assert scales.madrs_band(25) == "moderate"
    assert scales.madrs_band(np.nan) is None
    s = scales.madrs_band(pd.Series([3, 40], index=[5, 9]))
    assert list(s.index) == [5, 9] and list(s) == ["none", "severe"]
    with pytest.raises(BayesKetError, match="outside 0-60"):
        scales.madrs_band([61])


def test_hrsd17_to_madrs_anchors():
    x = np.array([0, 10, 20, 30, 40, 52])
    np.testing.assert_allclose(scales.hrsd17_to_madrs(x), [0, 13, 26, 39, 52.5, 60])
    assert scales.hrsd17_to_madrs(15) == pytest.approx(19.5)
    assert isinstance(scales.hrsd17_to_madrs(15), float)
    out = scales.hrsd17_to_madrs(np.arange(53))
    assert np.all(np.diff(out) > 0) and out.max() == 60


def test_hrsd17_to_madrs_kinds_and_nan():
    s = pd.Series([20.0, np.nan], index=["a", "b"], name="hrsd")
    out = scales.hrsd17_to_madrs(s)
    assert isinstance(out, pd.Series) and list(out.index) == ["a", "b"]
    assert out["a"] == 26 and np.isnan(out["b"])
    assert np.isnan(scales.hrsd17_to_madrs(np.nan))
    with pytest.raises(BayesKetError, match="0-52"):
        scales.hrsd17_to_madrs([53])


def test_hrsd17_to_madrs_user_table():
    assert scales.hrsd17_to_madrs(5, table={0: 0, 10: 20}) == 10
    table = pd.DataFrame({"hrsd": [0, 52], "madrs": [0, 60]})
    assert scales.hrsd17_to_madrs(26, table=table) == pytest.approx(30)
    with pytest.raises(BayesKetError, match="table"):
        scales.hrsd17_to_madrs(5, table={3: 4})


def test_msm_score():
    # 13-24 months (2) + severe (4) + 5 failed (3) + augmentation (1) + no ECT (0)
    assert scales.msm_score(18, "severe", 5, True, False) == 10
    assert scales.msm_score(6, 1, 1, 0, 0) == 3
    assert scales.msm_score(36, "severe_psychotic", 11, 1, 1) == 15
    assert scales.msm_score(12, 2, 0, 0, 0) == scales.msm_score(12, 2, 2, 0, 0)  # 0 failed scored as 1-2
    for months, level in [(12, 1), (13, 2), (24, 2), (25, 3)]:
        assert scales.msm_score(months, 1, 1, 0, 0) == 2 + level
    for failed, level in [(2, 1), (3, 2), (4, 2), (6, 3), (7, 4), (10, 4), (11, 5)]:
        assert scales.msm_score(1, 1, failed, 0, 0) == 2 + level


def test_msm_score_vectorised():
    out = scales.msm_score([6, 30, np.nan], ["mild", "severe_psychotic", "mild"], [11, 3, 1], [1, 0, 0], [0, 1, 0])
    np.testing.assert_array_equal(out[:2], [9, 11])
    assert np.isnan(out[2])
    s = scales.msm_score(pd.Series([25, 5], index=[3, 4]), 3, 3, 0, 0)
    assert list(s.index) == [3, 4] and list(s) == [8, 6]


@pytest.mark.parametrize(
    "args, match",
    [((12, "very bad", 1, 0, 0), "severity"), ((12, 6, 1, 0, 0), "severity"), ((-1, 2, 1, 0, 0), "duration"),
     ((12, 2, -2, 0, 0), "failed"), ((12, 2, 1, 2, 0), "augmentation")],
)
def test_msm_score_errors(args, match):
    with pytest.raises(BayesKetError, match=match):
        scales.msm_score(*args)


def test_response_remission_improvement():
    assert scales.percent_improvement(30, 15) == 50
    assert scales.responded(30, 15) is True and scales.responded(30, 16) is False
    assert scales.responded(np.nan, 3) is pd.NA
    np.testing.assert_array_equal(scales.responded([30, 30, np.nan, 0], [16, 15, 3, 0]), [0, 1, np.nan, np.nan])
    r = scales.responded(pd.Series([30.0, 30.0]), pd.Series([10.0, np.nan]))
    assert r.dtype == "boolean" and r[0] and r.isna()[1]
    assert scales.remitted(10) is True and scales.remitted(11) is False
    assert scales.remitted(9, threshold=9) is True and scales.remitted(10, threshold=9) is False
    np.testing.assert_array_equal(scales.remitted([9, 11, np.nan]), [1, 0, np.nan])
    p = scales.percent_improvement(pd.Series([20, 0]), pd.Series([10, 5]))
    assert p[0] == 50 and np.isnan(p[1])
