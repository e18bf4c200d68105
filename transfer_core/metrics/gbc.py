"""GBC: Gaussian Bhattacharyya coefficient between target classes (Pándy et al., CVPR 2022)."""

from __future__ import annotations

import torch

from transfer_core.metrics.inputs import require_classes, warn_single_image_classes
from transfer_core.metrics.options import Option
from transfer_core.metrics.prepared import prepare
from transfer_core.metrics.registry import CLASSIFICATION, check_options, register

PCA_DIM = 64
VARIANCE_FLOOR = 1e-4
GAUSSIAN_KINDS = ("spherical", "diagonal")
CHUNK_ELEMENTS = 1 << 22  # class pairs × dimensions per block (diagonal Gaussians)


def bhattacharyya_distances(means: torch.Tensor, variances: torch.Tensor) -> torch.Tensor:
    """``[C, C]`` Bhattacharyya distances between Gaussians with ``means`` [C, D] and per-dimension
    ``variances`` [C, D] (diagonal) or one variance per class [C, 1] (spherical).

    BD = ⅛ Σ_d (μ1 − μ2)² / σ̄ + ½ Σ (log σ̄ − ½ log σ1 − ½ log σ2), σ̄ = (σ1 + σ2) / 2, the second sum
    running over the columns of ``variances`` (a single scalar term for spherical Gaussians).
    """
    if variances.shape[1] == 1:
        separation, log_average = _spherical_terms(means, variances[:, 0])
    else:
        separation, log_average = _diagonal_terms(means, variances)
    log_variances = variances.log().sum(dim=1)
    return separation / 8 + (log_average - log_variances[:, None] / 2 - log_variances[None, :] / 2) / 2


def _spherical_terms(means: torch.Tensor, variances: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """‖μ1 − μ2‖² / σ̄ and log σ̄ for every class pair, from the Gram matrix of the centred means."""
    centred = means - means.mean(dim=0)
    norms = centred.square().sum(dim=1)
    squared_distances = (norms[:, None] + norms[None, :] - 2 * centred @ centred.T).clamp_min(0)
    average = (variances[:, None] + variances[None, :]) / 2
    return squared_distances / average, average.log()


def _diagonal_terms(means: torch.Tensor, variances: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Σ_d (μ1 − μ2)² / σ̄ and Σ_d log σ̄ for every class pair, in blocks of rows so that C = 1 000 classes
    fit in memory."""
    c, d = means.shape
    rows = max(1, CHUNK_ELEMENTS // (c * d))
    separation, log_average = [], []
    for start in range(0, c, rows):
        block = slice(start, start + rows)
        average = (variances[block, None, :] + variances[None, :, :]) / 2
        separation.append((means[block, None, :] - means[None, :, :]).square_().div_(average).sum(dim=2))
        log_average.append(average.log_().sum(dim=2))
    return torch.cat(separation), torch.cat(log_average)


@register("gbc", tasks=(CLASSIFICATION,),
          meaning="How little the target classes overlap when each is modelled as a Gaussian "
                  "(minus the summed Bhattacharyya coefficients; closer to 0 is better).",
          citation="Pándy et al., Transferability Estimation using Bhattacharyya Class Separability, CVPR 2022",
          options={"gaussian": Option(str, choices=GAUSSIAN_KINDS)})
def gbc(features, labels=None, *, gaussian: str = "spherical", device="auto") -> float:
    """GBC = −Σ over ordered class pairs c1 ≠ c2 of exp(−BD(c1, c2)), at most 0, higher is better.

    Features go to 64 principal components (exact PCA, no whitening) when min(N, D) ≥ 64, else stay raw.
    Each class is a Gaussian with its mean and its population variance per dimension (ddof 0) floored at
    1e-4; ``gaussian="spherical"`` (default) replaces that vector by its mean, ``"diagonal"`` keeps it.
    Reproduces google-research ``stable_transfer/transferability/gbc.py``, including its unscaled
    spherical log term (a scalar, not multiplied by D); vectorised over class pairs instead of looping.

    >>> import numpy as np
    >>> labels = np.array([0, 0, 1, 1])
    >>> round(gbc(np.array([0.0, 2.0, 5.0, 9.0]), labels, device="cpu"), 6)  # 2 · exp(−1.8) / √1.25
    -0.295696
    """
    gaussian = check_options("gbc", gaussian=gaussian)["gaussian"]
    data = prepare(features, labels, device=device)
    data.require("features", "labels")
    require_classes(data.num_classes, "GBC")
    warn_single_image_classes(data.labels, data.classes, f"GBC models such a class as a near-point Gaussian "
                              f"(variance floored at {VARIANCE_FLOOR:g}) that overlaps the other classes less than "
                              "more images would")
    x = data.pca(dim=PCA_DIM) if min(data.features.shape) >= PCA_DIM else data.features
    counts = data.class_counts[:, None]
    means = data.one_hot.T @ x / counts
    variances = (data.one_hot.T @ (x - means[data.labels]).square() / counts).clamp_min(VARIANCE_FLOOR)
    if gaussian == "spherical":
        variances = variances.mean(dim=1, keepdim=True)
    coefficients = torch.exp(-bhattacharyya_distances(means, variances))
    off_diagonal = ~torch.eye(data.num_classes, dtype=torch.bool, device=coefficients.device)
    return -float(coefficients[off_diagonal].sum())
