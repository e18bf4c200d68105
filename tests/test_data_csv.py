"""CSV sources: path,label (classification) and path,target... (regression); bad rows skipped and reported."""

import numpy as np
import pytest

from data_helpers import write_class_folder, write_image
from transfer_core.data import DatasetError, load_dataset


@pytest.fixture
def images(tmp_path):
    for k in range(6):
        write_image(tmp_path / "imgs" / f"{k}.png", seed=k)
    return tmp_path


def _write_csv(folder, text, name="data.csv"):
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_classification_csv_with_missing_and_bad_rows(images, tmp_path):
    (images / "imgs" / "junk.png").write_text("not an image")
    absolute = write_image(tmp_path / "elsewhere" / "abs.png", seed=40)
    csv_path = _write_csv(images, "\ufeffPath, Label\n"  # BOM, capitals and spaces are tolerated
                                  "imgs/0.png,cat\nimgs/1.png,dog\nimgs/gone.png,cat\nimgs/junk.png,dog\n"
                                  f"{absolute},dog\nimgs/2.png,\n,cat\nimgs/3.png,cat,extra\n\nimgs/4.png,cat\n")
    dataset = load_dataset(str(csv_path))
    assert dataset.item_names == ["imgs/0.png", "imgs/1.png", str(absolute), "imgs/4.png"]
    assert dataset.labels.tolist() == ["cat", "dog", "dog", "cat"] and dataset.targets is None
    skipped = {entry.path: entry.reason for entry in dataset.skipped}
    assert skipped == {
        "imgs/2.png": "no label",
        "data.csv:8": "no path",
        "data.csv:9": "row has 3 cells, the header has 2",
        "imgs/gone.png": "file not found",
        "imgs/junk.png": skipped["imgs/junk.png"],
    }
    assert skipped["imgs/junk.png"].startswith("not an image")
    assert np.array_equal(np.asarray(dataset.load(1)), np.asarray(load_dataset(str(csv_path)).load(1)))


def test_regression_csv_single_target_gives_a_vector(images):
    csv_path = _write_csv(images, "path,age\n" + "".join(f"imgs/{k}.png,{k * 1.5}\n" for k in range(6)))
    dataset = load_dataset(str(csv_path))
    assert dataset.labels is None and dataset.targets.shape == (6,)
    assert dataset.targets.tolist() == [0.0, 1.5, 3.0, 4.5, 6.0, 7.5]


def test_regression_csv_several_targets_gives_a_matrix_and_skips_non_finite(images):
    rows = "".join(f"imgs/{k}.png,{k},{-k}\n" for k in range(4))
    csv_path = _write_csv(images, f"path,target_x,target_y\n{rows}imgs/4.png,nan,1\nimgs/5.png,,2\n")
    dataset = load_dataset(str(csv_path))
    assert dataset.targets.shape == (4, 2)
    assert np.array_equal(dataset.targets, np.stack([np.arange(4.0), -np.arange(4.0)], axis=1))
    assert {entry.path: entry.reason for entry in dataset.skipped} == {
        "imgs/4.png": "target is not a finite number", "imgs/5.png": "missing target"}


def test_regression_limit_is_a_seeded_random_subset(images):
    csv_path = _write_csv(images, "path,y\n" + "".join(f"imgs/{k}.png,{k}\n" for k in range(6)))
    small = load_dataset(str(csv_path), limit=3, seed=4)
    assert len(small) == 3 and small.targets.tolist() == [float(name[5]) for name in small.item_names]
    assert load_dataset(str(csv_path), limit=3, seed=4).item_names == small.item_names


def test_regression_with_one_distinct_value_is_fine(images):
    csv_path = _write_csv(images, "path,y\nimgs/0.png,1\nimgs/1.png,1\n")
    assert load_dataset(str(csv_path)).targets.tolist() == [1.0, 1.0]


def test_text_targets_say_to_name_the_column_label(images):
    csv_path = _write_csv(images, "path,class\nimgs/0.png,cat\n")
    with pytest.raises(DatasetError, match="data.csv:2: a target is not a number .*'label'"):
        load_dataset(str(csv_path))


@pytest.mark.parametrize("header", ["file,label", "path", "path,label,extra", "path,y,y", "label,path,y"])
def test_bad_headers_are_clear_errors(images, header):
    csv_path = _write_csv(images, f"{header}\nimgs/0.png,cat\n")
    with pytest.raises(DatasetError, match="path,label"):
        load_dataset(str(csv_path))


def test_csv_single_class_and_empty_are_errors(images):
    with pytest.raises(DatasetError, match="single class"):
        load_dataset(str(_write_csv(images, "path,label\nimgs/0.png,cat\nimgs/1.png,cat\n")))
    with pytest.raises(DatasetError, match="no usable images; 1 file.*file not found"):
        load_dataset(str(_write_csv(images, "path,label\nmissing.png,cat\n", name="b.csv")))
    with pytest.raises(DatasetError, match="empty"):
        load_dataset(str(_write_csv(images, "", name="c.csv")))


def test_non_utf8_csv_is_a_clear_error(images):
    csv_path = images / "latin.csv"
    csv_path.write_bytes("path,label\nimgs/0.png,caf\xe9\n".encode("latin-1"))
    with pytest.raises(DatasetError, match="UTF-8"):
        load_dataset(str(csv_path))


def test_csv_listing_a_folder_in_order_shares_its_fingerprint(tmp_path):
    folder = write_class_folder(tmp_path / "data", {"a": 2, "b": 2})
    rows = "".join(f"data/{name},{name.split('/')[0]}\n" for name in load_dataset(str(folder)).item_names)
    csv_path = _write_csv(tmp_path, "path,label\n" + rows)
    assert load_dataset(str(csv_path)).fingerprint == load_dataset(str(folder)).fingerprint


def test_labels_that_are_one_number_spelled_differently_are_kept_apart_with_a_warning(images):
    from transfer_core.data.checks import dataset_warnings

    csv_path = _write_csv(images, "path,label\nimgs/0.png,1\nimgs/1.png,1.0\nimgs/2.png,01\nimgs/3.png,1\n"
                                  "imgs/4.png,2\nimgs/5.png,two\n")
    dataset = load_dataset(str(csv_path))
    assert dataset.classes == ["01", "1", "1.0", "2", "two"]  # not merged silently
    (warning,) = [text for text in dataset_warnings(dataset.labels) if "spelled differently" in text]
    assert "'01' (1 image) / '1' (2 images) / '1.0' (1 image)." in warning
    assert "'2'" not in warning and "two" not in warning
