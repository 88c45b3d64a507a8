"""Error types for user mistakes.

Every mistake a user can make (a bad file, an unknown symbol, a bad parameter) raises a
:class:`QuantlabError` subclass whose message names the file, row or parameter at fault. The CLI
prints that message on one line and exits with :attr:`QuantlabError.exit_code` (2 for usage
errors); a traceback is shown only with ``--debug``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ArtifactError",
    "DataError",
    "DataQualityError",
    "ExchangeError",
    "LiveError",
    "ParameterError",
    "QuantlabError",
    "StateError",
    "StrategyError",
    "UnknownStrategyError",
    "UnknownSymbolError",
    "UsageError",
]


class QuantlabError(Exception):
    """Base class of every error caused by user input rather than a bug."""

    exit_code: int = 1


class UsageError(QuantlabError):
    """The command or function was called wrongly (exit code 2)."""

    exit_code = 2


class ParameterError(UsageError, ValueError):
    """A parameter value is invalid (wrong type, out of range, inconsistent with another)."""


class UnknownSymbolError(UsageError, LookupError):
    """A symbol is not in the data source or cache."""


class UnknownStrategyError(UsageError, LookupError):
    """No strategy is registered under that name, or a strategy path cannot be loaded."""


class DataError(QuantlabError):
    """A data file is missing, unreadable or malformed."""


class ArtifactError(DataError):
    """A promoted-strategy artifact is missing, incomplete or fails its hash check (exit code 1).

    The message names the artifact folder and the first bad file, e.g.
    ``strategies/trend/3: strategy.py changed (sha256 differs from manifest.json)``.
    """


class DataQualityError(DataError):
    """Market data fails a hard quality check (NaN, duplicates, OHLC inconsistency, ...).

    Attributes
    ----------
    report : quantlab.data.QualityReport or None
        The full report (every finding) when raised from a quality check; its ``listing()``
        shows each kind of defect with its count and first rows.
    """

    report: Any = None


class StrategyError(QuantlabError):
    """A strategy produced invalid output (wrong shape, non-boolean signals, lookahead...)."""


class ExchangeError(QuantlabError):
    """The exchange refused a request or could not be reached."""


class LiveError(QuantlabError):
    """The live runner cannot start or must stop safely (exit code 1).

    Raised for a state that disagrees with the exchange beyond tolerance, a halted runner,
    an unsafe configuration (a non-loopback API without a token) and the like; the message
    says what is wrong and what the operator can do.
    """


class StateError(DataError):
    """A live runner's state or audit file is missing, not a quantlab store, or damaged."""
