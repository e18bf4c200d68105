"""NCTI: neural collapse transferability index, per-model components (Wang et al., ICCV 2023).

Wang et al., "How Far Pre-trained Models Are from Neural Collapse on the Target Dataset Informs their
Transferability", ICCV 2023 (public code: BUserName/NCTI, ``NCTI_Score``). Three components of one model,
combined only across a pool (:mod:`transfer_core.metrics.pool`): minmax(seli) + minmax(ncc) − minmax(vc).

1. Exact PCA of the features to k = min(64, N, D) components (no whitening).
2. λ = max(exp(−Σ of the top-32 explained variances, ddof 1), 1e-10). At the floor: scikit-learn's
   ``LinearDiscriminantAnalysis(solver="svd")``; otherwise ``solver="eigen", shrinkage=λ``. Both are reproduced
   here in torch (:func:`svd_discriminant`, :func:`eigen_discriminant`).
3. ``ncti.seli`` = nuclear norm of the centred LDA projection; ``ncti.ncc`` = mean p(y_i | x_i) of that LDA;
   ``ncti.vc`` = log Σ_c ‖P_c‖_*, P_c the predicted-probability rows of class c.

Deliberate differences from the reference: its ``PCA(64)`` uses scikit-learn's default solver (randomized for
large inputs) and fails when min(N, D) < 64; here the PCA is exact and capped at min(N, D), and components at the
rounding-noise floor (e.g. the N-th when N ≤ D) are exact zeros, which both LDA solvers ignore as scikit-learn does
a zero column. scikit-learn's float ``shrinkage`` shrinks the empirical covariances as they are
(``shrunk_covariance(empirical_covariance(X), λ)``, scikit-learn 1.9); only ``shrinkage="auto"`` standardises
first, so nothing is standardised here either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from transfer_core.metrics.errors import DegenerateInputError
from transfer_core.metrics.inputs import require_classes
from transfer_core.metrics.lda import SHRINKAGE_FLOOR, ShrinkageLDA, fit_shrinkage_lda, shrink, within_class_scatter
from transfer_core.metrics.prepared import Prepared, prepare
from transfer_core.metrics.registry import CLASSIFICATION, register_pool

PCA_DIM = 64
VARIANCE_TERMS = 32  # explained variances summed for λ
SVD_TOLERANCE = 1e-4  # scikit-learn's LinearDiscriminantAnalysis(tol=1e-4)


@dataclass(frozen=True)
class Discriminant:
    """A fitted LDA as scikit-learn's: its posterior and ``scalings`` [k, m], transform(x) = (x − x̄) scalings."""

    lda: ShrinkageLDA  # shrinkage 0.0 for the svd solver
    scalings: torch.Tensor


def principal_coordinates(data: Prepared) -> torch.Tensor:
    """The centred features' first k = min(64, N, D) principal coordinates; rounding-noise components are zeros."""
    spectrum = data.centered_spectrum
    k = min(PCA_DIM, spectrum.scores.shape[1])
    return spectrum.scores[:, :k] * spectrum.nonzero[:k].to(spectrum.scores.dtype)


def ncti_shrinkage(x: torch.Tensor) -> float:
    """λ = max(exp(−Σ_{j ≤ 32} var_j), 1e-10) over the principal coordinates' variances (ddof 1)."""
    variances = x.square().sum(dim=0) / (x.shape[0] - 1)  # principal coordinates are centred
    return max(math.exp(-float(variances[:VARIANCE_TERMS].sum())), SHRINKAGE_FLOOR)


def svd_discriminant(x: torch.Tensor, labels: torch.Tensor, num_classes: int) -> Discriminant:
    """scikit-learn's ``LinearDiscriminantAnalysis(solver="svd")`` with empirical priors.

    Within-class deviations scaled per column by their standard deviation (a zero one left at 1) and by 1/√N;
    their SVD, cut at singular values ≤ 1e-4, whitens the within-class scatter; the SVD of the weighted,
    whitened class centres, cut at 1e-4 of its largest singular value, gives the discriminant directions.
    """
    n = x.shape[0]
    counts, means, _ = within_class_scatter(x, labels, num_classes)
    priors = counts / n
    centre = priors @ means
    deviations = x - means[labels]
    std = deviations.std(dim=0, correction=0)
    std = torch.where(std == 0, torch.ones_like(std), std)
    _, within, vt = torch.linalg.svd(deviations / std / math.sqrt(n), full_matrices=False)
    rank = int((within > SVD_TOLERANCE).sum())
    if rank == 0:
        raise DegenerateInputError("LDA needs within-class spread: every class is a single repeated point")
    whitening = (vt[:rank] / std).T / within[:rank]
    centres = ((n * priors / max(num_classes - 1, 1)).sqrt()[:, None] * (means - centre)) @ whitening
    _, between, vt = torch.linalg.svd(centres, full_matrices=False)
    scalings = whitening @ vt[: int((between > SVD_TOLERANCE * between[0]).sum())].T
    projected = (means - centre) @ scalings
    coef = projected @ scalings.T
    intercept = -0.5 * projected.square().sum(dim=1) + priors.log() - centre @ coef.T
    return Discriminant(ShrinkageLDA(priors, means, 0.0, coef, intercept), scalings)


