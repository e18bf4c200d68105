"""Exceptions and warnings raised by the metric engine."""

from transfer_core.errors import TransferScoutError


class MetricInputError(TransferScoutError, ValueError):
    """The inputs are malformed (wrong shape, non-finite values, missing inputs): the caller must fix them."""


class DegenerateInputError(TransferScoutError, ValueError):
    """The inputs are well-formed but the metric cannot give a number on them (e.g. a single class).

    The CLI reports such a metric as ``null`` with a warning instead of failing.
    """


class TransferabilityWarning(UserWarning):
    """A score was computed but needs a caveat (saturation, capped components, subsampling, ...)."""
