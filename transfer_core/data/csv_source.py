"""A CSV of image paths with a class label (``path,label``) or numeric regression targets (``path,t1,t2,...``)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from .base import SkippedFile
from .catalogue import Catalogue
from .errors import DatasetError
from .images import file_catalogue

CSV_HINT = ("A dataset CSV has a header row: path,label for classes, or path followed by one or more numeric target "
            "columns for regression; relative paths are read from the CSV's folder.")


def csv_catalogue(csv_path: Path) -> Catalogue:
    """The images the CSV lists; rows without a usable path, label or target and files that are missing or not
    images are reported as skipped."""
    header, rows = _read_table(csv_path)
    value_columns = [column for column in header if column != "path"]
    classification = value_columns == ["label"]
    if "label" in value_columns and not classification:
        raise DatasetError(f"{csv_path}: columns {','.join(header)}: use exactly path,label for classes. {CSV_HINT}")
    paths, shown, values, skipped = [], [], [], []
    for line, row in rows:
        where = f"{csv_path.name}:{line}"
        if len(row) != len(header):
            skipped.append(SkippedFile(where, f"row has {len(row)} cells, the header has {len(header)}"))
            continue
        record = dict(zip(header, row))
        text = record.pop("path")
        value, problem = _row_value(text, list(record.values()), classification, where)
        if problem:
            skipped.append(SkippedFile(text or where, problem))
            continue
        paths.append(csv_path.parent / Path(text).expanduser())
        shown.append(text)
        values.append(value)
    kind = "classes" if classification else f"{len(value_columns)} regression target(s)"
    return file_catalogue(csv_path.stem, f"CSV {csv_path} ({kind})", paths, shown,
                          **_labels_or_targets(values, classification, len(value_columns)), skipped=skipped,
                          hint=CSV_HINT)


def _labels_or_targets(values: list, classification: bool, columns: int) -> dict[str, np.ndarray]:
    """Labels [N] (strings), or targets [N] for one target column and [N, K] for several."""
    if classification:
        return {"labels": np.array(values, dtype=str)}
    targets = np.array(values, dtype=np.float64).reshape(len(values), columns)
    return {"targets": targets[:, 0] if columns == 1 else targets}


def _read_table(csv_path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The lower-cased header and the non-blank rows with their line numbers, cells stripped."""
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            table = [(reader.line_num, [cell.strip() for cell in row]) for row in reader if any(map(str.strip, row))]
    except UnicodeDecodeError as error:
        raise DatasetError(f"{csv_path} is not UTF-8 text ({error}); save it as UTF-8 CSV") from error
    except (OSError, csv.Error) as error:
        raise DatasetError(f"could not read {csv_path} ({error}). {CSV_HINT}") from error
    if not table:
        raise DatasetError(f"{csv_path} is empty. {CSV_HINT}")
    header = [column.lower() for column in table[0][1]]
    if "path" not in header or len(header) < 2 or len(set(header)) != len(header):
        raise DatasetError(f"{csv_path}: the header is {','.join(table[0][1])!r}. {CSV_HINT}")
    return header, table[1:]


def _row_value(text: str, cells: list[str], classification: bool,
               where: str) -> tuple[str | list[float] | None, str | None]:
    """(label or targets, None) for a usable row, else (None, why it is skipped). Target text that is not a number
    is an error rather than a skip: it usually means the column holds class labels and should be named 'label'."""
    if not text:
        return None, "no path"
    if classification:
        return (cells[0], None) if cells[0] else (None, "no label")
    if not all(cells):
        return None, "missing target"
    try:
        numbers = [float(cell) for cell in cells]
    except ValueError:
        raise DatasetError(f"{where}: a target is not a number ({', '.join(cells)}); for class labels name the "
                           f"column 'label'. {CSV_HINT}") from None
    return (numbers, None) if all(map(math.isfinite, numbers)) else (None, "target is not a finite number")
