"""Feature extraction: one batched forward pass of a model over a dataset, with source-class probabilities.

Images go through the model's :class:`~transfer_core.models.base.Preprocessing` (:func:`preprocess`) and a
``DataLoader`` batches them. The ``engine`` (:mod:`transfer_core.engines`) computes the features: ONNX Runtime on a
CPU (the model exported to one graph and verified against torch on the first images, then cached) or torch, which
runs the extractor under ``torch.inference_mode`` with channels-last memory (on CUDA also with autocast and pinned
host memory). A model ONNX Runtime cannot take runs in torch, with a warning and the reason on the result. Features
come back as float32 on the CPU; with a :class:`~transfer_core.cache.store.FeatureStore` a repeated request is read
from disk instead of recomputed, whichever engine asked (the engines agree within
:data:`~transfer_core.engines.verify.TOLERANCE`, so like the device the engine is not part of the key).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as F

from transfer_core.cache.rows import read_rows, rows_key, write_rows
from transfer_core.cache.store import FeatureStore
from transfer_core.config import extraction_defaults
from transfer_core.data.base import ImageDataset, dataset_part
from transfer_core.engines import check_engine, resolve_engine
from transfer_core.errors import TransferScoutError
from transfer_core.executors import Extracted
from transfer_core.models.base import LoadedModel, Preprocessing
from transfer_core.models.manifest import ModelManifest, read_manifest, remember_manifest

EXTRACTION_VERSION = 1  # bump when a change here alters the features a given model and dataset produce

Progress = Callable[[int, int, "float | None"], None]  # (images done, images in total, ETA seconds or None)


# (batch, whether it is the pass's last) → (features, source probabilities)
Embed = Callable[[torch.Tensor, bool], "tuple[torch.Tensor, torch.Tensor | None]"]


class ExtractionError(TransferScoutError, RuntimeError):
    """Extraction could not produce valid features (bad image, non-finite or mis-shaped model output)."""


@dataclass(frozen=True)
class ExtractionResult:
    """Features ``[N, D]`` and source-class probabilities ``[N, C_s]`` (None without a source head), both float32.

    ``seconds`` is what the extraction cost this model: its engine's opening and compute plus its share of the
    pass's decoding (a cache hit's is the read time); ``device`` and ``engine``
    ("onnxruntime" or "torch") are what computed the features (for a hit, what was recorded when they were stored);
    ``engine_note`` says why a model ran in torch although ONNX Runtime was asked for (None otherwise).
    """

    features: np.ndarray
    source_probs: np.ndarray | None
    seconds: float
    cache_hit: bool
    device: str
    engine: str = "torch"
    engine_note: str | None = None


def preprocess(image: Image.Image, preprocessing: Preprocessing) -> torch.Tensor:
    """One PIL image → the model's float32 input ``[C, H, W]``: :func:`normalise` of its :func:`pixels`."""
    return normalise(pixels(image, preprocessing), preprocessing)


def pixels(image: Image.Image, preprocessing: Preprocessing) -> torch.Tensor:
    """One PIL image → the model's input as uint8 pixels ``[C, H, W]``.

    Converted to "RGB", "BGR" or "L", resized (with PIL, antialiased) as ``crop_mode`` says (see
    :class:`~transfer_core.models.base.Preprocessing`) and centre-cropped to ``input_size`` (padded with the mean colour
    in "border" mode).
    """
    channels, interpolation, mean, _ = _checked(preprocessing)
    mode = "L" if channels == "L" else "RGB"
    if image.mode != mode:  # (convert copies the image even when it is in that mode already)
        image = image.convert(mode)
    image = F.resize(image, _resized_size(image, preprocessing), interpolation=interpolation, antialias=True)
    if preprocessing.crop_mode == "border":
        image = _padded(image, preprocessing.input_size, mean.flip(0) if channels == "BGR" else mean,
                        preprocessing.value_scale)
    image = F.center_crop(image, list(preprocessing.input_size))
    tensor = F.pil_to_tensor(image)
    return tensor.flip(0) if channels == "BGR" else tensor


