"""DISCO: transferability from the spectral components of the features (Zhang et al., AAAI 2025).

Zhang et al., "Assessing Pre-trained Models for Transfer Learning through Distribution of Spectral
Components", AAAI 2025, arXiv 2412.19085. No public implementation exists; this follows the paper's
description as pinned down in docs/metrics-spec.md.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from transfer_core.metrics.errors import DegenerateInputError, MetricInputError, TransferabilityWarning
from transfer_core.metrics.inputs import require_classes
from transfer_core.metrics.lda import fit_shrinkage_lda
from transfer_core.metrics.options import MAX_COMPONENTS, Option
from transfer_core.metrics.prepared import Spectrum, prepare
from transfer_core.metrics.registry import CLASSIFICATION, REGRESSION, check_options, register

DEFAULT_GROUPS = 8


@dataclass(frozen=True)
class DiscoComponents:
    """DISCO split by spectral group: ``total`` = Σ_g ``ratios[g]`` · ``scores[g]``."""

    total: float
    ratios: np.ndarray  # [G] S_ratio^g = Σ_{j∈g} s_j / Σ_j s_j, summing to 1
    scores: np.ndarray  # [G] S_ncc^g (classification, in [0, 1]) or S_lr^g = −MSE (regression)
    ranges: tuple[tuple[int, int], ...]  # [start, stop) indices of each group's singular values
    task: str  # CLASSIFICATION or REGRESSION


def group_ranges(components: int, groups: int) -> tuple[tuple[int, int], ...]:
    """Split ``components`` consecutive indices into ``groups`` runs whose sizes differ by at most one
    (the first ``components mod groups`` runs take one more)."""
    size, extra = divmod(components, groups)
    stops = np.cumsum([size + (g < extra) for g in range(groups)])
    return tuple((int(stop - size - (g < extra)), int(stop)) for g, stop in enumerate(stops))


def spectral_coordinates(spectrum: Spectrum) -> tuple[torch.Tensor, torch.Tensor]:
    """Coordinates U·S [N, k] along the singular directions and the singular values [k], cleaned.

    Each column's sign is fixed so that its largest-magnitude entry is positive (the eigensolver's signs
    are arbitrary and the shrinkage estimate is not sign-invariant); singular values at the Gram-matrix
    round-off level (≤ s_1 · √(k · eps)) are set to zero, so they get neither weight nor coordinates.
    """
    values, scores = spectrum.singular_values, spectrum.scores
    if not bool(values.numel() and values[0] > 0):
        raise DegenerateInputError("DISCO needs features that are not constant across samples")
    tolerance = values[0] * math.sqrt(values.numel() * torch.finfo(values.dtype).eps)
    values = torch.where(values > tolerance, values, torch.zeros_like(values))
    peak = scores.abs().argmax(dim=0)
    signs = torch.where(scores[peak, torch.arange(scores.shape[1], device=scores.device)] < 0, -1.0, 1.0)
    return scores * signs.to(scores.dtype), values


def classification_scores(blocks: list[torch.Tensor], labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """S_ncc per group: in-sample mean p(y_i | z_i) of a pooled-covariance Gaussian classifier with the
    SFDA shrinkage; a group with no coordinates gets the chance level Σ_c π_c² (posterior = priors)."""
    priors = torch.bincount(labels, minlength=num_classes).to(torch.float64) / labels.shape[0]
    chance = priors.square().sum()
    return torch.stack([
        fit_shrinkage_lda(z, labels, num_classes).mean_true_class_probability(z, labels) if z.shape[1] else chance
        for z in blocks
    ])


def standardised_targets(targets: torch.Tensor) -> torch.Tensor:
    """Columns scaled to mean 0 and variance 1 (ddof 0); constant columns are dropped with a warning."""
    spread = targets.std(dim=0, correction=0)
    varying = spread > torch.finfo(targets.dtype).eps * targets.abs().amax(dim=0)
    if not bool(varying.any()):
        raise DegenerateInputError("DISCO regression needs targets that vary across samples")
    if not bool(varying.all()):
        warnings.warn(f"DISCO ignores {int((~varying).sum())} constant target column(s)",
                      TransferabilityWarning, stacklevel=3)
    kept = targets[:, varying]
    return (kept - kept.mean(dim=0)) / spread[varying]


def regression_scores(blocks: list[torch.Tensor], targets: torch.Tensor) -> torch.Tensor:
    """S_lr per group: −MSE of least squares with a bias on the group's coordinates (residual from an
    orthonormal basis of [1, Z_g])."""
    ones = torch.ones(targets.shape[0], 1, dtype=targets.dtype, device=targets.device)
    scores = []
    for z in blocks:
        basis, _ = torch.linalg.qr(torch.cat([ones, z], dim=1))
        residual = targets - basis @ (basis.T @ targets)
        scores.append(-residual.square().mean())
    return torch.stack(scores)


def disco_components(features, labels=None, *, targets=None, groups: int = DEFAULT_GROUPS,
                     device="auto") -> DiscoComponents:
    """DISCO with its per-group parts (what the spectral-components view plots).

    Centre F and take its thin SVD F = U S Vᵀ (singular values s_1 ≥ s_2 ≥ …, k = min(N, D)). The
    paper publishes no group count or size, so the k components are split, in order, into ``groups``
    (default 8) runs of equal size (sizes differ by at most one; fewer groups, with a warning, when
    k < groups). Group g has coordinates Z_g = U_g S_g and weight S_ratio^g = Σ_{j∈g} s_j / Σ_j s_j (raw,
    not squared, singular values). Classification (``labels``): S_ncc^g = mean p(y_i | z_i) under the
    shrinkage LDA of SFDA's first stage fitted on Z_g. Regression (``targets`` [N] or [N, K]): targets
    standardised per column, S_lr^g = −MSE of least squares with a bias on Z_g. DISCO = Σ_g S_ratio^g ·
    S_g. The paper's optional hard-example subsampling is not applied (every sample is used).
    """
    data = prepare(features, labels, targets=targets, device=device)
    data.require("features")
    if data.labels is None and data.targets is None:
        raise MetricInputError("DISCO needs labels (classification) or targets (regression)")
    groups = check_options("disco", groups=groups)["groups"]
    if data.labels is not None:
        require_classes(data.num_classes, "DISCO")
    coordinates, values = spectral_coordinates(data.centered_spectrum)
    if groups > values.numel():
        warnings.warn(f"DISCO has only {values.numel()} spectral components: using {values.numel()} groups "
                      f"instead of {groups}", TransferabilityWarning, stacklevel=2)
    ranges = group_ranges(values.numel(), min(groups, values.numel()))
    ratios = torch.stack([values[start:stop].sum() for start, stop in ranges]) / values.sum()
    blocks = [coordinates[:, start:stop][:, values[start:stop] > 0] for start, stop in ranges]
    if data.labels is not None:
        task, scores = CLASSIFICATION, classification_scores(blocks, data.labels, data.num_classes)
    else:
        task, scores = REGRESSION, regression_scores(blocks, standardised_targets(data.targets))
    return DiscoComponents(float((ratios * scores).sum()), ratios.cpu().numpy(), scores.cpu().numpy(),
                           ranges, task)


@register("disco", tasks=(CLASSIFICATION, REGRESSION),
          meaning="How well each band of the features' spectrum (from the strongest directions to the weakest) "
                  "separates the classes or predicts the targets, weighted by the band's share of the spectrum.",
          citation="Zhang et al., Assessing Pre-trained Models for Transfer Learning through Distribution of "
                   "Spectral Components, AAAI 2025 (arXiv 2412.19085)",
          options={"groups": Option(int, 1, MAX_COMPONENTS)})
def disco(features, labels=None, *, targets=None, groups: int = DEFAULT_GROUPS, device="auto") -> float:
    """DISCO score (higher is better): Σ_g S_ratio^g · S_g over spectral groups; see :func:`disco_components`
    for the definition and the group choice. Classification scores lie in [0, 1]; regression scores are
    −MSE of standardised targets (≤ 0).

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> labels = rng.integers(0, 3, 200)
    >>> features = rng.normal(size=(200, 16)) + 3.0 * labels[:, None]
    >>> round(disco(features, labels, device="cpu"), 4)
    0.6389
    """
    return disco_components(features, labels, targets=targets, groups=groups, device=device).total
