"""Patient-level labelled columns: coded 0/1 or categorical by read_trial, never silently dropped;
missing patient-level values listed."""

import numpy as np
import pandas as pd
import pytest

from bayes_ket import read_trial
from bayes_ket.data.coding import Coding
from bayes_ket.errors import BayesKetError


def trial_df(**columns):
    """6 patients x days 0, 7 with the given patient-level columns (one value per patient)."""
    n = len(next(iter(columns.values()))) if columns else 6
    rows = []
    for p in range(n):
        for day in (0, 7):
            rows.append({"patient": f"P{p}", "day": day, "madrs_total": 30 - day - p,
                         **{k: v[p] for k, v in columns.items()}})
    return pd.DataFrame(rows)


def per_patient(trial, column):
    return trial.frame.groupby("patient")[column].first().tolist()


def test_yes_no_is_coded_with_no_as_reference():
    t = read_trial(trial_df(smoker=["yes", "no", "Yes", "no", "YES ", "no"]))
    assert per_patient(t, "smoker") == [1, 0, 1, 0, 1, 0] and t.frame["smoker"].dtype == "float64"
    c = t.codings["smoker"]
    assert c == Coding("smoker", "binary", ("no", "yes"), "no", "smoker: yes vs no")
    assert "smoker" in t.moderators
    assert any("'Yes'" in n and "'YES '" in n for n in t.notes)  # merged spellings are noted
    text = str(t.report())
    assert "smoker: yes vs no (binary; 0 = no: 3 patients, 1 = yes: 3 patients)" in text


@pytest.mark.parametrize("values, reference, coded", [
    (["true", "false", "TRUE", "false", "true", "false"], "false", [1, 0, 1, 0, 1, 0]),
    ([True, False, True, False, True, False], False, [1, 0, 1, 0, 1, 0]),
    ([1, 0, 1, 0, 1, 0], 0, [1, 0, 1, 0, 1, 0]),
    (["1", "0", "1", "0", "1", "0"], 0, [1, 0, 1, 0, 1, 0]),
    ([">6m", "<6m", ">6m", "<6m", "<6m", "<6m"], "<6m", [1, 0, 1, 0, 0, 0]),
])
def test_two_level_columns(values, reference, coded):
    t = read_trial(trial_df(length=values))
    assert per_patient(t, "length") == coded
    assert t.codings["length"].kind == "binary" and t.codings["length"].reference == reference


def test_binary_label_matches_the_documented_form():
    t = read_trial(trial_df(length=[">6m", "<6m", ">6m", "<6m", "<6m", "<6m"]))
    assert t.codings["length"].label == "length: >6m vs <6m"


def test_reference_levels_override():
    df = trial_df(sex=["F", "M", "F", "M", "M", "F"], site=["Oslo", "Bergen", "Tromso", "Oslo", "Bergen", "Oslo"])
    t = read_trial(df)
    assert t.codings["sex"].label == "sex: M vs F"
    t = read_trial(df, reference_levels={"sex": "m", "site": "Oslo"})
    assert t.codings["sex"].label == "sex: F vs M" and per_patient(t, "sex") == [1, 0, 1, 0, 0, 1]
    assert list(t.frame["site"].cat.categories) == ["Oslo", "Bergen", "Tromso"]
    assert read_trial(trial_df(f=[1, 0, 1, 0, 0, 0]), reference_levels={"f": 1}).frame.groupby("patient")["f"].first().tolist() == [0, 1, 0, 1, 1, 1]
    with pytest.raises(BayesKetError, match="reference_levels\\['sex'\\]='X' is not a level of 'sex'.*F, M"):
        read_trial(df, reference_levels={"sex": "X"})
    with pytest.raises(BayesKetError, match="reference_levels names 'nope'"):
        read_trial(df, reference_levels={"nope": "a"})
    with pytest.raises(BayesKetError, match="'age', which holds numbers"):
        read_trial(trial_df(age=[30, 41, 52, 33, 45, 60]), reference_levels={"age": 30})


def test_more_than_two_labels_become_a_categorical_moderator():
    # such columns used to be silently left out of the moderators
    t = read_trial(trial_df(site=["Oslo", "Bergen", "Tromso", "Oslo", "Bergen", "Oslo"]))
    site = t.frame["site"]
    assert isinstance(site.dtype, pd.CategoricalDtype) and list(site.cat.categories) == ["Bergen", "Oslo", "Tromso"]
    assert t.codings["site"].kind == "categorical" and t.codings["site"].reference == "Bergen"
    assert "site" in t.moderators
    assert t.report().to_dict()["codings"]["site"]["patients_per_level"] == {"Bergen": 2, "Oslo": 3, "Tromso": 1}


def test_columns_kept_as_text_are_noted_not_moderators():
    t = read_trial(trial_df(group=["MDD"] * 6, initials=["AB", "CD", "EF", "GH", "IJ", "KL"] * 1,
                            visit_note_id=[f"x{i}" for i in range(6)]))
    assert "group" not in t.moderators and "initials" not in t.moderators
    notes = " | ".join(t.notes)
    assert "'group' has one label ('MDD')" in notes and "'initials' has 6 distinct labels" in notes
    assert "group" in t.frame and t.codings == {}


def test_numbers_with_text_name_na_values():
    with pytest.raises(BayesKetError, match=r"'age' holds numbers and text \(missing-value codes\): unknown.*na_values="):
        read_trial(trial_df(age=["30", "41", "unknown", "33", "45", "60"]))
    t = read_trial(trial_df(age=["30", "41", "52", "33", "45", "60"]))
    assert t.frame["age"].dtype == "float64" and "age" not in t.codings and "age" in t.moderators


def test_labelled_column_varying_within_patient_is_an_error():
    df = trial_df(site=["Oslo", "Bergen", "Tromso", "Oslo", "Bergen", "Oslo"])
    df.loc[1, "site"] = "Bergen"
    with pytest.raises(BayesKetError, match=r"'site' must be constant within each patient.*patients P0.*visit_columns="):
        read_trial(df)
    assert "site" not in read_trial(df, visit_columns=["site"]).moderators


def test_missing_patient_level_values_are_listed():
    df = trial_df(msm=[8, np.nan, 10, np.nan, 7, 9], smoker=["yes", "no", None, "no", "yes", "no"])
    t = read_trial(df)
    assert t.missing_by_column() == {"msm": ["P1", "P3"], "smoker": ["P2"]}
    text = str(t.report())
    assert "msm: 2 patients (P1, P3)" in text and "smoker: 1 patient (P2)" in text
    assert t.report().to_dict()["missing_patient_level_values"]["msm"] == {"n": 2, "patients": ["P1", "P3"]}
    assert read_trial(trial_df(msm=[8, 9, 10, 11, 7, 9])).missing_by_column() == {}


def test_simulated_trials_record_their_binary_moderators():
    import bayes_ket as bk

    t = bk.simulate("ipd_meta", seed=0)
    assert {"female", "crossover"} <= set(t.codings) and t.codings["female"].kind == "binary"
    assert "msm" not in t.codings
