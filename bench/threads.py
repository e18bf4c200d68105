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

A second section asks the same question of ONNX Runtime, the default CPU engine of feature extraction
(:mod:`transfer_core.engines.session`): its intra-op pool spin-waits between runs or not
(``session.intra_op.allow_spinning`` "1" / "0"), each in a fresh child process, quiet and busy, on two workloads:

* ``onnx forward`` — the random-init MobileNetV2 exported to ONNX, 64 images of 224 px in batches of 16;
* ``onnx extraction`` — the same batches, each after decoding and preprocessing its 16 JPEG photos in the same
  thread (``extract_features`` with ``num_workers=0``: the pool sits idle, spinning or not, while the images decode).

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
SPINNING = {"spin": True, "no spin": False}
ONNX_WORKLOADS = ("onnx forward", "onnx extraction")


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


def run_onnx_workloads(spin: bool) -> dict[str, float]:
    """Wall and CPU seconds of each ONNX Runtime workload with the pool spinning or not (called in the child)."""
    sys.path.insert(0, str(ROOT))
    import torch
    import torchvision

    from bench.extraction import generated_dataset
    from transfer_core.engines.export import SourceGraph, export_graph
    from transfer_core.engines.session import OnnxRunner
    from transfer_core.features import preprocess
    from transfer_core.models.base import Preprocessing

    torch.manual_seed(0)
    network = torchvision.models.mobilenet_v2(weights=None).eval()
    graph = SourceGraph(torch.nn.Sequential(network.features, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()),
                        network.classifier)
    dataset, settings = generated_dataset(64), Preprocessing()
    images = torch.stack([preprocess(dataset.load(index), settings) for index in range(dataset.size)])
    runner = OnnxRunner(export_graph(graph, images[:8]), spin=spin)
    runner(images[:16])  # warm-up

    def forward() -> None:
        for batch in images.split(16):
            runner(batch)

    def extraction() -> None:
        for start in range(0, dataset.size, 16):
            runner(torch.stack([preprocess(dataset.load(index), settings) for index in range(start, start + 16)]))

    seconds = {}
    for name, work in zip(ONNX_WORKLOADS, (forward, extraction)):
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        seconds[name], seconds[name + " cpu"] = time.perf_counter() - wall, time.process_time() - cpu
    return seconds


def _busy_loop() -> None:
    while True:
        pass


def measure(setting: str, busy: bool, child: tuple[str, ...] = ("--child",)) -> dict[str, float]:
    """The workloads in a child process (``child``: its arguments) under the OpenMP ``setting``, with one busy loop
    per core beside it when ``busy``."""
    loops = [multiprocessing.Process(target=_busy_loop, daemon=True) for _ in range(os.cpu_count() if busy else 0)]
    for loop in loops:
        loop.start()
    try:
        output = subprocess.run([sys.executable, __file__, *child], cwd=ROOT, check=True, capture_output=True,
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


def onnx_report(results: dict[tuple[str, bool], dict[str, float]], args: argparse.Namespace,
                load_at_start: float) -> str:
    lines = [
        "",
        "## ONNX Runtime spin-wait (`session.intra_op.allow_spinning`)",
        "",
        f"`python bench/threads.py {' '.join(sys.argv[1:])}` — {time.strftime('%Y-%m-%d')} · best of {args.repeats} "
        f"interleaved runs · load average (1 min) at the start: {load_at_start:.1f}",
        "",
        "Seconds per workload (see the script's docstring), OpenMP at its default; CPU seconds (all threads of the "
        "process) in brackets: a spinning pool burns CPU while it waits. Ratios are spin / no spin (above 1: not "
        "spinning is faster).",
        "",
        "| machine | workload | spin | no spin | ratio |",
        "|---|---|---:|---:|---:|",
    ]
    for busy in (False, True):
        for workload in ONNX_WORKLOADS:
            spin, still = (results[(name, busy)] for name in SPINNING)
            lines.append(f"| {'busy' if busy else 'quiet'} | {workload} | {spin[workload]:.2f} "
                         f"({spin[workload + ' cpu']:.2f}) | {still[workload]:.2f} ({still[workload + ' cpu']:.2f}) | "
                         f"{spin[workload] / still[workload]:.2f}× |")
    return "\n".join(lines) + "\n"


def best_cells(cells: list[tuple[str, bool]], repeats: int, run) -> dict[tuple[str, bool], dict[str, float]]:
    """Each cell's ``run(cell)`` seconds, the cells interleaved, best of ``repeats`` per workload."""
    results: dict[tuple[str, bool], dict[str, float]] = {}
    for _ in range(repeats):
        for cell in cells:
            seconds = run(cell)
            best = results.setdefault(cell, seconds)
            results[cell] = {name: min(best[name], seconds[name]) for name in seconds}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-onnx", choices=list(SPINNING), help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--sections", default="openmp,onnxruntime", help="which tables to measure (comma-separated)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bench-threads.md")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_workloads()))
        return
    if args.child_onnx:
        print(json.dumps(run_onnx_workloads(SPINNING[args.child_onnx])))
        return
    load_at_start = os.getloadavg()[0]
    sections = args.sections.split(",")
    text = ""
    if "openmp" in sections:
        results = best_cells([(setting, busy) for busy in (False, True) for setting in SETTINGS], args.repeats,
                             lambda cell: measure(*cell))
        text += report(results, load_at_start)
    if "onnxruntime" in sections:
        onnx = best_cells([(spin, busy) for busy in (False, True) for spin in SPINNING], args.repeats,
                          lambda cell: measure("default", cell[1], ("--child-onnx", cell[0])))
        text += onnx_report(onnx, args, load_at_start)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
