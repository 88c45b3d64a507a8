"""``load``: one entry point for bundled and cached data."""

from __future__ import annotations

import os
from collections.abc import Sequence

import pandas as pd

from quantlab._validate import check_choice
from quantlab.data.frame import make_panel, slice_range
from quantlab.data.sample import SAMPLE_TIMEFRAME, load_sample
from quantlab.data.store import read_cache, require_cache_file
from quantlab.data.symbols import normalize_symbols
from quantlab.data.timeframes import parse_timeframe
from quantlab.errors import ParameterError

__all__ = ["load"]


def load(
    symbols: str | Sequence[str],
    *,
    exchange: str | None = None,
    timeframe: str = "1d",
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    data_dir: str | os.PathLike[str] = "data",
    align: str = "outer",
) -> pd.DataFrame:
    """Load OHLCV bars from the bundled sample or the local cache.

    Parameters
    ----------
    symbols : str or sequence of str
        One symbol returns an OHLCV frame; a list (or comma-separated string) a
        ``(field, symbol)`` panel.
    exchange : str, optional
        Cache folder (``binance``, ``local`` ...). None loads the bundled sample.
    timeframe : str
        ccxt timeframe; the bundled sample is daily only.
    start, end : str or pandas.Timestamp, optional
        Inclusive bounds (naive = UTC).
    data_dir : str or PathLike
        Cache root.
    align : {"outer", "inner"}
        Panel alignment.

    Returns
    -------
    pandas.DataFrame
        OHLCV frame or panel.

    Raises
    ------
    UnknownSymbolError
        Symbol not cached (the message lists what is).
    ParameterError
        Bad timeframe, dates or alignment.
    DataQualityError
        Hard quality error in a file (file, row, timestamp and problem named).

    Warns
    -----
    DataQualityWarning
        One summary per symbol with gaps or stale prices.
    """
    parse_timeframe(timeframe)
    check_choice(align, "align", ("outer", "inner"))
    if exchange is None:
        if timeframe != SAMPLE_TIMEFRAME:
            raise ParameterError(
                f"timeframe {timeframe!r} is not in the bundled sample (daily '1d' only); "
                "pass exchange=... (--exchange on the command line) to load cached data"
            )
        return load_sample(symbols, start=start, end=end, align=align)
    single = isinstance(symbols, str) and "," not in symbols
    syms = normalize_symbols(symbols)
    frames = {}
    for sym in syms:
        path = require_cache_file(exchange, sym, timeframe, data_dir)
        frames[sym] = read_cache(path, timeframe=timeframe, symbol=sym)
    if single:
        out = slice_range(frames[syms[0]], start, end, what=f"{syms[0]} bars")
        out.attrs["symbol"] = syms[0]
        return out
    return slice_range(make_panel(frames, syms, align), start, end, what=f"{', '.join(syms)} bars")
