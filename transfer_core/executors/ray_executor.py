"""The Ray executor: the local executor's units of work as Ray tasks on a running cluster (Moritz et al., OSDI'18).

**Why plain tasks.** One unit is "one model on one dataset": the worker loads the model, extracts with the local
code (:func:`~transfer_core.features.extract_by_id`) and returns the arrays and the manifest. A task is the unit Ray
retries when its worker dies and cancels on request, and nothing outlives it. Actors holding a model would pay off
only when a model is asked for many datasets in one run (it is asked once), and Ray Data's ``map_batches`` over an
actor pool would split one model's images across workers, so the results would be concatenated from several
processes and the one-pass, one-code extraction (and its store entries) would become another code path. One
fine-tuning grid point or one model's linear probe is a task as well (:meth:`RayExecutor.map`).

**Where things live.** The driver's ``transfer_core`` is shipped to every node (``runtime_env`` ``py_modules``), so
the workers run the driver's code; its dependencies and the asset packages (the zoo, the bundled demos) must be
installed on every node, as in one container image. The dataset travels pickled through the object store, once per
run: a bundled array demo carries its pixels, a folder, zip or CSV dataset only its file paths, so every node must
see those files at the same path (a shared filesystem); a pickled dataset above :data:`DATASET_PAYLOAD_LIMIT` is
refused. Workers extract into their node's own feature store (``$TRANSFER_SCOUT_CACHE`` on the node) and the
driver writes each finished result into its store (:func:`~transfer_core.features.keep_extraction`), so a second run
is served there without Ray; only complete results are written, a killed or cancelled task leaves nothing.
"""

from __future__ import annotations

import functools
import math
import os
import socket
import warnings
from pathlib import Path
from typing import Callable, Iterator

from transfer_core.errors import InvalidInputError, TransferScoutError
from transfer_core.executors import Extracted, ExtractProgress

RAY_ADDRESS_ENV = "RAY_ADDRESS"
DEFAULT_ADDRESS = "auto"  # Ray's own word: the cluster this machine runs or has joined
TASK_RETRIES = 3  # runs of a task whose worker died (killed, out of memory, node lost) before its model is reported
POLL_SECONDS = 0.25  # how often the driver collects the workers' per-image progress while it waits
CONNECT_TIMEOUT_SECONDS = 5.0
DATASET_PAYLOAD_LIMIT = 256 * 2**20  # a pickled dataset sent through the object store; larger ones: a shared path


class RayConnectionError(TransferScoutError, ConnectionError):
    """No Ray cluster could be reached (or Ray is not installed)."""


def resolve_address(address: str | None) -> str:
    """The address to connect to: ``address``, else ``$RAY_ADDRESS``, else ``auto``."""
    return address or os.environ.get(RAY_ADDRESS_ENV) or DEFAULT_ADDRESS


