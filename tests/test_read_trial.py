import json

import numpy as np
import pandas as pd
import pytest

from bayes_ket import scales
from bayes_ket.data.reader import read_trial
from bayes_ket.data.report import TrialReport
from bayes_ket.errors import BayesKetError

ITEMS = [f"madrs_{i}" for i in range(1, 11)]
DAYS = (0.0, 1.0, 7.0)


@pytest.fixture
def long_df():
    """4 patients x days 0, 1, 7; ten items; arm labels as a user might write them."""
    rng = np.random.default_rng(1)
    rows = []
    for p, (arm, msm, age) in enumerate([("Ketamine", 8, 30), ("placebo", 12, 41), ("KETAMINE", 5, 55), ("Saline", 10, 38)]):
        for day in DAYS:
            row = {"patient": f"P0{p + 1}", "arm": arm, "day": day, "msm": msm, "age": age}
            row.update(dict(zip(ITEMS, rng.integers(0, 7, 10).tolist())))
            rows.append(row)
    return pd.DataFrame(rows)


def wide_from(long_df):
    wide = long_df.drop_duplicates("patient")[["patient", "arm", "msm", "age"]].reset_index(drop=True)
    for day in DAYS:
        at = long_df[long_df["day"] == day].set_index("patient")
        for c in ITEMS:
            wide[f"{c}_d{day:g}"] = wide["patient"].map(at[c])
    return wide


def accounted(trial):
    rep = trial.report()
    assert rep.rows_used + rep.rows_excluded == rep.input_rows == trial.n_input_rows
    assert rep.accounted
    return rep


# ---- the canonical frame -------------------------------------------------------
def test_long_canonical(long_df):
    t = read_trial(long_df)
    f = t.frame
    assert list(f.columns[:5]) == ["patient", "arm", "period", "day", "madrs_1"]
    assert f["arm"].dtype == "int64" and f["period"].dtype == "int64" and f["day"].dtype == "float64"
    assert set(f["arm"]) == {0, 1} and (f["period"] == 1).all()
    assert f.groupby("patient")["arm"].first().to_dict() == {"P01": 1, "P02": 0, "P03": 1, "P04": 0}
    np.testing.assert_array_equal(f["madrs_total"], long_df[ITEMS].sum(axis=1))
    assert not f["madrs_converted"].any()
    assert f[ITEMS].dtypes.eq("float64").all()
    assert list(f["source_row"]) == list(range(12)) and f.columns[-1] == "source_row"
    assert t.moderators == ["msm", "age"]
    assert accounted(t).rows_excluded == 0


def test_long_and_wide_give_the_same_frame(long_df):
    long_t, wide_t = read_trial(long_df), read_trial(wide_from(long_df))
    drop = ["source_row"]
    pd.testing.assert_frame_equal(
        long_t.frame.drop(columns=drop), wide_t.frame.drop(columns=drop)[long_t.frame.columns.drop(drop)],
        check_dtype=False,
    )
    assert set(wide_t.frame["source_row"]) == {0, 1, 2, 3}
    rep = accounted(wide_t)
    assert rep.layout == "wide" and rep.input_rows == 4 * 3 and rep.source_rows == 4


def test_wide_fractional_day_and_missing_cells():
    wide = pd.DataFrame(
        {"patient": ["A", "B"], "arm": ["ketamine", "placebo"], "madrs_total_d0": [30, 31],
         "madrs_total_d0.17": [28, np.nan], "madrs_total_d1": [np.nan, 25]}
    )
    t = read_trial(wide)
    assert sorted(t.frame["day"].unique()) == [0.0, 0.17, 1.0]
    rep = accounted(t)
    assert rep.input_rows == 6 and rep.rows_used == 4 and rep.excluded_by_reason == {"no score observed": 2}
    assert set(t.excluded["day"]) == {0.17, 1.0}


