"""Metric option declarations: each option's type and allowed values, checked in one place.

An :class:`Option` is like scikit-learn's ``Interval`` / ``StrOptions``: a kind (int, float or str) and an
inclusive range or a set of choices. Metrics declare theirs in ``@register(options=...)``; the command line and
direct Python calls are both checked against them.

>>> Option(int, 1, 100).check("nleep.seeds", 5)
5
>>> Option(int, 1, 100).check("nleep.seeds", 2.5)
Traceback (most recent call last):
...
transfer_core.metrics.errors.MetricInputError: option nleep.seeds=2.5 is invalid: it must be an integer from 1 to 100
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real

from transfer_core.metrics.errors import MetricInputError

_NOUNS = {int: "an integer", float: "a finite number", str: "a string"}


@dataclass(frozen=True)
class Option:
    """One option: ``kind`` with an inclusive range ``low``..``high`` (numbers) or ``choices`` (strings).

    ``optional`` allows None (the option is off); ``why`` says what an upper bound protects (in the error).
    Integers refuse floats and booleans; floats refuse NaN, infinities and booleans.
    """

    kind: type
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    optional: bool = False
    why: str = ""

    def __post_init__(self) -> None:
        if self.kind not in _NOUNS:
            raise TypeError(f"an option is an int, float or str, not {self.kind!r}")

    def allowed(self) -> str:
        """The allowed values in words, e.g. ``"an integer from 1 to 100"``."""
        if self.choices:
            text = "one of " + ", ".join(self.choices)
        else:
            text = _NOUNS[self.kind]
            if self.low is not None and self.high is not None:
                text += f" from {self.low} to {self.high}"
            elif self.low is not None:
                text += f" of at least {self.low}"
            elif self.high is not None:
                text += f" of at most {self.high}"
        return text + (" or None (unset)" if self.optional else "")

    def parse(self, name: str, text: str) -> object:
        """The checked value of a command-line string such as ``"5"``."""
        try:
            value = self.kind(text.strip())
        except ValueError:
            raise self._invalid(name, text) from None
        return self.check(name, value)

    def check(self, name: str, value: object) -> object:
        """``value`` as a plain int / float / str if allowed; :class:`MetricInputError` naming ``name`` otherwise."""
        if value is None and self.optional:
            return None
        converted = self._converted(value)
        if converted is None or not self._within(converted):
            raise self._invalid(name, value)
        return converted

    def _converted(self, value: object) -> object:
        if isinstance(value, bool):  # True is an Integral (NumPy's bool_ is not a number at all)
            return None
        if self.kind is int and isinstance(value, Integral):
            return int(value)
        if self.kind is float and isinstance(value, Real) and math.isfinite(value):
            return float(value)
        if self.kind is str and isinstance(value, str):
            return value
        return None

    def _within(self, value: object) -> bool:
        if self.choices:
            return value in self.choices
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    def _invalid(self, name: str, value: object) -> MetricInputError:
        reason = f" ({self.why})" if self.why else ""
        return MetricInputError(f"option {name}={value!r} is invalid: it must be {self.allowed()}{reason}")


MAX_COMPONENTS = 1 << 16  # wider than any backbone's features; a PCA keeps at most min(N, D) components anyway
PCA_DIM = Option(int, 1, MAX_COMPONENTS, optional=True)
SEED = Option(int, 0, 2**32 - 1, why="the seeds NumPy and scikit-learn accept")
