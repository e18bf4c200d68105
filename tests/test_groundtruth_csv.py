"""User ground-truth CSVs (``model,accuracy``): what is accepted and the error for each kind of bad file."""

import pytest

from transfer_core.groundtruth import GroundTruthError, load_groundtruth_csv


def write(tmp_path, text, name="truth.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


def test_reads_models_and_accuracies_ignoring_extra_columns_case_and_spaces(tmp_path):
    path = write(tmp_path, "\ufeffModel, Accuracy ,notes\nzoo:a, 0.81,x\n zoo:b ,79.5,\ntimm:c,-0.25,regression\n")
    assert load_groundtruth_csv(path) == {"zoo:a": 0.81, "zoo:b": 79.5, "timm:c": -0.25}


@pytest.mark.parametrize("text, message", [
    ("name,score\nzoo:a,0.5\n", "missing model, accuracy"),
    ("model\nzoo:a\n", "missing accuracy"),
    ("", "found: nothing"),
    ("model,accuracy\n", "no rows"),
    ("model,accuracy\nzoo:a,0.5\n,0.7\n", "line 3: the model name is empty"),
    ("model,accuracy\nzoo:a,0.5\nzoo:a,0.6\n", "line 3: model 'zoo:a' appears more than once"),
    ("model,accuracy\nzoo:a,high\n", "line 2: accuracy 'high' is not a number"),
    ("model,accuracy\nzoo:a,nan\n", "not a finite number"),
    ("model,accuracy\nzoo:a\n", "line 2: the accuracy is missing"),
    ("model,accuracy\nzoo:a, \n", "line 2: the accuracy is missing"),
])
def test_bad_files_get_an_error_naming_the_problem(tmp_path, text, message):
    with pytest.raises(GroundTruthError, match=message):
        load_groundtruth_csv(write(tmp_path, text))


def test_a_missing_or_binary_file_gets_a_clear_error(tmp_path):
    with pytest.raises(GroundTruthError, match="no such ground-truth file"):
        load_groundtruth_csv(tmp_path / "absent.csv")
    binary = tmp_path / "truth.csv"
    binary.write_bytes(b"\xff\xfe\x00model")
    with pytest.raises(GroundTruthError, match="UTF-8"):
        load_groundtruth_csv(binary)
