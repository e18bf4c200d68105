"""Is an exported graph faithful? Its outputs against torch's on the same real images, within :data:`TOLERANCE`.

The error of an output is *relative to its scale*: ``max |onnx − torch| / max |torch|`` over the whole output array
(features, then logits), so it reads the same for features of any magnitude and is not fooled by the many near-zero
entries of ReLU features (an element-wise relative error would be). The images go through both engines twice: as the
batch the graph was traced on, and the first image alone, which catches a trace that froze its batch size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

TOLERANCE = 1e-4


def relative_error(candidate: np.ndarray, reference: np.ndarray) -> float:
    """``max |candidate − reference| / max |reference|`` (0 when both are all zeros; inf for a shape mismatch or a
    non-finite candidate)."""
    if candidate.shape != reference.shape or not np.isfinite(candidate).all():
        return float("inf")
    scale = float(np.abs(reference).max(initial=0.0))
    difference = float(np.abs(candidate - reference).max(initial=0.0))
    if scale == 0.0:
        return 0.0 if difference == 0.0 else float("inf")
    return difference / scale


@dataclass(frozen=True)
class Verdict:
    """Whether the graph may be used, why not (``reason``), and each output's relative error."""

    passed: bool
    reason: str | None
    errors: dict[str, float]

    def to_dict(self) -> dict:
        return {"passed": self.passed, "reason": self.reason, "errors": self.errors, "tolerance": TOLERANCE}


def failed(reason: str) -> Verdict:
    return Verdict(False, reason, {})


def verify(run, cases: list[tuple[str, torch.Tensor, tuple[torch.Tensor, ...]]]) -> Verdict:
    """Compare ``run(batch)`` with torch's outputs ``expected`` for each ``(label, batch, expected)`` case.

    ``run`` maps a batch to ``(features, logits or None)``; ``expected`` is ``(features,)`` or ``(features, logits)``.
    """
    errors = {}
    for label, batch, expected in cases:
        outputs = [output for output in run(batch) if output is not None]
        if len(outputs) != len(expected):
            return failed(f"the graph gives {len(outputs)} output(s), torch {len(expected)}")
        for name, output, wanted in zip(("features", "logits"), outputs, expected):
            errors[name + label] = relative_error(output.numpy(), wanted.float().numpy())
    worst = max(errors, key=errors.get)
    if errors[worst] <= TOLERANCE:
        return Verdict(True, None, errors)
    reason = (f"ONNX Runtime's {worst} differ from torch's by {errors[worst]:.2g} relative (max |difference| / max "
              f"|torch value| on {len(cases[0][1])} images; the tolerance is {TOLERANCE:g})")
    return Verdict(False, reason, errors)
