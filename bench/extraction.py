"""Benchmark: images/s of ``extract_features`` against the bare forward pass of its engine on the same
preprocessed batches (target ≥ 90 %), cold vs cached extraction wall time, and peak memory; with ``--zoo``, per zoo
model, the default CPU engine (ONNX Runtime) against torch eager float32 on the same batches (target ≥ 4× for the
conv nets) and the end-to-end share.

By default a random-init torchvision model (``--arch``, seeded) runs on generated JPEG images (smooth gradients plus
noise, decoded on every load like files on disk), so it needs no assets; ``--model ID --dataset ID`` measures a
registered model on a registered dataset instead. Each timing is the best of ``--repeats`` interleaved runs after one
warm-up batch. Results go to docs/bench-extraction.md.

    python bench/extraction.py                                   # mobilenet_v2, 256 images of 320×240
    python bench/extraction.py --images 64 --batch-size 16       # quick look
    python bench/extraction.py --model zoo:mobilenet_v2 --dataset demo --images 300
    python bench/extraction.py --zoo --dataset demo --images 128 # every zoo model: ONNX Runtime vs torch eager
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
from functools import partial
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import machine_line  # noqa: E402
from transfer_core.cache.layout import FEATURES, ROWS  # noqa: E402
from transfer_core.cache.store import FeatureStore  # noqa: E402
from transfer_core.config import extraction_defaults  # noqa: E402
from transfer_core.data.base import ImageDataset  # noqa: E402
from transfer_core.engines import resolve_engine  # noqa: E402
from transfer_core.features import autocast_dtype, extract_features, extract_group, preprocess  # noqa: E402
from transfer_core.models.base import LoadedModel, ModelCard, Preprocessing  # noqa: E402

LOADER = extraction_defaults("cuda")[1]  # the "loader process" column: the local executor's loader on a GPU


def generated_dataset(count: int, height: int = 240, width: int = 320, seed: int = 0) -> ImageDataset:
    """``count`` JPEG-encoded gradient-plus-noise photos, decoded on each ``load`` like images read from disk."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width]
    encoded = []
    for index in range(count):
        phase = rng.uniform(0, 2 * np.pi, size=3)
        base = np.stack([127 + 100 * np.sin(rows / (20 + index % 7) + cols / 35 + p) for p in phase], axis=-1)
        pixels = np.clip(base + rng.normal(0, 12, size=base.shape), 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels, "RGB").save(buffer, format="JPEG", quality=90)
        encoded.append(buffer.getvalue())

    def load(index: int) -> Image.Image:
        with Image.open(io.BytesIO(encoded[index])) as image:
            return image.convert("RGB")

    return ImageDataset(f"bench:generated-{count}", "generated gradients", load, count,
                        f"bench-generated-{count}-{seed}", labels=np.arange(count) % 4)


def torchvision_model(arch: str, seed: int = 0) -> LoadedModel:
    """A random-init torchvision classifier split into a pooled-feature extractor (every child but the last, plus
    global average pooling where the network does it functionally) and its classifier (the last child).

    Meant for globally pooled architectures (ResNet, MobileNet, EfficientNet, ...).
    """
    import torchvision

    torch.manual_seed(seed)
    network = torchvision.models.get_model(arch, weights=None).eval()
    *body, head = network.children()
    pooled = any(isinstance(module, torch.nn.AdaptiveAvgPool2d) for module in body)
    extractor = torch.nn.Sequential(*body, *([] if pooled else [torch.nn.AdaptiveAvgPool2d(1)]), torch.nn.Flatten())
    feature_dim = next(module for module in head.modules() if isinstance(module, torch.nn.Linear)).in_features
    parameters = sum(parameter.numel() for parameter in network.parameters())
    card = ModelCard(f"torchvision:{arch}-random", arch, "nothing (random init)", "BSD-3-Clause", parameters,
                     feature_dim, "torchvision")
    return LoadedModel(card.model_id, extractor, Preprocessing(), card, f"bench-{arch}-seed{seed}", head=head)


def registered(model_id: str, dataset_id: str, images: int) -> tuple[LoadedModel, ImageDataset]:
    from transfer_core.data import load_dataset
    from transfer_core.models import load_model

    return load_model(model_id), load_dataset(dataset_id, limit=images, seed=0)


