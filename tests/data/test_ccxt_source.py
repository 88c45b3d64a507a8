"""fetch_ohlcv against real ccxt talking to the local fake Binance server (tests/data/fake_binance.py)."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from quantlab.data import FetchReport, cache_path, fetch_ohlcv, load
from quantlab.errors import ExchangeError, ParameterError, UnknownSymbolError
from tests.data.fake_binance import HOUR_MS, T0, FakeBinance

START = pd.Timestamp(T0, unit="ms", tz="UTC")  # 2024-01-01


def stored(tmp_path, symbol="BTC/USDT", timeframe="1h") -> pd.DataFrame:
    return pd.read_parquet(cache_path("binance", symbol, timeframe, tmp_path))


def expected_frame(server: FakeBinance, symbol: str, start_ms: int, end_ms: int) -> pd.DataFrame:
    rows = np.array(server.expected(symbol.replace("/", ""), "1h", start_ms, end_ms))
    idx = pd.DatetimeIndex(pd.to_datetime(rows[:, 0].astype("int64"), unit="ms", utc=True), name="time")
    return pd.DataFrame(rows[:, 1:], index=idx.as_unit("us"), columns=["open", "high", "low", "close", "volume"])


def test_pagination_2500_hourly_bars(fake_binance, tmp_path):
    # exchange clock: 30 min into candle #2500, so candles 0..2499 are closed
    reports = fetch_ohlcv(fake_binance.exchange(), "BTC/USDT", "1h", "2024-01-01",
                          data_dir=tmp_path, limit=1000, progress=False)
    rep = reports["BTC/USDT"]
    assert isinstance(rep, FetchReport)
    assert (rep.new_bars, rep.total_bars, rep.requests) == (2500, 2500, 3)
    klines = fake_binance.klines_requests()
    assert [int(r.query["startTime"]) for r in klines] == [T0, T0 + 1000 * HOUR_MS, T0 + 2000 * HOUR_MS]
    assert {r.query["limit"] for r in klines} == {"1000"}
    assert {r.query["symbol"] for r in klines} == {"BTCUSDT"}
    df = stored(tmp_path)
    assert len(df) == 2500
    assert df.index[0] == START
    assert df.index[-1] == START + pd.Timedelta(hours=2499)  # 2024-04-14 03:00
    assert (np.diff(df.index.asi8) == 3_600_000_000).all()  # contiguous (us)
    pd.testing.assert_frame_equal(df, expected_frame(fake_binance, "BTC/USDT", T0, T0 + 2499 * HOUR_MS))
    assert os.fspath(rep) == str(tmp_path / "binance/1h/BTC_USDT.parquet")
    # the cache loads cleanly through the public loader
    pd.testing.assert_frame_equal(load("BTC/USDT", exchange="binance", timeframe="1h", data_dir=tmp_path), df)


def test_default_limit_is_exchange_maximum(fake_binance, tmp_path):
    fetch_ohlcv(fake_binance.exchange(), ["ETH/USDT"], "1h", START, data_dir=tmp_path, progress=False)
    assert [r.query["limit"] for r in fake_binance.klines_requests()] == ["1000"] * 3


def test_open_candle_dropped(fake_binance, tmp_path):
    fake_binance.now_ms = T0 + 10 * HOUR_MS + 1  # candle 10 opened 1 ms ago
    rep = fetch_ohlcv(fake_binance.exchange(), ["BTC/USDT"], "1h", START, data_dir=tmp_path, progress=False)
    df = stored(tmp_path)
    assert len(df) == 10 and rep["BTC/USDT"].new_bars == 10
    assert df.index[-1] == START + pd.Timedelta(hours=9)
    assert len(fake_binance.klines_requests()) == 1  # server returned 11 candles; the 11th was open


def test_rate_limit_spacing(fake_binance, tmp_path):
    ex = fake_binance.exchange(rate_limit=250)  # spot klines cost 0.4 in ccxt -> 100 ms apart
    fetch_ohlcv(ex, "SOL/USDT", "1h", START, data_dir=tmp_path, limit=1000, progress=False)
    times = [r.at for r in fake_binance.klines_requests()]
    assert len(times) == 3
    gaps = np.diff(times)
    assert (gaps >= 0.09).all(), gaps


@pytest.mark.parametrize("failure", [500, "drop"])
def test_resume_after_failure(fake_binance, tmp_path, failure):
    fake_binance.fail_klines = {2: failure}
    ex = fake_binance.exchange()
    with pytest.raises(ExchangeError) as info:
        fetch_ohlcv(ex, "BTC/USDT", "1h", START, data_dir=tmp_path, limit=1000,
                    progress=False, max_retries=0)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("binance fetch_ohlcv BTC/USDT 1h since 2024-02-11T16:00:00+00:00 failed after 1 attempt")
    assert msg.endswith(f"1000 BTC/USDT bars up to 2024-02-11T15:00:00+00:00 saved in {cache_path('binance', 'BTC/USDT', '1h', tmp_path)}; run again to resume")
    first = stored(tmp_path)
    assert len(first) == 1000 and first.index[-1] == START + pd.Timedelta(hours=999)
    assert not [p for p in (tmp_path / "binance/1h").iterdir() if p.name.startswith(".")]

    fake_binance.fail_klines = {}
    n_before = len(fake_binance.klines_requests())
    rep = fetch_ohlcv(ex, "BTC/USDT", "1h", START, data_dir=tmp_path, limit=1000, progress=False)["BTC/USDT"]
    resumed = fake_binance.klines_requests()[n_before:]
    assert [int(r.query["startTime"]) for r in resumed] == [T0 + 1000 * HOUR_MS, T0 + 2000 * HOUR_MS]
    assert rep.resumed_from == START + pd.Timedelta(hours=999)
    assert (rep.new_bars, rep.total_bars) == (1500, 2500)
    pd.testing.assert_frame_equal(stored(tmp_path), expected_frame(fake_binance, "BTC/USDT", T0, T0 + 2499 * HOUR_MS))


def test_retries_transient_errors(fake_binance, tmp_path):
    fake_binance.fail_klines = {2: 429, 3: 500}
    rep = fetch_ohlcv(fake_binance.exchange(), "BTC/USDT", "1h", START, data_dir=tmp_path,
                      limit=1000, progress=False, max_retries=2, retry_delay=0.01)["BTC/USDT"]
    starts = [int(r.query["startTime"]) for r in fake_binance.klines_requests()]
    assert starts == [T0, T0 + 1000 * HOUR_MS, T0 + 1000 * HOUR_MS, T0 + 1000 * HOUR_MS, T0 + 2000 * HOUR_MS]
    assert rep.total_bars == 2500 and rep.requests == 3


def test_idempotent_rerun_and_incremental_update(fake_binance, tmp_path):
    ex = fake_binance.exchange()
    fetch_ohlcv(ex, "BTC/USDT", "1h", START, data_dir=tmp_path, progress=False)
    before = stored(tmp_path)
    n = len(fake_binance.klines_requests())
    rep = fetch_ohlcv(ex, "BTC/USDT", "1h", START, data_dir=tmp_path, progress=False)["BTC/USDT"]
    assert len(fake_binance.klines_requests()) == n  # nothing new can have closed: no request
    assert (rep.new_bars, rep.requests, rep.total_bars) == (0, 0, 2500)
    pd.testing.assert_frame_equal(stored(tmp_path), before)

    fake_binance.now_ms += 5 * HOUR_MS  # five more candles close
    rep = fetch_ohlcv(ex, "BTC/USDT", "1h", None, data_dir=tmp_path, progress=False)["BTC/USDT"]
    new = fake_binance.klines_requests()[n:]
    assert [int(r.query["startTime"]) for r in new] == [T0 + 2500 * HOUR_MS]
    assert (rep.new_bars, rep.total_bars) == (5, 2505)
    assert stored(tmp_path).index[-1] == START + pd.Timedelta(hours=2504)


def test_until_and_late_listing(fake_binance, tmp_path):
    fake_binance.listed_ms["SOLUSDT"] = T0 + 100 * HOUR_MS
    reps = fetch_ohlcv(fake_binance.exchange(), "BTC/USDT,SOL/USDT", "1h", START,
                       until="2024-01-10 03:00", data_dir=tmp_path, progress=False)
    btc, sol = stored(tmp_path), stored(tmp_path, "SOL/USDT")
    assert len(btc) == 9 * 24 + 4 and btc.index[-1] == pd.Timestamp("2024-01-10 03:00", tz="UTC")
    assert sol.index[0] == START + pd.Timedelta(hours=100) and sol.index[-1] == btc.index[-1]
    assert reps["SOL/USDT"].total_bars == 9 * 24 + 4 - 100
    assert len(fake_binance.klines_requests()) == 2


def test_unknown_symbol_fails_before_fetching(fake_binance, tmp_path):
    with pytest.raises(UnknownSymbolError) as info:
        fetch_ohlcv(fake_binance.exchange(), ["BTC/USDT", "FOO/USDT"], "1h", START,
                    data_dir=tmp_path, progress=False)
    assert str(info.value).startswith("unknown symbol FOO/USDT on binance (available: ")
    assert str(info.value).endswith("... 3 markets)")
    assert fake_binance.klines_requests() == []
    assert not tmp_path.joinpath("binance").exists()


def test_bad_parameters(fake_binance, tmp_path):
    with pytest.raises(ParameterError, match=r"unknown exchange 'binanse' \(not a ccxt exchange id; did you mean binance"):
        fetch_ohlcv("binanse", "BTC/USDT", "1h", START, data_dir=tmp_path)
    ex = fake_binance.exchange()
    with pytest.raises(ParameterError, match="binance does not offer timeframe '7m'"):
        fetch_ohlcv(ex, "BTC/USDT", "7m", START, data_dir=tmp_path)
    with pytest.raises(ParameterError, match="since 2024-02-01 is after until 2024-01-01"):
        fetch_ohlcv(ex, "BTC/USDT", "1h", "2024-02-01", until="2024-01-01", data_dir=tmp_path)
    with pytest.raises(ParameterError, match="since is required"):
        fetch_ohlcv(ex, "BTC/USDT", "1h", None, data_dir=tmp_path, progress=False)
    assert fake_binance.klines_requests() == []


def test_progress_bar_on_stderr(fake_binance, tmp_path, capsys):
    fake_binance.now_ms = T0 + 20 * HOUR_MS
    fetch_ohlcv(fake_binance.exchange(), "BTC/USDT", "1h", START, data_dir=tmp_path, progress=True)
    out, err = capsys.readouterr()
    assert out == ""
    assert "binance BTC/USDT 1h" in err
