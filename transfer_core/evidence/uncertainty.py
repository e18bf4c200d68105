"""How sure is a ranking? Re-score every model on resampled target sets and look at the spread of ranks.

Following Agostinelli et al. (ECCV'22, "How stable are transferability metrics evaluations?"), conclusions are
drawn from many resampled setups, not one. Target samples are resampled **without** replacement (80 %
subsets, class-stratified for labels, plain random for regression targets): a with-replacement bootstrap
duplicates samples, so kNN matches each sample's copy, mixture components collapse onto duplicates and
N ≲ D saturation worsens.

* :func:`subsample_scores` — the expensive part: every metric for every model on each subset.
* :func:`subsample_rank_intervals` — per model and per metric (and the consensus): median rank and the
  central ``level`` interval of the ranks over the subsets, with the raw draws for stability plots.
* :func:`metric_stability` — with ground-truth accuracies (class labels only): the distribution of each metric's
  weighted τ over random sub-pools of models × target subsets, and how often each metric "wins".

In the draw arrays NaN marks "no number" (a metric that gave None on a subset, a τ that is undefined);
the summaries report those as None and count them.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from transfer_core.errors import InvalidInputError, UndefinedResultError
from transfer_core.evidence.evaluation import MIN_MODELS, weighted_tau
from transfer_core.metrics import get_metric, is_pool_relative
from transfer_core.metrics.errors import MetricInputError
from transfer_core.metrics.prepared import Prepared, prepare
from transfer_core.metrics.registry import CLASSIFICATION, REGRESSION
from transfer_core.metrics.suite import pool_outcomes, score_model, select_metrics
from transfer_core.ranking.ranks import CONSENSUS, rank_models

# progress(done, total, eta_seconds): one step per (subset, model) scored
Progress = Callable[[int, int, "float | None"], None]


def stratified_subsets(labels, *, fraction: float = 0.8, repeats: int = 20, seed: int = 0) -> list[np.ndarray]:
    """``repeats`` sorted index arrays, each a class-stratified subset drawn without replacement.

    Every class keeps round(fraction · n_c) of its n_c samples, at least one, so no class disappears.
    Deterministic under ``seed``.
    """
    _check_subset_arguments(fraction, repeats)
    classes = np.unique(np.asarray(labels), return_inverse=True)[1].reshape(-1)
    counts = np.bincount(classes)
    keep = np.maximum(1, np.round(fraction * counts)).astype(np.int64)
    class_start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rng = np.random.default_rng(seed)
    subsets = []
    for _ in range(repeats):
        order = np.lexsort((rng.random(classes.size), classes))  # grouped by class, shuffled within
        position_in_class = np.arange(classes.size) - class_start[classes[order]]
        subsets.append(np.sort(order[position_in_class < keep[classes[order]]]))
    return subsets


def random_subsets(n: int, fraction: float = 0.8, repeats: int = 20, seed: int = 0) -> list[np.ndarray]:
    """``repeats`` sorted index arrays of round(fraction · n) of the ``n`` samples (at least 2), drawn without
    replacement, for regression targets. Deterministic under ``seed``."""
    _check_subset_arguments(fraction, repeats)
    if n < 2:
        raise InvalidInputError(f"random subsets need at least 2 samples, got {n}")
    keep = max(2, round(fraction * n))
    rng = np.random.default_rng(seed)
    return [np.sort(rng.choice(n, size=keep, replace=False)) for _ in range(repeats)]


def _check_subset_arguments(fraction: float, repeats: int) -> None:
    if not 0 < fraction <= 1:
        raise InvalidInputError(f"fraction must be in (0, 1], got {fraction}")
    if repeats < 1:
        raise InvalidInputError(f"repeats must be at least 1, got {repeats}")


def _supervision(labels, targets) -> tuple[str, np.ndarray]:
    """``("labels", labels)`` (classification) or ``("targets", targets)`` (regression); exactly one is given."""
    if (labels is None) == (targets is None):
        raise InvalidInputError("give either labels (classification) or targets (regression), exactly one")
    return ("labels", np.asarray(labels)) if targets is None else ("targets", np.asarray(targets))


def _subsets(kind: str, values: np.ndarray, fraction: float, repeats: int, seed: int) -> list[np.ndarray]:
    """Class-stratified subsets for labels, plain random ones for targets."""
    if kind == "labels":
        return stratified_subsets(values, fraction=fraction, repeats=repeats, seed=seed)
    return random_subsets(len(values), fraction, repeats, seed)


def central_interval(draws: np.ndarray, level: float) -> tuple[float, float] | None:
    """The range of the draws left after dropping ⌊n (1 − level) / 2⌋ of the lowest and as many of the highest.

    Symmetric, made of observed values and covering at least ``level`` of the draws; with few draws it
    keeps them all (20 draws at 90 % drop one at each end, 10 draws drop none). None without draws.
    """
    _check_level(level)
    if not draws.size:
        return None
    ordered = np.sort(draws)
    cut = math.floor(ordered.size * (1 - level) / 2 + 1e-9)  # the epsilon keeps 20 · 0.05 from rounding to 0
    return float(ordered[cut]), float(ordered[ordered.size - 1 - cut])


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise InvalidInputError(f"level must be in (0, 1), got {level}")


@dataclass
class ScoreDraws:
    """Scores of every model under every metric on each subset: ``scores[metric]`` is [repeats, models].

    ``warnings[model]`` lists the distinct ``"metric: message"`` warnings raised on any subset. A pool-relative
    metric's scores are combined across all ``models``; ``components[metric][draw][column]`` keeps each model's
    components so that a sub-pool of the models is scored among itself (:meth:`pool_scores`).
    """

    models: list[str]
    metrics: list[str]
    subsets: list[np.ndarray]
    scores: dict[str, np.ndarray]
    warnings: dict[str, list[str]] = field(default_factory=dict)
    components: dict[str, list[list[dict | None]]] = field(default_factory=dict)

    def pool_scores(self, metric: str, draw: int, columns: np.ndarray) -> np.ndarray:
        """The scores of the models ``columns`` on subset ``draw`` as if they were the whole pool: a pool-relative
        metric is combined again among them (NaN where None), any other metric's scores are as drawn."""
        if metric not in self.components:
            return self.scores[metric][draw, columns]
        from transfer_core.metrics.pool import combine

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a sub-pool without two complete models: NaN, counted as undefined
            pooled = combine(metric, {int(column): self.components[metric][draw][column] or {} for column in columns})
        return np.asarray([np.nan if value is None else value for value in pooled.values()], dtype=float)


