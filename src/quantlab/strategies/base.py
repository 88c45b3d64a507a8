"""The one strategy API: typed parameters plus a vectorized, causal ``signals(bars)``.

A strategy is defined once and used by notebooks, sweeps, backtests, the promote gates and the
live runner. ``signals`` receives the whole history at once and must be *causal*: the value at
bar ``t`` may use only bars ``<= t``, so the live runner can call it on a rolling window and act
on the last closed bar.

``bars`` is either one OHLCV frame (columns ``open high low close volume``) or a panel whose
columns are a ``(field, symbol)`` MultiIndex. ``bars["close"]`` is then a Series or a
DataFrame of symbols, so pandas code written once works for one asset and for many.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

from quantlab.errors import ParameterError, QuantlabError, StrategyError

__all__ = ["Param", "Signals", "Strategy", "TargetWeights", "strategy_errors"]


@contextmanager
def strategy_errors(label: str, where: str) -> Iterator[None]:
    """Turn an exception raised by user strategy code into a one-line :class:`StrategyError`.

    Parameters
    ----------
    label : str
        The strategy's name (``Strategy.label()``).
    where : str
        The method being called, e.g. ``"signals()"`` or ``"batch_signals()"``.

    Raises
    ------
    StrategyError
        ``strategy NAME raised TYPE: MESSAGE in WHERE``, chained to the original exception.
        :class:`QuantlabError` subclasses pass through unchanged.
    """
    try:
        yield
    except QuantlabError:
        raise
    except Exception as exc:  # any bug in user code is reported, not hidden
        message = " ".join(str(exc).split()) or "(no message)"
        raise StrategyError(
            f"strategy {label} raised {type(exc).__name__}: {message} in {where}"
        ) from exc

Frame = pd.Series | pd.DataFrame


@dataclass(frozen=True)
class Param:
    """A typed strategy parameter with a default and an allowed range.

    Parameters
    ----------
    default : int, float, bool or str
        Default value; its type is the parameter's type unless ``type`` is given.
    low, high : float, optional
        Inclusive bounds for numeric parameters.
    choices : tuple, optional
        Allowed values for categorical parameters.
    doc : str
        One-line description shown by ``quantlab strategies``.
    grid : tuple, optional
        Suggested sweep range ``(start, stop, step)``; informational.
    type : type, optional
        Overrides the type inferred from ``default``.
    """

    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    doc: str = ""
    grid: tuple[float, float, float] | None = None
    type: type | None = None
    name: str = field(default="", compare=False)

    @property
    def kind(self) -> type:
        """The Python type values of this parameter are converted to."""
        return self.type or type(self.default)

    def convert(self, value: Any, owner: str = "") -> Any:
        """Convert and validate ``value``; raise :class:`ParameterError` naming the parameter."""
        where = f"{owner}.{self.name}" if owner else self.name
        kind = self.kind
        try:
            if kind is bool:
                if isinstance(value, str):
                    low = value.strip().lower()
                    if low not in {"true", "false", "1", "0", "yes", "no"}:
                        raise ValueError(value)
                    value = low in {"true", "1", "yes"}
                else:
                    value = bool(value)
            elif kind in (int, float) and isinstance(value, bool | np.bool_):
                raise TypeError(value)  # True is not the number 1 here
            elif kind is int:
                if isinstance(value, float | np.floating) and not float(value).is_integer():
                    raise ValueError(value)
                if isinstance(value, str):
                    value = float(value)
                    if not value.is_integer():
                        raise ValueError(value)
                value = int(value)
            elif kind is float:
                value = float(value)
                if not np.isfinite(value):
                    raise ValueError(value)
            else:
                value = kind(value)
        except (TypeError, ValueError):
            raise ParameterError(
                f"parameter {where}={value!r} is not a valid {kind.__name__}"
            ) from None
        if self.choices is not None and value not in self.choices:
            raise ParameterError(
                f"parameter {where}={value!r} must be one of {', '.join(map(str, self.choices))}"
            )
        if self.low is not None and value < self.low:
            raise ParameterError(f"parameter {where}={value!r} is below its minimum {self.low}")
        if self.high is not None and value > self.high:
            raise ParameterError(f"parameter {where}={value!r} is above its maximum {self.high}")
        return value

    def describe(self) -> str:
        """Human-readable summary: type, default and range."""
        parts = [f"{self.kind.__name__}={self.default!r}"]
        if self.choices is not None:
            parts.append("{" + ",".join(map(str, self.choices)) + "}")
        elif self.low is not None or self.high is not None:
            lo = "-inf" if self.low is None else f"{self.low:g}"
            hi = "inf" if self.high is None else f"{self.high:g}"
            parts.append(f"[{lo}, {hi}]")
        return " ".join(parts)


@dataclass
class Signals:
    """Entry/exit signals of a signal strategy, aligned to the bars' index.

    Each array is boolean, a Series for one asset or a DataFrame (columns = symbols) for a panel.
    A True at bar ``t`` means "act on the close of bar ``t``"; the backtester fills it according
    to its fill model (next open by default).

    Attributes
    ----------
    entries, exits : Series or DataFrame of bool
        Long entries and long exits.
    short_entries, short_exits : Series or DataFrame of bool, optional
        Short entries and exits (long-short strategies only).
    size : Series or DataFrame of float, optional
        Fraction of equity to commit at each entry (e.g. from a volatility-targeting overlay);
        ``None`` lets the backtester's sizing decide.
    exit_size : Series or DataFrame of float, optional
        Fraction of the position an exit closes (partial exits), in (0, 1]; NaN or ``None``:
        all of it.
    limit, stop : Series or DataFrame of float, optional
        Price level of an entry decided at this bar: a *limit* order (buy at or below the
        level, sell short at or above it) or a *stop* order (buy once the price rises to the
        level, sell short once it falls to it). NaN or ``None``: a market order at the next
        open. The order rests until filled, replaced by a newer entry, cancelled by an exit
        signal or expired (backtest option ``order_ttl``).
    """

    entries: Frame
    exits: Frame
    short_entries: Frame | None = None
    short_exits: Frame | None = None
    size: Frame | None = None
    exit_size: Frame | None = None
    limit: Frame | None = None
    stop: Frame | None = None

    def arrays(self) -> dict[str, Frame]:
        """The non-empty arrays by name."""
        names = ("entries", "exits", "short_entries", "short_exits", "size", "exit_size",
                 "limit", "stop")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}

    def __getitem__(self, key: slice) -> Signals:
        """Row-slice every array (``sig[:t]``) — handy for causality checks."""
        return Signals(**{n: a.iloc[key] for n, a in self.arrays().items()})


@dataclass
class TargetWeights:
    """Target portfolio weights of an allocation strategy.

    ``weights`` is a DataFrame (index = bars, columns = symbols) of the fraction of equity to
    hold in each asset after rebalancing on the bar's signal. A row of NaN means "no rebalance
    on this bar"; weights may sum to less than 1 (the rest is cash).
    """

    weights: pd.DataFrame

    def arrays(self) -> dict[str, Frame]:
        """The arrays by name (``{"weights": ...}``)."""
        return {"weights": self.weights}

    def __getitem__(self, key: slice) -> TargetWeights:
        return TargetWeights(self.weights.iloc[key])


def _check_order_arrays(label: str, sig: Signals) -> None:
    """``exit_size`` in (0, 1], ``limit``/``stop`` positive and never both on one bar."""
    def values(a: Frame | None) -> np.ndarray | None:
        return None if a is None else np.asarray(a.to_numpy(), dtype=float)

    frac, lim, stp = values(sig.exit_size), values(sig.limit), values(sig.stop)
    if frac is not None and ((frac <= 0) | (frac > 1)).any():
        raise StrategyError(f"{label}.signals().exit_size must be in (0, 1] (or NaN for all)")
    for name, a in (("limit", lim), ("stop", stp)):
        if a is not None and (a <= 0).any():
            raise StrategyError(f"{label}.signals().{name} has a price <= 0")
    if lim is not None and stp is not None and (np.isfinite(lim) & np.isfinite(stp)).any():
        raise StrategyError(f"{label}.signals() sets both limit and stop on one bar; pick one")


_RESERVED = {"name", "kind", "multi_asset", "params", "values", "signals", "warmup", "validate",
             "run", "label", "describe", "with_params", "batch_signals"}


class Strategy:
    """Base class of every strategy.

    Subclasses declare parameters as class attributes of type :class:`Param`, set ``name``
    (the registry key), ``kind`` (``"signals"`` or ``"weights"``), and implement
    :meth:`signals` and :meth:`warmup`. Cross-parameter rules go in :meth:`validate`.

    Examples
    --------
    >>> class Breakout(Strategy):
    ...     name = "my_breakout"
    ...     window = Param(20, low=2, doc="lookback bars")
    ...     def warmup(self) -> int:
    ...         return self.window
    ...     def signals(self, bars):
    ...         close = bars["close"]
    ...         hi = close.rolling(self.window).max().shift(1)
    ...         return Signals(entries=close > hi, exits=close < close.rolling(self.window).min().shift(1))
    """

    name: ClassVar[str] = ""
    kind: ClassVar[Literal["signals", "weights"]] = "signals"
    #: True when the strategy needs several assets at once (a panel), e.g. rotation.
    multi_asset: ClassVar[bool] = False
    #: True when signals() emits short entries/exits.
    shorts: ClassVar[bool] = False
    params: ClassVar[dict[str, Param]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        params: dict[str, Param] = {}
        for base in reversed(cls.__mro__[1:]):
            params.update(getattr(base, "params", {}) or {})
        for key, value in list(vars(cls).items()):
            if isinstance(value, Param) and key in _RESERVED:
                raise TypeError(f"{cls.__name__}: parameter name {key!r} shadows a Strategy attribute")
            if isinstance(value, Param):
                param = Param(**{**value.__dict__, "name": key})
                params[key] = param
                delattr(cls, key)
        cls.params = params

    def __init__(self, **values: Any) -> None:
        unknown = sorted(set(values) - set(self.params))
        if unknown:
            known = ", ".join(self.params) or "none"
            raise ParameterError(
                f"{self.label()} has no parameter {unknown[0]!r} (parameters: {known})"
            )
        self._values: dict[str, Any] = {}
        for key, param in self.params.items():
            raw = values.get(key, param.default)
            self._values[key] = param.convert(raw, self.label())
        # Plain instance attributes too: ``self.fast`` is then a dict lookup, not a __getattr__
        # call (a sweep builds thousands of instances). Class properties still take precedence.
        self.__dict__.update(self._values)
        with strategy_errors(self.label(), "validate()"):
            self.validate()

    def __getattr__(self, key: str) -> Any:
        values = self.__dict__.get("_values")
        if values is not None and key in values:
            return values[key]
        raise AttributeError(f"{type(self).__name__!s} has no attribute {key!r}")

    # -- to override -------------------------------------------------------------------
    def validate(self) -> None:
        """Check rules between parameters; raise :class:`ParameterError` if violated."""

    def warmup(self) -> int:
        """Bars of history needed before the first meaningful signal."""
        return 0

    def signals(self, bars: pd.DataFrame) -> Signals | TargetWeights:
        """Compute signals for the whole history at once (vectorized and causal).

        Parameters
        ----------
        bars : DataFrame
            OHLCV bars: one asset (columns ``open..volume``) or a ``(field, symbol)`` panel.

        Returns
        -------
        Signals or TargetWeights
            Aligned to ``bars.index``; the value at bar ``t`` uses only bars ``<= t``.
        """
        raise NotImplementedError

    @classmethod
    def batch_signals(cls, bars: pd.DataFrame, runs: list[Strategy]) -> Signals | None:
        """Optional fast path for sweeps: the signals of many parameter sets at once.

        Returns the signals of ``runs`` (instances of this class) on one asset's ``bars``,
        stacked column-wise: column ``i`` must equal ``runs[i].signals(bars)`` exactly (the test
        suite checks this for built-ins). Return ``None`` (the default) and the sweep calls
        :meth:`signals` once per run instead.
        """
        return None

    # -- helpers -----------------------------------------------------------------------
    @classmethod
    def label(cls) -> str:
        """Registry name, or the class name for unregistered strategies."""
        return cls.name or cls.__name__

    @property
    def values(self) -> dict[str, Any]:
        """Parameter values of this instance."""
        return dict(self._values)

    def with_params(self, **values: Any) -> Strategy:
        """A copy of this strategy with some parameters changed."""
        return type(self)(**{**self._values, **values})

    @classmethod
    def describe(cls) -> str:
        """One-line description: the first line of the class docstring."""
        doc = inspect.getdoc(cls) or ""
        return doc.splitlines()[0] if doc else ""

    def run(self, bars: pd.DataFrame) -> Signals | TargetWeights:
        """Call :meth:`signals` and check its output (alignment, dtypes).

        An exception raised inside ``signals()`` (a bug in the strategy) becomes a
        :class:`StrategyError` naming the strategy and the exception, chained to the original
        (``raise ... from exc``) so its traceback is kept; a :class:`QuantlabError` raised
        deliberately by the strategy passes through unchanged.
        """
        with strategy_errors(self.label(), "signals()"):
            out = self.signals(bars)
        if not isinstance(out, Signals | TargetWeights):
            raise StrategyError(
                f"{self.label()}.signals() returned {type(out).__name__}, "
                "expected Signals or TargetWeights"
            )
        for key, arr in out.arrays().items():
            if not isinstance(arr, pd.Series | pd.DataFrame):
                raise StrategyError(f"{self.label()}.signals().{key} is not a pandas object")
            if not arr.index.equals(bars.index):
                raise StrategyError(
                    f"{self.label()}.signals().{key} is not aligned to the bars' index"
                )
            if key in {"entries", "exits", "short_entries", "short_exits"}:
                if arr.isna().to_numpy().any():
                    raise StrategyError(f"{self.label()}.signals().{key} contains NaN")
                if not all(np.dtype(d) == np.bool_ for d in np.atleast_1d(arr.dtypes)):
                    raise StrategyError(f"{self.label()}.signals().{key} is not boolean")
        if isinstance(out, Signals):
            _check_order_arrays(self.label(), out)
        return out

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._values.items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self._values == other._values  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted(self._values.items()))))
