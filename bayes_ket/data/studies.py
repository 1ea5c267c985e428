"""Study-level columns: a study table joined on ``study``, and checks that they are constant
within each study.

``read_trial(source, studies=table)``: ``table`` (a DataFrame, or a CSV/Parquet path)
has a ``study`` column and one row per study; its other columns are joined onto every
row of the study. Studies are matched as text ("3" matches 3). A study of the data
missing from the table gets missing values (listed in the report and warned about); a
study of the table missing from the data is listed in the report. A column both in
the data and in the table is an error. ``study_columns=`` declares columns of the data
itself as study-level: they must be constant within each study.
"""

from __future__ import annotations

import pandas as pd

from ..errors import BayesKetError, offending, warn
from . import files


def load_table(studies) -> pd.DataFrame:
    if isinstance(studies, pd.DataFrame):
        table = studies.reset_index(drop=True)
    else:
        table, _, _ = files.load(studies, {})
    if "study" not in table:
        raise BayesKetError(
            f"The study table has no 'study' column; it has {offending(table.columns, 12)}. "
            "Fix: name the column of study ids 'study'."
        )
    if table["study"].isna().any():
        raise BayesKetError("The study table has rows without a study id. Fix: fill or drop them.")
    table = table.assign(study=table["study"].astype(str).str.strip()).drop_duplicates()
    for column in table.columns.drop("study"):
        varies = table.groupby("study")[column].nunique(dropna=False) > 1
        if varies.any():
            raise BayesKetError(
                f"The study table gives study {offending(varies.index[varies])} two values of '{column}'. "
                "Fix: keep one row per study."
            )
    return table.drop_duplicates("study")


def join(frame: pd.DataFrame, studies) -> tuple[pd.DataFrame, list[str], dict]:
    """(frame with the table's columns, the study-level columns, join facts)."""
    table = load_table(studies)
    if "study" not in frame:
        raise BayesKetError(
            "studies= needs a 'study' column in the data to join on. Fix: add it, or map yours with "
            "columns={'your_name': 'study'}."
        )
    both = [c for c in table.columns if c != "study" and c in frame]
    if both:
        raise BayesKetError(
            f"Columns {offending(map(repr, both))} are both in the data and in the study table. Fix: drop them from one of the two."
        )
    key = frame["study"].map(lambda v: str(v).strip() if pd.notna(v) else None)
    data_ids, table_ids = set(key.dropna()), set(table["study"])
    joined = _left_join(frame, key, table)
    facts = {
        "study_columns": [c for c in table.columns if c != "study"],
        "not_in_table": sorted(data_ids - table_ids),
        "not_in_data": sorted(table_ids - data_ids),
    }
    if facts["not_in_table"]:
        warn(
            f"Studies {offending(facts['not_in_table'])} of the data are not in the study table: their study-level "
            f"columns ({offending(facts['study_columns'])}) are missing. See trial.report()."
        )
    return joined, facts["study_columns"], facts


def _left_join(frame: pd.DataFrame, key: pd.Series, table: pd.DataFrame) -> pd.DataFrame:
    values = table.set_index("study")
    extra = values.reindex(key.to_numpy())
    extra.index = frame.index
    return pd.concat([frame, extra], axis=1)


def check_constant(frame: pd.DataFrame, columns) -> None:
    """Each study-level column holds one value per study (missing allowed)."""
    if not columns:
        return
    if "study" not in frame:
        raise BayesKetError(
            f"study_columns={list(columns)} needs a 'study' column. Fix: add it, or map yours with columns=."
        )
    for column in columns:
        if column not in frame:
            raise BayesKetError(f"study_columns names '{column}', which the data does not have. Fix: correct it.")
        varies = frame.groupby("study")[column].nunique() > 1
        if varies.any():
            study = varies.index[varies][0]
            shown = offending(pd.unique(frame.loc[frame["study"] == study, column].dropna()))
            raise BayesKetError(
                f"Study-level column '{column}' must be constant within a study; study {study} has {shown}"
                + (f" (and {int(varies.sum()) - 1} more studies vary)" if varies.sum() > 1 else "")
                + ". Fix: correct the values, or treat the column as patient-level (drop it from study_columns=)."
            )
