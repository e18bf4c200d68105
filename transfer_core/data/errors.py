"""The one error every dataset source raises."""


class DatasetError(ValueError):
    """A dataset could not be loaded; the message says what was wrong and what to do about it."""
