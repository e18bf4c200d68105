"""The one error every model source raises: its message always says what to do next."""

from transfer_core.errors import TransferScoutError


class ModelLoadError(TransferScoutError, RuntimeError):
    """A model ID could not be resolved, its weights could not be read, or they do not fit the architecture."""
