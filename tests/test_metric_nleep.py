"""N-LEEP: the torch Gaussian mixture against scikit-learn, k-means++, the LEEP core, and the metric."""

import math
import warnings

import numpy as np
import pytest
import torch
from sklearn.mixture import GaussianMixture

from bench.numpy_reference.nleep import leep_numpy
from bench.numpy_reference.nleep import nleep as nleep_numpy
from transfer_core.metrics import gmm
from transfer_core.metrics.errors import DegenerateInputError, MetricInputError, TransferabilityWarning
from transfer_core.metrics.gmm import MixtureStart, fit_gaussian_mixture, kmeans, kmeans_plusplus
from transfer_core.metrics.leep_core import leep_from_chunks, leep_from_probabilities
from transfer_core.metrics.nleep import nleep, nleep_details
from transfer_core.metrics.prepared import prepare
from transfer_core.metrics.registry import REGISTRY


def blobs(centers: np.ndarray, per_blob: int, spread: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``per_blob`` Gaussian samples around each centre; returns the samples and their blob index."""
    rng = np.random.default_rng(seed)
    blob = np.repeat(np.arange(len(centers)), per_blob)
    return centers[blob] + spread * rng.normal(size=(len(blob), centers.shape[1])), blob


def correlated_data(n: int, d: int, seed: int) -> np.ndarray:
    """Overlapping, anisotropic clouds: EM needs many iterations on them."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + 3 * rng.normal(size=(n, 1))


def sklearn_fit(x: np.ndarray, start: MixtureStart) -> GaussianMixture:
    return GaussianMixture(len(start.weights), covariance_type="full", reg_covar=1e-6, tol=1e-3, max_iter=100,
                           weights_init=start.weights.numpy(), means_init=start.means.numpy(),
                           precisions_init=start.precisions.numpy()).fit(x)


def assert_same_fit(ours, theirs: GaussianMixture, x: np.ndarray) -> None:
    assert ours.iterations == theirs.n_iter_
    assert ours.converged == theirs.converged_
    np.testing.assert_allclose(ours.weights.numpy(), theirs.weights_, rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours.means.numpy(), theirs.means_, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ours.covariances.numpy(), theirs.covariances_, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ours.posteriors(torch.tensor(x)).numpy(), theirs.predict_proba(x), rtol=0, atol=1e-6)
    assert ours.lower_bound == pytest.approx(theirs.lower_bound_, abs=1e-6)


@pytest.mark.parametrize("n, d, k, seed", [(300, 2, 3, 0), (400, 5, 4, 1), (500, 12, 6, 2), (240, 30, 5, 3)])
def test_em_matches_sklearn_from_the_same_start(n, d, k, seed):
    x = correlated_data(n, d, seed)
    rng = np.random.default_rng(seed + 100)
    start = MixtureStart(torch.tensor(rng.dirichlet(np.full(k, 5.0))),
                         torch.tensor(x[rng.choice(n, k, replace=False)]),
                         torch.tensor(np.stack([np.eye(d) / x.var(axis=0).mean()] * k)))
    ours = fit_gaussian_mixture(torch.tensor(x), start=start)
    theirs = sklearn_fit(x, start)
    assert theirs.n_iter_ > 3  # a real run of EM, not a one-step fit
    assert_same_fit(ours, theirs, x)


def test_em_stops_at_max_iter_like_sklearn():
    x = correlated_data(300, 4, 5)
    start = MixtureStart(torch.full((6,), 1 / 6, dtype=torch.float64), torch.tensor(x[:6]),
                         torch.eye(4, dtype=torch.float64).expand(6, 4, 4).clone())
    ours = fit_gaussian_mixture(torch.tensor(x), start=start, max_iter=3)
    theirs = GaussianMixture(6, covariance_type="full", reg_covar=1e-6, tol=1e-3, max_iter=3,
                             weights_init=start.weights.numpy(), means_init=start.means.numpy(),
                             precisions_init=start.precisions.numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn's ConvergenceWarning
        theirs.fit(x)
    assert (ours.iterations, ours.converged) == (3, False)
    assert_same_fit(ours, theirs, x)


def test_default_start_is_the_mixture_of_the_kmeans_clusters():
    """Our k-means start, handed to scikit-learn as an explicit start, gives the same fit as our default path."""
    x = correlated_data(400, 6, 7)
    labels = kmeans(torch.tensor(x), 5, torch.Generator().manual_seed(3)).labels.numpy()
    means = np.stack([x[labels == c].mean(axis=0) for c in range(5)])
    covariances = np.stack([np.cov(x[labels == c].T, bias=True) + 1e-6 * np.eye(6) for c in range(5)])
    start = MixtureStart(torch.tensor(np.bincount(labels, minlength=5) / 400), torch.tensor(means),
                         torch.tensor(np.linalg.inv(covariances)))
    assert_same_fit(fit_gaussian_mixture(torch.tensor(x), 5, seed=3), sklearn_fit(x, start), x)


@pytest.mark.parametrize("chunk_rows, pair_budget", [(7, gmm.PAIR_BUDGET), (400, 0), (7, 0)])
def test_chunks_and_recomputed_pairs_change_only_rounding(monkeypatch, chunk_rows, pair_budget):
    """Row chunks (k-means, E-step, posteriors) and the past-the-budget path give the one-block fit to 1e-10."""
    x = torch.tensor(correlated_data(400, 5, 11))
    monkeypatch.setattr(gmm, "CHUNK_ELEMENTS", 1 << 40)
    whole = fit_gaussian_mixture(x, 6, seed=4)
    monkeypatch.setattr(gmm, "CHUNK_ELEMENTS", 6 * chunk_rows)
    monkeypatch.setattr(gmm, "PAIR_BUDGET", pair_budget)
    chunked = fit_gaussian_mixture(x, 6, seed=4)
    assert (chunked.iterations, chunked.converged) == (whole.iterations, whole.converged)
    assert whole.iterations > 10
    for name in ("weights", "means", "covariances"):
        torch.testing.assert_close(getattr(chunked, name), getattr(whole, name), rtol=0, atol=1e-10)
    torch.testing.assert_close(chunked.posteriors(x), whole.posteriors(x), rtol=0, atol=1e-10)
    assert chunked.lower_bound == pytest.approx(whole.lower_bound, abs=1e-10)


def test_chunked_e_step_keeps_every_pair_of_the_final_rule(monkeypatch):
    """Candidates picked per chunk against a running n_k, then filtered, are exactly r_ik > 1e-25 · n_k."""
    x = torch.tensor(correlated_data(400, 5, 11))
    fit = fit_gaussian_mixture(x, 6, seed=4)
    full = fit.posteriors(x)
    rule = full > gmm.NEGLIGIBLE_RESPONSIBILITY * (full.sum(dim=0) + 10 * torch.finfo(full.dtype).eps)
    assert ((full > 0) & ~rule).any()  # the rule leaves some positive responsibilities out
    monkeypatch.setattr(gmm, "CHUNK_ELEMENTS", 6 * 7)
    _, statistics = gmm._e_step(x, fit.weights, fit.means, fit.precision_factors)
    batches = list(statistics.pairs(statistics.resp_sums + 10 * torch.finfo(full.dtype).eps))
    kept = torch.zeros_like(rule)
    for sample, component, _ in batches:
        kept[sample, component] = True
    assert torch.equal(kept, rule)


@pytest.mark.parametrize("seed", range(4))
def test_kmeans_recovers_well_separated_blobs(seed):
    centers = 50 * np.random.default_rng(seed).normal(size=(6, 3))
    x, blob = blobs(centers, 20, 1.0, seed)
    generator = torch.Generator().manual_seed(seed)
    seeds = kmeans_plusplus(torch.tensor(x), 6, generator).numpy()
    nearest_blob = np.linalg.norm(seeds[:, None] - centers[None], axis=2).argmin(axis=1)
    assert sorted(nearest_blob) == list(range(6))  # one seed in every blob
    labels = kmeans(torch.tensor(x), 6, generator).labels.numpy()
    pairs = set(zip(blob, labels))
    assert len(pairs) == 6 and len({label for _, label in pairs}) == 6  # a bijection blob ↔ cluster


def test_leep_core_on_a_hand_computed_case():
    theta = torch.tensor([[0.8, 0.2], [0.4, 0.6], [0.1, 0.9]], dtype=torch.float64)
    labels = torch.tensor([0, 1, 1])
    # P(z) = (1.3, 1.7)/3; P(y=0|z) = (0.8/1.3, 0.2/1.7); P(y=1|z) = (0.5/1.3, 1.5/1.7)
    expected = np.mean([math.log(0.8 * 0.8 / 1.3 + 0.2 * 0.2 / 1.7),
                        math.log(0.4 * 0.5 / 1.3 + 0.6 * 1.5 / 1.7),
                        math.log(0.1 * 0.5 / 1.3 + 0.9 * 1.5 / 1.7)])
    assert float(leep_from_probabilities(theta, labels, 2)) == pytest.approx(expected, abs=1e-14)
    with_empty = torch.cat([theta[:, :1], torch.zeros(3, 1, dtype=torch.float64), theta[:, 1:]], dim=1)
    assert float(leep_from_probabilities(with_empty, labels, 3)) == pytest.approx(expected, abs=1e-14)


def test_leep_core_matches_numpy_and_rejects_rows_without_mass():
    rng = np.random.default_rng(0)
    theta = rng.dirichlet(np.full(7, 0.3), size=50)
    labels = rng.integers(0, 4, 50)
    ours = float(leep_from_probabilities(torch.tensor(theta), torch.tensor(labels), 4))
    assert ours == pytest.approx(leep_numpy(theta, labels, 4), abs=1e-12)
    theta[3] = 0
    with pytest.raises(MetricInputError):
        leep_from_probabilities(torch.tensor(theta), torch.tensor(labels), 4)


def test_leep_from_chunks_is_leep_of_the_whole_matrix():
    rng = np.random.default_rng(1)
    theta = torch.tensor(rng.dirichlet(np.full(7, 0.3), size=50))
    labels = torch.tensor(rng.integers(0, 4, 50))
    edges = [0, 7, 30, 31, 50]
    chunks = lambda: [(theta[a:b], labels[a:b]) for a, b in zip(edges[:-1], edges[1:])]  # noqa: E731
    assert float(leep_from_chunks(chunks, 4)) == pytest.approx(float(leep_from_probabilities(theta, labels, 4)),
                                                                abs=1e-14)
    with pytest.raises(MetricInputError):
        leep_from_chunks(lambda: [], 4)


def separable_classes(seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1, 2], 50)
    return rng.normal(size=(150, 8)) + 30 * np.eye(8)[labels], labels


def test_nleep_is_near_its_maximum_on_separable_classes_and_low_on_random_labels():
    features, labels = separable_classes()
    assert -1e-6 < nleep(features, labels) <= 0
    shuffled = np.random.default_rng(1).permutation(labels)
    assert nleep(features, shuffled) < -0.5


def test_seed_changes_nothing_on_separable_data_and_seeds_average():
    features, labels = separable_classes()
    assert nleep(features, labels, seed=0) == pytest.approx(nleep(features, labels, seed=5), abs=1e-9)
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, 120)
    features = rng.normal(size=(120, 5)) + labels[:, None]
    details = nleep_details(features, labels, seed=2, seeds=3)
    singles = [nleep(features, labels, seed=s) for s in (2, 3, 4)]
    assert details.seeds == [2, 3, 4]
    np.testing.assert_allclose(details.seed_scores, singles, atol=1e-12)
    assert details.score == pytest.approx(np.mean(singles), abs=1e-12)
    assert len(set(np.round(singles, 9))) > 1  # the seeds really give different mixtures here
    assert details.components == 15 and len(details.iterations) == 3
    assert all(1 <= it <= 100 for it in details.iterations) and all(details.converged)


