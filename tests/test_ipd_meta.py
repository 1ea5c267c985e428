"""IPD meta-analysis family (part 1): design, visits, bad input, summary meanings on mock draws (fast);
the bivariate likelihood against scipy; small real fits (integration); recovery and calibration (slow)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import bayes_ket as bk
from bayes_ket.cards import load_card
from bayes_ket.data.trial import TrialData
from bayes_ket.errors import BayesKetError
from bayes_ket.families import ipd_meta as fam
from bayes_ket.families.ipd_meta_model import bivariate_loglik
from bayes_ket.fitting import Analysis

from conftest import MOCK, quiet

PATIENT = ["age", "female", "bmi", "msm"]
STUDY = ["trd_threshold", "crossover", "active_placebo"]
TINY = dict(draws=200, tune=200, chains=2, progressbar=False)
#: part 1's behaviour (complete cases, normal priors, no M*), kept as options
PART1 = dict(missing="complete", shrinkage="normal", mstar=False)


@pytest.fixture(scope="module")
def ipd_trial():
    return bk.simulate("ipd_meta", seed=0)


@pytest.fixture(scope="module")
def small_ipd():
    return bk.simulate("ipd_meta", seed=2, n_patients=240, n_studies=6)


@pytest.fixture(scope="module")
def mock_ipd(ipd_trial):
    a = quiet(Analysis, "ipd_meta", ipd_trial, moderators=["age", "female"], study_moderators=STUDY, **PART1)
    return a.sample(seed=1, **MOCK)


def _trial(frame) -> TrialData:
    return TrialData(frame.reset_index(drop=True), source="test")


# ---- design -------------------------------------------------------------------------------------
def test_card_and_registry():
    card = load_card("ipd_meta")
    assert card.family == "ipd_meta" and card.settings["remission_threshold"] == 9
    assert "ipd_meta" in bk.families.names() if hasattr(bk, "families") else True
    assert callable(bk.ipd_meta_sequential)


def test_design_first_period_visits_and_linking(ipd_trial):
    d = fam.FAMILY.design(ipd_trial, load_card("ipd_meta"))
    truth = ipd_trial.truth["studies"]
    assert d.n == 809 and len(d.patients) == 809 and d.visits == ["rapid", "post_rapid"]
    vt = d.visit_table.set_index("study")
    for s, t in truth.items():  # the rapid visit of each study is its own rapid day, post_rapid day 7
        assert vt.loc[s, "rapid_day"] == t["rapid_day"] and vt.loc[s, "post_rapid_day"] == 7.0
        assert bool(vt.loc[s, "converted"]) == (t["scales"] == "hrsd17")
    # percent improvement, positive = improvement, from the first period only
    f = ipd_trial.frame
    p = f[(f["patient"] == d.units["patient"][0]) & (f["period"] == 1)].set_index("day")["madrs_total"]
    if np.isfinite(p.get(0.0, np.nan)):
        assert d.Y[0, 1] == pytest.approx(100 * (p[0.0] - p[7.0]) / p[0.0])
    assert d.remission_threshold == 9 and d.study_effects == "random" and d.intercepts == "fixed"
    crossover_second = f[(f["period"] == 2)]["patient"].nunique()
    assert d.exclusions.patients_by_reason()["crossover period after the first (periods='first')"] == crossover_second


def test_moderator_coding_within_across(ipd_trial):
    d = quiet(fam.FAMILY.design, ipd_trial, load_card("ipd_meta"), moderators=["age", "female"],
              study_moderators=["crossover"], **PART1)
    assert d.mod_kind == {"age": "continuous", "female": "binary", "crossover": "binary"}
    assert d.mod_scale["female"] == 1.0 and d.mod_scale["age"] == pytest.approx(np.nanstd(d.X[:, 0], ddof=1))
    Xw, Xa = d.within_across()
    for j in range(d.n_studies):  # within deviations average 0 in each study; study means average 0 over patients
        assert abs(Xw[d.study_idx == j].mean(axis=0)).max() < 1e-9
    assert abs(Xa[d.study_idx].mean(axis=0)).max() < 1e-9
    assert abs(d.study_standardised()[d.study_idx].mean()) < 1e-9


def test_complete_cases_warn_per_study_and_moderator(ipd_trial):
    with pytest.warns(bk.BayesKetWarning) as record:
        d = fam.FAMILY.design(ipd_trial, load_card("ipd_meta"), moderators=["msm"], missing="complete")
    never = [s for s, t in ipd_trial.truth["studies"].items() if "msm" not in t["collects"]]
    texts = [str(w.message) for w in record]
    for s in never:
        assert any(t.startswith(f"Study {s}:") and "'msm'" in t for t in texts)
    assert set(d.studies).isdisjoint(never) and d.never_measured["msm"] == sorted(never)
    vt = d.visit_table.set_index("study")
    assert (vt.loc[never, "excluded_because"] == "moderator msm missing").all()


# ---- bad input --------------------------------------------------------------------------------
def test_study_moderator_varying_within_a_study(small_ipd):
    f = small_ipd.frame.copy()
    f.loc[f["patient"] == f["patient"].iloc[0], "crossover"] = 1 - f.loc[f["patient"] == f["patient"].iloc[0],
                                                                        "crossover"]
    study = f["study"].iloc[0]
    with pytest.raises(BayesKetError, match=f"'crossover'.*study {study}"):
        fam.FAMILY.design(_trial(f), load_card("ipd_meta"), study_moderators=["crossover"])


def test_study_with_no_visit_in_either_window_is_reported(small_ipd):
    f = small_ipd.frame.copy()
    s = f["study"].unique()[1]
    f.loc[(f["study"] == s) & (f["day"] > 0), "day"] = 21.0
    with pytest.warns(bk.BayesKetWarning, match=f"Study {s} has no visit in either window"):
        d = fam.FAMILY.design(_trial(f), load_card("ipd_meta"))
    assert s not in d.studies
    vt = d.visit_table.set_index("study")
    assert vt.loc[s, "excluded_because"] == "study has no visit in either window"


def test_study_without_a_rapid_visit_contributes_post_rapid_only(small_ipd):
    f = small_ipd.frame.copy()
    s = f["study"].unique()[2]
    f.loc[(f["study"] == s) & (f["day"] > 0) & (f["day"] < 6), "day"] = 4.0
    with pytest.warns(bk.BayesKetWarning, match=f"Study {s} has no visit in the rapid window"):
        d = fam.FAMILY.design(_trial(f), load_card("ipd_meta"))
    j = d.studies.index(s)
    assert d.available[j].tolist() == [False, True]
    assert np.isnan(d.Y[d.study_idx == j, 0]).all() and np.isfinite(d.Y[d.study_idx == j, 1]).all()


def test_one_arm_study_is_reported_and_excluded(small_ipd):
    f = small_ipd.frame.copy()
    s = f["study"].unique()[0]
    f = f[~((f["study"] == s) & (f["arm"] == 0))]
    with pytest.warns(bk.BayesKetWarning, match=f"Study {s} has one arm only"):
        d = fam.FAMILY.design(_trial(f), load_card("ipd_meta"))
    assert s not in d.studies
    assert d.visit_table.set_index("study").loc[s, "excluded_because"] == "study has one arm only (no treatment contrast)"


def test_moderator_missing_everywhere_and_other_errors(small_ipd):
    f = small_ipd.frame.assign(nothing=np.nan)
    card = load_card("ipd_meta")
    with pytest.raises(BayesKetError, match="'nothing' is missing in every study"):
        fam.FAMILY.design(_trial(f), card, moderators=["nothing"])
    with pytest.raises(BayesKetError, match="'crossover' is constant within every study"):
        fam.FAMILY.design(small_ipd, card, moderators=["crossover"])
    with pytest.raises(BayesKetError, match="both as moderators"):
        fam.FAMILY.design(small_ipd, card, moderators=["age"], study_moderators=["age"])
    with pytest.raises(BayesKetError, match="outcome_scale"):
        fam.FAMILY.design(small_ipd, card, outcome_scale="log")
    with pytest.raises(BayesKetError, match="not in the trial"):
        fam.FAMILY.design(small_ipd, card, moderators=["shoe_size"])
    with pytest.raises(BayesKetError, match="'study' column"):
        fam.FAMILY.design(_trial(small_ipd.frame.drop(columns="study")), card)


def test_baseline_at_floor_excluded_with_reason(small_ipd):
    f = small_ipd.frame.copy()
    p = f["patient"].iloc[0]
    f.loc[(f["patient"] == p) & (f["day"] == 0), "madrs_total"] = 0.0
    d = fam.FAMILY.design(_trial(f), load_card("ipd_meta"))
    assert p not in set(d.units["patient"])
    assert any("floor" in r for r in d.exclusions.patients_by_reason())
    d = fam.FAMILY.design(_trial(f), load_card("ipd_meta"), outcome_scale="points")
    assert p in set(d.units["patient"])


# ---- likelihood -------------------------------------------------------------------------------
def test_bivariate_loglik_matches_scipy():
    from scipy.stats import multivariate_normal, norm

    rng = np.random.default_rng(3)
    n = 50
    s1, s2, rho = rng.uniform(5, 30, n), rng.uniform(5, 30, n), rng.uniform(-0.9, 0.95, n)
    r = rng.normal(0, 20, (n, 2))
    o = np.ones((n, 2))
    o[:10, 0] = 0
    o[10:20, 1] = 0
    got = bivariate_loglik(r[:, 0] * o[:, 0], r[:, 1] * o[:, 1], o[:, 0], o[:, 1], s1**2, rho * s1 * s2, s2**2)
    for i in range(n):
        if o[i].all():
            cov = [[s1[i] ** 2, rho[i] * s1[i] * s2[i]], [rho[i] * s1[i] * s2[i], s2[i] ** 2]]
            ref = multivariate_normal([0, 0], cov).logpdf(r[i])
        elif o[i, 0]:
            ref = norm(0, s1[i]).logpdf(r[i, 0])
        else:
            ref = norm(0, s2[i]).logpdf(r[i, 1])
        assert got[i] == pytest.approx(ref, rel=1e-10)


def _dense_study_terms(y, o, mu, cov, c, sidx, T):
    """Per study: log N(observed y | mu, blockdiag(Sigma_i) + c c' x T) and D_j's conditional mean and
    covariance, by dense Gaussian algebra over the study's observed outcomes."""
    from scipy.stats import multivariate_normal

    V = y.shape[1]
    out = []
    for j in np.unique(sidx):
        rows = np.flatnonzero(sidx == j)
        keep = [(i, v) for i in rows for v in range(V) if o[i, v]]
        k = len(keep)
        S = np.zeros((k, k))
        X = np.zeros((k, V))  # loading of D_j on each observed outcome: c_i e_v
        for a, (i, v) in enumerate(keep):
            X[a, v] = c[i]
            for b, (i2, v2) in enumerate(keep):
                if i == i2:
                    S[a, b] = cov[i][v, v2]
        full = S + X @ T @ X.T
        yy = np.array([y[i, v] for i, v in keep])
        mm = np.array([mu[i, v] for i, v in keep])
        gain = T @ X.T @ np.linalg.inv(full)
        out.append((multivariate_normal(mm, full).logpdf(yy), gain @ (yy - mm), T - gain @ X @ T))
    return out


@pytest.mark.parametrize("V", [1, 2])
def test_study_marginal_matches_dense_gaussian(V):
    """The study deviations integrated out study by study (Woodbury form) equal the dense multivariate
    normal of each study's observed outcomes, and D_j's conditional normal equals Gaussian conditioning."""
    from types import SimpleNamespace

    from bayes_ket.families.ipd_meta_model import study_marginal

    rng = np.random.default_rng(7)
    n, J = 14, 3
    sidx = np.repeat(np.arange(J), [4, 6, 4])
    c = rng.permutation(np.arange(n) % 2) - 0.5
    o = np.ones((n, V))
    if V == 2:
        o[[1, 6], 0] = 0
        o[[2, 9, 12], 1] = 0
    s1, s2, rho = rng.uniform(5, 20, n), rng.uniform(5, 20, n), rng.uniform(-0.5, 0.9, n)
    cov3 = np.column_stack([s1**2, rho * s1 * s2 if V == 2 else np.zeros(n), s2**2 if V == 2 else np.ones(n)])
    mu = rng.normal(20, 5, (n, V))
    y = np.where(o > 0, rng.normal(25, 15, (n, V)), 0.0)
    tau = np.array([6.0, 4.0])[:V]
    r = 0.7 if V == 2 else 0.0
    T = np.diag(tau) @ np.array([[1, r], [r, 1]])[:V, :V] @ np.diag(tau)
    d = SimpleNamespace(visits=["rapid", "post_rapid"][:V])
    a = {"c": c, "study_onehot": np.eye(J)[sidx]}
    study_ll, cond = study_marginal(d, a, y, o, mu, cov3, tau, r)
    study_ll, cond = study_ll.eval(), cond.eval()
    res = (y - mu) * o
    units = bivariate_loglik(res[:, 0], res[:, 1] if V == 2 else np.zeros(n), o[:, 0],
                             o[:, 1] if V == 2 else np.zeros(n), cov3[:, 0], cov3[:, 1], cov3[:, 2])
    covs = [np.array([[cov3[i, 0], cov3[i, 1]], [cov3[i, 1], cov3[i, 2]]])[:V, :V] for i in range(n)]
    for j, (ll, mean, var) in enumerate(_dense_study_terms(y, o, mu, covs, c, sidx, T)):
        assert units[sidx == j].sum() + study_ll[j] == pytest.approx(ll, rel=1e-10)
        np.testing.assert_allclose(cond[j, :V], mean, rtol=1e-9)
        got = np.array([[cond[j, 2], cond[j, 3]], [cond[j, 3], cond[j, 4]]])[:V, :V]
        np.testing.assert_allclose(got, var, rtol=1e-9)


def test_study_deviations_marginal_unless_binary_imputation(ipd_trial):
    card = load_card("ipd_meta")
    d = fam.FAMILY.design(ipd_trial, card, **PART1)
    assert d.parameterization == "marginal" and fam.FAMILY.describe(d)["study_deviations"] == "marginal"
    assert fam.FAMILY.design(ipd_trial, card, moderators=["age", "female", "bmi"]).parameterization == "marginal"
    nulls = quiet(bk.simulate, "ipd_meta", seed=0, null_moderators=4)  # null_04 is binary, 5 % missing
    d = quiet(fam.FAMILY.design, nulls, card, moderators=["age", "null_04"])
    assert d.parameterization == "noncentered"
    with pytest.raises(BayesKetError, match="parameterization='noncentered'"):
        quiet(fam.FAMILY.design, nulls, card, moderators=["age", "null_04"], parameterization="marginal")
    model = quiet(Analysis, "ipd_meta", ipd_trial, visits="rapid").model
    assert "tau" in model.named_vars and "study_z" not in model.named_vars and "study_deviation" not in model.named_vars


# ---- summary on mock draws -------------------------------------------------------------------
def test_summary_quantities_and_coordinates(mock_ipd):
    s = quiet(mock_ipd.summary)
    expected = {"effect", "effect_std", "tau", "effect_new_study", "corr_study", "study_effect", "moderation",
                "sigma", "corr_visits", "response_rate", "remission_rate", "response_difference", "nnt_response"}
    assert expected == set(s["quantity"])
    assert list(s.columns[:6]) == ["quantity", "visit", "arm", "study", "moderator", "level"]
    assert set(s.loc[s.quantity == "effect", "visit"]) == {"rapid", "post_rapid"}
    mod = s[s.quantity == "moderation"]
    levels = mod.groupby("moderator")["level"].apply(set).to_dict()
    assert levels == {"age": {"within", "across"}, "female": {"within", "across"},
                      **{m: {"study"} for m in STUDY}}
    assert mod[["mean", "lower", "upper", "prob_relevant"]].notna().all().all()
    assert set(s.loc[s.quantity == "response_rate", "arm"]) == {"ketamine", "control"}
    assert not s[["mean"]].isna().any().any()


def test_effect_std_study_effect_and_moderation_units(mock_ipd):
    post = mock_ipd.idata.posterior
    sd = mock_ipd.meta["outcome_sd"]
    for v in ("rapid", "post_rapid"):
        np.testing.assert_allclose(post["effect_std"].sel(visit=v), post["effect"].sel(visit=v) / sd[v])
    # moderation per original unit = coefficient per SD / SD (continuous), per 0 -> 1 (binary)
    age_sd = mock_ipd.meta["moderator_scale"]["age"]
    mod = mock_ipd.draws("moderation")
    np.testing.assert_allclose(mod.sel(moderator="age", level="within"),
                               post["moderation_within"].sel(patient_moderator="age") / age_sd)
    np.testing.assert_allclose(mod.sel(moderator="female", level="across"),
                               post["moderation_across"].sel(patient_moderator="female"))
    assert np.isnan(mod.sel(moderator="crossover", level="within")).all()
    assert not np.isnan(mod.sel(moderator="crossover", level="study")).any()
    # relevant size per original unit: the card's size per SD
    q = {x.name: x for x in mock_ipd.quantity_specs}["moderation"]
    assert q.relevant["moderator"]["age"] == pytest.approx(mock_ipd.meta["relevant_moderation"] / mock_ipd.meta["moderator_sd"]["age"])
    # study effect = effect + study deviation + across and study-level terms at the study's values
    se = post["study_effect"] - post["effect"] - post["study_deviation"]
    assert float(abs(se).max()) > 0  # moderators contribute


def test_nnt_and_rates(mock_ipd):
    s = quiet(mock_ipd.summary)
    rd = s[s.quantity == "response_difference"].set_index("visit")
    nnt = s[s.quantity == "nnt_response"].set_index("visit")
    draws = mock_ipd.draws("response_difference").transpose("chain", "draw", "visit").values.reshape(-1, 2)
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(nnt.loc[["rapid", "post_rapid"], "mean"], np.median(1 / draws, axis=0))
    rr = mock_ipd.draws("response_rate")
    np.testing.assert_allclose(rr.sel(arm="ketamine") - rr.sel(arm="control"), mock_ipd.draws("response_difference"))
    assert float(rr.min()) >= 0 and float(rr.max()) <= 1


def test_methods_figures_and_save(mock_ipd, tmp_path):
    vt = mock_ipd.visit_table()
    assert {"study", "rapid_day", "post_rapid_day", "patients", "converted", "excluded_because"} <= set(vt.columns)
    for name in ("ppc", "forest", "moderators"):
        mock_ipd.plot(name, tmp_path / f"{name}.png")
        assert (tmp_path / f"{name}.png").stat().st_size > 1000
    # the panels share the y axis: each study's label carries its day at both visits (rapid / post_rapid)
    fig = mock_ipd.plot_forest()
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    for st, r in vt.set_index("study").loc[mock_ipd.meta["studies"]].iterrows():
        assert f"{st} (n={r['patients']}, days {r['rapid_day']:g} / {r['post_rapid_day']:g})" in labels
    with pytest.raises(BayesKetError, match="M\\*"):
        mock_ipd.plot("mstar", tmp_path / "m.png")
    mock_ipd.save(tmp_path / "fit.nc")
    back = bk.load_fit(tmp_path / "fit.nc")
    a, b = quiet(mock_ipd.summary), quiet(back.summary)
    pd.testing.assert_frame_equal(a, b)
    assert mock_ipd.meta["loo_unit"] == "patient" and mock_ipd.loo() is not None


def test_points_scale_and_options_build(small_ipd):
    a = quiet(Analysis, "ipd_meta", small_ipd, outcome_scale="points", study_intercepts="random",
              residual="study", linking_error=True, moderators=["age"], study_moderators=["crossover"], **PART1)
    names = {v.name for v in a.model.free_RVs}
    assert {"baseline_coef_scaled", "intercept_mean_scaled", "sd_study", "sd_link", "log_sigma_scaled",
            "across_coef_scaled", "study_moderator_coef_scaled"} <= names
    f = a.sample(seed=2, **MOCK)
    assert f.meta["outcome_scale"] == "points" and "sd_link" in f.quantities
    assert f.idata.posterior["sigma"].dims[2:] == ("study", "visit")


def test_few_studies_give_a_common_effect():
    trial = bk.simulate("ipd_meta", seed=4, n_patients=60, n_studies=2)
    with pytest.warns(bk.BayesKetWarning, match="one common treatment effect"):
        a = Analysis("ipd_meta", trial)
    f = a.sample(seed=1, **MOCK)
    assert "tau" not in f.quantities and "effect_new_study" not in f.quantities
    assert "common" in f.diagnostics()["study_level"]


def test_calibration_generators_round_trip():
    rng = np.random.default_rng(0)
    trial = fam.FAMILY.calibration_trial(rng)
    a = Analysis("ipd_meta", trial, moderators=["age", "female"], study_moderators=["crossover"])
    assert a.design.shrinkage == "horseshoe" and a.design.mstar  # the card's defaults
    draws = fam.FAMILY.prior_draws(a.model, 2, rng)
    sim = fam.FAMILY.simulate(a.design, draws[0], rng)
    b = a.rebind(sim)  # the same structure: the compiled sampler is reused
    assert b.design.n == a.design.n and b.design.visits == a.design.visits
    np.testing.assert_allclose(b.design.X, a.design.X)
    assert set(trial.truth) == {("effect", "rapid"), ("effect", "post_rapid")}


# ---- small real fits (integration) ---------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_ipd_fit(small_ipd):
    return quiet(bk.fit, "ipd_meta", small_ipd, study_moderators=["crossover"], seed=1, **TINY)


@pytest.mark.integration
def test_small_real_fit(tiny_ipd_fit, small_ipd):
    d = tiny_ipd_fit.diagnostics()
    assert d["divergences"] == 0 and d["max_rhat"] < 1.05
    s = quiet(tiny_ipd_fit.summary, ci_prob=0.99)
    truth = small_ipd.truth["model"]["percent"]["effect"]
    for v, t in truth.items():
        row = s[(s.quantity == "effect") & (s.visit == v)].iloc[0]
        assert row["lower"] < t < row["upper"]
    assert (s.loc[s.quantity == "effect", "mean"] > 0).all()  # percent: positive = benefit


@pytest.mark.integration
def test_sequential_one_model_per_moderator(small_ipd):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bk.BayesKetWarning)
        t = bk.ipd_meta_sequential(small_ipd, moderators=["age"], study_moderators=["crossover"], seed=1, **TINY)
    assert set(t["moderator"]) == {"age", "crossover"} and set(t.attrs["fits"]) == {"age", "crossover"}
    assert set(t.loc[t.moderator == "age", "level"]) == {"within", "across"}
    assert {"mean", "lower", "upper", "prob_positive", "r_hat", "n_patients"} <= set(t.columns)


