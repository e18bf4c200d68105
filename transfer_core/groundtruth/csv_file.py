"""Ground truth the user already has: a CSV with columns ``model,accuracy`` (one row per model)."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

from transfer_core.groundtruth.errors import GroundTruthError

REQUIRED_COLUMNS = ("model", "accuracy")


def load_groundtruth_csv(path: str | os.PathLike) -> dict[str, float]:
    """``{model ID: accuracy}`` from a CSV whose header has ``model`` and ``accuracy`` (other columns are ignored).

    Every failure is a :class:`GroundTruthError` naming the file, and the line where there is one: a missing file,
    missing columns, an empty model name, a repeated model, or an accuracy that is not a finite number.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise GroundTruthError(f"{path}: no such ground-truth file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise GroundTruthError(f"{path}: cannot read it as a UTF-8 text CSV ({err})") from None
    reader = csv.DictReader(text.splitlines())
    header = [name.strip().lower() for name in reader.fieldnames or []]
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        raise GroundTruthError(f"{path}: the header must have columns model,accuracy; missing {', '.join(missing)} "
                               f"(found: {', '.join(header) or 'nothing'})")
    reader.fieldnames = header
    accuracies: dict[str, float] = {}
    for row in reader:
        line = reader.line_num
        model = (row.get("model") or "").strip()
        if not model:
            raise GroundTruthError(f"{path}, line {line}: the model name is empty")
        if model in accuracies:
            raise GroundTruthError(f"{path}, line {line}: model {model!r} appears more than once")
        accuracies[model] = _accuracy(row.get("accuracy"), f"{path}, line {line}")
    if not accuracies:
        raise GroundTruthError(f"{path}: no rows below the header; add one line per model: model,accuracy")
    return accuracies


def _accuracy(raw: str | None, where: str) -> float:
    if raw is None or not raw.strip():
        raise GroundTruthError(f"{where}: the accuracy is missing")
    try:
        value = float(raw.strip())
    except ValueError:
        raise GroundTruthError(f"{where}: accuracy {raw!r} is not a number") from None
    if not math.isfinite(value):
        raise GroundTruthError(f"{where}: accuracy {raw!r} is not a finite number")
    return value
