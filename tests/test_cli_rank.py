"""The ``rank``, ``models``, ``datasets`` and ``cache`` commands (design.md, "Contracts") on real data and models."""

import csv
import html
import json

import pytest

from transfer_core.cache.store import FeatureStore
from transfer_core.cli import main

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
    # checked before any model is loaded: otherwise the missing model would be the last word
    (["--dataset", "demo:digits", "--models", "zoo:no-such-model", "--option", "nleep.seeds=0"],
     "option nleep.seeds=0 is invalid"),
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


@pytest.mark.parametrize("make_out", [
    lambda tmp: tmp / "a-file" / "runs",  # the parent is a regular file (root ignores permissions)
    lambda tmp: tmp / "a-file",  # --out itself is a regular file
])
def test_an_unwritable_out_is_refused_before_the_dataset_or_any_model_is_loaded(tmp_path, capsys, make_out):
    (tmp_path / "a-file").write_text("not a folder")
    out = make_out(tmp_path)
    # the dataset does not exist either: the --out message proves that nothing else was looked at first
    code = main(["rank", "--dataset", str(tmp_path / "no-such-folder"), "--models", "zoo:cnn-mnist", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.splitlines()) == 1
    assert err.startswith(f"error: --out {out} is not a folder that can be written (")
    assert "Not a directory" in err or "File exists" in err
    assert (tmp_path / "a-file").read_text() == "not a folder"


def test_the_out_probe_leaves_no_file_behind(tmp_path):
    out = tmp_path / "new" / "runs"
    assert main(["rank", "--dataset", "demo:digits", "--models", FAST_MODELS, "--limit", "30", "--metrics", "knn",
                 "--out", str(out)]) == 0
    assert sorted(path.name for path in out.iterdir()) == ["ranking.csv", "ranking.json"]


def test_skipped_files_and_class_warnings_are_on_stderr_before_any_model_runs(tmp_path, capsys):
    from data_helpers import write_class_folder

    root = write_class_folder(tmp_path / "data", {"1": 6, "01": 2, "cat": 6})
    for k in range(7):
        (root / "cat" / f"junk_{k}.png").write_text("not an image")
    code = main(["rank", "--dataset", str(root), "--models", "zoo:no-such-model,zoo:cnn-mnist", "--metrics", "knn",
                 "--out", str(tmp_path / "out")])
    assert code == 0
    err = capsys.readouterr().err.splitlines()
    start = err.index(f"warning: 7 file(s) or CSV row(s) of {root} were skipped and are not ranked:")
    assert [line.split(":")[0] for line in err[start + 1:start + 7]] == [
        *(f"  cat/junk_{k}.png" for k in range(5)), "  ... and 2 more"]
    assert all(line.split(": ", 1)[1].startswith("not an image") for line in err[start + 1:start + 6])
    tiny = next(i for i, line in enumerate(err) if "1 class has fewer than 5 images (01: 2)" in line)
    spelled = next(i for i, line in enumerate(err) if "'01' (2 images) / '1' (6 images)" in line)
    left_out = next(i for i, line in enumerate(err) if line.startswith("warning: zoo:no-such-model was left out"))
    assert start < left_out and tiny < left_out and spelled < left_out
    assert json.loads((tmp_path / "out" / "ranking.json").read_text())["dataset"]["skipped"] == 7


def test_skipped_csv_rows_name_their_reason(tmp_path, capsys):
    from data_helpers import write_image

    for k in range(5):
        write_image(tmp_path / f"{k}.png", seed=k)
    (tmp_path / "data.csv").write_text("path,age\n0.png,1\n1.png,2\n2.png,nan\n3.png,inf\ngone.png,5\n,6\n4.png,7\n")
    assert main(["rank", "--dataset", str(tmp_path / "data.csv"), "--models", "zoo:cnn-mnist", "--metrics", "logme",
                 "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert f"4 file(s) or CSV row(s) of {tmp_path / 'data.csv'} were skipped and are not ranked:" in err
    for line in ("  2.png: target is not a finite number", "  3.png: target is not a finite number",
                 "  data.csv:7: no path", "  gone.png: file not found"):
        assert line in err.splitlines()
    assert json.loads((tmp_path / "out" / "ranking.json").read_text())["dataset"]["size"] == 3


def test_a_failure_to_write_the_results_is_one_line_not_a_traceback(tmp_path, capsys):
    (tmp_path / "ranking.json").mkdir()  # found only when the file is written: the folder itself is writable
    assert main(["rank", "--dataset", "demo:digits", "--models", "zoo:cnn-mnist", "--limit", "30", "--metrics", "knn",
                 "--out", str(tmp_path)]) == 2
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith(f"error: could not write the results to {tmp_path} (")
    assert (tmp_path / "ranking.json").is_dir() and not list((tmp_path / "ranking.json").iterdir())


def test_ranking_json_carries_the_verdict_intervals_and_ensemble_and_stderr_the_verdict(tmp_path, capsys):
    out, report = tmp_path / "out", tmp_path / "report.html"
    code = main(["rank", "--dataset", "demo:digits", "--models", FAST_MODELS, "--limit", "60", "--metrics",
                 "logme,leep,knn", "--interval-repeats", "5", "--out", str(out), "--report", str(report)])
    assert code == 0
    payload = json.loads((out / "ranking.json").read_text())
    verdict, intervals = payload["verdict"], payload["intervals"]
    best = payload["models"][0]["model"]
    assert verdict["best"] == best and verdict["text"].startswith("cnn-mnist is the best bet")
    assert isinstance(verdict["tied_with"], list)
    assert intervals["metrics"] == payload["metrics"] and intervals["repeats"] == 5
    assert intervals["subset_size"] == 50  # round(0.8 · 6) of each of the 10 digit classes
    rows = {row["model"]: row for row in intervals["models"]}
    assert set(rows) == set(FAST_MODELS.split(","))
    low, high = rows[best]["consensus_interval"]
    assert 1 <= low <= rows[best]["consensus_median"] <= high <= 2
    assert payload["ensemble"]["models"][0] in rows and payload["ensemble"]["pca_dim"] == 32
    assert payload["notes"][0].startswith("Ties: every model was re-ranked on 5 random 80% subsets")
    err = capsys.readouterr().err
    assert verdict["text"] in err and payload["notes"][0] in err
    page = report.read_text()
    assert html.escape(verdict["text"]) in page and "Fisher projection of cnn-mnist" in page


def test_intervals_off_leave_ties_unjudged(tmp_path):
    assert main(["rank", "--dataset", "demo:digits", "--models", FAST_MODELS, "--limit", "30", "--metrics", "knn",
                 "--intervals", "off", "--out", str(tmp_path)]) == 0
    payload = json.loads((tmp_path / "ranking.json").read_text())
    assert payload["intervals"] is None and payload["verdict"]["tied_with"] is None
    assert payload["notes"] == ["Rank intervals were switched off, so the verdict makes no statement about ties."]


def test_an_unwritable_report_is_refused_before_any_model_is_loaded(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code = main(["rank", "--dataset", "demo:nosuch", "--models", "zoo:cnn-mnist", "--out", str(tmp_path / "out"),
                 "--report", str(blocker / "report.html")])
    assert code == 2 and "--report" in capsys.readouterr().err.splitlines()[-1]


def test_a_ranking_round_trips_through_its_dict_with_the_subsample_that_reloads_it(ranked):
    from transfer_core.data import load_dataset
    from transfer_core.ranking.table import Ranking

    _, out = ranked
    payload = json.loads((out / "ranking.json").read_text())
    ranking = Ranking.from_dict(payload)
    assert ranking.to_dict() == {key: payload[key] for key in ("dataset", "metrics", "models", "errors", "warnings")}
    again = load_dataset(ranking.dataset["id"], limit=ranking.dataset["limit"], seed=ranking.dataset["seed"])
    assert again.fingerprint == ranking.dataset["fingerprint"]


def test_both_engines_give_the_same_scores_and_each_row_names_its_engine(tmp_path, monkeypatch, capsys):
    """``--engine torch`` and ``--engine onnxruntime`` on fresh stores (the store serves either engine's features,
    so each run gets its own); the continuous scores agree to the engines' feature tolerance."""
    rows = {}
    for engine in ("torch", "onnxruntime"):
        monkeypatch.setenv("TRANSFER_SCOUT_CACHE", str(tmp_path / engine / "cache"))
        out = tmp_path / engine / "out"
        assert main(["rank", "--dataset", "demo:digits", "--models", FAST_MODELS, "--limit", "40", "--metrics",
                     "logme,leep", "--intervals", "off", "--engine", engine, "--out", str(out)]) == 0
        assert f"features: 2 extracted by {engine}" in capsys.readouterr().out
        rows[engine] = {row["model"]: row for row in json.loads((out / "ranking.json").read_text())["models"]}
        with open(out / "ranking.csv", newline="") as handle:
            assert {row["engine"] for row in csv.DictReader(handle)} == {engine}
    for model, by_torch in rows["torch"].items():
        by_onnx = rows["onnxruntime"][model]
        assert (by_torch["engine"], by_onnx["engine"]) == ("torch", "onnxruntime")
        for metric in ("logme", "leep"):
            assert by_onnx[metric] == pytest.approx(by_torch[metric], rel=1e-3, abs=1e-6), (model, metric)


def test_an_unknown_engine_is_refused_by_the_parser(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["rank", "--dataset", "demo:digits", "--models", FAST_MODELS, "--engine", "tensorrt",
              "--out", str(tmp_path)])
    assert exited.value.code == 2 and "invalid choice: 'tensorrt'" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["score", "rank", "validate", "models", "datasets", "cache"])
def test_every_command_prints_its_help(command, capsys):
    with pytest.raises(SystemExit) as stopped:
        main([command, "--help"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: python -m transfer_core {command}")