def subsample_scores(features_by_model: dict[str, np.ndarray], labels=None, *, targets=None,
                     metrics: str | list[str] = "all", source_probs_by_model: dict[str, np.ndarray] | None = None,
                     general_features_by_model: dict[str, np.ndarray] | None = None, fraction: float = 0.8,
                     repeats: int = 20, seed: int = 0, options: dict | None = None, device: str = "auto",
                     progress: Progress | None = None) -> ScoreDraws:
    """Score every model with :func:`~transfer_core.metrics.suite.score_model` on each subset (as the ranking does).

    Give class ``labels`` (class-stratified subsets) or regression ``targets`` [N] / [N, K] (plain random
    subsets). A metric whose inputs a model lacks (LEEP without source probabilities) is left out for that
    model (its scores are NaN), and a metric that does not support the task is not run, as in the ranking
    pipeline. Each model's inputs are validated once; every subset shares them (and, with fewer images than
    feature dimensions, their Gram matrices: :meth:`~transfer_core.metrics.prepared.Prepared.subset`).
    A pool-relative metric (NCTI, ETran) is combined on each subset across that subset's models
    (:func:`~transfer_core.metrics.suite.pool_outcomes`: the min-max is recomputed per subset). PED standardises
    with ``general_features_by_model[model]`` when given (the whole general sample on every subset).
    """
    models = list(features_by_model)
    if not models:
        raise InvalidInputError("no models to score")
    probs = source_probs_by_model or {}
    kind, values = _supervision(labels, targets)
    for model in models:
        rows = len(features_by_model[model])
        if rows != len(values) or (probs.get(model) is not None and len(probs[model]) != len(values)):
            raise InvalidInputError(f"{model}: the features / source probabilities and the {kind} differ in length")
    general = general_features_by_model or {}
    full = {model: prepare(features_by_model[model], source_probs=probs.get(model),
                           general_features=general.get(model), device=device, **{kind: values})
            for model in models}
    names = _metric_names(metrics, full, kind)
    subsets = _subsets(kind, values, fraction, repeats, seed)
    scores = {name: np.full((repeats, len(models)), np.nan) for name in names}
    components = {name: [[None] * len(models) for _ in subsets] for name in names if is_pool_relative(name)}
    warnings_by_model: dict[str, dict[str, None]] = {model: {} for model in models}
    started, total = time.perf_counter(), repeats * len(models)
    for draw, subset in enumerate(subsets):
        outcomes = {}
        for column, model in enumerate(models):
            outcomes[model] = score_model(full[model].subset(subset), names, options)
            if progress is not None:
                done = draw * len(models) + column + 1
                elapsed = time.perf_counter() - started
                progress(done, total, elapsed / done * (total - done))
        for column, (model, by_metric) in enumerate(pool_outcomes(outcomes).items()):
            for name, outcome in by_metric.items():
                scores[name][draw, column] = np.nan if outcome.value is None else outcome.value
                if name in components:
                    components[name][draw][column] = outcome.components
                warnings_by_model[model].update(dict.fromkeys(f"{name}: {text}" for text in outcome.warnings))
    return ScoreDraws(models, names, subsets, scores, {model: list(seen) for model, seen in warnings_by_model.items()},
                      components)


