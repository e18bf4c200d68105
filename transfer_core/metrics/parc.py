"""PARC: pairwise annotation representation comparison (Bolya et al., NeurIPS 2021)."""

from __future__ import annotations

import math
import warnings
from typing import Callable

import torch

from transfer_core.metrics.errors import DegenerateInputError, TransferabilityWarning
from transfer_core.metrics.inputs import require_classes
from transfer_core.metrics.options import SEED, Option
from transfer_core.metrics.prepared import prepare
from transfer_core.metrics.registry import CLASSIFICATION, check_options, register

PCA_DIM = 32
BLOCK_ELEMENTS = 1 << 22  # entries of one block of pairwise values held at once (32 MiB)
# The shared spectrum comes from eigh of a Gram matrix (eigenvalues accurate to ~eps · λ_max), so a
# component whose standard deviation is below 1e-7 of the largest one (variance ratio 1e-14) is rounding
# noise; standardising it would blow that noise up to unit variance.
COMPONENT_TOLERANCE = 1e-7
ROW_TOLERANCE = 1e-10  # spread of a standardised row (columns have unit variance) below which it is constant


def average_ranks(values: torch.Tensor) -> torch.Tensor:
    """1-based float64 ranks of a 1-D tensor; tied values share the average of their ranks."""
    _, group, counts = torch.unique(values, sorted=True, return_inverse=True, return_counts=True)
    counts = counts.to(torch.float64)
    return (counts.cumsum(0) - (counts - 1) / 2)[group]


