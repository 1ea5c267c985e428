"""Study tables for IPD meta-analysis: joined on `study`, validated, reported per study."""

import numpy as np
import pandas as pd
import pytest

from bayes_ket import BayesKetWarning, read_trial
from bayes_ket.errors import BayesKetError


@pytest.fixture
def pooled():
    """3 studies x 2 patients x days 0, 1 (S3 measured HRSD-17, the others MADRS)."""
    rows = []
    for s, study in enumerate(["S1", "S2", "S3"]):
        for k in range(2):
            for day in (0, 1):
                score = {"hrsd17_total": 20 - 5 * day} if study == "S3" else {"madrs_total": 30 - 8 * day}
                rows.append({"study": study, "patient": f"{study}-{k}", "arm": ["ketamine", "placebo"][k], "day": day,
                             "age": 30 + 10 * s + k if study != "S2" else np.nan, **score})
    return pd.DataFrame(rows)


TABLE = pd.DataFrame({"study": ["S1", "S2", "S3"], "crossover": ["no", "yes", "no"], "trd_threshold": [2, 2, 3]})


def test_study_table_joins_and_codes(pooled):
    t = read_trial(pooled, studies=TABLE)
    f = t.frame
    assert f.groupby("study")["crossover"].first().tolist() == [0, 1, 0]
    assert t.codings["crossover"].label == "crossover: yes vs no"
    assert t.study_columns == ("crossover", "trd_threshold")
    table = t.study_table()
    assert table.columns.tolist() == ["study", "n_patients", "crossover", "trd_threshold"]
    assert table["study"].tolist() == ["S1", "S2", "S3"] and table["trd_threshold"].tolist() == [2, 2, 3]
    assert {"crossover", "trd_threshold", "age"} <= set(t.moderators)


def test_report_lists_what_each_study_contributed(pooled):
    rep = read_trial(pooled, studies=TABLE).report()
    per = rep.studies["per_study"]
    assert per["S1"]["scales"] == ["madrs_total"] and per["S3"]["scales"] == ["madrs_total", "hrsd17_total"]
    assert per["S1"]["days"] == [0, 1] and per["S2"]["patients"] == 2
    assert "age" in per["S1"]["moderators"] and "age" not in per["S2"]["moderators"]
    text = str(rep)
    assert "S2: 2 patients; days 0, 1; scales madrs_total; moderators crossover, trd_threshold" in text
    assert "study-level columns: crossover, trd_threshold" in text


def test_study_table_from_a_file_and_ids_as_text(tmp_path, pooled):
    TABLE.assign(study=[1, 2, 3]).to_csv(tmp_path / "studies.csv", index=False)
    t = read_trial(pooled.assign(study=pooled["study"].str[1].astype(int)), studies=tmp_path / "studies.csv")
    assert t.frame.groupby("study")["trd_threshold"].first().tolist() == [2, 2, 3]


def test_unmatched_studies_are_reported(pooled):
    table = pd.DataFrame({"study": ["S1", "S2", "S9"], "trd_threshold": [2, 2, 4]})
    with pytest.warns(BayesKetWarning, match="S3 of the data are not in the study table"):
        t = read_trial(pooled, studies=table)
    rep = t.report()
    assert rep.studies["not_in_table"] == ["S3"] and rep.studies["not_in_data"] == ["S9"]
    assert t.missing_by_column()["trd_threshold"] == ["S3-0", "S3-1"]
    text = str(rep)
    assert "in the data but not in the study table: S3" in text and "in the study table but not in the data: S9" in text


def test_study_table_errors(pooled):
    with pytest.raises(BayesKetError, match="'age'.*both in the data and in the study table"):
        read_trial(pooled, studies=TABLE.assign(age=1))
    with pytest.raises(BayesKetError, match="study S2 two values of 'crossover'.*one row per study"):
        read_trial(pooled, studies=pd.concat([TABLE, TABLE.iloc[[1]].assign(crossover="no")]))
    with pytest.raises(BayesKetError, match="no 'study' column"):
        read_trial(pooled, studies=TABLE.rename(columns={"study": "trial"}))
    with pytest.raises(BayesKetError, match="needs a 'study' column in the data"):
        read_trial(pooled.drop(columns="study"), studies=TABLE)
    assert len(read_trial(pooled, studies=pd.concat([TABLE, TABLE])).study_table()) == 3  # exact duplicates are fine


def test_declared_study_columns_must_be_constant_within_a_study(pooled):
    df = pooled.assign(dose=np.where(pooled["patient"] == "S2-1", 0.75, 0.5))
    with pytest.raises(BayesKetError, match=r"Study-level column 'dose' must be constant within a study; study S2 has 0.5, 0.75"):
        read_trial(df, study_columns=["dose"])
    t = read_trial(pooled.assign(dose=0.5), study_columns=["dose"])
    assert t.study_table()["dose"].tolist() == [0.5] * 3
    with pytest.raises(BayesKetError, match="study_columns names 'nope'"):
        read_trial(pooled, study_columns=["nope"])


def test_study_table_without_declared_columns_infers_them(pooled):
    t = read_trial(pooled.assign(dose=pooled["study"].map({"S1": 0.5, "S2": 0.5, "S3": 0.75})))
    assert t.study_level_columns == ["dose"]  # age varies within studies
    with pytest.raises(BayesKetError, match="no 'study' column"):
        read_trial(pooled.drop(columns="study")).study_table()
