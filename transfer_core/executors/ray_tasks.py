"""What runs on a Ray worker: one model's extraction on one dataset, one mapped unit, and the board the workers post
their per-image progress to (:mod:`transfer_core.executors.ray_executor` submits them).

The extraction is the local code, :func:`~transfer_core.features.extract_by_id`, with the worker's own feature store
(the node's default, ``$TRANSFER_SCOUT_CACHE`` there, or a path the driver names): the node keeps its exported ONNX
graphs and the rows it computed, and the driver receives the finished arrays and the manifest. A Python error is
returned as a value (a model that fails to load fails the same way on every try, so it is not retried); a worker
that dies (killed, out of memory, node lost) raises nothing here and Ray runs the task again.
"""

from __future__ import annotations

import os
import pickle
import socket

import ray

from transfer_core.errors import TransferScoutError


class RemoteError(TransferScoutError, RuntimeError):
    """An error raised on a worker whose own type could not travel back to the driver (it does not pickle)."""


@ray.remote(num_cpus=0)
class ProgressBoard:
    """The latest ``(done, total, eta)`` each running model's extraction reported, collected by the driver."""

    def __init__(self):
        self.latest: dict[int, tuple] = {}

    def report(self, index: int, done: int, total: int, eta) -> None:
        self.latest[index] = (done, total, eta)

    def take(self) -> dict[int, tuple]:
        """The reports since the last call."""
        latest, self.latest = self.latest, {}
        return latest


@ray.remote
def extract_model(model_id: str, dataset_payload: bytes, device: str, engine: str, store_root: str | None,
                  board, index: int) -> tuple:
    """``(ExtractionResult, ModelManifest, None)`` of ``model_id`` on the pickled dataset, else
    ``(None, None, error)``."""
    from transfer_core.cache.store import FeatureStore
    from transfer_core.features import ExtractionError, extract_by_id

    dataset = pickle.loads(dataset_payload)
    report = None if board is None else (lambda done, total, eta: board.report.remote(index, done, total, eta))
    try:
        result, manifest = extract_by_id(model_id, dataset, store=FeatureStore(store_root), device=device,
                                         engine=engine, progress=report)
    except ExtractionError as error:
        return None, None, _unseen_files(error) if _missing_file(error) else _portable(error)
    except Exception as error:  # noqa: BLE001 - reported for this model, as a local run reports it
        return None, None, _portable(error)
    return result, manifest, None


@ray.remote
def call(fn, item):
    """``fn(item)`` on a worker (``fn`` comes through the object store once for every item)."""
    return fn(item)


def _missing_file(error: BaseException | None) -> bool:
    """Whether a missing or unreadable file is among the causes of ``error``."""
    while error is not None:
        if isinstance(error, (FileNotFoundError, NotADirectoryError, PermissionError)):
            return True
        error = error.__cause__
    return False


def _unseen_files(error: Exception) -> Exception:
    """An image this node could not read: the dataset must live where every node sees it at the same path."""
    return type(error)(f"{error} (on Ray node {socket.gethostname()}, pid {os.getpid()}: every node must see the "
                       "dataset's files at the same path as the driver, e.g. on a shared filesystem; see the README, "
                       "'On a cluster')")


def _portable(error: Exception) -> Exception:
    """``error`` when it survives pickling, else a :class:`RemoteError` with its type and message."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:  # noqa: BLE001 - any failure to round-trip means it cannot travel
        return RemoteError(f"{type(error).__name__}: {error}")
    return error
