"""``python -m transfer_core``: the command-line contract of ``shared/docs/design.md`` ("Contracts").

Every failure the user can fix prints one line on stderr and exits 2; warnings go to stderr; ``--json`` output is
the only thing on stdout. Heavy imports happen inside the commands so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from transfer_core.errors import TransferScoutError

EXIT_USAGE = 2


class UsageError(TransferScoutError):
    """A problem with the command line or its input files: reported in one line, exit status 2."""


def _parse_option_pairs(pairs: list[str]) -> dict[str, dict[str, str]]:
    options: dict[str, dict[str, str]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        metric, dot, name = key.partition(".")
        if not (sep and dot and metric and name):
            raise UsageError(f"--option {pair!r} must look like metric.key=value (e.g. nleep.seed=1)")
        options.setdefault(metric, {})[name] = value
    return options


def _load_array(path: str, what: str):
    """The array in a ``.npy`` file; its header is checked against the file's size first, so a truncated
    file, or one whose header claims a huge shape, is a one-line error and never a huge allocation."""
    import numpy as np

    try:
        with open(path, "rb") as file:
            _check_npy_header(file, path, what)
            return np.load(file, allow_pickle=False)
    except FileNotFoundError:
        raise UsageError(f"{what} file not found: {path}") from None
    except (ValueError, OSError) as exc:
        raise UsageError(f"{what} file {path} is not a readable .npy array ({exc})") from None


def _check_npy_header(file, path: str, what: str) -> None:
    """Read a ``.npy`` header (then rewind) and refuse Python objects and a data part shorter than the shape."""
    import math

    from numpy.lib import format as npy

    size = file.seek(0, 2)
    file.seek(0)
    if size == 0:
        raise UsageError(f"{what} file {path} is empty (0 bytes)")
    version = npy.read_magic(file)
    readers = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}
    if version not in readers:
        raise UsageError(f"{what} file {path} uses .npy format version {version[0]}.{version[1]}; save it with "
                         "numpy.save (format 1.0 or 2.0)")
    shape, _, dtype = readers[version](file)
    if dtype.hasobject:
        raise UsageError(f"{what} file {path} holds Python objects (dtype {dtype}), which are not loaded for "
                         "safety; save a numeric or string array")
    needed, present = math.prod(shape) * dtype.itemsize, size - file.tell()
    if present < needed:
        raise UsageError(f"{what} file {path} is truncated or corrupt: its header says shape {shape} of {dtype} "
                         f"({needed} bytes) but only {present} bytes follow")
    file.seek(0)


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def command_score(args: argparse.Namespace) -> int:
    import warnings

    from transfer_core.metrics.errors import MetricInputError
    from transfer_core.metrics.prepared import prepare
    from transfer_core.metrics.suite import score_suite

    if args.labels and args.targets:
        raise UsageError("give --labels (classification) or --targets (regression), not both")
    if not (args.labels or args.targets):
        raise UsageError("give --labels (classification) or --targets (regression)")
    options = _parse_option_pairs(args.option)
    try:
        metrics = _parse_metric_list(args.metrics)
        features = _load_array(args.features, "features")
        if features.ndim == 1:
            raise UsageError(f"features must be [N, D]; got a 1-D array of {features.shape[0]} values (reshape it to "
                             "[N, 1] if each image really has one feature)")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            prepared = prepare(
                features,
                None if not args.labels else _load_array(args.labels, "labels"),
                targets=None if not args.targets else _load_array(args.targets, "targets"),
                source_probs=None if not args.source_probs else _load_array(args.source_probs, "source probabilities"),
                general_features=None if not args.general_features else _general_features(args.general_features),
                device=args.device,
            )
        for item in caught:
            _warn(str(item.message))
        outcomes = score_suite(prepared, metrics, options)
    except (MetricInputError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    for outcome in outcomes.values():
        for message in outcome.warnings:
            _warn(f"{outcome.name}: {message}")
    scores = {key: value for outcome in outcomes.values() for key, value in outcome.reported().items()}
    if args.json:
        print(json.dumps(scores))
    else:
        _print_score_table(outcomes)
    return 0


def _general_features(path: str):
    """PED's general sample (``--general-features``): a 2-D array; its columns and finiteness are checked by
    ``prepare`` against the features."""
    general = _load_array(path, "general features")
    if general.ndim != 2:
        raise UsageError(f"general features must be [M, D] like the features; got shape {general.shape}")
    return general


def _print_score_table(outcomes) -> None:
    """One line per metric, or per component of a pool-relative metric (the meaning on its first component)."""
    from transfer_core.metrics import get_metric

    lines = []
    for name, outcome in outcomes.items():
        meaning = get_metric(name).meaning
        if outcome.components is not None:
            meaning = f"a component of {name}, whose score exists only within a pool of models (rank): {meaning}"
        for key, value in outcome.reported().items():
            lines.append((key, value, outcome.seconds, meaning))
            meaning = f"a component of {name}"
    width = max((len(key) for key, *_ in lines), default=6)
    print(f"{'metric':<{width}}  {'score':>14}  {'seconds':>8}  meaning")
    for key, value, seconds, meaning in lines:
        shown = "null" if value is None else f"{value:.6g}"
        print(f"{key:<{width}}  {shown:>14}  {seconds:8.3f}  {meaning}")


def _parse_metric_list(text: str) -> str | list[str]:
    from transfer_core.metrics import get_metric

    if text.strip() == "all":
        return "all"
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise UsageError(f"--metrics {text!r} names no metric: give comma-separated names (e.g. logme,sfda) or 'all'")
    for name in names:
        get_metric(name)  # unknown names fail before any model is loaded
    return names


def command_rank(args: argparse.Namespace) -> int:
    from transfer_core.cache.store import FeatureStore
    from transfer_core.data import DatasetError, load_dataset
    from transfer_core.metrics.errors import MetricInputError
    from transfer_core.ranking.anytime import rank_anytime
    from transfer_core.ranking.output import write_ranking
    from transfer_core.ranking.progress import TerminalProgress
    from transfer_core.ranking.run import IntervalSettings, rank_run

    try:
        metrics = _parse_metric_list(args.metrics)
        options = _parse_option_pairs(args.option)
        settings = IntervalSettings(mode=args.intervals, repeats=args.interval_repeats)
        _check_writable_folder(args.out, "--out")
        if args.report:
            _check_writable_folder(os.path.dirname(os.path.abspath(args.report)), "--report's folder")
        dataset = load_dataset(args.dataset, limit=args.limit, seed=args.seed)
        _report_dataset(dataset)
        store = FeatureStore()
        models = [m.strip() for m in args.models.split(",") if m.strip()]
        with _executor(args) as executor, TerminalProgress() as progress:
            common = {"metrics": metrics, "intervals": settings, "ensemble": True, "device": args.device,
                      "options": options, "store": store, "progress": progress,
                      "interval_progress": progress.intervals, "engine": args.engine, "executor": executor}
            run = (rank_anytime(dataset, models, on_slice=_SliceReport(args.out, progress), **common) if args.anytime
                   else rank_run(dataset, models, **common))
    except (DatasetError, MetricInputError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    ranking = run.ranking
    for model_id, message in ranking.errors.items():
        _warn(f"{model_id} was left out: {message}")
    for model_id, messages in ranking.warnings.items():
        for message in messages:
            _warn(f"{model_id}: {message}")
    if not ranking.models:
        raise UsageError("no model could be scored (see the warnings above)")
    for line in [run.verdict.text, *run.notes]:
        print(line, file=sys.stderr)
    paths = list(_written(args.out, lambda: write_ranking(run, args.out)))
    if args.report:
        paths.append(_written(args.report, lambda: _write_report(run, dataset, store, args.device, args.report)))
    print(f"ranked {len(ranking.models)} models on {ranking.dataset['id']} ({ranking.dataset['size']} images; "
          f"{_sources(ranking)}); wrote {', '.join(str(path) for path in paths)}")
    return 0


def _sources(ranking) -> str:
    """Where the features came from: "features: 2 from the store, 3 extracted by onnxruntime"."""
    counts: dict[str, int] = {}
    for row in ranking.models:
        source = "from the store" if row.cache_hit else f"extracted by {row.engine}"
        counts[source] = counts.get(source, 0) + 1
    return "features: " + ", ".join(f"{count} {source}" for source, count in counts.items())


class _SliceReport:
    """``rank --anytime``: each provisional ranking on stdout as it completes, and ``DIR/progress.jsonl`` rewritten
    (atomically) with one line per slice so far."""

    def __init__(self, folder: str, progress):
        self.path, self.progress, self.lines = os.path.join(folder, "progress.jsonl"), progress, []

    def __call__(self, provisional) -> None:
        from pathlib import Path

        from transfer_core.cache.atomic import atomic_write_text
        from transfer_core.models.ids import display_names

        line = provisional.progress_line()
        self.lines.append(json.dumps(line, allow_nan=False))
        atomic_write_text(Path(self.path), "\n".join(self.lines) + "\n")
        names = display_names([entry["model"] for entry in line["ranking"]])
        order = ", ".join(f"{position}. {names[entry['model']]} ({entry['consensus_rank']:g})"
                          for position, entry in enumerate(line["ranking"], start=1)
                          if entry["consensus_rank"] is not None)
        kind = "final" if provisional.final else "provisional"
        self.progress.pause()
        print(f"{kind} ranking on {provisional.images} of {provisional.total} images after "
              f"{provisional.seconds:.1f} s: {order}", flush=True)


def _write_report(run, dataset, store, device: str, path: str):
    """The Export page's one-file report of the run: the best model's Fisher projection from its stored features."""
    import warnings
    from pathlib import Path

    from transfer_core.cache.atomic import atomic_write_text
    from transfer_core.features import extract_by_id
    from transfer_core.presentation.projections import FISHER_POINTS, fisher_projection
    from transfer_core.presentation.report import report_figures, run_report

    projection = None
    if dataset.labels is not None:
        extraction, _ = extract_by_id(run.ranking.models[0].model, dataset, store=store, device=device)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            projection = fisher_projection(extraction.features, dataset.labels, 2, max_points=FISHER_POINTS)
        for message in dict.fromkeys(str(item.message) for item in caught):
            _warn(f"report: {message}")
    atomic_write_text(Path(path), run_report(run, report_figures(run.ranking, projection)))
    return Path(path)


SHOWN_SKIPPED = 5  # skipped files / CSV rows listed on stderr (the app's Dataset page lists them all)


def _report_dataset(dataset) -> None:
    """Before any model runs: how the images are read, what was skipped and why, and class warnings."""
    from transfer_core.data.checks import dataset_warnings

    for note in dataset.notes:
        _warn(note)
    skipped = dataset.skipped
    if skipped:
        listed = "".join(f"\n  {item.path}: {item.reason}" for item in skipped[:SHOWN_SKIPPED])
        more = f"\n  ... and {len(skipped) - SHOWN_SKIPPED} more" if len(skipped) > SHOWN_SKIPPED else ""
        _warn(f"{len(skipped)} file(s) or CSV row(s) of {dataset.dataset_id} were skipped and are not ranked:"
              f"{listed}{more}")
    for message in dataset_warnings(dataset.labels):
        _warn(message)


def _check_writable_folder(folder: str, option: str) -> None:
    """Create ``folder`` and write (then remove) a probe file there, so a bad ``--out`` fails before any work."""
    import tempfile

    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise UsageError(f"{option} {folder} is not a folder that can be written ({exc.strerror or exc}); "
                         "choose another path") from None


def _written(destination: str, write):
    """``write()``, with a failure to write to ``destination`` (e.g. a full disk) as a one-line error."""
    try:
        return write()
    except OSError as exc:
        raise UsageError(f"could not write the results to {destination} ({exc.strerror or exc})") from None


def command_validate(args: argparse.Namespace) -> int:
    from transfer_core.data import DatasetError
    from transfer_core.evidence.validation import load_ranking, validate, write_validation
    from transfer_core.executors.ray_executor import validation_mappers
    from transfer_core.groundtruth import GroundTruthError

    def report(index, count, message):
        print(f"[{index}/{count}] {message}", file=sys.stderr)

    try:
        ranking = load_ranking(args.ranking)
        _check_writable_folder(args.out, "--out")
        with _executor(args) as executor:
            validation = validate(ranking, args.groundtruth, stability=args.stability, device=args.device,
                                  progress=report, engine=args.engine, include_collapsed=args.include_collapsed,
                                  **validation_mappers(executor, args.groundtruth))
    except (GroundTruthError, DatasetError) as exc:
        raise UsageError(str(exc)) from None
    for model_id in validation.missing:
        _warn(f"{model_id} was left out of the evaluation: " +
              validation.failures.get(model_id, "it has no ground truth"))
    if validation.stability_note:
        _warn(validation.stability_note)
    for row in validation.comparison():
        print(f"{row['model']}: fine-tuned {_fmt(row['finetune'])}, linear probe {_fmt(row['probe'])}"
              + (f" [{row['status'].upper()}: {row['note']}]" if row["note"] else ""))
    if validation.collapse_note:
        _warn(validation.collapse_note)
    paths = _written(args.out, lambda: write_validation(validation, args.out))
    print(f"ground truth: {validation.kind}, {len(validation.accuracies)} models")
    print(f"{'metric':<18} {'weighted tau':>12} {'tau-b':>7} {'pearson':>8} {'rel@1':>6} {'rel@3':>6}")
    for row in validation.evaluation:
        cells = [row["weighted_tau"], row["kendall_tau"], row["pearson"], row["rel@1"], row["rel@3"]]
        print(f"{row['metric']:<18} " + " ".join(f"{_fmt(v):>{w}}" for v, w in zip(cells, (12, 7, 8, 6, 6))))
    for row in validation.stability or []:
        low, high = row["tau_interval"] or (None, None)
        print(f"{row['metric']:<18} median weighted tau {_fmt(row['median_tau'])} "
              f"(90% interval {_fmt(low)} to {_fmt(high)}), best metric in {row['win_share']:.0%} of "
              f"{row['setups']} resampled setups")
    print(f"wrote {', '.join(str(p) for p in paths)}")
    return 0


def _executor(args: argparse.Namespace):
    """The executor of ``--executor`` (``--ray-address``, ``--ray-gpus-per-task`` for Ray); an unreachable cluster
    is a one-line error."""
    from transfer_core.executors import make_executor

    return make_executor(args.executor, address=args.ray_address, gpus_per_task=args.ray_gpus_per_task)


def _add_executor_options(parser: argparse.ArgumentParser) -> None:
    from transfer_core.executors import EXECUTORS

    parser.add_argument("--executor", default=EXECUTORS[0], choices=EXECUTORS,
                        help="where the work runs: local (default, this process) or ray (a running Ray cluster)")
    parser.add_argument("--ray-address", metavar="ADDRESS",
                        help="the Ray cluster: HOST:PORT, ray://HOST:PORT or auto (default: $RAY_ADDRESS if set, "
                             "else auto, the cluster this machine runs or joined)")
    parser.add_argument("--ray-gpus-per-task", type=float, metavar="N",
                        help="GPUs each Ray task asks for (default: 1 when the cluster has GPUs, else 0)")


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def command_list(args: argparse.Namespace) -> int:
    if args.command == "models":
        from transfer_core.models import list_models as lister
    else:
        from transfer_core.data import list_datasets as lister
    for identifier, description in lister():
        print(f"{identifier}\t{description}")
    return 0


def command_cache(args: argparse.Namespace) -> int:
    from transfer_core.cache.layout import NotAStoreError
    from transfer_core.cache.store import FeatureStore

    store = FeatureStore()
    if args.action == "clear":
        try:
            cleared = store.clear()
        except NotAStoreError as exc:
            raise UsageError(str(exc)) from None
        except OSError as exc:
            raise UsageError(f"could not clear {store.root} ({exc})") from None
        removed = ", ".join(f"{count} {label}" for label, count in cleared.removed.items())
        kept = f"; kept {cleared.in_use} in use by another process" if cleared.in_use else ""
        print(f"removed {removed} from {store.root}{kept}")
    else:
        usage = store.usage()
        capped = ", ".join(kind.kind.label for kind in usage.kinds if kind.kind.capped)
        print(f"{usage.root}: {usage.entries} entries, {usage.bytes / 2**20:.1f} MiB of {usage.max_bytes / 2**30:.1f} "
              f"GiB ({capped}; least recently used evicted first)")
        for kind in usage.kinds:
            note = "" if kind.kind.capped else ", never evicted"
            print(f"  {kind.kind.label}: {kind.count}, {kind.bytes / 2**20:.1f} MiB{note}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from transfer_core.config import ANYTIME_FRACTIONS, DEFAULT_INTERVAL_REPEATS, INTERVAL_MODES
    from transfer_core.engines import ENGINES

    engine_help = "feature extraction: auto (default; ONNX Runtime on a CPU, torch on CUDA), torch or onnxruntime"

    parser = argparse.ArgumentParser(prog="python -m transfer_core",
                                     description="Transfer Scout: rank pre-trained backbones for your dataset.")
    commands = parser.add_subparsers(dest="command", required=True)

    score = commands.add_parser("score", help="score one model's features with transferability metrics")
    score.add_argument("--features", required=True, help="features .npy [N, D]")
    score.add_argument("--labels", help="class labels .npy [N] (any integers or strings)")
    score.add_argument("--targets", help="regression targets .npy [N] or [N, K] (multi-hot = multi-label)")
    score.add_argument("--source-probs", help="source-class probabilities .npy [N, C_s] (LEEP, NCE)")
    score.add_argument("--general-features", help="the same model's features on general images .npy [M, D] (PED "
                                                  "standardises with them; without, with the features' own)")
    score.add_argument("--metrics", default="all", help="comma-separated metric names, or 'all' (default)")
    score.add_argument("--option", action="append", default=[], metavar="METRIC.KEY=VALUE",
                       help="metric parameter, e.g. nleep.seed=1 (repeatable)")
    score.add_argument("--device", default="auto", help="auto (default), cpu or cuda")
    score.add_argument("--json", action="store_true", help="print one JSON object {metric: score|null}; a "
                                                           "pool-relative metric gives its components (ncti.seli, ...)")
    score.set_defaults(handler=command_score)

    ranker = commands.add_parser("rank", help="extract features for each model and rank them on a dataset")
    ranker.add_argument("--dataset", required=True, help="demo, demo:NAME, a folder, a .zip or a .csv")
    ranker.add_argument("--models", required=True, help="comma-separated model IDs (zoo = the default zoo)")
    ranker.add_argument("--metrics", default="all", help="comma-separated metric names, or 'all' (default)")
    ranker.add_argument("--option", action="append", default=[], metavar="METRIC.KEY=VALUE")
    ranker.add_argument("--limit", type=int, help="a stratified subsample of N images")
    ranker.add_argument("--seed", type=int, default=0, help="seed of the subsample (default 0)")
    ranker.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ranker.add_argument("--engine", default=ENGINES[0], choices=ENGINES, help=engine_help)
    _add_executor_options(ranker)
    ranker.add_argument("--anytime", action="store_true",
                        help="rank on growing stratified slices of the images (about "  # argparse expands %: %%
                             f"{', '.join(f'{f:.0%}%' for f in ANYTIME_FRACTIONS)}), print each provisional ranking "
                             "and write DIR/progress.jsonl, one line per slice")
    ranker.add_argument("--out", required=True, help="folder for ranking.csv and ranking.json")
    ranker.add_argument("--intervals", default=INTERVAL_MODES[0], choices=INTERVAL_MODES,
                        help="rank intervals (which models are tied?) on every metric of the ranking (all, the "
                             "default), only the quick ones (cheap) or none (off)")
    ranker.add_argument("--interval-repeats", type=int, default=DEFAULT_INTERVAL_REPEATS, metavar="N",
                        help=f"subsets of the images to re-rank on (default {DEFAULT_INTERVAL_REPEATS})")
    ranker.add_argument("--report", metavar="FILE.html", help="also write the one-file HTML report (as on the Export "
                                                                "page)")
    ranker.set_defaults(handler=command_rank)

    validator = commands.add_parser("validate", help="check a ranking against ground truth (weighted Kendall tau)")
    validator.add_argument("--ranking", required=True, help="a rank --out folder (or its ranking.json)")
    validator.add_argument("--groundtruth", required=True,
                           help="probe (linear probe), finetune, or a CSV with columns model,accuracy")
    validator.add_argument("--stability", type=int, default=0, metavar="N",
                           help="also resample N target subsets x model sub-pools for tau intervals")
    validator.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    validator.add_argument("--engine", default=ENGINES[0], choices=ENGINES, help=engine_help)
    _add_executor_options(validator)
    validator.add_argument("--include-collapsed", action="store_true",
                           help="count models whose fine-tuning collapsed at every learning rate in tau, with their "
                                "collapsed runs' test accuracy (default: shown, but left out of tau)")
    validator.add_argument("--out", required=True, help="folder for groundtruth.csv, evaluation.csv, validation.json")
    validator.set_defaults(handler=command_validate)

    for name, text in (("models", "list model IDs"), ("datasets", "list dataset IDs")):
        commands.add_parser(name, help=text).set_defaults(handler=command_list)

    cache = commands.add_parser("cache", help="show or clear the feature store")
    cache.add_argument("action", choices=("info", "clear"))
    cache.set_defaults(handler=command_cache)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except TransferScoutError as exc:  # UsageError, and any core error a command did not turn into one itself
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
