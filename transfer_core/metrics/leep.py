"""LEEP: log expected empirical prediction from the source model's softmax (Nguyen et al., ICML 2020)."""

from __future__ import annotations

from transfer_core.metrics.inputs import require_classes
from transfer_core.metrics.leep_core import leep_from_probabilities
from transfer_core.metrics.prepared import Prepared, prepare
from transfer_core.metrics.registry import CLASSIFICATION, register


@register("leep", primary_input="source_probs", tasks=(CLASSIFICATION,),
          meaning="How well the source model's own class predictions, mapped empirically to the target "
                  "classes, predict the target labels (mean log-likelihood; at most 0, higher is better).",
          citation="Nguyen et al., LEEP: A New Measure to Evaluate Transferability of Learned Representations, "
                   "ICML 2020",
          options={})
def leep(source_probs, labels=None, *, device="auto") -> float:
    """LEEP = mean_i log Σ_z P(y_i | z) θ_iz with θ [N, C_s] the source-class softmax of each target image.

    P(y, z) = (1/N) Σ_{i: y_i = y} θ_iz and P(y | z) = P(y, z) / Σ_y P(y, z) (Nguyen et al., ICML 2020,
    Eq. 2). Reproduces thuml/LogME ``LEEP.py``; a source class with no mass gets P(y | z) = 0 instead of
    thuml's 0/0 = NaN (it cannot change the score otherwise). The formula itself lives in
    :func:`~transfer_core.metrics.leep_core.leep_from_probabilities`, shared with N-LEEP.

    >>> import numpy as np
    >>> theta = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    >>> round(leep(theta, [0, 0, 1], device="cpu"), 6)  # P(y | z=1) = ½ for both y: (0 + 2 log ½) / 3
    -0.462098
    """
    data = source_probs if isinstance(source_probs, Prepared) else prepare(
        source_probs=source_probs, labels=labels, device=device)
    data.require("source_probs", "labels")
    require_classes(data.num_classes, "LEEP")
    return float(leep_from_probabilities(data.source_probs, data.labels, data.num_classes))
