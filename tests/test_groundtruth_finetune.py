"""Fine-tuning ground truth with a tiny CNN on generated bright / dark images: it learns, caches, resumes."""

import hashlib

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from transfer_core.cache.store import FeatureStore
from transfer_core.data.base import ImageDataset
from transfer_core.features import extract_features
from transfer_core.groundtruth import (
    FINE_TUNE,
    LINEAR_PROBE,
    FineTuneProtocol,
    GroundTruthError,
    fine_tune,
    linear_probe,
    probe_model,
)
from transfer_core.groundtruth.blocks import backbone_blocks, last_blocks, trained_block_names
from transfer_core.groundtruth.runstore import RunStore
from transfer_core.models.base import LoadedModel, ModelCard, Preprocessing
from transfer_core.models.fingerprint import model_fingerprint

PREPROCESSING = Preprocessing(input_size=(12, 12), resize=12, mean=(0.5,) * 3, std=(0.5,) * 3)
# 40 images: 10 test, 10 validation, 20 train → 3 steps per epoch (8 + 8 + 4), 3 epochs, 2 grid points = 18 steps
PROTOCOL = FineTuneProtocol(trainable="all", epochs=3, min_steps=0, head_lr_scale=1.0, batch_size=8,
                            learning_rates=(0.1, 0.02), weight_decays=(1e-4,), val_fraction=0.25, test_fraction=0.25)
TOTAL_STEPS = 18
STEPS_PER_POINT = 9


def tiny_cnn() -> LoadedModel:
    torch.manual_seed(0)
    extractor = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                              nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()).eval()
    card = ModelCard("test:tiny-cnn", "2-conv CNN", "nothing (random init)", "n/a",
                     sum(p.numel() for p in extractor.parameters()), 8, "test")
    return LoadedModel("test:tiny-cnn", extractor, PREPROCESSING, card,
                       model_fingerprint([extractor], PREPROCESSING, "penultimate", "tiny"))


def brightness_dataset(count=40, regression=False) -> ImageDataset:
    """Half bright (pixels 170–255), half dark (0–85) noisy 12×12 RGB images."""
    rng = np.random.default_rng(0)
    bright = np.arange(count) % 2 == 0
    low = np.where(bright, 170, 0)[:, None, None, None]
    pixels = (low + rng.integers(0, 86, size=(count, 12, 12, 3))).astype(np.uint8)
    labels = np.where(bright, "bright", "dark")
    fingerprint = hashlib.sha256(pixels.tobytes() + labels.tobytes() + bytes([regression])).hexdigest()
    extra = {"targets": pixels.mean(axis=(1, 2, 3)) / 255.0} if regression else {"labels": labels}
    return ImageDataset("test:brightness", "bright vs dark", lambda i: Image.fromarray(pixels[i]), count,
                        fingerprint, **extra)


