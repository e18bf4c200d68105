"""kNN: leave-one-out 1-nearest-neighbour accuracy of the features."""

from __future__ import annotations

import torch

from transfer_core.metrics.inputs import require_classes, warn_single_image_classes
from transfer_core.metrics.options import Option
from transfer_core.metrics.prepared import prepare
from transfer_core.metrics.registry import CLASSIFICATION, check_options, register

BLOCK_ELEMENTS = 1 << 24  # distances held at once (128 MiB in float64)
MAX_ROWS_PER_BLOCK = 1 << 16


def nearest_other(features: torch.Tensor, rows_per_block: int, gram: torch.Tensor | None = None) -> torch.Tensor:
    """Index of each row's nearest other row in Euclidean distance; ties go to the lowest index.

    Distances are symmetric, so only the blocks on and above the diagonal are formed:
    rows ``start:start + rows_per_block`` against columns ``start:``, as ‖a‖² + ‖b‖² − 2 a·b (one matrix
    product, or read from ``gram``, the rows' products when the caller has them). Each block offers its rows their
    nearest column and its columns their nearest row; the best offer so far is kept, comparing (distance, index) so
    that exact ties go to the lowest index.
    """
    n = features.shape[0]
    squared_norms = features.square().sum(dim=1) if gram is None else gram.diagonal()
    best_distance = torch.full((n,), torch.inf, dtype=features.dtype, device=features.device)
    best_index = torch.full((n,), n, dtype=torch.int64, device=features.device)
    for start in range(0, n, rows_per_block):
        stop = min(n, start + rows_per_block)
        if gram is None:
            distances = torch.addmm(squared_norms[None, start:], features[start:stop], features[start:].T, alpha=-2)
        else:
            distances = gram[start:stop, start:] * -2 + squared_norms[None, start:]
        distances += squared_norms[start:stop, None]
        query = torch.arange(stop - start, device=features.device)
        distances[query, query] = torch.inf  # never the sample itself
        for rows, (distance, index) in ((slice(start, stop), distances.min(dim=1)),
                                        (slice(start, n), distances.min(dim=0))):
            index = index + start
            better = (distance < best_distance[rows]) | ((distance == best_distance[rows]) & (index < best_index[rows]))
            best_distance[rows] = torch.where(better, distance, best_distance[rows])
            best_index[rows] = torch.where(better, index, best_index[rows])
    return best_index


@register("knn", tasks=(CLASSIFICATION,),
          meaning="How often an image's nearest neighbour in feature space has the same label "
                  "(leave-one-out 1-NN accuracy, 0 to 1; higher is better).",
          citation="Bolya et al., Scalable Diverse Model Selection for Accessible Transfer Learning, NeurIPS 2021 "
                   "(kNN baseline)",
          options={"rows_per_block": Option(int, 1, MAX_ROWS_PER_BLOCK, optional=True,
                                            why="a block holds rows × N distances of 8 bytes each")})
def knn(features, labels=None, *, rows_per_block: int | None = None, device="auto") -> float:
    """Fraction of samples whose nearest other sample (Euclidean, leave-one-out) has the same label.

    The leave-one-out 1-NN baseline of Bolya et al. (NeurIPS 2021; dbolya/parc ``methods.py`` ``kNN`` with
    k = 1, reported there in per cent, here in [0, 1]). Exact and O(N²) in time, but memory stays bounded:
    distances are formed ``rows_per_block`` query rows at a time (default: blocks of about 2²⁴ distances)
    from the centred features (translation does not change distances and improves rounding), or, on a resampled
    subset with fewer images than dimensions, from the Gram block the subset's spectrum uses. Among
    neighbours at exactly equal computed distance the one with the lowest index counts.

    >>> knn([[0.0], [1.0], [5.0], [7.0]], [0, 0, 1, 0], device="cpu")  # 0 ↔ 1 right, 5 → 7 and 7 → 5 wrong
    0.5
    """
    rows_per_block = check_options("knn", rows_per_block=rows_per_block)["rows_per_block"]
    data = prepare(features, labels, device=device)
    data.require("features", "labels")
    require_classes(data.num_classes, "kNN")
    warn_single_image_classes(data.labels, data.classes, "kNN's leave-one-out finds no classmate for such an image, "
                              "so it always counts as a miss")
    if rows_per_block is None:
        rows_per_block = max(1, BLOCK_ELEMENTS // data.n)
    nearest = nearest_other(data.centered, rows_per_block, data.gram_block)
    return float((data.labels[nearest] == data.labels).to(torch.float64).mean())
