"""fetch_ohlcv against a misbehaving exchange: real ccxt, local fake Binance with fault injection.

Every candle of the fake is a deterministic function of its open time (tests/data/fake_binance.py),
so each test knows exactly what a correct fetch must store.
"""

from __future__ import annotations

import csv
import os
import socket
import warnings

import numpy as np
import pandas as pd
import pytest

from quantlab.data import DataQualityWarning, cache_path, fetch_ohlcv, load
from quantlab.data.lock import LockTimeout, cache_lock
from quantlab.data.store import partition_files, read_cache, write_ohlcv
from quantlab.errors import DataQualityError, ExchangeError
from tests.data.fake_binance import HOUR_MS, T0, FakeBinance

START = pd.Timestamp(T0, unit="ms", tz="UTC")  # 2024-01-01
MIN_MS = 60_000


def expected(server: FakeBinance, symbol: str, start_ms: int, end_ms: int, interval: str = "1h") -> pd.DataFrame:
    rows = np.array(server.expected(symbol.replace("/", ""), interval, start_ms, end_ms))
    idx = pd.DatetimeIndex(pd.to_datetime(rows[:, 0].astype("int64"), unit="ms", utc=True), name="time")
    return pd.DataFrame(rows[:, 1:], index=idx.as_unit("us"), columns=["open", "high", "low", "close", "volume"])


def stored(tmp_path, symbol="BTC/USDT", timeframe="1h") -> pd.DataFrame:
    return read_cache(cache_path("binance", symbol, timeframe, tmp_path), check=False)


def fetch(server: FakeBinance, tmp_path, since=START, **kw):
    kw.setdefault("progress", False)
    kw.setdefault("max_retries", 0)
    symbol = kw.pop("symbol", "BTC/USDT")
    ex = kw.pop("ex", None) or server.exchange()
    return fetch_ohlcv(ex, symbol, kw.pop("timeframe", "1h"), since, data_dir=tmp_path, **kw)[symbol]


# ----------------------------------------------------------------------------- bad candles
@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("high_lt_low", "high 38773.1817 < low 39524.37"),
        ("negative_close", "close -"),
        ("nan_close", "close is missing or not a number"),
        ("negative_volume", "volume -"),
        ("zero_open", "open 0 <= 0"),
    ],
)
def test_bad_candle_is_refused_with_symbol_time_reason(fake_binance, tmp_path, kind, reason):
    bad_at = T0 + 1500 * HOUR_MS  # on the second page
    fake_binance.bad = {bad_at: kind}
    with pytest.raises(DataQualityError) as info:
        fetch(fake_binance, tmp_path, limit=1000)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("binance sent a bad BTC/USDT 1h candle at 2024-03-03 12:00 (")
    assert reason in msg
    assert "--skip-bad (on_bad='skip') stores the good candles around it" in msg
    assert msg.endswith(f"1000 BTC/USDT bars up to 2024-02-11T15:00:00+00:00 saved in {cache_path('binance', 'BTC/USDT', '1h', tmp_path)}")
    # the first page is stored, nothing of the bad page; the cache loads cleanly
    df = load("BTC/USDT", exchange="binance", timeframe="1h", data_dir=tmp_path)
    pd.testing.assert_frame_equal(df, expected(fake_binance, "BTC/USDT", T0, T0 + 999 * HOUR_MS))
    # the refused candle is quarantined with its reason
    qfile = tmp_path / "binance/1h/BTC_USDT.rejected.csv"
    rows = list(csv.DictReader(qfile.open()))
    assert [(r["symbol"], r["time"]) for r in rows] == [("BTC/USDT", "2024-03-03T12:00:00+00:00")]
    assert reason.split()[0] in rows[0]["reason"]


def test_skip_bad_stores_the_rest_and_warns(fake_binance, tmp_path):
    fake_binance.bad = {T0 + 5 * HOUR_MS: "high_lt_low", T0 + 1200 * HOUR_MS: "negative_close"}
    with pytest.warns(DataQualityWarning) as caught:
        rep = fetch(fake_binance, tmp_path, on_bad="skip", limit=1000)
    texts = [str(w.message) for w in caught]
    assert any("skipped 2 bad candles (first: 2024-01-01 05:00 (high" in t for t in texts), texts
    assert any("2 of 2500 bars that had closed" in t and "2024-01-01 05:00, 2024-02-20 00:00" in t for t in texts), texts
    assert (rep.rejected, rep.new_bars, rep.total_bars, rep.missing_bars) == (2, 2498, 2498, 2)
    full = expected(fake_binance, "BTC/USDT", T0, T0 + 2499 * HOUR_MS)
    want = full.drop([START + pd.Timedelta(hours=5), START + pd.Timedelta(hours=1200)])
    pd.testing.assert_frame_equal(stored(tmp_path), want)
    assert rep.quarantine == tmp_path / "binance/1h/BTC_USDT.rejected.csv"


