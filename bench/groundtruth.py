"""Ground-truth study: how well does each transferability metric rank the offline zoo on bundled datasets?

For each dataset: extract features of every model (cached in the feature store), score every metric, compute
ground truth — a cross-validated linear probe always, fine-tuning with ``--finetune`` (on ``--finetune-datasets``) —
and evaluate each metric against each ground truth (weighted Kendall τ as the papers compute it, Kendall τ-b,
Pearson, rel@1, rel@3). With ``--stability N``, each metric's τ is also recomputed over N stratified 80 % target
subsets × random model sub-pools (Agostinelli et al. ECCV'22) and its median and 90 % interval reported.
``--finetune-from FILE`` evaluates against fine-tuning accuracies recorded earlier instead of training again: a
``SLUG.finetune.json`` of this script (its dataset fingerprint must match) or a ``model,accuracy`` CSV; the recorded
files are not rewritten, and ``SLUG.evaluation.json`` names them under ``recorded_groundtruth``. With both
``--finetune`` and ``--finetune-from SLUG.finetune.json`` the recorded study is *completed*: the recorded results are
kept as they are, the models it lacks are fine-tuned under the same protocol (the recorded one must equal the
options'), and the merged results are written (``completed_from`` in ``SLUG.evaluation.json``).

Written to ``--out`` (default ``assets/groundtruth``), per dataset ``SLUG`` and ground truth ``KIND`` (probe or
finetune): ``SLUG.KIND.csv`` (model,accuracy — the format ``validate --groundtruth FILE.csv`` reads),
``SLUG.KIND.json`` (every result with its exact protocol), ``SLUG.scores.csv`` (metric scores per model) and
``SLUG.evaluation.json`` (the τ tables). A markdown table per dataset and ground truth is printed.

    python bench/groundtruth.py                                        # probe: zoo on demo and demo:animals
    python bench/groundtruth.py --finetune --finetune-datasets demo    # + fine-tuning on the textile demo
    python bench/groundtruth.py --limit 300 --stability 10 \\
        --finetune-from assets/groundtruth/demo-300.finetune.json      # re-score against the recorded fine-tuning
    python bench/groundtruth.py --datasets demo --limit 150 --finetune --stability 10 \\
        --finetune-from assets/groundtruth/demo-150.finetune.json      # fine-tune only the models it lacks
    python bench/groundtruth.py --datasets demo:digits --limit 100 \\
        --models zoo:cnn-mnist,zoo:cnn-mnist-random,zoo:mobilenetv2-imagenet --out /tmp/gt   # a quick check

Runtime on 2 CPU cores (forward passes measured at 2–11 images/s for the ImageNet-size models, VGGs slowest): cold
feature extraction dominates the probe study (300 images × 20 models ≈ 20 min per dataset; cached afterwards).
Fine-tuning with the default protocol (last 2 blocks + head at 10× the rate, 10 epochs and at least 100 steps, lr ∈
{1e-2, 1e-3, 1e-4}) runs each network's frozen front once per image and then trains only the last blocks: on 150
images version 3 took 1 s–2.8 min per model on a quiet 2-core Intel Xeon (the VGG16s slowest; the whole textile
study 27 min cold; see the README's study section), 2.2–2.4× the time of version 2's 30 steps. Models whose
fine-tuning collapsed at every grid point are reported, left out of the fine-tuning τ (``--include-collapsed``
counts them) and listed with fine-tune and probe side by side in ``SLUG.evaluation.json``
(``finetune_vs_probe``). On a GPU both take minutes. PED standardises with each model's features on the 120-image
general sample (:mod:`transfer_core.data.general`), extracted once per model and cached. The quick check below takes
about a minute. Fine-tuning runs are cached and resumable: rerunning an interrupted study continues where it stopped.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from transfer_core.cache.store import FeatureStore  # noqa: E402
from transfer_core.data import load_dataset  # noqa: E402
from transfer_core.data.general import general_sample  # noqa: E402
from transfer_core.evidence.evaluation import evaluate_metrics  # noqa: E402
from transfer_core.features import extract_features  # noqa: E402
from transfer_core.groundtruth import (  # noqa: E402
    FINE_TUNE,
    LINEAR_PROBE,
    FineTuneProtocol,
    GroundTruth,
    fine_tune,
    load_groundtruth_csv,
    probe_model,
)
from transfer_core.groundtruth.comparison import side_by_side  # noqa: E402
from transfer_core.groundtruth.finetune import FINETUNE_VERSION  # noqa: E402
from transfer_core.metrics.prepared import prepare  # noqa: E402
from transfer_core.metrics.suite import pool_outcomes, score_suite  # noqa: E402
from transfer_core.models import load_model  # noqa: E402
from transfer_core.ranking.pipeline import dataset_summary, expand_model_ids  # noqa: E402

KIND_SLUGS = {"linear probe": "probe", "fine-tune": "finetune"}
COLUMNS = ("weighted_tau", "kendall_tau", "pearson", "rel@1", "rel@3")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="demo,demo:animals", help="comma-separated dataset IDs")
    parser.add_argument("--models", default="zoo", help="comma-separated model IDs; 'zoo' = the default zoo")
    parser.add_argument("--limit", type=int, default=None, help="stratified subsample of N images per dataset")
    parser.add_argument("--seed", type=int, default=0, help="seed of the subsample, the probe folds and fine-tuning")
    parser.add_argument("--metrics", default="all", help="comma-separated metric names, or all")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=ROOT / "assets" / "groundtruth")
    parser.add_argument("--stability", type=int, default=0, metavar="N",
                        help="resampled target subsets for τ intervals (0 = none; 20 is a good study value)")
    parser.add_argument("--finetune", action="store_true", help="also fine-tune (slow on a CPU)")
    parser.add_argument("--finetune-datasets", default=None,
                        help="datasets to fine-tune on (default: the first of --datasets)")
    parser.add_argument("--finetune-from", type=Path, default=None, metavar="FILE",
                        help="recorded fine-tuning accuracies (SLUG.finetune.json or model,accuracy CSV) for the "
                             "fine-tune dataset, evaluated instead of fine-tuning again; with --finetune, the "
                             "models the file lacks are fine-tuned and the merged results written")
    defaults = FineTuneProtocol()
    parser.add_argument("--trainable", default=defaults.trainable, choices=("all", "last_blocks", "head"))
    parser.add_argument("--last-blocks", type=int, default=defaults.last_blocks)
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--min-steps", type=int, default=defaults.min_steps,
                        help="optimiser steps at least (more epochs on a small training split)")
    parser.add_argument("--head-lr-scale", type=float, default=defaults.head_lr_scale,
                        help="the new head's learning rate over the grid's")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--lrs", default=",".join(f"{v:g}" for v in defaults.learning_rates))
    parser.add_argument("--wds", default=",".join(f"{v:g}" for v in defaults.weight_decays))
    parser.add_argument("--max-train", type=int, default=defaults.max_train_images)
    parser.add_argument("--include-collapsed", action="store_true",
                        help="count fine-tunings that collapsed at every grid point with their collapsed runs' "
                             "test score (default: left out of tau)")
    return parser.parse_args(argv)


def protocol_from(args: argparse.Namespace) -> FineTuneProtocol:
    return FineTuneProtocol(trainable=args.trainable, last_blocks=args.last_blocks, epochs=args.epochs,
                            min_steps=args.min_steps, head_lr_scale=args.head_lr_scale, batch_size=args.batch_size,
                            learning_rates=_floats(args.lrs), weight_decays=_floats(args.wds),
                            max_train_images=args.max_train, seed=args.seed)


def study_dataset(dataset_id: str, args: argparse.Namespace, store: FeatureStore, finetune: bool) -> dict:
    """Scores, ground truth and evaluation of every model on one dataset; failures are reported per model."""
    dataset = load_dataset(dataset_id, limit=args.limit, seed=args.seed)
    recorded = recorded_finetune(args.finetune_from, dataset) if finetune and args.finetune_from else None
    completing = recorded is not None and args.finetune
    if completing:
        require_same_protocol(recorded, protocol_from(args), args.finetune_from)
    metrics = "all" if args.metrics == "all" else args.metrics.split(",")
    general = general_sample() if metrics == "all" or "ped" in metrics else None
    features, probs, generals, outcomes, truths, errors = {}, {}, {}, {}, {"linear probe": {}, "fine-tune": {}}, {}
    for model_id in expand_model_ids(args.models.split(",")):
        started = time.perf_counter()
        try:
            model = load_model(model_id)
            extraction = extract_features(model, dataset, device=args.device, store=store)
            general_features = (None if general is None else
                                extract_features(model, general, device=args.device, store=store).features)
            outcomes[model_id] = score_suite(prepare(extraction.features, dataset.labels, targets=dataset.targets,
                                                     source_probs=extraction.source_probs,
                                                     general_features=general_features, device=args.device), metrics)
            probed = probe_model(model, dataset, seed=args.seed, device=args.device, store=store)
            tuned = None if recorded is None else recorded.get(model_id)
            if tuned is None and (completing or recorded is None):
                tuned = fine_tune(model, dataset, protocol=protocol_from(args), device=args.device,
                                  progress=_progress_printer()) if finetune else None
        except Exception as exc:  # one broken model must not sink the study
            errors[model_id] = f"{type(exc).__name__}: {exc}"
            outcomes.pop(model_id, None)
            _log(f"  {model_id}: FAILED {errors[model_id]}")
            continue
        features[model_id], probs[model_id] = extraction.features, extraction.source_probs
        if general_features is not None:
            generals[model_id] = general_features
        done = [truth for truth in (probed, tuned) if truth is not None]
        for truth in done:
            truths[truth.kind][model_id] = truth
        shown = ", ".join(f"{truth.label} {truth.accuracy:.3f}" if truth.collapsed is None
                          else f"{truth.label}: COLLAPSED ({truth.collapsed})" for truth in done)
        _log(f"  {model_id}: {shown} ({time.perf_counter() - started:.0f} s)")
    scores = {model: {name: outcome.value for name, outcome in by_metric.items()}
              for model, by_metric in pool_outcomes(outcomes).items()}  # NCTI, ETran: combined across the zoo
    numbers = {kind: usable(by_model, args.include_collapsed) for kind, by_model in truths.items()}
    evaluations = {KIND_SLUGS[kind]: evaluate(scores, by_model) for kind, by_model in numbers.items() if by_model}
    if args.stability:
        for kind, by_model in numbers.items():
            if by_model:
                add_stability(evaluations[KIND_SLUGS[kind]], features, probs, generals, dataset, by_model, metrics,
                              args)
    study = {"dataset": dataset_summary(dataset), "scores": scores, "truths": truths, "evaluations": evaluations,
             "errors": errors}
    if truths[FINE_TUNE]:
        tuned = truths[FINE_TUNE]
        study["finetune_vs_probe"] = side_by_side(
            {model: truth.accuracy if truth.collapsed is None else truth.collapsed_accuracy
             for model, truth in tuned.items()},
            {model: truth.collapsed for model, truth in tuned.items() if truth.collapsed},
            {model: truth.accuracy for model, truth in truths[LINEAR_PROBE].items()})
        study["collapsed_included"] = args.include_collapsed
    if completing:
        study["completed_from"] = {KIND_SLUGS[FINE_TUNE]: _shown_path(args.finetune_from)}
    elif recorded is not None:
        study["recorded"] = {KIND_SLUGS[FINE_TUNE]: _shown_path(args.finetune_from)}
    return study


def require_same_protocol(recorded: dict[str, GroundTruth], protocol: FineTuneProtocol, path: Path) -> None:
    """Completing a recorded study adds results only under the protocol (and fine-tune version) it was run with."""
    for model_id, truth in recorded.items():
        if (FineTuneProtocol.from_dict(truth.protocol) != protocol
                or truth.protocol.get("version") != FINETUNE_VERSION):
            raise SystemExit(f"{path}: {model_id} was fine-tuned under another protocol (version "
                             f"{truth.protocol.get('version')}) than these options (version {FINETUNE_VERSION}); "
                             "completing it would mix two recipes")


def recorded_finetune(path: Path, dataset) -> dict[str, GroundTruth]:
    """``{model ID: GroundTruth}`` from an earlier run's ``SLUG.finetune.json`` (checked against ``dataset``'s
    fingerprint) or a ``model,accuracy`` CSV (read as ``validate --groundtruth`` reads it)."""
    if path.suffix.lower() == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("kind") != FINE_TUNE:
            raise SystemExit(f"{path}: not a fine-tuning result file (kind {data.get('kind')!r})")
        if data.get("dataset", {}).get("fingerprint") != dataset.fingerprint:
            raise SystemExit(f"{path}: recorded on another dataset or subsample than {dataset.dataset_id} "
                             f"({dataset.size} images); the fingerprints differ")
        truths = [GroundTruth.from_dict(result) for result in data["results"]]
        return {truth.model_id: truth for truth in truths}
    task = "classification" if dataset.labels is not None else "regression"
    measure = "accuracy" if dataset.labels is not None else "r2"
    return {model: GroundTruth(model_id=model, kind=FINE_TUNE, task=task, accuracy=accuracy,
                               measures={measure: accuracy}, protocol={"recorded_in": _shown_path(path)}, seconds=0.0)
            for model, accuracy in load_groundtruth_csv(path).items()}


def usable(truths: dict[str, GroundTruth], include_collapsed: bool) -> dict[str, float]:
    """``{model: accuracy}`` of the results that have one: collapsed fine-tunings are left out, or counted with their
    collapsed runs' test score when ``include_collapsed`` (where there is one)."""
    numbers = {model: truth.accuracy if truth.collapsed is None else truth.collapsed_accuracy if include_collapsed
               else None for model, truth in truths.items()}
    return {model: number for model, number in numbers.items() if number is not None}


