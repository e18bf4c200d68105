"""Benchmark: the same rank job on the local executor and on a local Ray cluster of 1 and 2 workers, on this machine.

Every run ranks the same models on the same images from empty feature stores (driver and workers), so every model is
loaded, exported and extracted:

* ``local``: the local executor with torch's default threads (what ``rank`` runs), and with 1 thread (the same thread
  count as one Ray worker, so the difference to ``ray, 1 worker`` is Ray's cost);
* ``ray, N workers``: a Ray cluster started here with N CPUs (``ray.init(num_cpus=N)``), one task per model on
  1 CPU each (Ray gives each worker one thread).

Measured as well, on the warm 2-worker cluster: the round trip of an empty task (submission to result), starting the
workers (Python, torch and this package imported; once per worker, before the job) and the overhead of one extraction
task without its compute: a task that receives the pickled dataset and returns a zero feature matrix of the job's
shape, and of the projected shape (50 000 × D). The projection to 100 checkpoints × 50 000 images on W workers is
``ceil(100 / W) × (50 000 × seconds per image + load + overhead)`` with the per-image and load seconds of the local
1-thread run.
Scores of every run are compared with the local run's (largest relative difference).

Results: docs/bench-ray.md.

    python bench/ray_scaling.py                       # 4 zoo models x 200 textile photos (a few minutes on 2 cores)
    python bench/ray_scaling.py --limit 60 --models zoo:cnn-mnist,zoo:cnn-mnist-random --dataset demo:digits
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import machine_line  # noqa: E402

MODELS = ("zoo:mobilenetv2-imagenet,zoo:efficientnet-lite0-imagenet,zoo:mobilenetv2-dogbreeds,"
          "zoo:mobilenetv2-imagenet-random")
METRICS = ["logme", "leep", "knn", "hscore", "sfda"]
PROJECTED_MODELS, PROJECTED_IMAGES = 100, 50_000


def rank_job(dataset, models: list[str], executor, store_root: Path):
    """rank_dataset from an empty store; (wall seconds, ranking)."""
    from transfer_core.cache.store import FeatureStore
    from transfer_core.ranking.pipeline import rank_dataset

    started = time.perf_counter()
    ranking = rank_dataset(dataset, models, metrics=METRICS, store=FeatureStore(store_root), executor=executor)
    return time.perf_counter() - started, ranking


def local_run(dataset, models, threads: int | None):
    import torch

    from transfer_core.executors.local import LocalExecutor

    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        with tempfile.TemporaryDirectory() as root:
            return rank_job(dataset, models, LocalExecutor(), Path(root))
    finally:
        torch.set_num_threads(before)


def ray_run(dataset, models, workers: int):
    """The job on a fresh local cluster of ``workers`` CPUs whose workers were started (and imported this package)
    first; (job outcome, task latencies)."""
    import ray

    from transfer_core.executors.ray_executor import RayExecutor

    ray.init(address="local", num_cpus=workers, include_dashboard=False, log_to_driver=False,
             logging_level="ERROR")
    try:
        with tempfile.TemporaryDirectory() as root, RayExecutor(worker_store=Path(root) / "workers") as executor:
            started = time.perf_counter()
            executor.map(_import_everything, list(range(workers)))
            cold = time.perf_counter() - started
            outcome = rank_job(dataset, models, executor, Path(root) / "driver")
            dim = outcome[1].models[0].feature_dim
            latencies = {"cold_start": cold, "round_trip": round_trip(executor),
                         "task": task_overhead(executor, dataset, dataset.size, dim),
                         "projected_task": task_overhead(executor, dataset, PROJECTED_IMAGES, dim)}
        return outcome, latencies
    finally:
        ray.shutdown()


def round_trip(executor) -> float:
    """Median round trip of an empty task on warm workers (submission to result)."""
    executor.map(_nothing, list(range(4)))
    round_trips = []
    for _ in range(30):
        started = time.perf_counter()
        executor.map(_nothing, [0])
        round_trips.append(time.perf_counter() - started)
    return statistics.median(round_trips)


def task_overhead(executor, dataset, rows: int, dim: int) -> float:
    """Median round trip of a task that unpickles ``dataset`` and returns ``rows`` × ``dim`` float32 zeros."""
    import cloudpickle

    payload = cloudpickle.dumps(dataset)
    times = []
    for _ in range(5):
        started = time.perf_counter()
        executor.map(_features_of_nothing, [(payload, rows, dim)])
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _features_of_nothing(item):
    import pickle

    import numpy as np

    payload, rows, dim = item
    pickle.loads(payload)
    return np.zeros((rows, dim), np.float32)


def _nothing(value):
    return value


def _import_everything(_item):
    import transfer_core.features  # noqa: F401 - what a fresh worker imports before its first extraction

    return os.getpid()


def largest_difference(ranking, reference) -> float:
    """The largest relative difference of any score from the reference ranking's."""
    worst = 0.0
    for row in reference.models:
        other = ranking.row(row.model)
        for metric in reference.metrics:
            a, b = row.score(metric), other.score(metric)
            if a is None or b is None:
                worst = max(worst, 0.0 if a is b else math.inf)
            else:
                worst = max(worst, abs(a - b) / max(abs(a), 1e-12))
    return worst


