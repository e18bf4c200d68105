"""The Ray executor against a real local Ray cluster (tests/ray_cluster.py): the same features as the local
executor, a worker killed mid-extraction retried to a complete result, a failing model reported, mapped units in
order, fine-tuning ground truth equal to the local one, and no Ray on the default path."""

import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from ray_cluster import REPO, extracting_workers, free_port

from data_helpers import write_class_folder
from transfer_core.cache.store import FeatureStore
from transfer_core.cli import main
from transfer_core.data import load_dataset
from transfer_core.errors import InvalidInputError
from transfer_core.evidence.validation import groundtruth_for, load_ranking
from transfer_core.executors import make_executor
from transfer_core.executors.local import LocalExecutor
from transfer_core.features import cached_extraction
from transfer_core.groundtruth import FineTuneProtocol, GroundTruthError

MODELS = ["zoo:cnn-mnist", "zoo:cnn-mnist-random"]


@pytest.fixture
def ray_executor(ray_cluster, tmp_path):
    """A Ray executor connected from this process; its workers extract into a fresh store of their own."""
    from transfer_core.executors.ray_executor import RayExecutor

    with RayExecutor(address=ray_cluster.address, worker_store=tmp_path / "workers") as executor:
        yield executor


def local_features(models, dataset, root):
    return {item.model_id: item for item in LocalExecutor().extract(models, dataset, store=FeatureStore(root))}


def test_ray_features_equal_local_ones_and_land_in_the_driver_store(ray_executor, tmp_path):
    dataset = load_dataset("demo:digits", limit=120)
    store = FeatureStore(tmp_path / "driver")
    reports = []
    extracted = {item.model_id: item for item in ray_executor.extract(
        [*MODELS, "zoo:no-such-model"], dataset, store=store, progress=lambda *call: reports.append(call))}
    local = local_features([*MODELS, "zoo:no-such-model"], dataset, tmp_path / "local")
    for model in MODELS:
        ray, here = extracted[model].result, local[model].result
        assert not ray.cache_hit and ray.features.shape == here.features.shape == (120, 256)
        np.testing.assert_allclose(ray.features, here.features, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ray.source_probs, here.source_probs, rtol=1e-5, atol=1e-7)
        assert extracted[model].manifest == local[model].manifest
        # written into the driver's store: a second run reads it there, without Ray and without loading the model
        again = cached_extraction(model, dataset, store)
        assert again is not None and again.result.cache_hit
        np.testing.assert_array_equal(again.result.features, ray.features)
    failed = extracted["zoo:no-such-model"]
    assert failed.result is None and type(failed.error) is type(local["zoo:no-such-model"].error)
    assert str(failed.error) == str(local["zoo:no-such-model"].error)
    assert {call[0] for call in reports if call[1:3] == (120, 120)} == {0, 1}  # each model reported done
    assert all(0 <= done <= total == 120 for _, done, total, _ in reports)


def test_a_worker_killed_mid_extraction_is_retried_to_a_complete_equal_result(ray_executor, tmp_path):
    dataset = load_dataset("demo:digits", limit=320)  # five batches of a MobileNetV2: seconds on one core
    model, killed, later_workers = "zoo:mobilenetv2-dogbreeds", [], set()

    def kill_once(index, done, total, eta):
        if killed:
            later_workers.update(extracting_workers())
        elif 0 < done < total:  # a batch is done, the others are not
            (pid,) = extracting_workers()
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    (item,) = ray_executor.extract([model], dataset, store=FeatureStore(tmp_path / "driver"), engine="torch",
                                   progress=kill_once)
    assert killed and item.error is None, item.error
    assert later_workers and killed[0] not in later_workers  # another worker ran the task again
    (here,) = LocalExecutor().extract([model], dataset, store=FeatureStore(tmp_path / "local"), engine="torch")
    assert item.result.features.shape == here.result.features.shape == (320, 1280)
    np.testing.assert_allclose(item.result.features, here.result.features, rtol=1e-4, atol=1e-5)


