"""SFDA greedy ensemble selection on features whose complementarity is known by construction."""

import warnings

import numpy as np
import pytest

from transfer_core.evidence.ensemble import select_ensemble
from transfer_core.metrics.sfda import sfda


def views(seed: int = 0):
    """Four classes: model "a" separates classes {0,1} from {2,3} only, model "b" separates {0,2} from {1,3} only,
    "c" is a noisy copy of "a", "noise" carries nothing. Only a + b together tell all four classes apart."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(4), 60)
    first, second = labels // 2, labels % 2
    a = np.c_[4.0 * first, rng.normal(size=(240, 3))] + 0.3 * rng.normal(size=(240, 4))
    b = np.c_[4.0 * second, rng.normal(size=(240, 3))] + 0.3 * rng.normal(size=(240, 4))
    c = a + 1.5 * rng.normal(size=a.shape)
    noise = rng.normal(size=(240, 4))
    return {"a": a, "b": b, "c": c, "noise": noise}, labels


def test_greedy_selection_picks_the_complementary_pair_and_stops():
    features, labels = views()
    choice = select_ensemble(features, labels, max_models=4)
    single = {m: sfda(f, labels) for m, f in features.items()}
    assert choice.models[0] == max(single, key=single.get)
    assert set(choice.models[:2]) == {"a", "b"}
    assert choice.scores[1] == pytest.approx(sfda(np.c_[features[choice.models[0]], features[choice.models[1]]],
                                                  labels))
    assert choice.scores == sorted(choice.scores) and len(set(choice.scores)) == len(choice.scores)
    assert choice.scores[1] > choice.scores[0] + 0.2  # the pair resolves the 4 classes; a single view cannot


def test_max_models_and_bad_input():
    features, labels = views()
    assert len(select_ensemble(features, labels, max_models=1).models) == 1
    with pytest.raises(ValueError, match="same images"):
        select_ensemble({"a": features["a"], "b": features["b"][:10]}, labels)
    with pytest.raises(ValueError, match="max_models"):
        select_ensemble(features, labels, max_models=0)


def test_pca_dim_is_applied_to_every_candidate_set():
    features, labels = views()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        choice = select_ensemble(features, labels, max_models=2, pca_dim=2)
    assert choice.scores[0] == pytest.approx(sfda(features[choice.models[0]], labels, pca_dim=2))
