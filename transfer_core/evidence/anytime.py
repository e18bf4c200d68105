"""What a provisional (anytime) ranking has been worth in our measurements: ``bench/anytime.py`` ranks the bundled
datasets on each slice and records, per slice size, the Kendall τ between the provisional consensus ranking and the
final one and how often the provisional best model was the final best (``assets/anytime/agreement.json``). The Rank
page quotes the measurement nearest to the share of images a provisional ranking rests on; nothing is typed in.

>>> sentence = agreement_sentence(0.5, [{"fraction": 0.35, "images": 105, "of": 300, "tau": 0.81, "best_agrees": 0.5,
...                                      "datasets": 2, "models": 14}, {"fraction": 1.0, "images": 300, "of": 300,
...                                      "tau": 1.0, "best_agrees": 1.0, "datasets": 2, "models": 14}])
>>> sentence[:78]
'In our measurements (2 bundled datasets, 14 models), rankings from 35% of the '
>>> sentence[78:169]
'images (105 of 300) agreed with the full ranking at Kendall τ ≈ 0.81, and their best model '
>>> sentence[169:]
'was the final best in 50% of cases.'
"""

from __future__ import annotations

import json
from pathlib import Path

AGREEMENT_FILE = Path(__file__).resolve().parents[2] / "assets" / "anytime" / "agreement.json"


def measured_agreement(path: Path = AGREEMENT_FILE) -> list[dict]:
    """The committed measurements, one per slice fraction (empty when the file is absent or unreadable)."""
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        return [row for row in payload["slices"] if isinstance(row, dict)]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def agreement_sentence(share: float, measurements: list[dict] | None = None) -> str:
    """A plain sentence on how close rankings from ``share`` of the images came to the final one (the measurement
    at the nearest slice fraction not above ``share``, else the smallest), or "" without measurements."""
    rows = sorted(measured_agreement() if measurements is None else measurements, key=lambda row: row["fraction"])
    rows = [row for row in rows if row["fraction"] < 1.0]
    if not rows:
        return ""
    below = [row for row in rows if row["fraction"] <= share + 1e-9]
    row = below[-1] if below else rows[0]
    return (f"In our measurements ({row['datasets']} bundled datasets, {row['models']} models), rankings from "
            f"{row['fraction']:.0%} of the images ({row['images']} of {row['of']}) agreed with the full ranking at "
            f"Kendall τ ≈ {row['tau']:.2f}, and their best model was the final best in {row['best_agrees']:.0%} of "
            "cases.")
