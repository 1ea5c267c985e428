"""The day column of real exports: dates, visit labels, scheduled visits, windows, implausible days."""

import warnings

import numpy as np
import pandas as pd
import pytest

from bayes_ket import BayesKetWarning, read_trial
from bayes_ket.data import days
from bayes_ket.errors import BayesKetError


def jittered(n=12, seed=0):
    """n patients, baseline day 0 then 'week 1' on day 6, 7 or 8 and 'week 2' on day 13-15."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n):
        for nominal, actual in [(0, 0), (7, 7 + rng.integers(-1, 2)), (14, 14 + rng.integers(-1, 2))]:
            rows.append({"patient": f"P{p:02d}", "arm": ["ketamine", "placebo"][p % 2], "day": int(actual),
                         "scheduled_day": nominal, "madrs_total": 30 - nominal // 2, "msm": 5 + p % 7})
    return pd.DataFrame(rows)


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BayesKetWarning)
        return fn(*args, **kwargs)


# ---- dates -------------------------------------------------------------------------
def test_datetime_days_count_from_each_patients_first_assessment():
    # a datetime 'day' column used to be read as nanoseconds
    df = pd.DataFrame({
        "patient": ["A", "A", "A", "B", "B"],
        "day": pd.to_datetime(["2021-03-01", "2021-03-02", "2021-03-08", "2022-01-10", "2022-01-17"]),
        "madrs_total": [30, 20, 15, 28, 20],
    })
    t = read_trial(df)
    assert t.frame["day"].tolist() == [0, 1, 7, 0, 7]
    rep = t.report()
    assert rep.schedule["day_source"] == "dates" and "first assessment" in rep.schedule["origin"]
    assert "day read from dates: days since each patient's first assessment" in str(rep)


def test_date_strings_with_times_give_fractional_days():
    df = pd.DataFrame({"patient": ["A"] * 3, "day": ["2021-03-01 08:00", "2021-03-01 12:00", "2021-03-02 08:00"],
                       "madrs_total": [30, 22, 18]})
    assert read_trial(df).frame["day"].round(4).tolist() == [0, 0.1667, 1]


def test_non_iso_dates_need_a_format():
    df = pd.DataFrame({"patient": ["A"] * 2, "day": ["01/03/2021", "08/03/2021"], "madrs_total": [30, 20]})
    with pytest.raises(BayesKetError, match="not ISO 8601.*date_format="):
        read_trial(df)
    assert read_trial(df, date_format="%d/%m/%Y").frame["day"].tolist() == [0, 7]
    assert read_trial(df, date_format="%m/%d/%Y").frame["day"].tolist() == [0, 212]  # 3 Jan -> 3 Aug


def test_dates_per_crossover_period():
    df = pd.DataFrame({"patient": ["A"] * 4, "period": [1, 1, 2, 2], "arm": ["ketamine", "ketamine", "placebo", "placebo"],
                       "day": ["2021-03-01", "2021-03-03", "2021-04-01", "2021-04-03"], "madrs_total": [30, 20, 29, 27]})
    f = read_trial(df).frame
    assert f["day"].tolist() == [0, 2, 0, 2] and f["period"].tolist() == [1, 1, 2, 2]


def test_date_origin_column():
    df = pd.DataFrame({"patient": ["A"] * 3 + ["B"] * 2,
                       "day": ["2021-03-01", "2021-03-02", "2021-03-08", "2021-05-02", "2021-05-04"],
                       "infusion_date": ["2021-03-01"] * 3 + ["2021-05-02"] * 2, "madrs_total": [30, 20, 15, 28, 20]})
    t = read_trial(df, date_origin="infusion_date")
    assert t.frame["day"].tolist() == [0, 1, 7, 0, 2]
    assert "infusion_date" not in t.moderators and "'infusion_date'" in t.report().schedule["origin"]
    early = df.assign(day=df["day"].replace({"2021-05-02": "2021-04-30"}))
    with pytest.raises(BayesKetError, match=r"'day'.*>= 0.*rows 3 \(patients B\).*visit_windows=\{0: \(-7, 0\)"):
        read_trial(early, date_origin="infusion_date")
    t = quiet(read_trial, early, date_origin="infusion_date", visit_windows={0: (-7, 0), 1: (1, 1), 2: (2, 2), 7: (5, 9)})
    b = t.frame[t.frame["patient"] == "B"]
    assert b["day"].tolist() == [0, 2] and b["actual_day"].tolist() == [-2, 2]
    with pytest.raises(BayesKetError, match="date_origin='nope' is not a column"):
        read_trial(df, date_origin="nope")
    with pytest.raises(BayesKetError, match="date_origin.*applies to dates"):
        read_trial(df.assign(day=[0, 1, 7, 0, 2]), date_origin="infusion_date")
    with pytest.raises(BayesKetError, match="'infusion_date'.*one date per patient"):
        read_trial(df.assign(infusion_date=["2021-03-01", "2021-03-02", "2021-03-01", "2021-05-02", "2021-05-02"]),
                   date_origin="infusion_date")


# ---- labels --------------------------------------------------------------------------
def test_visit_labels_are_read_as_days():
    # "Week 1" used to be an error whose only advice was to set it missing
    labels = ["Baseline", "4h", "Day 1", "Week 1", "W2", "Month 3"]
    df = pd.DataFrame({"patient": "A", "day": labels, "madrs_total": [30, 25, 22, 18, 17, 12]})
    t = read_trial(df)
    assert t.frame["day"].round(4).tolist() == [0, 0.1667, 1, 7, 14, 90]
    rep = t.report()
    assert rep.schedule["day_source"] == "labels" and rep.schedule["labels"]["Month 3"] == 90
    assert "'Week 1' -> 7" in str(rep) and "a month counts 30 days" in str(rep)
    mixed = read_trial(df.assign(day=[0, "4 hours", 1, "week 1", 14, "month 3"]))
    assert mixed.frame["day"].round(4).tolist() == [0, 0.1667, 1, 7, 14, 90]
    assert mixed.report().schedule["day_source"] == "numbers and labels"


@pytest.mark.parametrize("label, expected", [
    ("Screening", 0), ("pre-infusion", 0), ("D7", 7), ("day_14", 14), ("Wk 2", 14), ("2 weeks", 14),
    ("M1", 30), ("24 h", 1), ("240 min", 1 / 6), ("Hour 4", 1 / 6), ("Follow-up", None), ("Week", None),
])
def test_label_rules(label, expected):
    got = days.label_day(label)
    assert got == (None if expected is None else pytest.approx(expected, abs=1e-4))


def test_unreadable_label_names_the_fixes():
    df = pd.DataFrame({"patient": "A", "day": ["Baseline", "Follow-up"], "madrs_total": [30, 20]})
    with pytest.raises(BayesKetError, match=r"'day'.*Follow-up.*rows 1.*scheduled_day.*visit_windows="):
        read_trial(df)


# ---- scheduled visits ------------------------------------------------------------------
def test_scheduled_day_column_maps_actual_days():
    df = jittered()
    t = read_trial(df)
    f = t.frame
    assert sorted(f["day"].unique()) == [0, 7, 14] and "scheduled_day" not in f
    np.testing.assert_array_equal(f["actual_day"], df.sort_values(["patient", "scheduled_day"])["day"])
    rep = t.report()
    assert rep.schedule["method"] == "scheduled_day"
    week1 = next(m for m in rep.schedule["mapped"] if m["day"] == 7)
    assert week1["actual_days"] == [6, 7, 8] and week1["rows"] == 12
    assert "day 7 <- actual days 6, 7, 8 (12 rows)" in str(rep)
    assert "actual_day" not in t.moderators


def test_scheduled_day_labels_and_missing_values():
    df = jittered().astype({"scheduled_day": object})
    df["scheduled_day"] = df["scheduled_day"].map({0: "Baseline", 7: "Week 1", 14: "Week 2"})
    df.loc[4, "scheduled_day"] = np.nan
    t = read_trial(df)
    assert sorted(t.frame["day"].unique()) == [0, 7, 14]
    assert t.report().excluded_by_reason == {"scheduled_day missing": 1}
    assert t.excluded.loc[0, "source_row"] == 4 and t.report().accounted
    assert t.report().schedule["scheduled_labels"]["Week 1"] == 7


def test_scheduled_day_without_day_column_is_the_day():
    t = read_trial(jittered().drop(columns="day"))
    assert sorted(t.frame["day"].unique()) == [0, 7, 14] and any("scheduled_day" in n for n in t.notes)


def test_scheduled_day_and_windows_together_is_an_error():
    with pytest.raises(BayesKetError, match="Both a 'scheduled_day' column and visit_windows="):
        read_trial(jittered(), visit_windows={0: (0, 0), 7: (5, 9)})


def test_visit_windows_map_exclude_and_keep_the_closest():
    df = jittered().drop(columns="scheduled_day")
    extra = pd.DataFrame([
        {"patient": "P00", "arm": "ketamine", "day": 11, "madrs_total": 20, "msm": 5},  # in no window
        {"patient": "P01", "arm": "placebo", "day": 9, "madrs_total": 21, "msm": 6},    # second visit in week 1
    ])
    df = pd.concat([df, extra], ignore_index=True)
    with pytest.warns(BayesKetWarning, match="outside every visit window"):
        t = read_trial(df, visit_windows={0: (0, 0), 7: (5, 9), 14: (12, 16)})
    f = t.frame
    assert sorted(f["day"].unique()) == [0, 7, 14]
    rep = t.report()
    reasons = t.excluded.set_index("source_row")["reason"]
    assert reasons[36] == "day 11 outside every visit window"
    assert reasons[37] == "another visit of the patient in the same window is closer to its visit day"
    p01 = f[(f["patient"] == "P01") & (f["day"] == 7)]
    assert p01["actual_day"].item() == df.loc[4, "day"]  # its original week-1 visit is closer to 7 than day 9
    assert rep.accounted and rep.schedule["windows"] == {7.0: [5.0, 9.0], 0.0: [0.0, 0.0], 14.0: [12.0, 16.0]}
    assert "visit_windows={0: (0, 0), 7: (5, 9), 14: (12, 16)}" in str(rep)


@pytest.mark.parametrize("windows, match", [
    ({0: (0, 0), 7: (5, 9), 10: (9, 11)}, "overlap"),
    ({7: (8, 9)}, "outside its window"),
    ({7: 5}, "must be a visit day and"),
    ([(5, 9)], "must be a dict"),
])
def test_bad_visit_windows(windows, match):
    with pytest.raises(BayesKetError, match=match):
        read_trial(jittered().drop(columns="scheduled_day"), visit_windows=windows)


def test_clustered_days_get_a_proposal_and_stay_as_they_are():
    df = jittered().drop(columns="scheduled_day")
    t = read_trial(df)
    assert sorted(t.frame["day"].unique()) == [0, 6, 7, 8, 13, 14, 15]  # unchanged
    rep = t.report()
    assert rep.schedule["proposal"] == {0.0: [0.0, 0.0], 7.0: [6.0, 8.0], 14.0: [13.0, 15.0]}
    text = str(rep)
    assert "days 6-8 look like one visit at day 7" in text
    assert "visit_windows={0: (0, 0), 7: (6, 8), 14: (13, 15)}" in text
    # the proposal, passed back, reads the visits
    proposed = {d: tuple(w) for d, w in rep.schedule["proposal"].items()}
    assert sorted(read_trial(df, visit_windows=proposed).frame["day"].unique()) == [0, 7, 14]


def test_daily_visits_are_not_a_cluster():
    df = pd.DataFrame([{"patient": p, "day": d, "madrs_total": 30 - d} for p in "ABCD" for d in (0, 1, 2, 3, 7)])
    rep = read_trial(df).report()
    assert rep.schedule["proposal"] is None and "proposal" not in str(rep)


# ---- implausible days --------------------------------------------------------------------
def test_day_4000_is_flagged_and_warned():
    # a typo for 14 used to be accepted silently
    df = jittered().drop(columns="scheduled_day")
    df.loc[5, "day"] = 4000
    with pytest.warns(BayesKetWarning, match="implausible.*patient P01 day 4000"):
        t = read_trial(df)
    flagged = t.report().schedule["implausible"]
    assert [(f["patient"], f["day"], f["source_row"]) for f in flagged] == [("P01", 4000, 5)]
    assert 4000 in t.frame["day"].tolist()  # kept, not dropped
    assert 4000 not in t.report().schedule["proposal"]  # and left out of the proposed windows
    assert "implausible days (kept; check for typos): 1 row\n" in str(t.report())


def test_genuine_long_follow_up_is_not_flagged():
    rows = [{"patient": f"P{p}", "day": d, "madrs_total": 30} for p in range(10) for d in (0, 14, 28, 90)]
    rows += [{"patient": f"P{p}", "day": 365, "madrs_total": 20} for p in range(2)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", BayesKetWarning)
        t = read_trial(pd.DataFrame(rows))
    assert t.report().schedule["implausible"] == []


def test_actual_day_far_from_its_scheduled_day_is_flagged():
    df = jittered()
    df.loc[4, "day"] = 20  # scheduled 7; within twice the last visits (30), far from 7
    with pytest.warns(BayesKetWarning, match="implausible"):
        t = read_trial(df)
    flagged = t.report().schedule["implausible"]
    assert len(flagged) == 1 and flagged[0]["actual_day"] == 20 and "far from its scheduled day" in flagged[0]["reason"]


def test_wide_input_flags_the_cell_not_the_patient():
    # in wide input source_row is the patient's row: only the implausible cell leaves the proposal
    wide = pd.DataFrame({"patient": ["A", "B", "C", "D"], "madrs_total_d0": [30, 31, 29, 28],
                         "madrs_total_d6": [20, np.nan, np.nan, np.nan], "madrs_total_d7": [np.nan, 21, 22, np.nan],
                         "madrs_total_d8": [np.nan, np.nan, np.nan, 19], "madrs_total_d4000": [12, np.nan, np.nan, np.nan]})
    with pytest.warns(BayesKetWarning, match="patient A day 4000"):
        rep = read_trial(wide).report()
    assert [f["day"] for f in rep.schedule["implausible"]] == [4000]
    assert rep.schedule["proposal"] == {0.0: [0.0, 0.0], 7.0: [6.0, 8.0]}
