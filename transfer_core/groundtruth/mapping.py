"""How the independent units of ground-truth work run: one after the other here, or through an executor's mapper.

A mapper is ``map_units(fn, items) -> list``: ``[fn(item) for item in items]`` in the order of ``items``, however
and wherever the calls run. ``fn`` is self-contained given its item (it may be a closure, so an executor such as Ray
pickles it with cloudpickle) and returns everything the driver needs; choosing among the results stays on the driver.
Fine-tuning maps its grid points (:func:`~transfer_core.groundtruth.finetune.fine_tune`'s ``map_points``), validation
its models (:func:`~transfer_core.evidence.validation.groundtruth_for`'s ``map_models``).
"""

from __future__ import annotations

from typing import Callable, TypeVar

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")
Mapper = Callable[[Callable[[Item], Outcome], list[Item]], list[Outcome]]


def sequential(fn: Callable[[Item], Outcome], items: list[Item]) -> list[Outcome]:
    """The default mapper: every call here, in order."""
    return [fn(item) for item in items]
