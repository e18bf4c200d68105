"""Shrinkage LDA shared by SFDA and DISCO: hand-derived power iteration, scikit-learn and scipy cross-checks."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal
from sklearn.covariance import shrunk_covariance
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

from transfer_core.metrics.errors import DegenerateInputError, MetricInputError
from transfer_core.metrics.lda import adaptive_shrinkage, fit_shrinkage_lda, shrink, top_eigenvalue_estimate


def blobs(n=300, d=6, classes=4, scale=1.0, seed=0):
    """Gaussian classes with random means and a shared random covariance, times ``scale``."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % classes
    mixing = rng.normal(size=(d, d))
    features = rng.normal(size=(n, d)) @ mixing + 2.0 * rng.normal(size=(classes, d))[labels]
    return scale * features, labels


def fit(features, labels, shrinkage=None):
    x = torch.tensor(features, dtype=torch.float64)
    y = torch.tensor(labels, dtype=torch.int64)
    return fit_shrinkage_lda(x, y, int(labels.max()) + 1, shrinkage), x, y


def within_class_scatter(features, labels):
    """Σ_c π_c cov(X_c), ddof 0, class by class."""
    return sum(np.mean(labels == c) * np.atleast_2d(np.cov(features[labels == c].T, bias=True))
               for c in np.unique(labels))


def test_power_iteration_by_hand():
    # A = diag(2, 1), x0 = A·1 = (2, 1): after three (y, x) steps x ∝ (128, 1), y ∝ (64, 1), so
    # xᵀAy = (2·128·64 + 1) / √(16385 · 4097) = √(16385 / 4097).
    matrix = torch.diag(torch.tensor([2.0, 1.0], dtype=torch.float64))
    assert top_eigenvalue_estimate(matrix) == pytest.approx(math.sqrt(16385 / 4097), rel=1e-14)


def test_power_iteration_without_a_start_uses_the_exact_eigenvalue():
    matrix = torch.tensor([[1.0, -1.0], [-1.0, 1.0]], dtype=torch.float64)  # A·1 = 0, eigenvalues 0 and 2
    assert top_eigenvalue_estimate(matrix) == pytest.approx(2.0, rel=1e-12)
    assert top_eigenvalue_estimate(torch.zeros(3, 3, dtype=torch.float64)) == 0.0


def test_adaptive_shrinkage_formula_and_floor():
    matrix = torch.diag(torch.tensor([0.2, 0.1], dtype=torch.float64))
    estimate = 0.1 * math.sqrt(16385 / 4097)  # the diag(2, 1) case scaled by 0.1
    assert adaptive_shrinkage(matrix) == pytest.approx(math.exp(-5 * estimate), rel=1e-12)
    assert adaptive_shrinkage(100 * matrix) == 1e-10


def test_shrink_matches_scikit_learn():
    features, _ = blobs()
    scatter = np.cov(features.T, bias=True)
    ours = shrink(torch.tensor(scatter), 0.3).numpy()
    np.testing.assert_allclose(ours, shrunk_covariance(scatter, 0.3), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("solver", ["lsqr", "eigen"])
@pytest.mark.parametrize("scale, classes", [(0.1, 4), (0.3, 2), (1.0, 5)])
def test_posterior_matches_scikit_learn(solver, scale, classes):
    """scikit-learn shrinks each class covariance ((1−λ)S_c + λ tr(S_c)/D I, ddof 0) and sums them with the
    priors, which is linear in S_c, hence equal to shrinking S_w; with the same λ and priors the posteriors
    must agree."""
    features, labels = blobs(scale=scale, classes=classes)
    lda, x, _ = fit(features, labels)
    assert 1e-10 <= lda.shrinkage <= 1.0
    priors = np.bincount(labels) / len(labels)
    reference = LinearDiscriminantAnalysis(solver=solver, shrinkage=lda.shrinkage, priors=priors)
    reference.fit(features, labels)
    np.testing.assert_allclose(lda.posterior(x).numpy(), reference.predict_proba(features), rtol=0, atol=1e-8)
    if classes > 2 and solver == "lsqr":  # scikit-learn keeps one row of coefficients for two classes
        np.testing.assert_allclose(lda.coef.numpy(), reference.coef_, rtol=1e-9)
        np.testing.assert_allclose(lda.intercept.numpy(), reference.intercept_, rtol=1e-9)


def test_adaptive_lambda_uses_within_class_scatter():
    features, labels = blobs(scale=0.2)
    lda, _, _ = fit(features, labels)
    scatter = within_class_scatter(features, labels)
    expected = max(math.exp(-5 * top_eigenvalue_estimate(torch.tensor(scatter))), 1e-10)
    assert lda.shrinkage == pytest.approx(expected, rel=1e-12)
    assert 0.01 < lda.shrinkage < 0.99  # this scale exercises the shrinkage, not the floor


def test_posterior_is_gaussian_class_conditional_with_pooled_shrunk_covariance():
    features, labels = blobs(n=120, d=4, classes=3, scale=0.3)
    lda, x, _ = fit(features, labels, shrinkage=0.25)
    covariance = shrunk_covariance(within_class_scatter(features, labels), 0.25)
    log_joint = np.stack([
        np.log(np.mean(labels == c))
        + multivariate_normal(features[labels == c].mean(axis=0), covariance).logpdf(features)
        for c in range(3)
    ], axis=1)
    bayes = np.exp(log_joint - log_joint.max(axis=1, keepdims=True))
    bayes /= bayes.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(lda.posterior(x).numpy(), bayes, atol=1e-10)


def test_fixed_lambda_is_reused_and_rotation_invariant():
    features, labels = blobs()
    rotation, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(6, 6)))
    lda, x, _ = fit(features, labels, shrinkage=0.05)
    rotated, rx, _ = fit(features @ rotation + 3.0, labels, shrinkage=0.05)
    assert lda.shrinkage == rotated.shrinkage == 0.05
    np.testing.assert_allclose(rotated.posterior(rx).numpy(), lda.posterior(x).numpy(), atol=1e-10)


def test_mean_true_class_probability():
    features, labels = blobs()
    lda, x, y = fit(features, labels)
    true_class = lda.posterior(x).numpy()[np.arange(len(labels)), labels]
    assert float(lda.mean_true_class_probability(x, y)) == pytest.approx(true_class.mean(), rel=1e-14)


def test_constant_columns_and_singleton_classes_stay_finite():
    features, labels = blobs(n=41, classes=4)
    features[:, 2] = 7.0
    labels[-1] = 4  # a class with one sample
    lda, x, _ = fit(features, labels)
    assert torch.isfinite(lda.posterior(x)).all()


def test_degenerate_inputs_raise_clear_errors():
    x = torch.tensor([[0.0], [0.0], [1.0], [1.0]], dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 1])
    with pytest.raises(DegenerateInputError, match="within-class spread"):
        fit_shrinkage_lda(x, y, 2)
    with pytest.raises(DegenerateInputError, match="every class"):
        fit_shrinkage_lda(x + torch.arange(4.0)[:, None], y, 3)
    with pytest.raises(MetricInputError, match="shrinkage"):
        fit_shrinkage_lda(x + torch.arange(4.0)[:, None], y, 2, shrinkage=1.5)


def test_inputs_are_not_mutated():
    features, labels = blobs()
    x, y = torch.tensor(features), torch.tensor(labels)
    before = x.clone()
    fit_shrinkage_lda(x, y, 4)
    assert torch.equal(x, before)