class Recorder:
    """A progress callback that keeps every call and can raise once ``done`` reaches ``stop_at``."""

    def __init__(self, stop_at=None):
        self.calls, self.stop_at = [], stop_at

    def __call__(self, done, total, eta, message):
        self.calls.append((done, total, eta, message))
        if self.stop_at is not None and done >= self.stop_at:
            raise KeyboardInterrupt("simulated interruption")

    @property
    def steps(self):
        return [call for call in self.calls if "batch" in call[3]]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One uninterrupted run: (result, cache folder, progress recorder)."""
    cache = tmp_path_factory.mktemp("finetune-cache")
    recorder = Recorder()
    return fine_tune(tiny_cnn(), brightness_dataset(), protocol=PROTOCOL, device="cpu", progress=recorder,
                     cache_dir=cache), cache, recorder


def test_fine_tuning_learns_bright_versus_dark(finished):
    result, _, recorder = finished
    assert result.kind == FINE_TUNE and result.task == "classification" and not result.cache_hit
    assert result.accuracy >= 0.8  # chance is 0.5 on the 10 test images
    assert [point["learning_rate"] for point in result.grid] == [0.1, 0.02]
    usable = [point for point in result.grid if point["collapsed"] is None]
    best = max(usable, key=lambda point: point["val"]["accuracy"])
    assert result.measures == best["test"] and result.protocol["selected"]["learning_rate"] == best["learning_rate"]
    assert result.protocol["split_sizes"] == {"train": 20, "val": 10, "test": 10}
    assert result.protocol["trained_blocks"] == [""] and result.protocol["trainable"] == "all"
    assert len(recorder.steps) == TOTAL_STEPS
    assert [call[0] for call in recorder.steps] == list(range(1, TOTAL_STEPS + 1))
    assert all(call[1] == TOTAL_STEPS and call[2] >= 0 for call in recorder.steps)


def test_a_finished_run_is_returned_from_the_cache_without_training(finished):
    result, cache, _ = finished
    recorder = Recorder()
    again = fine_tune(tiny_cnn(), brightness_dataset(), protocol=PROTOCOL, device="cpu", progress=recorder,
                      cache_dir=cache)
    assert again.cache_hit and len(recorder.calls) == 1
    assert recorder.calls[0][:3] == (TOTAL_STEPS, TOTAL_STEPS, 0.0) and "cached" in recorder.calls[0][3]
    assert again.accuracy == result.accuracy and again.grid == result.grid and again.protocol == result.protocol


def test_another_protocol_is_not_served_from_the_cache(finished):
    _, cache, _ = finished
    recorder = Recorder()
    other = FineTuneProtocol(**{**PROTOCOL.__dict__, "learning_rates": (0.1,), "epochs": 1})
    result = fine_tune(tiny_cnn(), brightness_dataset(), protocol=other, device="cpu", progress=recorder,
                       cache_dir=cache)
    assert not result.cache_hit and len(recorder.steps) == 3


def test_an_interrupted_run_resumes_from_its_checkpoint_and_matches_an_uninterrupted_one(finished, tmp_path):
    result, _, _ = finished
    stop_at = STEPS_PER_POINT + 3 + 1  # first grid point done, one epoch of the second checkpointed, one step more
    with pytest.raises(KeyboardInterrupt):
        fine_tune(tiny_cnn(), brightness_dataset(), protocol=PROTOCOL, device="cpu", progress=Recorder(stop_at),
                  cache_dir=tmp_path)
    recorder = Recorder()
    resumed = fine_tune(tiny_cnn(), brightness_dataset(), protocol=PROTOCOL, device="cpu", progress=recorder,
                        cache_dir=tmp_path)
    assert [call[0] for call in recorder.steps] == list(range(STEPS_PER_POINT + 3 + 1, TOTAL_STEPS + 1))
    assert not resumed.cache_hit
    assert resumed.accuracy == result.accuracy
    assert [point["epoch_losses"] for point in resumed.grid] == [point["epoch_losses"] for point in result.grid]
    assert [point["val"] for point in resumed.grid] == [point["val"] for point in result.grid]


def test_head_only_training_records_no_backbone_blocks_and_leaves_the_global_rng_alone(tmp_path):
    protocol = FineTuneProtocol(**{**PROTOCOL.__dict__, "trainable": "head", "learning_rates": (0.1,)})
    before = torch.random.get_rng_state()
    model = tiny_cnn()
    weights = {name: tensor.clone() for name, tensor in model.extractor.state_dict().items()}
    result = fine_tune(model, brightness_dataset(), protocol=protocol, device="cpu", cache_dir=tmp_path)
    assert result.protocol["trained_blocks"] == []
    assert torch.equal(torch.random.get_rng_state(), before)
    assert all(torch.equal(model.extractor.state_dict()[name], weights[name]) for name in weights)  # a copy trains


def test_regression_targets_report_r2_and_negative_mse(tmp_path):
    protocol = FineTuneProtocol(**{**PROTOCOL.__dict__, "trainable": "head", "learning_rates": (0.02,)})
    result = fine_tune(tiny_cnn(), brightness_dataset(regression=True), protocol=protocol, device="cpu",
                       cache_dir=tmp_path)
    assert result.task == "regression" and result.measure == "r2" and set(result.measures) == {"r2", "neg_mse"}
    assert result.accuracy == result.measures["r2"] and 0 < result.accuracy <= 1  # beats predicting the mean
    assert result.measures["neg_mse"] < 0 and "classes" not in result.protocol and result.collapsed is None


def test_a_diverging_grid_point_is_marked_collapsed_and_the_grid_moves_on(tmp_path):
    protocol = FineTuneProtocol(**{**PROTOCOL.__dict__, "learning_rates": (1e12, 0.02)})
    recorder = Recorder()
    result = fine_tune(tiny_cnn(), brightness_dataset(), protocol=protocol, device="cpu", progress=recorder,
                       cache_dir=tmp_path)
    first, second = result.grid
    assert first["collapsed"] == "the training loss became non-finite in epoch 1" and first["val"] is None
    assert first["epoch_losses"] == [None] and first["start_loss"] is not None
    assert second["collapsed"] is None and result.collapsed is None and result.accuracy >= 0.8
    assert result.protocol["selected"]["learning_rate"] == 0.02 and recorder.steps[-1][0] == TOTAL_STEPS


def test_when_every_grid_point_collapses_the_result_says_so_instead_of_an_accuracy(tmp_path):
    only_diverging = FineTuneProtocol(**{**PROTOCOL.__dict__, "learning_rates": (1e12,)})
    result = fine_tune(tiny_cnn(), brightness_dataset(), protocol=only_diverging, device="cpu", cache_dir=tmp_path)
    assert result.accuracy is None and result.collapsed_accuracy is None and result.measures == {}
    assert result.collapsed == "every grid point collapsed (lr=1e+12, wd=0.0001: the training loss became " \
                               "non-finite in epoch 1)"
    assert result.protocol["selected"] is None
    again = fine_tune(tiny_cnn(), brightness_dataset(), protocol=only_diverging, device="cpu", cache_dir=tmp_path)
    assert again.cache_hit and again.collapsed == result.collapsed


def test_probe_model_probes_the_model_features_and_records_where_they_came_from(tmp_path):
    model, dataset, store = tiny_cnn(), brightness_dataset(), FeatureStore(tmp_path)
    result = probe_model(model, dataset, folds=3, store=store, device="cpu")
    features = extract_features(model, dataset, device="cpu", store=store)
    assert features.cache_hit  # the probe's extraction was stored
    direct = linear_probe(features.features, dataset.labels, folds=3)
    assert result.kind == LINEAR_PROBE and result.folds == direct.folds and result.accuracy == direct.accuracy
    assert result.protocol["model_fingerprint"] == model.fingerprint
    assert result.protocol["dataset_fingerprint"] == dataset.fingerprint


def test_blocks_follow_the_forward_pass_and_a_norm_layer_joins_the_block_before_it():
    model = tiny_cnn()
    assert backbone_blocks(model.extractor, PREPROCESSING) == ["0", "1", "3"]
    assert last_blocks(model.extractor, ["0", "1", "3"], 1) == ["3"]
    assert last_blocks(model.extractor, ["0", "1", "3"], 2) == ["0", "1", "3"]
    protocol = FineTuneProtocol(last_blocks=1)
    assert trained_block_names(model.extractor, PREPROCESSING, protocol) == ["3"]


class CallsMethods(nn.Module):
    """Like a timm wrapper: calls its child's methods, and the child holds a classifier that never runs."""

    def __init__(self):
        super().__init__()
        self.model = nn.Module()
        self.model.late = nn.Conv2d(4, 8, 1)
        self.model.early = nn.Conv2d(3, 4, 1)
        self.model.classifier = nn.Linear(8, 1000)  # largest, never called

    def forward(self, images):
        return self.model.late(self.model.early(images)).mean(dim=(2, 3))