class RayExecutor:
    """Runs extraction and mapped units as Ray tasks on the cluster at ``address`` (:func:`resolve_address`).

    ``gpus_per_task`` is each task's GPU request (None: 1 when the cluster has GPUs, else 0; a fraction packs several
    tasks on one GPU); ``worker_store`` is the feature store path the workers use (None: each node's default);
    ``retries`` is how often a task whose worker died runs again. Connecting is part of construction: an unreachable
    address is a :class:`RayConnectionError` at once. ``close()`` cancels what is still running and disconnects when
    this executor connected.
    """

    def __init__(self, address: str | None = None, gpus_per_task: float | None = None, *,
                 worker_store: str | os.PathLike | None = None, retries: int = TASK_RETRIES):
        self.address = resolve_address(address)
        _check_gpus(gpus_per_task)
        self._ray = _import_ray()
        self._connected_here = _connect(self._ray, self.address)
        self.gpus_per_task = _gpus(gpus_per_task, float(self._ray.cluster_resources().get("GPU", 0)), self.address)
        self.worker_store = None if worker_store is None else str(worker_store)
        self.retries = retries
        self._running: set = set()

    def __enter__(self) -> "RayExecutor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Cancel every task still running, and disconnect when this executor connected."""
        self._cancel(list(self._running))
        if self._connected_here and self._ray.is_initialized():
            self._ray.shutdown()
        self._connected_here = False

    def extract(self, model_ids: list[str], dataset, *, store, device: str = "auto", engine: str = "auto",
                models=None, progress: ExtractProgress | None = None) -> Iterator[Extracted]:
        """Each model's :class:`~transfer_core.executors.Extracted`: those the driver's store serves first, then the
        others as their tasks finish (one task per model; ``models`` is not used: each worker loads its model)."""
        from transfer_core.executors.ray_tasks import ProgressBoard, extract_model
        from transfer_core.features import cached_extraction

        index = {model_id: position for position, model_id in enumerate(model_ids)}
        remaining = []
        for model_id in model_ids:
            hit = cached_extraction(model_id, dataset, store, progress=_reporter(progress, index[model_id]))
            if hit is not None:
                yield hit
            else:
                remaining.append(model_id)
        if not remaining:
            return
        payload = self._ray.put(_dataset_payload(dataset))
        board = ProgressBoard.remote() if progress is not None else None
        task = extract_model.options(num_cpus=1, num_gpus=self.gpus_per_task, max_retries=self.retries)
        pending = {task.remote(model_id, payload, device, engine, self.worker_store, board, index[model_id]): model_id
                   for model_id in remaining}
        self._running.update(pending)
        try:
            while pending:
                ready, _ = self._ray.wait(list(pending), num_returns=1, timeout=POLL_SECONDS)
                if board is not None:
                    running = {index[model_id] for model_id in pending.values()}
                    for position, (done, total, eta) in sorted(self._ray.get(board.take.remote()).items()):
                        if position in running:
                            progress(position, done, total, eta)
                for ref in ready:
                    model_id = pending.pop(ref)
                    self._running.discard(ref)
                    outcome = self._collected(ref, model_id, dataset, store)
                    if progress is not None and outcome.error is None:
                        progress(index[model_id], dataset.size, dataset.size, 0.0)
                    yield outcome
        finally:
            self._cancel(list(pending))
            if board is not None:
                self._ray.kill(board)

    def map(self, fn: Callable, items: list, *, gpus: float = 0) -> list:
        """``[fn(item) for item in items]`` in order, one task per item with ``gpus`` GPUs each; the first error
        raised by ``fn`` is raised here (its own type) and the other tasks are cancelled."""
        from transfer_core.executors.ray_tasks import call

        if not items:
            return []
        function = self._ray.put(fn)
        task = call.options(num_cpus=1, num_gpus=gpus, max_retries=self.retries)
        refs = [task.remote(function, item) for item in items]
        self._running.update(refs)
        try:
            return [self._value(ref) for ref in refs]
        finally:
            self._cancel(refs)

    def _collected(self, ref, model_id: str, dataset, store) -> Extracted:
        """A finished task's outcome; a result is written into the driver's ``store`` (rows, entry, manifest)."""
        from transfer_core.features import keep_extraction
        from transfer_core.models.manifest import remember_manifest

        try:
            result, manifest, error = self._ray.get(ref)
        except self._ray.exceptions.RayError as failure:  # its retries used up, or cancelled
            return Extracted(model_id, None, None, _task_failure(failure, model_id))
        if error is not None:
            return Extracted(model_id, None, None, error)
        remember_manifest(manifest, None, store.root)
        keep_extraction(store, manifest, dataset, result)
        return Extracted(model_id, result, manifest)

    def _value(self, ref):
        """A mapped task's return value, or the error its function raised."""
        try:
            return self._ray.get(ref)
        except self._ray.exceptions.RayTaskError as failure:
            cause = getattr(failure, "cause", None)
            if isinstance(cause, Exception):
                raise cause from None
            raise _task_failure(failure, "a mapped unit") from None
        except self._ray.exceptions.RayError as failure:
            raise _task_failure(failure, "a mapped unit") from None
        finally:
            self._running.discard(ref)

    def _cancel(self, refs: list) -> None:
        """Stop the tasks of ``refs`` that are still queued or running (their workers are killed; nothing they
        computed is kept)."""
        for ref in refs:
            if ref in self._running:
                try:
                    self._ray.cancel(ref, force=True)
                except Exception:  # noqa: BLE001 - finished meanwhile, or its owner gone: nothing to stop
                    pass
                self._running.discard(ref)


def validation_mappers(executor, groundtruth: str) -> dict:
    """``validate``'s mappers for ``executor``: on Ray one model's linear probe per task (``map_models``), or one
    fine-tuning grid point per task (``map_points``; the driver loads each model and computes its frozen front in
    turn); nothing for another executor (the units run here). Importing this module does not import Ray."""
    if not isinstance(executor, RayExecutor):
        return {}
    mapped = functools.partial(executor.map, gpus=executor.gpus_per_task)
    return {"map_models": mapped} if groundtruth == "probe" else {"map_points": mapped}


def _reporter(progress: ExtractProgress | None, position: int):
    return None if progress is None else (lambda done, total, eta: progress(position, done, total, eta))