def test_columns_mapping(long_df):
    user = long_df.rename(columns={"patient": "subject", "day": "visit_day", "arm": "treatment", "madrs_3": "tension"})
    t = read_trial(user, columns={"subject": "patient", "visit_day": "day", "treatment": "arm", "tension": "madrs_3"})
    pd.testing.assert_frame_equal(t.frame, read_trial(long_df).frame)
    with pytest.raises(BayesKetError, match="'nope'"):
        read_trial(long_df, columns={"nope": "day"})


def test_columns_mapping_of_wide_base_names():
    wide = pd.DataFrame({"id": ["A", "B"], "hamd_d0": [20, 22], "hamd_d7": [10, np.nan]})
    t = read_trial(wide, columns={"id": "patient", "hamd": "hrsd17_total"})
    assert list(t.frame["hrsd17_total"]) == [20, 10, 22]


def test_item_names_accepted(long_df):
    named = long_df.rename(columns=dict(zip(ITEMS, scales.MADRS_ITEMS)))
    pd.testing.assert_frame_equal(read_trial(named).frame, read_trial(long_df).frame)


def test_arm_labels(long_df):
    df = long_df.assign(arm=long_df["arm"].map({"Ketamine": "Esketamine", "KETAMINE": "Esketamine", "placebo": "Midazolam", "Saline": 0}))
    with pytest.raises(BayesKetError, match=r"'arm'.*Esketamine.*arm_labels="):
        read_trial(df)
    t = read_trial(df, arm_labels={"ESKETAMINE": 1})
    assert t.frame.groupby("patient")["arm"].first().tolist() == [1, 0, 1, 0]
    assert t.arm_names == {1: "Esketamine", 0: "Midazolam"}
    with pytest.raises(BayesKetError, match="1 \\(ketamine\\) or 0"):
        read_trial(df, arm_labels={"esketamine": "maybe"})


def test_arm_names_are_the_datas_own(long_df):
    t = read_trial(long_df.assign(arm=long_df["arm"].replace({"KETAMINE": "Ketamine", "Saline": "placebo"})))
    assert t.arm_names == {1: "Ketamine", 0: "placebo"}
    numeric = read_trial(long_df.assign(arm=long_df["arm"].map({"Ketamine": 1, "KETAMINE": 1, "placebo": 0, "Saline": 0})))
    assert numeric.arm_names == {1: "ketamine", 0: "control"}
    assert read_trial(long_df).report().visit_counts.columns.tolist() == ["ketamine", "control"]


@pytest.mark.parametrize("label", ["Esketamine", "drug", "d", "active", "treatment", "p", "c", "sham", "A"])
def test_only_the_documented_arm_labels_are_read(long_df, label):
    # formerly "esketamine", "drug", "d", ... were silently mapped; now only ketamine/1 and
    # placebo/saline/midazolam/control/0 are read without arm_labels=
    df = long_df.assign(arm=long_df["arm"].replace({"Ketamine": label}))
    with pytest.raises(BayesKetError, match=rf"'arm'.*{label}.*arm_labels="):
        read_trial(df)


def test_two_labels_in_one_arm_is_an_error(long_df):
    df = long_df.assign(arm=long_df["arm"].map({"Ketamine": "Ketamine", "KETAMINE": "Ketamine", "placebo": "Esketamine", "Saline": "Esketamine"}))
    with pytest.raises(BayesKetError, match=r"two labels but every row lands in one arm \('Esketamine' -> 1, 'Ketamine' -> 1\)"):
        read_trial(df, arm_labels={"esketamine": 1})
    single = read_trial(long_df.assign(arm="ketamine"))
    assert not single.has_arm and single.arm_names == {1: "ketamine"}


