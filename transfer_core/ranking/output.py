"""Write a ranking as ``ranking.json`` and ``ranking.csv`` (the same columns; the card as a JSON string in CSV)."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from transfer_core.cache.atomic import atomic_write_text
from transfer_core.ranking.ranks import CONSENSUS
from transfer_core.ranking.table import FACTS, rank_column


def _finite_or_none(value):
    return None if isinstance(value, float) and not math.isfinite(value) else value


def ranking_columns(ranking) -> list[str]:
    """model, each metric then its rank, consensus rank, then the extraction facts and the card."""
    columns = ["model"]
    for metric in ranking.metrics:
        columns += [metric, rank_column(metric)]
    return [*columns, rank_column(CONSENSUS), *FACTS]


def ranking_csv(ranking) -> str:
    """The CSV text of a ranking (also offered as a download by the app)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=ranking_columns(ranking), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in ranking.to_dict()["models"]:
        writer.writerow({key: json.dumps(value, sort_keys=True) if isinstance(value, dict)
                         else ("" if value is None else value) for key, value in row.items()})
    return buffer.getvalue()


def ranking_json(ranking) -> str:
    """The JSON text of a :class:`~transfer_core.ranking.table.Ranking` or of a whole
    :class:`~transfer_core.ranking.run.RankRun` (with its verdict, intervals and ensemble); non-finite numbers become
    null so the file is valid JSON."""
    payload = ranking.to_dict()
    payload["models"] = [{key: _finite_or_none(value) for key, value in row.items()} for row in payload["models"]]
    return json.dumps(payload, indent=2, allow_nan=False)


def write_ranking(run, folder: str | Path) -> tuple[Path, Path]:
    """Write a :class:`~transfer_core.ranking.run.RankRun` as ``ranking.csv`` (the table) and ``ranking.json``
    (everything) into ``folder`` (created if needed); returns (csv path, json path)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = folder / "ranking.csv", folder / "ranking.json"
    atomic_write_text(csv_path, ranking_csv(run.ranking))
    atomic_write_text(json_path, ranking_json(run))
    return csv_path, json_path