def spearman(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Spearman's rank correlation of two 1-D tensors (Pearson correlation of their average ranks)."""
    rank_x, rank_y = average_ranks(x), average_ranks(y)
    rank_x -= rank_x.mean()  # in place on our own rank tensors: the pair triangles can be large
    rank_y -= rank_y.mean()
    scale = torch.linalg.vector_norm(rank_x) * torch.linalg.vector_norm(rank_y)
    if not bool(scale > 0):
        raise DegenerateInputError("the rank correlation is undefined: the feature or the label dissimilarities are "
                                   "all equal (e.g. every sample is its own class)")
    return torch.dot(rank_x, rank_y) / scale


def upper_triangle(block: Callable[[int, int], torch.Tensor], n: int, device: torch.device) -> torch.Tensor:
    """Entries (i, j), i < j, of an implicit symmetric ``n × n`` matrix in row-major order (``np.triu_indices``).

    ``block(start, stop)`` returns rows ``start:stop``, columns ``start:`` of the matrix; blocks of rows
    keep memory at the triangle itself plus one block.
    """
    rows_per_block = max(1, BLOCK_ELEMENTS // n)
    triangle = torch.empty(n * (n - 1) // 2, dtype=torch.float64, device=device)
    for start in range(0, n, rows_per_block):
        stop = min(n, start + rows_per_block)
        above_diagonal = torch.ones(stop - start, n - start, dtype=torch.bool, device=device).triu(1)
        triangle[_triangle_offset(start, n):_triangle_offset(stop, n)] = block(start, stop)[above_diagonal]
    return triangle


def _triangle_offset(row: int, n: int) -> int:
    """Number of upper-triangle entries in the rows before ``row``."""
    return row * (2 * n - row - 1) // 2


def correlation_distances(rows: torch.Tensor) -> torch.Tensor:
    """Upper triangle of 1 − corrcoef(rows) (``np.corrcoef`` correlates rows); no row may be constant."""
    centred = rows - rows.mean(dim=1, keepdim=True)
    unit = centred / centred.norm(dim=1, keepdim=True)
    return upper_triangle(lambda start, stop: 1 - unit[start:stop] @ unit[start:].T, rows.shape[0], rows.device)


def label_distances(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Upper triangle of 1 − corrcoef of the one-hot rows of ``labels`` without building them.

    Two one-hot rows over C columns correlate 1 when the classes agree and −1/(C − 1) otherwise, so the
    distance is 0 or C/(C − 1).
    """
    apart = num_classes / (num_classes - 1)
    return upper_triangle(
        lambda start, stop: (labels[start:stop, None] != labels[None, start:]).to(torch.float64) * apart,
        labels.shape[0], labels.device)


def stratified_subsample(labels: torch.Tensor, num_classes: int, size: int, seed: int) -> torch.Tensor:
    """Sorted indices of ``size`` samples drawn without replacement, class by class.

    Class c gets ⌊n_c · size / N⌋ samples, and the remaining ones go to the classes with the largest
    remainders (lowest class first on ties), so every class keeps its share up to one sample. Which
    samples is decided by a ``torch.Generator`` seeded with ``seed`` (on the CPU, the same on any device).
    """
    cpu_labels = labels.cpu()
    counts = torch.bincount(cpu_labels, minlength=num_classes)
    take = counts * size // labels.shape[0]
    remainders = counts * size % labels.shape[0]
    favoured = torch.argsort(remainders, descending=True, stable=True)[: size - int(take.sum())]
    take[favoured] += 1
    keys = torch.rand(labels.shape[0], generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    shuffled = torch.argsort(keys)
    by_class = shuffled[torch.argsort(cpu_labels[shuffled], stable=True)]
    class_of = cpu_labels[by_class]
    position_in_class = torch.arange(labels.shape[0]) - (counts.cumsum(0) - counts)[class_of]
    return by_class[position_in_class < take[class_of]].sort().values.to(labels.device)


def signed_components(centred: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """PCA scores with each component's sign fixed as scikit-learn's PCA fixes it (since 1.5, exact and
    randomized alike: ``svd_flip(u_based_decision=False)``): the largest-magnitude loading is positive.

    Row correlations change when a component flips sign, so PARC needs the recipe's convention. The loadings
    of component k (row k of Vᵀ) are ``centredᵀ · scores_k / s_k²``; the positive factor 1/s_k² changes
    neither their signs nor which one is largest, so it is left out.
    """
    loadings = centred.T @ scores
    largest = loadings.gather(0, loadings.abs().argmax(dim=0, keepdim=True))
    return scores * torch.where(largest < 0, -1.0, 1.0).to(scores.dtype)


def standardised_informative(scores: torch.Tensor) -> torch.Tensor:
    """Columns standardised to zero mean and unit variance (ddof 0, as ``StandardScaler``); columns with
    (numerically) zero variance are dropped."""
    centred = scores - scores.mean(dim=0, keepdim=True)
    spread = centred.square().mean(dim=0).sqrt()
    informative = spread > COMPONENT_TOLERANCE * spread.max()
    return centred[:, informative] / spread[informative]


@register("parc", tasks=(CLASSIFICATION,),
          meaning="How closely the similarity structure of the features (which images look alike) matches that "
                  "of the labels (Spearman correlation × 100 of the two dissimilarity matrices; higher is better).",
          citation="Bolya et al., Scalable Diverse Model Selection for Accessible Transfer Learning, NeurIPS 2021",
          options={"budget": Option(int, 3, 20_000, why="about 70 bytes per sample pair: 14 GB at 20 000"),
                   "seed": SEED})
def parc(features, labels=None, *, budget: int = 5000, seed: int = 0, device="auto") -> float:
    """PARC = 100 · Spearman(upper triangle of RDM_F, upper triangle of RDM_Y), in [−100, 100].

    Bolya et al. (NeurIPS 2021), as in dbolya/parc ``methods.py`` (``PARC.get_parc_correlation``): features
    go to 32 principal components, are standardised per column, RDM_F = 1 − corrcoef of the rows and
    RDM_Y = 1 − corrcoef of the one-hot label rows; ties in the Spearman ranks get average ranks. It equals
    that recipe run with scikit-learn's exact PCA (``PCA(32, svd_solver="full")`` → ``StandardScaler``, its
    sign convention included, see :func:`signed_components`) and RDM_Y in exact values (see
    :func:`label_distances`) up to rounding. The sign convention follows the feature axes, so, like the
    recipe, the score is invariant to permuting or translating the feature columns but not to rotating them.
    Deliberate differences (metrics-spec.md): exact PCA (the reference's is randomized, so scores agree
    to a few per cent), capped at min(N, D) components; components with numerically zero variance (when the
    centred features have rank < 32, e.g. N ≤ 32) are dropped. There the recipe is ill-defined: its
    StandardScaler blows the rounding noise of those components up to unit variance. O(N²) memory (about
    70 bytes per sample pair at the peak, ≈ 0.9 GB at the default budget): above ``budget`` samples a
    class-stratified subsample seeded by ``seed`` is scored (with a warning); the PCA is of all samples and
    the standardisation of the subsample. Samples whose standardised row is constant have no correlation
    and are left out (with a warning).

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> labels = np.repeat([0, 1], 10)
    >>> separated = rng.normal(size=(20, 8)) + 4 * np.eye(8)[labels]
    >>> print(f"{parc(separated, labels, device='cpu'):.2f} {parc(rng.normal(size=(20, 8)), labels, device='cpu'):.2f}")
    25.14 10.13
    """
    budget, seed = check_options("parc", budget=budget, seed=seed).values()
    data = prepare(features, labels, device=device)
    data.require("features", "labels")
    require_classes(data.num_classes, "PARC")
    scores, labels = signed_components(data.centered, data.pca(dim=PCA_DIM)), data.labels
    if data.n > budget:
        chosen = stratified_subsample(labels, data.num_classes, budget, seed)
        scores, labels = scores[chosen], labels[chosen]
        warnings.warn(f"PARC scored a class-stratified random subsample of {budget} of {data.n} samples "
                      f"(seed {seed}); raise parc.budget to use more (memory grows as N²)",
                      TransferabilityWarning, stacklevel=2)
    rows = standardised_informative(scores)
    if rows.shape[1] < 2:
        raise DegenerateInputError("PARC needs features that vary along at least 2 principal directions")
    constant = (rows - rows.mean(dim=1, keepdim=True)).norm(dim=1) <= ROW_TOLERANCE * math.sqrt(rows.shape[1])
    if bool(constant.any()):
        rows, labels = rows[~constant], labels[~constant]
        warnings.warn(f"PARC left out {int(constant.sum())} samples whose standardised PCA features are all equal "
                      "(their correlation with other samples is undefined)", TransferabilityWarning, stacklevel=2)
    if rows.shape[0] < 3:
        raise DegenerateInputError("PARC needs at least 3 samples with non-constant features")
    return float(100 * spearman(correlation_distances(rows), label_distances(labels, data.num_classes)))