def _metric_names(metrics, prepared_by_model: dict[str, Prepared], kind: str) -> list[str]:
    """``"all"`` = every metric that at least one model can run with its ``kind`` of supervision (``"labels"`` or
    ``"targets"``). Named metrics that do not support the task (classification-only ones for regression
    targets) are dropped; a remaining one that no model can run (its inputs missing everywhere), an unknown
    name, or nothing left is an error before any scoring starts."""
    runnable: list[str] = []
    for prepared in prepared_by_model.values():
        runnable += [name for name in select_metrics("all", prepared) if name not in runnable]
    if metrics in (None, "all", ["all"]):
        if not runnable:
            raise MetricInputError("no metric can be run on these inputs")
        return runnable
    requested = [metrics] if isinstance(metrics, str) else list(metrics)
    if not requested:
        raise MetricInputError("no metrics were requested")
    task = CLASSIFICATION if kind == "labels" else REGRESSION
    names = [name for name in requested if task in get_metric(name).tasks]  # get_metric rejects unknown names
    if not names:
        raise MetricInputError(f"none of {', '.join(requested)} supports {task}")
    for name in names:
        missing = get_metric(name).missing_inputs(prepared)
        if name not in runnable:
            raise MetricInputError(f"no model can be scored with {name!r}: it needs {' and '.join(missing)}")
    return names


@dataclass
class RankIntervals:
    """Ranks of every model on each subset, per metric and by consensus (rank 1 is best).

    ``rank_draws[name]`` is [repeats, models] for each metric and for ``"consensus"`` (the mean of a
    model's per-metric ranks on that subset); ``scores`` holds the score draws behind them. Summaries are
    computed from the draws at any level.
    """

    models: list[str]
    metrics: list[str]
    level: float
    rank_draws: dict[str, np.ndarray]
    scores: ScoreDraws

    def median(self, model: str, metric: str = CONSENSUS) -> float | None:
        ranks = self._ranks(model, metric)
        return float(np.median(ranks)) if ranks.size else None

    def interval(self, model: str, metric: str = CONSENSUS, level: float | None = None) -> tuple[float, float] | None:
        """Central ``level`` interval of the model's ranks (see :func:`central_interval`); None if no draws."""
        return central_interval(self._ranks(model, metric), self.level if level is None else level)

    def overlaps(self, model: str, other: str, metric: str = CONSENSUS, level: float | None = None) -> bool | None:
        """Whether the two models' rank intervals overlap (None when either has no draws)."""
        first, second = self.interval(model, metric, level), self.interval(other, metric, level)
        if first is None or second is None:
            return None
        return first[0] <= second[1] and second[0] <= first[1]

    def summary(self, level: float | None = None) -> list[dict]:
        """One row per model: ``<name>_median`` and ``<name>_interval`` for each metric and the consensus."""
        rows = []
        for model in self.models:
            row: dict = {"model": model}
            for name in self.rank_draws:
                row[f"{name}_median"] = self.median(model, name)
                row[f"{name}_interval"] = self.interval(model, name, level)
            rows.append(row)
        return rows

    def _ranks(self, model: str, metric: str) -> np.ndarray:
        if model not in self.models:
            raise InvalidInputError(f"unknown model {model!r}; known: {', '.join(self.models)}")
        if metric not in self.rank_draws:
            raise InvalidInputError(f"no ranks for {metric!r}; known: {', '.join(self.rank_draws)}")
        column = self.rank_draws[metric][:, self.models.index(model)]
        return column[np.isfinite(column)]


