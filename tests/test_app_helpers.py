"""The app's pure helpers: defaults (transfer_core/app_state.py), dataset warnings (dataset_checks.py) and uploads
(uploads.py)."""

import io
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from transfer_core.app_state import (
    DEFAULT_METRICS,
    ENV_DEFAULT_METRICS,
    ENV_DEFAULT_MODELS,
    ENV_DEMO_LIMIT,
    app_defaults,
)
from transfer_core.config import CHEAP_METRICS, interval_metrics
from transfer_core.data import DatasetError, load_dataset
from transfer_core.data.checks import IMBALANCE_RATIO, TINY_CLASS, class_counts, dataset_warnings
from transfer_core.metrics import metric_names
from transfer_core.models import default_zoo_ids
from transfer_core.uploads import UploadError, checkpoint_model_id, clean_name, save_upload, zip_of_files

# --- defaults ---

def test_defaults_are_the_demo_the_zoo_and_the_default_metrics():
    defaults = app_defaults({})
    assert (defaults.dataset_id, defaults.limit) == ("demo", None)
    expected = default_zoo_ids(include_slow=torch.cuda.is_available())
    assert list(defaults.model_ids) == expected
    if not torch.cuda.is_available():  # on a CPU the VGG-class checkpoints and their baselines are opt-in
        assert len(expected) == len(default_zoo_ids()) - 6 and not any("vgg" in m for m in expected)
    assert defaults.metrics == DEFAULT_METRICS and set(DEFAULT_METRICS) <= set(metric_names())
    assert set(CHEAP_METRICS) <= set(DEFAULT_METRICS)


def test_environment_overrides_the_defaults():
    defaults = app_defaults({ENV_DEMO_LIMIT: " 30 ", ENV_DEFAULT_MODELS: "zoo:cnn-mnist, timm:resnet18,",
                             ENV_DEFAULT_METRICS: "knn,logme"})
    assert defaults.limit == 30
    assert defaults.model_ids == ("zoo:cnn-mnist", "timm:resnet18")
    assert defaults.metrics == ("knn", "logme")


@pytest.mark.parametrize("environ, message", [
    ({ENV_DEMO_LIMIT: "0"}, ENV_DEMO_LIMIT), ({ENV_DEMO_LIMIT: "many"}, ENV_DEMO_LIMIT),
    ({ENV_DEFAULT_METRICS: "knn,magic"}, "unknown metric"),
])
def test_malformed_overrides_name_the_variable(environ, message):
    with pytest.raises(ValueError, match=message):
        app_defaults(environ)


def test_interval_metrics_follow_the_mode():
    chosen = ["logme", "sfda", "knn", "leep"]
    assert interval_metrics(chosen, "cheap") == ["knn", "leep"]
    assert interval_metrics(chosen, "all") == chosen
    assert interval_metrics(chosen, "off") == []
    assert interval_metrics(["logme", "sfda"], "cheap") == ["logme", "sfda"]  # no cheap one chosen: all of them
    with pytest.raises(ValueError, match="all, cheap, off"):
        interval_metrics(chosen, "sometimes")


# --- dataset warnings ---

def test_a_balanced_dataset_with_enough_images_has_no_warnings():
    labels = np.repeat(["a", "b", "c"], 50)
    assert class_counts(labels) == {"a": 50, "b": 50, "c": 50}
    assert dataset_warnings(labels, {"zoo:small": 64}) == []


def test_tiny_classes_are_named_with_their_counts():
    labels = np.array(["big"] * 30 + ["one"] * 1 + ["few"] * (TINY_CLASS - 1))
    (tiny,) = [text for text in dataset_warnings(labels) if "fewer than" in text]
    assert tiny.startswith(f"2 classes have fewer than {TINY_CLASS} images (few: {TINY_CLASS - 1}, one: 1)")


def test_imbalance_is_flagged_only_above_the_ratio():
    at_limit = np.array(["a"] * int(IMBALANCE_RATIO * 10) + ["b"] * 10)
    assert dataset_warnings(at_limit) == []
    above = np.array(["a"] * (int(IMBALANCE_RATIO * 10) + 1) + ["b"] * 10)
    (warning,) = dataset_warnings(above)
    assert "a has 101 images, 10× as many as b (10)" in warning


def test_fewer_images_than_feature_dimensions_counts_the_models():
    labels = np.repeat(["a", "b"], 100)
    (warning,) = dataset_warnings(labels, {"zoo:wide": 2048, "zoo:mid": 1280, "zoo:narrow": 200})
    assert warning.startswith("There are fewer images (200) than feature dimensions for 2 models (up to 2048)")
    assert dataset_warnings(None, {"zoo:wide": 2048}) == []  # regression: no class checks, size unknown to labels


# --- uploads ---

def test_clean_name_keeps_only_the_last_component_in_safe_characters():
    assert clean_name("../../etc/passwd") == "passwd"
    assert clean_name("C:\\Users\\me\\My Photos (1).zip") == "My_Photos_1_.zip"
    assert clean_name("...") == "upload"


def test_save_upload_is_content_addressed_and_idempotent(tmp_path):
    first = save_upload("data.csv", b"path,label\n", tmp_path)
    assert first.read_bytes() == b"path,label\n" and first.parent.parent == tmp_path
    assert save_upload("data.csv", b"path,label\n", tmp_path) == first
    assert save_upload("data.csv", b"other", tmp_path) != first
    with pytest.raises(UploadError, match="empty"):
        save_upload("data.csv", b"", tmp_path)


def test_a_folder_upload_round_trips_through_a_zip_to_a_dataset(tmp_path):
    def png(shade):
        buffer = io.BytesIO()
        Image.new("L", (8, 8), shade).save(buffer, format="PNG")
        return buffer.getvalue()

    files = [(f"pets/{name}/{i}.png", png(60 * i)) for name in ("cat", "dog") for i in range(3)]
    packed = zip_of_files(files)
    assert sorted(zipfile.ZipFile(io.BytesIO(packed)).namelist()) == sorted(name for name, _ in files)
    dataset = load_dataset(save_upload("pets.zip", packed, tmp_path))
    assert dataset.size == 6 and dataset.classes == ["cat", "dog"]
    with pytest.raises(UploadError, match="no files"):
        zip_of_files([])


def test_an_unsafe_folder_upload_is_refused_by_the_zip_checks(tmp_path):
    packed = zip_of_files([("../escape/cat/1.png", b"x"), ("pets/dog/1.png", b"y")])
    with pytest.raises(DatasetError):
        load_dataset(save_upload("bad.zip", packed, tmp_path))


def test_checkpoint_model_ids():
    assert checkpoint_model_id("/u/model.onnx") == "onnx:/u/model.onnx"
    assert checkpoint_model_id("/u/w.safetensors", " resnet18 ") == "file:/u/w.safetensors?arch=resnet18"
    with pytest.raises(UploadError, match="timm architecture"):
        checkpoint_model_id("/u/w.pth")
    with pytest.raises(UploadError, match="must be"):
        checkpoint_model_id("/u/w.h5", "resnet18")