def normalise(pixels: torch.Tensor, preprocessing: Preprocessing) -> torch.Tensor:
    """uint8 pixels ``[..., C, H, W]`` (one image or a batch) scaled to ``[0, value_scale]`` and normalised with
    ``mean`` / ``std`` (in the scaled units), as float32: one multiply and one subtract in place (a third of the time
    of scale, subtract, divide)."""
    _, _, mean, std = _checked(preprocessing)
    scale = (preprocessing.value_scale / 255.0) / std
    return pixels.to(torch.float32, copy=True).mul_(scale[:, None, None]).sub_((mean / std)[:, None, None])


def feature_key_parts(model: LoadedModel | ModelManifest, dataset: ImageDataset) -> dict:
    """Everything the stored features depend on (the device and the engine are left out: a hit is valid for any)."""
    return {"kind": "features", **_model_parts(model), "dataset": dataset.fingerprint, "images": dataset.size}


def _model_parts(model: LoadedModel | ModelManifest) -> dict:
    """What a feature row depends on besides its image: the key of the model's rows
    (:mod:`transfer_core.cache.rows`)."""
    manifest = model if isinstance(model, ModelManifest) else ModelManifest.of(model)
    return {"extraction": EXTRACTION_VERSION, "model": manifest.fingerprint,
            "preprocessing": manifest.preprocessing.to_dict(), "layer": manifest.layer,
            "source_head": manifest.has_head}


class LoadedModels:
    """Models kept loaded, each with the engine it opened, for a run that extracts from them more than once (an
    anytime ranking asks every model for several slices of the images): each is loaded and its engine opened once."""

    def __init__(self):
        self._models: dict[tuple[str, str | None], LoadedModel] = {}
        self.embedders: dict[tuple[str, str, str], tuple[Embed, str, str | None]] = {}

    def load(self, model_id: str, layer: str | None) -> LoadedModel:
        from transfer_core.models import load_model

        if (model_id, layer) not in self._models:
            self._models[model_id, layer] = load_model(model_id, layer=layer)
        return self._models[model_id, layer]


def cached_extraction(model_id: str, dataset: ImageDataset, store: FeatureStore, layer: str | None = None,
                      progress: Progress | None = None) -> Extracted | None:
    """The stored extraction of a model ID on ``dataset`` (its whole entry, or a row for every image) read without
    loading the model (its manifest is in ``store``: :mod:`transfer_core.models.manifest`), or None."""
    manifest = read_manifest(model_id, layer, store.root)
    if manifest is None:
        return None
    started = time.perf_counter()
    hit = _stored(store, manifest, dataset, progress, started)
    if hit is None:
        hit = _stored_rows(store, manifest, dataset, progress, started)
    return None if hit is None else Extracted(model_id, hit, manifest)


def extract_by_id(model_id: str, dataset: ImageDataset, *, store: FeatureStore, layer: str | None = None,
                  device: str | torch.device = "auto", batch_size: int | None = None, num_workers: int | None = None,
                  progress: Progress | None = None, engine: str = "auto",
                  models: LoadedModels | None = None) -> tuple[ExtractionResult, ModelManifest]:
    """:func:`extract_features` of a model ID, and the model's manifest (fingerprint, card, ...), without loading the
    model when :func:`cached_extraction` finds it; ``models`` keeps the loaded model for later calls."""
    check_engine(engine)  # an unknown engine fails even when the features are cached
    hit = cached_extraction(model_id, dataset, store, layer, progress)
    if hit is not None:
        return hit.result, hit.manifest
    model = load_by_id(model_id, layer, store, models)
    return extract_features(model, dataset, device=device, batch_size=batch_size, num_workers=num_workers,
                            progress=progress, store=store, engine=engine, models=models), ModelManifest.of(model)


def load_by_id(model_id: str, layer: str | None, store: FeatureStore, models: LoadedModels | None) -> LoadedModel:
    """The model (kept in ``models`` when given), its manifest remembered in ``store``."""
    from transfer_core.models import load_model

    model = models.load(model_id, layer) if models is not None else load_model(model_id, layer=layer)
    remember_manifest(model, layer, store.root)
    return model


