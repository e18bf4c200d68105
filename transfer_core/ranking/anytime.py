"""An anytime ranking: the run of :func:`~transfer_core.ranking.run.rank_run` on growing class-stratified slices of
the images, so that a provisional ranking (scores, rank intervals, verdict) exists after the first slice and is refined
until the whole set is ranked; the last slice is the whole dataset, so the final run is the plain one.

Each slice extends the one before (:func:`~transfer_core.data.subsample.nested_slices`): the feature store keeps rows
per image (:mod:`transfer_core.cache.rows`), so a slice extracts only its new images, and every model is loaded (and
its engine opened) once for the whole run (:class:`~transfer_core.features.LoadedModels`). Within a slice the models
run cheapest first, by the seconds per image each took in the slice before; the final slice runs them in the given
order, so the final run is the plain one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from transfer_core.config import ANYTIME_FRACTIONS, ANYTIME_MIN_IMAGES
from transfer_core.ranking.pipeline import expand_model_ids
from transfer_core.ranking.run import RankRun, rank_run


@dataclass(frozen=True)
class Provisional:
    """The run on one slice: it rests on ``images`` of the ``total`` images (``indices`` into the whole dataset),
    ``seconds`` after the start; ``final`` on the whole set."""

    run: RankRun
    indices: np.ndarray
    total: int
    seconds: float

    @property
    def images(self) -> int:
        return int(self.indices.size)

    @property
    def final(self) -> bool:
        return self.images == self.total

    def progress_line(self) -> dict:
        """The slice's line of ``progress.jsonl``: seconds, images, and each model's consensus rank, best first."""
        return {"seconds": round(self.seconds, 3), "images": self.images,
                "ranking": [{"model": row.model, "consensus_rank": row.consensus_rank}
                            for row in self.run.ranking.models]}


def rank_anytime(dataset, model_ids: list[str], *, fractions: tuple[float, ...] = ANYTIME_FRACTIONS,
                 on_slice: Callable[[Provisional], None] | None = None, ensemble: bool = False,
                 slice_seed: int | None = None, min_images: int = ANYTIME_MIN_IMAGES, **run_options) -> RankRun:
    """:func:`~transfer_core.ranking.run.rank_run` on each slice of ``dataset`` in turn (``run_options`` are its
    keywords); ``on_slice`` hears every provisional run as soon as it is complete (the last one is the final run,
    which it returns). The slices are drawn with ``slice_seed`` (default: the dataset's seed); a slice of fewer than
    ``min_images`` images is skipped (the whole set is always ranked). The ensemble suggestion
    is computed on the final slice only. A model that fails on a slice is not tried again; later rankings keep its
    error."""
    from transfer_core.data.base import dataset_part
    from transfer_core.data.subsample import nested_slices
    from transfer_core.features import LoadedModels

    started = time.perf_counter()
    seed = dataset.seed if slice_seed is None else slice_seed
    slices = [indices for indices in nested_slices(dataset.size, tuple(fractions), seed, dataset.labels)
              if indices.size >= min_images or indices.size == dataset.size]
    given = expand_model_ids(model_ids)
    ids, errors = list(given), {}
    run_options.setdefault("models", LoadedModels())
    for indices in slices:
        part = dataset_part(dataset, indices)
        final = part.size == dataset.size
        if final:  # the whole set in the given order: the final run is exactly the plain one (ties keep their order)
            ids = [model for model in given if model in ids]
        run = rank_run(part, ids, ensemble=ensemble and final, **{**run_options, "progress": _in_given_order(
            run_options.get("progress"), ids, given)})
        errors.update(run.ranking.errors)
        run.ranking.errors = dict(errors)
        if on_slice is not None:
            on_slice(Provisional(run, indices, dataset.size, time.perf_counter() - started))
        ids = _cheapest_first(run, [model for model in ids if model not in errors])
    return run


def _in_given_order(progress, ids: list[str], given: list[str]):
    """``progress`` told each model's place among the ``given`` models, not among this slice's reordered ``ids``."""
    if progress is None:
        return None
    return lambda stage, index, _, *rest: progress(stage, given.index(ids[index]), len(given), *rest)


def _cheapest_first(run: RankRun, ids: list[str]) -> list[str]:
    """``ids`` ordered by the seconds each model's extraction took on the slice just run (the same new images for
    every model, so this is its cost per image; a store hit costs about nothing)."""
    seconds = {row.model: row.extract_seconds or 0.0 for row in run.ranking.models}
    return sorted(ids, key=lambda model: seconds.get(model, 0.0))
