"""TransRate: coding rate of all features minus the mean coding rate within each class (Huang et al., ICML 2022)."""

from __future__ import annotations

import torch

from transfer_core.metrics.inputs import require_classes
from transfer_core.metrics.options import PCA_DIM
from transfer_core.metrics.prepared import prepare
from transfer_core.metrics.registry import CLASSIFICATION, check_options, register

EPSILON = 1e-4


def coding_rate(z: torch.Tensor, *, through_gram: bool | None = None) -> torch.Tensor:
    """R(Z) = ½ logdet(I_D + ZᵀZ / (n ε)) for Z [n, D], ε = 1e-4.

    By Sylvester's identity this equals ½ logdet(I_n + Z Zᵀ / (n ε)), the cheaper form when n < D
    (chosen automatically unless ``through_gram`` says otherwise). Cholesky: the matrix is I + PSD.
    """
    n, d = z.shape
    if through_gram is None:
        through_gram = n < d
    gram = z @ z.T if through_gram else z.T @ z
    identity = torch.eye(gram.shape[0], dtype=z.dtype, device=z.device)
    factor = torch.linalg.cholesky(identity + gram / (n * EPSILON))
    return torch.log(torch.diagonal(factor)).sum()


@register("transrate", tasks=(CLASSIFICATION,),
          meaning="How much simpler the features become to describe once you know each image's class "
                  "(only comparable between models with the same feature size).",
          citation="Huang et al., Frustratingly Easy Transferability Estimation, ICML 2022",
          options={"pca_dim": PCA_DIM})
def transrate(features, labels=None, *, pca_dim: int | None = None, device="auto") -> float:
    """TransRate TrR = R(Z) − (1/C) Σ_c R(Z_c) with Z the globally centred features (higher is better).

    Huang et al., ICML 2022; reproduces thuml/Transfer-Learning-Library ``tllib/ranking/transrate.py``:
    ε = 1e-4, centring by the global mean only (the class blocks Z_c are not re-centred), equal
    weights 1/C. R(Z) comes from the shared centred spectrum; class blocks with fewer rows than
    columns use Sylvester's identity. The score grows with D, so compare models at a common
    dimension: ``pca_dim`` first projects onto that many principal components (default: none, as the
    reference).

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> labels = rng.integers(0, 3, 60)
    >>> separated = rng.normal(size=(60, 4)) + 5 * np.eye(4)[labels]
    >>> print(f"{transrate(separated, labels):.4f} {transrate(rng.normal(size=(60, 4)), labels):.4f}")
    0.8847 0.2261
    """
    pca_dim = check_options("transrate", pca_dim=pca_dim)["pca_dim"]
    data = prepare(features, labels, device=device)
    data.require("features", "labels")
    require_classes(data.num_classes, "TransRate")
    z = data.centered if pca_dim is None else data.pca(pca_dim)
    singular_values = data.centered_spectrum.singular_values[: z.shape[1]]
    whole = torch.log1p(singular_values.square() / (data.n * EPSILON)).sum() / 2
    order = torch.argsort(data.labels, stable=True)
    blocks = torch.split(z[order], data.class_counts.long().tolist())
    within = torch.stack([coding_rate(block) for block in blocks]).mean()
    return float(whole - within)