def extract_features(model: LoadedModel, dataset: ImageDataset, *, device: str | torch.device = "auto",
                     batch_size: int | None = None, num_workers: int | None = None, progress: Progress | None = None,
                     store: FeatureStore | None = None, engine: str = "auto",
                     models: LoadedModels | None = None) -> ExtractionResult:
    """Features (and source-class probabilities) of every image of ``dataset`` under ``model``: the
    :func:`extract_group` of one model (its error raised)."""
    outcome, = extract_group([model], dataset, device=device, batch_size=batch_size, num_workers=num_workers,
                             progress=progress, store=store, engine=engine, models=models)
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def extract_group(group: list[LoadedModel], dataset: ImageDataset, *, device: str | torch.device = "auto",
                  batch_size: int | None = None, num_workers: int | None = None, progress: Progress | None = None,
                  store: FeatureStore | None = None, engine: str = "auto",
                  models: LoadedModels | None = None) -> list[ExtractionResult | Exception]:
    """The extraction of each model of ``group`` (models with one :class:`~transfer_core.models.base.Preprocessing`)
    on ``dataset``, or the error that stopped it: each image is decoded and preprocessed once for all of them
    (``num_workers`` loader processes decode while the engines compute), and every model embeds the batch. The
    batch size and loader processes default to the device's (:func:`~transfer_core.config.extraction_defaults`).

    With a ``store``, images whose rows a model already computed (in any dataset, :mod:`transfer_core.cache.rows`)
    are read, only the others are extracted, and the new rows are kept; ``models`` keeps the engines opened
    (:class:`LoadedModels`). ``engine`` is one of :data:`~transfer_core.engines.ENGINES` ("auto": ONNX Runtime on a
    CPU, torch on CUDA; an unknown name is an :class:`~transfer_core.engines.EngineError`). ``progress(done, total,
    eta_seconds)`` follows the shared stream: once before the first batch (ETA None) and after every batch; when
    every model is served from the store it reports ``(total, total, 0.0)``. A model's ``seconds`` is its own
    compute plus its share of the stream's decoding.
    """
    check_engine(engine)
    for name, value, least in (("batch_size", batch_size, 1), ("num_workers", num_workers, 0)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < least):
            raise ValueError(f"{name} must be an integer of at least {least}, got {value!r}")
    if dataset.size < 1:
        raise ValueError(f"dataset {dataset.dataset_id!r} has no images to extract features from")
    if len({model.preprocessing for model in group}) > 1:
        raise ValueError("extract_group takes models with one preprocessing; group them by it first")
    started = time.perf_counter()
    outcomes: list = [None] * len(group)
    pending = []  # (position, model, its stored rows or None)
    for position, model in enumerate(group):
        cached = _stored(store, model, dataset, progress, started) if store is not None else None
        stored = _row_lookup(store, model, dataset) if store is not None and cached is None else None
        if cached is None and stored is not None and stored.found.all():
            cached = _rows_hit(stored, dataset, progress, started)
        if cached is not None:
            outcomes[position] = cached
        else:
            pending.append((position, model, stored))
    if pending:
        asked, resolved = resolve_engine(engine, device)
        default_batch, default_workers = extraction_defaults(resolved.type)
        batch_size = default_batch if batch_size is None else batch_size
        num_workers = default_workers if num_workers is None else num_workers
        _checked(group[0].preprocessing)  # a bad configuration fails here, not as an error blamed on the first image
        wanted = [np.ones(dataset.size, bool) if stored is None else ~stored.found for _, _, stored in pending]
        union = np.flatnonzero(np.logical_or.reduce(wanted))
        done_before = dataset.size - union.size
        report = None if progress is None else (lambda done, _, eta: progress(done_before + done, dataset.size, eta))
        members = [(model, need[union]) for (_, model, _), need in zip(pending, wanted)]
        streamed = _stream(members, dataset_part(dataset, union), resolved, asked, batch_size, num_workers, report,
                           store, models, dataset.dataset_id)
        for (position, model, stored), need, outcome in zip(pending, wanted, streamed):
            outcomes[position] = (outcome if isinstance(outcome, Exception) else
                                  _finished(model, dataset, stored, np.flatnonzero(need), outcome, resolved, store))
    return outcomes


