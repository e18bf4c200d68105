"""The one exception the ground-truth code raises for input it cannot use."""

from transfer_core.errors import TransferScoutError


class GroundTruthError(TransferScoutError, ValueError):
    """Ground truth cannot be produced or read from this input (too few images per class, a bad CSV, ...); the
    message says what to change."""