def eigen_discriminant(x: torch.Tensor, labels: torch.Tensor, num_classes: int, shrinkage: float) -> Discriminant:
    """scikit-learn's ``LinearDiscriminantAnalysis(solver="eigen", shrinkage=λ)`` with empirical priors.

    S_w,λ = shrunk within-class scatter, S_t,λ = shrunk total scatter (both ddof 0), S_b = S_t,λ − S_w,λ; the
    scalings are the generalised eigenvectors of (S_b, S_w,λ) by descending eigenvalue (Vᵀ S_w,λ V = I). The
    posterior uses all of them, μ V Vᵀ = μ S_w,λ⁻¹: the shrinkage LDA of :mod:`transfer_core.metrics.lda`.
    """
    lda = fit_shrinkage_lda(x, labels, num_classes, shrinkage=shrinkage)
    _, _, scatter = within_class_scatter(x, labels, num_classes)
    within = shrink(scatter, shrinkage)
    centred = x - x.mean(dim=0)
    between = shrink(centred.T @ centred / x.shape[0], shrinkage) - within
    cholesky = torch.linalg.cholesky(within)
    half = torch.linalg.solve_triangular(cholesky, between, upper=False)
    reduced = torch.linalg.solve_triangular(cholesky, half.T, upper=False)  # L⁻¹ S_b L⁻ᵀ
    values, vectors = torch.linalg.eigh((reduced + reduced.T) / 2)
    scalings = torch.linalg.solve_triangular(cholesky.T, vectors, upper=True)
    return Discriminant(lda, scalings[:, values.argsort(descending=True)])


def nuclear_norm(matrix: torch.Tensor) -> torch.Tensor:
    """Σ of the singular values (0 for an empty matrix)."""
    return torch.linalg.svdvals(matrix).sum()


@register_pool("ncti", weights={"ncti.seli": 1.0, "ncti.ncc": 1.0, "ncti.vc": -1.0}, tasks=(CLASSIFICATION,),
               meaning="How close the features already are to 'neural collapse' on the target classes, relative to "
                       "the other models: spread-out class directions, a confident nearest-class-centre fit and "
                       "tight classes each count.",
               citation="Wang et al., How Far Pre-trained Models Are from Neural Collapse on the Target Dataset "
                        "Informs their Transferability, ICCV 2023")
def ncti_components(features, labels=None, *, device="auto") -> dict[str, float]:
    """NCTI's per-model components ``ncti.seli``, ``ncti.ncc`` and ``ncti.vc`` (see the module docstring).

    Matches ``NCTI_Score`` of BUserName/NCTI given scikit-learn's exact PCA (``svd_solver="full"``): the LDA
    branches reproduce scikit-learn's ``LinearDiscriminantAnalysis`` (tests: ≤ 1e-6 relative).

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> labels = rng.integers(0, 3, 300)
    >>> features = rng.normal(size=(300, 8)) + 0.5 * labels[:, None]
    >>> {part: round(value, 4) for part, value in ncti_components(features, labels, device="cpu").items()}
    {'ncti.seli': 44.2134, 'ncti.ncc': 0.5966, 'ncti.vc': 3.4954}
    """
    data = prepare(features, labels, device=device)
    data.require("features", "labels")
    require_classes(data.num_classes, "NCTI")
    x = principal_coordinates(data)
    shrinkage = ncti_shrinkage(x)
    if shrinkage == SHRINKAGE_FLOOR:
        fit = svd_discriminant(x, data.labels, data.num_classes)
    else:
        fit = eigen_discriminant(x, data.labels, data.num_classes, shrinkage)
    kept = min(data.num_classes - 1, x.shape[1])  # scikit-learn's transform keeps at most C − 1 columns
    projection = (x - x.mean(dim=0)) @ fit.scalings[:, :kept]
    probabilities = fit.lda.posterior(x)
    spread = sum(nuclear_norm(probabilities[data.labels == c]) for c in range(data.num_classes))
    return {"ncti.seli": float(nuclear_norm(projection)),
            "ncti.ncc": float(probabilities.gather(1, data.labels[:, None]).mean()),
            "ncti.vc": math.log(float(spread))}
