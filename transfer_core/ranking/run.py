"""One ranking run, the same for the Rank page, the ``rank`` command and Python: rank every model, re-rank it on
resampled subsets of the images (rank intervals), explain the result in plain words (the verdict) and, when asked,
suggest models to ensemble.

>>> IntervalSettings(mode="sometimes")
Traceback (most recent call last):
...
transfer_core.errors.InvalidInputError: interval mode must be one of all, cheap, off, got 'sometimes'
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Callable

from transfer_core.config import (
    DEFAULT_INTERVAL_REPEATS,
    INTERVAL_FRACTION,
    INTERVAL_LEVEL,
    INTERVAL_MODES,
    INTERVAL_SEED,
    interval_metrics,
)
from transfer_core.errors import InvalidInputError, UndefinedResultError
from transfer_core.ranking.pipeline import Progress, rank_dataset
from transfer_core.ranking.table import Ranking

ENSEMBLE_PCA_DIM = 32  # SFDA's greedy selection compares joined features after a common PCA, so they do not saturate

# interval_progress(done, total, eta_seconds): one step per (subset, model) re-scored
IntervalProgress = Callable[[int, int, "float | None"], None]


@dataclass(frozen=True)
class IntervalSettings:
    """How the rank intervals are made: ``mode`` ``"all"`` re-scores every metric of the ranking (the default, so ties
    are judged on the consensus that chose the best model), ``"cheap"`` only the quick ones, ``"off"`` none."""

    mode: str = INTERVAL_MODES[0]
    repeats: int = DEFAULT_INTERVAL_REPEATS
    fraction: float = INTERVAL_FRACTION
    level: float = INTERVAL_LEVEL
    seed: int = INTERVAL_SEED

    def __post_init__(self) -> None:
        if self.mode not in INTERVAL_MODES:
            raise InvalidInputError(f"interval mode must be one of {', '.join(INTERVAL_MODES)}, got {self.mode!r}")
        if isinstance(self.repeats, bool) or not isinstance(self.repeats, int) or not 1 <= self.repeats <= 1000:
            raise InvalidInputError(f"interval repeats must be a whole number from 1 to 1000, got {self.repeats!r}")


@dataclass
class RankRun:
    """A finished run: the ranking, its rank intervals (None when off or impossible; ``notes`` say why), the verdict
    (None when no model was ranked), the ensemble suggestion (None unless asked for and possible) and sentences to
    show beside them."""

    ranking: Ranking
    intervals: object | None  # transfer_core.evidence.uncertainty.RankIntervals
    verdict: object | None  # transfer_core.evidence.verdict.Verdict
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    ensemble: object | None = None  # transfer_core.evidence.ensemble.EnsembleChoice

    def consensus_intervals(self) -> dict[str, tuple[float, float]] | None:
        """Each model's consensus-rank interval, only when the intervals were computed on the ranking's own metrics
        (otherwise they are not intervals of the consensus shown)."""
        intervals = self.intervals
        if intervals is None or set(intervals.metrics) != set(self.ranking.metrics):
            return None
        return {model: bounds for model in intervals.models if (bounds := intervals.interval(model)) is not None}

    def to_dict(self) -> dict:
        """``ranking.json``: the ranking's keys, plus ``verdict``, ``intervals``, ``ensemble`` and ``notes``."""
        return {**self.ranking.to_dict(), "verdict": _verdict_dict(self.verdict),
                "intervals": _intervals_dict(self.intervals), "ensemble": _ensemble_dict(self.ensemble),
                "notes": list(self.notes)}


