"""A class with a single image: which metrics' math it skews (they warn, naming the class) and which it does not."""

import warnings

import numpy as np
import pytest

from transfer_core.metrics import metric_names
from transfer_core.metrics.errors import TransferabilityWarning
from transfer_core.metrics.knn import knn
from transfer_core.metrics.prepared import prepare
from transfer_core.metrics.suite import score_suite

SKEWED = {"knn", "gbc"}  # leave-one-out finds no classmate; a zero variance is floored to a near-point Gaussian


def _classes_with_singletons(singletons: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = np.concatenate([np.repeat([0, 1, 2], 20), 3 + np.arange(singletons)])
    return rng.normal(size=(len(labels), 5)) + 3 * np.eye(5)[labels % 5], labels


def test_every_metric_scores_a_class_of_one_and_only_the_skewed_ones_warn():
    features, labels = _classes_with_singletons(1)
    outcomes = score_suite(prepare(features, labels, device="cpu"), "all")
    assert set(outcomes) == set(metric_names()) - {"leep", "nce"}  # no source probabilities given
    assert all(np.isfinite(value) for outcome in outcomes.values() for value in outcome.reported().values())
    warned = {name for name, outcome in outcomes.items()
              if any("class 3 has a single image" in message for message in outcome.warnings)}
    assert warned == SKEWED


def test_many_single_image_classes_are_named_up_to_ten():
    features, labels = _classes_with_singletons(13)
    with pytest.warns(TransferabilityWarning) as caught:
        knn(features, labels, device="cpu")
    messages = [str(item.message) for item in caught if "single image" in str(item.message)]
    assert messages == ["classes 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 and 3 more have a single image: kNN's leave-one-out "
                        "finds no classmate for such an image, so it always counts as a miss"]


def test_classes_of_two_images_give_no_such_warning():
    features, labels = _classes_with_singletons(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TransferabilityWarning)
        knn(np.vstack([features, features[:2] + 0.1]), np.concatenate([labels, [7, 7]]), device="cpu")
