"""Check a ranking against ground truth: how well did each metric predict what training on the data gives?

Ground truth is a cross-validated linear probe, fine-tuning under a recorded protocol, or a user's ``model,accuracy``
CSV (``transfer_core.groundtruth``); the evaluation is weighted Kendall τ and friends
(``transfer_core.evidence.evaluation``), optionally with the distribution of τ over resampled setups
(``transfer_core.evidence.uncertainty``; Agostinelli et al., ECCV'22).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, NamedTuple

from transfer_core.cache.atomic import atomic_write_text
from transfer_core.config import INTERVAL_FRACTION, INTERVAL_LEVEL, INTERVAL_SEED
from transfer_core.errors import InvalidInputError, UndefinedResultError
from transfer_core.groundtruth import (
    FINE_TUNE,
    LINEAR_PROBE,
    FineTuneProtocol,
    GroundTruth,
    GroundTruthError,
    fine_tune,
    load_groundtruth_csv,
    probe_model,
)
from transfer_core.groundtruth.comparison import side_by_side
from transfer_core.groundtruth.mapping import Mapper
from transfer_core.ranking.table import Ranking

if TYPE_CHECKING:  # annotations only
    from transfer_core.evidence.uncertainty import MetricStability, Progress

USER_CSV = "user CSV"
# The stability check, the same in the CLI and the app: INTERVAL_FRACTION subsets of the images (seed INTERVAL_SEED),
# each with POOLS_PER_SUBSET random model sub-pools, τ intervals at INTERVAL_LEVEL.
POOLS_PER_SUBSET = 10
SOURCE_METRICS = ("leep", "nce")  # need every model's source-class probabilities to be compared across models

# progress(model_index, model_count, message)
ValidationProgress = Callable[[int, int, str], None]
# model ID → (features, source probabilities or None) on the ranked images
FeatureSource = Callable[[str], tuple]


@dataclass
class Validation:
    """Ground truth per model, each metric's agreement with it, and (optionally) how stable that agreement is."""

    kind: str  # "linear probe", "fine-tune" or "user CSV"
    dataset: dict
    accuracies: dict[str, float]
    evaluation: list[dict]
    protocols: dict[str, dict] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)  # the models among ``missing`` that failed, and why
    # (``missing``: models with no ground truth at all; a collapsed fine-tuning is listed in ``collapsed`` instead)
    resampled: MetricStability | None = None  # the τ draws of the stability check
    stability_note: str | None = None  # why the stability check could not run
    collapsed: dict[str, str] = field(default_factory=dict)  # fine-tuning collapsed at every grid point, and why
    include_collapsed: bool = False  # whether the collapsed models' numbers are among ``accuracies`` (and in τ)
    probes: dict[str, float] = field(default_factory=dict)  # linear-probe accuracies beside a fine-tuning
    finetuned: dict[str, float | None] = field(default_factory=dict)  # every fine-tuned number, collapsed included

    @property
    def stability(self) -> list[dict] | None:
        """Per metric: median τ, its interval and win share over the resampled setups (None without them)."""
        return None if self.resampled is None else self.resampled.summary()

    @property
    def collapse_note(self) -> str | None:
        """One sentence on the collapsed models and whether τ counts them (None when none collapsed)."""
        if not self.collapsed:
            return None
        names = ", ".join(self.collapsed)
        if self.include_collapsed:
            return (f"Fine-tuning collapsed on {names}; their collapsed runs' accuracies are included in τ as asked, "
                    "so τ partly measures the training recipe, not the models.")
        return (f"Fine-tuning collapsed on {names} (every learning rate of the protocol): left out of τ, since their "
                "numbers say the recipe failed, not how good the model is. Include them explicitly to count them.")

    def comparison(self) -> list[dict]:
        """Fine-tune and probe side by side per model, with the models the recipe failed on flagged
        (:func:`~transfer_core.groundtruth.comparison.side_by_side`); empty unless the ground truth is fine-tuning."""
        return side_by_side(self.finetuned, self.collapsed, self.probes) if self.kind == FINE_TUNE else []

    def to_dict(self) -> dict:
        return {"groundtruth": self.kind, "dataset": self.dataset, "accuracies": self.accuracies,
                "evaluation": self.evaluation, "stability": self.stability, "protocols": self.protocols,
                "models_without_groundtruth": self.missing, "failed_models": self.failures,
                "collapsed_models": self.collapsed, "collapsed_included": self.include_collapsed,
                "probe_accuracies": self.probes, "finetune_vs_probe": self.comparison()}


