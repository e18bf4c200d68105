"""On-disk state of one fine-tuning run: the final result, each finished grid point, and a checkpoint per grid point.

A run lives in its own folder named by the cache key (model fingerprint, dataset fingerprint, protocol). Every file
is written to a temporary name, fsynced and renamed into place, so an interrupted run never leaves a half-written
file under a real name; a file that cannot be read counts as absent (and is removed), so the work is redone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import torch

from transfer_core.cache.atomic import atomic_write

RESULT = "result.json"


class RunStore:
    """Files of the run under ``folder``: ``result.json``, ``grid-NN.json`` (finished points), ``grid-NN.pt``."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def result(self) -> dict | None:
        return self._read(self.folder / RESULT, _read_json)

    def save_result(self, data: dict) -> None:
        self._write(self.folder / RESULT, lambda handle: handle.write(json.dumps(data, indent=1).encode()))

    def point(self, index: int) -> dict | None:
        return self._read(self._point_path(index, "json"), _read_json)

    def save_point(self, index: int, data: dict) -> None:
        """Record a finished grid point and drop its checkpoint, which is no longer needed."""
        self._write(self._point_path(index, "json"), lambda handle: handle.write(json.dumps(data, indent=1).encode()))
        self._point_path(index, "pt").unlink(missing_ok=True)

    def checkpoint(self, index: int) -> dict | None:
        return self._read(self._point_path(index, "pt"),
                          lambda path: torch.load(path, map_location="cpu", weights_only=True))

    def save_checkpoint(self, index: int, state: dict) -> None:
        self._write(self._point_path(index, "pt"), lambda handle: torch.save(state, handle))

    def _point_path(self, index: int, suffix: str) -> Path:
        return self.folder / f"grid-{index:02d}.{suffix}"

    @staticmethod
    def _read(path: Path, reader: Callable[[Path], object]):
        if not path.exists():
            return None
        try:
            return reader(path)
        except Exception:  # a damaged or foreign file: redo the work it stood for
            path.unlink(missing_ok=True)
            return None

    def _write(self, path: Path, writer: Callable) -> None:
        atomic_write(path, writer)


def _read_json(path: Path) -> dict:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    return data
