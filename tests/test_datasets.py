import numpy as np
import pandas as pd
import pytest

from bayes_ket import datasets, scales
from bayes_ket.data.trial import TrialData


def accounted(trial):
    rep = trial.report()
    assert rep.rows_used + rep.rows_excluded == rep.input_rows == trial.n_input_rows
    return rep


def test_citation_and_files_ship():
    text = datasets._file("CITATION.md").read_text()
    assert "10.18112/openneuro.ds005917.v1.0.1" in text and "CC0" in text and "Hedeker" in text
    assert datasets._file("riesby", "RIESBYT4.dat").is_file()


# ---- riesby ----------------------------------------------------------------
@pytest.fixture(scope="module")
def riesby():
    return datasets.riesby()


def test_riesby_layout(riesby):
    assert isinstance(riesby, TrialData)
    f = riesby.frame
    assert riesby.n_patients == 66 and len(f) == 375 and f["hrsd17_total"].notna().all()
    assert "arm" not in f and "study" not in f and not riesby.has_arm
    assert list(riesby.days) == [0, 7, 14, 21, 28, 35]
    assert f.groupby("patient")["endog"].nunique().eq(1).all()
    assert f.loc[f["patient"] == 609, "endog"].eq(1).all()
    assert "endweek" not in f and "intcpt" not in f
    assert riesby.moderators == ["endog"]


def test_riesby_accounting(riesby):
    rep = accounted(riesby)
    assert rep.input_rows == 396 and rep.rows_excluded == 21
    assert rep.excluded_by_reason == {"no score observed": 21}
    assert rep.visit_counts["all"].sum() == 375


def test_riesby_hrsd_converted_flagged(riesby):
    f = riesby.frame
    assert f["madrs_converted"].all()
    np.testing.assert_allclose(f["madrs_total"], scales.hrsd17_to_madrs(f["hrsd17_total"]))


def test_riesby_weekly_means(riesby):
    # Hedeker & Gibbons: HAM-D falls from about 23.4 at week 0 by about 2.4 points a week
    means = riesby.frame.groupby("day")["hrsd17_total"].mean()
    assert means[0] == pytest.approx(23.4, abs=0.5)
    slope = np.polyfit(means.index / 7, means.to_numpy(), 1)[0]
    assert -2.8 < slope < -2.0


# ---- ketamine_moa ------------------------------------------------------------
@pytest.fixture(scope="module")
def moa():
    return datasets.ketamine_moa()


@pytest.fixture(scope="module")
def moa_all():
    return datasets.ketamine_moa(include_healthy=True)


def test_ketamine_moa_layout(moa):
    f = moa.frame
    assert list(f.columns[:4]) == ["patient", "arm", "period", "day"]
    assert set(f["period"]) == {1, 2} and set(f["arm"]) == {0, 1} and moa.has_arm
    assert list(moa.days) == [0, 2, 10]
    assert (f.loc[f["day"] == 0, "period"] == 1).all()  # the one baseline, in period 1
    assert f.groupby(["patient", "period"])["arm"].nunique().eq(1).all()
    # crossover: a patient's two periods have different arms
    both = f.groupby("patient").filter(lambda g: g["period"].nunique() == 2)
    assert both.groupby("patient")["arm"].nunique().eq(2).all()
    # group is coded by read_trial: 1 = BP vs 0 = MDD (the reference)
    assert set(f["group"]) == {0.0, 1.0} and moa.n_patients == 33
    assert moa.codings["group"].levels == ("MDD", "BP") and moa.codings["group"].label == "group: BP vs MDD"
    assert moa.arm_names == {1: "Ketamine", 0: "Placebo"}
    assert "hamd6_total" not in moa.moderators and "group" in moa.moderators
    assert set(f["female"].dropna()) <= {0.0, 1.0}
    assert {"age", "bmi", "female", "hamd6_total"} <= set(f.columns)
    assert not f["madrs_converted"].any()


def test_ketamine_moa_order_follows_infusions(moa):
    f = moa.frame.set_index(["patient", "period", "day"])
    assert f.loc[("sub-MOA101", 1, 2.0), "arm"] == 1 and f.loc[("sub-MOA101", 2, 2.0), "arm"] == 0
    assert f.loc[("sub-MOA102", 1, 0.0), "arm"] == 0 and f.loc[("sub-MOA102", 2, 10.0), "arm"] == 1


