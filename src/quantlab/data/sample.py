"""The bundled offline sample: daily Binance spot candles of eight USDT pairs."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from quantlab._validate import check_choice
from quantlab.data.frame import FIELDS, TIME_UNIT, make_panel, slice_range
from quantlab.data.quality import validate
from quantlab.data.symbols import normalize_symbol, normalize_symbols, symbol_from_stem
from quantlab.errors import DataError, UnknownSymbolError

__all__ = ["SAMPLE_EXCHANGE", "SAMPLE_TIMEFRAME", "load_sample", "sample_path", "sample_symbols"]

SAMPLE_EXCHANGE = "binance"
SAMPLE_TIMEFRAME = "1d"
_DATASET = "binance-spot-1d"


def _sample_dir() -> Any:
    return resources.files("quantlab") / "datasets" / _DATASET


@lru_cache(maxsize=1)
def _sample_files() -> dict[str, Any]:
    out = {}
    for entry in sorted(_sample_dir().iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".csv"):
            out[symbol_from_stem(entry.name[: -len(".csv")])] = entry
    return out


def sample_symbols() -> list[str]:
    """Symbols of the bundled sample, e.g. ``["ADA/USDT", "AVAX/USDT", ..., "XRP/USDT"]``.

    Returns
    -------
    list of str
        The bundled pairs in ccxt unified form, sorted.
    """
    return list(_sample_files())


def _check_symbol(symbol: str) -> str:
    sym = normalize_symbol(symbol)
    if sym not in _sample_files():
        raise UnknownSymbolError(
            f"unknown symbol {sym} in the bundled sample (available: {', '.join(sample_symbols())})"
        )
    return sym


def sample_path(symbol: str) -> Path:
    """Location of a bundled sample file (for messages and listings)."""
    return Path(str(_sample_files()[_check_symbol(symbol)]))


@cache
def _read_sample(symbol: str) -> pd.DataFrame:
    entry = _sample_files()[symbol]
    name = f"{_DATASET}/{entry.name}"
    with resources.as_file(entry) as path:
        try:
            raw = pd.read_csv(path)
        except (OSError, ValueError) as exc:
            raise DataError(f"{name}: cannot read bundled sample ({exc})") from None
    if "date" not in raw.columns:
        raise DataError(f"{name}: missing column date")
    idx = pd.DatetimeIndex(pd.to_datetime(raw.pop("date"), utc=True), name="time").as_unit(TIME_UNIT)
    missing = [c for c in FIELDS if c not in raw.columns]
    if missing:
        raise DataError(f"{name}: missing column {missing[0]}")
    df = raw.set_index(idx)[FIELDS].astype("float64")
    validate(df, timeframe=SAMPLE_TIMEFRAME, symbol=symbol, source=name,
             row_numbers=pd.RangeIndex(2, len(df) + 2).to_numpy(), stacklevel=4)
    return df


def _frame(symbol: str) -> pd.DataFrame:
    return _read_sample(symbol).copy()


def load_sample(
    symbols: str | Sequence[str],
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    align: str = "outer",
) -> pd.DataFrame:
    """Daily OHLCV bars of the bundled Binance spot sample (works offline).

    Parameters
    ----------
    symbols : str or sequence of str
        One symbol (``"BTC/USDT"``) returns an OHLCV frame; a list (even of one) or a
        comma-separated string returns a ``(field, symbol)`` panel.
    start, end : str or pandas.Timestamp, optional
        Inclusive bounds; naive values are UTC.
    align : {"outer", "inner"}
        Panel alignment: union of timestamps (NaN before a symbol is listed) or common
        timestamps only.

    Returns
    -------
    pandas.DataFrame
        OHLCV frame (UTC ``time`` index, float64 ``open high low close volume``) or panel.

    Raises
    ------
    UnknownSymbolError
        Symbol not bundled (the message lists the available ones).
    ParameterError
        ``start`` after ``end``, bad ``align`` or unparsable dates.
    DataError
        Nothing in the requested range.

    Examples
    --------
    >>> btc = load_sample("BTC/USDT", start="2024-01-01")
    >>> closes = load_sample(["BTC/USDT", "ETH/USDT"])["close"]
    """
    check_choice(align, "align", ("outer", "inner"))
    single = isinstance(symbols, str) and "," not in symbols
    syms = [_check_symbol(s) for s in normalize_symbols(symbols)]
    if single:
        out = slice_range(_frame(syms[0]), start, end, what=f"{syms[0]} bars")
        out.attrs["symbol"] = syms[0]  # lets backtests and charts name the asset
        return out
    panel = make_panel({s: _frame(s) for s in syms}, syms, align)
    return slice_range(panel, start, end, what=f"{', '.join(syms)} bars")
