"""PED: a base metric on features whose overlapping classes a short simulation has pushed apart (Li et al., ICCV 2023).

Li et al., "Exploring Model Transferability through the Lens of Potential Energy", ICCV 2023 (public code:
lixiaotong97/PED, ``PED_Score``). Fine-tuning moves the features of overlapping classes apart; PED imitates a few
steps of that as a physical system (classes as spheres that repel when they overlap) and scores the moved
features with SFDA (or LogME / N-LEEP).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch

from transfer_core.metrics.errors import TransferabilityWarning
from transfer_core.metrics.inputs import require_classes
from transfer_core.metrics.logme import logme
from transfer_core.metrics.nleep import nleep
from transfer_core.metrics.options import Option
from transfer_core.metrics.prepared import Prepared, prepare
from transfer_core.metrics.registry import CLASSIFICATION, check_options, register
from transfer_core.metrics.sfda import sfda

BASES = {"sfda": sfda, "logme": logme, "nleep": nleep}
KAPPA = 1.0  # κ, the stiffness of the repulsion (the reference's default)
MAX_STEPS = 6
EXIT_RATIO = 0.5  # stop once a step moves the samples by at most this share of the first step's movement
STD_FLOOR = 1e-3


@dataclass(frozen=True)
class Simulation:
    """Where the simulation moved each class (standardised units) and how many steps it kept."""

    shifts: torch.Tensor  # [C, D], added to every sample of the class
    steps: int


def class_geometry(z: torch.Tensor, labels: torch.Tensor, num_classes: int):
    """Class counts [C], means [C, D] and radii R_c = √(Σ_d var_c,d) [C] (per-class variances, ddof 0)."""
    counts = torch.bincount(labels, minlength=num_classes).to(z.dtype)
    means = torch.zeros(num_classes, z.shape[1], dtype=z.dtype, device=z.device).index_add_(0, labels, z)
    means = means / counts[:, None]
    spread = torch.zeros_like(counts).index_add_(0, labels, (z - means[labels]).square().sum(dim=1))
    return counts, means, (spread / counts).sqrt()


def repulsion(means: torch.Tensor, radii: torch.Tensor, nsigma: float, time_step: float,
              kappa: float = KAPPA) -> torch.Tensor:
    """``[C, D]`` one step's move of each class: every pair with overlap F = max(ν(R_i + R_j) − d, 0) pushes
    both apart along (μ_i − μ_j)/d by min(½ Δt² κ F, F) each; a pair with d = 0 (identical means, no direction)
    is left alone."""
    distances = torch.cdist(means, means, compute_mode="donot_use_mm_for_euclid_dist")  # exact differences
    overlap = (nsigma * (radii[:, None] + radii[None, :]) - distances).clamp_min(0)
    step = torch.minimum(0.5 * time_step**2 * kappa * overlap, overlap)
    apart = distances > 0
    weights = torch.where(apart, step / torch.where(apart, distances, torch.ones_like(distances)), 0.0)
    return weights.sum(dim=1, keepdim=True) * means - weights @ means  # Σ_j w_ij (μ_i − μ_j)


def separate_classes(z: torch.Tensor, labels: torch.Tensor, num_classes: int, *, nsigma: float,
                     time_step: float) -> Simulation:
    """Run the simulation on standardised features ``z`` (the reference's loop).

    Each step recomputes the class means (radii are unchanged by a shift) and one :func:`repulsion`. Its
    movement is Σ_i ‖shift of sample i‖ = Σ_c n_c ‖move_c‖. The first step is kept when it moves anything; a later
    step is kept while its movement ÷ the first's exceeds 0.5, and the first step at or below that is computed and
    discarded (the reference's off-by-one), at most 6 steps kept.
    """
    counts, means, radii = class_geometry(z, labels, num_classes)
    shifts = torch.zeros_like(means)
    first = 0.0
    for step in range(MAX_STEPS):
        move = repulsion(means + shifts, radii, nsigma, time_step)
        movement = float((counts * torch.linalg.vector_norm(move, dim=1)).sum())
        if step == 0:
            first = movement
        if movement == 0 or movement / first <= EXIT_RATIO:
            return Simulation(shifts, step)
        shifts = shifts + move
    return Simulation(shifts, MAX_STEPS)


def standardisation(data: Prepared) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std (ddof 0, std ≥ 1e-3) of the general features, or of the target features with a warning."""
    sample = data.general_features
    if sample is None:
        warnings.warn("PED: no general feature sample given (the paper uses ImageNet validation features of the same "
                      "model); standardising with the target features' own mean and std", TransferabilityWarning,
                      stacklevel=3)
        sample = data.features
    return sample.mean(dim=0), sample.std(dim=0, correction=0).clamp_min(STD_FLOOR)


@register("ped", tasks=(CLASSIFICATION,),
          meaning="How well the classes separate after a short simulation of fine-tuning pushes overlapping classes "
                  "apart, scored by SFDA (or LogME / N-LEEP): features that need only a little movement score high.",
          citation="Li et al., Exploring Model Transferability through the Lens of Potential Energy, ICCV 2023",
          options={"base": Option(str, choices=tuple(BASES)),
                   "nsigma": Option(float, 0.0, 10.0, why="ν scales the class radii; 0 turns the simulation off"),
                   "time_step": Option(float, 0.0, 10.0,
                                       why="above √2 each step already closes the whole overlap; 0 moves nothing")})
def ped(features, labels=None, *, general_features=None, base: str = "sfda", nsigma: float = 0.6,
        time_step: float = 0.1, device="auto") -> float:
    """PED score: the ``base`` metric (sfda | logme | nleep, default options) on the simulated features.

    1. Standardise with the mean and std (ddof 0, std ≥ 1e-3) of ``general_features``, a general sample of the
       same model's features (the paper: ImageNet validation images); without one, the target features' own
       statistics, and a :class:`TransferabilityWarning` says so. A :class:`Prepared` input carries its own.
    2. :func:`separate_classes` with ν = ``nsigma``, Δt = ``time_step``, κ = 1, at most 6 steps.
    3. Un-standardise (each sample of class c moves by shift_c · std) and score with the base metric.

    Follows ``PED_Score`` of lixiaotong97/PED as docs/metrics-spec.md reads it, with the reference CLI's defaults
    (Δt = 0.1, ν = 0.6, κ = 1, SFDA). Our readings where the spec leaves it open: the "total movement" of a step is
    the summed distance its samples move (standardised units), and a pair of classes with identical means (d = 0,
    where the reference would divide by zero) is not pushed.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> labels = rng.integers(0, 3, 300)
    >>> features = rng.normal(size=(300, 8)) + 0.5 * labels[:, None]
    >>> general = rng.normal(size=(500, 8))
    >>> print(f"{ped(features, labels, general_features=general):.4f} {sfda(features, labels):.4f}")
    0.4326 0.4239
    """
    options = check_options("ped", base=base, nsigma=nsigma, time_step=time_step)
    data = prepare(features, labels, general_features=general_features, device=device)
    data.require("features", "labels")
    require_classes(data.num_classes, "PED")
    mean, std = standardisation(data)
    simulation = separate_classes((data.features - mean) / std, data.labels, data.num_classes,
                                  nsigma=options["nsigma"], time_step=options["time_step"])
    moved = data.features + (simulation.shifts * std)[data.labels]
    return BASES[options["base"]](moved, data.labels, device=data.device)
