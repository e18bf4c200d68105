"""The one base of every error Transfer Scout raises for something its user can fix (a malformed input, a dataset or
model that cannot be read, an impossible request): the pages and the command line catch this type and show its
message; anything else is a bug.

Two kinds cut across the parts of the core: :class:`InvalidInputError` (an argument or input is malformed: the
caller must change it) and :class:`UndefinedResultError` (well-formed inputs on which the asked-for quantity has no
value, e.g. a correlation over constant scores). The metric engine's own errors are subclasses of these.
"""


class TransferScoutError(Exception):
    """An error with a message for the user (each part of the core has its subclass)."""


class InvalidInputError(TransferScoutError, ValueError):
    """A malformed argument or input (wrong shape or length, out-of-range setting, non-finite values)."""


class UndefinedResultError(TransferScoutError, ValueError):
    """The inputs are well-formed but the quantity asked for is undefined on them (nothing to rank, one class,
    constant scores)."""
