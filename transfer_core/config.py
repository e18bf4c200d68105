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
# ranking after ~10 % of the extraction, then refinements (bench/anytime.py measures how close each comes to the end).
# The first slice also loads, exports and verifies every model; at 15 % it took 20-21 % of the cold default's anytime
# run once the final slice's intervals became cheaper (docs/bench-cold.md).
ANYTIME_FRACTIONS = (0.10, 0.35, 0.65, 1.0)
ANYTIME_MIN_IMAGES = 40  # a slice of fewer images is skipped (a ranking on fewer says little): small sets rank once

# Extraction on each kind of device: images per batch, and loader processes that decode and preprocess the images
# while the engine computes. Measured on a 2-core AMD EPYC (bench/extraction_settings.py, docs/bench-extraction-settings
# .md): the 14 default models took 0.73 of the time in batches of 16 that they took in batches of 64 (the activations
# stay in the caches; 8 was within 4 % of 16), and a loader process beside the engine's two threads made it 5 % slower.
# On an accelerator the CPU is free to decode while the device computes.
EXTRACTION_BATCH_SIZE = {"cpu": 16, "accelerator": 64}
EXTRACTION_WORKERS = {"cpu": 0, "accelerator": 1}


def extraction_defaults(device_type: str) -> tuple[int, int]:
    """``(batch size, loader processes)`` of an extraction on a device of ``device_type`` ("cpu", "cuda", ...).

    >>> extraction_defaults("cpu"), extraction_defaults("cuda")
    ((16, 0), (64, 1))
    """
    kind = "cpu" if device_type == "cpu" else "accelerator"
    return EXTRACTION_BATCH_SIZE[kind], EXTRACTION_WORKERS[kind]


def interval_metrics(chosen: Sequence[str], mode: str) -> list[str]:
    """The metrics the rank intervals re-score: ``"all"`` (the default) = every metric of the ranking,
    ``"cheap"`` = the chosen ones among :data:`CHEAP_METRICS` (all chosen when none of them is), ``"off"`` = none."""
    if mode not in INTERVAL_MODES:
        raise ValueError(f"interval mode must be one of {', '.join(INTERVAL_MODES)}, got {mode!r}")
    if mode == "off":
        return []
    cheap = [name for name in chosen if name in CHEAP_METRICS]
    return cheap if mode == "cheap" and cheap else list(chosen)
