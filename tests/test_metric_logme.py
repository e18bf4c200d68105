"""LogME: brute-force evidence, invariances, the N < D log-determinant, and the NumPy (thuml-structured) reference."""

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal, ortho_group

from bench.numpy_reference.logme import logme as logme_numpy
from transfer_core.metrics.errors import DegenerateInputError, MetricInputError
from transfer_core.metrics.logme import ArrowheadForm, SpectralForm, evidence_per_target, logme, spectral_form
from transfer_core.metrics.prepared import prepare
from transfer_core.metrics.registry import REGISTRY


def _classification(seed, n, d, c, separation=1.0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % c
    features = rng.normal(size=(n, d)) + separation * rng.normal(size=(c, d))[labels]
    return features, labels


def _fit(features, targets):
    """Final α, β of each target column from the metric's own fixed point."""
    data = prepare(features, targets=targets, device="cpu")
    _, fit = evidence_per_target(data, data.targets)
    return fit.alpha.numpy(), fit.beta.numpy()


def _formula(features, y, alpha, beta):
    """The spec's closed form at (α, β), with m², res² evaluated at t = α/β (independent NumPy SVD)."""
    n, d = features.shape
    u, s, _ = np.linalg.svd(features, full_matrices=False)
    sigma, x2, t = s**2, (u.T @ y) ** 2, alpha / beta
    m2 = np.sum(sigma * x2 / (t + sigma) ** 2)
    res2 = np.sum(x2 / (1 + sigma / t) ** 2) + y @ y - x2.sum()
    log_det = np.sum(np.log(alpha + beta * sigma)) + (d - sigma.size) * np.log(alpha)
    return (d / 2 * np.log(alpha) + n / 2 * np.log(beta) - log_det / 2 - beta / 2 * res2 - alpha / 2 * m2
            - n / 2 * np.log(2 * np.pi))


def _brute_force(features, y, alpha, beta):
    """log N(y | 0, α⁻¹ F Fᵀ + β⁻¹ I): the marginal likelihood of Bayesian linear regression."""
    covariance = features @ features.T / alpha + np.eye(len(y)) / beta
    return multivariate_normal(mean=np.zeros(len(y)), cov=covariance).logpdf(y)


@pytest.mark.parametrize("n, d", [(12, 3), (5, 9)])  # N > D, and N < D where zero eigenvalues count
def test_evidence_formula_equals_the_brute_force_marginal_likelihood(n, d):
    rng = np.random.default_rng(1)
    features = rng.normal(size=(n, d))
    y = features @ rng.normal(size=d) + 0.5 * rng.normal(size=n)
    (alpha,), (beta,) = _fit(features, y)
    assert _formula(features, y, alpha, beta) == pytest.approx(_brute_force(features, y, alpha, beta), rel=1e-10)


@pytest.mark.parametrize("offset", [0.0, 30.0])  # features centred, and far from the origin (as ReLU features)
def test_with_n_below_d_the_centred_arrowhead_gives_the_thin_svd_sums(offset):
    rng = np.random.default_rng(15)
    features = rng.normal(size=(25, 60)) * rng.gamma(1.0, size=60) + offset * rng.random(60)
    targets = np.stack([features @ rng.normal(size=60), rng.normal(size=25), (np.arange(25) % 3 == 0)], axis=1)
    data = prepare(features, targets=targets, device="cpu")
    arrowhead = spectral_form(data, data.targets)
    u, s, _ = np.linalg.svd(features, full_matrices=False)  # the spec's form from an independent NumPy SVD
    x2 = torch.tensor(u.T @ targets) ** 2
    reference = SpectralForm(torch.tensor(s**2)[:, None], x2, torch.tensor((targets**2).sum(axis=0)) - x2.sum(dim=0))
    assert isinstance(arrowhead, ArrowheadForm)
    rounding = 1e-13 * (targets**2).sum(axis=0)  # both forms take res² outside the span as ‖y‖² − ‖projection‖²
    for t in (1e-3, 1.0, 1e3):
        ratio = torch.full((3,), t, dtype=torch.float64)
        (gamma, m2, res2), expected = arrowhead.terms(ratio), reference.terms(ratio)
        np.testing.assert_allclose(gamma.numpy(), expected[0].numpy(), rtol=1e-9)
        np.testing.assert_allclose(m2.numpy(), expected[1].numpy(), rtol=1e-9)
        np.testing.assert_allclose(res2.numpy(), expected[2].numpy(), rtol=1e-9, atol=rounding.max())
        alpha, beta = torch.tensor([0.5, 2.0, 40.0], dtype=torch.float64), torch.tensor([3.0, 0.1, 7.0],
                                                                                       dtype=torch.float64)
        np.testing.assert_allclose(arrowhead.log_det(alpha, beta, 60).numpy(),
                                   reference.log_det(alpha, beta, 60).numpy(), rtol=1e-12)


def test_with_n_at_least_d_the_thin_svd_of_the_features_is_used():
    features, labels = _classification(16, n=30, d=6, c=3)
    data = prepare(features, labels, device="cpu")
    assert isinstance(spectral_form(data, data.one_hot), SpectralForm)


def test_fixed_point_sits_near_the_evidence_maximum():
    rng = np.random.default_rng(2)
    features = rng.normal(size=(30, 4))
    y = features @ rng.normal(size=4) + rng.normal(size=30)
    (alpha,), (beta,) = _fit(features, y)
    best = _brute_force(features, y, alpha, beta)
    for factor in (0.5, 2.0):
        assert best > _brute_force(features, y, alpha * factor, beta)
        assert best > _brute_force(features, y, alpha, beta * factor)


def test_n_below_d_is_finite_and_not_inflated():
    features, labels = _classification(3, n=8, d=40, c=2)
    score = logme(features, labels, device="cpu")
    assert np.isfinite(score)
    assert score == pytest.approx(logme_numpy(features, labels), rel=1e-9)
    # The score is the true evidence: brute force at each class's final α, β (up to the last step's
    # m², res²) — and the thuml variant's missing (D − N)/2 · log α term is far from negligible here.
    targets = (labels[:, None] == np.arange(2)).astype(float)
    alphas, betas = _fit(features, targets)
    brute = np.mean([_brute_force(features, targets[:, k], alphas[k], betas[k]) for k in range(2)]) / 8
    assert score == pytest.approx(brute, rel=1e-3)
    inflation = np.mean((40 - 8) / (2 * 8) * np.log(alphas))
    assert abs(inflation) > 100 * abs(score - brute)


@pytest.mark.parametrize("seed, n, d, c", [(4, 80, 6, 3), (5, 50, 20, 5), (6, 200, 16, 10)])
def test_matches_thuml_structured_reference_when_n_exceeds_d(seed, n, d, c):
    features, labels = _classification(seed, n, d, c)
    assert logme(features, labels, device="cpu") == pytest.approx(logme_numpy(features, labels), rel=1e-9)


def test_invariant_to_orthogonal_rotation_of_features():
    features, labels = _classification(7, n=40, d=6, c=3)
    rotation = ortho_group.rvs(6, random_state=7)
    assert logme(features @ rotation, labels) == pytest.approx(logme(features, labels), rel=1e-9)


def test_invariant_to_label_permutation():
    features, labels = _classification(8, n=45, d=5, c=3)
    permuted = np.array([2, 0, 1])[labels]
    assert logme(features, permuted) == pytest.approx(logme(features, labels), rel=1e-12)


def test_regression_single_and_multiple_targets():
    rng = np.random.default_rng(9)
    features = rng.normal(size=(60, 5))
    # Columns that converge at different iterations: the vectorised loop must freeze each one on time.
    targets = np.stack([features @ rng.normal(size=5) + scale * rng.normal(size=60)
                        for scale in (0.01, 1.0, 30.0)], axis=1)
    each = [logme(features, targets=targets[:, k]) for k in range(3)]
    assert each == pytest.approx([logme_numpy(features, targets=targets[:, k]) for k in range(3)], rel=1e-9)
    assert logme(features, targets=targets) == pytest.approx(np.mean(each), rel=1e-12)


def test_multi_label_targets_and_one_hot_as_targets():
    features, labels = _classification(10, n=50, d=6, c=3)
    rng = np.random.default_rng(10)
    multi_hot = (rng.random((50, 4)) < 0.4).astype(float)
    assert logme(features, targets=multi_hot) == pytest.approx(logme_numpy(features, targets=multi_hot), rel=1e-9)
    one_hot = np.eye(3)[labels]
    assert logme(features, targets=one_hot) == pytest.approx(logme(features, labels), rel=1e-12)


def test_more_informative_features_score_higher():
    good, labels = _classification(11, n=60, d=8, c=3, separation=3.0)
    noise = np.random.default_rng(11).normal(size=(60, 8))
    assert logme(good, labels) > logme(noise, labels)


def test_degenerate_and_bad_inputs():
    features, labels = _classification(12, n=20, d=4, c=2)
    with pytest.raises(DegenerateInputError):
        logme(features, np.zeros(20, dtype=int))
    with pytest.raises(DegenerateInputError):
        logme(np.zeros((20, 4)), labels)
    with pytest.raises(MetricInputError):
        logme(features)
    with pytest.raises(MetricInputError):
        logme(features, labels, targets=labels.astype(float))
    broken = features.copy()
    broken[3, 1] = np.nan
    with pytest.raises(MetricInputError):
        logme(broken, labels)


def test_awkward_but_valid_inputs_give_finite_scores_and_leave_inputs_untouched():
    features, labels = _classification(13, n=21, d=4, c=3)
    features[:, 2] = 5.0  # constant column
    labels[0] = 3  # a class with one sample
    original = features.copy()
    assert np.isfinite(logme(features, labels))
    assert np.isfinite(logme(features.astype(np.float16), labels))
    np.testing.assert_array_equal(features, original)


def test_registry_entry_scores_a_prepared_input():
    features, labels = _classification(14, n=30, d=4, c=3)
    spec = REGISTRY["logme"]
    assert spec.function(prepare(features, labels)) == pytest.approx(logme(features, labels), rel=1e-12)
    assert spec.missing_inputs(prepare(features, targets=labels.astype(float))) == []
