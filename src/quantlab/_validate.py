"""Shared input validation, the ground floor every layer uses.

Numbers given as options (booleans refused), confidence levels, horizons, return series (prices
passed as returns refused), weights and their symbol keys, symbol spelling. Every public
function checks its inputs here, so the messages are the same everywhere and name the
parameter at fault.

Prices passed as returns
------------------------
:func:`as_returns` refuses a column that cannot be simple returns (it would give absurd risk
figures, e.g. a VaR of -3441):

* a value below -1: no simple return loses more than 100 %; prices are never negative either,
  so this is typically a column of price *changes* (``close.diff()``);
* every value strictly positive with a median above 1 (a median gain above 100 % per bar);
* every value strictly positive over at least :data:`PRICE_RUN` observations: genuine return
  series go down some of the time (crypto daily or hourly returns are negative on roughly half
  the bars; 30 rises in a row essentially never happen), prices never do.

Zeros and negative values below the median keep genuine returns (including the bundled sample's
DOGE, with daily moves of several hundred percent) well clear of both rules.

Symbol keys
-----------
Weights given by name (mappings or Series) are matched to the assets with
:func:`align_keys`: an exact key wins, otherwise keys and asset names are compared in ccxt
unified spelling (``btc_usdt``, ``BTC-USDT``, ``btc/usdt`` all mean ``BTC/USDT``). A key that is
not a symbol, names an asset not in the data, or names the same asset as another key is refused
with a message naming the argument and the key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from quantlab.errors import DataError, ParameterError

__all__ = [
    "PRICE_RUN",
    "KeyMatcher",
    "align_keys",
    "as_returns",
    "check_choice",
    "check_horizon",
    "check_level",
    "check_not_prices",
    "check_number",
    "check_range",
    "check_weights",
    "normalize_symbol",
    "normalize_symbols",
]


#: Strictly positive observations in a row from which a column is taken for prices.
PRICE_RUN = 30


def _with_hint(message: str, hint: str | None) -> str:
    """``message`` followed by ``hint``: ``" (hint)"`` when it is parenthesised, else ``", hint"``."""
    if not hint:
        return message
    return f"{message} {hint}" if hint.startswith("(") else f"{message}, {hint}"


def _as_float(value: Any, coerce: bool) -> float | None:
    """``float(value)`` for a real number (anything ``float()`` takes with ``coerce``), else None.

    Booleans are never numbers here.
    """
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    if coerce:
        try:
            return float(value)
        except (TypeError, ValueError, OverflowError):
            return None
    return None


def check_number(value: Any, name: str, *, integer: bool = False, allow_none: bool = False,
                 hint: str | None = None, coerce: bool = False) -> Any:
    """A real number given as an option: refuse booleans, strings and other non-numbers.

    ``True`` is an ``int`` to Python but never a sensible fee, level or window, so it is
    refused instead of silently becoming 1.

    Parameters
    ----------
    value : Any
        The value to check.
    name : str
        Argument name used in the error message (``fees_bps``, ``level``...).
    integer : bool
        Require a whole number (``3`` or ``3.0``); the result is then an ``int``.
    allow_none : bool
        Let ``None`` through unchanged.
    hint : str, optional
        Advice appended to the error message (``"e.g. 0.94"`` gives ``"..., e.g. 0.94"``;
        a hint in parentheses is appended after a space).
    coerce : bool
        Also take whatever ``float()`` converts (numeric strings, ``Decimal``, 0-d arrays), for
        entry points that always did; booleans are refused all the same.

    Returns
    -------
    float or int or None
        ``float(value)`` (``int`` with ``integer=True``). Finiteness and ranges are left to the
        caller.

    Raises
    ------
    ParameterError
        ``value`` is a bool, a string or not a real number (the message names ``name``).
    """
    if value is None and allow_none:
        return None
    kind = "a whole number" if integer else "a number"
    number = _as_float(value, coerce)
    if number is None:
        raise ParameterError(_with_hint(
            f"{name}={value!r} must be {kind}, not {type(value).__name__}", hint))
    if integer:
        if isinstance(value, int | np.integer):
            return int(value)
        if not number.is_integer():
            raise ParameterError(_with_hint(f"{name}={value!r} must be {kind}", hint))
        return int(number)
    return number


def _bounds_text(lo: float | None, hi: float | None, open_low: bool, open_high: bool) -> str:
    """``" in [0, 1)"``, ``" >= 1"``, ``" < 5"`` or ``""`` (no bounds)."""
    if lo is not None and hi is not None:
        return f" in {'(' if open_low else '['}{lo:g}, {hi:g}{')' if open_high else ']'}"
    if lo is not None:
        return f" {'>' if open_low else '>='} {lo:g}"
    if hi is not None:
        return f" {'<' if open_high else '<='} {hi:g}"
    return ""


def check_range(
    value: Any,
    name: str,
    lo: float | None = None,
    hi: float | None = None,
    *,
    open_low: bool = False,
    open_high: bool = False,
    integer: bool = False,
    allow_none: bool = False,
    hint: str | None = None,
    coerce: bool = False,
) -> Any:
    """A finite number within ``[lo, hi]`` (ends open when asked); booleans and strings refused.

    Parameters
    ----------
    value : Any
        The value to check.
    name : str
        Argument name used in the error message.
    lo, hi : float, optional
        Bounds (None: unbounded on that side).
    open_low, open_high : bool
        Exclude the bound itself.
    integer : bool
        Require a whole number (``3`` or ``3.0``; returned as ``int``).
    allow_none : bool
        Let ``None`` through unchanged.
    hint : str, optional
        Advice appended to the error message (see :func:`check_number`).
    coerce : bool
        Also take whatever ``float()`` converts (see :func:`check_number`).

    Returns
    -------
    float or int or None

    Raises
    ------
    ParameterError
        ``"fees_bps=-1 must be in [0, 10000]"``, ``"window=2.5 must be a whole number >= 1"``,
        ``"lam=1.5 must be in (0, 1], e.g. 0.94"``, ``"level=True must be a number in (0, 1),
        not bool"``, ``"x=nan must be a finite number"``...
    """
    if value is None and allow_none:
        return None
    bounds = _bounds_text(lo, hi, open_low, open_high)
    kind = "a whole number" if integer else "a number"
    as_float = _as_float(value, coerce)
    if as_float is None:
        raise ParameterError(_with_hint(
            f"{name}={value!r} must be {kind}{bounds}, not {type(value).__name__}", hint))
    ok = bool(np.isfinite(as_float))
    if ok and integer:
        ok = as_float.is_integer()
    number: float | int = as_float
    if ok and integer:
        number = int(value) if isinstance(value, int | np.integer) else int(as_float)
    if ok and lo is not None:
        ok = number > lo if open_low else number >= lo
    if ok and hi is not None:
        ok = number < hi if open_high else number <= hi
    if not ok:
        if not bounds:
            what = f"a finite {'whole number' if integer else 'number'}"
        else:
            what = f"{'a whole number' if integer else ''}{bounds}".strip()
        raise ParameterError(_with_hint(f"{name}={value!r} must be {what}", hint))
    return number


def check_choice(value: Any, name: str, choices: Sequence[Any], *, hint: str | None = None
                 ) -> Any:
    """``value`` if it is one of ``choices``, else a ParameterError listing them.

    The message reads ``"filter='x' must be one of: garch, ewma"``; ``hint`` is appended as in
    :func:`check_number`.
    """
    try:
        ok = not isinstance(value, bool | np.bool_) and value in choices
    except TypeError:  # unhashable value against a set
        ok = False
    if not ok:
        listing = ", ".join(map(str, choices))
        raise ParameterError(_with_hint(f"{name}={value!r} must be one of: {listing}", hint))
    return value


#: Base and quote currency codes: letters and digits (``1000SHIB``), dots allowed inside.
_CODE = re.compile(r"[A-Z0-9][A-Z0-9.]*")
#: Quote with an optional derivative settle/expiry suffix (``USDT:USDT``, ``USD:BTC-240628``).
_QUOTE = re.compile(r"[A-Z0-9][A-Z0-9.]*(:[A-Z0-9][A-Z0-9.\-]*)?")


def normalize_symbol(symbol: str) -> str:
    """Upper-case unified symbol; ``btc_usdt`` and ``BTC-USDT`` become ``BTC/USDT``.

    Raises
    ------
    ParameterError
        Not a string, no ``/``, ``_`` or ``-`` separator, or a base/quote that is not a
        currency code (letters, digits and inner dots; ``BTC USDT``, ``BTC//USDT`` and
        ``BTC/US$`` are refused).
    """
    if not isinstance(symbol, str) or not symbol.strip():
        raise ParameterError(f"invalid symbol {symbol!r} (expected e.g. BTC/USDT)")
    s = symbol.strip()
    if "/" not in s:
        for sep in ("_", "-"):
            if sep in s:
                s = s.replace(sep, "/", 1)
                break
    if "/" not in s:
        raise ParameterError(f"invalid symbol {symbol!r} (expected BASE/QUOTE, e.g. BTC/USDT)")
    base, _, quote = s.partition("/")
    base, quote = base.upper(), quote.upper()
    if not _CODE.fullmatch(base) or not _QUOTE.fullmatch(quote):
        raise ParameterError(f"invalid symbol {symbol!r} (expected BASE/QUOTE, e.g. BTC/USDT)")
    return f"{base}/{quote}"


def normalize_symbols(symbols: str | Sequence[str]) -> list[str]:
    """List of unified symbols from a string (comma-separated allowed) or a sequence."""
    if isinstance(symbols, str):
        items = [s for s in symbols.split(",") if s.strip()]
    else:
        items = list(symbols)
    if not items:
        raise ParameterError("no symbols given")
    out: list[str] = []
    for s in items:
        n = normalize_symbol(s)
        if n not in out:
            out.append(n)
    return out



def check_level(level: float, name: str = "level") -> float:
    """A confidence level strictly between 0 and 1 (0.99 = 99 %)."""
    if isinstance(level, bool | np.bool_):
        raise ParameterError(f"{name}={level!r} must be a number in (0, 1), not bool")
    try:
        value = float(level)
    except (TypeError, ValueError):
        raise ParameterError(f"{name}={level!r} must be a number in (0, 1)") from None
    if not np.isfinite(value) or not 0.0 < value < 1.0:
        raise ParameterError(f"{name}={level!r} must be in (0, 1), e.g. 0.99")
    return value


def check_horizon(horizon: int) -> int:
    """A horizon in bars: a positive integer."""
    try:
        value = check_number(horizon, "horizon", integer=True)
    except ParameterError:
        raise ParameterError(f"horizon={horizon!r} must be a positive whole number of bars"
                             ) from None
    if value < 1:
        raise ParameterError(f"horizon={horizon!r} must be a positive whole number of bars")
    return value


def check_not_prices(returns: pd.Series | pd.DataFrame, name: str = "returns") -> None:
    """Raise a :class:`DataError` when a column looks like prices, not returns (module doc)."""
    frame = returns.to_frame() if isinstance(returns, pd.Series) else returns
    values = frame.to_numpy(dtype="float64")
    for j in range(values.shape[1]):
        col = values[:, j]
        col = col[np.isfinite(col)]
        if col.size == 0:
            continue
        label = f"{name}" if isinstance(returns, pd.Series) or frame.shape[1] == 1 \
            else f"{name} column {frame.columns[j]}"
        hint = "; use risk.returns_from_prices(...) to convert prices"
        if col.min() < -1.0:
            row = int(np.argmax(values[:, j] < -1.0))
            raise DataError(
                f"{label} looks like prices (or price changes), not returns: row {row} "
                f"({frame.index[row]}) is {values[row, j]:.6g}, below -100 %{hint}")
        if col.min() > 0.0:
            median = float(np.median(col))
            if median > 1.0 or col.size >= PRICE_RUN:
                why = (f"median {median:.6g} > 1" if median > 1.0
                       else f"all {col.size} values are positive")
                raise DataError(f"{label} looks like prices, not returns ({why}){hint}")


def as_returns(
    returns: Any, *, min_obs: int = 2, name: str = "returns", allow_frame: bool = True,
    check_prices: bool = True,
) -> pd.Series | pd.DataFrame:
    """Check a return Series/DataFrame: numeric, finite, enough observations, not prices.

    Parameters
    ----------
    returns : Series, DataFrame or array-like
        Simple returns, one row per bar.
    min_obs : int
        Minimum number of rows required.
    name : str
        Name used in error messages.
    allow_frame : bool
        Whether several columns (assets) are accepted.
    check_prices : bool
        Refuse columns that look like prices (see the module doc).

    Returns
    -------
    Series or DataFrame
        float64; array input gets a RangeIndex.

    Raises
    ------
    DataError
        NaN/inf values (the first offending row is named), too few observations, or a column
        that looks like prices ("looks like prices, not returns; use
        risk.returns_from_prices(...)").
    ParameterError
        A DataFrame where only one series is accepted.
    """
    if isinstance(returns, pd.DataFrame):
        if not allow_frame:
            raise ParameterError(f"{name} must be one series, got {returns.shape[1]} columns")
        out: pd.Series | pd.DataFrame = _float_frame(returns, name)
    elif isinstance(returns, pd.Series):
        out = _float_frame(returns, name)
    else:
        if isinstance(returns, str | bytes | Mapping) or np.ndim(returns) == 0:
            raise ParameterError(f"{name} must be a Series, DataFrame or array of returns, "
                                 f"got {type(returns).__name__}")
        try:
            arr = np.asarray(returns, dtype="float64")
        except (TypeError, ValueError):
            raise DataError(f"{name} must be numbers") from None
        if arr.ndim == 1:
            out = pd.Series(arr, name=name)
        elif arr.ndim == 2 and allow_frame:
            out = pd.DataFrame(arr)
        else:
            raise ParameterError(f"{name} must be 1-D (or 2-D assets), got shape {arr.shape}")
    values = out.to_numpy()
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        label = out.index[row]
        raise DataError(
            f"{name} has NaN/inf at row {row} ({label}); drop or fill missing returns first"
        )
    if len(out) < min_obs:
        raise DataError(f"{name} has {len(out)} observations; at least {min_obs} are needed")
    if check_prices:
        check_not_prices(out, name)
    return out


def _float_frame(data: pd.Series | pd.DataFrame, name: str) -> pd.Series | pd.DataFrame:
    """``data`` as float64; a non-numeric cell raises a DataError naming column and row."""
    frame = data.to_frame() if isinstance(data, pd.Series) else data
    for j, col in enumerate(frame.columns):
        column = frame.iloc[:, j]
        if column.dtype == bool:
            raise DataError(f"{name} column {col} holds booleans, not returns")
        try:
            column.astype("float64")
        except (TypeError, ValueError):
            bad = pd.to_numeric(column, errors="coerce").isna() & column.notna()
            row = int(np.argmax(bad.to_numpy())) if bad.any() else 0
            what = name if isinstance(data, pd.Series) else f"{name} column {col}"
            raise DataError(f"{what} is not numeric: row {row} ({column.index[row]}) holds "
                            f"{column.iloc[row]!r}") from None
    return data.astype("float64")


class KeyMatcher:
    """Match user keys to asset names: exact first, then in ccxt unified spelling.

    Parameters
    ----------
    assets : sequence
        Asset names of the data (columns); names that are not symbols match exactly only.
    """

    def __init__(self, assets: Sequence[Any]) -> None:

        self.assets = list(assets)
        self._exact = {a: i for i, a in enumerate(self.assets)}
        self._canon: dict[str, int] = {}
        for i, a in enumerate(self.assets):
            try:
                self._canon.setdefault(normalize_symbol(str(a)), i)
            except ParameterError:
                continue

    def find(self, key: Any) -> int | None:
        """Position of ``key``'s asset, or None when it names no asset."""

        try:
            if key in self._exact:
                return self._exact[key]
        except TypeError:  # unhashable
            return None
        if not isinstance(key, str):
            return None
        try:
            return self._canon.get(normalize_symbol(key))
        except ParameterError:
            return None

    @staticmethod
    def is_symbol(key: Any) -> bool:
        """Whether ``key`` can be read as a ccxt unified symbol."""

        if not isinstance(key, str):
            return False
        try:
            normalize_symbol(key)
        except ParameterError:
            return False
        return True


def align_keys(keys: Sequence[Any], assets: Sequence[Any], *, name: str = "weights",
               source: str | None = None) -> list[int]:
    """Positions in ``assets`` of the symbol keys ``keys`` (see the module doc).

    Parameters
    ----------
    keys : sequence
        Keys given by the user (e.g. the keys of a weights mapping).
    assets : sequence
        Asset names of the data (columns).
    name : str
        Argument name used in messages (``weights``, ``risk_budgets``...).
    source : str, optional
        File the keys come from, named in messages instead of ``name``'s owner.

    Returns
    -------
    list of int
        ``assets`` index of each key, in key order.

    Raises
    ------
    ParameterError
        A key that is not a symbol, names no asset of the data, or repeats another key's asset.
    """
    where = f"{source}: {name}" if source else name
    matcher = KeyMatcher(assets)
    assets = matcher.assets
    listing = ", ".join(map(str, assets))
    out: list[int] = []
    first: dict[int, Any] = {}
    for key in keys:
        i = matcher.find(key)
        if i is None:
            if not matcher.is_symbol(key):
                raise ParameterError(f"{where}: key {key!r} is not a symbol like BTC/USDT nor an "
                                     f"asset of the data ({listing})")
            raise ParameterError(f"{where}: {key!r} is not an asset of the data ({listing})")
        if i in first:
            raise ParameterError(f"{where}: {key!r} and {first[i]!r} both name {assets[i]}")
        first[i] = key
        out.append(i)
    return out


def check_weights(
    weights: Any, assets: Sequence[Any], *, name: str = "weights", sum_to_one: bool = False
) -> np.ndarray:
    """Weights aligned to ``assets``: a mapping/Series by asset name, or a sequence in order.

    Parameters
    ----------
    weights : Mapping, Series or sequence
        Portfolio weights (fractions of equity; negative = short).
    assets : sequence
        Asset names (the columns of the returns).
    sum_to_one : bool
        Require the weights to sum to 1 (within 1e-6).

    Returns
    -------
    ndarray
        Weights in the order of ``assets``.
    """
    assets = list(assets)
    if isinstance(weights, Mapping | pd.Series):
        items = list(weights.items())
        pos = align_keys([k for k, _ in items], assets, name=name)
        missing = [a for i, a in enumerate(assets) if i not in set(pos)]
        if missing:
            raise ParameterError(f"{name} do not match the assets (missing "
                                 f"{', '.join(map(str, missing))})")
        arr = np.empty(len(assets))
        for i, (key, value) in zip(pos, items, strict=True):
            arr[i] = check_number(value, f"{name}[{key!r}]")
    else:
        if isinstance(weights, str | bytes):
            raise ParameterError(f"{name} must be a mapping, Series or sequence of numbers, "
                                 f"got {type(weights).__name__}")
        values = list(np.asarray(weights, dtype=object).ravel())
        for k, v in enumerate(values):
            if isinstance(v, bool | np.bool_):
                raise ParameterError(f"{name}[{k}]={v!r} must be a number, not bool")
        try:
            arr = np.asarray(values, dtype="float64")
        except (TypeError, ValueError):
            raise ParameterError(f"{name} must be numbers") from None
        if arr.size != len(assets):
            raise ParameterError(f"{name} has {arr.size} values for {len(assets)} assets")
    if not np.isfinite(arr).all():
        raise ParameterError(f"{name} contain NaN/inf")
    if sum_to_one and abs(arr.sum() - 1.0) > 1e-6:
        raise ParameterError(f"{name} sum to {arr.sum():.6g}; they must sum to 1")
    return arr