def cpu_seconds() -> float:
    """CPU time of this process (all threads) plus its finished children (DataLoader workers)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def seconds(run) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of ``run()``; CPU time is the steadier measure on a machine shared with others."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    run()
    return time.perf_counter() - wall, cpu_seconds() - cpu


def cold_then_cached(model: LoadedModel, dataset: ImageDataset, device: torch.device, batch_size: int,
                     engine: str) -> dict:
    """Wall time of a first request (export + verify for ONNX Runtime, extract, write) and of the same request again
    (read), on a fresh store."""
    with tempfile.TemporaryDirectory() as root:
        store = FeatureStore(root)
        cold = extract_features(model, dataset, device=device, batch_size=batch_size, store=store, engine=engine)
        cached = extract_features(model, dataset, device=device, batch_size=batch_size, store=store, engine=engine)
        assert cached.cache_hit and np.array_equal(cached.features, cold.features)
        return {"cold": cold.seconds, "cached": cached.seconds, "store_bytes": store.usage().bytes,
                "feature_dim": cold.features.shape[1]}


def forget_features(store: FeatureStore) -> None:
    """Drop the store's feature entries and rows (its exported graphs stay), so the next request extracts again."""
    for path in (store.root / FEATURES.folder).glob("*.npz"):
        path.unlink()
    shutil.rmtree(store.root / ROWS.folder, ignore_errors=True)


def extraction(model: LoadedModel, dataset: ImageDataset, device: torch.device, batch_size: int, num_workers: int,
               engine: str, store: FeatureStore):
    """One ``extract_features`` request that misses the feature store but finds the exported graph, as a call."""
    def run() -> None:
        forget_features(store)
        result = extract_features(model, dataset, device=device, batch_size=batch_size, num_workers=num_workers,
                                  store=store, engine=engine)
        assert not result.cache_hit

    return run


def onnx_forward(model: LoadedModel, batches: list[torch.Tensor]):
    """The exported graph alone (features, logits, softmax) in the session extraction uses, on preprocessed batches."""
    from transfer_core.engines.export import SourceGraph
    from transfer_core.engines.prepare import prepare

    prepared = prepare(model, SourceGraph(model.extractor.eval(), model.head), batches[0], None, "bench")
    if prepared.runner is None:
        raise RuntimeError(f"{model.model_id} runs in torch, not ONNX Runtime: {prepared.reason}")

    def run() -> None:
        for batch in batches:
            _, logits = prepared.runner(batch)
            if logits is not None:
                torch.softmax(logits, dim=1)

    return run


def engine_forward(model: LoadedModel, batches: list[torch.Tensor], device: torch.device, engine: str):
    """The bare forward pass of ``engine`` ("torch" as extraction runs it: channels-last; "onnxruntime")."""
    if engine == "onnxruntime":
        return onnx_forward(model, batches)
    return bare_forward(model, batches, device, torch.channels_last)


def bare_forward(model: LoadedModel, batches: list[torch.Tensor], device: torch.device,
                 memory_format: torch.memory_format = torch.channels_last):
    """The model alone in torch (extractor, head, softmax) on already preprocessed batches, in ``memory_format``
    (extraction uses channels-last; torch's default contiguous format is plain eager torch)."""
    on_cuda = device.type == "cuda"
    extractor = model.extractor.to(device=device, memory_format=memory_format).eval()
    head = model.head.to(device).eval() if model.head is not None else None
    batches = [batch.pin_memory() for batch in batches] if on_cuda else batches

    reduced_precision = autocast_dtype(device)

    def run() -> None:
        with torch.inference_mode(), torch.autocast(device.type, dtype=reduced_precision,
                                                    enabled=reduced_precision is not None):
            for batch in batches:
                features = extractor(batch.to(device, non_blocking=True).contiguous(memory_format=memory_format))
                if head is not None:
                    torch.softmax(head(features.float()).float(), dim=1).cpu()
                features.float().cpu()
        if on_cuda:
            torch.cuda.synchronize()

    return run


def preprocessed(model: LoadedModel, dataset: ImageDataset, batch_size: int) -> tuple[list[torch.Tensor], float]:
    """The dataset's images decoded and preprocessed, in batches, and the seconds that took (serially)."""
    preprocess(dataset.load(0), model.preprocessing)  # warm-up (lazy imports, first decode)
    started = time.perf_counter()
    inputs = torch.stack([preprocess(dataset.load(index), model.preprocessing) for index in range(dataset.size)])
    return list(inputs.split(batch_size)), time.perf_counter() - started


def best_of(paths: dict, repeats: int, between=None) -> dict:
    """Best (wall, CPU) seconds of each path over ``repeats`` rounds, the paths interleaved within each round."""
    timings = {name: [] for name in paths}
    for _ in range(repeats):
        for name, run in paths.items():
            timings[name].append(seconds(run))
        if between is not None:
            between()
    return {name: tuple(min(values) for values in zip(*runs)) for name, runs in timings.items()}


