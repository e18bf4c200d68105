"""Benchmark: the batch size and loader processes of a CPU extraction, through the local executor as a ranking runs it.

The default CPU models (``default_zoo_ids(include_slow=False)``) on ``--images`` textile photos of the embedded default,
ONNX Runtime (``engine="auto"`` on a CPU), each setting ``(batch size, loader processes)`` on the same store with its
exported graphs cached and its features forgotten before every run, so every run decodes and computes every image
(the models are loaded again in each run, as a new ranking does). Rounds interleave the settings; the best of
``--repeats`` is reported with its CPU seconds. ``config.extraction_defaults`` is chosen from this table.

    python bench/extraction_settings.py                         # 400 images, the settings below, 2 rounds
    python bench/extraction_settings.py --images 200 --repeats 1
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SETTINGS = ((64, 1), (64, 0), (32, 0), (16, 0), (8, 0), (16, 1))  # (batch size, loader processes); 64 + 1 was the old


def timed(executor, models: list[str], dataset, store) -> tuple[float, float]:
    """Wall and CPU seconds (this process and its finished loader processes) of one extraction of every model."""
    from bench.cold_default import cpu_seconds

    started, cpu = time.perf_counter(), cpu_seconds()
    items = list(executor.extract(models, dataset, store=store, device="cpu"))
    failed = [item.model_id for item in items if item.error is not None]
    if failed or any(item.result.cache_hit for item in items):
        raise SystemExit(f"the run did not extract every model afresh (failed: {failed})")
    return time.perf_counter() - started, cpu_seconds() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bench-extraction-settings.md")
    args = parser.parse_args()

    from bench.extraction import forget_features
    from bench.machine import machine_line
    from transfer_core.cache.atomic import atomic_write_text
    from transfer_core.cache.store import FeatureStore
    from transfer_core.config import extraction_defaults
    from transfer_core.data import load_dataset
    from transfer_core.executors.local import LocalExecutor
    from transfer_core.models import default_zoo_ids

    machine, models = machine_line(), default_zoo_ids(include_slow=False)
    dataset = load_dataset("demo", limit=args.images)
    best: dict[tuple[int, int], tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as root:
        store = FeatureStore(Path(root) / "cache")
        os.environ["TRANSFER_SCOUT_CACHE"] = str(store.root)  # manifests and graphs go there too
        list(LocalExecutor().extract(models, load_dataset("demo", limit=40), store=store, device="cpu"))  # graphs
        for _ in range(args.repeats):
            for batch, workers in SETTINGS:
                forget_features(store)
                wall, cpu = timed(LocalExecutor(batch_size=batch, num_workers=workers), models, dataset, store)
                print(f"batch {batch}, loader processes {workers}: {wall:.1f} s ({cpu:.0f} CPU s)", flush=True)
                if (batch, workers) not in best or wall < best[batch, workers][0]:
                    best[batch, workers] = (wall, cpu)
    default = extraction_defaults("cpu")
    base = best[SETTINGS[0]][0]
    lines = ["# Batch size and loader processes of a CPU extraction", "",
             f"`python bench/extraction_settings.py --images {args.images} --repeats {args.repeats}` on {machine}.", "",
             f"{len(models)} default CPU models (ONNX Runtime) × {dataset.size} textile photos through the local "
             "executor, graphs cached, features forgotten before each run; best of "
             f"{args.repeats} interleaved rounds. Load average (1 min) at the end {os.getloadavg()[0]:.1f}.", "",
             "| batch size | loader processes | wall seconds | CPU seconds | vs 64 + 1 loader (before) |",
             "|---:|---:|---:|---:|---:|"]
    for setting in SETTINGS:
        wall, cpu = best[setting]
        mark = " (the CPU default now)" if setting == default else ""
        lines.append(f"| {setting[0]} | {setting[1]}{mark} | {wall:.1f} | {cpu:.0f} | {wall / base:.2f} |")
    atomic_write_text(args.out, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
