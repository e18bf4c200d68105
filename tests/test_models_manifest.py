"""Model manifests: a fully cached request is answered without loading the model, and any change to the weights'
source gives a miss."""

import os

import numpy as np
import pytest
import torch

import transfer_core.models as models
from transfer_core.cache.store import FeatureStore
from transfer_core.data import load_dataset
from transfer_core.features import extract_by_id, extract_features
from transfer_core.models import load_model
from transfer_core.models.ids import source_files
from transfer_core.models.manifest import ModelManifest, read_manifest, remember_manifest

TINY_TIMM = "test_efficientnet"


@pytest.fixture(scope="module")
def digits():
    return load_dataset("demo:digits", limit=24, seed=0)


def refuse(model_id, **_):
    raise AssertionError(f"{model_id} was loaded")


@pytest.fixture
def refuse_loading(monkeypatch):
    """Any model load fails: what is answered must come from the store."""
    monkeypatch.setattr(models, "load_model", refuse)


@pytest.mark.parametrize("model_id", ["zoo:cnn-mnist", "zoo:cnn-mnist-random"])
def test_a_cached_request_needs_no_model(tmp_path, digits, model_id, monkeypatch):
    store = FeatureStore(tmp_path)
    first, manifest = extract_by_id(model_id, digits, store=store)
    assert not first.cache_hit
    loaded = load_model(model_id)
    assert read_manifest(model_id, None, tmp_path) == ModelManifest.of(loaded) == manifest
    monkeypatch.setattr(models, "load_model", refuse)
    again, manifest_again = extract_by_id(model_id, digits, store=store)
    assert again.cache_hit and manifest_again == manifest
    np.testing.assert_array_equal(again.features, first.features)
    np.testing.assert_array_equal(again.source_probs, first.source_probs)


def test_the_manifest_key_matches_extract_features(tmp_path, digits, refuse_loading):
    """Features stored by a plain extract_features call are found through the manifest (same store key)."""
    store = FeatureStore(tmp_path)
    loaded = _load_unrefused("zoo:cnn-mnist")
    stored = extract_features(loaded, digits, store=store)
    remember_manifest(loaded, None, tmp_path)
    hit, _ = extract_by_id("zoo:cnn-mnist", digits, store=store)
    assert hit.cache_hit
    np.testing.assert_array_equal(hit.features, stored.features)


def test_a_layer_has_its_own_manifest(tmp_path):
    loaded = load_model("zoo:cnn-mnist")
    remember_manifest(loaded, None, tmp_path)
    assert read_manifest("zoo:cnn-mnist", "conv1", tmp_path) is None
    assert read_manifest("zoo:cnn-mnist", None, tmp_path) is not None


def _save_weights(path, seed):
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    save_file(timm.create_model(TINY_TIMM, num_classes=3).state_dict(), str(path))


def _replace_keeping_size_and_time(path, seed):
    """Overwrite ``path`` with other weights of the same architecture, then restore its modification time."""
    before = path.stat()
    _save_weights(path, seed)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def test_a_checkpoint_replaced_with_the_same_size_and_time_misses(tmp_path):
    path = tmp_path / "weights.safetensors"
    _save_weights(path, 0)
    model_id = f"file:{path}?arch={TINY_TIMM}"
    loaded = load_model(model_id)
    remember_manifest(loaded, None, tmp_path / "store")
    assert read_manifest(model_id, None, tmp_path / "store") == ModelManifest.of(loaded)
    _replace_keeping_size_and_time(path, 1)
    assert read_manifest(model_id, None, tmp_path / "store") is None


def test_features_of_a_replaced_checkpoint_are_recomputed(tmp_path, digits):
    path = tmp_path / "weights.safetensors"
    _save_weights(path, 0)
    model_id = f"file:{path}?arch={TINY_TIMM}"
    store = FeatureStore(tmp_path / "store")
    first, manifest = extract_by_id(model_id, digits, store=store)
    assert extract_by_id(model_id, digits, store=store)[0].cache_hit
    _replace_keeping_size_and_time(path, 1)
    again, replaced = extract_by_id(model_id, digits, store=store)
    assert not again.cache_hit and replaced.fingerprint != manifest.fingerprint
    assert replaced.fingerprint == load_model(model_id).fingerprint
    assert not np.array_equal(again.features, first.features)


@pytest.mark.parametrize("model_id", ["timm:resnet18", "torchvision:resnet18", "file:/tmp/x.pth", "nonsense"])
def test_hub_models_and_bad_ids_have_no_source_identity(model_id):
    assert source_files(model_id) is None


def test_zoo_sources_are_the_asset_package_files():
    files = source_files("zoo:cnn-mnist")
    assert files and all(path.is_file() for path in files)
    assert any(path.suffix in (".pth", ".pt", ".h5", ".onnx", ".safetensors", ".pkl") for path in files)
    assert source_files("zoo:cnn-mnist-random") == []
    assert source_files("zoo:no-such-model") is None


def test_an_unreadable_manifest_is_a_miss(tmp_path):
    loaded = load_model("zoo:cnn-mnist-random")
    remember_manifest(loaded, None, tmp_path)
    (written,) = (tmp_path / "models").glob("*.json")
    written.write_text("{not json")
    assert read_manifest("zoo:cnn-mnist-random", None, tmp_path) is None


def test_the_manifest_round_trips_through_json():
    manifest = ModelManifest.of(load_model("zoo:cnn-mnist"))
    assert ModelManifest.from_dict(manifest.to_dict()) == manifest


def _load_unrefused(model_id):
    """The real loader (the fixture only replaces the package-level name that extract_by_id uses)."""
    from transfer_core.models.registry import load_model as real_load_model

    return real_load_model(model_id)
