"""Linear-probe ground truth: separable vs random features, determinism, a hand-written nested CV, bad input."""

import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score

from transfer_core.groundtruth import LINEAR_PROBE, GroundTruthError, linear_probe


def blobs(per_class=20, classes=3, dim=10, spread=1.0, seed=0):
    """Gaussian classes around random centres; ``spread`` scales the noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, size=(classes, dim))
    labels = np.repeat(np.arange(classes), per_class)
    return centres[labels] + spread * rng.normal(size=(len(labels), dim)), labels


def hand_nested_cv(features, labels, Cs, folds, inner_folds, seed):
    """Nested CV written out: standardise on each training part, pick C by inner accuracy (first best), refit."""
    def fit_score(train, test, C):
        mean, std = features[train].mean(0), features[train].std(0)
        std[std == 0] = 1.0
        model = LogisticRegression(C=C, max_iter=1000).fit((features[train] - mean) / std, labels[train])
        return model.score((features[test] - mean) / std, labels[test])

    accuracies = []
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(features, labels):
        inner = list(StratifiedKFold(inner_folds, shuffle=True, random_state=seed).split(train, labels[train]))
        inner_means = [np.mean([fit_score(train[a], train[b], C) for a, b in inner]) for C in Cs]
        accuracies.append(fit_score(train, test, Cs[int(np.argmax(inner_means))]))
    return accuracies


def test_separable_features_reach_full_accuracy_and_random_ones_stay_near_chance():
    features, labels = blobs(spread=0.1)
    separable = linear_probe(features, labels)
    assert separable.accuracy == 1.0
    rng = np.random.default_rng(1)
    noise = linear_probe(rng.normal(size=(90, 10)), rng.integers(0, 3, 90))
    assert abs(noise.accuracy - 1 / 3) < 0.15
    assert separable.kind == LINEAR_PROBE and "fine" not in separable.label
    assert len(separable.folds) == 5 and separable.protocol["outer_folds"] == 5


def test_accuracy_is_the_mean_of_a_hand_written_nested_cross_validation():
    features, labels = blobs(spread=3.0, seed=2)  # overlapping classes: C matters
    Cs = (1e-3, 1e-2, 1e-1, 1.0)
    result = linear_probe(features, labels, folds=4, seed=3, Cs=Cs)
    expected = hand_nested_cv(features, labels, Cs, folds=4, inner_folds=3, seed=3)
    assert [fold["accuracy"] for fold in result.folds] == pytest.approx(expected, abs=1e-12)
    assert result.accuracy == pytest.approx(np.mean(expected), abs=1e-12)
    assert 0.4 < result.accuracy < 1.0
    assert {fold["C"] for fold in result.folds} <= set(Cs)


def test_same_seed_same_result_and_string_labels_work():
    features, labels = blobs(spread=3.0, seed=4)
    names = np.array(["cat", "dog", "eel"])[labels]
    first = linear_probe(features, names, seed=7)
    assert first.folds == linear_probe(features, names, seed=7).folds
    assert first.folds == linear_probe(features, labels, seed=7).folds
    assert first.protocol["classes"] == ["cat", "dog", "eel"]


def test_folds_are_capped_by_the_smallest_class_with_a_warning():
    features, labels = blobs(per_class=6, spread=0.1)
    labels = labels.copy()
    labels[:3] = 1  # class 0 keeps 3 images
    with pytest.warns(UserWarning, match="3 folds"):
        result = linear_probe(features, labels, folds=5)
    assert result.protocol["outer_folds"] == 3 and len(result.folds) == 3


def test_regression_probe_reports_r2_and_negative_mse_of_sklearn_folds():
    rng = np.random.default_rng(5)
    features = rng.normal(size=(80, 6))
    targets = features @ np.array([1.0, -2.0, 0.5, 0.0, 0.0, 3.0]) + 0.1 * rng.normal(size=80)
    result = linear_probe(features, targets=targets, seed=1)
    assert result.task == "regression" and result.measure == "r2"
    assert result.accuracy > 0.99 and result.measures["neg_mse"] < 0
    kfold = KFold(5, shuffle=True, random_state=1)
    from sklearn.linear_model import LinearRegression

    plain = cross_val_score(LinearRegression(), features, targets, cv=kfold, scoring="r2")
    assert result.accuracy == pytest.approx(plain.mean(), abs=0.01)  # weak ridge on clean data ≈ least squares
    noise = linear_probe(rng.normal(size=(80, 6)), targets=rng.normal(size=80))
    assert noise.accuracy < 0.1


@pytest.mark.parametrize("features, labels, targets, message", [
    (np.full((30, 4), np.nan), np.repeat([0, 1, 2], 10), None, "NaN"),
    (np.ones((30, 4)), np.repeat([0, 1], 10), None, "30 labels"),
    (np.ones((30, 4)), np.zeros(30), None, "2 classes"),
    (np.ones((30, 4)), np.r_[np.zeros(28), [1, 1]], None, "fewer than 3"),
    (np.ones((30, 4)), np.zeros(30), np.zeros(30), "exactly one"),
    (np.ones((30, 4)), None, np.ones(30), "constant"),
    (np.ones(30), np.zeros(30), None, r"\[N, D\]"),
])
def test_bad_input_gets_a_clear_error(features, labels, targets, message):
    with pytest.raises(GroundTruthError, match=message):
        linear_probe(features, labels, targets=targets)


def test_bad_grid_or_folds_get_a_clear_error():
    features, labels = blobs()
    with pytest.raises(GroundTruthError, match="Cs"):
        linear_probe(features, labels, Cs=(0.1, -1.0))
    with pytest.raises(GroundTruthError, match="folds"):
        linear_probe(features, labels, folds=1)


def test_probe_does_not_warn_on_well_posed_input():
    features, labels = blobs(spread=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        linear_probe(features, labels)
