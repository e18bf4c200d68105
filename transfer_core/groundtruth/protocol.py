"""The fine-tuning recipe: every setting that changes the result, validated, and recorded next to the number.

Defaults follow the LogME (You et al. ICML'21) and SFDA (Shao et al. ECCV'22) protocol — SGD with momentum 0.9, a
cosine learning-rate schedule, a learning-rate × weight-decay grid chosen on a held-out validation split — scaled
down to a CPU: at most 500 training images, the last 2 blocks plus a new linear head, 10 epochs, lr ∈ {1e-2, 1e-3},
weight decay 1e-4. Epochs are cheap there: the frozen front of the network runs once per image
(:mod:`~transfer_core.groundtruth.frozen_prefix`), so an epoch costs only the trained blocks (3 epochs, the first
default, left the heads under-trained: every model's fine-tuned accuracy fell below its linear probe on the textile
demo). Use ``trainable="all"`` and a wider grid on a GPU.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from transfer_core.groundtruth.errors import GroundTruthError

TRAINABLE_CHOICES = ("all", "last_blocks", "head")


@dataclass(frozen=True)
class FineTuneProtocol:
    """A fine-tuning recipe.

    The dataset is split once (stratified for labels, seeded): ``test_fraction`` and ``val_fraction`` of it are held
    out, each capped at ``max_eval_images``; training uses the rest, capped at ``max_train_images`` (stratified).
    Every (learning rate, weight decay) pair trains from the same pretrained weights for ``epochs`` epochs; the pair
    with the best validation score is chosen and its test score reported.
    ``trainable``: "all" (whole network), "last_blocks" (the last ``last_blocks`` blocks of the extractor, see
    :mod:`transfer_core.groundtruth.blocks`) or "head" (only the new linear head).
    """

    trainable: str = "last_blocks"
    last_blocks: int = 2
    learning_rates: tuple[float, ...] = (1e-2, 1e-3)
    weight_decays: tuple[float, ...] = (1e-4,)
    epochs: int = 10
    batch_size: int = 32
    momentum: float = 0.9
    max_train_images: int | None = 500
    max_eval_images: int | None = 500
    val_fraction: float = 0.2
    test_fraction: float = 0.2
    seed: int = 0

    def __post_init__(self):
        if self.trainable not in TRAINABLE_CHOICES:
            raise GroundTruthError(f"trainable must be one of {TRAINABLE_CHOICES}, got {self.trainable!r}")
        for name in ("last_blocks", "epochs", "batch_size"):
            _require_int(name, getattr(self, name), minimum=1)
        _require_int("seed", self.seed, minimum=0)
        for name in ("max_train_images", "max_eval_images"):
            if getattr(self, name) is not None:
                _require_int(name, getattr(self, name), minimum=2)
        _require_grid("learning_rates", self.learning_rates, allow_zero=False)
        _require_grid("weight_decays", self.weight_decays, allow_zero=True)
        if not 0.0 <= self.momentum < 1.0:
            raise GroundTruthError(f"momentum must be in [0, 1), got {self.momentum!r}")
        for name in ("val_fraction", "test_fraction"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise GroundTruthError(f"{name} must be between 0 and 1, got {getattr(self, name)!r}")
        if self.val_fraction + self.test_fraction >= 0.9:
            raise GroundTruthError("val_fraction + test_fraction must leave at least 10 % of the images to train on")
        object.__setattr__(self, "learning_rates", tuple(float(v) for v in self.learning_rates))
        object.__setattr__(self, "weight_decays", tuple(float(v) for v in self.weight_decays))

    def grid(self) -> list[tuple[float, float]]:
        """The (learning rate, weight decay) pairs, learning rate major."""
        return [(lr, wd) for lr in self.learning_rates for wd in self.weight_decays]

    def to_dict(self) -> dict:
        return {**asdict(self), "learning_rates": list(self.learning_rates),
                "weight_decays": list(self.weight_decays), "optimizer": "SGD (momentum, weight decay on all trained "
                "parameters)", "schedule": "cosine annealing per step to 0", "selection": "best validation score"}


def _require_int(name: str, value, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise GroundTruthError(f"{name} must be an integer ≥ {minimum}, got {value!r}")


def _require_grid(name: str, values, allow_zero: bool) -> None:
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError):
        raise GroundTruthError(f"{name} must be a list of numbers, got {values!r}") from None
    if not numbers or not all(math.isfinite(v) and (v > 0 or (allow_zero and v == 0)) for v in numbers):
        bound = "non-negative" if allow_zero else "positive"
        raise GroundTruthError(f"{name} must be a non-empty list of {bound} numbers, got {values!r}")
