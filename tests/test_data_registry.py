"""Dataset IDs: how strings resolve, and the errors for IDs, limits and seeds that cannot work."""

import pytest

from data_helpers import write_class_folder
from transfer_core.data import DatasetError, ImageDataset, load_dataset


def test_dataset_error_is_a_value_error():
    assert issubclass(DatasetError, ValueError)


def test_folder_path_resolves_with_a_tilde(tmp_path, monkeypatch):
    write_class_folder(tmp_path / "data", {"a": 1, "b": 1})
    monkeypatch.setenv("HOME", str(tmp_path))
    dataset = load_dataset("~/data")
    assert isinstance(dataset, ImageDataset) and dataset.classes == ["a", "b"] and dataset.dataset_id == "~/data"


def test_path_objects_are_accepted(tmp_path):
    root = write_class_folder(tmp_path / "data", {"a": 1, "b": 1})
    assert load_dataset(root).dataset_id == str(root)


def test_unknown_id_names_the_demos():
    with pytest.raises(DatasetError, match="not a bundled dataset .*demo:textile.*no file or folder"):
        load_dataset("/no/such/place")


def test_unsupported_file_type_says_what_is_accepted(tmp_path):
    path = tmp_path / "data.json"
    path.write_text("{}")
    with pytest.raises(DatasetError, match=r"\.json file .*folder .*\.zip .*\.csv"):
        load_dataset(str(path))


@pytest.mark.parametrize("dataset_id", ["", "   ", None, 3])
def test_blank_or_non_string_ids_are_errors(dataset_id):
    with pytest.raises(DatasetError, match="non-empty string"):
        load_dataset(dataset_id)


@pytest.mark.parametrize("limit", [0, -5, 2.5, True, "10"])
def test_bad_limits_are_errors(limit):
    with pytest.raises(DatasetError, match="limit must be a positive whole number"):
        load_dataset("demo:animals", limit=limit)


@pytest.mark.parametrize("seed", [-1, 1.5, None])
def test_bad_seeds_are_errors(seed):
    with pytest.raises(DatasetError, match="seed must be"):
        load_dataset("demo:animals", seed=seed)


def test_limit_below_the_number_of_classes_is_an_error():
    with pytest.raises(DatasetError, match="smaller than the number of classes"):
        load_dataset("demo:animals", limit=5)
