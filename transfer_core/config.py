"""Settings the core's runs share (the app, the command line and the benchmarks read them here): how rank
intervals are drawn and which metrics count as quick enough for the faster interval mode.

>>> interval_metrics(["logme", "knn", "leep"], "all")
['logme', 'knn', 'leep']
>>> interval_metrics(["logme", "knn", "leep"], "cheap")
['knn', 'leep']
"""

from __future__ import annotations

from typing import Sequence

# Metrics that each take well under a second per model on 1 000 images on a CPU: an opt-in for quicker rank intervals
# (they re-score every model on every subset); the default re-scores every metric of the ranking
# (bench/intervals.py measures what that costs).
CHEAP_METRICS = ("knn", "leep", "nce")
INTERVAL_MODES = ("all", "cheap", "off")  # the first is the default
DEFAULT_INTERVAL_REPEATS = 20
INTERVAL_FRACTION = 0.8
INTERVAL_LEVEL = 0.9
INTERVAL_SEED = 0
# The anytime ranking's growing class-stratified slices of the images (the last is all of them): a first provisional
# ranking after ~15 % of the extraction, then refinements (bench/anytime.py measures how close each comes to the end).
ANYTIME_FRACTIONS = (0.15, 0.35, 0.65, 1.0)
ANYTIME_MIN_IMAGES = 40  # a slice of fewer images is skipped (a ranking on fewer says little): small sets rank once

# The local executor's extraction: loader processes that decode and preprocess the images while the engines compute
# (one: on 2 cores a second would take the engine's other core; bench/extraction.py measures it)
EXTRACTION_WORKERS = 1


def interval_metrics(chosen: Sequence[str], mode: str) -> list[str]:
    """The metrics the rank intervals re-score: ``"all"`` (the default) = every metric of the ranking,
    ``"cheap"`` = the chosen ones among :data:`CHEAP_METRICS` (all chosen when none of them is), ``"off"`` = none."""
    if mode not in INTERVAL_MODES:
        raise ValueError(f"interval mode must be one of {', '.join(INTERVAL_MODES)}, got {mode!r}")
    if mode == "off":
        return []
    cheap = [name for name in chosen if name in CHEAP_METRICS]
    return cheap if mode == "cheap" and cheap else list(chosen)
