"""Which models to ensemble: SFDA's greedy forward selection (Shao et al., ECCV'22, Sec. "model ensemble"; as we
read the paper — metrics-spec.md, SFDA section).

Start from the best single model by SFDA; repeatedly add the model whose features, concatenated with the current
set's, raise the SFDA score most; stop at ``max_models`` or when no candidate raises the score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EnsembleChoice:
    """The selected models in the order they were added, and the SFDA score after each addition."""

    models: list[str]
    scores: list[float]


def _sfda_of(features_by_model: dict[str, np.ndarray], members: list[str], labels, pca_dim, device) -> float:
    from transfer_core.metrics.sfda import sfda

    joined = np.concatenate([np.asarray(features_by_model[m], dtype=np.float64) for m in members], axis=1)
    return sfda(joined, labels, pca_dim=pca_dim, device=device)


def select_ensemble(features_by_model: dict[str, np.ndarray], labels, *, max_models: int = 3,
                    pca_dim: int | None = None, device: str = "auto") -> EnsembleChoice:
    """Greedy forward selection by SFDA over ``features_by_model`` (each ``[N, D_m]`` on the same N images).

    ``pca_dim`` is passed to SFDA for every candidate set (concatenated features quickly reach N ≲ D, where SFDA
    saturates at 1.0 and can no longer tell sets apart; a common PCA dimension keeps the comparison fair).
    """
    if max_models < 1:
        raise ValueError(f"max_models must be at least 1, got {max_models}")
    if not features_by_model:
        raise ValueError("select_ensemble needs at least one model's features")
    rows = {len(np.asarray(f)) for f in features_by_model.values()}
    if len(rows) != 1:
        raise ValueError(f"every model's features must cover the same images; got row counts {sorted(rows)}")
    chosen: list[str] = []
    scores: list[float] = []
    while len(chosen) < min(max_models, len(features_by_model)):
        candidates = {model: _sfda_of(features_by_model, chosen + [model], labels, pca_dim, device)
                      for model in features_by_model if model not in chosen}
        best = max(candidates, key=candidates.get)
        if scores and candidates[best] <= scores[-1]:
            break
        chosen.append(best)
        scores.append(float(candidates[best]))
    return EnsembleChoice(chosen, scores)
