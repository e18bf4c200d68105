"""``rank`` and ``validate`` with ``--executor ray`` in processes of their own, against the real local Ray cluster
(tests/ray_cluster.py): the same files and scores as the local executor, a failing model reported, an unreachable
address a one-line error with exit 2, and Ctrl-C cancelling the remote tasks with nothing written."""

import csv
import json
import re
import signal
import threading
import time

import pytest
from ray_cluster import cli, extracting_workers, free_port

from data_helpers import write_image

MODELS = "zoo:cnn-mnist,zoo:cnn-mnist-random,zoo:mobilenetv2-dogbreeds"
RANK = ["rank", "--dataset", "demo:digits", "--limit", "60", "--metrics", "logme,leep,knn,hscore",
        "--interval-repeats", "5"]
TIMED = {"extract_seconds"}


def finished(process, timeout=600):
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


@pytest.fixture(scope="module")
def rankings(ray_cluster, tmp_path_factory):
    """The same rank job (with a model that does not exist) locally and on Ray, each with an empty store."""
    runs = {}
    for executor in ("local", "ray"):
        root = tmp_path_factory.mktemp(f"rank-{executor}")
        extra = ["--ray-address", ray_cluster.address] if executor == "ray" else []
        process = cli(*RANK, "--models", f"{MODELS},zoo:no-such-model", "--out", str(root / "out"),
                      "--executor", executor, *extra, env={"TRANSFER_SCOUT_CACHE": str(root / "store")})
        runs[executor] = (root / "out", *finished(process))
    return runs


def test_rank_on_ray_writes_the_local_files_with_equal_scores(rankings):
    for _, code, _, err in rankings.values():
        assert code == 0, err[-3000:]
        assert "zoo:no-such-model was left out: ModelLoadError: unknown zoo model 'no-such-model'" in err
    local, ray = (json.loads((rankings[name][0] / "ranking.json").read_text()) for name in ("local", "ray"))
    assert ray.keys() == local.keys() and ray["dataset"] == local["dataset"] and ray["errors"] == local["errors"]
    assert [row["model"] for row in ray["models"]] == [row["model"] for row in local["models"]]
    for ray_row, local_row in zip(ray["models"], local["models"]):
        assert ray_row.keys() == local_row.keys() and not ray_row["cache_hit"]
        for key, value in local_row.items():
            if isinstance(value, float) and key not in TIMED:
                assert ray_row[key] == pytest.approx(value, rel=1e-5, abs=1e-7), key
            elif key not in TIMED:
                assert ray_row[key] == value, key
    assert ray["verdict"]["best"] == local["verdict"]["best"]
    headers = []
    for name in ("local", "ray"):
        with open(rankings[name][0] / "ranking.csv", newline="") as handle:
            headers.append(next(csv.reader(handle)))
    assert headers[0] == headers[1]


def test_validate_on_ray_gives_the_local_probe_groundtruth(rankings, ray_cluster, tmp_path):
    results = {}
    for executor in ("local", "ray"):
        extra = ["--ray-address", ray_cluster.address] if executor == "ray" else []
        code, _, err = finished(cli("validate", "--ranking", str(rankings["local"][0]), "--groundtruth", "probe",
                                    "--out", str(tmp_path / executor), "--executor", executor, *extra,
                                    env={"TRANSFER_SCOUT_CACHE": str(rankings[executor][0].parent / "store")}))
        assert code == 0, err[-3000:]
        results[executor] = json.loads((tmp_path / executor / "validation.json").read_text())
    assert set(results["ray"]["accuracies"]) == set(MODELS.split(","))
    assert results["ray"]["accuracies"] == pytest.approx(results["local"]["accuracies"], abs=1e-9)
    assert [row["metric"] for row in results["ray"]["evaluation"]] == [
        row["metric"] for row in results["local"]["evaluation"]]


