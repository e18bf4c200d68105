"""Turn per-model metric scores into ranks: rank 1 is best, ties share the average rank, nulls are left out."""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import rankdata


def ranks_for_metric(scores: list[float | None]) -> list[float | None]:
    """Average ranks of the non-null scores (higher score = better = smaller rank); None stays None."""
    present = [i for i, value in enumerate(scores) if value is not None and math.isfinite(value)]
    ranks: list[float | None] = [None] * len(scores)
    if present:
        ordered = rankdata(-np.asarray([scores[i] for i in present], dtype=float), method="average")
        for index, rank in zip(present, ordered):
            ranks[index] = float(rank)
    return ranks


def add_ranks(rows: list[dict], metrics: list[str]) -> None:
    """Add ``<metric>_rank`` and ``consensus_rank`` (mean of a model's per-metric ranks) to each row in place."""
    for metric in metrics:
        for row, rank in zip(rows, ranks_for_metric([row.get(metric) for row in rows])):
            row[f"{metric}_rank"] = _as_int_if_whole(rank)
    for row in rows:
        own = [row[f"{metric}_rank"] for metric in metrics if row.get(f"{metric}_rank") is not None]
        row["consensus_rank"] = float(np.mean(own)) if own else None


def _as_int_if_whole(rank: float | None) -> int | float | None:
    """Ranks are integers unless a tie makes them halves (the contract says int; a tie's average stays exact)."""
    if rank is None:
        return None
    return int(rank) if float(rank).is_integer() else rank