def test_ketamine_moa_mdd_madrs_matches_readme(moa):
    mdd = moa.frame[(moa.frame["group"] == 0) & ~moa.frame["madrs_converted"]]
    stats = mdd.groupby(["arm", "day"])["madrs_total"].agg(["mean", "std"]).round(1)
    assert tuple(stats.loc[(1, 2.0)]) == (23.6, 10.3)
    assert tuple(stats.loc[(1, 10.0)]) == (28.2, 8.9)
    assert tuple(stats.loc[(0, 2.0)]) == (31.3, 5.9)
    assert tuple(stats.loc[(0, 10.0)]) == (34.2, 5.1)
    # README baseline 33.4 (4.6) counts all 32 MDD baselines, including sub-MOA138, who
    # was never infused: excluded here, so the used baselines are 31 at 33.1 (4.4).
    base = mdd.loc[mdd["day"] == 0, "madrs_total"]
    assert len(base) == 31 and (round(base.mean(), 1), round(base.std(), 1)) == (33.1, 4.4)
    never = moa.excluded[moa.excluded["reason"] == datasets.NOT_GIVEN]
    raw = datasets._tsv("phenotype.tsv").iloc[never["source_row"]]
    extra = raw.loc[(raw["session_id"] == "ses-b0") & raw["participant_id"].isin(["sub-MOA138"]), "MADRS_Total"]
    all_base = pd.concat([base, extra])
    assert len(all_base) == 32 and (round(all_base.mean(), 1), round(all_base.std(), 1)) == (33.4, 4.6)


def test_ketamine_moa_accounting(moa, moa_all):
    rep = accounted(moa)
    assert rep.input_rows == 236
    assert set(rep.excluded_by_reason) == {datasets.HEALTHY, datasets.NOT_GIVEN, "no score observed"}
    hc_rows = (datasets._tsv("phenotype.tsv")["participant_id"].isin(
        datasets._tsv("participants.tsv").query("group == 'HC'")["participant_id"])).sum()
    assert rep.excluded_by_reason[datasets.HEALTHY] == hc_rows
    rep_all = accounted(moa_all)
    assert rep_all.input_rows == 236 and datasets.HEALTHY not in rep_all.excluded_by_reason
    assert rep_all.excluded_by_reason[datasets.NO_SESSION] == 1
    group = moa_all.frame["group"]
    assert list(group.cat.categories) == ["MDD", "BP", "HC"] and set(group) == {"MDD", "BP", "HC"}
    assert moa_all.codings["group"].kind == "categorical" and moa_all.n_patients > moa.n_patients
    assert set(rep.excluded["source_row"]) | set(moa.frame["source_row"]) == set(range(236))


def test_ketamine_moa_sessions_of_ungiven_infusions_excluded(moa):
    # sub-MOA103: placebo first, no second infusion; sub-MOA117: never infused
    f = moa.frame
    assert set(f.loc[f["patient"] == "sub-MOA103", "arm"]) == {0}
    assert "sub-MOA117" not in set(f["patient"]) and "sub-MOA138" not in set(f["patient"])
    assert {"sub-MOA117", "sub-MOA138"} <= set(moa.excluded.loc[moa.excluded["reason"] == datasets.NOT_GIVEN, "patient"])


def test_hrsd_conversion_is_monotone_and_hits_the_published_anchors():
    out = scales.hrsd17_to_madrs(np.arange(53))
    assert np.all(np.diff(out) > 0)
    # Leucht et al. 2018: HAM-D 10, 20, 30, 40 -> MADRS 13, 26, 39, 52-53
    assert (out[10], out[20], out[30]) == (13, 26, 39) and 52 <= out[40] <= 53
    assert out[0] == 0 and out[52] == 60


def test_hrsd_conversion_agrees_with_observed_madrs_on_ketamine_moa(moa, record_property):
    """Both scales were rated at the same visits: the linked values must track the observed
    MADRS (totals and percent improvement). The mean difference is reported, not pinned:
    a sample's offset from the linking population is a fact about the sample."""
    both = moa.frame[~moa.frame["madrs_converted"]].dropna(subset=["madrs_total", "hrsd17_total"])
    converted = scales.hrsd17_to_madrs(both["hrsd17_total"])
    r_total = np.corrcoef(converted, both["madrs_total"])[0, 1]
    bias = float((converted - both["madrs_total"]).mean())
    base = both[both["day"] == 0].set_index("patient")[["madrs_total", "hrsd17_total"]]
    post = both[both["day"] > 0].merge(base, left_on="patient", right_index=True, suffixes=("", "_0"))
    pct_madrs = scales.percent_improvement(post["madrs_total_0"], post["madrs_total"])
    pct_hrsd = scales.percent_improvement(post["hrsd17_total_0"], post["hrsd17_total"])
    r_pct = np.corrcoef(pct_madrs, pct_hrsd)[0, 1]
    for name, value in [("r_total", r_total), ("mean_linked_minus_observed", bias), ("r_percent", r_pct)]:
        record_property(name, float(value))
    print(f"HRSD-17 -> MADRS on ketamine_moa (n={len(both)}): r={r_total:.2f}, mean linked - observed "
          f"{bias:+.1f} points; percent improvement r={r_pct:.2f} (n={len(post)})")
    assert len(both) > 50 and len(post) > 30
    assert r_total > 0.7 and r_pct > 0.7
