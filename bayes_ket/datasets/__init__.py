"""Real data sets shipped with bayes_ket, as TrialData (sources and licences: files/CITATION.md)."""

from __future__ import annotations

from dataclasses import replace
from importlib.resources import files

import numpy as np
import pandas as pd

from ..data.reader import read_trial
from ..data.trial import TrialData

__all__ = ["riesby", "ketamine_moa"]

HEALTHY = "healthy control (include_healthy=False)"
NO_SESSION = "no session recorded"
NOT_GIVEN = "infusion never given (no arm for this session)"
#: session kinds of ketamine_moa -> arm labels (the placebo was saline)
ARM_LABELS = {"d": "Ketamine", "p": "Placebo"}


def _file(*parts: str):
    return files(__package__).joinpath("files", *parts)


def _tsv(name: str) -> pd.DataFrame:
    with _file("ketamine_moa", name).open() as fh:
        return pd.read_csv(fh, sep="\t", na_values="n/a")


def riesby() -> TrialData:
    """Reisby et al. 1977 imipramine trial (Hedeker & Gibbons 2006, ch. 4): 66 inpatients,
    HAM-D 17 weekly at weeks 0-5; single arm, no study column.

    Columns: patient (int id), day = 7 x week, hrsd17_total (HAM-D; 375 of 396 observed,
    the 21 missing rows are in ``excluded``), endog (1 endogenous, 0 reactive; patient
    level). ``endweek`` (endog x week) is dropped: it is redundant and wrong in one row.
    As for any HRSD-only input, read_trial adds madrs_total converted by
    ``scales.hrsd17_to_madrs`` (madrs_converted True): use outcome="hrsd17_total" for the
    published HAM-D analyses.
    """
    with _file("riesby", "riesby.dat").open() as fh:
        raw = pd.read_csv(
            fh, sep=r"\s+", header=None, names=["id", "hamd", "intcpt", "week", "endog", "endweek"], na_values="."
        )
    frame = pd.DataFrame(
        {"patient": raw["id"], "day": 7.0 * raw["week"], "hrsd17_total": raw["hamd"], "endog": raw["endog"]}
    )
    return replace(read_trial(frame), source="bayes_ket.datasets.riesby (Reisby et al. 1977)")


def ketamine_moa(include_healthy: bool = False) -> TrialData:
    """NIMH Ketamine Mechanism of Action crossover trial (OpenNeuro ds005917, CC0).

    Two periods: period 1 is the first infusion (arm from infusion_1), period 2 the
    second. ses-b0 is day 0 of period 1; ses-d2/ses-d10 are days 2/10 of the period
    in which ketamine was given (arm 1), ses-p2/ses-p10 likewise for placebo (arm 0).
    Columns: patient (str), arm, period, day, madrs_total, hrsd17_total, hamd6_total
    (HAM-D 6, Bech; a per-visit score, not a registered scale), and patient-level
    group, age, bmi, female (1/0, NaN if not available). ``group`` is coded by read_trial
    (``trial.codings["group"]``): without healthy controls it is binary, 1 = bipolar
    depression ("BP") vs 0 = major depressive disorder ("MDD"); with them, a categorical
    column with levels MDD (reference), BP, HC. ``trial.arm_names`` is
    {1: "Ketamine", 0: "Placebo"}.

    Excluded with their reasons (see ``report()``): healthy controls unless
    ``include_healthy``; sessions whose infusion was never given (infusion n/a,
    including the baselines of patients never infused); the one row without a
    session; visits without any score. ``source_row`` is the row of phenotype.tsv.
    """
    pheno, people = _tsv("phenotype.tsv"), _tsv("participants.tsv")
    d = pheno.assign(source_row=np.arange(len(pheno))).merge(people, on="participant_id", how="left", validate="m:1")

    session = d["session_id"].str.extract(r"^ses-(?P<kind>[bdp])(?P<day>\d+)$")
    is_base = session["kind"].eq("b")
    period = pd.Series(np.select([d["infusion_1"].eq(session["kind"]), d["infusion_2"].eq(session["kind"])], [1, 2], 0), index=d.index)
    period = period.mask(is_base & d["infusion_1"].notna(), 1)
    frame = pd.DataFrame(
        {
            "patient": d["participant_id"],
            "arm": session["kind"].mask(is_base, d["infusion_1"]).map(ARM_LABELS),
            "period": period,
            "day": session["day"].astype(float),
            "madrs_total": d["MADRS_Total"],
            "hrsd17_total": d["HAM17_Total"],
            "hamd6_total": d["HAMD_Bech"],
            "group": d["group"],
            "age": d["age"],
            "bmi": d["BMI"],
            "female": d["sex"].map({"F": 1.0, "M": 0.0}),
            "source_row": d["source_row"],
        }
    )
    reason = pd.Series(
        np.select(
            [d["group"].eq("HC") & (not include_healthy), session["kind"].isna(), period.eq(0)],
            [HEALTHY, NO_SESSION, NOT_GIVEN],
            "",
        ),
        index=d.index,
    )
    keep = reason.eq("")
    trial = read_trial(frame.loc[keep], visit_columns=("hamd6_total",), reference_levels={"group": "MDD"})
    dropped = frame.loc[~keep, ["source_row", "patient", "day"]].assign(reason=reason[~keep])
    excluded = pd.concat([dropped, trial.excluded], ignore_index=True).sort_values("source_row", ignore_index=True)
    return replace(
        trial,
        excluded=excluded,
        n_input_rows=len(pheno),
        source="bayes_ket.datasets.ketamine_moa (OpenNeuro ds005917)",
    )
