"""Where the units of work run: the local in-process executor (the default; Ray is never imported on its path) or a
Ray cluster (:mod:`transfer_core.executors.ray_executor`). Both run the same code on the same units:

* ``extract(model_ids, dataset, *, store, device, engine, models, progress)`` yields one :class:`Extracted` per model,
  in any order (callers restore the order they asked in); ``progress(model_index, done, total, eta_seconds)``;
* ``map(fn, items, *, gpus=0)`` returns ``[fn(item) for item in items]`` in order (one fine-tuning grid point or one
  model's linear probe per item);
* ``close()``, also as a context manager.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, NamedTuple

if TYPE_CHECKING:
    from transfer_core.features import ExtractionResult
    from transfer_core.models.manifest import ModelManifest

EXECUTORS = ("local", "ray")

# progress(model_index, images done, images in total, ETA seconds or None)
ExtractProgress = Callable[[int, int, int, "float | None"], None]


class Extracted(NamedTuple):
    """One model's extraction: its result and manifest, or the error that stopped it (then both are None)."""

    model_id: str
    result: "ExtractionResult | None"
    manifest: "ModelManifest | None"
    error: Exception | None = None


def make_executor(name: str = "local", *, address: str | None = None, gpus_per_task: float | None = None):
    """The executor called ``name`` (:data:`EXECUTORS`); ``address`` and ``gpus_per_task`` are Ray's."""
    from transfer_core.errors import InvalidInputError

    if name == "local":
        from transfer_core.executors.local import LocalExecutor

        return LocalExecutor()
    if name == "ray":
        from transfer_core.executors.ray_executor import RayExecutor

        return RayExecutor(address=address, gpus_per_task=gpus_per_task)
    raise InvalidInputError(f"executor must be one of {', '.join(EXECUTORS)}, got {name!r}")
