"""The one base of every error Transfer Scout raises for something its user can fix (a malformed input, a dataset or
model that cannot be read, an impossible request): the pages and the command line catch this type and show its
message; anything else is a bug."""


class TransferScoutError(Exception):
    """An error with a message for the user (each part of the core has its subclass)."""