def test_streamed_nleep_is_leep_of_the_full_posteriors(monkeypatch):
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, 120)
    features = rng.normal(size=(120, 5)) + labels[:, None]
    data = prepare(features, labels)
    x = data.pca(variance=0.8)
    expected = float(leep_from_probabilities(fit_gaussian_mixture(x, 15).posteriors(x), data.labels, 3))
    monkeypatch.setattr(gmm, "CHUNK_ELEMENTS", 15 * 7)  # 7 rows per chunk
    assert nleep(features, labels) == pytest.approx(expected, abs=1e-10)


def test_components_are_capped_at_half_the_samples_with_a_warning():
    rng = np.random.default_rng(0)
    labels = np.arange(20) % 5
    features = rng.normal(size=(20, 4)) + 10 * np.eye(4)[labels % 4]
    with pytest.warns(TransferabilityWarning, match="exceed N/2"):
        details = nleep_details(features, labels)
    assert details.components == 10
    assert np.isfinite(details.score)


def test_matches_the_sklearn_pipeline_when_the_mixture_is_unambiguous():
    """Ten far-apart blobs, 5 · C = 10 components: both pipelines find the blobs, so the scores agree."""
    centers = 40 * np.random.default_rng(3).normal(size=(10, 6))
    features, blob = blobs(centers, 30, 1.0, 4)
    rng = np.random.default_rng(5)
    labels = (rng.random(len(blob)) < np.linspace(0.05, 0.95, 10)[blob]).astype(int)  # blobs mix the 2 classes
    score = nleep(features, labels)
    assert score < -0.1  # a non-trivial value
    assert score == pytest.approx(nleep_numpy(features, labels), abs=1e-6)


def test_registered_metric_takes_a_prepared_input_and_options():
    features, labels = separable_classes(1)
    spec = REGISTRY["nleep"]
    assert {name: option.kind for name, option in spec.options.items()} == {"seed": int, "seeds": int}
    assert spec.function(prepare(features, labels), seed=1) == nleep(features, labels, seed=1)


def test_bad_inputs_give_clear_errors():
    features, labels = separable_classes()
    with pytest.raises(DegenerateInputError):
        nleep(features, np.zeros(150, dtype=int))
    with pytest.raises(MetricInputError):
        nleep(features, labels, seeds=0)
    with pytest.raises(MetricInputError):
        nleep(features)
