"""The one error every dataset source raises."""

from transfer_core.errors import TransferScoutError


class DatasetError(TransferScoutError, ValueError):
    """A dataset could not be loaded; the message says what was wrong and what to do about it."""
