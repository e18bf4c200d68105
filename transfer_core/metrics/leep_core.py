"""The LEEP score from a probability matrix θ and target labels (Nguyen et al., ICML 2020).

Shared by LEEP (θ = the source model's softmax) and N-LEEP (θ = Gaussian-mixture posteriors, streamed in
row chunks by :func:`leep_from_chunks` so that the [N, K] matrix never exists at once).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from transfer_core.metrics.errors import MetricInputError


def leep_from_probabilities(theta: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Log expected empirical prediction, a float64 scalar tensor (higher is better, at most 0).

    With ``theta`` [N, K] (rows are distributions over K "source" classes z) and ``labels`` [N]
    (int64 in 0..C-1, C = ``num_classes``):
    P(y, z) = (1/N) Σ_{i: y_i = y} θ_iz,  P(y | z) = P(y, z) / Σ_y P(y, z),
    LEEP = mean_i log Σ_z P(y_i | z) θ_iz.
    A source class z with no mass (a zero column of θ) gets P(y | z) = 0 instead of 0/0; it cannot
    change the score since θ_iz = 0 for every sample.

    >>> theta = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    >>> float(leep_from_probabilities(theta, torch.tensor([0, 1]), 2))
    0.0
    """
    return leep_from_chunks(lambda: [(theta, labels)], num_classes)


def leep_from_chunks(chunks: Callable[[], Iterable[tuple[torch.Tensor, torch.Tensor]]],
                     num_classes: int) -> torch.Tensor:
    """LEEP (as :func:`leep_from_probabilities`) from row chunks ``(θ rows [n, K], their labels [n])``.

    Two passes: ``chunks()`` is called twice and must give the same chunks both times; the first sums
    P(y, z) [C, K], the second log Σ_z P(y_i | z) θ_iz. Memory: one chunk and [C, K].
    """
    joint, n = None, 0
    for theta, labels in chunks():
        theta = _checked(theta, labels)
        if joint is None:
            joint = theta.new_zeros(num_classes, theta.shape[1])
        joint.index_add_(0, labels, theta)  # N · P(y, z): the 1/N cancels in P(y | z)
        n += theta.shape[0]
    if n == 0:
        raise MetricInputError("θ has no rows")
    marginal = joint.sum(dim=0, keepdim=True)  # N · P(z), [1, K]
    conditional = torch.where(marginal > 0, joint / torch.where(marginal > 0, marginal, 1.0), 0.0)
    log_expected = sum(_log_expected(theta, conditional[labels]).sum() for theta, labels in chunks())
    return log_expected / n


def _log_expected(theta: torch.Tensor, conditional_rows: torch.Tensor) -> torch.Tensor:
    """log Σ_z P(y_i | z) θ_iz per row, clamped at 0 where the math puts its maximum.

    Each P(y | z) ≤ 1 and each row of θ sums to 1, so the sum is at most 1; in floating point it can come out
    an ulp above 1 (e.g. 7e-18 above 0 after the log on some CPUs' kernels), which would make a perfectly
    separating θ score above LEEP's maximum of 0.
    """
    return (theta.to(torch.float64) * conditional_rows).sum(dim=1).log().clamp(max=0.0)


def _checked(theta: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """θ as float64, after checking its shape against the labels and that its rows are distributions."""
    theta = theta.to(torch.float64)
    if theta.ndim != 2 or labels.shape != (theta.shape[0],):
        raise MetricInputError(f"θ must be [N, K] and labels [N]; got {tuple(theta.shape)} and {tuple(labels.shape)}")
    if bool((theta < 0).any()) or not bool((theta.sum(dim=1) > 0).all()):
        raise MetricInputError("every row of θ must be a non-negative distribution with positive mass")
    return theta
