"""16-bit, 32-bit integer and float images: one linear map per dataset to 0–255 (never per image), told once;
8-bit images exactly as before."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image, ImageOps

from transfer_core.cli import main
from transfer_core.data import load_dataset
from transfer_core.data.fingerprint import dataset_fingerprint, file_sha256
from transfer_core.metrics.knn import knn

# (numpy dtype, file suffix, PIL mode Pillow reads it back as, how a 16-bit value is written in that type)
DEPTHS = {
    "16-bit PNG": (np.uint16, "png", "I;16", lambda v: v),
    "16-bit TIFF": (np.uint16, "tiff", "I;16", lambda v: v),
    "32-bit integer TIFF": (np.int32, "tiff", "I", lambda v: v * 20 - 30_000),  # negative values too
    "32-bit float TIFF": (np.float32, "tiff", "F", lambda v: v / 65535),
}


def write_array(path, pixels) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def two_levels(root, depth: str, per_class: int = 20, side: int = 12):
    """Two classes that differ only in absolute intensity: around 1000 vs around 3000 (of 65535), each image with
    its own uniform noise of ±400, written in ``depth``'s pixel type."""
    dtype, suffix, _, convert = DEPTHS[depth]
    rng = np.random.default_rng(0)
    for label, level in (("dim", 1000), ("bright", 3000)):
        for k in range(per_class):
            values = level + rng.integers(-400, 401, (side, side))
            write_array(root / label / f"{k:02d}.{suffix}", convert(values).astype(dtype))
    return root


@pytest.mark.parametrize("depth", DEPTHS)
def test_high_bit_depth_images_share_one_map_from_the_dataset_range(tmp_path, depth):
    dtype, suffix, mode, convert = DEPTHS[depth]
    # 1000 and 3550 are the dataset's extremes: 255 / 2550 = 0.1 per step of the 16-bit value
    write_array(tmp_path / "a" / f"low.{suffix}", convert(np.array([[1000, 1500], [2000, 1000]])).astype(dtype))
    write_array(tmp_path / "b" / f"high.{suffix}", convert(np.array([[3550, 3050], [3550, 2550]])).astype(dtype))
    assert Image.open(tmp_path / "a" / f"low.{suffix}").mode == mode
    dataset = load_dataset(str(tmp_path))
    low, high = dataset.load(0), dataset.load(1)
    assert low.mode == high.mode == "L"
    assert np.asarray(low).tolist() == [[0, 50], [100, 0]]  # not stretched to 0..255 on its own: kept dark
    assert np.asarray(high).tolist() == [[255, 205], [255, 155]]
    assert len(dataset.notes) == 1 and dataset.notes[0].startswith(f"2 images are {depth.rsplit(' ', 1)[0]}:")
    lo, hi = convert(np.array([1000, 3550])).astype(dtype).tolist()
    assert f"from [{lo:g}, {hi:g}]" in dataset.notes[0]


def test_mixed_kinds_and_8_bit_images_in_one_dataset(tmp_path):
    write_array(tmp_path / "a" / "u16.png", np.array([[100, 200]], dtype=np.uint16))
    write_array(tmp_path / "a" / "u16b.tiff", np.array([[300, 100]], dtype=">u2"))  # big-endian: mode I;16B
    write_array(tmp_path / "b" / "i32.tiff", np.array([[600, 360]], dtype=np.int32))
    eight_bit = np.array([[7, 250]], dtype=np.uint8)
    write_array(tmp_path / "b" / "u8.png", eight_bit)
    dataset = load_dataset(str(tmp_path))
    pixels = {name: np.asarray(dataset.load(i)).tolist() for i, name in enumerate(dataset.item_names)}
    assert pixels == {"a/u16.png": [[0, 51]], "a/u16b.tiff": [[102, 0]], "b/i32.tiff": [[255, 133]],
                      "b/u8.png": eight_bit.tolist()}  # 100..600 to 0..255; 8-bit as is
    assert dataset.notes == ["2 images are 16-bit and 1 image is 32-bit integer: their intensities are mapped "
                             "linearly from [100, 600] (the darkest and brightest pixel among them) to 0–255, for "
                             "every image alike, so absolute intensity is kept. The other 1 (8-bit) are used as "
                             "they are."]


def test_a_constant_dataset_maps_to_black_without_dividing_by_zero(tmp_path):
    for label in ("a", "b"):
        write_array(tmp_path / label / "flat.tiff", np.full((2, 3), 4.5, dtype=np.float32))
    dataset = load_dataset(str(tmp_path))
    assert [np.asarray(dataset.load(i)).tolist() for i in range(2)] == [[[0, 0, 0]] * 2] * 2


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_float_images_with_non_finite_pixels_are_skipped_with_the_reason(tmp_path, bad):
    for label in ("a", "b"):
        write_array(tmp_path / label / "ok.tiff", np.array([[0.25, 0.5]], dtype=np.float32))
    write_array(tmp_path / "a" / "bad.tiff", np.array([[0.5, bad]], dtype=np.float32))
    dataset = load_dataset(str(tmp_path))
    assert dataset.item_names == ["a/ok.tiff", "b/ok.tiff"]
    assert [(item.path, item.reason) for item in dataset.skipped] == [
        ("a/bad.tiff", "32-bit float image with pixel values that are not finite (NaN or infinity)")]
    assert "from [0.25, 0.5]" in dataset.notes[0]  # the skipped image does not stretch the range


