"""Fail fast and clearly when pretrained weights would have to be downloaded but cannot be."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

from transfer_core.models.errors import ModelLoadError

OFFLINE_VARIABLES = ("TRANSFER_SCOUT_OFFLINE", "HF_HUB_OFFLINE")
CONNECT_TIMEOUT_S = 3.0


def hub_endpoint() -> str:
    """The Hugging Face hub address timm downloads from (``HF_ENDPOINT`` overrides it, as in huggingface_hub)."""
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


def require_download(url: str, what: str, advice: str) -> None:
    """Raise a ``ModelLoadError`` (with ``advice``) unless ``url``'s host accepts a connection within a few seconds.

    Checked before the download libraries are called: offline, they retry for a minute before failing.
    """
    offline = [name for name in OFFLINE_VARIABLES if os.environ.get(name, "") not in ("", "0")]
    if offline:
        raise ModelLoadError(f"{what} must be downloaded, but {offline[0]} is set (offline mode). {advice}")
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as error:
        raise ModelLoadError(
            f"{what} must be downloaded, but {parts.hostname} is unreachable ({error}). {advice}"
        ) from error
