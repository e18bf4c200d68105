"""The numbers behind the Explore page's pictures (no plotting here: :mod:`transfer_core.presentation.views` draws
them).

* :func:`fisher_projection` — the target features in SFDA's Fisher space (Shao et al., ECCV 2022): a
  shrinkage LDA's top discriminant directions.
* :func:`umap_embedding` — a UMAP map (McInnes et al., arXiv 1802.03426) of the same features.
* :func:`spectral_components` — the singular value spectrum and DISCO's per-group contributions
  (Zhang et al., AAAI 2025).
* :func:`metric_agreement` — Kendall τ-b between metrics across a pool of models.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from itertools import combinations_with_replacement

import numpy as np
import torch
from scipy.stats import kendalltau

from transfer_core.data.subsample import subsample_indices
from transfer_core.errors import InvalidInputError, UndefinedResultError
from transfer_core.metrics.disco import DEFAULT_GROUPS, DiscoComponents, disco_components
from transfer_core.metrics.errors import TransferabilityWarning
from transfer_core.metrics.inputs import require_classes
from transfer_core.metrics.lda import adaptive_shrinkage, shrink, within_class_scatter
from transfer_core.metrics.options import PCA_DIM, Option
from transfer_core.metrics.prepared import Prepared, prepare, spectrum_of

DEFAULT_MAX_POINTS = 3000
FISHER_POINTS = 2000  # drawn in the app's and the report's Fisher projections (fitted on every image)
DEFAULT_FISHER_PCA_DIM = 64
UMAP_PCA_DIM = 50
SHRINKAGE = Option(float, 0.0, 1.0)


@dataclass(frozen=True)
class Projection:
    """Low-dimensional coordinates of the shown (possibly subsampled) samples."""

    coordinates: np.ndarray  # [M, dims]
    labels: np.ndarray | None  # [M] class of each shown sample, in the caller's own values (None: unlabelled)
    indices: np.ndarray  # [M] sorted rows of the input that are shown
    axis_titles: tuple[str, ...]  # one plain-words title per axis
    explained: np.ndarray | None  # [dims] share of the between-class separation per axis (Fisher only)
    method: str  # "Fisher (LDA)" or "UMAP"


@dataclass(frozen=True)
class FisherAxes:
    """Directions [D, dims] (unit within-class variance), discriminant ratio and title of each axis."""

    directions: torch.Tensor
    explained: torch.Tensor
    titles: tuple[str, ...]
    shrinkage: float


@dataclass(frozen=True)
class SpectralComponents:
    """The centred features' singular value spectrum beside DISCO's split of it into groups."""

    singular_values: np.ndarray  # [k] descending, k = min(N, D)
    cumulative_variance: np.ndarray  # [k] share of the total variance in the first 1..k components
    disco: DiscoComponents  # per-group ratios, scores, index ranges and the total


def _check_dims(dims: int) -> int:
    if dims not in (2, 3):
        raise InvalidInputError(f"a projection has 2 or 3 dimensions, got {dims}")
    return dims


def _shown_rows(n: int, max_points: int, seed: int, labels: np.ndarray | None) -> np.ndarray:
    """Seeded subsample of at most ``max_points`` rows, stratified by class when ``labels`` are given."""
    classes = 0 if labels is None else len(np.unique(labels))
    if int(max_points) < max(classes, 1):
        raise InvalidInputError(f"max_points must be at least the number of classes ({max(classes, 1)}), "
                               f"got {max_points}")
    return subsample_indices(n, int(max_points), seed, labels)


def _positive_peaks(directions: torch.Tensor) -> torch.Tensor:
    """Flip each column so that its largest-magnitude entry is positive (eigenvector signs are arbitrary)."""
    peaks = directions.gather(0, directions.abs().argmax(dim=0, keepdim=True))
    return directions * torch.where(peaks < 0, -1.0, 1.0).to(directions.dtype)


def _class_scatters(x: torch.Tensor, labels: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Within-class scatter S_w and between-class scatter S_b = Σ_c π_c (μ_c − μ)(μ_c − μ)ᵀ (ddof 0, so S_w + S_b
    is the total covariance)."""
    counts, means, within = within_class_scatter(x, labels, num_classes)
    offsets = means - x.mean(dim=0, keepdim=True)
    between = offsets.T @ (offsets * (counts / x.shape[0])[:, None])
    return within, between


def _percent(share: float) -> str:
    return f"{share:.0%}" if share >= 0.005 else "<1%"


