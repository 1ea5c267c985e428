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
    # the registry is the one table of thresholds
    assert not hasattr(scales, "REMISSION_THRESHOLDS")
    assert {n: scales.get(n).remission for n in ("madrs", "hrsd17", "gad7")} == {"madrs": 10, "hrsd17": 7, "gad7": 4}


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


def test_percent_improvement_one_rule():
    # 100 (baseline - score) / (baseline - floor): positive = improvement
    assert scales.percent_improvement(30, 12) == 60 and scales.percent_improvement(20, 25) == -25
    assert scales.percent_improvement(7, 4, floor=1) == 50  # CGI-S: floor 1
    assert np.isnan(scales.percent_improvement(0, 0)) and np.isnan(scales.percent_improvement(1, 1, floor=1))
    assert scales.percent_improvement_reason(0) == "baseline at the scale floor (0): percent improvement undefined"
    assert scales.percent_improvement_reason(1, 1, floor=1) == "baseline at the scale floor (1): percent improvement undefined"
    assert scales.percent_improvement_reason(20, 5) is None
    assert list(scales.percent_improvement_reason([20, np.nan, 0, 20], [5, 5, 5, np.nan])) == [
        None, "baseline missing", "baseline at the scale floor (0): percent improvement undefined", "score missing"]
    r = scales.percent_improvement_reason(pd.Series([0, 10], index=["a", "b"]))
    assert list(r.index) == ["a", "b"] and r["b"] is None


def test_responded_follows_the_percent_rule():
    # a baseline at the floor is neither response nor non-response (it used to count as one in simulate)
    assert scales.responded(0, 0) is pd.NA
    assert scales.responded(7, 4, scale="cgis", reduction=0.5) is True  # (7-4)/(7-1) = 50 %
    assert scales.responded(7, 5, scale="cgis", reduction=0.5) is False
    with pytest.raises(BayesKetError, match="no response definition"):
        scales.responded(7, 4, scale="cgis")
    assert scales.responded(20, 10, scale="bdi2") is True and scales.responded(20, 11, scale="bdi2") is False
    assert scales.responded(30, 20, reduction=1 / 3) is True
    from bayes_ket.simulate import _common as C

    np.testing.assert_array_equal(C.responded([0, 30, 30, np.nan], [0, 15, 16, 3]), [np.nan, 1, 0, np.nan])


def test_remitted_defaults_from_the_registry():
    assert scales.remitted(13, scale="bdi2") is True and scales.remitted(14, scale="bdi2") is False
    assert scales.remitted(4, scale="phq9") is True and scales.remitted(5, scale="phq9") is False
    assert scales.remitted(2, scale="cgis") is True and scales.remitted(3, scale="cgis") is False
    assert scales.remitted(7, scale="hama") is True and scales.remitted(5, scale="qids_sr16") is True
    assert scales.remitted(10, threshold=9, scale="bdi2") is False  # threshold wins


# ---- the registry -----------------------------------------------------------------
BUILTIN = {
    # name: (range, remission, response, n items, total_from_items, band cut-offs (lowest score of each band))
    "madrs": ((0, 60), 10, 0.5, 10, "sum", [0, 7, 20, 35]),
    "hrsd17": ((0, 52), 7, 0.5, 17, "sum", [0, 8, 17, 24]),
    "gad7": ((0, 21), 4, 0.5, 7, "sum", [0, 5, 10, 15]),
    "bdi2": ((0, 63), 13, 0.5, 21, "sum", [0, 14, 20, 29]),
    "qids_sr16": ((0, 27), 5, 0.5, 16, None, [0, 6, 11, 16, 21]),
    "phq9": ((0, 27), 4, 0.5, 9, "sum", [0, 5, 10, 15, 20]),
    "hama": ((0, 56), 7, 0.5, 14, "sum", [0, 8, 15, 24]),
    "cgis": ((1, 7), 2, None, 0, None, [1, 2, 3, 4, 5, 6, 7]),
}


@pytest.mark.parametrize("name", list(BUILTIN))
def test_builtin_scales(name):
    rng, remission, response, n_items, rule, cuts = BUILTIN[name]
    s = scales.get(name)
    assert (s.name, s.range, s.remission, s.response, len(s.items), s.total_from_items) == (
        name, rng, remission, response, n_items, rule)
    assert [b[1] for b in s.bands] == cuts and s.bands[-1][2] == rng[1]
    assert s.direction == "higher_is_worse" and s.floor == rng[0] and s.source and s.label
    assert s.total_column == f"{name}_total" and scales.for_column(f"{name}_total") is s
    if n_items:
        assert s.item_columns[-1] == f"{name}_{n_items}" and scales.for_column(f"{name}_{n_items}") is s
        if rule == "sum":
            assert sum(r[1] for _, r in s.items) == rng[1]
    assert name in scales.names() and name in scales.builtin_names()