def test_bad_candle_on_first_page_leaves_no_cache(fake_binance, tmp_path):
    fake_binance.bad = {T0 + 3 * HOUR_MS: "nan_close"}
    with pytest.raises(DataQualityError, match="0 BTC/USDT bars saved"):
        fetch(fake_binance, tmp_path)
    assert not cache_path("binance", "BTC/USDT", "1h", tmp_path).exists()
    assert not list(tmp_path.rglob("*.parquet"))


# ----------------------------------------------------------------------------- non-candle answers
@pytest.mark.parametrize(("failure", "shown"), [("html", "(text/html): '<html><head><title>502 Bad Gateway"),
                                                 ("object", "(application/json): '{\"code\": 0")])
def test_response_that_is_not_candles_is_an_error(fake_binance, tmp_path, failure, shown):
    fake_binance.fail_klines = {2: failure}
    with pytest.raises(ExchangeError) as info:
        fetch(fake_binance, tmp_path, limit=1000)
    msg = str(info.value)
    assert msg.startswith("binance fetch_ohlcv BTC/USDT 1h since 2024-02-11T16:00:00+00:00: the response is not candles ")
    assert shown in msg, msg
    assert msg.endswith("1000 BTC/USDT bars up to 2024-02-11T15:00:00+00:00 saved in "
                        f"{cache_path('binance', 'BTC/USDT', '1h', tmp_path)}; run again to resume")
    assert len(stored(tmp_path)) == 1000
    fake_binance.fail_klines = {}
    rep = fetch(fake_binance, tmp_path)
    assert (rep.new_bars, rep.total_bars, rep.missing_bars) == (1500, 2500, 0)


# ----------------------------------------------------------------------------- network causes
def test_timeout_names_its_cause_then_retry_succeeds(fake_binance, tmp_path):
    fake_binance.fail_klines = {1: "slow"}
    fake_binance.slow_seconds = 3.0  # well beyond the 1.5 s timeout even on a loaded machine
    with pytest.raises(ExchangeError) as info:
        fetch(fake_binance, tmp_path, ex=fake_binance.exchange(timeout=1500))
    assert "failed after 1 attempt: timed out: no answer within 1.5 s" in str(info.value)
    fake_binance.fail_klines = {len(fake_binance.klines_requests()) + 1: "slow"}
    rep = fetch(fake_binance, tmp_path, ex=fake_binance.exchange(timeout=1500), max_retries=1, retry_delay=0.01)
    assert rep.total_bars == 2500


def test_connection_refused_names_its_cause(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = FakeBinance()
    server.port = port
    with pytest.raises(ExchangeError) as info:
        fetch(server, tmp_path)
    msg = str(info.value)
    assert msg.startswith("binance load_markets failed after 1 attempt: connection refused (binance GET http://127.0.0.1:")
    assert "\n" not in msg


def test_dropped_connection_names_its_cause(fake_binance, tmp_path):
    fake_binance.fail_klines = {1: "drop"}
    with pytest.raises(ExchangeError) as info:
        fetch(fake_binance, tmp_path)
    assert "failed after 1 attempt: " in str(info.value)
    cause = str(info.value).split("failed after 1 attempt: ")[1]
    assert cause.startswith(("the server closed the connection", "connection reset", "connection aborted")), cause


# ----------------------------------------------------------------------------- completeness
def test_partial_pages_are_followed_to_the_end(fake_binance, tmp_path):
    fake_binance.page_cap = 700  # the server answers 700 candles whatever limit asks
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataQualityWarning)
        rep = fetch(fake_binance, tmp_path, limit=1000)
    assert (rep.requests, rep.total_bars, rep.missing_bars, rep.expected_bars) == (4, 2500, 0, 2500)
    pd.testing.assert_frame_equal(stored(tmp_path), expected(fake_binance, "BTC/USDT", T0, T0 + 2499 * HOUR_MS))


