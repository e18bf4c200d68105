"""ETran: energy-based transferability, per-model components (Gholami et al., ICCV 2023).

Gholami et al., "ETran: Energy-Based Transferability Estimation", ICCV 2023 (public code: mgholamikn/ETran).
Two components of one model, combined only across a pool (:mod:`transfer_core.metrics.pool`):
0.85 · minmax(lda) + 0.15 · minmax(energy), as the reference's ``tw.py``.

Deliberate differences from the reference (docs/metrics-spec.md): its LDA solves ``eigh(inv(S_w) @ S_b)``, which
reads one triangle of a non-symmetric matrix, so ``etran.lda`` here is the LDA it means, the symmetric generalised
problem, i.e. SFDA's first stage (:mod:`transfer_core.metrics.lda`); its energy score averages the lowest
⌊5N/1000⌋ samples, NaN below N = 200, while ours averages at least one.
"""

from __future__ import annotations

import torch

from transfer_core.metrics.inputs import require_classes
from transfer_core.metrics.prepared import Prepared, prepare
from transfer_core.metrics.registry import CLASSIFICATION, register_pool
from transfer_core.metrics.sfda import first_stage

LOWEST_PER_MILLE = 5  # the energy averages the lowest 5 ‰ of the samples


def etran_lda(features, labels=None, *, device="auto") -> float:
    """``etran.lda`` in [0, 1]: mean p(y_i | x_i) of SFDA's first stage (shrinkage LDA with SFDA's adaptive λ).

    With N < D the fit runs in the samples' span, as SFDA's (the same posterior); like SFDA it saturates near 1.0
    when N < D + C, and a :class:`TransferabilityWarning` says so.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> labels = rng.integers(0, 3, 300)
    >>> features = rng.normal(size=(300, 8)) + 0.5 * labels[:, None]
    >>> round(etran_lda(features, labels, device="cpu"), 4)
    0.5966
    """
    data = _classification(features, labels, device)
    x, _, lda = first_stage(data, "ETran's LDA")
    return float(lda.mean_true_class_probability(x, data.labels))


def etran_energy(features, labels=None, *, device="auto") -> float:
    """``etran.energy``: mean of the lowest m = max(1, ⌊5N/1000⌋) per-sample logsumexp over the feature dimensions
    (the negative free energy of each sample, features read as logits, as the reference does). Labels unused.

    >>> import numpy as np
    >>> features = np.log(np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 5.0]]))  # logsumexp = log 2, log 4, log 8
    >>> round(etran_energy(features, device="cpu"), 4)  # N = 3: m = 1, the lowest is log 2
    0.6931
    """
    data = prepare(features, labels, device=device)
    data.require("features")
    energies = torch.logsumexp(data.features, dim=1)
    lowest = max(1, LOWEST_PER_MILLE * data.n // 1000)
    return float(torch.topk(energies, lowest, largest=False).values.mean())


def _classification(features, labels, device) -> Prepared:
    data = prepare(features, labels, device=device)
    data.require("features", "labels")
    require_classes(data.num_classes, "ETran")
    return data


@register_pool("etran", weights={"etran.lda": 0.85, "etran.energy": 0.15}, tasks=(CLASSIFICATION,),
               meaning="How confidently a regularised Fisher (LDA) classifier separates the classes, with a small "
                       "weight on how 'familiar' the least familiar images look to the model (their energy), "
                       "relative to the other models.",
               citation="Gholami et al., ETran: Energy-Based Transferability Estimation, ICCV 2023")
def etran_components(features, labels=None, *, device="auto") -> dict[str, float]:
    """ETran's per-model components ``etran.lda`` and ``etran.energy`` (mgholamikn/ETran, with the differences
    in the module docstring).

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> labels = rng.integers(0, 3, 300)
    >>> features = rng.normal(size=(300, 8)) + 0.5 * labels[:, None]
    >>> {part: round(value, 4) for part, value in etran_components(features, labels, device="cpu").items()}
    {'etran.lda': 0.5966, 'etran.energy': 1.4287}
    """
    data = _classification(features, labels, device)
    return {"etran.lda": etran_lda(data), "etran.energy": etran_energy(data)}
