"""bench/groundtruth.py completing a recorded fine-tuning study: the recorded results are kept verbatim, only the
models the file lacks are fine-tuned, and a file recorded under another protocol is refused."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.groundtruth import main  # noqa: E402

JOB = ["--datasets", "demo:digits", "--limit", "60", "--metrics", "logme,leep", "--finetune", "--epochs", "1",
       "--lrs", "0.01"]
RECORDED = "demo-digits-60.finetune.json"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    out = tmp_path_factory.mktemp("recorded")
    assert main([*JOB, "--models", "zoo:cnn-mnist", "--out", str(out)]) == 0
    return out / RECORDED


def results(path: Path) -> dict:
    return {row["model_id"]: row for row in json.loads(path.read_text())["results"]}


def test_completing_keeps_the_recorded_results_and_fine_tunes_only_the_missing_model(recorded, tmp_path):
    assert main([*JOB, "--models", "zoo:cnn-mnist,zoo:cnn-mnist-random", "--finetune-from", str(recorded),
                 "--out", str(tmp_path)]) == 0
    before, after = results(recorded), results(tmp_path / RECORDED)
    assert list(after) == ["zoo:cnn-mnist", "zoo:cnn-mnist-random"]
    assert after["zoo:cnn-mnist"] == before["zoo:cnn-mnist"]  # verbatim: not a cache hit of a new fine-tuning
    assert after["zoo:cnn-mnist-random"]["protocol"]["epochs"] == 1
    evaluation = json.loads((tmp_path / "demo-digits-60.evaluation.json").read_text())
    assert evaluation["completed_from"]["finetune"] == str(recorded)
    assert "recorded_groundtruth" not in evaluation


def test_completing_under_another_protocol_is_refused(recorded, tmp_path):
    job = [option if option != "1" else "2" for option in JOB]  # two epochs instead of one
    with pytest.raises(SystemExit, match="another protocol"):
        main([*job, "--models", "zoo:cnn-mnist,zoo:cnn-mnist-random", "--finetune-from", str(recorded),
              "--out", str(tmp_path)])
    assert not (tmp_path / RECORDED).exists()