def rank_run(dataset, model_ids: list[str], *, metrics: str | list[str] = "all",
             intervals: IntervalSettings = IntervalSettings(), ensemble: bool = False, device: str = "auto",
             options: dict | None = None, store=None, progress: Progress | None = None,
             interval_progress: IntervalProgress | None = None, engine: str = "auto", models=None,
             executor=None) -> RankRun:
    """Rank ``model_ids`` on a loaded ``dataset`` (:func:`~transfer_core.ranking.pipeline.rank_dataset`), then the rank
    intervals on the features the ranking extracted, the verdict and, with ``ensemble``, SFDA's greedy ensemble;
    ``engine`` is the extraction engine (:data:`~transfer_core.engines.ENGINES`), ``models`` the
    :class:`~transfer_core.features.LoadedModels` to keep models loaded in across runs, ``executor`` where the
    extraction runs (:mod:`transfer_core.executors`; None: locally)."""
    from transfer_core.evidence.verdict import verdict

    started = time.perf_counter()
    extracted: dict = {}
    ranking = rank_dataset(dataset, model_ids, metrics=metrics, device=device, options=options, store=store,
                           progress=progress, features_out=extracted, engine=engine, models=models,
                           executor=executor)
    intervals_, note = _rank_intervals(ranking, dataset, extracted, intervals, device, options, interval_progress)
    try:
        explained = verdict(ranking, intervals_, level=intervals.level)
    except UndefinedResultError:  # no model was ranked
        explained = None
    chosen = (suggest_ensemble(ranking, dataset.labels, lambda model: extracted[model][0], device) if ensemble
              else None)
    return RankRun(ranking, intervals_, explained, [note] if note else [], time.perf_counter() - started, chosen)


def _rank_intervals(ranking: Ranking, dataset, extracted: dict, settings: IntervalSettings, device: str,
                    options: dict | None, progress: IntervalProgress | None):
    """The rank intervals on the chosen metrics, and a sentence saying how they were made (or why there are none)."""
    from transfer_core.evidence.uncertainty import subsample_rank_intervals

    chosen = interval_metrics(ranking.metrics, settings.mode)
    models = ranking.model_ids
    if not chosen:
        return None, "Rank intervals were switched off, so the verdict makes no statement about ties."
    if len(models) < 2:
        return None, ""
    try:
        intervals = subsample_rank_intervals(
            {model: extracted[model][0] for model in models}, dataset.labels, targets=dataset.targets,
            metrics=chosen, source_probs_by_model={model: extracted[model][1] for model in models
                                                   if extracted[model][1] is not None},
            general_features_by_model={model: extracted[model][2] for model in models
                                       if extracted[model][2] is not None},
            fraction=settings.fraction, repeats=settings.repeats, seed=settings.seed, level=settings.level,
            options=options, device=device, progress=progress)
    except (InvalidInputError, UndefinedResultError) as error:
        return None, f"Rank intervals could not be computed ({error}), so the verdict makes no statement about ties."
    which = ("They use every metric of the ranking." if set(chosen) == set(ranking.metrics) else
             f"To stay fast they use only {', '.join(chosen)}, not all {len(ranking.metrics)} metrics of the ranking; "
             "choose “Every metric of the ranking” on the Rank page to judge ties on the ranking's own consensus.")
    drawn = "class-stratified, " if dataset.labels is not None else ""
    return intervals, (f"Ties: every model was re-ranked on {settings.repeats} random {settings.fraction:.0%} subsets "
                       f"of the images ({drawn}seed {settings.seed}); two models are statistically tied when their "
                       f"{settings.level:.0%} consensus-rank intervals overlap. {which}")


def suggest_ensemble(ranking: Ranking, labels, features_of: Callable[[str], object], device: str = "auto"):
    """SFDA's greedy forward selection over the ranked models, their features from ``features_of(model_id)``
    (None without class labels or with fewer than two models)."""
    from transfer_core.evidence.ensemble import select_ensemble

    if labels is None or len(ranking.models) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # saturation caveats are the metric's; the selection compares at one PCA size
        return select_ensemble({model: features_of(model) for model in ranking.model_ids}, labels,
                               pca_dim=ENSEMBLE_PCA_DIM, device=device)


def _verdict_dict(verdict) -> dict | None:
    if verdict is None:
        return None
    return {"best": verdict.best, "tied_with": verdict.tied_with, "text": verdict.text,
            "sentences": list(verdict.sentences)}


def _intervals_dict(intervals) -> dict | None:
    """Per model and per metric (and the consensus): the median rank and the central interval over the subsets."""
    if intervals is None:
        return None
    subsets = intervals.scores.subsets
    return {"level": intervals.level, "metrics": list(intervals.metrics), "repeats": len(subsets),
            "subset_size": len(subsets[0]) if subsets else 0,
            "models": [{key: list(value) if isinstance(value, tuple) else value for key, value in row.items()}
                       for row in intervals.summary()]}


def _ensemble_dict(choice) -> dict | None:
    if choice is None:
        return None
    return {"models": list(choice.models), "sfda": [float(score) for score in choice.scores],
            "pca_dim": ENSEMBLE_PCA_DIM}