def test_blocks_skip_modules_that_never_run_and_order_by_first_call():
    assert backbone_blocks(CallsMethods(), PREPROCESSING) == ["model.early", "model.late"]


@pytest.mark.parametrize("changes, message", [
    ({"trainable": "some"}, "trainable"), ({"epochs": 0}, "epochs"), ({"learning_rates": ()}, "learning_rates"),
    ({"weight_decays": (-1.0,)}, "weight_decays"), ({"val_fraction": 0.5, "test_fraction": 0.45}, "10 %"),
    ({"momentum": 1.0}, "momentum"), ({"batch_size": 2.5}, "batch_size"),
])
def test_bad_protocols_get_a_clear_error(changes, message):
    with pytest.raises(GroundTruthError, match=message):
        FineTuneProtocol(**changes)


def test_too_few_images_per_class_get_a_clear_error(tmp_path):
    dataset = brightness_dataset(count=40)
    dataset.labels = dataset.labels.copy()
    dataset.labels[:38] = "dark"  # "bright" keeps 2 images
    with pytest.raises(GroundTruthError, match="at least 3 per class"):
        fine_tune(tiny_cnn(), dataset, protocol=PROTOCOL, device="cpu", cache_dir=tmp_path)


def test_a_damaged_checkpoint_counts_as_missing(tmp_path):
    store = RunStore(tmp_path)
    store.save_checkpoint(0, {"modules": [], "epochs_done": 1})
    assert store.checkpoint(0)["epochs_done"] == 1
    (tmp_path / "grid-00.pt").write_bytes(b"not a checkpoint")
    assert store.checkpoint(0) is None and not (tmp_path / "grid-00.pt").exists()
    store.save_point(0, {"learning_rate": 0.1})
    assert store.point(0) == {"learning_rate": 0.1} and not list(tmp_path.glob("*.tmp"))
