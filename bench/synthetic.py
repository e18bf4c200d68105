"""Synthetic class-mixture features with a decaying spectrum, for the metric benchmarks.

Generator (stated in docs/bench-metrics.md): balanced labels over C classes; per-dimension scales
s_j = (1 + j)^(-0.6) (a power-law spectrum: at D = 2 048 about 100 principal components carry 80 % of the
variance, in the range seen for pooled CNN features); class means ~ N(0, (2 s_j)^2) per
dimension; each sample = its class mean + N(0, s_j^2) noise; then a random rotation (QR of a Gaussian matrix) so the
spectrum is not axis-aligned. Source-class probabilities (for LEEP / NCE): softmax over C_s = max(10, C) source
classes of a random linear read-out of the features (temperature chosen so rows are neither one-hot nor flat).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def make_synthetic(n: int, d: int, c: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % c
    rng.shuffle(labels)
    scales = (1.0 + np.arange(d)) ** -0.6
    means = rng.normal(size=(c, d)) * (2.0 * scales)
    features = means[labels] + rng.normal(size=(n, d)) * scales
    rotation, _ = np.linalg.qr(rng.normal(size=(d, d)))
    features = (features @ rotation).astype(np.float32)
    readout = rng.normal(size=(d, max(10, c))) / np.sqrt(d)
    logits = features @ readout
    logits = 4.0 * logits / logits.std()
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    return {"features": features, "labels": labels.astype(np.int64), "source_probs": probs.astype(np.float32)}


def cached_synthetic(folder: Path, n: int, d: int, c: int, seed: int = 0) -> dict[str, Path]:
    """Write the synthetic arrays once as ``.npy`` files (children of the benchmark memory-map them)."""
    folder = Path(folder) / f"synthetic-{n}-{d}-{c}-{seed}"
    paths = {name: folder / f"{name}.npy" for name in ("features", "labels", "source_probs")}
    if not all(path.exists() for path in paths.values()):
        folder.mkdir(parents=True, exist_ok=True)
        for name, array in make_synthetic(n, d, c, seed).items():
            np.save(paths[name], array)
    return paths