def _finished(model: LoadedModel, dataset: ImageDataset, stored, missing: np.ndarray, outcome: tuple,
              device: torch.device, store: FeatureStore | None) -> ExtractionResult:
    """The result of a model the stream computed the ``missing`` images of (merged with its ``stored`` rows), kept
    in ``store``."""
    new, engine, note, seconds = outcome
    whole = stored is None or missing.size == dataset.size
    arrays = new if whole else {name: _merged(stored, name, missing, rows) for name, rows in new.items()}
    result = ExtractionResult(arrays["features"], arrays.get("source_probs"), seconds, False, str(device), engine,
                              note)
    if store is not None:
        _save(store, model, dataset, result, missing, new)
    return result


def keep_extraction(store: FeatureStore, model: LoadedModel | ModelManifest, dataset: ImageDataset,
                    result: ExtractionResult) -> None:
    """Keep ``result`` (computed elsewhere, e.g. on a Ray worker) in ``store`` as a local extraction keeps its own:
    the rows of the images the model lacks rows for, and the whole entry."""
    _save(store, model, dataset, result)


def _arrays(result: ExtractionResult) -> dict[str, np.ndarray]:
    arrays = {"features": result.features}
    if result.source_probs is not None:
        arrays["source_probs"] = result.source_probs
    return arrays


def _meta(model: LoadedModel | ModelManifest, dataset: ImageDataset, result: ExtractionResult) -> dict:
    """What the store records beside an extraction's arrays."""
    return {"model_id": model.model_id, "dataset_id": dataset.dataset_id, "seconds": result.seconds,
            "device": result.device, "engine": result.engine, "engine_note": result.engine_note,
            "images": dataset.size, "feature_dim": int(result.features.shape[1])}


def _save(store: FeatureStore, model: LoadedModel | ModelManifest, dataset: ImageDataset, result: ExtractionResult,
          missing: np.ndarray | None = None, new: dict[str, np.ndarray] | None = None) -> None:
    """The rows of the ``missing`` images (``new``: those the stream computed) and the whole extraction as one entry;
    without ``missing``, the rows of the images the model lacks rows for, taken from ``result``."""
    meta = _meta(model, dataset, result)
    try:
        if missing is None:
            _keep_rows(store, model, dataset, _arrays(result), meta)
        else:
            _write_rows(store, model, dataset, missing, new, meta)
        store.put(store.key(feature_key_parts(model, dataset)), _arrays(result), meta)
    except OSError as err:
        _not_cached(model, store, err)


def _not_cached(model: LoadedModel | ModelManifest, store: FeatureStore, err: OSError) -> None:
    """The features are good; only the cache is unavailable (disk full, read-only, ...): a warning."""
    warnings.warn(f"features of {model.model_id!r} were not cached in {store.root}: {err}", stacklevel=4)


