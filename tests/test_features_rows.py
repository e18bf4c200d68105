"""Extraction reads the rows a model already computed for an image and extracts only the other images: a slice then
the whole set, a larger ``--limit``, a dataset that is a slice of one extracted before; models and engines opened
once per run (``LoadedModels``)."""

from dataclasses import dataclass, replace

import numpy as np
import pytest

from transfer_core.cache.store import FeatureStore
from transfer_core.data import load_dataset
from transfer_core.data.base import dataset_part
from transfer_core.features import LoadedModels, extract_by_id, extract_features
from transfer_core.models import load_model

MODEL = "zoo:cnn-mnist"


@dataclass
class CountingLoad:
    """A dataset's ``load`` that counts the images it decodes."""

    load: object
    calls: int = 0

    def __call__(self, index):
        self.calls += 1
        return self.load(index)


def counted(dataset):
    loader = CountingLoad(dataset.load)
    return replace(dataset, load=loader), loader


@pytest.fixture(scope="module")
def model():
    return load_model(MODEL)


@pytest.mark.parametrize("engine", ["torch", "onnxruntime"])
def test_a_slice_then_the_whole_set_extracts_each_image_once_and_equals_one_pass(tmp_path, model, engine):
    digits, loads = counted(load_dataset("demo:digits", limit=40, seed=0))
    store = FeatureStore(tmp_path)
    part = dataset_part(digits, np.arange(0, 40, 3))
    extract_features(model, part, device="cpu", store=store, engine=engine)
    assert loads.calls == part.size
    whole = extract_features(model, digits, device="cpu", store=store, engine=engine)
    assert loads.calls == digits.size and not whole.cache_hit  # only the 26 new images were decoded
    once = extract_features(model, digits, device="cpu", engine=engine)  # no store: one pass over all 40
    np.testing.assert_allclose(whole.features, once.features, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(whole.source_probs, once.source_probs, rtol=1e-5, atol=1e-7)


def test_a_larger_limit_extracts_only_the_images_it_adds(tmp_path, model):
    store = FeatureStore(tmp_path)
    small = load_dataset("demo:digits", limit=20, seed=0)
    large, loads = counted(load_dataset("demo:digits", limit=50, seed=0))
    extract_features(model, small, device="cpu", store=store)
    shared = len(set(small.image_keys()) & set(large.image_keys()))
    assert shared >= 15  # the seeded stratified subsamples grow nested (up to quota rounding)
    extract_features(model, large, device="cpu", store=store)
    assert loads.calls == large.size - shared


def test_a_dataset_whose_images_all_have_rows_is_served_without_loading_the_model(tmp_path):
    store = FeatureStore(tmp_path)
    digits = load_dataset("demo:digits", limit=30, seed=0)
    first, _ = extract_by_id(MODEL, digits, store=store, device="cpu")
    models = LoadedModels()
    part = dataset_part(digits, np.arange(5, 25))
    served, manifest = extract_by_id(MODEL, part, store=store, device="cpu", models=models)
    assert served.cache_hit and manifest.model_id == MODEL and not models.embedders
    np.testing.assert_array_equal(served.features, first.features[5:25])


def test_loaded_models_load_each_model_and_open_its_engine_once(tmp_path):
    store = FeatureStore(tmp_path)
    digits = load_dataset("demo:digits", limit=40, seed=0)
    models = LoadedModels()
    for indices in (np.arange(10), np.arange(25), np.arange(40)):
        result, _ = extract_by_id(MODEL, dataset_part(digits, indices), store=store, device="cpu", models=models)
        assert not result.cache_hit and result.engine == "onnxruntime"
    assert len(models.embedders) == 1
    assert models.load(MODEL, None) is models.load(MODEL, None)


def test_a_whole_entry_from_before_rows_existed_gives_its_rows_on_the_next_hit(tmp_path):
    import shutil

    from transfer_core.cache.layout import ROWS

    store = FeatureStore(tmp_path)
    digits = load_dataset("demo:digits", limit=30, seed=0)
    first, _ = extract_by_id(MODEL, digits, store=store, device="cpu")
    shutil.rmtree(tmp_path / ROWS.folder)  # as a store written before per-image rows
    again, _ = extract_by_id(MODEL, digits, store=store, device="cpu")
    assert again.cache_hit and (tmp_path / ROWS.folder).is_dir()
    models = LoadedModels()
    part, _ = extract_by_id(MODEL, dataset_part(digits, np.arange(0, 30, 2)), store=store, device="cpu", models=models)
    assert part.cache_hit and not models.embedders
    np.testing.assert_array_equal(part.features, first.features[::2])
