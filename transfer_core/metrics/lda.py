"""Shrinkage linear discriminant analysis: SFDA's first stage, shared by SFDA and DISCO.

Shao et al., "Not All Models Are Equal: Predicting Model Transferability in a Self-challenging Fisher
Space", ECCV 2022 (public code: TencentARC/SFDA, ``metrics.py`` / ``utils.iterative_A``). Class priors
π_c = n_c / N, class means μ_c, within-class scatter S_w = Σ_c π_c cov(X_c) (ddof 0), shrinkage
λ = max(exp(−5 λ_max(S_w)), 1e-10) with λ_max from three power-iteration steps, and
S_w,λ = (1 − λ) S_w + λ (tr S_w / D) I; coef = μ S_w,λ⁻¹, intercept_c = −½ μ_c · coef_c + log π_c,
p(c | x) = softmax(x coefᵀ + intercept).

The reference forms coef from all generalised eigenvectors V of (S_b, S_w,λ) as μ V Vᵀ; since
Vᵀ S_w,λ V = I that is μ S_w,λ⁻¹, which is solved for directly here. The same posterior is the Bayes
posterior of Gaussian class-conditionals with priors π, means μ_c and one pooled covariance S_w,λ, which is
the classifier DISCO fits on each spectral group.

With fewer samples than dimensions the fit can run in coordinates of the samples' span instead of D dimensions
(:class:`Span`): every sample, mean and scatter lies in that span, so the posterior is the same, provided the
shrinkage target keeps the ambient trace / D and the power iteration starts from S_w·1 of the ambient space.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from transfer_core.metrics.errors import DegenerateInputError, MetricInputError

SHRINKAGE_FLOOR = 1e-10
POWER_ITERATION_STEPS = 3


@dataclass(frozen=True)
class Span:
    """The features are coordinates ``x = (f − c) V`` of D-dimensional features ``f`` in an orthonormal basis V
    of their span (any shift c): ``dim`` is D and ``row_sums`` [N] holds each original row's sum f·1."""

    dim: int
    row_sums: torch.Tensor


def top_eigenvalue_estimate(matrix: torch.Tensor, steps: int = POWER_ITERATION_STEPS, *,
                            start: torch.Tensor | None = None, dim: int | None = None) -> float:
    """The reference's estimate of the largest eigenvalue of a symmetric PSD ``matrix``.

    Start at x = A·1 (or ``start``, that vector given in other coordinates, with ``dim`` the ambient size);
    each step sets y = Ax / ‖Ax‖, then x = Ay / ‖Ay‖; return xᵀ A y for the last pair. When A·1 vanishes (the
    power iteration has no start; the reference returns NaN) the exact largest eigenvalue is used instead.
    """
    x = matrix.sum(dim=1) if start is None else start
    size = matrix.shape[0] if dim is None else dim
    scale = torch.linalg.matrix_norm(matrix) * size * torch.finfo(matrix.dtype).eps
    if not bool(torch.linalg.vector_norm(x) > scale):
        return float(torch.linalg.eigvalsh(matrix)[-1].clamp_min(0))
    for _ in range(steps):
        y = matrix @ x
        y = y / torch.linalg.vector_norm(y)
        x = matrix @ y
        x = x / torch.linalg.vector_norm(x)
    return float(x @ matrix @ y)


def adaptive_shrinkage(scatter: torch.Tensor, *, start: torch.Tensor | None = None, dim: int | None = None) -> float:
    """λ = max(exp(−5 λ_max), 1e-10): strong shrinkage for small-scale features, almost none otherwise."""
    return max(math.exp(-5.0 * top_eigenvalue_estimate(scatter, start=start, dim=dim)), SHRINKAGE_FLOOR)