class GroundTruths(NamedTuple):
    """What :func:`groundtruth_for` returns. ``accuracies`` has a number per model that has a usable one;
    ``collapsed`` maps each fine-tuned model whose every grid point collapsed to (why, the test score of its best
    collapsed point or None)."""

    kind: str
    accuracies: dict[str, float]
    protocols: dict[str, dict]
    failures: dict[str, str]
    collapsed: dict[str, tuple[str, float | None]]


def load_ranking(folder: str | Path) -> Ranking:
    """Read ``ranking.json`` from a ``rank --out`` folder (or the file itself)."""
    path = Path(folder)
    path = path / "ranking.json" if path.is_dir() else path
    try:
        return Ranking.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise GroundTruthError(f"no ranking found at {path}: run `rank --out` first") from None
    except json.JSONDecodeError as exc:
        raise GroundTruthError(f"{path} is not a valid ranking.json ({exc})") from None
    except (KeyError, TypeError, AttributeError) as exc:
        raise GroundTruthError(f"{path} is not a ranking.json written by `rank` (missing or malformed "
                               f"{exc})") from None


def reload_dataset(ranking: Ranking):
    """The exact target set the ranking was computed on (same ID, subsample and seed; fingerprint checked)."""
    from transfer_core.data import load_dataset

    info = ranking.dataset
    if info.get("part_of") is not None:
        raise GroundTruthError(f"this ranking is provisional: it rests on {info.get('size')} of the {info['part_of']} "
                               "images (the anytime ranking was stopped early); rank to the end before validating")
    dataset = load_dataset(info["id"], limit=info.get("limit"), seed=info.get("seed", 0))
    if dataset.fingerprint != info.get("fingerprint"):
        raise GroundTruthError(f"dataset {info['id']!r} changed since it was ranked (different images or labels): "
                               f"rank it again before validating")
    return dataset


def groundtruth_for(ranking: Ranking, groundtruth: str, *, protocol: FineTuneProtocol | None = None,
                    device: str = "auto", progress: ValidationProgress | None = None, engine: str = "auto",
                    map_models: Mapper | None = None, map_points: Mapper | None = None) -> GroundTruths:
    """:class:`GroundTruths` (kind, {model: accuracy}, {model: protocol}, {model: why it failed}, {model: (why it
    collapsed, its collapsed score)}) for the ranked models from ``groundtruth``: ``"probe"``, ``"finetune"`` or a
    path to a ``model,accuracy`` CSV. A model that no longer loads is reported in ``failures`` and the others go on.

    ``map_models(fn, model_ids) -> list`` runs one model's probe or fine-tuning per call
    (:mod:`~transfer_core.groundtruth.mapping`; default: one after the other here, ``progress`` told before each);
    ``fn`` carries no callback, so with a mapper ``progress`` hears the start and the end only. ``map_points`` goes
    to :func:`~transfer_core.groundtruth.fine_tune` for its grid points."""
    models = ranking.model_ids
    if groundtruth not in ("probe", "finetune"):
        accuracies = load_groundtruth_csv(groundtruth)
        covered = [m for m in models if m in accuracies]
        return GroundTruths(USER_CSV, {m: accuracies[m] for m in covered},
                            {m: {"source": str(groundtruth)} for m in covered}, {}, {})
    work = functools.partial(model_groundtruth, groundtruth=groundtruth, dataset=reload_dataset(ranking),
                             protocol=protocol, device=device, engine=engine, map_points=map_points)
    doing = "linear probe" if groundtruth == "probe" else "fine-tuning"
    if map_models is None:
        outcomes = []
        for index, model_id in enumerate(models):
            if progress is not None:
                progress(index, len(models), f"{doing} {model_id}")
            outcomes.append(work(model_id))
    else:
        if progress is not None:
            progress(0, len(models), f"{doing} {len(models)} models")
        outcomes = map_models(work, models)
    if progress is not None:
        progress(len(models), len(models), "done")
    results = {model: result for model, (result, _) in zip(models, outcomes) if result is not None}
    failures = {model: reason for model, (_, reason) in zip(models, outcomes) if reason is not None}
    kind = LINEAR_PROBE if groundtruth == "probe" else FINE_TUNE
    return GroundTruths(kind, {m: r.accuracy for m, r in results.items() if r.collapsed is None},
                        {m: r.protocol for m, r in results.items()}, failures,
                        {m: (r.collapsed, r.collapsed_accuracy) for m, r in results.items() if r.collapsed})


