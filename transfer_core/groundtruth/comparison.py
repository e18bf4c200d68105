"""Fine-tuning beside the linear probe, per model: where the fine-tune is far below its own probe, the training
recipe failed on that model (fine-tuning the last blocks should not lose what a linear head on the frozen features
already reaches; Kornblith et al. CVPR'19 report fine-tuning at or above the probe)."""

from __future__ import annotations

RECIPE_FAILED_MARGIN = 0.10  # fine-tuned accuracy (or R²) this far below the probe's: the recipe failed
# (with 60 test images one image is 1.7 points and the binomial spread of a 0.75 accuracy ±5.6 points)
OK, COLLAPSED, RECIPE_FAILED, NO_PROBE = "ok", "collapsed", "recipe failed", "no probe"


def side_by_side(finetuned: dict[str, float | None], collapsed: dict[str, str],
                 probes: dict[str, float]) -> list[dict]:
    """One row per fine-tuned model: ``model``, ``finetune`` (None when every grid point collapsed and no collapsed
    point was evaluated), ``probe`` (None without one), ``status`` and a plain ``note``."""
    rows = []
    for model, tuned in finetuned.items():
        probe = probes.get(model)
        if model in collapsed:
            status, note = COLLAPSED, f"this training recipe failed on this model: {collapsed[model]}"
        elif probe is None:
            status, note = NO_PROBE, "no linear probe to compare with"
        elif tuned is not None and tuned < probe - RECIPE_FAILED_MARGIN:
            status, note = RECIPE_FAILED, (f"this training recipe failed on this model: fine-tuned {tuned:.3f}, "
                                           f"{probe - tuned:.3f} below its own linear probe ({probe:.3f})")
        else:
            status, note = OK, ""
        rows.append({"model": model, "finetune": tuned, "probe": probe, "status": status, "note": note})
    return rows
