"""NCE: negative conditional entropy of the target labels given the source model's hard predictions
(Tran et al., ICCV 2019)."""

from __future__ import annotations

import torch

from transfer_core.metrics.inputs import require_classes
from transfer_core.metrics.prepared import Prepared, prepare
from transfer_core.metrics.registry import CLASSIFICATION, register


def joint_counts(source_labels: torch.Tensor, labels: torch.Tensor, num_source: int, num_classes: int) -> torch.Tensor:
    """``[num_source, num_classes]`` float64 table of how many samples have source label z and target label y."""
    flat = torch.bincount(source_labels * num_classes + labels, minlength=num_source * num_classes)
    return flat.reshape(num_source, num_classes).to(torch.float64)


def negative_conditional_entropy(counts: torch.Tensor) -> torch.Tensor:
    """−H(Y | Z) = Σ_z P(z) Σ_y P(y | z) log P(y | z) from a joint count table [Z, Y] (0 log 0 = 0).

    Source labels z that no sample received are skipped (their P(y | z) is undefined and P(z) = 0).
    """
    per_source = counts.sum(dim=1)
    observed = per_source > 0
    counts, per_source = counts[observed], per_source[observed]
    conditional = counts / per_source[:, None]
    prior = per_source / per_source.sum()
    return (prior * torch.xlogy(conditional, conditional).sum(dim=1)).sum()


@register("nce", primary_input="source_probs", tasks=(CLASSIFICATION,),
          meaning="How predictable the target label is from the source model's top-1 source class "
                  "(minus the conditional entropy H(Y | Z); at most 0, higher is better).",
          citation="Tran et al., Transferability and Hardness of Supervised Classification Tasks, ICCV 2019",
          options={})
def nce(source_probs, labels=None, *, device="auto") -> float:
    """NCE = −H(Y | Z) with z_i = argmax_z θ_iz (first index on ties), from the joint counts of (z, y).

    Tran et al., ICCV 2019, with the source model's hard predictions as the source labels, as in
    thuml/LogME ``NCE.py``; the joint table comes from one ``bincount`` instead of a loop over samples, and
    0 log 0 is exactly 0 (thuml adds 1e-20 inside the log). Empty source classes are skipped.

    >>> import numpy as np
    >>> theta = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])
    >>> round(nce(theta, [0, 1, 1, 1], device="cpu"), 6)  # z = (0, 0, 1, 1): H(Y | z=0) = log 2, H(Y | z=1) = 0
    -0.346574
    """
    data = source_probs if isinstance(source_probs, Prepared) else prepare(
        source_probs=source_probs, labels=labels, device=device)
    data.require("source_probs", "labels")
    require_classes(data.num_classes, "NCE")
    num_source = data.source_probs.shape[1]
    counts = joint_counts(data.source_probs.argmax(dim=1), data.labels, num_source, data.num_classes)
    return float(negative_conditional_entropy(counts))
