"""A local fake Binance spot exchange (REST and websocket klines) for tests and for trying the
live runner offline.

Real ``ccxt.binance`` trades against it unmodified once its ``urls['api']`` point at the
server (:meth:`FakeBinance.exchange` does that). It keeps one account (free and locked
balances), fills market orders at the open of the current candle and resting limit orders as
the clock moves through candles that reach their price, charges a fee in the quote asset, and
misbehaves on request (:meth:`FakeBinance.inject`: timeouts, 429, 5xx, dropped connections —
also after an order was accepted — order rejects, partial fills).

Start one from Python::

    fake = FakeBinance(balances={"USDT": 10_000}).start()
    ex = fake.exchange()                 # ccxt.async_support.binance
    ...
    fake.advance(3_600_000)              # the exchange clock is explicit in tests
    fake.stop()

or from the shell (wall clock times ``--speed``, stops on SIGINT/SIGTERM)::

    python -m quantlab.live.fake_exchange --port 8765 --sample --start 2025-01-01 --speed 3600

Modules: :mod:`.server` (aiohttp app, fault injection, ccxt helper), :mod:`.book` (matching
engine and accounts), :mod:`.records` (orders and trades in Binance's JSON shapes),
:mod:`.candles` (synthetic and sample prices, klines), :mod:`.markets` (symbols and filters),
:mod:`.auth` (request signatures), :mod:`.ws` (websocket kline streams, what ``ccxt.pro`` watches:
``fake.exchange(pro=True)``), :mod:`.faults`, :mod:`.clock`, :mod:`.params`, :mod:`.errors`.
"""

from __future__ import annotations

from quantlab.live.fake_exchange.candles import (
    INTERVAL_MS,
    T0,
    CandleSource,
    SampleCandles,
    SyntheticCandles,
    synthetic_candle,
)
from quantlab.live.fake_exchange.errors import ApiError
from quantlab.live.fake_exchange.faults import ENDPOINTS, FAULTS
from quantlab.live.fake_exchange.server import FakeBinance, RequestRecord

__all__ = [
    "ENDPOINTS",
    "FAULTS",
    "INTERVAL_MS",
    "T0",
    "ApiError",
    "CandleSource",
    "FakeBinance",
    "RequestRecord",
    "SampleCandles",
    "SyntheticCandles",
    "synthetic_candle",
]
