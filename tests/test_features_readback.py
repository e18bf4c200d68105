"""A stored features entry that does not read back as the dataset's features is recomputed, never served."""

import json
import shutil

import numpy as np
import pytest

from transfer_core.cache.layout import ROWS as ROWS_KIND
from transfer_core.cache.store import FeatureStore
from transfer_core.data import load_dataset
from transfer_core.features import extract_features, feature_key_parts
from transfer_core.models import load_model

ROWS = 24


@pytest.fixture(scope="module")
def model():
    return load_model("zoo:cnn-mnist-random")


@pytest.fixture(scope="module")
def digits():
    return load_dataset("demo:digits", limit=ROWS, seed=0)


def _overwrite(store: FeatureStore, key: str, **arrays) -> None:
    """Replace the entry under ``key`` as a foreign or buggy writer could (no checks on the way in)."""
    np.savez(store.path(key), __meta__=np.array(json.dumps({"device": "cpu"})), **arrays)


@pytest.mark.parametrize(("damage", "message"), [
    ("fewer rows", "not 24 rows"),
    ("NaN", "NaN or infinite"),
    ("no features", "lacks the array"),
])
def test_a_wrong_entry_is_evicted_and_recomputed(tmp_path, model, digits, damage, message):
    store = FeatureStore(tmp_path)
    first = extract_features(model, digits, device="cpu", store=store)
    key = store.key(feature_key_parts(model, digits))
    features, probs = first.features.copy(), first.source_probs
    if damage == "fewer rows":
        _overwrite(store, key, features=features[:-1], source_probs=probs[:-1])
    elif damage == "NaN":
        features[3, 0] = np.nan
        _overwrite(store, key, features=features, source_probs=probs)
    else:
        _overwrite(store, key, source_probs=probs)
    shutil.rmtree(tmp_path / ROWS_KIND.folder)  # no per-image rows to fall back on either
    with pytest.warns(UserWarning, match=message):
        again = extract_features(model, digits, device="cpu", store=store)
    assert not again.cache_hit and again.features.shape == first.features.shape
    np.testing.assert_allclose(again.features, first.features, rtol=1e-5, atol=1e-6)  # same model, same CPU
    hit = extract_features(model, digits, device="cpu", store=store)
    assert hit.cache_hit and hit.features.shape == (ROWS, first.features.shape[1])


def test_a_damaged_entry_is_served_from_the_rows_of_its_images(tmp_path, model, digits):
    store = FeatureStore(tmp_path)
    first = extract_features(model, digits, device="cpu", store=store)
    _overwrite(store, store.key(feature_key_parts(model, digits)), features=first.features[:-1])
    with pytest.warns(UserWarning, match="not 24 rows"):
        again = extract_features(model, digits, device="cpu", store=store)
    assert again.cache_hit
    np.testing.assert_array_equal(again.features, first.features)
    np.testing.assert_array_equal(again.source_probs, first.source_probs)
