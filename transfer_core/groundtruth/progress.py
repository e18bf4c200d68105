"""Step counting and ETA for fine-tuning's ``progress(done_steps, total_steps, eta_seconds, message)`` callback."""

from __future__ import annotations

import time
from typing import Callable

Progress = Callable[[int, int, "float | None", str], None]


class StepTracker:
    """Counts optimisation steps over the whole grid; steps restored from disk are skipped, not timed.

    The ETA is the time since this call started per step run in it, times the steps left (None before the first).
    """

    def __init__(self, total: int, progress: Progress | None):
        self.total = total
        self.progress = progress
        self.done = 0
        self.run_here = 0
        self.started = time.perf_counter()

    def skip(self, steps: int) -> None:
        self.done += steps

    def step(self, message: str) -> None:
        self.done += 1
        self.run_here += 1
        self.report(message)

    def report(self, message: str) -> None:
        if self.progress is None:
            return
        eta = None
        if self.run_here:
            eta = (time.perf_counter() - self.started) / self.run_here * (self.total - self.done)
        self.progress(self.done, self.total, eta, message)

    def cached(self, message: str) -> None:
        if self.progress is not None:
            self.progress(self.total, self.total, 0.0, message)
