"""Image folders: classes from sub-folders, bad files skipped and reported (never fatal), clear errors."""

import pickle

import numpy as np
import pytest
from PIL import Image

from data_helpers import write_class_folder, write_image
from transfer_core.data import DatasetError, SkippedFile, load_dataset


@pytest.fixture
def messy_folder(tmp_path):
    root = write_class_folder(tmp_path / "pets", {"cat": 3, "dog": 2})
    good_jpeg = write_image(root / "dog" / "whole.jpg", seed=50, size=(64, 48))
    (root / "dog" / "broken.jpg").write_bytes(good_jpeg.read_bytes()[: good_jpeg.stat().st_size // 2])
    (root / "cat" / "notes.png").write_text("not an image at all")
    (root / "cat" / ".hidden.png").write_bytes((root / "cat" / "img_000.png").read_bytes())
    write_image(root / "cat" / ".thumbnails" / "t.png", seed=60)
    write_image(root / "cat" / "nested" / "deep.png", seed=61)  # images may sit deeper inside a class folder
    write_image(root / "stray.png", seed=62)
    (root / "empty_class").mkdir()
    return root


def test_messy_folder_skips_and_reports_bad_files(messy_folder):
    dataset = load_dataset(str(messy_folder))
    assert dataset.name == "pets"
    assert dataset.item_names == ["cat/img_000.png", "cat/img_001.png", "cat/img_002.png", "cat/nested/deep.png",
                                  "dog/img_000.png", "dog/img_001.png", "dog/whole.jpg"]
    assert dataset.labels.tolist() == ["cat"] * 4 + ["dog"] * 3
    skipped = {entry.path: entry.reason for entry in dataset.skipped}
    assert set(skipped) == {"stray.png", "empty_class/", "cat/notes.png", "dog/broken.jpg"}
    assert "class folder" in skipped["stray.png"]
    assert skipped["cat/notes.png"].startswith("not an image")
    assert skipped["dog/broken.jpg"].startswith("corrupt or truncated")
    assert all(isinstance(entry, SkippedFile) for entry in dataset.skipped)
    image = dataset.load(6)
    assert image.size == (64, 48)
    assert np.array_equal(np.asarray(image.convert("RGB")), np.asarray(Image.open(messy_folder / "dog/whole.jpg")))


def test_image_type_is_judged_by_content_not_extension(tmp_path):
    root = write_class_folder(tmp_path / "data", {"a": 1, "b": 1})
    write_image(root / "a" / "photo.dat", seed=9, fmt="PNG")  # a real PNG with an odd extension
    assert load_dataset(str(root)).item_names == ["a/img_000.png", "a/photo.dat", "b/img_000.png"]


def test_exif_orientation_is_applied(tmp_path):
    root = write_class_folder(tmp_path / "data", {"a": 1, "b": 1})
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    Image.new("RGB", (40, 20), "red").save(root / "a" / "phone.jpg", exif=exif)
    dataset = load_dataset(str(root))
    assert dataset.load(dataset.item_names.index("a/phone.jpg")).size == (20, 40)


def test_single_class_folder_is_a_clear_error(tmp_path):
    root = write_class_folder(tmp_path / "data", {"only": 3})
    with pytest.raises(DatasetError, match="single class .*'only'.*sub-folder"):
        load_dataset(str(root))


def test_flat_folder_of_images_says_to_make_class_folders(tmp_path):
    for k in range(3):
        write_image(tmp_path / f"img{k}.png", seed=k)
    with pytest.raises(DatasetError, match="no usable images; 3 file.*own sub-folder"):
        load_dataset(str(tmp_path))


def test_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="no usable images"):
        load_dataset(str(tmp_path))


def test_folder_limit_is_stratified(tmp_path):
    root = write_class_folder(tmp_path / "data", {"a": 12, "b": 6, "c": 2})
    dataset = load_dataset(str(root), limit=10, seed=3)
    assert dict(zip(*np.unique(dataset.labels, return_counts=True))) == {"a": 6, "b": 3, "c": 1}
    assert set(dataset.item_names) < set(load_dataset(str(root)).item_names)


def test_load_index_out_of_range_and_vanished_file(tmp_path):
    root = write_class_folder(tmp_path / "data", {"a": 1, "b": 1})
    dataset = load_dataset(str(root))
    with pytest.raises(IndexError):
        dataset.load(2)
    with pytest.raises(IndexError):
        dataset.load(-1)
    (root / "b" / "img_000.png").unlink()
    with pytest.raises(DatasetError, match="load the dataset again"):
        dataset.load(1)


def test_loader_survives_pickling_for_dataloader_workers(tmp_path):
    root = write_class_folder(tmp_path / "data", {"a": 2, "b": 2})
    dataset = load_dataset(str(root))
    load = pickle.loads(pickle.dumps(dataset.load))
    assert np.array_equal(np.asarray(load(3)), np.asarray(dataset.load(3)))


def test_class_folders_named_as_one_number_are_kept_apart_with_a_warning(tmp_path):
    from transfer_core.data.checks import dataset_warnings

    root = write_class_folder(tmp_path / "data", {"1": 2, "01": 1, "3": 2, "3.0": 1, "cat": 1})
    dataset = load_dataset(str(root))
    assert dataset.classes == ["01", "1", "3", "3.0", "cat"]
    warnings = [text for text in dataset_warnings(dataset.labels) if "spelled differently" in text]
    assert warnings == ["Some labels are the same number spelled differently and count as separate classes: "
                        "'01' (1 image) / '1' (2 images); '3' (2 images) / '3.0' (1 image). If each group is one "
                        "class, spell its labels the same way in the data."]
    assert not [text for text in dataset_warnings(np.array(["1", "2", "10"] * 5)) if "spelled" in text]