@pytest.mark.parametrize("how", ["option", "environment"])
def test_an_unreachable_address_is_one_line_and_exit_2(tmp_path, how):
    closed = f"127.0.0.1:{free_port()}"
    options, env = (["--ray-address", closed], {}) if how == "option" else ([], {"RAY_ADDRESS": closed})
    started = time.monotonic()
    code, _, err = finished(cli(*RANK, "--models", "zoo:cnn-mnist", "--out", str(tmp_path), "--executor", "ray",
                                *options, env=env), timeout=120)
    assert code == 2
    assert err.strip().splitlines()[-1].startswith(f"error: no Ray cluster is reachable at {closed}")
    assert "ray start --head" in err and time.monotonic() - started < 60


def test_ctrl_c_cancels_the_remote_tasks_and_writes_nothing(ray_cluster, tmp_path):
    """On images no other test extracts (so the workers' store holds none of their rows and the task is long),
    SIGINT once the task has reported its first images, while three quarters of them are still to do."""
    from transfer_core.cache.store import FeatureStore

    for k in range(IMAGES):
        write_image(tmp_path / "photos" / f"class-{k % 2}" / f"{k:04d}.png", seed=CTRL_C_SEED + k, size=(64, 64))
    process = cli("rank", "--dataset", str(tmp_path / "photos"), "--models", "zoo:mobilenetv2-dogbreeds",
                  "--engine", "torch", "--out", str(tmp_path / "out"), "--executor", "ray", "--ray-address",
                  ray_cluster.address, env={"TRANSFER_SCOUT_CACHE": str(tmp_path / "store")}, interruptible=True)
    stderr = _Reader(process.stderr)
    deadline = time.monotonic() + 180
    while not (extracting_workers(ray_cluster) and 0 < stderr.images_done() < IMAGES // 4):
        assert process.poll() is None and time.monotonic() < deadline, f"no progress reported: {stderr.text()[-2000:]}"
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    process.wait(timeout=60)
    stderr.thread.join(timeout=10)
    assert process.returncode != 0 and "KeyboardInterrupt" in stderr.text()
    deadline = time.monotonic() + 20
    while extracting_workers(ray_cluster) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert extracting_workers(ray_cluster) == []  # the task was cancelled, not left running
    assert FeatureStore(tmp_path / "store").usage().entries == 0 and not (tmp_path / "out" / "ranking.json").exists()


IMAGES = 4000  # a warm worker extracts these 64 x 64 photos at ~300 a second: seconds left after the signal
CTRL_C_SEED = 70_000  # no other test writes images from these seeds


class _Reader:
    """A process's stderr read on a thread as it comes (tqdm redraws its bar with carriage returns)."""

    def __init__(self, stream):
        self.chunks: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream) -> None:
        while chunk := stream.read(1):
            self.chunks.append(chunk)

    def text(self) -> str:
        return "".join(self.chunks)

    def images_done(self) -> int:
        """The count of the last drawn extraction bar (``model 1/1:  12%|…| 96/800 …``), 0 before the first."""
        counts = re.findall(rf"(\d+)/{IMAGES} ", self.text())
        return int(counts[-1]) if counts else 0


def test_an_anytime_ranking_on_ray_ends_on_the_plain_local_ranking(ray_cluster, tmp_path):
    job = ["rank", "--dataset", "demo:digits", "--limit", "120", "--models", "zoo:cnn-mnist,zoo:cnn-mnist-random",
           "--metrics", "logme,leep,knn", "--intervals", "off"]
    ray = ["--anytime", "--executor", "ray", "--ray-address", ray_cluster.address]
    for name, options in (("ray", ray), ("local", [])):
        code, _, err = finished(cli(*job, *options, "--out", str(tmp_path / name),
                                    env={"TRANSFER_SCOUT_CACHE": str(tmp_path / f"store-{name}")}))
        assert code == 0, err[-3000:]
    slices = (tmp_path / "ray" / "progress.jsonl").read_text().splitlines()
    assert len(slices) >= 2 and json.loads(slices[-1])["images"] == 120
    ray, local = (json.loads((tmp_path / name / "ranking.json").read_text())["models"] for name in ("ray", "local"))
    assert [row["model"] for row in ray] == [row["model"] for row in local]
    for ray_row, local_row in zip(ray, local):
        for metric in ("logme", "leep", "knn"):
            assert ray_row[metric] == pytest.approx(local_row[metric], rel=1e-5, abs=1e-7)