def test_builtin_details():
    assert scales.get("madrs").item_names == scales.MADRS_ITEMS and scales.get("madrs").label == "MADRS total"
    assert scales.get("bdi2").label == "BDI-II total" and scales.get("cgis").floor == 1
    h = scales.get("hrsd17")
    assert h.item_range("hrsd17_1") == (0, 4) and h.item_range("hrsd17_4") == (0, 2)
    assert sorted({r for _, r in h.items}) == [(0, 2), (0, 4)]
    assert scales.get("HAM-D") is h and scales.get("BDI-II").name == "bdi2" and scales.get("CGI-S").name == "cgis"
    assert scales.get(h) is h
    assert scales.for_column("madrs_11") is None and scales.for_column("age") is None
    assert scales.claimed_item("madrs_11").name == "madrs" and scales.claimed_item("cgis_1").name == "cgis"
    assert list(scales.band([13, 14, 63], "bdi2")) == ["minimal", "mild", "severe"]


def test_unknown_scale():
    with pytest.raises(BayesKetError, match="No scale 'nope'.*register"):
        scales.get("nope")


@pytest.fixture
def mytool():
    tool = scales.Scale(name="mytool", range=(0, 40), remission=8, items=[("a", (0, 20)), ("b", (0, 20))],
                        total_from_items="sum", source="in-house")
    yield scales.register(tool)
    scales.unregister("mytool")


def test_register_and_use(mytool):
    assert scales.get("mytool") is mytool and "mytool" in scales.names() and "mytool" not in scales.builtin_names()
    assert mytool.floor == 0 and mytool.label == "mytool total" and mytool.response == 0.5
    assert scales.for_column("mytool_2") is mytool and scales.remitted(8, scale="mytool") is True
    assert scales.register(scales.Scale(name="mytool", range=(0, 40), remission=8, items={"a": (0, 20), "b": (0, 20)},
                                        total_from_items="sum", source="in-house")) == mytool  # identical: fine
    with pytest.raises(BayesKetError, match="already registered.*replace=True"):
        scales.register(scales.Scale(name="mytool", range=(0, 50)))
    scales.register(scales.Scale(name="mytool", range=(0, 50)), replace=True)
    assert scales.get("mytool").range == (0, 50)


def test_register_refuses_a_builtin_clash_unless_replace():
    with pytest.raises(BayesKetError, match="'madrs' is a built-in scale.*replace=True"):
        scales.register(scales.Scale(name="madrs", range=(0, 60), remission=9))
    scales.register(scales.Scale(name="madrs", range=(0, 60), remission=9), replace=True)
    try:
        assert scales.get("madrs").remission == 9 and scales.remitted(10) is False
    finally:
        scales.unregister("madrs")
    assert scales.get("madrs").remission == 10 and scales.get("madrs") is scales.MADRS


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(name="My Tool", range=(0, 10)), "name"),
        (dict(name="tool_3", range=(0, 10)), "name"),
        (dict(name="tool", range=(10, 0)), "range"),
        (dict(name="tool", range=(0, 10), direction="higher_is_better"), "reverse-score"),
        (dict(name="tool", range=(0, 10), response=50), "response"),
        (dict(name="tool", range=(0, 10), remission=11), "remission"),
        (dict(name="tool", range=(0, 10), bands=(("low", 0, 4), ("high", 6, 10))), "bands"),
        (dict(name="tool", range=(0, 10), bands=(("low", 0, 4), ("high", 5, 9))), "bands"),
        (dict(name="tool", range=(0, 10), items=[("a", (0, 2.5))]), "item"),
        (dict(name="tool", range=(0, 10), items=[("a", (0, 5)), ("a", (0, 5))]), "twice"),
        (dict(name="tool", range=(0, 10), items=[("a", (0, 5)), ("b", (0, 4))], total_from_items="sum"), "sum to"),
        (dict(name="tool", range=(0, 10), total_from_items="sum"), "needs items"),
        (dict(name="tool", range=(0, 10), total_from_items="mean"), "total_from_items"),
    ],
)
def test_scale_fields_are_validated(kwargs, match):
    with pytest.raises(BayesKetError, match=match):
        scales.Scale(**kwargs)


def test_register_needs_a_scale():
    with pytest.raises(BayesKetError, match="takes a Scale"):
        scales.register({"name": "x"})
