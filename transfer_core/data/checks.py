"""Plain-language warnings about a target dataset that make a transferability ranking less trustworthy.

>>> import numpy as np
>>> dataset_warnings(np.array(["cat"] * 40 + ["dog"] * 2))[0].split(":")[0]
'1 class has fewer than 5 images (dog'
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

TINY_CLASS = 5  # fewer images than this in a class: per-class statistics are guesswork
IMBALANCE_RATIO = 10.0  # largest / smallest class above this: a few classes dominate every metric


def class_counts(labels) -> dict[str, int]:
    """Images per class, classes in sorted order."""
    classes, counts = np.unique(np.asarray(labels), return_counts=True)
    return {str(name): int(count) for name, count in zip(classes, counts)}


def dataset_warnings(labels, feature_dims: Mapping[str, int] | None = None) -> list[str]:
    """Warnings for tiny classes, strong class imbalance, labels that are one number spelled differently and fewer
    images than feature dimensions.

    ``labels`` is None for a regression dataset (only the size check applies then); ``feature_dims`` maps model
    ids to their feature size, known once features are extracted.
    """
    if labels is None:
        size, warnings = None, []
    else:
        counts = class_counts(labels)
        size, warnings = len(labels), _class_warnings(counts) + _spelling_warnings(counts)
    if feature_dims and size is not None:
        warnings += _size_warnings(size, feature_dims)
    return warnings


def _class_warnings(counts: dict[str, int]) -> list[str]:
    warnings = []
    tiny = {name: count for name, count in counts.items() if count < TINY_CLASS}
    if tiny:
        one = len(tiny) == 1
        listed = ", ".join(f"{name}: {count}" for name, count in tiny.items())
        warnings.append(f"{'1 class has' if one else f'{len(tiny)} classes have'} fewer than {TINY_CLASS} images "
                        f"({listed}): {'its' if one else 'their'} scores rest on very few examples; add images or "
                        f"merge {'it with a similar class' if one else 'them with similar classes'}.")
    largest, smallest = max(counts, key=counts.get), min(counts, key=counts.get)
    ratio = counts[largest] / counts[smallest]
    if ratio > IMBALANCE_RATIO:
        warnings.append(f"The classes are strongly imbalanced: {largest} has {counts[largest]} images, {ratio:.0f}× "
                        f"as many as {smallest} ({counts[smallest]}). Every metric is then dominated by the large "
                        "classes; a more balanced sample gives a fairer ranking.")
    return warnings


def _spelling_warnings(counts: dict[str, int]) -> list[str]:
    """Labels that are one number spelled differently (``1``, ``1.0``, ``01``) stay separate classes: say so."""
    spellings: dict[float, list[str]] = {}
    for name in counts:
        try:
            spellings.setdefault(float(name), []).append(name)
        except ValueError:
            continue
    groups = [names for names in spellings.values() if len(names) > 1]
    if not groups:
        return []
    listed = "; ".join(" / ".join(f"{name!r} ({counts[name]} image{'' if counts[name] == 1 else 's'})"
                                  for name in names) for names in groups)
    return [f"Some labels are the same number spelled differently and count as separate classes: {listed}. If each "
            "group is one class, spell its labels the same way in the data."]


def _size_warnings(size: int, feature_dims: Mapping[str, int]) -> list[str]:
    wide = {model: dim for model, dim in feature_dims.items() if dim > size}
    if not wide:
        return []
    models = "1 model" if len(wide) == 1 else f"{len(wide)} models"
    return [f"There are fewer images ({size}) than feature dimensions for {models} (up to {max(wide.values())}): "
            "covariance-based scores (H-score, GBC, TransRate) rely on shrinkage there and are less reliable; "
            "more images help."]
