"""What a ground-truth run returns: one model's held-out score, which procedure produced it and how exactly."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

LINEAR_PROBE = "linear probe"
FINE_TUNE = "fine-tune"
KINDS = (LINEAR_PROBE, FINE_TUNE)

CLASSIFICATION = "classification"
REGRESSION = "regression"


@dataclass(frozen=True)
class GroundTruth:
    """One model's ground truth on one target set.

    ``accuracy`` is the main number: mean held-out accuracy for classification, held-out R² for regression (then
    ``measures`` also holds ``neg_mse``). ``kind`` is :data:`LINEAR_PROBE` or :data:`FINE_TUNE` and is shown next to
    every number: a probe is never reported as fine-tuning. ``protocol`` is the full recipe, recorded next to the
    number; ``folds`` (probe) and ``grid`` (fine-tuning) hold the per-fold / per-grid-point results.
    ``collapsed`` says why, when every fine-tuning grid point collapsed (:mod:`~transfer_core.groundtruth.collapse`):
    then ``accuracy`` is None and ``measures`` holds the test scores of the collapsed point that did best on the
    validation images, if any was finite (:attr:`collapsed_accuracy`).
    """

    model_id: str
    kind: str
    task: str
    accuracy: float | None
    measures: dict
    protocol: dict
    seconds: float
    folds: list[dict] = field(default_factory=list)
    grid: list[dict] = field(default_factory=list)
    cache_hit: bool = False
    collapsed: str | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"ground-truth kind must be one of {KINDS}, got {self.kind!r}")

    @property
    def measure(self) -> str:
        """The name of :attr:`accuracy`'s quantity: ``"accuracy"`` or ``"r2"``."""
        return "accuracy" if self.task == CLASSIFICATION else "r2"

    @property
    def collapsed_accuracy(self) -> float | None:
        """The test score of a collapsed run's best point (None when the run did not collapse, or none is finite)."""
        return self.measures.get(self.measure) if self.collapsed else None

    @property
    def label(self) -> str:
        """A plain phrase naming where the number came from, e.g. ``"linear-probe accuracy"``."""
        quantity = "accuracy" if self.task == CLASSIFICATION else "R²"
        return f"linear-probe {quantity}" if self.kind == LINEAR_PROBE else f"fine-tuned {quantity}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "GroundTruth":
        return cls(**data)