EIGHT_BIT = [("L", "png"), ("RGB", "jpg"), ("RGBA", "png"), ("P", "gif"), ("1", "bmp"), ("LA", "png"),
             ("CMYK", "tiff")]


def test_8_bit_images_are_read_exactly_as_before_and_keep_their_fingerprint(tmp_path):
    rng = np.random.default_rng(1)
    paths = []
    for index, (mode, suffix) in enumerate(EIGHT_BIT):
        path = tmp_path / ("a" if index % 2 else "b") / f"{index}.{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (9, 7, 3), dtype=np.uint8)).convert(mode).save(path)
        paths.append(path)
    dataset = load_dataset(str(tmp_path))
    assert dataset.notes == [] and dataset.skipped == [] and dataset.size == len(paths)
    for index, name in enumerate(dataset.item_names):
        with Image.open(tmp_path / name) as original:
            expected = ImageOps.exif_transpose(original)
        loaded = dataset.load(index)
        assert loaded.mode == expected.mode and np.array_equal(np.asarray(loaded), np.asarray(expected))
    keys = [file_sha256(tmp_path / name) for name in dataset.item_names]
    assert dataset.fingerprint == dataset_fingerprint("files", keys, dataset.labels)


def test_the_dataset_range_is_part_of_the_fingerprint(tmp_path):
    first = two_levels(tmp_path / "first", "16-bit PNG", per_class=3, side=4)
    subset = load_dataset(str(first), limit=4, seed=0)
    keys = [file_sha256(first / name) for name in subset.item_names]
    assert subset.fingerprint != dataset_fingerprint("files", keys, subset.labels)  # 16-bit pixels seen changed
    second = shutil.copytree(first, tmp_path / "second")
    left_out = sorted({path.relative_to(first).as_posix() for path in first.rglob("*.png")} - set(subset.item_names))
    write_array(second / left_out[0], np.full((4, 4), 60_000, dtype=np.uint16))  # an image the subset leaves out
    other = load_dataset(str(second), limit=4, seed=0)
    assert other.item_names == subset.item_names
    assert [file_sha256(second / name) for name in other.item_names] == keys  # the same files, mapped differently
    assert not np.array_equal(np.asarray(other.load(0)), np.asarray(subset.load(0)))
    assert other.fingerprint != subset.fingerprint


def per_image_stretch(pixels: np.ndarray) -> np.ndarray:
    """What a per-image normalisation would show the model (the mapping this module refuses to do)."""
    low, high = pixels.min(axis=(1, 2), keepdims=True), pixels.max(axis=(1, 2), keepdims=True)
    return (pixels - low) / (high - low)


@pytest.mark.parametrize("depth", [*DEPTHS, "8-bit PNG"])
def test_classes_that_differ_only_in_intensity_are_separated_end_to_end(tmp_path, capsys, depth):
    root = tmp_path / "data"
    if depth == "8-bit PNG":  # the same images as 8-bit (divided by 257): the ranking's reference
        for path in two_levels(tmp_path / "u16", "16-bit PNG").rglob("*.png"):
            pixels = np.rint(np.asarray(Image.open(path), dtype=np.float64) / 257).astype(np.uint8)
            write_array(root / path.relative_to(tmp_path / "u16"), pixels)
    else:
        two_levels(root, depth)
        raw = np.stack([np.asarray(Image.open(path), dtype=np.float64) for path in sorted(root.rglob("*.*"))])
        labels = np.repeat([0, 1], 20)
        assert knn(per_image_stretch(raw).reshape(40, -1), labels, device="cpu") < 0.75  # a stretch would erase it
    assert main(["rank", "--dataset", str(root), "--models", "zoo:cnn-mnist,zoo:cnn-mnist-random", "--metrics", "knn",
                 "--out", str(tmp_path / "run"), "--device", "cpu"]) == 0
    rows = json.loads((tmp_path / "run" / "ranking.json").read_text())["models"]
    knn_of = {row["model"]: row["knn"] for row in rows}
    assert knn_of["zoo:cnn-mnist"] == 1.0  # each image's nearest other class is ≥ 4× farther than its own
    notes = load_dataset(str(root)).notes
    assert len(notes) == (depth != "8-bit PNG")
    stderr = capsys.readouterr().err
    assert all(stderr.count(note) == 1 for note in notes)  # once per dataset, not per image or model
