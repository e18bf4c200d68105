"""N-LEEP: LEEP with Gaussian-mixture posteriors in place of a source classifier (Li et al., CVPR 2021)."""

from __future__ import annotations

import statistics
import warnings
from dataclasses import dataclass

import torch

from transfer_core.metrics.errors import TransferabilityWarning
from transfer_core.metrics.gmm import MixtureFit, fit_gaussian_mixture
from transfer_core.metrics.inputs import require_classes
from transfer_core.metrics.leep_core import leep_from_chunks
from transfer_core.metrics.options import SEED, Option
from transfer_core.metrics.prepared import prepare
from transfer_core.metrics.registry import CLASSIFICATION, check_options, register

EXPLAINED_VARIANCE = 0.8
COMPONENTS_PER_CLASS = 5


@dataclass(frozen=True)
class NleepDetails:
    """N-LEEP and how it was obtained: one Gaussian-mixture fit per seed."""

    score: float  # mean of ``seed_scores``
    seed_scores: list[float]
    seeds: list[int]
    iterations: list[int]  # EM iterations used per seed
    converged: list[bool]
    components: int
    pca_dim: int


def nleep_details(features, labels=None, *, seed: int = 0, seeds: int = 1, device="auto") -> NleepDetails:
    """N-LEEP with its per-seed scores, EM iterations and mixture size (see :func:`nleep`)."""
    seed, seeds = check_options("nleep", seed=seed, seeds=seeds).values()
    data = prepare(features, labels, device=device)
    data.require("features", "labels")
    require_classes(data.num_classes, "N-LEEP")
    reduced = data.pca(variance=EXPLAINED_VARIANCE)
    components = _component_count(data.num_classes, data.n)
    seed_list = list(range(seed, seed + seeds))
    scores, iterations, converged = [], [], []
    for one_seed in seed_list:  # one fit at a time: each holds K covariance matrices
        fit = fit_gaussian_mixture(reduced, components, seed=one_seed)
        scores.append(_streamed_leep(fit, reduced, data.labels, data.num_classes))
        iterations.append(fit.iterations)
        converged.append(fit.converged)
    if not all(converged):
        warnings.warn("N-LEEP: the Gaussian mixture did not converge within 100 EM iterations for some seeds",
                      TransferabilityWarning, stacklevel=2)
    return NleepDetails(statistics.fmean(scores), scores, seed_list, iterations, converged, components,
                        reduced.shape[1])


def _streamed_leep(fit: MixtureFit, x: torch.Tensor, labels: torch.Tensor, num_classes: int) -> float:
    """LEEP with θ = the mixture's posteriors, computed chunk by chunk in each of LEEP's two passes (the
    [N, K] posteriors never exist at once: 2 GB at N = 50 000, K = 5 000)."""
    return float(leep_from_chunks(lambda: ((theta, labels[rows]) for rows, theta in fit.posterior_chunks(x)),
                                  num_classes))


def _component_count(num_classes: int, n: int) -> int:
    """5·C components, capped at N/2 (with a warning) so that each component can hold a few samples."""
    wanted = COMPONENTS_PER_CLASS * num_classes
    cap = max(1, n // 2)
    if wanted > cap:
        warnings.warn(f"N-LEEP: {wanted} mixture components (5 per class) exceed N/2 = {cap} samples; "
                      f"using {cap} components", TransferabilityWarning, stacklevel=3)
        return cap
    return wanted


@register("nleep", tasks=(CLASSIFICATION,),
          meaning="How well clusters of the features (a Gaussian mixture with 5 components per class) predict "
                  "the labels, as LEEP would with a source classifier (log-likelihood per sample, at most 0).",
          citation="Li et al., Ranking Neural Checkpoints, CVPR 2021",
          options={"seed": SEED,
                   "seeds": Option(int, 1, 100, why="one Gaussian-mixture fit per seed, one after another")})
def nleep(features, labels=None, *, seed: int = 0, seeds: int = 1, device="auto") -> float:
    """N-LEEP score (higher is better, at most 0): LEEP with θ = Gaussian-mixture posteriors.

    Li et al. (CVPR 2021): the features are reduced by PCA to the components explaining 80 % of the
    variance (exact SVD of the centred features, float64), a Gaussian mixture with 5·C components
    (full covariances, reg_covar 1e-6, k-means initialisation, EM stopped when the mean log-likelihood
    changes by less than 1e-3, at most 100 iterations; :mod:`transfer_core.metrics.gmm`) is fitted,
    and its posteriors p(v | x_i) [N, 5C] play the role of the source-class probabilities θ in LEEP,
    log included. This is google-research ``stable_transfer/transferability/nleep.py`` (scikit-learn
    PCA + GaussianMixture) with the EM in torch; the SFDA repository's "NLEEP" drops the log and is a
    different metric. The k-means seeds come from a ``torch.Generator``, so a seed gives a different (but
    equally valid) mixture than scikit-learn's ``random_state``; the score varies with the seed, so
    ``seeds`` > 1 averages seeds ``seed .. seed + seeds - 1``. With 5·C > N/2 the mixture is capped at
    N/2 components and a :class:`TransferabilityWarning` says so.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> labels = np.repeat([0, 1, 2], 40)
    >>> separated = rng.normal(size=(120, 6)) + 20 * np.eye(6)[labels]
    >>> overlapping = rng.normal(size=(120, 6)) + 2 * np.eye(6)[labels]
    >>> print(f"{abs(nleep(separated, labels)):.4f} {nleep(overlapping, labels):.3f}")  # 0 is the maximum
    0.0000 -0.486
    """
    return nleep_details(features, labels, seed=seed, seeds=seeds, device=device).score
