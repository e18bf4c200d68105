"""Where an installed asset package's files are, found without importing it (some asset packages' ``__init__``
imports TensorFlow or ``pkg_resources``; ``find_spec`` only finds the folder). The zoo's weights and the bundled
demo datasets both live in such packages (requirements-assets.txt)."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def installed_folder(module: str) -> Path | None:
    """The folder the package ``module`` is installed in, or None when it is not installed."""
    spec = importlib.util.find_spec(module)
    return None if spec is None or spec.origin is None else Path(spec.origin).parent