def evaluate(scores: dict[str, dict], accuracies: dict[str, float]) -> list[dict]:
    """:func:`~transfer_core.evidence.evaluation.evaluate_metrics` over the models that have both scores and ground
    truth."""
    models = [model for model in scores if model in accuracies]
    metric_names = list(dict.fromkeys(name for model in models for name in scores[model]))
    table = {name: [scores[model].get(name) for model in models] for name in metric_names}
    return evaluate_metrics(table, [accuracies[model] for model in models])


def add_stability(rows: list[dict], features: dict, probs: dict, generals: dict, dataset,
                  accuracies: dict[str, float], metrics, args: argparse.Namespace) -> None:
    """Add each metric's median τ and 90 % interval over resampled setups to its evaluation row (NCTI and ETran
    combined within each sub-pool of models; PED standardised with each model's general sample)."""
    from transfer_core.evidence.uncertainty import metric_stability

    models = [model for model in features if model in accuracies]
    with_probs = {model: probs[model] for model in models if probs[model] is not None}
    stability = metric_stability({model: features[model] for model in models}, dataset.labels,
                                 {model: accuracies[model] for model in models}, metrics=metrics,
                                 source_probs_by_model=with_probs if len(with_probs) == len(models) else None,
                                 general_features_by_model={model: generals[model] for model in models
                                                            if model in generals},
                                 repeats=args.stability, seed=args.seed, device=args.device)
    by_metric = {row["metric"]: row for row in stability.summary()}
    for row in rows:
        summary = by_metric.get(row["metric"], {})
        row.update(median_tau=summary.get("median_tau"), tau_interval=summary.get("tau_interval"),
                   win_share=summary.get("win_share"))


