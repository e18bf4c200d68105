"""Full-covariance Gaussian mixture fitted by EM in torch (float64, any device), for N-LEEP.

The math and stopping rule are scikit-learn's ``GaussianMixture(covariance_type="full")``: responsibilities
from Cholesky-based log-densities, M-step with ``nk = Σ_i r_ik + 10·eps`` and ``reg_covar`` added to each
covariance's diagonal, stop when the mean per-sample log-likelihood changes by less than ``tol``; the
posteriors come from the final parameters. Given the same starting point (``weights_init``, ``means_init``,
``precisions_init``) both give the same fit to rounding. The default start is scikit-learn-like: hard
k-means labels (k-means++ seeding, Lloyd iterations) turned into responsibilities, from a seeded
``torch.Generator`` (the random draws differ from scikit-learn's, so fits from a seed differ too).

Speed: log-densities are a few large matrix products of the samples with the stacked triangular precision
factors of a chunk of components (no loop over components or samples); covariances are batched products over
only the (sample, component) pairs whose responsibility is not negligible (r_ik > 1e-25 · n_k, far below
float64 rounding of the result).

Memory: EM and k-means build no [N, K] array (2 GB each for N-LEEP at N = 50 000, K = 5 000): they and
:meth:`MixtureFit.posterior_chunks` visit the samples in row chunks of ``CHUNK_ELEMENTS / K`` rows. The
E-step of a chunk adds to the M-step's statistics Σ_i r_ik, Σ_i r_ik x_i and the candidate (sample,
component, r_ik) pairs; the covariances are centred sums over the pairs, after the means. n_k is only known
after the last chunk, so a chunk keeps the pairs with r_ik > 1e-25 · (running Σ r_ik over the chunks so far,
this one included, + 10·eps): a running sum of non-negative terms never decreases in floating point
(rounding is monotone), so that bound never exceeds the final 1e-25 · n_k and every pair the final rule
keeps is a candidate; the M-step applies the final rule. Only summation orders change: the fit is the
unchunked one to rounding. The pairs take 24 bytes each; past ``PAIR_BUDGET`` of them (broad, overlapping
components) an E-step drops them and its M-step recomputes each chunk's responsibilities and pairs instead:
one more E-step of work, the same result.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial

import torch

from transfer_core.metrics.errors import DegenerateInputError, MetricInputError

REG_COVAR = 1e-6
TOLERANCE = 1e-3
MAX_ITERATIONS = 100
KMEANS_MAX_ITERATIONS = 300
KMEANS_TOLERANCE = 1e-4  # relative to the mean feature variance, as scikit-learn's KMeans
NEGLIGIBLE_RESPONSIBILITY = 1e-25  # relative to n_k: left out of the covariance sums
CHUNK_ELEMENTS = 1 << 22  # float64 elements per temporary block (32 MiB: cache-friendly)
PAIR_BUDGET = 1 << 24  # candidate pairs an E-step keeps (384 MiB); beyond, the M-step recomputes them
TRIANGLE_BLOCKS = 8  # column blocks of the triangular precision factors in the E-step


@dataclass(frozen=True)
class MixtureStart:
    """An explicit starting point: ``weights`` [K], ``means`` [K, D], ``precisions`` [K, D, D] (inverse covariances)."""

    weights: torch.Tensor
    means: torch.Tensor
    precisions: torch.Tensor


@dataclass(frozen=True)
class MixtureFit:
    """A fitted mixture; the posteriors p(component | x_i) are computed on demand (scikit-learn's ``predict_proba``)."""

    weights: torch.Tensor  # [K]
    means: torch.Tensor  # [K, D]
    covariances: torch.Tensor  # [K, D, D]
    precision_factors: torch.Tensor  # [K, D, D] upper-triangular R_k, Σ_k⁻¹ = R_k R_kᵀ
    lower_bound: float  # mean per-sample log-likelihood at the last iteration
    iterations: int
    converged: bool

    def posterior_chunks(self, x: torch.Tensor) -> Iterator[tuple[slice, torch.Tensor]]:
        """``(rows, posteriors [len(rows), K])`` for consecutive row chunks of ``x`` (one ~32 MiB block each)."""
        for rows, _, resp in _responsibility_chunks(x.to(self.means), self.weights, self.means, self.precision_factors):
            yield rows, resp

    def posteriors(self, x: torch.Tensor) -> torch.Tensor:
        """All posteriors [N, K] at once, for small data (large callers stream :meth:`posterior_chunks`)."""
        return torch.cat([theta for _, theta in self.posterior_chunks(x)])


_Pairs = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # (sample, component, r_ik) of some responsibilities


@dataclass(frozen=True)
class _Statistics:
    """What the M-step needs from the responsibilities r_ik: Σ_i r_ik [K], Σ_i r_ik x_i [K, D], and ``pairs``,
    which, given n_k, gives in batches the (sample, component, r_ik) with r_ik > NEGLIGIBLE_RESPONSIBILITY · n_k."""

    resp_sums: torch.Tensor
    weighted_sums: torch.Tensor
    pairs: Callable[[torch.Tensor], Iterable[_Pairs]]


def fit_gaussian_mixture(x: torch.Tensor, n_components: int | None = None, *, start: MixtureStart | None = None,
                         seed: int = 0, reg_covar: float = REG_COVAR, tol: float = TOLERANCE,
                         max_iter: int = MAX_ITERATIONS) -> MixtureFit:
    """Fit a ``n_components`` full-covariance mixture to ``x`` [N, D] (float64) by EM.

    Starts from ``start`` when given, else from k-means labels seeded by ``seed``.

    >>> x = torch.randn(100, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> x[50:] += 10
    >>> fit = fit_gaussian_mixture(x, 2)
    >>> [round(w, 6) for w in fit.weights.tolist()], fit.converged
    ([0.5, 0.5], True)
    """
    x = x.to(torch.float64)
    if max_iter < 1:
        raise MetricInputError(f"max_iter must be at least 1, got {max_iter}")
    if start is None:
        if n_components is None or not 1 <= n_components <= x.shape[0]:
            raise MetricInputError(f"need 1 <= n_components <= N = {x.shape[0]}, got {n_components}")
        generator = torch.Generator(device=x.device).manual_seed(seed)
        labels = kmeans(x, n_components, generator).labels
        weights, means, covariances = _estimate_parameters(x, _hard_statistics(x, labels, n_components), reg_covar)
        weights = weights / x.shape[0]
        factors = _precision_factors(covariances)
    else:
        _check_start(start, x.shape[1])
        weights, means = start.weights.to(x), start.means.to(x)
        factors = _precision_factors_from_precisions(start.precisions.to(x))
    lower_bound, converged, iterations = -math.inf, False, 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 (read after the loop: the iterations it took)
        previous = lower_bound
        mean_log_likelihood, weights, means, covariances = _em_step(x, weights, means, factors, reg_covar)
        factors = _precision_factors(covariances)
        lower_bound = float(mean_log_likelihood)
        if abs(lower_bound - previous) < tol:
            converged = True
            break
    return MixtureFit(weights, means, covariances, factors, lower_bound, iterations, converged)


def _check_start(start: MixtureStart, d: int) -> None:
    k = start.weights.shape[0]
    if start.weights.shape != (k,) or start.means.shape != (k, d) or start.precisions.shape != (k, d, d):
        raise MetricInputError(
            f"the start must be weights [K], means [K, {d}], precisions [K, {d}, {d}]; got "
            f"{tuple(start.weights.shape)}, {tuple(start.means.shape)}, {tuple(start.precisions.shape)}")


def _row_chunks(n: int, k: int) -> list[slice]:
    """Consecutive row slices of ``CHUNK_ELEMENTS // k`` rows (at least one): a [rows, k] block fits the budget."""
    step = max(1, CHUNK_ELEMENTS // k)
    return [slice(first, min(first + step, n)) for first in range(0, n, step)]


def _em_step(x, weights, means, factors, reg_covar):
    """One E-step and M-step: the mean log-likelihood before it, then the new weights, means and covariances."""
    mean_log_likelihood, statistics = _e_step(x, weights, means, factors)
    nk, means, covariances = _estimate_parameters(x, statistics, reg_covar)
    return mean_log_likelihood, nk / nk.sum(), means, covariances


def _e_step(x, weights, means, factors) -> tuple[torch.Tensor, _Statistics]:
    """Mean log-likelihood (scalar tensor) and the M-step's statistics, accumulated over row chunks.

    Each chunk's candidate pairs are kept (see the module notes); past ``PAIR_BUDGET`` of them they are
    dropped and the M-step recomputes the chunks' responsibilities instead (one more E-step's work).
    """
    n, d = x.shape
    k = means.shape[0]
    log_likelihood, resp_sums, weighted_sums = x.new_zeros(()), x.new_zeros(k), x.new_zeros(k, d)
    candidates: list[_Pairs] | None = []
    for rows, log_norm, resp in _responsibility_chunks(x, weights, means, factors):
        log_likelihood += log_norm.sum()
        resp_sums += resp.sum(dim=0)
        weighted_sums.addmm_(resp.T, x[rows])
        if candidates is not None:
            candidates.append(_pairs_above(resp, _component_mass(resp_sums), rows.start))
            if sum(sample.numel() for sample, _, _ in candidates) > PAIR_BUDGET:
                candidates = None
    pairs = (partial(_recomputed_pairs, x, weights, means, factors) if candidates is None
             else _stored_pairs(*(torch.cat(column) for column in zip(*candidates))))
    return log_likelihood / n, _Statistics(resp_sums, weighted_sums, pairs)


def _responsibility_chunks(x, weights, means, factors) -> Iterator[tuple[slice, torch.Tensor, torch.Tensor]]:
    """``(rows, log p(x_i) [n, 1], p(k | x_i) [n, K])`` for consecutive row chunks of ``x``."""
    for rows in _row_chunks(x.shape[0], means.shape[0]):
        weighted = log_gaussian_densities(x[rows], means, factors) + weights.log()
        log_norm = torch.logsumexp(weighted, dim=1, keepdim=True)
        yield rows, log_norm, weighted.sub_(log_norm).exp_()


def _pairs_above(resp: torch.Tensor, mass: torch.Tensor, first_row: int) -> _Pairs:
    """The (sample, component, r_ik) of a chunk with r_ik > NEGLIGIBLE_RESPONSIBILITY · ``mass``_k, sorted by
    component, then sample."""
    component, sample = (resp.T > NEGLIGIBLE_RESPONSIBILITY * mass[:, None]).nonzero(as_tuple=True)
    return sample + first_row, component, resp[sample, component]


def _recomputed_pairs(x, weights, means, factors, nk: torch.Tensor) -> Iterator[_Pairs]:
    """``pairs`` of :class:`_Statistics` without kept candidates: each chunk's, from its responsibilities again."""
    for rows, _, resp in _responsibility_chunks(x, weights, means, factors):
        yield _pairs_above(resp, nk, rows.start)


def _stored_pairs(sample: torch.Tensor, component: torch.Tensor, resp: torch.Tensor):
    """``pairs`` of :class:`_Statistics` from kept candidates: those with r_ik > NEGLIGIBLE_RESPONSIBILITY · n_k."""
    def pairs(nk: torch.Tensor) -> list[_Pairs]:
        keep = resp > NEGLIGIBLE_RESPONSIBILITY * nk[component]
        return [(sample[keep], component[keep], resp[keep])]
    return pairs


def _hard_statistics(x: torch.Tensor, labels: torch.Tensor, k: int) -> _Statistics:
    """The statistics of one-hot responsibilities (hard labels, e.g. from k-means)."""
    counts = torch.bincount(labels, minlength=k).to(x.dtype)
    sums = x.new_zeros(k, x.shape[1]).index_add_(0, labels, x)
    samples = torch.arange(x.shape[0], device=x.device)
    return _Statistics(counts, sums, _stored_pairs(samples, labels, torch.ones_like(samples, dtype=x.dtype)))


def _component_mass(resp_sums: torch.Tensor) -> torch.Tensor:
    """n_k = Σ_i r_ik + 10·eps (scikit-learn's guard against empty components)."""
    return resp_sums + 10 * torch.finfo(resp_sums.dtype).eps


def log_gaussian_densities(x: torch.Tensor, means: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """log N(x_i | μ_k, Σ_k) [N, K], with ``factors`` [K, D, D] upper-triangular R_k, Σ_k⁻¹ = R_k R_kᵀ.

    ‖(x − μ_k) R_k‖² with (x − μ_k) R_k = x R_k − μ_k R_k (as scikit-learn) is, for a chunk of components
    at once, one product of the stacked [−μ_k R_k; R_k]ᵀ with [1, x]ᵀ. The columns of R_k are taken in
    ``TRIANGLE_BLOCKS`` blocks, each using only the rows above its end (R_k is upper triangular), which
    saves ~45 % of the work. Log-determinants come from the diagonals of R_k.
    """
    n, d = x.shape
    k = means.shape[0]
    log_det = factors.diagonal(dim1=-2, dim2=-1).log().sum(dim=-1)  # ½ log det Σ_k⁻¹
    with_ones = torch.cat([torch.ones_like(x[:, :1]), x], dim=1)  # [N, 1 + D]
    column_edges = torch.linspace(0, d, TRIANGLE_BLOCKS + 1).round().long().unique().tolist()
    squared = torch.zeros(n, k, dtype=x.dtype, device=x.device)
    for start, stop in zip(column_edges[:-1], column_edges[1:]):
        step = max(1, CHUNK_ELEMENTS // (n * (stop - start)))
        for first in range(0, k, step):
            block = slice(first, min(first + step, k))
            rows = factors[block, :stop, start:stop]  # the only non-zero rows of these columns
            shift = means[block, None, :stop] @ rows  # μ_k R_k, [k_b, 1, width]
            stacked = torch.cat([-shift, rows], dim=1).mT.reshape(-1, 1 + stop)  # [k_b·width, 1 + stop]
            projected = (stacked @ with_ones[:, : 1 + stop].T).view(-1, stop - start, n)
            squared[:, block] += projected.square_().sum(dim=1).T
    return -0.5 * (d * math.log(2 * math.pi) + squared) + log_det


def _estimate_parameters(x: torch.Tensor, statistics: _Statistics, reg_covar: float):
    """M-step: ``nk`` [K] (unnormalised weights), means [K, D], covariances [K, D, D] (+ reg_covar·I)."""
    nk = _component_mass(statistics.resp_sums)
    means = statistics.weighted_sums / nk[:, None]
    scatter = x.new_zeros(means.shape + means.shape[-1:])
    for pairs in statistics.pairs(nk):
        _add_weighted_scatter(scatter, x, means, *pairs)
    covariances = scatter / nk[:, None, None]
    covariances.diagonal(dim1=-2, dim2=-1).add_(reg_covar)
    return nk, means, covariances


def _add_weighted_scatter(scatter: torch.Tensor, x: torch.Tensor, means: torch.Tensor, sample: torch.Tensor,
                          component: torch.Tensor, resp: torch.Tensor) -> None:
    """Add Σ r_ik (x_i − μ_k)(x_i − μ_k)ᵀ over the (sample, component, r_ik) pairs to ``scatter`` [K, D, D].

    The pairs of each component are packed into rows of a padded [K_b, width, D] block (components
    sorted by their pair count so that blocks pad little) and each block is one batched product.
    """
    d = x.shape[1]
    k = means.shape[0]
    grouped = torch.argsort(component, stable=True)  # by component, each component's samples in their order
    sample, component, weight = sample[grouped], component[grouped], resp[grouped].sqrt()
    counts = torch.bincount(component, minlength=k)
    offsets = counts.cumsum(0) - counts
    order = torch.argsort(counts)
    sorted_counts = counts[order].tolist()
    first = 0
    while first < k:
        last = _block_end(sorted_counts, first, budget=CHUNK_ELEMENTS // d)
        members = order[first:last]
        width = sorted_counts[last - 1]
        position = torch.arange(width, device=x.device)
        valid = position < counts[members, None]
        pair = torch.where(valid, offsets[members, None] + position, 0)
        if width:
            rows = weight[pair].mul(valid)[..., None] * (x[sample[pair]] - means[members, None, :])
            scatter[members] += rows.mT @ rows
        first = last


def _block_end(sorted_counts: list[int], first: int, budget: int) -> int:
    """The end of the block starting at ``first`` whose padded size (members × largest count) fits ``budget``
    (at least one member)."""
    last = first + 1
    while last < len(sorted_counts) and (last + 1 - first) * sorted_counts[last] <= budget:
        last += 1
    return last


def _precision_factors(covariances: torch.Tensor) -> torch.Tensor:
    """Upper-triangular R_k = L_k⁻ᵀ with Σ_k = L_k L_kᵀ (so Σ_k⁻¹ = R_k R_kᵀ)."""
    lower, info = torch.linalg.cholesky_ex(covariances)
    if bool((info > 0).any()):
        raise DegenerateInputError(
            "the Gaussian mixture failed: some components have an ill-defined covariance (collapsed or "
            "duplicated samples); use fewer components or rescale the features")
    identity = torch.eye(covariances.shape[-1], dtype=covariances.dtype, device=covariances.device)
    return torch.linalg.solve_triangular(lower, identity.expand_as(covariances), upper=False).mT


def _precision_factors_from_precisions(precisions: torch.Tensor) -> torch.Tensor:
    """Upper-triangular R_k with Σ_k⁻¹ = R_k R_kᵀ, from the Cholesky factor of the index-reversed precision."""
    lower, info = torch.linalg.cholesky_ex(precisions.flip(-2, -1))
    if bool((info > 0).any()):
        raise MetricInputError("the starting precisions must be symmetric positive definite")
    return lower.flip(-2, -1)


@dataclass(frozen=True)
class KMeansResult:
    labels: torch.Tensor  # [N] int64
    centers: torch.Tensor  # [K, D]


def kmeans(x: torch.Tensor, n_clusters: int, generator: torch.Generator, *,
           max_iter: int = KMEANS_MAX_ITERATIONS, tol: float = KMEANS_TOLERANCE) -> KMeansResult:
    """Lloyd's k-means from greedy k-means++ seeds, stopped like scikit-learn's ``KMeans`` (labels unchanged,
    or a total squared centre shift ≤ tol · mean feature variance). Empty clusters move to the samples
    farthest from their centres. Works on the centred data for precision; returns centres in x's frame."""
    offset = x.mean(dim=0)
    centred = x - offset
    threshold = tol * centred.var(dim=0, unbiased=False).mean()
    centers = kmeans_plusplus(centred, n_clusters, generator)
    labels, distances = _nearest_centers(centred, centers)
    for _ in range(max_iter):
        new_centers = _cluster_means(centred, labels, distances, centers)
        shift = (new_centers - centers).square().sum()
        centers = new_centers
        new_labels, distances = _nearest_centers(centred, centers)
        unchanged = bool((new_labels == labels).all())
        labels = new_labels
        if unchanged or bool(shift <= threshold):
            break
    return KMeansResult(labels, centers + offset)


def kmeans_plusplus(x: torch.Tensor, n_clusters: int, generator: torch.Generator) -> torch.Tensor:
    """Greedy k-means++ seeds [K, D] (Arthur & Vassilvitskii 2007; 2 + ⌊ln K⌋ candidates per step, the one
    lowering the potential most is kept, as scikit-learn's ``kmeans_plusplus``). A step allocates only
    [candidates, N] blocks: no per-step [N, D] temporary or small long-lived tensor that would fragment the heap."""
    n = x.shape[0]
    trials = 2 + int(math.log(n_clusters))
    norms = x.square().sum(dim=1)
    chosen = torch.empty(n_clusters, dtype=torch.long, device=x.device)
    chosen[:1] = torch.randint(n, (1,), generator=generator, device=x.device)
    closest = _squared_distances(x[chosen[:1]], x, norms)[0]  # [N]: squared distance to the nearest seed so far
    for step in range(1, n_clusters):
        draws = torch.rand(trials, generator=generator, device=x.device, dtype=x.dtype) * closest.sum()
        candidates = torch.searchsorted(closest.cumsum(0), draws).clamp_max(n - 1)
        improved = torch.minimum(closest, _squared_distances(x[candidates], x, norms))
        best = improved.sum(dim=1).argmin()
        closest = improved[best]
        chosen[step] = candidates[best]
    return x[chosen]


def _squared_distances(a: torch.Tensor, b: torch.Tensor, b_norms: torch.Tensor) -> torch.Tensor:
    """‖a_i − b_j‖² [len(a), len(b)] by one product, clamped at 0; ``b_norms`` holds ‖b_j‖²."""
    return (a.square().sum(1)[:, None] - 2 * a @ b.T + b_norms[None, :]).clamp_min_(0)


def _nearest_centers(x: torch.Tensor, centers: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Label [N] and squared distance [N] of each sample's nearest centre, over row chunks."""
    labels = torch.empty(x.shape[0], dtype=torch.long, device=x.device)
    distances = torch.empty_like(x[:, 0])
    norms = centers.square().sum(dim=1)
    for rows in _row_chunks(x.shape[0], centers.shape[0]):
        distances[rows], labels[rows] = _squared_distances(x[rows], centers, norms).min(dim=1)
    return labels, distances


def _cluster_means(x, labels, distances, centers) -> torch.Tensor:
    """Mean of each cluster; an empty cluster takes one of the samples farthest from their centres."""
    k = centers.shape[0]
    counts = torch.bincount(labels, minlength=k).to(x.dtype)
    sums = torch.zeros_like(centers).index_add_(0, labels, x)
    means = sums / counts.clamp_min(1)[:, None]
    empty = (counts == 0).nonzero()[:, 0]
    if empty.numel():
        farthest = distances.topk(empty.numel()).indices
        means[empty] = x[farthest]
    return means
