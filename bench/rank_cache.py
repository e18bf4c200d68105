"""Benchmark: wall time and peak memory of ``python -m transfer_core rank`` cold (empty feature store) and again with
everything cached (target: cached ≥ 50× faster), each as a fresh process as a user runs it.

Both runs use one temporary store (``TRANSFER_SCOUT_CACHE``), so the first extracts every model's features and
writes them with the models' manifests, and the second reads both without loading any model. The two rankings
must agree on every score. Results go to docs/bench-rank-cache.md.

    python bench/rank_cache.py                                            # zoo on demo, 300 images: ~20 min cold
    python bench/rank_cache.py --models zoo:cnn-mnist,zoo:cnn-mnist-random --dataset demo:digits --limit 100
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOT_SCORES = {"model", "card", "extract_seconds", "cache_hit"}


def run_rank(args: argparse.Namespace, store: Path, out: Path) -> dict:
    """One ``rank`` process: wall seconds, peak resident memory, and the ranking it wrote."""
    command = [sys.executable, "-m", "transfer_core", "rank", "--dataset", args.dataset, "--models", args.models,
               "--metrics", args.metrics, "--out", str(out)] + (["--limit", str(args.limit)] if args.limit else [])
    environment = {**os.environ, "TRANSFER_SCOUT_CACHE": str(store)}
    started = time.perf_counter()
    with tempfile.TemporaryFile(mode="w+") as errors:
        process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(process.pid, 0)  # this process's own rusage: its peak resident memory
        seconds = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status):
            errors.seek(0)
            raise SystemExit(f"rank failed: {errors.read()[-2000:]}")
    return {"seconds": seconds, "ranking": json.loads((out / "ranking.json").read_text()),
            "peak_bytes": usage.ru_maxrss * 1024}  # Linux reports KiB


def same_scores(cold: dict, cached: dict) -> bool:
    """Every model and every score of the two rankings are equal (NaN-free JSON numbers or nulls)."""
    def scores(ranking):
        return {row["model"]: {key: value for key, value in row.items() if key not in NOT_SCORES}
                for row in ranking["models"]}

    return scores(cold) == scores(cached) and cold["errors"] == cached["errors"]


def report(args: argparse.Namespace, cold: dict, cached: dict) -> str:
    models = cold["ranking"]["models"]
    hits = sum(row["cache_hit"] for row in cached["ranking"]["models"])
    command = (f"rank --dataset {args.dataset} --models {args.models} --metrics {args.metrics}"
               + (f" --limit {args.limit}" if args.limit else ""))
    return "\n".join([
        "# Cold vs cached `rank`",
        "",
        f"`python bench/rank_cache.py {' '.join(sys.argv[1:])}` — {time.strftime('%Y-%m-%d')}",
        "",
        f"* command: `python -m transfer_core {command}` ({len(models)} models, "
        f"{cold['ranking']['dataset']['size']} images), each run a fresh process sharing one new feature store",
        f"* CPU · {os.cpu_count()} cores · Python {platform.python_version()} · load average (1 min) at the end "
        f"{os.getloadavg()[0]:.1f} (other jobs shared the machine when this is above the core count)",
        f"* the cached run found {hits} of {len(models)} models' features in the store and loaded no model (their "
        "manifests were read instead); both rankings have identical scores",
        "",
        "| run | wall seconds | peak resident memory (MiB) |",
        "|---|---:|---:|",
        f"| cold (load, extract, write, score) | {cold['seconds']:.1f} | {cold['peak_bytes'] / 2**20:.0f} |",
        f"| cached (read, score) | {cached['seconds']:.1f} | {cached['peak_bytes'] / 2**20:.0f} |",
        "",
        f"**Cached is {cold['seconds'] / cached['seconds']:.0f}× faster.** What is left in the cached run is the "
        "Python start-up with torch, reading the features and computing the metrics.",
        "",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="demo")
    parser.add_argument("--models", default="zoo")
    parser.add_argument("--limit", type=int, default=300)
    parser.add_argument("--metrics", default="all")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bench-rank-cache.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder) / "store"
        cold = run_rank(args, store, Path(folder) / "cold")
        cached = run_rank(args, store, Path(folder) / "cached")
    if not same_scores(cold["ranking"], cached["ranking"]):
        raise SystemExit("the cached ranking differs from the cold one")
    text = report(args, cold, cached)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