def _generalised_eigen(between: torch.Tensor, within: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Solutions of S_b v = ρ S_w v, ρ descending: with S_w = L Lᵀ (Cholesky) it is the symmetric
    L⁻¹ S_b L⁻ᵀ q = ρ q and v = L⁻ᵀ q, so vᵀ S_w v = 1 for every axis."""
    cholesky, info = torch.linalg.cholesky_ex(within)
    if int(info) != 0:
        raise UndefinedResultError("the shrunk within-class scatter is singular; use a larger shrinkage or fewer "
                                   "PCA dimensions")
    identity = torch.eye(within.shape[0], dtype=within.dtype, device=within.device)
    whitening = torch.linalg.solve_triangular(cholesky, identity, upper=False)
    whitened = whitening @ between @ whitening.T
    ratios, vectors = torch.linalg.eigh((whitened + whitened.T) / 2)
    return ratios.flip(0).clamp_min(0), whitening.T @ vectors.flip(1)


def _within_class_components(within: torch.Tensor, count: int) -> torch.Tensor:
    """Leading ``count`` principal directions of the within-class residuals, scaled to unit variance."""
    spreads, components = torch.linalg.eigh(within)
    spreads, components = spreads.flip(0)[:count], components.flip(1)[:, :count]
    return components / torch.where(spreads > 0, spreads.sqrt(), torch.ones_like(spreads))


def fisher_axes(x: torch.Tensor, labels: torch.Tensor, num_classes: int, dims: int,
                shrinkage: float | None = None) -> FisherAxes:
    """Top discriminant directions of a shrinkage LDA: S_b v = ρ S_w,λ v with
    S_w,λ = (1 − λ) S_w + λ (tr S_w / D) I and SFDA's adaptive λ unless ``shrinkage`` is given; each axis
    has unit (shrunk) within-class variance. There are at most C − 1 discriminant axes; missing ones are
    filled with the leading principal components of the within-class residuals, and their titles say so.
    """
    if x.shape[1] < dims:
        raise InvalidInputError(f"a {dims}-D Fisher projection needs at least {dims} feature dimensions "
                               f"(after any PCA), got {x.shape[1]}")
    within, between = _class_scatters(x, labels, num_classes)
    if not bool(torch.trace(within) > 0):
        raise UndefinedResultError("the Fisher projection needs within-class spread: every class is a single "
                                   "repeated point")
    shrinkage = adaptive_shrinkage(within) if shrinkage is None else SHRINKAGE.check("shrinkage", shrinkage)
    ratios, vectors = _generalised_eigen(between, shrink(within, shrinkage))
    discriminants = min(dims, num_classes - 1)
    explained = ratios[:discriminants] / ratios.sum().clamp_min(torch.finfo(x.dtype).tiny)
    titles = tuple(f"Discriminant axis {i + 1} ({_percent(share)} of the class separation)"
                   for i, share in enumerate(explained.tolist()))
    directions = vectors[:, :discriminants]
    padding = dims - discriminants
    if padding:
        directions = torch.cat([directions, _within_class_components(within, padding)], dim=1)
        explained = torch.cat([explained, explained.new_zeros(padding)])
        reason = f"{num_classes} classes give only {discriminants} discriminant " + \
                 ("axis" if discriminants == 1 else "axes")
        titles += tuple(f"Within-class spread, PC {i + 1} ({reason})" for i in range(padding))
    return FisherAxes(_positive_peaks(directions), explained, titles, shrinkage)


def _fisher_input(data: Prepared, pca_dim: int | None) -> torch.Tensor:
    """Centred features, or their leading ``pca_dim`` principal-component coordinates."""
    pca_dim = PCA_DIM.check("pca_dim", pca_dim)
    return data.centered if pca_dim is None else data.pca(dim=pca_dim)


def fisher_projection(features, labels, dims: int = 2, *, max_points: int = DEFAULT_MAX_POINTS, seed: int = 0,
                      pca_dim: int | None = DEFAULT_FISHER_PCA_DIM, shrinkage: float | None = None,
                      device="auto") -> Projection:
    """Samples in the Fisher space: coordinates along the top ``dims`` discriminant directions of a shrinkage
    LDA (see :func:`fisher_axes`; SFDA's first stage, Shao et al. ECCV 2022).

    The features are first reduced to their leading ``pca_dim`` (default 64; ``None`` keeps them all)
    principal components, as NCTI does before its LDA: with N ≲ D the within-class scatter is singular and
    the in-sample LDA pulls every class onto a point, a picture that says nothing about transfer. The LDA is
    fitted on every sample; the returned coordinates are those of a seeded class-stratified subsample of at
    most ``max_points`` samples (their rows in ``indices``).

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> labels = np.repeat(["cat", "dog", "fox"], 50)
    >>> features = rng.normal(size=(150, 8)) + 4.0 * (np.arange(150) // 50)[:, None]
    >>> projection = fisher_projection(features, labels, device="cpu")
    >>> projection.coordinates.shape, np.unique(projection.labels).tolist()
    ((150, 2), ['cat', 'dog', 'fox'])
    """
    dims = _check_dims(dims)
    data = prepare(features, labels, device=device)
    data.require("features", "labels")
    require_classes(data.num_classes, "the Fisher projection")
    x = _fisher_input(data, pca_dim)
    if x.shape[0] < x.shape[1] + data.num_classes:
        warnings.warn(f"the Fisher projection has {x.shape[0]} samples in {x.shape[1]} dimensions and "
                      f"{data.num_classes} classes: the within-class scatter is singular, so the classes look "
                      "better separated than they would on new images (lower pca_dim)",
                      TransferabilityWarning, stacklevel=2)
    axes = fisher_axes(x, data.labels, data.num_classes, dims, shrinkage)
    labels_index = data.labels.cpu().numpy()
    shown = _shown_rows(x.shape[0], max_points, seed, labels_index)
    coordinates = x[torch.as_tensor(shown, device=x.device)] @ axes.directions
    return Projection(coordinates.cpu().numpy(), data.classes[labels_index[shown]], shown, axes.titles,
                      axes.explained.cpu().numpy(), "Fisher (LDA)")


def umap_embedding(features, labels=None, *, dims: int = 2, n_neighbors: int = 15, min_dist: float = 0.1,
                   seed: int = 0, max_points: int = DEFAULT_MAX_POINTS, device="auto") -> Projection:
    """A UMAP map (McInnes et al., arXiv 1802.03426) of a seeded subsample of at most ``max_points`` samples
    (class-stratified when ``labels`` are given), after an exact PCA to 50 dimensions when D > 50.

    Deterministic for a given ``seed`` (umap-learn then runs single-threaded). umap-learn is imported on the
    first call, whose numba compilation takes about 10 s.
    """
    dims = _check_dims(dims)
    data = prepare(features, labels, device=device)
    data.require("features")
    labels_index = None if data.labels is None else data.labels.cpu().numpy()
    shown = _shown_rows(data.n, max_points, seed, labels_index)
    if len(shown) < dims + 3:
        raise UndefinedResultError(f"a UMAP map needs at least {dims + 3} samples, got {len(shown)}")
    x = data.features[torch.as_tensor(shown, device=data.features.device)]
    if x.shape[1] > UMAP_PCA_DIM:
        x = spectrum_of(x - x.mean(dim=0, keepdim=True)).scores[:, :UMAP_PCA_DIM]
    with warnings.catch_warnings():  # deferred: importing umap-learn compiles numba code
        warnings.simplefilter("ignore", ImportWarning)  # "no TensorFlow, so no ParametricUMAP": not used here
        import umap

    reducer = umap.UMAP(n_components=dims, n_neighbors=min(int(n_neighbors), len(shown) - 1),
                        min_dist=min_dist, random_state=seed, n_jobs=1)
    coordinates = reducer.fit_transform(x.cpu().numpy())
    shown_labels = None if labels_index is None else data.classes[labels_index[shown]]
    return Projection(np.asarray(coordinates, dtype=np.float64), shown_labels, shown,
                      tuple(f"UMAP {i + 1}" for i in range(dims)), None, "UMAP")


def spectral_components(features, labels=None, *, targets=None, groups: int = DEFAULT_GROUPS,
                        device="auto") -> SpectralComponents:
    """Singular values of the centred features, their cumulative explained variance, and DISCO's per-group
    ratio and score (:func:`transfer_core.metrics.disco.disco_components`; one SVD serves both)."""
    data = prepare(features, labels, targets=targets, device=device)
    data.require("features")
    components = disco_components(data, groups=groups)
    values = data.centered_spectrum.singular_values
    energy = values.square()
    cumulative = energy.cumsum(0) / energy.sum()
    return SpectralComponents(values.cpu().numpy(), cumulative.cpu().numpy(), components)


def _kendall_tau_b(first: np.ndarray, second: np.ndarray) -> float:
    """τ-b over the models where both metrics have a finite score; NaN with fewer than 3 such models or when
    either metric is constant over them (τ is undefined)."""
    both = np.isfinite(first) & np.isfinite(second)
    a, b = first[both], second[both]
    if both.sum() < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(kendalltau(a, b).statistic)


def metric_agreement(table: dict[str, list[float | None]]) -> tuple[list[str], np.ndarray]:
    """Pairwise Kendall τ-b between metrics across models: ``table`` maps each metric to its scores, one per
    model in the same model order (None for a missing score). Returns the metric names and the symmetric
    [M, M] matrix; a cell is NaN where fewer than 3 models have both scores or a metric is constant."""
    metrics = list(table)
    if not metrics:
        raise InvalidInputError("metric_agreement needs at least one metric")
    lengths = {len(scores) for scores in table.values()}
    if len(lengths) != 1:
        raise InvalidInputError(f"every metric needs one score per model; got lists of lengths {sorted(lengths)}")
    scores = np.array([[np.nan if s is None else float(s) for s in table[m]] for m in metrics], dtype=float)
    matrix = np.full((len(metrics), len(metrics)), np.nan)
    for i, j in combinations_with_replacement(range(len(metrics)), 2):
        matrix[i, j] = matrix[j, i] = _kendall_tau_b(scores[i], scores[j])
    return metrics, matrix
