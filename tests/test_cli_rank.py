"""The ``rank``, ``models``, ``datasets`` and ``cache`` commands (design.md, "Contracts") on real data and models."""

import csv
import json

import pytest

from transfer_core.cli import main
from transfer_core.store import FeatureStore

FAST_MODELS = "zoo:cnn-mnist,zoo:cnn-mnist-random"


@pytest.fixture(scope="module")
def ranked(tmp_path_factory):
    out = tmp_path_factory.mktemp("rank")
    code = main(["rank", "--dataset", "demo:digits", "--models", FAST_MODELS, "--limit", "60",
                 "--metrics", "logme,leep,knn,hscore", "--out", str(out)])
    return code, out


def test_rank_writes_json_and_csv_with_the_contract_shape(ranked):
    code, out = ranked
    assert code == 0
    payload = json.loads((out / "ranking.json").read_text())
    assert payload["dataset"]["id"] == "demo:digits" and payload["dataset"]["size"] == 60
    assert payload["metrics"] == ["logme", "leep", "knn", "hscore"]
    rows = payload["models"]
    assert sorted(row["model"] for row in rows) == sorted(FAST_MODELS.split(","))
    for row in rows:
        for metric in payload["metrics"]:
            assert isinstance(row[metric], float)
            assert row[f"{metric}_rank"] in (1, 2, 1.5)
        ranks = [row[f"{metric}_rank"] for metric in payload["metrics"]]
        assert row["consensus_rank"] == pytest.approx(sum(ranks) / len(ranks))
        assert row["feature_dim"] == 256 and isinstance(row["extract_seconds"], float)
        assert isinstance(row["cache_hit"], bool) and row["card"]["model_id"] == row["model"]
    assert [row["consensus_rank"] for row in rows] == sorted(row["consensus_rank"] for row in rows)
    with open(out / "ranking.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [row["model"] for row in table] == [row["model"] for row in rows]
    assert set(table[0]) >= {"model", "logme", "logme_rank", "consensus_rank", "feature_dim", "cache_hit", "card"}


def test_mnist_source_head_beats_its_random_init_by_leep_on_digits(ranked):
    _, out = ranked
    rows = {row["model"]: row for row in json.loads((out / "ranking.json").read_text())["models"]}
    assert rows["zoo:cnn-mnist"]["leep"] > rows["zoo:cnn-mnist-random"]["leep"]
    assert rows["zoo:cnn-mnist"]["leep_rank"] == 1


def test_second_identical_rank_is_served_from_the_store(ranked, tmp_path):
    assert main(["rank", "--dataset", "demo:digits", "--models", FAST_MODELS, "--limit", "60",
                 "--metrics", "knn", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "ranking.json").read_text())["models"]
    assert all(row["cache_hit"] for row in rows)


def test_a_model_that_fails_is_reported_and_the_rest_continue(tmp_path, capsys):
    code = main(["rank", "--dataset", "demo:digits", "--models", "zoo:cnn-mnist,zoo:no-such-model", "--limit", "30",
                 "--metrics", "knn", "--out", str(tmp_path)])
    assert code == 0
    assert "zoo:no-such-model was left out" in capsys.readouterr().err
    assert [row["model"] for row in json.loads((tmp_path / "ranking.json").read_text())["models"]] == ["zoo:cnn-mnist"]


@pytest.mark.parametrize("argv, fragment", [
    (["--dataset", "demo:nosuch", "--models", "zoo:cnn-mnist"], "demo"),
    (["--dataset", "demo:digits", "--models", "zoo:cnn-mnist", "--metrics", "nosuch"], "unknown metric"),
    (["--dataset", "demo:digits", "--models", "zoo:no-such-model"], "no model could be scored"),
])
def test_rank_usage_errors_exit_2(tmp_path, capsys, argv, fragment):
    assert main(["rank", *argv, "--limit", "30", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert fragment in err.splitlines()[-1]


def test_models_and_datasets_list_ids(capsys):
    assert main(["models"]) == 0
    models = [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()]
    assert "zoo:cnn-mnist" in models and "zoo:cnn-mnist-random" in models and "timm:NAME" in models
    assert main(["datasets"]) == 0
    datasets = [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()]
    assert datasets[0] == "demo" and "demo:digits" in datasets


def test_cache_info_and_clear(ranked, capsys):
    assert main(["cache", "info"]) == 0
    assert "entries" in capsys.readouterr().out
    manifests = FeatureStore().root / "models"
    assert list(manifests.glob("*.json"))  # the ranked zoo models' manifests
    assert main(["cache", "clear"]) == 0
    assert not manifests.exists()
    assert "removed" in capsys.readouterr().out
    assert main(["cache", "info"]) == 0
    assert " 0 entries" in capsys.readouterr().out
