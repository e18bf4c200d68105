"""Exported graphs on disk: ``graphs/<key>.onnx`` and its verdict ``graphs/<key>.json`` in the feature store's root.

The key (:func:`graph_key`) covers the model's fingerprint (weights, preprocessing, layer), whether it has a head,
the export code's version and the torch / ONNX Runtime versions, so a graph is exported and verified once per model
and installation. The verdict records whether the graph passed :mod:`.verify` (then with the graph's sha256, checked
before every use, so a damaged file is noticed and exported again) or why it failed (then no graph is kept, and the
model runs in torch without another attempt until the store is cleared). Both are written atomically and count
against the store's size cap (:mod:`transfer_core.cache.layout`).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from transfer_core.cache.atomic import atomic_write, atomic_write_text
from transfer_core.cache.layout import GRAPH_SUFFIX, GRAPHS, VERDICT_SUFFIX, touch
from transfer_core.cache.store import FeatureStore, store_key
from transfer_core.engines.export import OPSET
from transfer_core.models.base import LoadedModel

GRAPH_VERSION = 3  # bump when a change in engines/export.py alters the graphs it writes


def graph_key(model: LoadedModel) -> str:
    """The store key of ``model``'s exported graph and verdict."""
    return store_key({"kind": "onnx-graph", "graph": GRAPH_VERSION, "opset": OPSET, "model": model.fingerprint,
                      "preprocessing": model.preprocessing.to_dict(), "layer": model.layer,
                      "source_head": model.head is not None, "torch": torch.__version__,
                      "onnxruntime": importlib.metadata.version("onnxruntime")})


@dataclass(frozen=True)
class Stored:
    """A recorded verdict (``meta``: ``passed``, ``reason``, ``errors``, ...) and, when it passed, the graph's bytes."""

    meta: dict
    graph: bytes | None


def read(store: FeatureStore, key: str) -> Stored | None:
    """What is recorded under ``key``, or None (nothing yet, an evicted graph, or a damaged one, which is removed
    with a warning)."""
    graph_path, verdict_path = _paths(store, key)
    try:
        meta = json.loads(verdict_path.read_text(encoding="utf-8"))
        if not isinstance(meta, dict) or not isinstance(meta.get("passed"), bool):
            raise ValueError("not a verdict")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError) as err:
        return _damaged(store, key, f"has an unreadable verdict ({err})")
    touch(verdict_path)
    if not meta["passed"]:
        return Stored(meta, None)
    try:
        graph = graph_path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None  # evicted: exported again
    except OSError as err:
        return _damaged(store, key, f"cannot be read ({err})")
    if hashlib.sha256(graph).hexdigest() != meta.get("graph_sha256"):
        return _damaged(store, key, "is damaged (its sha256 is not the recorded one)")
    touch(graph_path)
    return Stored(meta, graph)


def record(store: FeatureStore, key: str, meta: dict, graph: bytes | None) -> None:
    """Write ``graph`` (when given) and then its verdict ``meta`` atomically; a store that cannot be written only
    costs another export next time (a warning says so)."""
    graph_path, verdict_path = _paths(store, key)
    meta = {**meta, "created": time.time()}
    if graph is not None:
        meta["graph_sha256"] = hashlib.sha256(graph).hexdigest()
    try:
        store.folder(GRAPHS)
        if graph is not None:
            atomic_write(graph_path, lambda stream: stream.write(graph))
        atomic_write_text(verdict_path, json.dumps(meta, sort_keys=True))
    except OSError as err:
        warnings.warn(f"the exported graph of {meta.get('model_id')!r} was not cached in {store.root}: {err}",
                      stacklevel=3)
        return
    store.evict(keep=graph_path if graph is not None else verdict_path)


def discard(store: FeatureStore, key: str) -> None:
    """Remove the graph and verdict under ``key`` (a read-only store keeps them)."""
    for path in _paths(store, key):
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass


def _damaged(store: FeatureStore, key: str, problem: str) -> None:
    warnings.warn(f"exported graph {_paths(store, key)[0]} {problem}; removed it, so it is exported again",
                  stacklevel=3)
    discard(store, key)
    return None


def _paths(store: FeatureStore, key: str) -> tuple[Path, Path]:
    folder = store.root / GRAPHS.folder
    return folder / f"{key}{GRAPH_SUFFIX}", folder / f"{key}{VERDICT_SUFFIX}"