def shrink(scatter: torch.Tensor, shrinkage: float, dim: int | None = None) -> torch.Tensor:
    """(1 − λ) S + λ (tr S / D) I (scikit-learn's ``shrunk_covariance``); D = ``dim`` when S is given in the
    coordinates of a span (:class:`Span`), else its own size."""
    d = scatter.shape[0]
    target = torch.trace(scatter) / (d if dim is None else dim)
    identity = torch.eye(d, dtype=scatter.dtype, device=scatter.device)
    return (1.0 - shrinkage) * scatter + (shrinkage * target) * identity


@dataclass(frozen=True)
class ShrinkageLDA:
    """A fitted shrinkage LDA: p(c | x) = softmax(x coefᵀ + intercept)."""

    priors: torch.Tensor  # [C]
    means: torch.Tensor  # [C, D]
    shrinkage: float  # λ
    coef: torch.Tensor  # [C, D] = μ S_w,λ⁻¹
    intercept: torch.Tensor  # [C]

    def posterior(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, C]`` class posteriors of the rows of ``x``."""
        return torch.softmax(x @ self.coef.T + self.intercept, dim=1)

    def mean_true_class_probability(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """mean_i p(y_i | x_i) (a 0-d tensor)."""
        return self.posterior(x).gather(1, labels[:, None]).mean()


def within_class_scatter(x: torch.Tensor, labels: torch.Tensor,
                         num_classes: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Class counts [C], class means [C, D] and S_w = Σ_c π_c cov(X_c) (ddof 0) [D, D]."""
    counts = torch.bincount(labels, minlength=num_classes).to(x.dtype)
    if bool((counts == 0).any()):
        raise DegenerateInputError(f"LDA needs every class 0..{num_classes - 1} to have samples")
    means = torch.zeros(num_classes, x.shape[1], dtype=x.dtype, device=x.device).index_add_(0, labels, x)
    means = means / counts[:, None]
    deviations = x - means[labels]
    return counts, means, deviations.T @ deviations / x.shape[0]


def fit_shrinkage_lda(x: torch.Tensor, labels: torch.Tensor, num_classes: int, shrinkage: float | None = None,
                      span: Span | None = None) -> ShrinkageLDA:
    """Fit on ``x`` [N, D] (float64) with ``labels`` [N] in 0..C−1; λ adaptive unless ``shrinkage`` is given.

    With ``span``, ``x`` are coordinates in the span of D-dimensional features (:class:`Span`) and the fit is the
    one of those features.
    """
    if shrinkage is not None and not 0.0 <= shrinkage <= 1.0:
        raise MetricInputError(f"shrinkage must lie in [0, 1], got {shrinkage}")
    counts, means, scatter = within_class_scatter(x, labels, num_classes)
    if not bool(torch.trace(scatter) > 0):
        raise DegenerateInputError("LDA needs within-class spread: every class is a single repeated point")
    if shrinkage is None:
        shrinkage = adaptive_shrinkage(scatter, **_ambient_start(x, labels, means, counts, span))
    try:
        coef = torch.linalg.solve(shrink(scatter, shrinkage, None if span is None else span.dim), means.T).T
    except torch.linalg.LinAlgError as exc:
        raise DegenerateInputError(f"the within-class covariance is singular at shrinkage {shrinkage}") from exc
    priors = counts / x.shape[0]
    intercept = -0.5 * (means * coef).sum(dim=1) + priors.log()
    return ShrinkageLDA(priors, means, shrinkage, coef, intercept)


def _ambient_start(x: torch.Tensor, labels: torch.Tensor, means: torch.Tensor, counts: torch.Tensor,
                   span: Span | None) -> dict:
    """The power iteration's start S_w·1 of the ambient space, in span coordinates: Vᵀ Devᵀ (Dev·1) / N, where
    Dev·1 are the row sums of the ambient deviations from the class means (nothing to pass without a span)."""
    if span is None:
        return {}
    sums = span.row_sums.to(x.dtype)
    class_sums = torch.zeros(means.shape[0], dtype=x.dtype, device=x.device).index_add_(0, labels, sums) / counts
    deviations = x - means[labels]
    return {"start": deviations.T @ (sums - class_sums[labels]) / x.shape[0], "dim": span.dim}
