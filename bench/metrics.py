"""Benchmark: seconds and peak memory of every metric, torch engine vs a plain NumPy / scikit-learn implementation of
the same formula (bench/numpy_reference), measured in the same run, on synthetic features (bench/synthetic.py).

Each measurement runs in a fresh child process so its peak resident memory is its own (Linux VmHWM after resetting
it through /proc/self/clear_refs). Results go to docs/bench-metrics.md.

    python bench/metrics.py                     # all three sizes (long: the NumPy baselines are slow)
    python bench/metrics.py --sizes small       # quick look
    python bench/metrics.py --metrics ncti,etran,ped --no-suite --out /tmp/rows.md   # some rows only

Pool-relative metrics (NCTI, ETran) are measured as one model's components, the part that costs anything (their
pool combination is a min-max over a handful of numbers).
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZES = {"small": (2_000, 512, 10), "medium": (10_000, 2_048, 100), "large": (50_000, 768, 1_000)}
SOURCE_PROB_METRICS = {"leep", "nce"}


def _rss_reset() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def child(impl: str, metric: str, data: Path) -> dict:
    """Run one measurement in this process and return seconds, peak extra MiB and metric-specific details."""
    import numpy as np

    arrays = {name: np.load(data / f"{name}.npy") for name in ("features", "labels", "source_probs")}
    primary = arrays["source_probs"] if metric in SOURCE_PROB_METRICS else arrays["features"]
    import torch  # noqa: F401  (imported before the clock starts, like the metrics' own imports)

    if impl == "numpy":
        function = getattr(importlib.import_module(f"bench.numpy_reference.{metric}"), metric)
    else:
        from transfer_core.metrics import get_metric, get_pool_metric, is_pool_relative
        from transfer_core.metrics.prepared import prepare
        from transfer_core.metrics.suite import score_suite

        pool_relative = is_pool_relative(metric)  # also imports every metric module before the clock starts
    _rss_reset()
    baseline = _status_kib("VmRSS")
    started = time.perf_counter()
    details: dict = {}
    if impl == "numpy":
        value = function(primary, arrays["labels"])  # a dict of components for a pool-relative metric
    elif impl == "suite":
        prepared = prepare(arrays["features"], arrays["labels"], source_probs=arrays["source_probs"])
        outcomes = score_suite(prepared, "all")
        details = {name: round(o.seconds, 3) for name, o in outcomes.items()}
        value = float("nan")
    else:
        prepared = prepare(primary if metric not in SOURCE_PROB_METRICS else None, arrays["labels"],
                           source_probs=arrays["source_probs"] if metric in SOURCE_PROB_METRICS else None)
        if pool_relative:
            value = get_pool_metric(metric).components(prepared)
        else:
            value = float(get_metric(metric).function(prepared))
        if metric == "nleep":
            from transfer_core.metrics.nleep import nleep_details

            details = {"iterations": nleep_details(prepared).iterations}
    seconds = time.perf_counter() - started
    peak_mib = (_status_kib("VmHWM") - baseline) / 1024
    return {"seconds": seconds, "peak_mib": peak_mib, "value": value, "details": details}


def measure(impl: str, metric: str, data: Path, timeout: float) -> dict:
    command = [sys.executable, __file__, "--child", impl, metric, str(data)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"timeout": timeout}
    if result.returncode != 0:
        return {"error": result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "failed"}
    return json.loads(result.stdout.strip().splitlines()[-1])


def _cell(result: dict) -> str:
    if "timeout" in result:
        return f"> {result['timeout']:.0f} s"
    if "error" in result:
        return "error"
    return f"{result['seconds']:.2f} s / {result['peak_mib']:.0f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", nargs=3, metavar=("IMPL", "METRIC", "DATA"), help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default="small,medium,large")
    parser.add_argument("--metrics", default="all")
    parser.add_argument("--no-suite", action="store_true", help="skip the whole-suite measurement")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per measurement")
    parser.add_argument("--out", default=str(ROOT / "docs" / "bench-metrics.md"))
    args = parser.parse_args()
    if args.child:
        impl, metric, data = args.child
        print(json.dumps(child(impl, metric, Path(data))))
        return

    from bench.machine import machine_line
    from bench.synthetic import cached_synthetic
    from transfer_core.metrics import metric_names, pool_metric_names

    metrics = metric_names() + pool_metric_names() if args.metrics == "all" else args.metrics.split(",")
    lines = [f"# Metric benchmark\n\nMachine: {machine_line()}, torch on CPU. "
             f"Generated by `python bench/metrics.py` on {time.strftime('%Y-%m-%d')}; "
             f"each cell is wall seconds / peak extra resident memory of a fresh process; ratio = NumPy seconds / "
             f"torch seconds (higher is better for the engine). Data: bench/synthetic.py.\n"]
    with tempfile.TemporaryDirectory() as scratch:
        for size in args.sizes.split(","):
            n, d, c = SIZES[size]
            data = cached_synthetic(Path(scratch), n, d, c)["features"].parent
            lines += [f"\n## (N, D, C) = ({n:,}, {d:,}, {c:,})\n",
                      "| metric | engine (torch) | NumPy / scikit-learn | ratio | notes |", "|---|---|---|---|---|"]
            for metric in metrics:
                ours = measure("torch", metric, data, args.timeout)
                theirs = measure("numpy", metric, data, args.timeout)
                ratio = (f"{theirs['seconds'] / ours['seconds']:.1f}×" if "seconds" in ours and "seconds" in theirs
                         else (f"> {theirs['timeout'] / ours['seconds']:.1f}×" if "timeout" in theirs
                               and "seconds" in ours else "–"))
                notes = ", ".join(f"{k} {v}" for k, v in ours.get("details", {}).items())
                lines.append(f"| {metric} | {_cell(ours)} | {_cell(theirs)} | {ratio} | {notes} |")
                print(lines[-1], flush=True)
            if not args.no_suite:
                suite = measure("suite", "all", data, args.timeout)
                lines.append(f"\nWhole suite (all {len(metric_names())} per-model metrics on one shared prepared "
                             f"input): {_cell(suite)}.\n")
                print(lines[-1], flush=True)
    Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
