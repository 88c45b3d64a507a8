"""Exchange market rules (amount step, minimums, tick size) fetched with ccxt and cached as JSON.

``quantlab data markets --exchange binance`` stores ``data/<exchange>/markets.json`` (atomic write)
holding ccxt's unified market dicts (``precision``, ``limits``, raw ``info`` incl. Binance
``filters``). :func:`quantlab.portfolio.load_markets` reads that file; rebalance plans prefer it to
the bundled offline fixture.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from quantlab._util import write_text_atomic
from quantlab.data.symbols import normalize_symbols
from quantlab.errors import UnknownSymbolError

__all__ = ["fetch_markets", "markets_path"]


def markets_path(exchange: str, data_dir: str | os.PathLike[str] = "data") -> Path:
    """Where the market rules of ``exchange`` are cached: ``data_dir/<exchange>/markets.json``."""
    return Path(data_dir) / str(exchange).strip().lower() / "markets.json"


def fetch_markets(
    exchange: Any,
    *,
    symbols: str | Sequence[str] | None = None,
    data_dir: str | os.PathLike[str] = "data",
    spot_only: bool = True,
    max_retries: int = 5,
    retry_delay: float = 1.0,
) -> Path:
    """Download an exchange's market rules with ccxt and cache them as JSON.

    Parameters
    ----------
    exchange : str or ccxt.Exchange
        ccxt id (``"binance"``) or a configured exchange object.
    symbols : str or sequence of str, optional
        Keep only these markets (default: every market of the kind selected).
    data_dir : str or PathLike
        Cache root.
    spot_only : bool
        Keep spot markets only (default).
    max_retries, retry_delay : int, float
        Retries of the request on transient errors (exponential backoff).

    Returns
    -------
    pathlib.Path
        The JSON file written.

    Raises
    ------
    UnknownSymbolError
        A requested symbol is not listed by the exchange.
    ExchangeError
        The exchange kept failing.
    """
    import ccxt

    from quantlab.data.ccxt_source import _call, make_exchange

    wanted = normalize_symbols(symbols) if symbols else []
    ex = make_exchange(exchange, wanted)
    _call(ex.load_markets, what=f"{ex.id} load_markets", max_retries=max_retries,
          retry_delay=retry_delay)
    markets = {s: m for s, m in (ex.markets or {}).items() if not spot_only or m.get("spot")}
    missing = [s for s in wanted if s not in markets]
    if missing:
        raise UnknownSymbolError(f"unknown symbol {missing[0]} on {ex.id} ({len(markets)} markets)")
    if wanted:
        markets = {s: markets[s] for s in wanted}
    doc = {
        "_meta": {
            "exchange": ex.id,
            "fetched_at": pd.Timestamp.now(tz="UTC").isoformat(),
            "ccxt_version": ccxt.__version__,
            "precision_mode": "tick" if ex.precisionMode == ccxt.TICK_SIZE else "decimals",
            "source": f"ccxt {ex.id}.load_markets()",
        },
        "markets": markets,
    }
    return write_text_atomic(markets_path(ex.id, data_dir), json.dumps(doc, indent=1, default=str))