def _import_ray():
    try:
        import ray
    except ImportError as error:
        raise RayConnectionError(f"the Ray executor needs the ray package ({error}); install the pinned "
                                 "requirements.txt") from None
    return ray


def _connect(ray, address: str) -> bool:
    """Connect to the cluster at ``address`` (unless this process already is connected); True when connected here."""
    if ray.is_initialized():
        current = ray.get_runtime_context().gcs_address
        if address not in (DEFAULT_ADDRESS, "local", current):
            raise RayConnectionError(f"this process is connected to the Ray cluster at {current}, not {address}")
        return False
    found = _auto_address(address) if address == DEFAULT_ADDRESS else address
    if found not in (None, DEFAULT_ADDRESS, "local"):
        _check_reachable(found)
    import transfer_core

    code = str(Path(transfer_core.__file__).parent)
    try:
        ray.init(address=address, runtime_env={"py_modules": [code], "excludes": ["__pycache__"]},
                 log_to_driver=False, logging_level="WARNING", configure_logging=True)
    except ConnectionError as error:
        raise RayConnectionError(_unreachable(address, error)) from None
    except Exception as error:  # noqa: BLE001 - authentication, version mismatch, ...: one clear line
        raise RayConnectionError(f"could not connect to the Ray cluster at {address}: {type(error).__name__}: "
                                 f"{_first_line(error)}") from None
    return True


def _auto_address(address: str) -> str | None:
    """What ``auto`` stands for: the cluster last started on this machine (Ray's record of it, which outlives a
    cluster that was killed: then Ray would retry for minutes), or a running one Ray finds here."""
    try:
        from ray._private.services import canonicalize_bootstrap_address  # ray.init's own resolution (ray pinned)
    except ImportError:
        return None  # ray.init resolves it
    try:
        return canonicalize_bootstrap_address(address)
    except ConnectionError as error:
        raise RayConnectionError(_unreachable(address, error)) from None


def _check_reachable(address: str) -> None:
    """A TCP connection to ``address``'s host and port, so an unreachable one fails at once (Ray retries for
    minutes)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise RayConnectionError(f"--ray-address {address!r} is not HOST:PORT, ray://HOST:PORT, auto or local")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_SECONDS).close()
    except OSError as error:
        raise RayConnectionError(_unreachable(address, error)) from None


def _unreachable(address: str, error: Exception) -> str:
    return (f"no Ray cluster is reachable at {address} ({_first_line(error)}); start one with `ray start --head` "
            f"(or join one), then pass its address with --ray-address HOST:PORT or ${RAY_ADDRESS_ENV}")


def _check_gpus(gpus_per_task: float | None) -> None:
    if gpus_per_task is not None and (isinstance(gpus_per_task, bool) or not isinstance(gpus_per_task, (int, float))
                                      or not (math.isfinite(gpus_per_task) and gpus_per_task >= 0)):
        raise InvalidInputError(f"GPUs per task must be a number >= 0, got {gpus_per_task!r}")


def _gpus(gpus_per_task: float | None, cluster_gpus: float, address: str) -> float:
    """The GPUs each task asks for: 1 on a cluster with GPUs and 0 without, unless given."""
    if gpus_per_task is None:
        return 1.0 if cluster_gpus > 0 else 0.0
    if gpus_per_task > 0 and cluster_gpus == 0:
        warnings.warn(f"the Ray cluster at {address} has no GPU now: tasks asking for {gpus_per_task:g} GPU wait "
                      "until a GPU node joins (an autoscaler may add one)", stacklevel=3)
    return float(gpus_per_task)


def _dataset_payload(dataset) -> bytes:
    """``dataset`` pickled for the workers (its loader and labels: paths for files, pixels for array demos)."""
    import cloudpickle

    payload = cloudpickle.dumps(dataset)
    if len(payload) > DATASET_PAYLOAD_LIMIT:
        raise InvalidInputError(
            f"dataset {dataset.dataset_id!r} pickles to {len(payload) / 2**20:.0f} MiB, more than the "
            f"{DATASET_PAYLOAD_LIMIT / 2**20:.0f} MiB sent through Ray's object store: put its images in a folder "
            "or a CSV of paths on a filesystem every node mounts at the same path")
    return payload


def _task_failure(failure: Exception, what: str) -> TransferScoutError:
    """A task that did not finish (its worker died more often than it is retried, or it was cancelled)."""
    from transfer_core.executors.ray_tasks import RemoteError

    return RemoteError(f"the Ray task for {what} did not finish: {type(failure).__name__}: {_first_line(failure)}")


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