def test_a_worker_that_cannot_see_the_images_says_where_they_must_be(ray_executor, tmp_path):
    dataset = load_dataset(str(write_class_folder(tmp_path / "images", {"a": 3, "b": 3})))
    for image in (tmp_path / "images").rglob("*.png"):
        image.unlink()  # what a node without the shared filesystem sees
    (item,) = ray_executor.extract(["zoo:cnn-mnist"], dataset, store=FeatureStore(tmp_path / "driver"))
    assert item.result is None and "img_000.png" in str(item.error) and "could not be loaded" in str(item.error)
    assert "every node must see the dataset's files at the same path as the driver" in str(item.error)


def test_map_keeps_the_order_and_raises_the_functions_own_error(ray_executor):
    assert ray_executor.map(lambda value: value * value, [3, 1, 2]) == [9, 1, 4]
    assert ray_executor.map(len, []) == []

    def fails_on_two(value):
        if value == 2:
            raise GroundTruthError(f"no ground truth for {value}")
        return value

    with pytest.raises(GroundTruthError, match="no ground truth for 2"):
        ray_executor.map(fails_on_two, [1, 2, 3])


def test_executor_settings(ray_cluster, tmp_path):
    from transfer_core.executors.ray_executor import RayConnectionError

    with make_executor("ray", address=ray_cluster.address) as executor:
        assert executor.gpus_per_task == 0  # the test cluster has no GPU
    with pytest.warns(UserWarning, match="has no GPU now"), make_executor("ray", address=ray_cluster.address,
                                                                         gpus_per_task=0.5) as executor:
        assert executor.gpus_per_task == 0.5
    with pytest.raises(InvalidInputError, match="GPUs per task must be a number >= 0"):
        make_executor("ray", address=ray_cluster.address, gpus_per_task=-1)
    closed = f"127.0.0.1:{free_port()}"
    with pytest.raises(RayConnectionError, match=f"no Ray cluster is reachable at {closed}"):
        make_executor("ray", address=closed)


def test_a_dataset_too_large_for_the_object_store_is_refused_before_any_task(ray_executor, tmp_path, monkeypatch):
    from transfer_core.executors import ray_executor as module

    monkeypatch.setattr(module, "DATASET_PAYLOAD_LIMIT", 1000)
    with pytest.raises(InvalidInputError, match="shared|same path"):
        list(ray_executor.extract(MODELS, load_dataset("demo:digits", limit=30), store=FeatureStore(tmp_path)))


@pytest.fixture(scope="module")
def ranking(tmp_path_factory):
    out = tmp_path_factory.mktemp("ray-ranking")
    assert main(["rank", "--dataset", "demo:digits", "--models", ",".join([*MODELS, "zoo:mobilenetv2-dogbreeds"]),
                 "--limit", "60", "--metrics", "logme,knn", "--out", str(out)]) == 0
    return load_ranking(out)


def test_finetuning_groundtruth_on_ray_equals_the_local_one(ray_executor, ranking, tmp_path, monkeypatch):
    protocol = FineTuneProtocol(trainable="head", epochs=1, min_steps=0, learning_rates=(0.01, 0.001))
    mapped = []

    def map_points(fn, items):
        mapped.append(list(items))
        return ray_executor.map(fn, items)

    monkeypatch.setenv("TRANSFER_SCOUT_CACHE", str(tmp_path / "ray-run"))  # the driver's run store: empty
    on_ray = groundtruth_for(ranking, "finetune", protocol=protocol, device="cpu", map_points=map_points)
    assert len(mapped) == 3 and all(len(items) == 2 for items in mapped)  # every model's grid ran on Ray
    monkeypatch.setenv("TRANSFER_SCOUT_CACHE", str(tmp_path / "local-run"))
    local = groundtruth_for(ranking, "finetune", protocol=protocol, device="cpu")
    assert set(on_ray[1]) == set(local[1]) == set(ranking.model_ids)
    assert on_ray[1] == pytest.approx(local[1], abs=1e-9)
    for model in ranking.model_ids:
        assert on_ray[2][model]["selected"] == local[2][model]["selected"]


def test_the_default_path_never_imports_ray(tmp_path):
    code = ("import sys\nfrom transfer_core.cli import main\n"
            f"assert main(['rank', '--dataset', 'demo:digits', '--models', 'zoo:cnn-mnist', '--limit', '30', "
            f"'--metrics', 'knn', '--intervals', 'off', '--out', {str(tmp_path)!r}]) == 0\n"
            "assert 'ray' not in sys.modules, 'ray was imported'\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr[-2000:]
