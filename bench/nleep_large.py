"""N-LEEP end to end at one size, without the per-measurement cap of bench/metrics.py: wall seconds, EM iterations,
and the process's peak resident memory.

    python bench/nleep_large.py                   # (50 000, 768, 1 000): 5 000 components, tens of minutes on 2 cores
    python bench/nleep_large.py --size 20000 768 400
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.synthetic import make_synthetic  # noqa: E402
from transfer_core.metrics.nleep import nleep_details  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, nargs=3, default=(50_000, 768, 1_000), metavar=("N", "D", "C"))
    args = parser.parse_args()
    n, d, c = args.size
    arrays = make_synthetic(n, d, c, seed=0)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    started = time.perf_counter()
    details = nleep_details(arrays["features"], arrays["labels"])
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux reports KiB
    print(f"N-LEEP at (N, D, C) = ({n}, {d}, {c}): {details.components} components on {details.pca_dim} PCA "
          f"dimensions; score {details.score:.6f}; {details.iterations[0]} EM iterations (converged: "
          f"{details.converged[0]}); {seconds:.0f} s; peak resident memory {peak:.2f} GiB (after generating the "
          f"data: {before:.2f} GiB); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
