"""Benchmark: how OpenMP threads wait (spin, then sleep — the default; sleep at once — ``OMP_WAIT_POLICY=PASSIVE``;
a short spin — ``GOMP_SPINCOUNT=10000``) on the same torch work, alone on the machine and beside other busy
processes. No setting wins everywhere (docs/bench-threads.md), so transfer_core leaves OpenMP's default alone and the
README says when to set ``OMP_WAIT_POLICY=PASSIVE`` yourself.

Each (setting, load) cell runs the workloads in a fresh child process that imports torch first (the settings are
read once, when torch loads its OpenMP runtime); "busy" adds one pure-Python busy loop per core for the duration,
standing in for a browser, an app server or another job. Workloads:

* ``metrics`` — the whole metric suite on 300 × 1 280 features, 3 classes (the default demo's shape), 5 times;
* ``small`` — LogME on 100 × 256 features, 200 times (many small calls: the app's and the tests' pattern);
* ``forward`` — a random-init torchvision MobileNetV2 over 64 images of 224 px (feature extraction's work).

Results go to docs/bench-threads.md.

    python bench/threads.py
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {"default": {}, "PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"}, "short spin": {"GOMP_SPINCOUNT": "10000"}}
WORKLOADS = ("metrics", "small", "forward")


def run_workloads() -> dict[str, float]:
    """Seconds of each workload in this process (called in the child)."""
    sys.path.insert(0, str(ROOT))
    import torch
    import torchvision

    from bench.synthetic import make_synthetic
    from transfer_core.metrics.logme import logme
    from transfer_core.metrics.prepared import prepare
    from transfer_core.metrics.suite import score_suite

    demo = make_synthetic(300, 1_280, 3, seed=0)
    small = make_synthetic(100, 256, 5, seed=1)
    network = torchvision.models.mobilenet_v2(weights=None).eval()
    images = torch.randn(64, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    score_suite(prepare(demo["features"], demo["labels"], source_probs=demo["source_probs"]), "all")  # warm-up
    seconds = {}
    started = time.perf_counter()
    for _ in range(5):
        score_suite(prepare(demo["features"], demo["labels"], source_probs=demo["source_probs"]), "all")
    seconds["metrics"] = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(200):
        logme(small["features"], small["labels"])
    seconds["small"] = time.perf_counter() - started
    started = time.perf_counter()
    with torch.inference_mode():
        for batch in images.split(16):
            network(batch)
    seconds["forward"] = time.perf_counter() - started
    return seconds


def _busy_loop() -> None:
    while True:
        pass


def measure(setting: str, busy: bool) -> dict[str, float]:
    """The workloads in a child process under ``setting``, with one busy loop per core beside it when ``busy``."""
    loops = [multiprocessing.Process(target=_busy_loop, daemon=True) for _ in range(os.cpu_count() if busy else 0)]
    for loop in loops:
        loop.start()
    try:
        output = subprocess.run([sys.executable, __file__, "--child"], cwd=ROOT, check=True, capture_output=True,
                                text=True, env={**_without_openmp_settings(), **SETTINGS[setting]}).stdout
    finally:
        for loop in loops:
            loop.terminate()
            loop.join()
    return json.loads(output.strip().splitlines()[-1])


def _without_openmp_settings() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if name not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}


def report(results: dict[tuple[str, bool], dict[str, float]], load_at_start: float) -> str:
    lines = [
        "# OpenMP wait policy",
        "",
        f"`python bench/threads.py {' '.join(sys.argv[1:])}` — {time.strftime('%Y-%m-%d')} · {os.cpu_count()} CPU "
        f"cores · Python {platform.python_version()} · load average (1 min) before the quiet runs: {load_at_start:.1f} "
        "(above 0.5, other jobs shared the \"quiet\" machine)",
        "",
        "Seconds per workload (see the script's docstring); \"busy\" = one pure-Python busy loop per core running "
        "beside the measured process. Ratios are default / setting (above 1: faster than the default).",
        "",
        "| machine | workload | default (spin, then sleep) | PASSIVE (sleep) | ratio | short spin | ratio |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for busy in (False, True):
        for workload in WORKLOADS:
            default, passive, short = (results[(name, busy)][workload] for name in SETTINGS)
            lines.append(f"| {'busy' if busy else 'quiet'} | {workload} | {default:.2f} | {passive:.2f} | "
                         f"{default / passive:.2f}× | {short:.2f} | {default / short:.2f}× |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bench-threads.md")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_workloads()))
        return
    load_at_start = os.getloadavg()[0]
    results: dict[tuple[str, bool], dict[str, float]] = {}
    for _ in range(args.repeats):  # the cells interleaved, best of the repeats
        for busy in (False, True):
            for setting in SETTINGS:
                seconds = measure(setting, busy)
                best = results.setdefault((setting, busy), seconds)
                results[(setting, busy)] = {name: min(best[name], seconds[name]) for name in seconds}
    text = report(results, load_at_start)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
