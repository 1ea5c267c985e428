"""The hand-written likelihoods against references (sub-second, no sampling)."""

import mpmath
import numpy as np
import pytensor.tensor as pt
import pytest
from scipy import stats

from bayes_ket.families.items import _log_interval_prob
from bayes_ket.families import design as shared
from bayes_ket.families.trajectory import (TrajectoryFamily, coefficient_shapes, fixed_part_matrix,
                                           fixed_part_statistics, linear_predictor, marginal_total,
                                           patient_marginal)


def _random_design(rng, n_patients=4):
    rows = rng.integers(1, 6, n_patients)
    patient = np.repeat(np.arange(n_patients), rows)
    s = rng.uniform(0, 3, len(patient))
    resid = rng.normal(0, 5, len(patient))
    sums = np.stack([np.bincount(patient, weights=s**k, minlength=n_patients) for k in range(3)], axis=1)
    return resid, s, patient, sums


@pytest.mark.parametrize("seed", range(5))
def test_patient_marginal_is_the_multivariate_normal_density(seed):
    rng = np.random.default_rng(seed)
    resid, s, patient, sums = _random_design(rng)
    tau, r, sigma = rng.uniform(0.5, 4, 2), rng.uniform(-0.9, 0.9), rng.uniform(0.5, 4)
    loglik, mean, cov = patient_marginal(resid, s, patient, sums, tau, r, sigma)
    Sigma = np.array([[tau[0] ** 2, r * tau[0] * tau[1]], [r * tau[0] * tau[1], tau[1] ** 2]])
    for p in range(len(sums)):
        Z = np.column_stack([np.ones((patient == p).sum()), s[patient == p]])
        V = sigma**2 * np.eye(len(Z)) + Z @ Sigma @ Z.T
        y = resid[patient == p]
        assert loglik[p] == pytest.approx(stats.multivariate_normal(np.zeros(len(Z)), V).logpdf(y), rel=1e-9)
        # b | y ~ N(Sigma Z' V^-1 y, Sigma - Sigma Z' V^-1 Z Sigma)
        K = Sigma @ Z.T @ np.linalg.inv(V)
        np.testing.assert_allclose(mean[p], K @ y, rtol=1e-8, atol=1e-10)
        C = Sigma - K @ Z @ Sigma
        np.testing.assert_allclose(cov[p], [C[0, 0], C[0, 1], C[1, 1]], rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("time", ["visit", "log", "linear"])
def test_trajectory_mean_from_basis_tables_is_the_row_by_row_product(time):
    """The model gathers B(t) coefficients from per-day tables; that is B_rows @ coefficients."""
    import bayes_ket as bk
    from bayes_ket.cards import load_card

    d = TrajectoryFamily().design(bk.simulate("pooled_rct", seed=0, n_patients=40), load_card("trajectory"), time=time)
    a = d.observed_arrays()
    rng = np.random.default_rng(0)
    p = {"alpha": rng.normal(size=a["B"].shape[1]), "delta": rng.normal(size=a["C"].shape[1]),
         "beta": rng.normal(size=(a["B"].shape[1], a["X"].shape[1])),
         "gamma": rng.normal(size=(a["C"].shape[1], a["X"].shape[1]))}
    B, C, s, _, _ = shared.time_basis(d.time, d.rows[d.time_column].to_numpy(float), d.model_days)
    assert len(a["B"]) < len(B)  # tables: one row per distinct day
    expected = B @ p["alpha"] + a["arm"] * (C @ p["delta"]) + (a["X"] * (B @ p["beta"])).sum(1) \
        + a["arm"] * (a["X"] * (C @ p["gamma"])).sum(1)
    np.testing.assert_allclose(linear_predictor(p, a), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(a["s"], s)


def test_patient_marginal_symbolic_equals_numpy():
    rng = np.random.default_rng(9)
    resid, s, patient, sums = _random_design(rng, 6)
    tau, r, sigma = np.array([2.0, 0.7]), 0.3, 1.5
    ref = patient_marginal(resid, s, patient, sums, tau, r, sigma)
    sym = patient_marginal(pt.as_tensor(resid), pt.as_tensor(s), pt.as_tensor(patient), pt.as_tensor(sums),
                           pt.as_tensor(tau), pt.as_tensor(r), pt.as_tensor(sigma))
    for a, b in zip(ref, sym):
        np.testing.assert_allclose(a, b.eval(), rtol=1e-7)


@pytest.mark.parametrize("scenario, options", [
    ("pooled_rct", {}),  # fixed study offsets, a moderator
    ("pooled_rct", {"time": "log", "baseline": "covariate"}),
    ("ipd_meta", {}),  # random study intercepts and effects, two periods
    ("open_label", {"outcome_scale": "percent"}),
])
def test_marginal_from_grouped_statistics_equals_the_rows(scenario, options):
    """The model's log density (``marginal_total``, from sums over patient groups taken once)
    equals the sum of the per-patient marginal from every row's residual, at coefficients away
    from the least-squares fit; and the fixed-part matrix reproduces ``linear_predictor``."""
    import bayes_ket as bk
    from bayes_ket.cards import load_card

    d = TrajectoryFamily().design(bk.simulate(scenario, seed=1), load_card("trajectory"), **options)
    a = d.observed_arrays()
    shapes = coefficient_shapes(d)
    D = fixed_part_matrix(shapes, a)
    rng = np.random.default_rng(4)
    theta = rng.normal(0, 3, D.shape[1])
    blocks, start = {}, 0
    for name, shape in shapes.items():
        blocks[name] = theta[start:start + int(np.prod(shape))].reshape(shape)
        start += int(np.prod(shape))
    np.testing.assert_allclose(D @ theta, linear_predictor(blocks, a), rtol=1e-12, atol=1e-9)

    y = d.rows["_value"].to_numpy(float)
    n_pat = len(d.patients)
    sums = np.stack([np.bincount(a["patient"], weights=a["s"] ** k, minlength=n_pat) for k in range(3)], axis=1)
    stats = fixed_part_statistics(D, y, a["s"], a["patient"], sums)
    assert len(stats["group_size"]) <= n_pat and stats["group_size"].sum() == n_pat
    tau, r, sigma = np.array([4.0, 1.5]), np.array(-0.3), np.array(3.0)  # float64 tensors (3.0 alone: float32)
    expected = patient_marginal(y - D @ theta, a["s"], a["patient"], sums, tau, r, sigma)[0].sum()
    got = marginal_total({k: pt.as_tensor(v) for k, v in stats.items()}, pt.as_tensor(theta - stats["theta_hat"]),
                         pt.as_tensor(tau), pt.as_tensor(r), pt.as_tensor(sigma)).eval()
    assert got == pytest.approx(expected, rel=1e-10)


def _reference(a, b, link):
    """log(F(a) - F(b)) in 60-digit arithmetic."""
    mpmath.mp.dps = 60
    F = (lambda x: 1 / (1 + mpmath.exp(-x))) if link == "logit" else (lambda x: mpmath.ncdf(x))
    fa = mpmath.mpf(1) if a == np.inf else F(mpmath.mpf(a))
    fb = mpmath.mpf(0) if b == -np.inf else F(mpmath.mpf(b))
    return float(mpmath.log(fa - fb))


@pytest.mark.parametrize("link", ["logit", "probit"])
def test_ordinal_interval_probability_matches_high_precision(link):
    """Interior categories (width 1), and the two end categories, across the linear predictor's range
    including extremes where a plain cdf difference underflows to -inf (PyMC's OrderedLogistic does):
    ours must stay finite and accurate there."""
    etas = np.array([-40.0, -25.0, -12.0, -3.0, 0.0, 2.5, 12.0, 25.0, 40.0])
    limit = 30 if link == "logit" else 8  # probit tails beyond ~8 SD underflow double precision itself
    for lower_cut, upper_cut in ((-0.5, 0.5), (-np.inf, -1.0), (1.0, np.inf)):
        a = upper_cut - etas
        b = lower_cut - etas
        got = _log_interval_prob(pt.as_tensor(a), pt.as_tensor(b), link).eval()
        for ai, bi, g, eta in zip(a, b, got, etas):
            ref = _reference(ai, bi, link)
            if abs(eta) > limit:
                assert np.isfinite(g) or ref < -700, (link, eta, g, ref)
                continue
            assert np.isfinite(g), (link, eta, lower_cut, upper_cut)
            assert g == pytest.approx(ref, rel=1e-6, abs=1e-9), (link, eta, lower_cut, upper_cut, g, ref)


def test_plain_cdf_difference_underflows_where_ours_does_not():
    """The reason for the reflected form: at eta = 40 an interior category's probability is ~e^-40;
    F(a) - F(b) computed directly rounds to 0 (log -inf), ours does not."""
    a, b = np.array([0.5 - 40.0]), np.array([-0.5 - 40.0])
    plain = np.log(1 / (1 + np.exp(-a)) - 1 / (1 + np.exp(-b)))
    a2, b2 = np.array([0.5 + 40.0]), np.array([-0.5 + 40.0])
    with np.errstate(divide="ignore"):
        naive_high = np.log(1 / (1 + np.exp(-a2)) - 1 / (1 + np.exp(-b2)))
    ours = _log_interval_prob(pt.as_tensor(a2), pt.as_tensor(b2), "logit").eval()
    assert np.isfinite(plain).all()  # the low tail is fine for both
    assert not np.isfinite(naive_high).all() and np.isfinite(ours).all()
    assert ours[0] == pytest.approx(_reference(a2[0], b2[0], "logit"), rel=1e-6)
