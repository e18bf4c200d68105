"""How well a transferability metric predicts ground-truth accuracy across a pool of models.

The main number is the weighted Kendall τ exactly as the metric papers compute it (LogME, You et al. ICML'21;
SFDA, Shao et al. ECCV'22): ``scipy.stats.weightedtau(scores, accuracies)[0]`` with every default (rank=True,
hyperbolic weigher 1/(r + 1), additive pair weights; the τ of the ranking by scores and of the ranking by
accuracies are averaged). Kendall τ-b, Pearson's r and rel@k (Bolya et al. NeurIPS'21: the best accuracy
among the top-k models by score over the best accuracy overall) are reported beside it.

Malformed input raises :class:`InvalidInputError`; input on which a number is undefined (constant scores,
fewer than two models) raises :class:`UndefinedResultError`, which :func:`evaluate_metrics` turns into a
``None`` with the reason.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from transfer_core.errors import InvalidInputError, UndefinedResultError

MIN_MODELS = 3  # fewer models than this make every correlation meaningless
DEFAULT_KS = (1, 3)


def _paired(scores, accuracies) -> tuple[np.ndarray, np.ndarray]:
    """Finite float arrays of equal length, at least two entries."""
    pair = []
    for values, name in ((scores, "scores"), (accuracies, "accuracies")):
        try:
            array = np.asarray(values, dtype=float)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"{name} must be numbers (use evaluate_metrics for missing scores): {exc}") from exc
        if array.ndim != 1:
            raise InvalidInputError(f"{name} must be 1-D, got shape {array.shape}")
        if not np.all(np.isfinite(array)):
            raise InvalidInputError(f"{name} contain NaN or inf")
        pair.append(array)
    if pair[0].shape != pair[1].shape:
        raise InvalidInputError(f"{len(pair[0])} scores but {len(pair[1])} accuracies")
    if pair[0].size < 2:
        raise UndefinedResultError(f"a correlation needs at least 2 models, got {pair[0].size}")
    return pair[0], pair[1]


def _correlated(scores, accuracies) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`_paired`, and neither side constant (a correlation with a constant is undefined)."""
    x, y = _paired(scores, accuracies)
    for values, name in ((x, "scores"), (y, "accuracies")):
        if np.ptp(values) == 0:
            raise UndefinedResultError(f"all {name} are equal, so no correlation is defined")
    return x, y


def weighted_tau(scores, accuracies) -> float:
    """Weighted Kendall τ (Vigna 2015) as the transferability papers report it: scipy's defaults.

    >>> weighted_tau([4, 3, 2, 1], [0.7, 0.9, 0.8, 0.6])
    0.2
    """
    x, y = _correlated(scores, accuracies)
    return float(stats.weightedtau(x, y)[0])


def kendall_tau_b(scores, accuracies) -> float:
    """Kendall τ-b (ties in either variable corrected).

    >>> kendall_tau_b([1, 2, 3], [3, 2, 1])
    -1.0
    """
    x, y = _correlated(scores, accuracies)
    return float(stats.kendalltau(x, y, variant="b")[0])


def pearson(scores, accuracies) -> float:
    """Pearson's linear correlation r.

    >>> round(pearson([1, 2, 3], [2, 4, 7]), 4)
    0.9934
    """
    x, y = _correlated(scores, accuracies)
    return float(stats.pearsonr(x, y)[0])


def relative_top_k(scores, accuracies, k: int) -> float:
    """rel@k: best accuracy among the ``k`` highest-scored models divided by the best accuracy overall.

    Models with equal scores are ordered worst accuracy first, so a metric gets no credit for a tie it
    cannot break; ``k`` larger than the pool is capped (rel@k = 1). Accuracies must be positive for the
    ratio to mean anything (a regression ground truth given as negative MSE has no rel@k).

    >>> relative_top_k([0.3, 0.9, 0.5], [80.0, 60.0, 40.0], k=1)  # top-1 by score has 60; best is 80
    0.75
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InvalidInputError(f"k must be a positive integer, got {k!r}")
    x, y = _paired(scores, accuracies)
    if np.any(y <= 0):
        raise UndefinedResultError("rel@k needs positive accuracies (a ratio of negative numbers means nothing)")
    order = np.lexsort((y, -x))  # highest score first; among equal scores, lowest accuracy first
    return float(y[order[:k]].max() / y.max())


CORRELATIONS = {"weighted_tau": weighted_tau, "kendall_tau": kendall_tau_b, "pearson": pearson}


def evaluate_metrics(score_table: dict[str, list[float | None]], accuracies: list[float],
                     ks: tuple[int, ...] = DEFAULT_KS) -> list[dict]:
    """One row per metric: weighted τ, Kendall τ-b, Pearson and rel@k against the ground-truth accuracies.

    ``score_table[metric][i]`` is the metric's score for model ``i`` (None where it gave no number) and
    ``accuracies[i]`` that model's ground truth. Each metric is evaluated over the models it scored; a
    number that cannot be computed is None and ``reason`` says why (e.g. fewer than 3 models scored).
    Row keys: ``metric``, ``models``, ``weighted_tau``, ``kendall_tau``, ``pearson``, ``rel@k`` for each k,
    ``reason`` (None when every number is there).
    """
    truth = np.asarray(accuracies, dtype=float)
    if truth.ndim != 1 or not np.all(np.isfinite(truth)):
        raise InvalidInputError("accuracies must be a 1-D list of finite numbers")
    computations = {**CORRELATIONS, **{f"rel@{k}": _rel_at(k) for k in ks}}
    rows = []
    for metric, scores in score_table.items():
        if len(scores) != len(truth):
            raise InvalidInputError(f"{metric}: {len(scores)} scores but {len(truth)} accuracies")
        scored = [i for i, value in enumerate(scores) if value is not None and math.isfinite(value)]
        x, y = np.asarray([scores[i] for i in scored], dtype=float), truth[scored]
        row: dict = {"metric": metric, "models": len(scored), **dict.fromkeys(computations)}
        reasons = []
        if len(scored) < MIN_MODELS:
            reasons.append(f"only {len(scored)} model(s) have a {metric} score; at least {MIN_MODELS} are needed")
        else:
            for key, compute in computations.items():
                try:
                    row[key] = compute(x, y)
                except UndefinedResultError as exc:
                    reasons.append(str(exc))
        row["reason"] = "; ".join(dict.fromkeys(reasons)) or None
        rows.append(row)
    return rows


def _rel_at(k: int):
    return lambda scores, accuracies: relative_top_k(scores, accuracies, k)
