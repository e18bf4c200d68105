"""The ``validate`` command: a ranking checked against a linear probe or a user CSV, on real models and data."""

import csv
import json

import pytest
from scipy.stats import weightedtau

from transfer_core.cli import main

MODELS = "zoo:cnn-mnist,zoo:cnn-mnist-random,zoo:mobilenetv2-dogbreeds"


@pytest.fixture(scope="module")
def ranking_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("ranking")
    assert main(["rank", "--dataset", "demo:digits", "--models", MODELS, "--limit", "60", "--metrics",
                 "logme,knn,hscore", "--out", str(out)]) == 0
    return out


def test_user_csv_groundtruth_gives_scipy_weighted_tau(ranking_dir, tmp_path, capsys):
    truth = {"zoo:cnn-mnist": 0.9, "zoo:cnn-mnist-random": 0.5, "zoo:mobilenetv2-dogbreeds": 0.7}
    csv_path = tmp_path / "truth.csv"
    csv_path.write_text("model,accuracy\n" + "".join(f"{m},{a}\n" for m, a in truth.items()))
    assert main(["validate", "--ranking", str(ranking_dir), "--groundtruth", str(csv_path), "--out",
                 str(tmp_path / "v")]) == 0
    ranking = json.loads((ranking_dir / "ranking.json").read_text())
    result = json.loads((tmp_path / "v" / "validation.json").read_text())
    assert result["groundtruth"] == "user CSV"
    for row in result["evaluation"]:
        scores = [model[row["metric"]] for model in ranking["models"]]
        accuracies = [truth[model["model"]] for model in ranking["models"]]
        assert row["weighted_tau"] == pytest.approx(weightedtau(scores, accuracies)[0])
    with open(tmp_path / "v" / "groundtruth.csv", newline="") as handle:
        assert {r["model"]: float(r["accuracy"]) for r in csv.DictReader(handle)} == truth
    assert "weighted tau" in capsys.readouterr().out


def test_linear_probe_groundtruth_is_labelled_and_reusable(ranking_dir, tmp_path):
    out = tmp_path / "probe"
    assert main(["validate", "--ranking", str(ranking_dir), "--groundtruth", "probe", "--stability", "2",
                 "--out", str(out)]) == 0
    result = json.loads((out / "validation.json").read_text())
    assert result["groundtruth"] == "linear probe"
    assert set(result["accuracies"]) == set(MODELS.split(","))
    assert all(0.0 <= a <= 1.0 for a in result["accuracies"].values())
    assert all(p["dataset_id"] == "demo:digits" for p in result["protocols"].values())
    assert {row["metric"] for row in result["stability"]} == {"logme", "knn", "hscore"}
    # the written ground truth feeds straight back in as a user CSV and gives the same evaluation
    assert main(["validate", "--ranking", str(ranking_dir), "--groundtruth", str(out / "groundtruth.csv"),
                 "--out", str(tmp_path / "again")]) == 0
    again = json.loads((tmp_path / "again" / "validation.json").read_text())
    assert again["evaluation"] == result["evaluation"]


@pytest.mark.parametrize("make_argv, fragment", [
    (lambda d, t: ["--ranking", str(t / "nowhere"), "--groundtruth", "probe"], "no ranking found"),
    (lambda d, t: ["--ranking", str(d), "--groundtruth", str(t / "missing.csv")], "missing.csv"),
])
def test_validate_errors_exit_2(ranking_dir, tmp_path, capsys, make_argv, fragment):
    assert main(["validate", *make_argv(ranking_dir, tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert fragment in capsys.readouterr().err


def test_too_few_models_with_groundtruth_is_a_clear_error(ranking_dir, tmp_path, capsys):
    csv_path = tmp_path / "two.csv"
    csv_path.write_text("model,accuracy\nzoo:cnn-mnist,0.9\nzoo:cnn-mnist-random,0.5\n")
    assert main(["validate", "--ranking", str(ranking_dir), "--groundtruth", str(csv_path), "--out",
                 str(tmp_path / "o")]) == 2
    assert "at least 3" in capsys.readouterr().err