def test_crossover():
    rows = [
        {"patient": p, "period": per, "arm": arm, "day": d, "madrs_total": 30 - d - 5 * arm}
        for p, order in [("A", ("ketamine", "placebo")), ("B", ("placebo", "ketamine"))]
        for per, label in enumerate(order, start=1)
        for arm in [int(label == "ketamine")]
        for d in (0, 2)
    ]
    df = pd.DataFrame(rows).assign(arm=lambda x: x["arm"].map({1: "ketamine", 0: "placebo"}))
    t = read_trial(df)
    assert t.frame[["patient", "period", "day"]].values.tolist()[:4] == [["A", 1, 0.0], ["A", 1, 2.0], ["A", 2, 0.0], ["A", 2, 2.0]]
    assert t.frame.groupby(["patient", "period"])["arm"].first().tolist() == [1, 0, 0, 1]
    assert t.has_arm


def test_hrsd_only_converted_and_flagged():
    df = pd.DataFrame({"patient": ["A"] * 3, "day": [0, 7, 14], "madrs_total": [30, np.nan, np.nan],
                       "hrsd17_total": [22, 20, np.nan], "gad7_total": [np.nan, np.nan, 8]})
    t = read_trial(df)
    f = t.frame
    assert list(f["madrs_converted"]) == [False, True, False]
    assert f["madrs_total"].tolist()[:2] == [30, 26] and np.isnan(f["madrs_total"][2])
    assert any("converted" in n for n in t.notes) and t.report().n_converted == 1
    off = read_trial(df, convert_hrsd=False).frame
    assert not off["madrs_converted"].any() and off["madrs_total"].isna().sum() == 2
    only = read_trial(df.drop(columns="madrs_total"))
    assert only.frame["madrs_converted"].sum() == 2


def test_partial_items_are_kept_missing(long_df):
    df = long_df.astype({"madrs_4": float})
    df.loc[2, "madrs_4"] = np.nan
    f = read_trial(df).frame
    assert np.isnan(f.loc[2, "madrs_total"]) and f.loc[2, ITEMS].notna().sum() == 9


def test_moderator_missing_on_some_rows_is_filled(long_df):
    df = long_df.astype({"msm": float})
    df.loc[[1, 2], "msm"] = np.nan
    t = read_trial(df)
    assert (t.frame.loc[t.frame["patient"] == "P01", "msm"] == 8).all()
    assert any("'msm'" in n and "filled" in n for n in t.notes)


def test_visit_columns_are_not_patient_level(long_df):
    df = long_df.assign(ketamine_level=np.arange(12.0))
    with pytest.raises(BayesKetError, match="'ketamine_level'.*visit_columns="):
        read_trial(df)
    assert "ketamine_level" in read_trial(df, visit_columns=["ketamine_level"]).frame


def test_rows_without_scores_excluded_and_moderators_kept(long_df):
    df = long_df.astype({c: float for c in ITEMS}).assign(msm=lambda x: x["msm"].astype(float))
    df.loc[0, ITEMS] = np.nan  # P01 baseline: no score, but carries msm
    df.loc[[1, 2], "msm"] = np.nan
    t = read_trial(df)
    rep = accounted(t)
    assert rep.rows_excluded == 1 and t.excluded.loc[0, "reason"] == "no score observed"
    assert t.excluded.loc[0, "source_row"] == 0
    assert (t.frame.loc[t.frame["patient"] == "P01", "msm"] == 8).all()
    assert rep.visit_counts.loc[0.0].to_dict() == {"ketamine": 1, "control": 2}


def test_report_contents(long_df):
    rep = read_trial(long_df.assign(study=["S1"] * 6 + ["S2"] * 6)).report()
    assert isinstance(rep, TrialReport)
    assert rep.patients_per_study == {"S1": 2, "S2": 2}
    assert list(rep.visit_counts.columns) == ["ketamine", "control"]
    assert rep.visit_counts.to_numpy().tolist() == [[2, 2]] * 3
    d = rep.to_dict()
    assert d["rows"]["rows_used"] == 12 and d["rows"]["accounted"] is True
    assert list(d) == ["source", "layout", "rows", "patients", "visits", "schedule", "codings",
                       "missing_patient_level_values", "studies", "notes"]
    json.dumps(d)  # plain data
    text = str(rep)
    assert "12 in, 12 used, 0 excluded" in text and "ketamine" in text
    headings = [line for line in text.splitlines() if line and not line.startswith(" ")][1:]
    assert headings == ["rows", "patients", "visits", "schedule", "codings", "missing patient-level values",
                        "studies", "notes"]


