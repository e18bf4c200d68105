"""Sentences for the app built from the benchmarks' committed results, so numbers shown to users are measured, never
typed in: what a provisional (anytime) ranking has been worth (``bench/anytime.py`` → ``assets/anytime/agreement.json``:
per slice size, the Kendall τ between the provisional and the final consensus ranking and how often the provisional
best model was the final best) and what the one-click default costs cold (``bench/cold_default.py`` →
``assets/bench/cold-default.json``).

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

ASSETS = Path(__file__).resolve().parents[2] / "assets"
AGREEMENT_FILE = ASSETS / "anytime" / "agreement.json"
COLD_FILE = ASSETS / "bench" / "cold-default.json"


def _read(path: Path) -> dict:
    """A committed results file, or {} when it is absent or unreadable."""
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return payload if isinstance(payload, dict) else {}


def measured_agreement(path: Path = AGREEMENT_FILE) -> list[dict]:
    """The committed measurements, one per slice fraction (empty when the file is absent or unreadable)."""
    slices = _read(path).get("slices")
    return [row for row in slices if isinstance(row, dict)] if isinstance(slices, list) else []


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


def cold_cost_sentence(path: Path = COLD_FILE) -> str:
    """How long the one-click default took cold in ``bench/cold_default.py``'s committed anytime run (first
    provisional ranking, full ranking), naming the machine; "" without a result. (The torch-only run beside it ran
    under another load, so the page does not quote the ratio; the README does, with its caveat.)"""
    payload = _read(path)
    anytime = payload.get("runs", {}).get("anytime")
    if not anytime or not anytime.get("slices"):
        return ""
    images, first = anytime["slices"][0]
    sentence = (f"Measured cold on {payload.get('machine', 'our machine').split(', load')[0]}: "
                f"{payload.get('images')} images × {payload.get('models')} models gave a first provisional ranking "
                f"(on {images} images) after {_minutes(first)} and the full ranking after "
                f"{_minutes(anytime['seconds'])}")
    return sentence + "."


def _minutes(seconds: float) -> str:
    """``75`` → ``1 min 15 s``; ``42`` → ``42 s``."""
    seconds = round(seconds)
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60:02d} s"
