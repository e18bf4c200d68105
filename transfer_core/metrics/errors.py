"""Exceptions and warnings raised by the metric engine."""

from transfer_core.errors import InvalidInputError, UndefinedResultError


class MetricInputError(InvalidInputError):
    """The inputs are malformed (wrong shape, non-finite values, missing inputs): the caller must fix them."""


class DegenerateInputError(UndefinedResultError):
    """The inputs are well-formed but the metric cannot give a number on them (e.g. a single class).

    The CLI reports such a metric as ``null`` with a warning instead of failing.
    """


class TransferabilityWarning(UserWarning):
    """A score was computed but needs a caveat (saturation, capped components, subsampling, ...)."""