def test_single_arm_report_counts_all():
    df = pd.DataFrame({"patient": [1, 1, 2], "day": [0, 7, 0], "hrsd17_total": [20, 15, 18]})
    rep = accounted(read_trial(df))
    assert list(rep.visit_counts.columns) == ["all"]


# ---- files ---------------------------------------------------------------------
def test_csv_tsv_parquet(tmp_path, long_df):
    expected = read_trial(long_df).frame
    long_df.to_csv(tmp_path / "t.csv", index=False)
    long_df.to_csv(tmp_path / "t.tsv", sep="\t", index=False)
    long_df.to_parquet(tmp_path / "t.parquet")
    for name in ("t.csv", "t.tsv", "t.parquet"):
        t = read_trial(tmp_path / name)
        pd.testing.assert_frame_equal(t.frame, expected, check_dtype=False)
        assert t.source.endswith(name)
    wide_from(long_df).to_parquet(tmp_path / "w.parquet")
    accounted(read_trial(str(tmp_path / "w.parquet")))


def test_csv_options_and_file_errors(tmp_path):
    (tmp_path / "r.csv").write_text("patient,day,hrsd17_total\n1,0,20\n1,7,.\n")
    t = read_trial(tmp_path / "r.csv", na_values=["."])
    assert accounted(t).rows_excluded == 1
    with pytest.raises(BayesKetError, match="known file types"):
        read_trial(tmp_path / "r.xlsx")
    with pytest.raises(BayesKetError, match="No file"):
        read_trial(tmp_path / "missing.csv")
    with pytest.raises(BayesKetError, match="DataFrame"):
        read_trial(pd.DataFrame({"patient": [1]}), na_values=["."])


# ---- one test per validation error ------------------------------------------------
def _set(row, col, value):
    def edit(df):
        if isinstance(value, str):
            df = df.astype({col: object})
        elif pd.api.types.is_integer_dtype(df[col]) and (pd.isna(value) or value % 1):
            df = df.astype({col: float})
        df.loc[row, col] = value
        return df
    return edit