def write_outputs(study: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    slug = study["dataset"]["id"].replace(":", "-").replace("/", "-") + f"-{study['dataset']['size']}"
    for kind, by_model in study["truths"].items():
        if not by_model or KIND_SLUGS[kind] in study.get("recorded", {}):
            continue  # nothing computed, or recorded earlier: the recorded files stay as they are
        name = f"{slug}.{KIND_SLUGS[kind]}"
        with open(out / f"{name}.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["model", "accuracy"])
            writer.writerows([model, f"{truth.accuracy:.6f}"] for model, truth in by_model.items()
                             if truth.collapsed is None)  # a collapsed fine-tuning has no accuracy
        _write_json(out / f"{name}.json", {"dataset": study["dataset"], "kind": kind,
                                           "results": [truth.to_dict() for truth in by_model.values()]})
    metric_names = list(dict.fromkeys(name for row in study["scores"].values() for name in row))
    with open(out / f"{slug}.scores.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["model", *metric_names])
        writer.writerows([model, *(row.get(name) for name in metric_names)] for model, row in study["scores"].items())
    evaluation = {"dataset": study["dataset"], "evaluations": study["evaluations"], "errors": study["errors"]}
    for key in ("finetune_vs_probe", "collapsed_included", "completed_from"):
        if key in study:
            evaluation[key] = study[key]
    if study.get("recorded"):
        evaluation["recorded_groundtruth"] = study["recorded"]
    _write_json(out / f"{slug}.evaluation.json", evaluation)


def markdown_table(rows: list[dict]) -> str:
    """One line per metric, best weighted τ first; a τ interval column when stability was computed."""
    with_interval = any(row.get("tau_interval") for row in rows)
    header = ["metric", "models", *COLUMNS] + (["median τ (90 % interval)"] if with_interval else [])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in sorted(rows, key=lambda row: -(row["weighted_tau"] if row["weighted_tau"] is not None else -9)):
        cells = [row["metric"], str(row["models"]), *(_number(row[column]) for column in COLUMNS)]
        if with_interval:
            low_high = row.get("tau_interval")
            cells.append(f"{_number(row.get('median_tau'))} ({_number(low_high[0])}, {_number(low_high[1])})"
                         if low_high else "—")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    datasets = args.datasets.split(",")
    finetune_on = (set((args.finetune_datasets or datasets[0]).split(","))
                   if args.finetune or args.finetune_from else set())
    store = FeatureStore()
    started = time.perf_counter()
    for dataset_id in datasets:
        _log(f"{dataset_id}:")
        study = study_dataset(dataset_id, args, store, dataset_id in finetune_on)
        write_outputs(study, args.out)
        for slug, rows in study["evaluations"].items():
            kind = "linear probe" if slug == "probe" else "fine-tuning"
            print(f"\n### {study['dataset']['id']} ({study['dataset']['size']} images), ground truth: {kind}\n")
            print(markdown_table(rows))
    _log(f"done in {time.perf_counter() - started:.0f} s; files in {args.out}")
    return 0


def _progress_printer():
    last = [0.0]

    def report(done, total, eta, message):
        if time.perf_counter() - last[0] > 30 or done == total:
            last[0] = time.perf_counter()
            _log(f"    fine-tuning {done}/{total} steps, ETA {'?' if eta is None else f'{eta:.0f} s'} — {message}")

    return report


def _shown_path(path: Path) -> str:
    resolved = path.resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(path)


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(value) for value in text.split(","))


def _number(value) -> str:
    return "—" if value is None else f"{value:.3f}"


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=1, default=str), encoding="utf-8")


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
