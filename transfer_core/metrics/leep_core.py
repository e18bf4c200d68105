"""The LEEP score from a probability matrix θ and target labels (Nguyen et al., ICML 2020).

Shared by LEEP (θ = the source model's softmax) and N-LEEP (θ = Gaussian-mixture posteriors).
"""

from __future__ import annotations

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
    theta = theta.to(torch.float64)
    if theta.ndim != 2 or labels.shape != (theta.shape[0],):
        raise MetricInputError(f"θ must be [N, K] and labels [N]; got {tuple(theta.shape)} and {tuple(labels.shape)}")
    if bool((theta < 0).any()) or not bool((theta.sum(dim=1) > 0).all()):
        raise MetricInputError("every row of θ must be a non-negative distribution with positive mass")
    one_hot = torch.nn.functional.one_hot(labels, num_classes).to(torch.float64)
    joint = one_hot.T @ theta / theta.shape[0]  # P(y, z), [C, K]
    marginal = joint.sum(dim=0, keepdim=True)  # P(z), [1, K]
    conditional = torch.where(marginal > 0, joint / torch.where(marginal > 0, marginal, 1.0), 0.0)
    expected = (theta * conditional[labels]).sum(dim=1)  # Σ_z P(y_i | z) θ_iz, [N]
    return expected.log().mean()
