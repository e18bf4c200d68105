"""Turn per-model metric scores into ranks: rank 1 is best, ties share the average rank, nulls are left out; a
model's consensus rank is the mean of its per-metric ranks."""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import rankdata

CONSENSUS = "consensus"  # the name under which a model's consensus rank sits beside its per-metric ranks


def ranks_for_metric(scores: list[float | None]) -> list[float | None]:
    """Average ranks of the non-null scores (higher score = better = smaller rank); None stays None."""
    present = [i for i, value in enumerate(scores) if value is not None and math.isfinite(value)]
    ranks: list[float | None] = [None] * len(scores)
    if present:
        ordered = rankdata(-np.asarray([scores[i] for i in present], dtype=float), method="average")
        for index, rank in zip(present, ordered):
            ranks[index] = float(rank)
    return ranks


def rank_models(scores: list[dict[str, float | None]], metrics: list[str]) -> list[dict[str, int | float | None]]:
    """For each model's ``{metric: score}``, its ``{metric: rank}`` among the models plus its :data:`CONSENSUS` rank
    (None when no metric ranked it).

    >>> rank_models([{"a": 0.9, "b": 1.0}, {"a": 0.5, "b": None}, {"a": 0.5, "b": 3.0}], ["a", "b"])
    [{'a': 1, 'b': 2, 'consensus': 1.5}, {'a': 2.5, 'b': None, 'consensus': 2.5}, {'a': 2.5, 'b': 1, 'consensus': 1.75}]
    """
    columns = {metric: ranks_for_metric([model.get(metric) for model in scores]) for metric in metrics}
    ranked = []
    for index in range(len(scores)):
        own = {metric: _as_int_if_whole(columns[metric][index]) for metric in metrics}
        present = [rank for rank in own.values() if rank is not None]
        ranked.append({**own, CONSENSUS: float(np.mean(present)) if present else None})
    return ranked


def _as_int_if_whole(rank: float | None) -> int | float | None:
    """Ranks are integers unless a tie makes them halves (the contract says int; a tie's average stays exact)."""
    if rank is None:
        return None
    return int(rank) if float(rank).is_integer() else rank