def main(argv=None) -> int:
    from transfer_core.data import load_dataset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="demo")
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--models", default=MODELS)
    args = parser.parse_args(argv)
    machine = machine_line()
    dataset = load_dataset(args.dataset, limit=args.limit)
    models = args.models.split(",")
    local_run(dataset, models, None)  # imports, first calls and the weights files read once, untimed
    runs = {"local (default threads)": local_run(dataset, models, None),
            "local (1 thread)": local_run(dataset, models, 1)}
    runs["ray, 1 worker"], single = ray_run(dataset, models, 1)
    runs["ray, 2 workers"], latencies = ray_run(dataset, models, 2)
    reference = runs["local (default threads)"][1]
    print(f"# {len(models)} models x {dataset.size} images of {dataset.dataset_id}; {machine}")
    print("| run | wall seconds | vs local | largest relative score difference | ranked |")
    print("|---|---:|---:|---:|---:|")
    for name, (seconds, ranking) in runs.items():
        print(f"| {name} | {seconds:.1f} | {seconds / runs['local (default threads)'][0]:.2f}x | "
              f"{largest_difference(ranking, reference):.1e} | {len(ranking.models)} |")
    overhead, projected_overhead = latencies["task"], latencies["projected_task"]
    per_model = runs["local (1 thread)"][0] / len(models)
    extract = [row.extract_seconds for row in runs["local (1 thread)"][1].models]
    per_image = sum(extract) / len(extract) / dataset.size
    load = max(per_model - sum(extract) / len(extract), 0.0)
    print(f"\nempty task round trip (warm workers): {latencies['round_trip'] * 1000:.1f} ms; starting the workers "
          f"(Python, torch and transfer_core imported, before the job): {single['cold_start']:.1f} s for 1, "
          f"{latencies['cold_start']:.1f} s for 2")
    print(f"overhead of one extraction task without its compute (dispatch, dataset in, features out): "
          f"{overhead * 1000:.0f} ms at {dataset.size} images, {projected_overhead:.2f} s at {PROJECTED_IMAGES}")
    print(f"local 1 thread: {per_model:.1f} s per model "
          f"({per_image * 1000:.1f} ms per image extracting, {load:.1f} s the rest: load, export, scoring)")
    task = PROJECTED_IMAGES * per_image + load + projected_overhead
    print(f"\nprojection, {PROJECTED_MODELS} checkpoints x {PROJECTED_IMAGES} images at the measured per-image cost "
          f"(one CPU per task): one task {task / 60:.1f} min, {projected_overhead / task:.2%} of it Ray's overhead")
    for workers in (1, 2, 16, 64, 100):
        rounds = math.ceil(PROJECTED_MODELS / workers)
        print(f"- {workers} workers: {rounds} round(s), {rounds * task / 3600:.1f} h")
    print(f"- features returned to the driver: {PROJECTED_MODELS} x {PROJECTED_IMAGES} x "
          f"{reference.models[0].feature_dim} float32 = "
          f"{PROJECTED_MODELS * PROJECTED_IMAGES * reference.models[0].feature_dim * 4 / 2**30:.1f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