def measure(model: LoadedModel, dataset: ImageDataset, device: torch.device, batch_size: int, workers: list[int],
            repeats: int, engine: str) -> dict:
    """Best-of-``repeats`` timings, the paths interleaved within each repeat so they share the machine's load."""
    batches, preprocess_seconds = preprocessed(model, dataset, batch_size)
    forward = engine_forward(model, batches, device, engine)
    forward()  # warm-up (cuDNN autotuning, allocator, lazy init, the session's first run)
    paths = {"forward": forward}
    with tempfile.TemporaryDirectory() as root:
        store = FeatureStore(root)
        extract_features(model, dataset, device=device, batch_size=batch_size, store=store, engine=engine)
        for count in workers:
            paths[count] = extraction(model, dataset, device, batch_size, count, engine, store)
        stores = []
        best = best_of(paths, repeats,
                       lambda: stores.append(cold_then_cached(model, dataset, device, batch_size, engine)))
    results = {"images": dataset.size, "preprocess_seconds": preprocess_seconds, "forward": best.pop("forward"),
               "extract": best, "engine": engine,
               "cold_seconds": min(store["cold"] for store in stores),
               "cached_seconds": min(store["cached"] for store in stores),
               "store_bytes": stores[0]["store_bytes"], "feature_dim": stores[0]["feature_dim"]}
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    tracemalloc.start()
    extract_features(model, dataset, device=device, batch_size=batch_size, engine=engine)
    results["python_peak_bytes"] = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    if device.type == "cuda":
        results["cuda_peak_bytes"] = torch.cuda.max_memory_allocated(device)
    results["process_peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return results


def report(results: dict, setup: dict) -> str:
    images = results["images"]
    forward_wall, forward_cpu = results["forward"]
    lines = [
        "# Extraction benchmark",
        "",
        "`python bench/extraction.py " + setup["arguments"] + "` — " + setup["when"],
        "",
        f"* model: {setup['model']} · dataset: {setup['dataset']} ({images} images, feature dim "
        f"{results['feature_dim']}) · batch size {setup['batch_size']}",
        f"* device: {setup['device']} · engine {results['engine']} · {setup['machine']} · Python "
        f"{platform.python_version()}",
        f"* best of {setup['repeats']} interleaved runs after a warm-up batch; the bare forward pass runs the engine's "
        "extractor + head + softmax on batches preprocessed beforehand (decoding + preprocessing alone: "
        f"{images / results['preprocess_seconds']:.1f} images/s, serial); each `extract_features` call misses the "
        "feature store but finds the exported graph (it loads it into a session); with num_workers > 0 each call "
        "also starts its worker processes",
        f"* load average (1 min) at start / end: {setup['load'][0]:.1f} / {os.getloadavg()[0]:.1f} on "
        f"{setup['cpus']} cores: other jobs shared the machine when this is above the core count",
        "* images per CPU-second counts this process's threads and its finished DataLoader workers: on a machine "
        "shared with other jobs it is steadier than wall-clock images/s",
        "",
        "| path | images/s (wall) | share | images per CPU-second | share |",
        "|---|---:|---:|---:|---:|",
        f"| bare forward pass (preprocessed batches) | {images / forward_wall:.1f} | 100 % | "
        f"{images / forward_cpu:.1f} | 100 % |",
    ]
    for count, (wall, cpu) in results["extract"].items():
        lines.append(f"| `extract_features`, num_workers={count} (decode + preprocess + forward) | "
                     f"{images / wall:.1f} | {100 * forward_wall / wall:.0f} % | {images / cpu:.1f} | "
                     f"{100 * forward_cpu / cpu:.0f} % |")
    speedup = results["cold_seconds"] / results["cached_seconds"]
    lines += [
        "",
        "| with a feature store | seconds |",
        "|---|---:|",
        f"| cold (export + verify for ONNX Runtime, extract, write {results['store_bytes'] / 2**20:.2f} MiB) | "
        f"{results['cold_seconds']:.3f} |",
        f"| cached (read) | {results['cached_seconds']:.4f} ({speedup:.0f}× faster) |",
        "",
        "| peak memory (one extraction, num_workers=0) | MiB |",
        "|---|---:|",
        f"| Python allocations incl. NumPy (tracemalloc) | {results['python_peak_bytes'] / 2**20:.1f} |",
        f"| process resident set, whole run (getrusage) | {results['process_peak_rss_bytes'] / 2**20:.0f} |",
    ]
    if "cuda_peak_bytes" in results:
        lines.append(f"| CUDA allocator | {results['cuda_peak_bytes'] / 2**20:.0f} |")
    return "\n".join(lines) + "\n"


def compare_engines(model: LoadedModel, dataset: ImageDataset, batch_size: int, repeats: int,
                    twin: LoadedModel | None = None) -> dict:
    """One zoo model on the CPU: torch eager float32 (contiguous, the engine before ONNX Runtime, and channels-last,
    torch's path now) and ONNX Runtime's bare forward passes on the same preprocessed batches, ``extract_features``
    with the default engine end to end (decode + preprocess + forward) with the decoding in the calling thread and in
    a loader process, and with a ``twin`` (its random-init baseline: the same preprocessing) the local executor's
    shared stream for the pair (``extract_group``: each image decoded and preprocessed once for both), best of
    ``repeats`` interleaved rounds."""
    device = torch.device("cpu")
    batches, preprocess_seconds = preprocessed(model, dataset, batch_size)
    paths = {"torch": bare_forward(model, batches, device, torch.contiguous_format),
             "torch channels-last": bare_forward(model, batches, device, torch.channels_last)}
    results = {"images": dataset.size, "preprocess": preprocess_seconds}
    try:
        paths["onnxruntime"] = onnx_forward(model, batches)
        if twin is not None:
            paths["twin onnxruntime"] = onnx_forward(twin, batches)
    except RuntimeError as err:
        results["note"] = str(err)
    for run in paths.values():
        run()  # warm-up
    with tempfile.TemporaryDirectory() as root:
        store = FeatureStore(root)
        first = extract_features(model, dataset, device=device, batch_size=batch_size, store=store)
        results["engine"], results["export"] = first.engine, first.seconds
        paths["extract"] = extraction(model, dataset, device, batch_size, 0, "auto", store)
        paths["extract, loader process"] = extraction(model, dataset, device, batch_size, LOADER, "auto", store)
        if twin is not None:
            extract_features(twin, dataset, device=device, batch_size=batch_size, store=store)  # its graph, once
            paths["pair"] = group_extraction([model, twin], dataset, device, batch_size, store)
        results.update(best_of(paths, repeats))
    return results


def group_extraction(group: list[LoadedModel], dataset: ImageDataset, device: torch.device, batch_size: int,
                     store: FeatureStore):
    """One ``extract_group`` request of models sharing a preprocessing (the local executor's shared stream, with the
    device's loader processes) that misses the feature store but finds the exported graphs, as a call."""
    def run() -> None:
        forget_features(store)
        outcomes = extract_group(group, dataset, device=device, batch_size=batch_size, store=store)
        assert all(not isinstance(outcome, Exception) and not outcome.cache_hit for outcome in outcomes)

    return run


def zoo_report(rows: dict[str, dict], setup: dict) -> str:
    lines = [
        "## The default CPU engine (ONNX Runtime) against torch eager, per zoo model",
        "",
        f"`python bench/extraction.py {setup['arguments']}` — {setup['when']}",
        "",
        f"* machine: {setup['machine']}",
        f"* dataset: {setup['dataset']} ({setup['images']} images) · batch size {setup['batch_size']} · best of "
        f"{setup['repeats']} interleaved rounds after a warm-up pass; load average (1 min) at the end "
        f"{os.getloadavg()[0]:.1f} (other jobs shared the machine when it is above the core count)",
        "* forward columns: the bare forward pass (extractor + head + softmax) on the same batches, preprocessed "
        "beforehand; torch = eager float32 in torch's default contiguous memory format (the extraction path before "
        "ONNX Runtime), channels-last = torch's extraction path now (the fallback); ratio = ONNX Runtime / torch",
        "* `extract_features` = the default engine end to end (decode + preprocess + the forward pass, one session "
        "created per call from the cached graph), decoding in the calling thread (num_workers=0, the local executor's "
        f"setting on a CPU) or in {LOADER} loader process (its setting on a GPU); share = its images/s / ONNX "
        "Runtime's bare forward images/s; decode + preprocess = that work alone, serial, and its part of the "
        "end-to-end time",
        "* decode once = the local executor's shared stream for the model and its random-init twin (one "
        "preprocessing: each image decoded and preprocessed once for both, with "
        f"{extraction_defaults('cpu')[1]} loader processes), images/s per model "
        "(2 × images / wall); share = the two bare forward passes' time / the pair's wall time",
        "* wall-clock images/s; images per CPU-second (all threads) in brackets, steadier on a shared machine",
        "",
        "| model | torch | channels-last | ONNX Runtime | ratio | `extract_features` | share | with a loader process "
        "| share | decode once, per model | share | decode + preprocess (of end to end) | first call (export, verify, "
        "extract) s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in rows.items():
        images = row["images"]
        rate = partial(_rate, row)
        extract_wall = row["extract"][0]
        decode = f"{images / row['preprocess']:.0f} img/s ({100 * row['preprocess'] / extract_wall:.0f} %)"
        pair = ("–" if "pair" not in row else
                f"{2 * images / row['pair'][0]:.1f} ({2 * images / row['pair'][1]:.1f})")
        if "onnxruntime" in row:
            onnx_wall = row["onnxruntime"][0]
            onnx, ratio = rate("onnxruntime"), f"{row['torch'][0] / onnx_wall:.1f}×"
            share = f"{100 * onnx_wall / extract_wall:.0f} %"
            worker_share = f"{100 * onnx_wall / row['extract, loader process'][0]:.0f} %"
            pair_share = ("–" if "pair" not in row else
                          f"{100 * (onnx_wall + row['twin onnxruntime'][0]) / row['pair'][0]:.0f} %")
        else:
            onnx, ratio, share, worker_share, pair_share = "falls back to torch", "–", "–", "–", "–"
        lines.append(f"| {name} | {rate('torch')} | {rate('torch channels-last')} | {onnx} | {ratio} | "
                     f"{rate('extract')} ({row['engine']}) | {share} | {rate('extract, loader process')} | "
                     f"{worker_share} | {pair} | {pair_share} | {decode} | {row['export']:.1f} |")
    notes = [f"* {name}: {row['note']}" for name, row in rows.items() if "note" in row]
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def _rate(row: dict, path: str) -> str:
    """``images/s (images per CPU-second)`` of ``path`` in a :func:`compare_engines` row."""
    wall, cpu = row[path]
    return f"{row['images'] / wall:.1f} ({row['images'] / cpu:.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="mobilenet_v2", help="torchvision architecture (random init) by default")
    parser.add_argument("--model", help="a registered model ID instead of --arch")
    parser.add_argument("--dataset", help="a registered dataset ID instead of generated images")
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=extraction_defaults("cpu")[0],
                        help="images per batch (default: the extraction's on a CPU)")
    parser.add_argument("--workers", default="0,2", help="comma-separated DataLoader num_workers values to time")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--engine", default="auto", help="the engine of the single-model run: auto, torch, onnxruntime")
    parser.add_argument("--zoo", nargs="*", metavar="NAME",
                        help="compare the engines on these zoo models (none named: every one) on --dataset")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bench-extraction.md")
    args = parser.parse_args()
    when = time.strftime("%Y-%m-%d")
    if args.zoo is not None:
        main_zoo(args, when)
        return
    if (args.model is None) != (args.dataset is None):
        parser.error("--model and --dataset go together")
    if args.model is not None:
        model, dataset = registered(args.model, args.dataset, args.images)
    else:
        model, dataset = torchvision_model(args.arch), generated_dataset(args.images)
    engine, device = resolve_engine(args.engine, args.device)
    workers = [int(count) for count in args.workers.split(",")]
    load_at_start = os.getloadavg()
    machine = machine_line()
    results = measure(model, dataset, device, args.batch_size, workers, args.repeats, engine)
    text = report(results, {"arguments": " ".join(sys.argv[1:]), "when": when, "machine": machine,
                            "model": model.model_id, "dataset": dataset.dataset_id, "batch_size": args.batch_size,
                            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU",
                            "cpus": os.cpu_count(), "repeats": args.repeats, "load": load_at_start})
    write(args.out, text)


def main_zoo(args: argparse.Namespace, when: str) -> None:
    from transfer_core.data import load_dataset
    from transfer_core.models import load_model
    from transfer_core.models.ids import RANDOM_SUFFIX
    from transfer_core.models.zoo import ZOO

    dataset = load_dataset(args.dataset or "demo", limit=args.images, seed=0)
    machine = machine_line()
    rows = {}
    for name in args.zoo or list(ZOO):
        rows[name] = compare_engines(load_model(f"zoo:{name}"), dataset, args.batch_size, args.repeats,
                                     load_model(f"zoo:{name}{RANDOM_SUFFIX}"))
        print(name, rows[name], flush=True)
    write(args.out, zoo_report(rows, {"arguments": " ".join(sys.argv[1:]), "when": when, "machine": machine,
                                      "dataset": dataset.dataset_id, "images": dataset.size,
                                      "batch_size": args.batch_size, "repeats": args.repeats}))


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