def rank_intervals(draws: ScoreDraws, level: float = 0.9) -> RankIntervals:
    """Rank the models per metric and by consensus on each subset, with the ranking table's own rules."""
    _check_level(level)
    names = [*draws.metrics, CONSENSUS]
    rank_draws = {name: np.full((len(draws.subsets), len(draws.models)), np.nan) for name in names}
    for draw in range(len(draws.subsets)):
        ranked = rank_models([{name: _number(draws.scores[name][draw, column]) for name in draws.metrics}
                              for column in range(len(draws.models))], draws.metrics)
        for name in names:
            rank_draws[name][draw] = [np.nan if ranks[name] is None else ranks[name] for ranks in ranked]
    return RankIntervals(draws.models, draws.metrics, level, rank_draws, draws)


def _number(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def subsample_rank_intervals(features_by_model: dict[str, np.ndarray], labels=None, *, targets=None,
                             metrics: str | list[str] = "all",
                             source_probs_by_model: dict[str, np.ndarray] | None = None,
                             general_features_by_model: dict[str, np.ndarray] | None = None, fraction: float = 0.8,
                             repeats: int = 20, seed: int = 0, level: float = 0.9, options: dict | None = None,
                             device: str = "auto", progress: Progress | None = None) -> RankIntervals:
    """Median rank and central ``level`` rank interval of every model over ``repeats`` subsets (``fraction``
    of each class for ``labels``, of all samples for regression ``targets``; without replacement, seeded),
    per metric and by consensus (the scores of :func:`subsample_scores`)."""
    draws = subsample_scores(features_by_model, labels, targets=targets, metrics=metrics,
                             source_probs_by_model=source_probs_by_model,
                             general_features_by_model=general_features_by_model, fraction=fraction,
                             repeats=repeats, seed=seed, options=options, device=device, progress=progress)
    return rank_intervals(draws, level)


@dataclass
class MetricStability:
    """Each metric's weighted τ over resampled setups (a model sub-pool × a target subset).

    ``tau_draws[metric]`` has one entry per setup (NaN where τ is undefined: fewer than 3 scored models or
    constant scores); ``pools[i]`` lists the models of setup i and ``subset_of_setup[i]`` its target subset.
    ``win_share[metric]`` is the share of setups where the metric had the highest τ (ties share the win).
    """

    metrics: list[str]
    level: float
    tau_draws: dict[str, np.ndarray]
    pools: list[list[str]]
    subset_of_setup: np.ndarray
    win_share: dict[str, float]

    def summary(self, level: float | None = None) -> list[dict]:
        """One row per metric: median τ, its central interval, the win share and how many setups had no τ."""
        level = self.level if level is None else level
        rows = []
        for metric in self.metrics:
            taus = self.tau_draws[metric][np.isfinite(self.tau_draws[metric])]
            rows.append({"metric": metric, "median_tau": float(np.median(taus)) if taus.size else None,
                         "tau_interval": central_interval(taus, level), "win_share": self.win_share[metric],
                         "setups": len(self.pools), "undefined": int(len(self.pools) - taus.size)})
        return rows


def stability_from_scores(draws: ScoreDraws, accuracies: dict[str, float], *, pools_per_subset: int = 10,
                          pool_fraction: tuple[float, float] = (0.6, 1.0), min_pool: int = MIN_MODELS,
                          seed: int = 0, level: float = 0.9) -> MetricStability:
    """Weighted τ of each metric against ``accuracies`` for random sub-pools on each scored subset.

    Pool sizes are uniform between ``pool_fraction`` of the models with ground truth (at least ``min_pool``);
    the pools are drawn without replacement, seeded. Scores come from ``draws``, so nothing is re-scored; a
    pool-relative metric (NCTI, ETran) is combined again within each sub-pool (:meth:`ScoreDraws.pool_scores`).
    """
    if min_pool < MIN_MODELS:
        raise InvalidInputError(f"min_pool must be at least {MIN_MODELS}: a weighted τ over fewer models means nothing")
    truth_models = [model for model in draws.models if model in accuracies]
    if len(truth_models) < min_pool:
        raise InvalidInputError(f"stability needs ground truth for at least {min_pool} scored models, "
                               f"got {len(truth_models)}")
    if pools_per_subset < 1:
        raise InvalidInputError(f"pools_per_subset must be at least 1, got {pools_per_subset}")
    low_fraction, high_fraction = pool_fraction
    if not 0 < low_fraction <= high_fraction <= 1:
        raise InvalidInputError(f"pool_fraction must satisfy 0 < low ≤ high ≤ 1, got {pool_fraction}")
    smallest = max(min_pool, math.ceil(low_fraction * len(truth_models)))
    sizes = (smallest, max(smallest, math.floor(high_fraction * len(truth_models))))
    columns = np.asarray([draws.models.index(model) for model in truth_models])
    truth = np.asarray([accuracies[model] for model in truth_models], dtype=float)
    if not np.all(np.isfinite(truth)):
        raise InvalidInputError("accuracies contain NaN or inf")
    rng = np.random.default_rng(seed)
    pools, subset_of_setup = [], []
    taus = {metric: [] for metric in draws.metrics}
    for draw in range(len(draws.subsets)):
        for _ in range(pools_per_subset):
            pool = np.sort(rng.permutation(len(truth_models))[: rng.integers(sizes[0], sizes[1] + 1)])
            pools.append([truth_models[i] for i in pool])
            subset_of_setup.append(draw)
            for metric in draws.metrics:
                taus[metric].append(_tau_or_nan(draws.pool_scores(metric, draw, columns[pool]), truth[pool]))
    tau_draws = {metric: np.asarray(values) for metric, values in taus.items()}
    return MetricStability(draws.metrics, level, tau_draws, pools, np.asarray(subset_of_setup),
                           _win_share(tau_draws))


def _tau_or_nan(scores: np.ndarray, truth: np.ndarray) -> float:
    scored = np.isfinite(scores)
    if scored.sum() < MIN_MODELS:
        return np.nan
    try:
        return weighted_tau(scores[scored], truth[scored])
    except UndefinedResultError:
        return np.nan


def _win_share(tau_draws: dict[str, np.ndarray]) -> dict[str, float]:
    """Share of setups where each metric has the highest τ; metrics tied at the top split that setup."""
    table = np.stack(list(tau_draws.values()), axis=1)  # [setups, metrics]
    filled = np.where(np.isfinite(table), table, -np.inf)
    best = filled.max(axis=1, keepdims=True)
    winners = (filled == best) & np.isfinite(best)
    credit = winners / np.maximum(winners.sum(axis=1, keepdims=True), 1)
    return {metric: float(share) for metric, share in zip(tau_draws, credit.mean(axis=0))}


def metric_stability(features_by_model: dict[str, np.ndarray], labels, accuracies: dict[str, float], *,
                     metrics: str | list[str] = "all", source_probs_by_model: dict[str, np.ndarray] | None = None,
                     general_features_by_model: dict[str, np.ndarray] | None = None,
                     fraction: float = 0.8, repeats: int = 20, pools_per_subset: int = 10,
                     pool_fraction: tuple[float, float] = (0.6, 1.0), min_pool: int = MIN_MODELS, seed: int = 0,
                     level: float = 0.9, options: dict | None = None, device: str = "auto",
                     progress: Progress | None = None) -> MetricStability:
    """Distribution of each metric's weighted τ over ``repeats`` target subsets × ``pools_per_subset`` model
    sub-pools, and each metric's share of wins (issue 5; Agostinelli et al. ECCV'22).

    With ``pool_fraction=(1, 1)`` only the target samples vary: the τ interval from sample resampling alone.
    Already have the score draws (e.g. from :func:`subsample_rank_intervals`)? Call
    :func:`stability_from_scores` on ``intervals.scores`` instead of re-scoring.
    """
    draws = subsample_scores(features_by_model, labels, metrics=metrics, source_probs_by_model=source_probs_by_model,
                             general_features_by_model=general_features_by_model, fraction=fraction,
                             repeats=repeats, seed=seed, options=options, device=device, progress=progress)
    return stability_from_scores(draws, accuracies, pools_per_subset=pools_per_subset, pool_fraction=pool_fraction,
                                 min_pool=min_pool, seed=seed, level=level)