def model_groundtruth(model_id: str, *, groundtruth: str, dataset, protocol: FineTuneProtocol | None, device: str,
                      engine: str, map_points: Mapper | None) -> tuple[GroundTruth | None, str | None]:
    """One model's (result, None), or (None, why) when the model no longer loads: the unit ``map_models`` maps."""
    from transfer_core.models.errors import ModelLoadError

    try:
        if groundtruth == "probe":
            return probe_model(model_id, dataset, device=device, engine=engine), None
        return fine_tune(model_id, dataset, protocol=protocol, device=device, map_points=map_points), None
    except ModelLoadError as error:
        return None, str(error)


def validate(ranking: Ranking, groundtruth: str, *, protocol: FineTuneProtocol | None = None, stability: int = 0,
             labels=None, features: FeatureSource | None = None, device: str = "auto",
             progress: ValidationProgress | None = None, stability_progress: Progress | None = None,
             engine: str = "auto", map_models: Mapper | None = None, map_points: Mapper | None = None,
             include_collapsed: bool = False) -> Validation:
    """Evaluate every metric of ``ranking`` against ``groundtruth``; ``stability`` > 0 adds τ over that many
    resampled target subsets × model sub-pools (:func:`resampled_stability`). It re-scores ``features`` with
    ``labels`` when ``features`` is given (the app's cached ones), else :func:`store_features`. Features that are not
    in the store yet are extracted with ``engine`` (:data:`~transfer_core.engines.ENGINES`). ``map_models`` and
    ``map_points`` run the per-model ground truth and the fine-tuning grid points (see :func:`groundtruth_for`).

    Fine-tuning is put beside each model's linear probe (:meth:`Validation.comparison`). Models whose fine-tuning
    collapsed at every grid point are left out of τ unless ``include_collapsed`` (then their collapsed runs' test
    scores count, where there is one)."""
    from transfer_core.evidence.evaluation import evaluate_metrics

    truths = groundtruth_for(ranking, groundtruth, protocol=protocol, device=device, progress=progress,
                             engine=engine, map_models=map_models, map_points=map_points)
    accuracies = dict(truths.accuracies)
    if include_collapsed:
        accuracies.update({model: score for model, (_, score) in truths.collapsed.items() if score is not None})
    accuracies = {model: accuracies[model] for model in ranking.model_ids if model in accuracies}
    covered = list(accuracies)
    missing = [model for model in ranking.model_ids if model not in accuracies and model not in truths.collapsed]
    if len(covered) < 3:
        failed = "".join(f"; {model} failed: {reason}" for model, reason in truths.failures.items())
        failed += "".join(f"; {model} collapsed: {reason}" for model, (reason, _) in truths.collapsed.items())
        raise GroundTruthError(f"ground truth covers {len(covered)} of the ranked models; at least 3 are needed to "
                               f"evaluate a ranking{failed}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # near-constant scores: evaluate_metrics reports a reason instead
        evaluation = evaluate_metrics({metric: [ranking.row(model).score(metric) for model in covered]
                                       for metric in ranking.metrics}, [accuracies[model] for model in covered])
    validation = Validation(truths.kind, ranking.dataset, accuracies, evaluation, truths.protocols, missing,
                            truths.failures, collapsed={model: reason for model, (reason, _) in
                                                        truths.collapsed.items()},
                            include_collapsed=include_collapsed)
    if truths.kind == FINE_TUNE:
        validation.finetuned = {model: truths.accuracies.get(model, truths.collapsed.get(model, (None, None))[1])
                                for model in ranking.model_ids if model in truths.protocols}
        validation.probes = groundtruth_for(ranking, "probe", device=device, engine=engine,
                                            map_models=map_models).accuracies
    if stability:
        if features is None:
            labels, features = store_features(ranking, device, engine)
        outcome = resampled_stability(evaluation, accuracies, labels, features, stability, device=device,
                                      progress=stability_progress)
        if isinstance(outcome, str):
            validation.stability_note = outcome
        else:
            validation.resampled = outcome
    return validation


def store_features(ranking: Ranking, device: str = "auto", engine: str = "auto") -> tuple[object, FeatureSource]:
    """(labels, feature source) of the ranked images: the dataset reloaded, features from the feature store."""
    from transfer_core.cache.store import FeatureStore
    from transfer_core.features import extract_by_id

    dataset, store = reload_dataset(ranking), FeatureStore()

    def features(model_id: str) -> tuple:
        extraction, _ = extract_by_id(model_id, dataset, store=store, device=device, engine=engine)
        return extraction.features, extraction.source_probs

    return dataset.labels, features


def resampled_stability(evaluation: list[dict], accuracies: dict[str, float], labels, features: FeatureSource,
                        repeats: int, *, device: str = "auto",
                        progress: Progress | None = None) -> MetricStability | str:
    """Weighted τ of each metric with a τ over ``repeats`` target subsets × model sub-pools of the models in
    ``accuracies`` (Agostinelli et al., ECCV'22), or why that cannot be computed. ``progress(done, total, eta)``
    hears ``done`` = 0 before the first re-scoring."""
    metrics = [row["metric"] for row in evaluation if row["weighted_tau"] is not None]
    if labels is None or not metrics:
        return ("The stability check needs class labels." if labels is None
                else "No metric has a weighted τ, so there is no stability to check.")
    try:
        return _rescored(metrics, labels, accuracies, {model: features(model) for model in accuracies}, repeats,
                         device, progress)
    except (InvalidInputError, UndefinedResultError) as error:
        return f"The stability check could not run: {error}"


def _rescored(metrics: list[str], labels, accuracies: dict[str, float], extracted: dict[str, tuple], repeats: int,
              device: str, progress: Progress | None) -> MetricStability:
    """:func:`~transfer_core.evidence.uncertainty.metric_stability` with the check's settings; LEEP and NCE take part
    only
    when every model has source probabilities."""
    from transfer_core.evidence.uncertainty import metric_stability
    probs = {model: model_probs for model, (_, model_probs) in extracted.items() if model_probs is not None}
    usable = [metric for metric in metrics if metric not in SOURCE_METRICS or len(probs) == len(extracted)]
    if not usable:
        raise InvalidInputError(f"{', '.join(metrics)}: some models have no source probabilities")
    if progress is not None:
        progress(0, repeats * len(extracted), None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # near-constant scores on a subset: that setup has no τ
        return metric_stability({model: model_features for model, (model_features, _) in extracted.items()}, labels,
                                accuracies, metrics=usable, source_probs_by_model=probs or None,
                                fraction=INTERVAL_FRACTION, repeats=repeats, pools_per_subset=POOLS_PER_SUBSET,
                                seed=INTERVAL_SEED, level=INTERVAL_LEVEL, device=device, progress=progress)


def evaluation_csv(validation: Validation) -> str:
    """The per-metric evaluation table as CSV text."""
    buffer = io.StringIO()
    columns = list(validation.evaluation[0]) if validation.evaluation else ["metric"]
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in validation.evaluation)
    return buffer.getvalue()


def groundtruth_csv(validation: Validation) -> str:
    """``model,accuracy`` CSV text of the ground truth (re-usable as ``--groundtruth FILE.csv``)."""
    return "model,accuracy\n" + "".join(f"{m},{a}\n" for m, a in validation.accuracies.items())


def write_validation(validation: Validation, folder: str | Path) -> list[Path]:
    """``groundtruth.csv`` (model,accuracy — re-usable as ``--groundtruth FILE.csv``), ``evaluation.csv`` and
    ``validation.json`` (everything, protocols included)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "groundtruth.csv", folder / "evaluation.csv", folder / "validation.json"]
    atomic_write_text(paths[0], groundtruth_csv(validation))  # a crash leaves the old file, never half of one
    atomic_write_text(paths[1], evaluation_csv(validation))
    atomic_write_text(paths[2], json.dumps(validation.to_dict(), indent=2, default=_jsonable))
    return paths


def _jsonable(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    return str(value)