def test_exchange_hole_is_a_warning_naming_the_range(fake_binance, tmp_path):
    fake_binance.holes = {T0 + 5 * HOUR_MS, T0 + 6 * HOUR_MS, T0 + 7 * HOUR_MS}
    with pytest.warns(DataQualityWarning, match=r"3 of 2500 bars that had closed by the exchange clock "
                      r"\(2024-04-14 04:30\) are missing: 2024-01-01 05:00 to 2024-01-01 07:00 \(3 bars\)"):
        rep = fetch(fake_binance, tmp_path)
    assert rep.missing_ranges == [(START + pd.Timedelta(hours=5), START + pd.Timedelta(hours=7))]
    # the exchange fills the hole later: the same command fetches exactly the hole
    fake_binance.holes = set()
    n = len(fake_binance.klines_requests())
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataQualityWarning)
        rep = fetch(fake_binance, tmp_path)
    assert [int(r.query["startTime"]) for r in fake_binance.klines_requests()[n:]] == [T0 + 5 * HOUR_MS]
    assert (rep.new_bars, rep.missing_bars) == (3, 0)
    pd.testing.assert_frame_equal(stored(tmp_path), expected(fake_binance, "BTC/USDT", T0, T0 + 2499 * HOUR_MS))


def test_lagging_exchange_tail_shortfall_is_reported(fake_binance, tmp_path):
    # the exchange clock says 2500 candles closed, but its candle store stops 4 bars short
    fake_binance.holes = {T0 + k * HOUR_MS for k in range(2496, 2501)}
    with pytest.warns(DataQualityWarning, match=r"4 of 2500 .* missing: 2024-04-14 00:00 to 2024-04-14 03:00 \(4 bars\)"):
        rep = fetch(fake_binance, tmp_path)
    assert (rep.total_bars, rep.missing_bars) == (2496, 4)


def test_since_before_cached_start_backfills(fake_binance, tmp_path):
    fetch(fake_binance, tmp_path, since="2024-02-01")
    n = len(fake_binance.klines_requests())
    rep = fetch(fake_binance, tmp_path, since=START, limit=500)
    starts = [int(r.query["startTime"]) for r in fake_binance.klines_requests()[n:]]
    assert starts == [T0, T0 + 500 * HOUR_MS]  # 744 bars of January: two pages, nothing after
    assert (rep.new_bars, rep.total_bars) == (744, 2500)
    pd.testing.assert_frame_equal(stored(tmp_path), expected(fake_binance, "BTC/USDT", T0, T0 + 2499 * HOUR_MS))


def test_since_before_listing_asks_once_and_does_not_warn(fake_binance, tmp_path):
    fake_binance.listed_ms["SOLUSDT"] = T0 + 100 * HOUR_MS
    fetch(fake_binance, tmp_path, symbol="SOL/USDT")
    n = len(fake_binance.klines_requests())
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataQualityWarning)
        rep = fetch(fake_binance, tmp_path, symbol="SOL/USDT", since="2023-06-01")
    assert len(fake_binance.klines_requests()) - n == 1
    assert (rep.new_bars, rep.total_bars, rep.missing_bars) == (0, 2400, 0)


