"""rank_dataset(dataset, models, metrics) → a ranking table: extract once per model (cached), score, rank (the whole
run with rank intervals and the verdict is :func:`transfer_core.ranking.run.rank_run`).

A model that fails to load or extract is reported in ``Ranking.errors`` and the rest of the run continues.
"""

from __future__ import annotations

from typing import Callable

from transfer_core.ranking.table import Ranking, rank_table

# progress(stage, model_index, model_count, done, total, eta_seconds)
Progress = Callable[[str, int, int, int, int, "float | None"], None]


def expand_model_ids(model_ids: list[str]) -> list[str]:
    """``zoo`` alone stands for the whole default zoo with its random-init baselines."""
    from transfer_core.models import default_zoo_ids

    expanded: list[str] = []
    for model_id in model_ids:
        for item in default_zoo_ids() if model_id == "zoo" else [model_id]:
            if item not in expanded:
                expanded.append(item)
    return expanded


def dataset_summary(dataset) -> dict:
    """The ``dataset`` block of ``ranking.json``."""
    summary = {"id": dataset.dataset_id, "name": dataset.name, "size": dataset.size,
               "fingerprint": dataset.fingerprint, "task": "classification" if dataset.labels is not None
               else "regression", "skipped": len(dataset.skipped), "limit": dataset.limit, "seed": dataset.seed}
    if dataset.part_of is not None:
        summary["part_of"] = dataset.part_of  # a provisional (anytime) ranking rests on a slice of the images
    if dataset.labels is not None:
        summary["classes"] = [str(c) for c in dataset.classes]
    return summary


def rank_dataset(dataset, model_ids: list[str], *, metrics: str | list[str] = "all", device: str = "auto",
                 options: dict | None = None, store=None, progress: Progress | None = None,
                 features_out: dict | None = None, engine: str = "auto", models=None, executor=None) -> Ranking:
    """Rank ``model_ids`` on a loaded :class:`~transfer_core.data.base.ImageDataset` by each metric and by consensus,
    extracting with ``engine`` (:data:`~transfer_core.engines.ENGINES`) on ``executor`` (:mod:`transfer_core.executors`;
    None: the local one); ``features_out`` (a dict) receives each ranked model's ``(features, source probabilities or
    None, general features or None)``; ``models`` (a :class:`~transfer_core.features.LoadedModels`) keeps the loaded
    models for a later run. Why a model ran in torch instead of ONNX Runtime is one of its warnings.

    Pool-relative metrics (NCTI, ETran) are combined across the models that were scored
    (:func:`~transfer_core.metrics.suite.pool_outcomes`). With PED among the metrics each model also extracts the
    general sample (:func:`~transfer_core.data.general.general_sample`), which PED standardises with."""
    from transfer_core.cache.store import FeatureStore
    from transfer_core.engines import resolve_engine
    from transfer_core.executors.local import LocalExecutor
    from transfer_core.metrics.prepared import prepare
    from transfer_core.metrics.suite import checked_options, pool_outcomes, score_model

    options = checked_options(options)  # an out-of-range option fails here, before any model is loaded
    resolve_engine(engine, device)  # so does an unknown engine
    store = store if store is not None else FeatureStore()
    executor = executor if executor is not None else LocalExecutor()
    ids = expand_model_ids(model_ids)
    how = {"store": store, "device": device, "engine": engine, "models": models}

    def report(index, done, total, eta):
        if progress is not None:
            progress("extract", index, len(ids), done, total, eta)

    extracted = {item.model_id: item for item in executor.extract(ids, dataset, progress=report, **how)}
    errors = {model_id: _error(item.error) for model_id, item in extracted.items() if item.error is not None}
    general = _general_sample(metrics, dataset)
    general_features, warnings_by_model = {}, {model: [] for model in ids}
    if general is not None:  # a model whose general sample fails loses PED only
        for item in executor.extract([model for model in ids if model not in errors], general, **how):
            if item.error is not None:
                warnings_by_model[item.model_id].append(f"ped: the general sample could not be extracted, so PED "
                                                        f"has no score ({_error(item.error)})")
            else:
                general_features[item.model_id] = item.result.features
    outcomes, facts = {}, {}
    for index, model_id in enumerate(ids):
        if model_id in errors:
            continue
        extraction, manifest = extracted[model_id].result, extracted[model_id].manifest
        try:
            prepared = prepare(extraction.features, dataset.labels, targets=dataset.targets,
                               source_probs=extraction.source_probs, general_features=general_features.get(model_id),
                               device=device)
            outcomes[model_id] = score_model(prepared, metrics, options)
        except Exception as exc:  # one bad model must not sink the run: its row says why
            errors[model_id] = _error(exc)
            continue
        facts[model_id] = {"feature_dim": int(extraction.features.shape[1]),
                           "extract_seconds": round(float(extraction.seconds), 3),
                           "cache_hit": bool(extraction.cache_hit), "engine": extraction.engine,
                           "card": manifest.card.to_dict()}
        if features_out is not None:
            features_out[model_id] = (extraction.features, extraction.source_probs, general_features.get(model_id))
        if extraction.engine_note:
            warnings_by_model[model_id].insert(0, f"engine: {extraction.engine_note}")
        if progress is not None:
            progress("scored", index, len(ids), 1, 1, 0.0)
    outcomes = pool_outcomes(outcomes)
    scores = {model: {name: o.value for name, o in by_metric.items()} for model, by_metric in outcomes.items()}
    for model, by_metric in outcomes.items():
        warnings_by_model[model] += [f"{o.name}: {w}" for o in by_metric.values() for w in o.warnings]
    used_metrics = list(dict.fromkeys(name for by_metric in outcomes.values() for name in by_metric))
    errors = {model: errors[model] for model in ids if model in errors}  # in the order asked
    return Ranking(dataset_summary(dataset), used_metrics, rank_table(scores, used_metrics, facts), errors,
                   {model: warnings_by_model[model] for model in outcomes})


def _error(exc: Exception) -> str:
    """How a model's failure reads in ``Ranking.errors``."""
    return f"{type(exc).__name__}: {exc}"


def _general_sample(metrics: str | list[str] | None, dataset):
    """PED's general sample when PED may run (named, or ``"all"`` on class labels), else None."""
    from transfer_core.data.general import general_sample

    named = [metrics] if isinstance(metrics, str) else list(metrics or ["all"])
    wanted = "ped" in named or (named == ["all"] and dataset.labels is not None)
    return general_sample() if wanted else None
