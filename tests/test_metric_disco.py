"""DISCO: spectral groups, weights, scikit-learn cross-checks per group, invariances and degenerate input."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.linear_model import LinearRegression
from sklearn.metrics import mean_squared_error

from bench.numpy_reference.disco import disco as disco_numpy
from bench.numpy_reference.disco import disco_parts
from transfer_core.metrics.disco import disco, disco_components, group_ranges
from transfer_core.metrics.errors import DegenerateInputError, MetricInputError, TransferabilityWarning
from transfer_core.metrics.prepared import prepare
from transfer_core.metrics.registry import CLASSIFICATION, REGISTRY, REGRESSION, parse_options


def spectral_features(n=200, d=24, separation=6.0, scale=1.0, seed=0):
    """Features with a decaying spectrum whose class information lies in the two strongest directions."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 3)
    features = rng.normal(size=(n, d)) * np.linspace(3.0, 0.5, d)
    features[:, :2] = 0.5 * features[:, :2] + separation * np.array([[0.0, 1.0], [1.0, 0.0], [-1.0, -1.0]])[labels]
    rotation, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return scale * features @ rotation, labels


def components(features, labels=None, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("error", TransferabilityWarning)
        return disco_components(features, labels, device="cpu", **options)


def centred_svd(features):
    centred = features - features.mean(axis=0)
    left, values, _ = np.linalg.svd(centred, full_matrices=False)
    return left * values, values


def test_group_ranges_are_consecutive_and_nearly_equal():
    assert group_ranges(10, 3) == ((0, 4), (4, 7), (7, 10))
    assert group_ranges(16, 8) == tuple((2 * g, 2 * g + 2) for g in range(8))
    assert group_ranges(3, 3) == ((0, 1), (1, 2), (2, 3))


@pytest.mark.parametrize("n, d", [(200, 24), (30, 100)])
def test_ratios_are_raw_singular_value_shares_and_total_is_their_weighted_sum(n, d):
    features, labels = spectral_features(n, d)
    parts = components(features, labels)
    _, values = centred_svd(features)
    k = min(n, d)
    assert parts.ranges[0][0] == 0 and parts.ranges[-1][1] == k and len(parts.ranges) == 8
    expected = [values[start:stop].sum() / values.sum() for start, stop in parts.ranges]
    np.testing.assert_allclose(parts.ratios, expected, rtol=1e-9, atol=1e-12)
    assert parts.ratios.sum() == pytest.approx(1.0, abs=1e-12)
    assert parts.total == pytest.approx(float(parts.ratios @ parts.scores), abs=1e-14)
    assert parts.task == CLASSIFICATION and np.all((parts.scores > 0) & (parts.scores <= 1))


def test_class_information_in_the_top_directions_shows_in_the_first_group():
    features, labels = spectral_features()
    scores = components(features, labels).scores
    assert scores[0] > 0.95
    assert np.all(scores[1:] < 0.5)  # the other groups are noise: close to the chance level 1/3


@pytest.mark.parametrize("scale", [0.05, 0.3, 1.0])
def test_classification_matches_scikit_learn_reference(scale):
    features, labels = spectral_features(scale=scale, seed=1)
    parts = components(features, labels, groups=5)
    ratios, scores = disco_parts(features, labels, groups=5)
    np.testing.assert_allclose(parts.ratios, ratios, atol=1e-12)
    np.testing.assert_allclose(parts.scores, scores, atol=1e-9)


def test_regression_on_the_top_group_scores_zero_there_and_minus_one_elsewhere():
    features, _ = spectral_features()
    coordinates, _ = centred_svd(features)
    targets = coordinates[:, :3] @ np.array([1.0, -2.0, 0.5]) + 4.0  # exact linear function of group 0 (3 comps)
    parts = components(features, targets=targets)
    assert parts.task == REGRESSION and parts.ranges[0] == (0, 3)
    assert parts.scores[0] == pytest.approx(0.0, abs=1e-10)
    np.testing.assert_allclose(parts.scores[1:], -1.0, atol=1e-10)  # orthogonal to the target: MSE of its variance
    assert parts.total == pytest.approx(float(parts.ratios @ parts.scores), abs=1e-14)


def test_regression_group_scores_match_scikit_learn_linear_regression():
    features, _ = spectral_features(seed=2)
    rng = np.random.default_rng(2)
    targets = features @ rng.normal(size=(24, 2)) + rng.normal(size=(200, 2))
    parts = components(features, targets=targets)
    coordinates, _ = centred_svd(features)
    standardised = (targets - targets.mean(axis=0)) / targets.std(axis=0)
    for (start, stop), value in zip(parts.ranges, parts.scores):
        block = coordinates[:, start:stop]
        prediction = LinearRegression().fit(block, standardised).predict(block)
        assert value == pytest.approx(-mean_squared_error(standardised, prediction), abs=1e-10)
    assert parts.total == pytest.approx(disco_numpy(features, targets=targets), abs=1e-10)


def test_invariant_to_rotation_translation_label_names_and_sample_order():
    features, labels = spectral_features(scale=0.2)  # λ well inside (0, 1): the sign convention matters here
    base = components(features, labels)
    rng = np.random.default_rng(7)
    rotation, _ = np.linalg.qr(rng.normal(size=(24, 24)))
    rows = rng.permutation(len(labels))
    names = np.array(["x", "a", "m"])[labels]
    for moved, moved_labels in ((features @ rotation + 2.0, labels), (features, names), (features[rows], labels[rows])):
        parts = components(moved, moved_labels)
        np.testing.assert_allclose(parts.ratios, base.ratios, atol=1e-12)
        np.testing.assert_allclose(parts.scores, base.scores, atol=1e-9)


def test_rank_deficient_features_leave_empty_groups_at_chance():
    rng = np.random.default_rng(3)
    labels = np.arange(90) % 3
    features = (rng.normal(size=(90, 5)) + labels[:, None]) @ rng.normal(size=(5, 40))  # centred rank 5
    parts = components(features, labels)
    assert parts.ranges[0] == (0, 5)
    np.testing.assert_allclose(parts.ratios, [1.0] + [0.0] * 7, atol=1e-12)
    np.testing.assert_allclose(parts.scores[1:], 1 / 3, atol=1e-15)  # posterior = priors: Σ π_c² = 1/3
    regression = components(features, targets=features[:, 0])
    np.testing.assert_allclose(regression.scores, [0.0] + [-1.0] * 7, atol=1e-9)


def test_groups_option():
    features, labels = spectral_features(d=6)
    single = components(features, labels, groups=1)
    assert single.ranges == ((0, 6),) and single.ratios.tolist() == [1.0]
    assert single.total == pytest.approx(disco_numpy(features, labels, groups=1), abs=1e-9)
    with pytest.warns(TransferabilityWarning, match="only 6 spectral components"):
        capped = disco_components(features, labels, groups=8, device="cpu")
    assert len(capped.ranges) == 6
    spec = REGISTRY["disco"]
    options = parse_options(spec, {"groups": "3"})
    assert spec.function(prepare(features, labels, device="cpu"), **options) == pytest.approx(
        components(features, labels, groups=3).total, abs=1e-15)


def test_multi_column_targets_and_constant_columns():
    features, _ = spectral_features()
    rng = np.random.default_rng(4)
    targets = np.column_stack([features[:, 0], rng.normal(size=200), np.full(200, 2.5)])
    with pytest.warns(TransferabilityWarning, match="1 constant target column"):
        value = disco(features, targets=targets, device="cpu")
    assert value == pytest.approx(disco(features, targets=targets[:, :2], device="cpu"), abs=1e-14)
    with pytest.raises(DegenerateInputError, match="vary"):
        disco(features, targets=np.ones(200), device="cpu")


def test_single_sample_class_float16_and_small_n():
    features, labels = spectral_features(n=40, d=60)
    labels[-1] = 3
    assert np.isfinite(components(features, labels).total)
    assert np.isfinite(components(features.astype(np.float16), labels).total)


def test_inputs_not_mutated():
    features, labels = spectral_features()
    copy, tensor = features.copy(), torch.tensor(features)
    disco(tensor, labels, device="cpu")
    disco(features, targets=features[:, :2], device="cpu")
    np.testing.assert_array_equal(features, copy)
    assert torch.equal(tensor, torch.tensor(copy))


def test_bad_input():
    features, labels = spectral_features()
    with pytest.raises(MetricInputError, match="labels .* or targets"):
        disco(features, device="cpu")
    with pytest.raises(DegenerateInputError, match="at least 2 classes"):
        disco(features, np.zeros(200), device="cpu")
    with pytest.raises(MetricInputError, match="groups"):
        disco(features, labels, groups=0, device="cpu")
    with pytest.raises(DegenerateInputError, match="constant"):
        disco(np.ones((200, 4)), labels, device="cpu")
    with pytest.raises(MetricInputError, match="either labels"):
        disco(features, labels, targets=features[:, 0], device="cpu")