@pytest.mark.parametrize(
    "edit, column, where",
    [
        pytest.param(lambda d: d.drop(columns="patient"), "'patient'", "", id="missing patient"),
        pytest.param(lambda d: d.drop(columns="day"), "'day'", "", id="missing day"),
        pytest.param(_set(4, "madrs_3", 7), "'madrs_3'", "rows 4 (patients P02)", id="item above 6"),
        pytest.param(_set(5, "madrs_3", 2.5), "'madrs_3'", "rows 5 (patients P02)", id="item not whole"),
        pytest.param(_set(5, "madrs_3", "three"), "'madrs_3'", "rows 5 (patients P02)", id="item text"),
        pytest.param(lambda d: d.assign(madrs_total=d[ITEMS].sum(axis=1) + (d.index == 7)), "'madrs_total'",
                     "rows 7 (patients P03)", id="total disagrees with items"),
        pytest.param(lambda d: d.drop(columns=ITEMS).assign(madrs_total=[61] + [20] * 11), "'madrs_total'",
                     "rows 0 (patients P01)", id="total out of range"),
        pytest.param(lambda d: d.drop(columns=ITEMS).assign(gad7_total=[5] * 11 + [22]), "'gad7_total'",
                     "rows 11 (patients P04)", id="gad7 out of range"),
        pytest.param(lambda d: d.drop(columns=ITEMS).assign(hrsd17_total=[5] * 3 + [-1] + [5] * 8), "'hrsd17_total'",
                     "rows 3 (patients P02)", id="hrsd negative"),
        pytest.param(_set(6, "day", -1), "'day'", "rows 6 (patients P03)", id="negative day"),
        pytest.param(_set(6, "day", "follow-up"), "'day'", "rows 6 (patients P03)", id="day label not a day"),
        pytest.param(_set(6, "day", "week 1"), "patient x period x day", "rows 6, 8 (patients P03)",
                     id="day label read as 7: duplicate"),
        pytest.param(_set(6, "day", np.nan), "'day'", "rows 6 (patients P03)", id="missing day value"),
        pytest.param(_set(1, "day", 0.0), "patient x period x day", "rows 0, 1 (patients P01)", id="duplicate visit"),
        pytest.param(_set(2, "msm", 9), "'msm'", "patients P01", id="moderator varies"),
        pytest.param(_set(3, "age", 42), "'age'", "patients P02", id="other moderator varies"),
        pytest.param(lambda d: d.assign(msm=[16] * 3 + [12] * 9), "'msm'", "rows 0, 1, 2 (patients P01)", id="msm above 15"),
        pytest.param(lambda d: d.assign(msm=[2.5] * 3 + [12] * 9), "'msm'", "rows 0, 1, 2 (patients P01)", id="msm not whole"),
        pytest.param(_set(9, "arm", "lithium"), "'arm'", "rows 9 (patients P04)", id="arm unmappable"),
        pytest.param(_set(10, "arm", "ketamine"), "'arm'", "patients P04", id="arm varies within period"),
        pytest.param(_set(0, "patient", np.nan), "'patient'", "rows 0", id="patient id missing"),
        pytest.param(lambda d: d.assign(period=[1, 1, 0] + [1] * 9), "'period'", "rows 2 (patients P01)", id="period 0"),
        pytest.param(lambda d: d.assign(study=["S1", "S1", "S2"] + ["S1"] * 9), "'study'", "patients P01",
                     id="study varies within patient"),
    ],
)
def test_validation_errors(long_df, edit, column, where):
    df = edit(long_df.copy())
    with pytest.raises(BayesKetError) as err:
        read_trial(df)
    msg = str(err.value)
    assert column in msg and where in msg and "Fix:" in msg


def test_arm_missing_on_one_visit_is_filled_within_period(long_df):
    df = long_df.copy()
    df.loc[10, "arm"] = np.nan
    assert read_trial(df).frame.loc[10, "arm"] == 0


def test_arm_missing_for_a_whole_period_is_an_error(long_df):
    df = long_df.astype({"arm": object})
    df.loc[9:11, "arm"] = np.nan
    with pytest.raises(BayesKetError, match=r"'arm' is missing on rows 9, 10, 11 \(patients P04\)"):
        read_trial(df)


def test_no_outcome_column(long_df):
    with pytest.raises(BayesKetError, match="No outcome column.*madrs_total"):
        read_trial(long_df.drop(columns=ITEMS))


def test_no_rows(long_df):
    with pytest.raises(BayesKetError, match="No rows.*no rows"):
        read_trial(long_df.iloc[:0])
    empty_scores = long_df.astype({c: float for c in ITEMS}).assign(**{c: np.nan for c in ITEMS})
    with pytest.raises(BayesKetError, match="all 12 input rows were excluded"):
        read_trial(empty_scores)


def test_wide_duplicate_columns():
    wide = pd.DataFrame({"patient": ["A"], "madrs_total_d7": [10], "madrs_total_d7.0": [11]})
    with pytest.raises(BayesKetError, match="madrs_total_d7"):
        read_trial(wide)


def test_missing_visit_is_not_an_error(long_df):
    t = read_trial(long_df.drop(index=[4, 8]))
    assert len(t.frame) == 10 and accounted(t).rows_excluded == 0


# ---- every registered scale is read and validated --------------------------------------
def test_other_scales_are_scores_not_moderators():
    df = pd.DataFrame({"patient": ["A", "A", "B", "B"], "day": [0, 7] * 2, "bdi2_total": [30, 12, 25, np.nan],
                       "phq9_total": [20, 8, np.nan, np.nan], "cgis_total": [5, 2, 6, 4], "age": [30, 30, 40, 40]})
    t = read_trial(df)
    assert t.outcomes == ["bdi2_total", "phq9_total", "cgis_total"] and t.moderators == ["age"]
    assert t.observed_scales == ["bdi2", "phq9", "cgis"]
    assert accounted(t).rows_excluded == 0


