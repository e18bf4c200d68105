"""The fine-tuning recipe: every setting that changes the result, validated, and recorded next to the number.

Defaults follow the LogME (You et al. ICML'21) and SFDA (Shao et al. ECCV'22) protocol — SGD with momentum 0.9, a
cosine learning-rate schedule, a learning-rate × weight-decay grid chosen on a held-out validation split — scaled
down to a CPU: at most 500 training images, the last 2 blocks plus a new linear head, 10 epochs and at least 100
optimiser steps, lr ∈ {1e-2, 1e-3, 1e-4} (the head's 10× that), weight decay 1e-4. One recipe for every model, made to
train every head: the head's inputs are centred and scaled with the training images' feature statistics
(:mod:`~transfer_core.groundtruth.head`; without it the HED and CRAFT VGG16s, pooled feature norms 193 and 0.41,
ended at the majority class), the head starts at zero, the first 10 % of the steps warm the learning rate up
linearly and the gradient norm is clipped to 5. The step floor and the faster head (fine-tune version 3) came from
150 animal silhouettes in 10 classes: 90 training images made 30 steps in 10 epochs, the zero-initialised head
barely left the uniform guess (loss 2.30 → 1.9) and HED ended at 0.20 test accuracy against a linear probe's 0.71;
with both, 0.63 (CRAFT 0.43 → 0.77, probe 0.82; MobileNetV2 0.57 → 0.77, probe 0.80). lr 1e-1 is left out:
it sent HED's and CRAFT's training loss above 100 in the first epoch (measured on the textile demo), and each grid
point costs a full training run on a CPU. A point that collapses anyway is detected and skipped
(:mod:`~transfer_core.groundtruth.collapse`). Epochs are cheap: the frozen front of the network runs once per image
(:mod:`~transfer_core.groundtruth.frozen_prefix`), so an epoch costs only the trained blocks. Use
``trainable="all"`` and a wider grid on a GPU.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from transfer_core.groundtruth.errors import GroundTruthError

TRAINABLE_CHOICES = ("all", "last_blocks", "head")
DESCRIPTION = {  # how the settings are used, in words (recorded, not part of the cache key)
    "optimizer": "SGD (momentum, weight decay on all trained parameters), gradient norm clipped to max_grad_norm",
    "schedule": "per step: linear warm-up over the first warmup_fraction of the steps, then cosine annealing to 0",
    "head": "a new linear layer initialised to zero; with standardise_features its inputs are standardised with "
            "the mean and standard deviation of the training images' features under the pretrained weights "
            "(fixed, part of the head)",
    "selection": "best validation score among the grid points that did not collapse",
    "collapse": "a grid point collapses when its training loss becomes non-finite or ends above its start, or when "
                "it predicts one class for every validation image (R² ≤ 0 on the validation images for targets)",
}


@dataclass(frozen=True)
class FineTuneProtocol:
    """A fine-tuning recipe.

    The dataset is split once (stratified for labels, seeded): ``test_fraction`` and ``val_fraction`` of it are held
    out, each capped at ``max_eval_images``; training uses the rest, capped at ``max_train_images`` (stratified).
    Every (learning rate, weight decay) pair trains from the same pretrained weights for ``epochs`` epochs, or for as
    many more as make at least ``min_steps`` optimiser steps (a small training split has few batches per epoch); the
    new head's learning rate is ``head_lr_scale`` times the pair's. The pair with the best validation score is chosen
    and its test score reported.
    ``trainable``: "all" (whole network), "last_blocks" (the last ``last_blocks`` blocks of the extractor, see
    :mod:`transfer_core.groundtruth.blocks`) or "head" (only the new linear head).
    """

    trainable: str = "last_blocks"
    last_blocks: int = 2
    learning_rates: tuple[float, ...] = (1e-2, 1e-3, 1e-4)
    weight_decays: tuple[float, ...] = (1e-4,)
    epochs: int = 10
    min_steps: int = 100
    batch_size: int = 32
    head_lr_scale: float = 10.0
    momentum: float = 0.9
    standardise_features: bool = True
    warmup_fraction: float = 0.1
    max_grad_norm: float | None = 5.0
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
        _require_int("min_steps", self.min_steps, minimum=0)
        if not (isinstance(self.head_lr_scale, (int, float)) and not isinstance(self.head_lr_scale, bool)
                and math.isfinite(self.head_lr_scale) and 0 < self.head_lr_scale <= 1000):
            raise GroundTruthError(f"head_lr_scale must be a number in (0, 1000], got {self.head_lr_scale!r}")
        if not (isinstance(self.warmup_fraction, (int, float)) and 0.0 <= self.warmup_fraction < 1.0):
            raise GroundTruthError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction!r}")
        if not isinstance(self.standardise_features, bool):
            raise GroundTruthError(f"standardise_features must be True or False, got {self.standardise_features!r}")
        if self.max_grad_norm is not None and not (isinstance(self.max_grad_norm, (int, float))
                                                   and math.isfinite(self.max_grad_norm) and self.max_grad_norm > 0):
            raise GroundTruthError(f"max_grad_norm must be a positive number or None, got {self.max_grad_norm!r}")
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

    def settings(self) -> dict:
        """Every setting, as JSON values: what the cache key is made of (no prose)."""
        return {**asdict(self), "learning_rates": list(self.learning_rates),
                "weight_decays": list(self.weight_decays)}

    def to_dict(self) -> dict:
        """The settings and a plain description of the recipe, for the record next to the number."""
        return {**self.settings(), **DESCRIPTION}

    @classmethod
    def from_dict(cls, data: dict) -> "FineTuneProtocol":
        """The protocol of a record (:meth:`to_dict`, or a result's protocol); other keys are ignored."""
        names = {field.name for field in fields(cls)}
        return cls(**{name: tuple(value) if isinstance(value, list) else value
                      for name, value in data.items() if name in names})


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
