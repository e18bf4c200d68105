"""Feature extraction with a real (random-init, seeded) torchvision ResNet-18 on a handful of generated images."""

import dataclasses

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from transfer_core.cache.store import FeatureStore
from transfer_core.data.base import ImageDataset
from transfer_core.features import (
    ExtractionError,
    _embed_batch,
    extract_features,
    feature_key_parts,
    normalise,
    preprocess,
)
from transfer_core.models.base import LoadedModel, ModelCard, Preprocessing

SMALL = Preprocessing(input_size=(48, 40), resize=52, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
IDENTITY = dict(mean=(0.0,), std=(1.0,), value_scale=255.0)  # normalisation that leaves 0..255 pixel values as is


def gradient_image(height: int, width: int, mode: str, phase: int) -> Image.Image:
    """A smooth colour gradient (different per ``phase``) in PIL ``mode``."""
    rows = np.linspace(0, 255, height)[:, None]
    cols = np.linspace(0, 255, width)[None, :]
    rgb = np.stack([(rows + phase * 40) % 256 + 0 * cols, (cols + phase * 70) % 256 + 0 * rows,
                    (rows + cols) / 2 + 0 * phase], axis=-1)
    return Image.fromarray(rgb.astype(np.uint8), "RGB").convert(mode)


IMAGES = [gradient_image(60, 80, "RGB", 0), gradient_image(90, 50, "L", 1), gradient_image(64, 64, "RGBA", 2),
          gradient_image(45, 70, "P", 3), gradient_image(70, 70, "RGB", 4)]


def make_dataset(images=IMAGES, fingerprint="gradients-v1", broken_index=None) -> ImageDataset:
    def load(index: int) -> Image.Image:
        if index == broken_index:
            raise OSError("cannot identify image file")
        return images[index]

    names = [f"img{index}.png" for index in range(len(images))]
    return ImageDataset("test:gradients", "gradients", load, len(images), fingerprint,
                        labels=np.arange(len(images)) % 2, item_names=names)


def make_model(preprocessing=SMALL, extractor=None, with_head=True, fingerprint="resnet18-seed0") -> LoadedModel:
    torch.manual_seed(0)
    network = torchvision.models.resnet18(weights=None, num_classes=10).eval()
    if extractor is None:
        extractor = torch.nn.Sequential(*list(network.children())[:-1], torch.nn.Flatten())
    card = ModelCard("test:resnet18", "resnet18", "nothing (random init)", "BSD-3-Clause", 11_000_000, 512, "test")
    return LoadedModel("test:resnet18", extractor, preprocessing, card, fingerprint,
                       head=network.fc if with_head else None)


def uniform_image(rgb=(10, 20, 30), size=(10, 6)) -> Image.Image:
    return Image.new("RGB", size, rgb)


def manual_forward(model: LoadedModel, images) -> tuple[np.ndarray, np.ndarray]:
    batch = torch.stack([preprocess(image, model.preprocessing) for image in images])
    with torch.no_grad():
        features = model.extractor.eval()(batch)
        probs = torch.softmax(model.head(features), dim=1)
    return features.numpy(), probs.numpy()


def test_features_equal_a_manual_forward_pass_of_the_preprocessed_batch():
    model = make_model()
    result = extract_features(model, make_dataset(), device="cpu", batch_size=2)
    expected_features, expected_probs = manual_forward(model, IMAGES)
    assert result.features.dtype == np.float32 and result.features.shape == (5, 512)
    assert result.source_probs.dtype == np.float32 and result.source_probs.shape == (5, 10)
    np.testing.assert_allclose(result.features, expected_features, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.source_probs, expected_probs, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(result.source_probs.sum(axis=1), 1.0, rtol=1e-6)
    assert result.features.std(axis=0).max() > 0  # the images really differ in feature space
    assert not result.cache_hit and result.device == "cpu" and result.seconds > 0


def test_batch_size_does_not_change_the_result():
    model = make_model()
    results = [extract_features(model, make_dataset(), device="cpu", batch_size=size) for size in (1, 3, 64)]
    for other in results[1:]:
        np.testing.assert_allclose(other.features, results[0].features, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(other.source_probs, results[0].source_probs, rtol=1e-5, atol=1e-7)


def test_model_without_head_gives_no_source_probabilities(tmp_path):
    store = FeatureStore(tmp_path)
    cold = extract_features(make_model(with_head=False), make_dataset(), device="cpu", store=store)
    warm = extract_features(make_model(with_head=False), make_dataset(), device="cpu", store=store)
    assert cold.source_probs is None and warm.source_probs is None and warm.cache_hit


@pytest.mark.parametrize("channels, expected", [("RGB", (10, 20, 30)), ("BGR", (30, 20, 10)), ("L", (18,))])
def test_channel_order_and_value_scale(channels, expected):
    # PIL's luma: (10·19595 + 20·38470 + 30·7471 + 2^15) >> 16 = 18.
    settings = Preprocessing(input_size=(4, 3), resize=4, channels=channels, **IDENTITY)
    pixels = preprocess(uniform_image(), settings)
    assert pixels.dtype == torch.float32 and pixels.shape == (len(expected), 4, 3)
    torch.testing.assert_close(pixels, torch.tensor(expected, dtype=torch.float32)[:, None, None].expand(-1, 4, 3))


def test_normalisation_uses_mean_and_std_in_scaled_units():
    settings = Preprocessing(input_size=(2, 2), resize=2, mean=(0.1, 0.2, 0.3), std=(0.5, 0.25, 2.0),
                             value_scale=1.0)
    pixels = preprocess(uniform_image((51, 102, 255)), settings)
    expected = torch.tensor([(0.2 - 0.1) / 0.5, (0.4 - 0.2) / 0.25, (1.0 - 0.3) / 2.0])
    torch.testing.assert_close(pixels, expected[:, None, None].expand(-1, 2, 2))
    grey = preprocess(uniform_image((51, 51, 51)), dataclasses.replace(settings, channels="L", mean=(0.5,),
                                                                       std=(0.25,)))
    torch.testing.assert_close(grey, torch.full((1, 2, 2), (0.2 - 0.5) / 0.25))


def test_normalise_scales_a_batch_and_leaves_its_input_alone():
    settings = Preprocessing(input_size=(2, 2), resize=2, mean=(0.1, 0.2, 0.3), std=(0.5, 0.25, 2.0), value_scale=2.0)
    batch = torch.tensor([0, 51, 255], dtype=torch.uint8)[None, :, None, None].expand(2, 3, 2, 2).clone()
    expected = torch.tensor([(0.0 - 0.1) / 0.5, (0.4 - 0.2) / 0.25, (2.0 - 0.3) / 2.0])
    torch.testing.assert_close(normalise(batch, settings), expected[None, :, None, None].expand(2, 3, 2, 2))
    already_float = batch.to(torch.float32)
    normalise(already_float, settings)
    torch.testing.assert_close(already_float, batch.to(torch.float32))


def test_shorter_side_resize_then_centre_crop():
    # 8×16 image, left half black, right half white; shorter side 8 → 4 gives 4×8, the centre 4×4 crop keeps
    # two black and two white columns.
    halves = np.zeros((8, 16, 3), np.uint8)
    halves[:, 8:] = 255
    settings = Preprocessing(input_size=(4, 4), resize=4, interpolation="nearest", **IDENTITY)
    pixels = preprocess(Image.fromarray(halves), settings)
    torch.testing.assert_close(pixels, torch.tensor([0.0, 0.0, 255.0, 255.0]).expand(3, 4, 4))


@pytest.mark.parametrize("change, message", [
    (dict(channels="L"), "3 values but the input has 1 channel"),
    (dict(mean=(0.5, 0.5)), "2 values but the input has 3 channel"),
    (dict(std=(0.0, 1.0, 1.0)), "std must be positive"),
    (dict(channels="CMYK"), "channels must be"),
    (dict(interpolation="cubic-ish"), "unknown interpolation"),
])
def test_invalid_preprocessing_is_a_clear_error(change, message):
    with pytest.raises(ValueError, match=message):
        preprocess(uniform_image(), dataclasses.replace(SMALL, **change))


def test_second_identical_request_is_served_from_the_store(tmp_path):
    store = FeatureStore(tmp_path)
    model = make_model()
    forward_calls = []
    model.extractor.register_forward_hook(lambda module, inputs, output: forward_calls.append(len(inputs[0])))
    cold = extract_features(model, make_dataset(), device="cpu", batch_size=2, store=store, engine="torch")
    assert not cold.cache_hit and forward_calls == [2, 2, 1]
    warm = extract_features(model, make_dataset(), device="cpu", batch_size=2, store=store)  # any engine hits
    assert warm.cache_hit and warm.device == "cpu" and warm.engine == "torch" and forward_calls == [2, 2, 1]
    np.testing.assert_array_equal(warm.features, cold.features)
    np.testing.assert_array_equal(warm.source_probs, cold.source_probs)
    other_dataset = extract_features(model, make_dataset(fingerprint="gradients-v2"), device="cpu", store=store,
                                     engine="torch")
    assert not other_dataset.cache_hit and len(forward_calls) == 4


def test_feature_key_changes_with_everything_the_features_depend_on():
    model, dataset = make_model(), make_dataset()
    base = FeatureStore.key(feature_key_parts(model, dataset))
    variants = [
        feature_key_parts(dataclasses.replace(model, fingerprint="resnet18-seed1"), dataset),
        feature_key_parts(dataclasses.replace(model, preprocessing=dataclasses.replace(SMALL, resize=56)), dataset),
        feature_key_parts(dataclasses.replace(model, layer="layer3"), dataset),
        feature_key_parts(dataclasses.replace(model, head=None), dataset),
        feature_key_parts(model, make_dataset(fingerprint="gradients-v2")),
    ]
    keys = {FeatureStore.key(parts) for parts in variants}
    assert base not in keys and len(keys) == len(variants)


def test_progress_reports_every_batch_and_a_hit_once(tmp_path):
    calls = []
    store = FeatureStore(tmp_path)
    extract_features(make_model(), make_dataset(), device="cpu", batch_size=2, store=store,
                     progress=lambda done, total, eta: calls.append((done, total, eta)))
    assert [(done, total) for done, total, _ in calls] == [(0, 5), (2, 5), (4, 5), (5, 5)]
    assert calls[0][2] is None and all(eta >= 0 for _, _, eta in calls[1:]) and calls[-1][2] == 0.0
    calls.clear()
    extract_features(make_model(), make_dataset(), device="cpu", batch_size=2, store=store,
                     progress=lambda done, total, eta: calls.append((done, total, eta)))
    assert calls == [(5, 5, 0.0)]


class NaNFeatures(torch.nn.Module):
    def forward(self, images):
        return images.mean(dim=(2, 3)) * float("nan")


def test_non_finite_features_name_the_model(tmp_path):
    store = FeatureStore(tmp_path)
    with pytest.raises(ExtractionError, match="'test:resnet18' produced non-finite"):
        extract_features(make_model(extractor=NaNFeatures()), make_dataset(), device="cpu", store=store)
    assert store.usage().entries == 0


def test_unpooled_features_are_a_clear_error():
    torch.manual_seed(0)
    unpooled = torch.nn.Sequential(*list(torchvision.models.resnet18(weights=None).children())[:-2])
    with pytest.raises(ExtractionError, match=r"returned features of shape \(5, 512, 2, 2\)"):
        extract_features(make_model(extractor=unpooled), make_dataset(), device="cpu", batch_size=8)


def test_an_image_that_fails_to_load_is_named():
    with pytest.raises(ExtractionError, match=r"image 3 \(img3.png\) of dataset 'test:gradients'.*cannot identify"):
        extract_features(make_model(), make_dataset(broken_index=3), device="cpu", batch_size=2)


def test_a_truncated_image_file_is_named(tmp_path):
    path = tmp_path / "cut.png"
    IMAGES[0].save(path)
    path.write_bytes(path.read_bytes()[:200])
    images = [IMAGES[1], Image.open(path)]  # opened lazily, as dataset sources do: decoding fails later
    with pytest.raises(ExtractionError, match=r"image 1 \(img1.png\).*could not be loaded"):
        extract_features(make_model(), make_dataset(images=images), device="cpu")


def test_bad_preprocessing_is_reported_before_any_image():
    with pytest.raises(ValueError, match="unknown interpolation"):
        extract_features(make_model(dataclasses.replace(SMALL, interpolation="smooth")), make_dataset(),
                         device="cpu")


def test_an_unwritable_store_warns_and_still_returns_features(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store's folder should be")
    with pytest.warns(UserWarning, match="were not cached"):
        result = extract_features(make_model(), make_dataset(), device="cpu", store=FeatureStore(blocker))
    assert result.features.shape == (5, 512) and not result.cache_hit


def test_empty_dataset_and_bad_batch_size_are_refused():
    with pytest.raises(ValueError, match="no images"):
        extract_features(make_model(), make_dataset(images=[]), device="cpu")
    with pytest.raises(ValueError, match="batch_size"):
        extract_features(make_model(), make_dataset(), device="cpu", batch_size=0)


@pytest.mark.parametrize("overflow_in", ["extractor", "head"])
def test_overflow_under_reduced_precision_falls_back_to_float32(overflow_in):
    # 4 inputs of 100 times weights of 1000 = 400 000, beyond float16's largest value (65 504).
    overflowing = torch.nn.Linear(4, 4, bias=False)
    torch.nn.init.constant_(overflowing.weight, 1000.0)
    batch = torch.full((3, 4), 100.0)
    extractor, head = (overflowing, torch.nn.Identity()) if overflow_in == "extractor" else \
        (torch.nn.Identity(), overflowing)
    with torch.inference_mode():
        features, probs = _embed_batch("test:overflow", extractor, head, batch, torch.float16)
    torch.testing.assert_close(features, torch.full((3, 4), 400_000.0 if overflow_in == "extractor" else 100.0))
    torch.testing.assert_close(probs, torch.full((3, 4), 0.25))
