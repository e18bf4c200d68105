"""Random source-class probabilities shared by the LEEP and NCE tests."""

import numpy as np


def random_probabilities(n, source_classes, seed):
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.0, size=(n, source_classes))
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    return probs / probs.sum(axis=1, keepdims=True)
