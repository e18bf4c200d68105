"""The local executor: every unit of work in this process (the default; Ray is not imported).

Extraction decodes once: models that share a :class:`~transfer_core.models.base.Preprocessing` share one decoded,
preprocessed batch stream (:func:`~transfer_core.features.extract_group`), with the device's batch size and loader
processes (:func:`~transfer_core.config.extraction_defaults`: none on a CPU). A model's preprocessing
is known before it is loaded when the store has its manifest or the zoo declares it, so only the models of one group
are loaded at a time.
"""

from __future__ import annotations

from typing import Callable, Iterator

from transfer_core.executors import Extracted, ExtractProgress


class LocalExecutor:
    """Runs extraction and mapped units in this process, one after another; ``batch_size`` and ``num_workers`` (loader
    processes) override the device's extraction defaults."""

    def __init__(self, *, batch_size: int | None = None, num_workers: int | None = None):
        self.batch_size, self.num_workers = batch_size, num_workers

    def __enter__(self) -> "LocalExecutor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Nothing to release locally."""

    def map(self, fn: Callable, items: list, *, gpus: float = 0) -> list:
        """``[fn(item) for item in items]`` (``gpus`` is Ray's resource request; locally the device decides)."""
        return [fn(item) for item in items]

    def extract(self, model_ids: list[str], dataset, *, store, device: str = "auto", engine: str = "auto",
                models=None, progress: ExtractProgress | None = None) -> Iterator[Extracted]:
        """Each model's :class:`~transfer_core.executors.Extracted`: first those the store serves without loading,
        then one group of models sharing a preprocessing at a time, in the order of their first member."""
        from transfer_core.features import cached_extraction, extract_group
        from transfer_core.models.manifest import ModelManifest

        index = {model_id: position for position, model_id in enumerate(model_ids)}

        def reporter(model_id: str):
            return None if progress is None else (lambda done, total, eta: progress(index[model_id], done, total, eta))

        remaining = []
        for model_id in model_ids:
            hit = cached_extraction(model_id, dataset, store, progress=reporter(model_id))
            if hit is not None:
                yield hit
            else:
                remaining.append(model_id)
        from transfer_core.models import declared_preprocessing

        declared = {model_id: declared_preprocessing(model_id, store.root) for model_id in remaining}
        while remaining:
            head = remaining.pop(0)
            group, failed = _load_group(head, remaining, declared, store, models)
            yield from failed
            if not group:
                continue
            outcomes = extract_group(group, dataset, device=device, batch_size=self.batch_size,
                                     num_workers=self.num_workers, store=store, engine=engine, models=models,
                                     progress=reporter(head))
            for model, outcome in zip(group, outcomes):
                if isinstance(outcome, Exception):
                    yield Extracted(model.model_id, None, None, outcome)
                    continue
                if progress is not None and model.model_id != head:
                    progress(index[model.model_id], dataset.size, dataset.size, 0.0)
                yield Extracted(model.model_id, outcome, ModelManifest.of(model))


def _load_group(head: str, remaining: list[str], declared: dict, store, models) -> tuple[list, list[Extracted]]:
    """``head`` loaded with the models of ``remaining`` whose ``declared`` preprocessing is its own (taken out of it),
    and the errors of those that failed to load."""
    from transfer_core.features import load_by_id

    loaded, failed = [], []
    try:
        first = load_by_id(head, None, store, models)
    except Exception as error:  # noqa: BLE001 - one bad model must not sink the run
        return [], [Extracted(head, None, None, error)]
    loaded.append(first)
    for model_id in [model_id for model_id in remaining
                     if declared[model_id] == first.preprocessing]:
        remaining.remove(model_id)
        try:
            loaded.append(load_by_id(model_id, None, store, models))
        except Exception as error:  # noqa: BLE001
            failed.append(Extracted(model_id, None, None, error))
    return loaded, failed
