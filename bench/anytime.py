"""Benchmark: what a provisional (anytime) ranking is worth. On each bundled dataset, the default CPU models and
metrics are ranked anytime (rank_anytime, the slices of config.ANYTIME_FRACTIONS) under several slice seeds; for each
slice, the Kendall τ between its consensus ranking and the final one and whether its best model is the final best.

The features come from the feature store (or are extracted once); only the slices' rankings are measured. Results:
docs/bench-anytime.md and assets/anytime/agreement.json, which the Rank page quotes beside a provisional ranking.

    python bench/anytime.py                        # demo and demo:animals, 300 images each, 5 slice seeds
    python bench/anytime.py --seeds 2 --limit 120  # quick look
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATASETS = ("demo", "demo:animals")


def slice_agreement(dataset, models: list[str], metrics: list[str], seeds: int) -> list[dict]:
    """Per slice fraction: τ to the final ranking and whether the best agrees, for each slice seed."""
    from scipy.stats import kendalltau

    from transfer_core.features import LoadedModels
    from transfer_core.ranking.anytime import rank_anytime
    from transfer_core.ranking.run import IntervalSettings

    loaded, rows = LoadedModels(), []
    for seed in range(seeds):
        slices = []
        rank_anytime(dataset, models, metrics=metrics, intervals=IntervalSettings(mode="off"), on_slice=slices.append,
                     slice_seed=seed, models=loaded)
        final, final_best = slices[-1].run.ranking.ranks(), slices[-1].run.ranking.models[0].model
        for provisional in slices:
            ranks = provisional.run.ranking.ranks()
            shared = [model for model in final if ranks.get(model) is not None and final[model] is not None]
            tau = kendalltau([ranks[m] for m in shared], [final[m] for m in shared]).statistic
            rows.append({"fraction": provisional.images / provisional.total, "images": provisional.images,
                         "seed": seed, "tau": float(tau), "seconds": provisional.seconds,
                         "best_agrees": provisional.run.ranking.models[0].model == final_best})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--limit", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bench-anytime.md")
    parser.add_argument("--json", type=Path, default=ROOT / "assets" / "anytime" / "agreement.json")
    args = parser.parse_args()

    import numpy as np

    from bench.machine import machine_line
    from transfer_core.app_state import DEFAULT_METRICS
    from transfer_core.cache.atomic import atomic_write_text
    from transfer_core.config import ANYTIME_FRACTIONS
    from transfer_core.data import load_dataset
    from transfer_core.models import default_zoo_ids

    machine, started = machine_line(), time.perf_counter()
    models, metrics = default_zoo_ids(include_slow=False), list(DEFAULT_METRICS)
    measured = {}
    for dataset_id in args.datasets.split(","):
        dataset = load_dataset(dataset_id, limit=args.limit)
        measured[dataset_id] = slice_agreement(dataset, models, metrics, args.seeds)
        print(f"{dataset_id}: done after {time.perf_counter() - started:.0f} s", file=sys.stderr)
    summary = []
    for fraction in ANYTIME_FRACTIONS:
        at = [row for rows in measured.values() for row in rows if abs(row["fraction"] - fraction) < 0.05]
        summary.append({"fraction": fraction, "images": round(float(np.mean([row["images"] for row in at]))),
                        "of": args.limit, "tau": float(np.mean([row["tau"] for row in at])),
                        "tau_min": float(np.min([row["tau"] for row in at])),
                        "best_agrees": float(np.mean([row["best_agrees"] for row in at])),
                        "datasets": len(measured), "models": len(models), "runs": len(at)})
    args.json.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.json, json.dumps({"machine": machine, "limit": args.limit, "seeds": args.seeds,
                                             "metrics": metrics, "models": models, "slices": summary,
                                             "runs": measured}, indent=1) + "\n")
    lines = ["# Anytime ranking: how close a provisional ranking is to the final one", "",
             f"Measured by `python bench/anytime.py --limit {args.limit} --seeds {args.seeds}` on {machine}.", "",
             f"Datasets: {', '.join(measured)} ({args.limit} images each); the {len(models)} default CPU models; "
             f"metrics {', '.join(metrics)}; {args.seeds} slice seeds per dataset. τ is Kendall's τ between the "
             "provisional and the final consensus ranking over all models.", "",
             "| slice (share of images) | mean τ to the final ranking | lowest τ | provisional best = final best |",
             "|---:|---:|---:|---:|"]
    for row in summary:
        lines.append(f"| {row['fraction']:.0%} | {row['tau']:.3f} | {row['tau_min']:.3f} | "
                     f"{row['best_agrees']:.0%} of {row['runs']} runs |")
    for dataset_id, rows in measured.items():
        lines += ["", f"## {dataset_id}", "", "| slice | images | seed | τ | best agrees |",
                  "|---:|---:|---:|---:|---|"]
        lines += [f"| {row['fraction']:.0%} | {row['images']} | {row['seed']} | {row['tau']:.3f} | "
                  f"{'yes' if row['best_agrees'] else 'no'} |" for row in rows]
    atomic_write_text(args.out, "\n".join(lines) + "\n")
    print("\n".join(lines[:12 + len(summary)]))


if __name__ == "__main__":
    main()