def _keep_rows(store: FeatureStore, model: LoadedModel | ModelManifest, dataset: ImageDataset,
               arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Write the rows of ``arrays`` (a whole extraction) for the images whose rows the model lacks (which images are
    stored is read from the chunks' metadata alone)."""
    missing = np.flatnonzero(~_row_lookup(store, model, dataset, arrays=False).found)
    _write_rows(store, model, dataset, missing, {name: array[missing] for name, array in arrays.items()}, meta)


def _write_rows(store: FeatureStore, model: LoadedModel | ModelManifest, dataset: ImageDataset, indices: np.ndarray,
                rows: dict[str, np.ndarray], meta: dict) -> None:
    """``rows`` (one per index) as the model's rows of the images at ``indices`` of ``dataset``."""
    if indices.size:
        keys = dataset.image_keys()
        write_rows(store, rows_key(_model_parts(model)), [keys[i] for i in indices], rows, meta)


def _row_lookup(store: FeatureStore, model: LoadedModel | ModelManifest, dataset: ImageDataset, arrays: bool = True):
    """The model's stored rows for the images of ``dataset`` (:func:`~transfer_core.cache.rows.read_rows`; without
    ``arrays``, only which images have rows)."""
    manifest = model if isinstance(model, ModelManifest) else ModelManifest.of(model)
    names = (["features", "source_probs"] if manifest.has_head else ["features"]) if arrays else []
    return read_rows(store, rows_key(_model_parts(manifest)), dataset.image_keys(), names)


def _rows_hit(stored, dataset: ImageDataset, progress: Progress | None, started: float) -> ExtractionResult:
    """An extraction assembled from stored rows alone (every image had one)."""
    if progress is not None:
        progress(dataset.size, dataset.size, 0.0)
    first = stored.meta[0]
    note = first.get("engine_note")
    return ExtractionResult(stored.arrays["features"], stored.arrays.get("source_probs"),
                            time.perf_counter() - started, True, str(first.get("device", "unknown")),
                            str(first.get("engine", "torch")), note if isinstance(note, str) else None)


def _stored_rows(store: FeatureStore, manifest: ModelManifest, dataset: ImageDataset, progress: Progress | None,
                 started: float) -> ExtractionResult | None:
    """:func:`_rows_hit` when every image of ``dataset`` has a stored row, else None."""
    stored = _row_lookup(store, manifest, dataset)
    return _rows_hit(stored, dataset, progress, started) if stored.found.all() else None


def _merged(stored, name: str, missing: np.ndarray, new_rows: np.ndarray) -> np.ndarray:
    """The stored rows of ``name`` with the ``new_rows`` of the ``missing`` images put in their places."""
    merged = np.empty((stored.found.size, *new_rows.shape[1:]), dtype=new_rows.dtype)
    merged[stored.found] = stored.arrays[name]
    merged[missing] = new_rows
    return merged


def _stored(store: FeatureStore, model: LoadedModel | ModelManifest, dataset: ImageDataset,
            progress: Progress | None, started: float) -> ExtractionResult | None:
    """The stored extraction of ``model`` on ``dataset`` (reported to ``progress`` as done), or None on a miss (the
    store drops an entry without features, with non-finite values or with another number of rows than the dataset).
    A hit also keeps the rows of its images that the model's rows lack (entries written before rows existed)."""
    cached = store.get(store.key(feature_key_parts(model, dataset)), rows=dataset.size, required=("features",))
    if cached is None:
        return None
    try:
        _keep_rows(store, model, dataset, cached.arrays, cached.meta)
    except (OSError, ValueError):  # a read-only store, or an entry whose arrays the rows do not take: rows wait
        pass
    if progress is not None:
        progress(dataset.size, dataset.size, 0.0)
    note = cached.meta.get("engine_note")
    return ExtractionResult(cached.arrays["features"], cached.arrays.get("source_probs"),
                            time.perf_counter() - started, True, str(cached.meta.get("device", "unknown")),
                            str(cached.meta.get("engine", "torch")), note if isinstance(note, str) else None)


class ImagePixels(torch.utils.data.Dataset):
    """``dataset``'s images as the model's uint8 input pixels (:func:`pixels`); a failing image raises an
    :class:`ExtractionError` naming it."""

    def __init__(self, dataset: ImageDataset, preprocessing: Preprocessing):
        self.dataset = dataset
        self.preprocessing = preprocessing

    def __len__(self) -> int:
        return self.dataset.size

    def __getitem__(self, index: int) -> torch.Tensor:
        try:
            image = self.dataset.load(index)
            image.load()  # decode now: PIL opens files lazily, and a truncated file fails here
        except Exception as err:
            names = self.dataset.item_names
            name = f" ({names[index]})" if index < len(names) else ""
            raise ExtractionError(f"image {index}{name} of dataset {self.dataset.dataset_id!r} could not be "
                                  f"loaded: {type(err).__name__}: {err}") from err
        return pixels(image, self.preprocessing)


class PreprocessedImages(ImagePixels):
    """``dataset``'s images as model inputs (:func:`preprocess`)."""

    def __getitem__(self, index: int) -> torch.Tensor:
        return normalise(super().__getitem__(index), self.preprocessing)


def _embedder(model: LoadedModel, engine: str, device: torch.device, first: torch.Tensor,
              store: FeatureStore | None, dataset_id: str) -> tuple[Embed, str, str | None]:
    """What embeds a batch (features and source probabilities), the engine it uses and the note when ONNX Runtime
    was asked for but the model runs in torch."""
    head = model.head.to(device).eval() if model.head is not None else None
    if engine == "onnxruntime":  # on the CPU (resolve_engine); the weights as they are (no copy) for the export
        from transfer_core.engines.export import SourceGraph
        from transfer_core.engines.prepare import prepare

        prepared = prepare(model, SourceGraph(model.extractor.to(device).eval(), head), first, store, dataset_id)
        if prepared.runner is not None:
            return lambda batch, last: _embed_onnx(model.model_id, prepared.runner, batch, last), engine, None
        if prepared.reason is not None:  # (None: torch's own outputs are invalid, which the torch path reports)
            warnings.warn(f"model {model.model_id!r} runs in torch, not ONNX Runtime: {prepared.reason}",
                          stacklevel=4)
        engine, note = "torch", prepared.reason
    else:
        note = None
    memory_format = torch.channels_last
    extractor = model.extractor.to(device=device, memory_format=memory_format).eval()
    reduced_precision = autocast_dtype(device)

    def embed(batch: torch.Tensor, _last: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        batch = batch.to(device, non_blocking=True).contiguous(memory_format=memory_format)
        return _embed_batch(model.model_id, extractor, head, batch, reduced_precision)

    return embed, engine, note


class _Member:
    """A model's state in a shared stream: what it needs, its engine once opened, its batches, its time, its error."""

    def __init__(self, model: LoadedModel, need: np.ndarray):
        self.model, self.need = model, need
        self.embed, self.engine, self.note = None, "", None
        self.features, self.probs = [], []
        self.seconds, self.error = 0.0, None

    def outcome(self, shared_seconds: float) -> tuple | Exception:
        if self.error is not None:
            return self.error
        arrays = {"features": torch.cat(self.features).numpy()}
        if self.model.head is not None:
            arrays["source_probs"] = torch.cat(self.probs).numpy()
        return arrays, self.engine, self.note, self.seconds + shared_seconds


def _stream(members: list[tuple[LoadedModel, np.ndarray]], part: ImageDataset, device: torch.device, engine: str,
            batch_size: int, num_workers: int, progress: Progress | None, store: FeatureStore | None,
            models: LoadedModels | None, dataset_id: str) -> list[tuple | Exception]:
    """One pass over ``part`` for models sharing a preprocessing, each embedding the images its ``need`` mask marks:
    per model ``(arrays, engine, note, seconds)`` or its error (an image that cannot be loaded stops them all). The
    loader decodes to uint8 pixels in ``num_workers`` processes when the pass is longer than one batch (a process
    costs more than it saves below that), each batch is normalised once here for all the models, and each engine is
    opened on the first batch, or taken from ``models``."""
    states = [_Member(model, need) for model, need in members]
    on_cuda = device.type == "cuda"
    workers = num_workers if part.size > batch_size else 0
    preprocessing = states[0].model.preprocessing
    loader = torch.utils.data.DataLoader(ImagePixels(part, preprocessing), batch_size=batch_size, shuffle=False,
                                         num_workers=workers)  # uint8 from the loader: a quarter of float32's bytes
    if progress is not None:
        progress(0, part.size, None)
    started, setup, waited, done = time.perf_counter(), 0.0, 0.0, 0
    batches = iter(loader)
    with torch.inference_mode():
        while done < part.size and any(state.error is None for state in states):
            wait = time.perf_counter()
            try:
                batch = next(batches)
            except Exception as err:  # noqa: BLE001 - an image that cannot be loaded (ExtractionError) fails the pass
                for state in states:
                    state.error = state.error or err
                break
            batch = normalise(batch, preprocessing)
            if on_cuda:
                batch = batch.pin_memory()
            waited += time.perf_counter() - wait
            for state in states:
                if state.error is None:
                    setup += _embed_into(state, batch, done, engine, device, store, models, dataset_id)
            done += len(batch)
            if progress is not None:
                elapsed = max(time.perf_counter() - started - setup, 0.0)
                progress(done, part.size, elapsed / done * (part.size - done))
    return [state.outcome(waited / len(states)) for state in states]


def _embed_into(state: _Member, batch: torch.Tensor, offset: int, engine: str, device: torch.device,
                store: FeatureStore | None, models: LoadedModels | None, dataset_id: str) -> float:
    """The rows of ``batch`` (images ``offset…``) that ``state`` needs, embedded into it (an error is kept on it);
    returns the seconds its engine took to open (0 once open)."""
    wanted = state.need[offset:offset + len(batch)]
    if not wanted.any():
        return 0.0
    opened = time.perf_counter()
    try:
        if state.embed is None:
            state.embed, state.engine, state.note = _opened(state.model, engine, device, batch, store, dataset_id,
                                                            models)
        opening = time.perf_counter() - opened
        last = not state.need[offset + len(batch):].any()
        features, probs = state.embed(batch if wanted.all() else batch[torch.from_numpy(wanted)], last)
    except Exception as err:  # noqa: BLE001 - one model's failure must not stop the others sharing the pass
        state.error = err
        return 0.0
    state.features.append(features)
    state.probs.append(probs)
    state.seconds += time.perf_counter() - opened
    return opening


def _opened(model: LoadedModel, engine: str, device: torch.device, first: torch.Tensor, store: FeatureStore | None,
            dataset_id: str, models: LoadedModels | None) -> tuple[Embed, str, str | None]:
    """:func:`_embedder`, taken from (and kept in) ``models`` when given."""
    opened = (model.fingerprint, engine, str(device))
    if models is not None and opened in models.embedders:
        return models.embedders[opened]
    embedder = _embedder(model, engine, device, first, store, dataset_id)
    if models is not None:
        models.embedders[opened] = embedder
    return embedder


def _embed_batch(model_id: str, extractor: torch.nn.Module, head: torch.nn.Module | None, batch: torch.Tensor,
                 precision: torch.dtype | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Features and source probabilities of one batch in torch, as float32 CPU tensors."""
    features = _valid_features(model_id, _forward(extractor, batch, precision), len(batch))
    if head is None:
        return features.cpu(), None
    return features.cpu(), _probabilities(model_id, _forward(head, features, precision)).cpu()


def _embed_onnx(model_id: str, runner: Embed, batch: torch.Tensor,
                last: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Features and source probabilities of one batch from an exported graph's ``runner`` (which gives its memory back
    after the ``last`` batch of a pass), checked as in torch."""
    try:
        features, logits = runner(batch, last)
    except Exception as err:  # ONNX Runtime's own error types
        raise ExtractionError(f"ONNX Runtime failed on a batch of model {model_id!r} ({type(err).__name__}: {err}); "
                              "engine='torch' computes its features without it") from err
    features = _valid_features(model_id, features, len(batch))
    return features, (_probabilities(model_id, logits) if logits is not None else None)


def _valid_features(model_id: str, features: torch.Tensor, images: int) -> torch.Tensor:
    """``features`` when they are a finite ``[images, dim]`` array, else an :class:`ExtractionError`."""
    if features.ndim != 2 or features.shape[0] != images:
        raise ExtractionError(f"model {model_id!r} returned features of shape {tuple(features.shape)} for a batch "
                              f"of {images} images; expected [batch, feature_dim]")
    if not torch.isfinite(features).all():
        raise ExtractionError(f"model {model_id!r} produced non-finite (NaN or infinite) features; its weights or "
                              f"preprocessing are likely broken")
    return features


def _probabilities(model_id: str, logits: torch.Tensor) -> torch.Tensor:
    """The softmax of source-class ``logits``, checked to be finite."""
    probs = torch.softmax(logits, dim=1)
    if not torch.isfinite(probs).all():
        raise ExtractionError(f"model {model_id!r} produced non-finite source-class probabilities")
    return probs


def _forward(module: torch.nn.Module, inputs: torch.Tensor, precision: torch.dtype | None) -> torch.Tensor:
    """``module(inputs)`` as float32, under autocast to ``precision`` when one is given; an output that overflowed
    in reduced precision is recomputed in float32."""
    if precision is not None:
        with torch.autocast(inputs.device.type, dtype=precision):
            outputs = module(inputs).float()
        if torch.isfinite(outputs).all():
            return outputs
    return module(inputs).float()


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The reduced precision extraction runs in: bfloat16 (float16 on GPUs without it) on CUDA, none elsewhere."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _resized_size(image: Image.Image, preprocessing: Preprocessing) -> list[int]:
    """The size ``image`` is resized to (``[shorter side]`` or ``[H, W]``), as timm's eval transform computes it."""
    resize, mode = preprocessing.resize, preprocessing.crop_mode
    if mode == "center" and isinstance(resize, int):
        return [resize]  # torchvision's Resize(int): the shorter side
    height, width = (resize, resize) if isinstance(resize, int) else resize
    if mode == "squash":
        return [height, width]
    ratios = (image.height / height, image.width / width)  # timm's ResizeKeepRatio: cover the box, or fit inside it
    ratio = max(ratios) if mode == "border" else min(ratios)
    return [round(image.height / ratio), round(image.width / ratio)]


def _padded(image: Image.Image, size: tuple[int, int], mean: torch.Tensor, value_scale: float) -> Image.Image:
    """``image`` padded evenly (the extra pixel after) to at least ``size`` with the ``mean`` colour as grey levels,
    as timm's ``CenterCropOrPad`` pads."""
    height, width = size
    extra_h, extra_w = max(height - image.height, 0), max(width - image.width, 0)
    if not (extra_h or extra_w):
        return image
    fill = [round(255 * float(value) / value_scale) for value in mean]
    return F.pad(image, [extra_w // 2, extra_h // 2, (extra_w + 1) // 2, (extra_h + 1) // 2],
                 fill=fill[0] if len(fill) == 1 else fill)


def _checked(preprocessing: Preprocessing) -> tuple[str, InterpolationMode, torch.Tensor, torch.Tensor]:
    """Channel order, interpolation mode and per-channel mean / std of ``preprocessing``, or a clear ValueError."""
    channels = preprocessing.channels.upper()
    if channels not in ("RGB", "BGR", "L"):
        raise ValueError(f"preprocessing channels must be 'RGB', 'BGR' or 'L', got {preprocessing.channels!r}")
    if preprocessing.crop_mode not in ("center", "squash", "border"):
        raise ValueError(f"preprocessing crop_mode must be 'center', 'squash' or 'border', "
                         f"got {preprocessing.crop_mode!r}")
    resize = preprocessing.resize
    sizes = list(resize) if isinstance(resize, (tuple, list)) and len(resize) == 2 else [resize]
    if not all(isinstance(size, int) and not isinstance(size, bool) and size > 0 for size in sizes):
        raise ValueError(f"preprocessing resize must be a positive int or (height, width), got {resize!r}")
    try:
        interpolation = InterpolationMode(preprocessing.interpolation.lower())
    except ValueError:
        known = ", ".join(mode.value for mode in InterpolationMode)
        raise ValueError(f"unknown interpolation {preprocessing.interpolation!r}; use one of {known}") from None
    depth = 1 if channels == "L" else 3
    mean, std = _per_channel(preprocessing.mean, depth, "mean"), _per_channel(preprocessing.std, depth, "std")
    if (std <= 0).any():
        raise ValueError(f"preprocessing std must be positive, got {preprocessing.std}")
    return channels, interpolation, mean, std


def _per_channel(values: tuple[float, ...], depth: int, what: str) -> torch.Tensor:
    """``mean`` / ``std`` as one value per channel (a single value applies to all channels)."""
    tensor = torch.as_tensor(values, dtype=torch.float32).flatten()
    if tensor.numel() == 1:
        return tensor.expand(depth)
    if tensor.numel() != depth:
        raise ValueError(f"preprocessing {what} has {tensor.numel()} values but the input has {depth} channel(s)")
    return tensor
