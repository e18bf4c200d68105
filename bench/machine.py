"""The machine a benchmark ran on, named in every results file (CPU model, cores, load, torch's CPU kernels)."""

from __future__ import annotations

import os
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (``platform.processor()`` is empty on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def machine_line() -> str:
    """One sentence: CPU model, core count, load average and the CPU capability torch dispatches to."""
    import torch

    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (f"{cpu_model()}, {os.cpu_count()} cores, load average {load} at the start, torch "
            f"{torch.__version__} ({torch.backends.cpu.get_cpu_capability()} kernels, "
            f"{torch.get_num_threads()} threads)")
