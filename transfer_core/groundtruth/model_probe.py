"""The linear probe of one model on one dataset: features from the (cached) extraction, then :func:`linear_probe`."""

from __future__ import annotations

from dataclasses import replace

import torch

from transfer_core.cache.store import FeatureStore
from transfer_core.data.base import ImageDataset
from transfer_core.features import Progress, extract_by_id, extract_features
from transfer_core.groundtruth.probe import DEFAULT_ALPHAS, DEFAULT_CS, linear_probe
from transfer_core.groundtruth.result import GroundTruth
from transfer_core.models.base import LoadedModel
from transfer_core.models.manifest import ModelManifest


def probe_model(model: str | LoadedModel, dataset: ImageDataset, *, folds: int = 5, seed: int = 0, Cs=DEFAULT_CS,
                alphas=DEFAULT_ALPHAS, device: str | torch.device = "auto", store: FeatureStore | None = None,
                progress: Progress | None = None, engine: str = "auto") -> GroundTruth:
    """Linear-probe ground truth of ``model`` (an ID or a loaded model) on ``dataset``.

    Features come from :func:`~transfer_core.features.extract_features` (read from ``store`` when cached;
    ``progress`` is its ``(done, total, eta)`` callback; ``engine`` its engine); the protocol records the model and
    dataset fingerprints.
    """
    store = store if store is not None else FeatureStore()
    if isinstance(model, str):
        extraction, manifest = extract_by_id(model, dataset, store=store, device=device, progress=progress,
                                             engine=engine)
    else:
        extraction, manifest = extract_features(model, dataset, device=device, progress=progress, store=store,
                                                engine=engine), ModelManifest.of(model)
    result = linear_probe(extraction.features, dataset.labels, targets=dataset.targets, folds=folds, seed=seed,
                          Cs=Cs, alphas=alphas, model_id=manifest.model_id)
    protocol = {**result.protocol, "model_fingerprint": manifest.fingerprint, "dataset_id": dataset.dataset_id,
                "dataset_fingerprint": dataset.fingerprint, "extract_seconds": extraction.seconds}
    return replace(result, protocol=protocol)
