"""Shared fixtures: the bundled sample read straight from the package's CSV files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "src" / "quantlab" / "datasets" / "binance-spot-1d"
FIELDS = ["open", "high", "low", "close", "volume"]


def _read(symbol: str) -> pd.DataFrame:
    df = pd.read_csv(SAMPLE_DIR / f"{symbol.replace('/', '_')}.csv")
    idx = pd.DatetimeIndex(pd.to_datetime(df.pop("date"), utc=True), name="time")
    return df.set_index(idx)[FIELDS].astype("float64")


@pytest.fixture(scope="session")
def btc() -> pd.DataFrame:
    """Bundled BTC/USDT daily bars (UTC index named 'time', float64 OHLCV)."""
    return _read("BTC/USDT")


@pytest.fixture(scope="session")
def panel() -> pd.DataFrame:
    """Four bundled symbols as a (field, symbol) panel, outer-aligned (SOL starts later)."""
    syms = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT"]
    frames = {s: _read(s) for s in syms}
    out = pd.concat(frames, axis=1, names=["symbol", "field"]).swaplevel(axis=1)
    out = out.reindex(columns=pd.MultiIndex.from_product([FIELDS, syms], names=["field", "symbol"]))
    return out
