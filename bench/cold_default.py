"""Benchmark: the app's one-click default cold on a CPU, before and after issue 11, side by side in one run.

Each run gets an empty feature store (a temporary folder), so every model is loaded, exported (ONNX Runtime) and
extracted as on a fresh machine: the embedded default dataset (about 1 000 textile photos), the default CPU models and
metrics, rank intervals as the app draws them.

* ``torch``: ``rank_run`` with ``engine="torch"`` and every model decoding every image itself in batches of 64 (what
  the app ran before issue 11: eager torch, no anytime, no shared decoding);
* ``torch-today``: ``rank_run`` with ``engine="torch"`` and today's local executor (decoding once per group of models
  sharing a preprocessing, the CPU's batch size and loader processes of ``config.extraction_defaults``), no anytime:
  how much of the gain the engine does not explain;
* ``anytime``: ``rank_anytime`` with ``engine="auto"`` (ONNX Runtime on a CPU) and the local executor on the default
  slices: when each provisional ranking of every model was there, and the final one.

CPU seconds (this process's threads and its loader processes) are the steadier measure on a shared machine.

Targets: the full anytime ranking in ≤ 30 % of the torch run's time, the first provisional ranking within 20 % of the
full anytime run. Results: docs/bench-cold.md and assets/bench/cold-default.json (the Rank page quotes it).

    python bench/cold_default.py                 # the three runs (about 15 minutes on 2 quiet cores)
    python bench/cold_default.py --limit 200     # quick look
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


RUNS = ("torch", "torch-today", "anytime")
BEFORE_BATCH_SIZE = 64  # the extraction's batch size on every device before the CPU's became 16


class OneModelAtATime:
    """The extraction before issue 11's decode-once, as the baseline: every model decodes and preprocesses every image
    itself, in the calling thread, in batches of 64 (``extract_by_id`` per model, ``num_workers=0``)."""

    def extract(self, model_ids, dataset, *, progress=None, **how):
        from transfer_core.executors import Extracted
        from transfer_core.features import extract_by_id

        for model_id in model_ids:
            try:
                yield Extracted(model_id, *extract_by_id(model_id, dataset, batch_size=BEFORE_BATCH_SIZE,
                                                         num_workers=0, **how))
            except Exception as error:  # noqa: BLE001 - reported as the local executor does
                yield Extracted(model_id, None, None, error)


def cpu_seconds() -> float:
    """CPU time of this process (all threads) and its finished children (loader processes)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def timed_runs(dataset, models: list[str], metrics: list[str], runs: list[str]) -> dict:
    """Wall and CPU seconds of each run on its own empty store; for anytime also each slice's (images, seconds)."""
    from transfer_core.cache.store import FeatureStore
    from transfer_core.ranking.anytime import rank_anytime
    from transfer_core.ranking.run import rank_run

    results = {}
    for name in runs:
        with tempfile.TemporaryDirectory() as root:
            store = FeatureStore(Path(root) / "cache")
            os.environ["TRANSFER_SCOUT_CACHE"] = str(store.root)  # manifests and graphs go there too
            started, cpu, provisionals = time.perf_counter(), cpu_seconds(), []
            if name == "torch":
                run = rank_run(dataset, models, metrics=metrics, store=store, engine="torch",
                               executor=OneModelAtATime())
            elif name == "torch-today":
                run = rank_run(dataset, models, metrics=metrics, store=store, engine="torch")
            else:
                run = rank_anytime(dataset, models, metrics=metrics, store=store, engine="auto",
                                   on_slice=provisionals.append)
            results[name] = {"seconds": time.perf_counter() - started, "cpu_seconds": cpu_seconds() - cpu,
                             "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                             "slices": [(item.images, item.seconds) for item in provisionals],
                             "models": len(run.ranking.models), "errors": dict(run.ranking.errors),
                             "best": run.ranking.models[0].model if run.ranking.models else None,
                             "engines": sorted({row.engine for row in run.ranking.models})}
        print(f"{name}: {results[name]['seconds']:.0f} s", file=sys.stderr)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="images (default: the embedded default's 1 000)")
    parser.add_argument("--runs", default=",".join(RUNS), help=f"comma-separated, of {', '.join(RUNS)}")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bench-cold.md")
    parser.add_argument("--json", type=Path, default=ROOT / "assets" / "bench" / "cold-default.json")
    args = parser.parse_args()
    runs = args.runs.split(",")
    if set(runs) - set(RUNS):
        parser.error(f"--runs takes names of {', '.join(RUNS)}, got {args.runs!r}")

    from bench.machine import machine_line
    from transfer_core.app_state import DEFAULT_METRICS
    from transfer_core.cache.atomic import atomic_write_text
    from transfer_core.data import load_dataset
    from transfer_core.models import default_zoo_ids

    machine = machine_line()
    dataset = load_dataset("demo", limit=args.limit)
    models, metrics = default_zoo_ids(include_slow=False), list(DEFAULT_METRICS)
    results = timed_runs(dataset, models, metrics, runs)
    lines = ["# The one-click default, cold, on a CPU", "",
             f"Measured by `python bench/cold_default.py{f' --limit {args.limit}' if args.limit else ''}` on "
             f"{machine}.",
             "", f"{dataset.size} images of the embedded default, {len(models)} models, metrics {', '.join(metrics)}, "
             "rank intervals as the app draws them (every metric, 20 subsets); each run on an empty feature store.", "",
             "| run | engine(s) | wall seconds | ratio to torch | CPU seconds | ratio to torch | process peak RSS "
             "so far |", "|---|---|---:|---:|---:|---:|---:|"]
    base = results.get("torch", {})
    for name, result in results.items():
        ratio = f"{result['seconds'] / base['seconds']:.2f}" if base else "–"
        cpu_ratio = f"{result['cpu_seconds'] / base['cpu_seconds']:.2f}" if base else "–"
        lines.append(f"| {name} | {', '.join(result['engines'])} | {result['seconds']:.0f} | {ratio} | "
                     f"{result['cpu_seconds']:.0f} | {cpu_ratio} | {result['peak_rss_bytes'] / 2**30:.1f} GiB |")
    lines += ["", f"Load average (1, 5, 15 min) at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}."]
    if "anytime" in results:
        anytime = results["anytime"]
        lines += ["", "Anytime slices (when the provisional ranking of every model was complete):", "",
                  "| images | seconds | share of the full anytime run |", "|---:|---:|---:|"]
        lines += [f"| {images} | {seconds:.0f} | {seconds / anytime['seconds']:.0%} |"
                  for images, seconds in anytime["slices"]]
    for name, result in results.items():
        if result["errors"]:
            lines.append(f"\n{name}: models left out: {result['errors']}")
    atomic_write_text(args.out, "\n".join(lines) + "\n")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.json, json.dumps({"machine": machine, "images": dataset.size, "models": len(models),
                                             "runs": results}, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