# ---- calibration on the family's own generative form (slow, bounded) -----------------------------
CAL_FIT = {"draws": 300, "tune": 300, "chains": 2}


def _card_with_moderators():
    card = load_card("ipd_meta").to_dict()
    card["settings"] |= {"moderators": ["age", "female"], "study_moderators": ["crossover"]}
    return card


@pytest.mark.slow
def test_ipd_meta_coverage_two_sided():
    from bayes_ket.calibration import coverage, summarise_coverage

    table = coverage("ipd_meta", replications=16, ci_prob=0.9, seed=2, fit_options=CAL_FIT, n_studies=6,
                     n_per_study=30)
    cov = summarise_coverage(table).set_index("quantity")
    assert cov.loc["effect", "ok"], cov  # 32 intervals, within 3 clustered SE of 0.90
    assert (table["divergences"] == 0).mean() >= 0.9


@pytest.mark.slow
def test_ipd_meta_sbc_is_uniform():
    """SBC of the card's default model (horseshoe, M*) with two patient moderators and one study moderator:
    every population-level free parameter's ranks inside the simultaneous band (familywise 1%)."""
    from bayes_ket.calibration import sbc, sbc_uniformity

    # the horseshoe's half-Cauchy scales drawn from the prior include extreme values on 120-patient
    # trials: at target_accept 0.9, 12 of 40 replications had 1-5 divergences; a smaller step size
    # (0.95) is what a user would try, and is what this check uses
    t = sbc(_card_with_moderators(), replications=40, thin_to=49, seed=3,
            sizes={"n_studies": 5, "n_per_study": 24}, fit_options=CAL_FIT | {"target_accept": 0.95})
    u = sbc_uniformity(t)
    assert u["inside"].all(), u[~u["inside"]]
    assert (t.groupby("replication")["divergences"].first() == 0).mean() >= 0.8