# ----------------------------------------------------------------------------- storage
def test_minute_bars_are_partitioned_by_month_and_append_touches_one_file(fake_binance, tmp_path):
    fake_binance.now_ms = T0 + 40 * 1440 * MIN_MS + 30_000  # 40 days of 1m bars
    rep = fetch(fake_binance, tmp_path, timeframe="1m")
    path = cache_path("binance", "BTC/USDT", "1m", tmp_path)
    assert path.is_dir() and rep.total_bars == 40 * 1440
    assert [p.name for p in partition_files(path)] == ["2024-01.parquet", "2024-02.parquet"]
    assert len(pd.read_parquet(path / "2024-01.parquet")) == 31 * 1440
    inodes = {p.name: p.stat().st_ino for p in partition_files(path)}
    fake_binance.now_ms += 60 * MIN_MS
    rep = fetch(fake_binance, tmp_path, since=None, timeframe="1m")
    assert (rep.new_bars, rep.total_bars) == (60, 40 * 1440 + 60)
    after = {p.name: p.stat().st_ino for p in partition_files(path)}
    assert after["2024-01.parquet"] == inodes["2024-01.parquet"]  # history untouched
    assert after["2024-02.parquet"] != inodes["2024-02.parquet"]  # replaced atomically
    pd.testing.assert_frame_equal(
        read_cache(path, check=False), expected(fake_binance, "BTC/USDT", T0, T0 + (40 * 1440 + 59) * MIN_MS, "1m")
    )
    # a lost partition (hole inside the cache) is fetched again by the same command
    (path / "2024-01.parquet").unlink()
    rep = fetch(fake_binance, tmp_path, timeframe="1m")
    assert rep.new_bars == 31 * 1440 and rep.missing_bars == 0
    assert len(read_cache(path, check=False)) == 40 * 1440 + 60


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_follow_the_umask(fake_binance, tmp_path, umask, mode):
    fake_binance.now_ms = T0 + 30 * HOUR_MS
    old = os.umask(umask)
    try:
        fetch(fake_binance, tmp_path)
    finally:
        os.umask(old)
    path = cache_path("binance", "BTC/USDT", "1h", tmp_path)
    files = partition_files(path)
    assert files and all(f.stat().st_mode & 0o777 == mode for f in files)
    assert path.stat().st_mode & 0o777 == mode | ((mode & 0o444) >> 2)  # folders: +x where readable


def test_stale_temp_files_of_a_killed_run_are_removed(fake_binance, tmp_path):
    fake_binance.now_ms = T0 + 30 * HOUR_MS
    fetch(fake_binance, tmp_path)
    path = cache_path("binance", "BTC/USDT", "1h", tmp_path)
    stale = [path / ".2024.parquet.999.deadbeef.tmp", path.parent / ".BTC_USDT.parquet.999.cafe.tmp"]
    for f in stale:
        f.write_bytes(b"half a parquet file")
    assert len(read_cache(path)) == 30  # readers ignore temp files
    fake_binance.now_ms += HOUR_MS
    fetch(fake_binance, tmp_path, since=None)
    assert not any(f.exists() for f in stale)
    assert not list(tmp_path.rglob("*.tmp"))


def test_single_file_cache_of_earlier_versions_is_converted(fake_binance, tmp_path):
    path = cache_path("binance", "BTC/USDT", "1h", tmp_path)
    write_ohlcv(expected(fake_binance, "BTC/USDT", T0, T0 + 99 * HOUR_MS), path)
    assert path.is_file()
    rep = fetch(fake_binance, tmp_path, since=None)
    assert path.is_dir() and rep.resumed_from == START + pd.Timedelta(hours=99)
    assert (rep.new_bars, rep.total_bars) == (2400, 2500)
    pd.testing.assert_frame_equal(stored(tmp_path), expected(fake_binance, "BTC/USDT", T0, T0 + 2499 * HOUR_MS))
    assert [p.name for p in path.parent.iterdir()] == ["BTC_USDT.parquet"]


# ----------------------------------------------------------------------------- locking
def test_lock_timeout_refuses_with_a_clear_message(fake_binance, tmp_path):
    path = cache_path("binance", "BTC/USDT", "1h", tmp_path)
    with cache_lock(path), pytest.raises(LockTimeout) as info:
        # a second holder in this process: flock locks are per open file, so this conflicts
        fetch(fake_binance, tmp_path, lock_timeout=0.2)
    assert str(info.value).startswith(f"{path} is being written by ")
    assert "after waiting 0.2 s; try again when it has finished" in str(info.value)
    assert fake_binance.klines_requests() == []


def test_monthly_candle_is_stored_only_after_its_month_ended(fake_binance, tmp_path):
    # "now" is 2024-03-31 12:00: March opened 30.5 days ago (more than ccxt's nominal 30-day
    # month) but still has half a day to go, so only January and February are closed
    fake_binance.now_ms = int(pd.Timestamp("2024-03-31 12:00", tz="UTC").value // 1_000_000)
    rep = fetch(fake_binance, tmp_path, timeframe="1M")
    assert [t.strftime("%Y-%m") for t in stored(tmp_path, timeframe="1M").index] == ["2024-01", "2024-02"]
    assert rep.new_bars == 2
    fake_binance.now_ms = int(pd.Timestamp("2024-04-01 00:00", tz="UTC").value // 1_000_000)
    rep = fetch(fake_binance, tmp_path, since=None, timeframe="1M")
    assert rep.new_bars == 1 and rep.end == pd.Timestamp("2024-03-01", tz="UTC")