def test_items_of_any_summed_scale_give_its_total():
    items = {f"bdi2_{k}": [k % 4, 0] for k in range(1, 22)}
    df = pd.DataFrame({"patient": ["A", "A"], "day": [0, 7], **items})
    f = read_trial(df).frame
    assert f["bdi2_total"].tolist() == [sum(k % 4 for k in range(1, 22)), 0]
    with pytest.raises(BayesKetError, match=r"'bdi2_total' disagrees with the sum of bdi2_1..bdi2_21.*rows 1"):
        read_trial(df.assign(bdi2_total=[31, 1]))


def test_item_ranges_come_from_the_registry():
    df = pd.DataFrame({"patient": ["A", "A"], "day": [0, 7], "hrsd17_1": [4, 3], "hrsd17_4": [2, 3]})
    with pytest.raises(BayesKetError, match=r"'hrsd17_4' must hold whole numbers 0-2; rows 1 \(patients A\) hold 3"):
        read_trial(df)
    qids = pd.DataFrame({"patient": ["A"], "day": [0], "qids_sr16_1": [3], "qids_sr16_5": [2], "qids_sr16_total": [14]})
    f = read_trial(qids).frame  # QIDS-SR16: items checked, total not derived (not an item sum)
    assert f["qids_sr16_total"].tolist() == [14] and "qids_sr16_16" in f
    with pytest.raises(BayesKetError, match="'qids_sr16_5' must hold whole numbers 0-3"):
        read_trial(qids.assign(qids_sr16_5=4))


@pytest.mark.parametrize("column, value, match", [
    ("cgis_total", 0, "'cgis_total' must hold totals 1-7"),
    ("hama_total", 57, "'hama_total' must hold totals 0-56"),
    ("madrs_11", 3, "'madrs_11' looks like an item of the scale 'madrs', which has 10 items"),
    ("cgis_1", 3, "'cgis_1' looks like an item of the scale 'cgis', which has no items"),
])
def test_scale_column_errors(column, value, match):
    df = pd.DataFrame({"patient": ["A"], "day": [0], "madrs_total": [30], column: [value]})
    with pytest.raises(BayesKetError, match=match):
        read_trial(df)


@pytest.fixture
def vas():
    scale = scales.register(scales.Scale(name="vas", range=(0, 100), remission=20, label="VAS mood"))
    yield scale
    scales.unregister("vas")


def test_a_registered_scale_is_read(vas):
    from bayes_ket.data.schema import OUTCOMES, TOTAL_RANGES

    df = pd.DataFrame({"patient": ["A", "A", "B"], "day": [0, 7, 0], "vas_total": [80, 30, 60], "age": [30, 30, 40]})
    t = read_trial(df)
    assert t.outcomes == ["vas_total"] and t.moderators == ["age"]
    assert TOTAL_RANGES["vas_total"] == (0, 100) and "vas_total" in OUTCOMES
    with pytest.raises(BayesKetError, match="'vas_total' must hold totals 0-100"):
        read_trial(df.assign(vas_total=[80, 130, 60]))


def test_a_scale_unknown_to_the_registry_is_not_a_score():
    # before registering, vas_total is a numeric visit-level column: an error names visit_columns=
    df = pd.DataFrame({"patient": ["A", "A"], "day": [0, 7], "madrs_total": [30, 20], "vas_total": [80, 30]})
    with pytest.raises(BayesKetError, match="'vas_total'.*visit_columns="):
        read_trial(df)


def test_two_columns_renamed_to_one_name_is_an_error(long_df):
    df = long_df.assign(subject=long_df["patient"])
    with pytest.raises(BayesKetError, match="'patient'.*appear twice after renaming"):
        read_trial(df, columns={"subject": "patient"})
