from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest

from quantlab.data import (
    DataQualityWarning,
    cache_path,
    import_file,
    list_datasets,
    load,
    load_sample,
)
from quantlab.data.store import write_ohlcv
from quantlab.errors import DataError, DataQualityError, ParameterError, UnknownSymbolError


def csv_of(df: pd.DataFrame, path: Path) -> Path:
    out = df.reset_index()
    out["time"] = out["time"].dt.strftime("%Y-%m-%d")
    out.rename(columns={"time": "Date"}).to_csv(path, index=False)
    return path


def test_cache_path(tmp_path):
    assert cache_path("binance", "BTC/USDT", "1h") == Path("data/binance/1h/BTC_USDT.parquet")
    assert cache_path("Binance", "eth/usdt", "1d", tmp_path) == tmp_path / "binance/1d/ETH_USDT.parquet"
    with pytest.raises(ParameterError, match="invalid timeframe"):
        cache_path("binance", "BTC/USDT", "hourly")
    with pytest.raises(ParameterError, match="invalid exchange"):
        cache_path("../x", "BTC/USDT", "1h")


def test_import_and_load(tmp_path):
    btc = load_sample("BTC/USDT", start="2024-01-01", end="2024-03-31")
    src = csv_of(btc, tmp_path / "btc.csv")
    path = import_file(src, "BTC/USDT", "1d", data_dir=tmp_path / "data")
    assert path == tmp_path / "data/local/1d/BTC_USDT.parquet"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        back = load("BTC/USDT", exchange="local", data_dir=tmp_path / "data")
    pd.testing.assert_frame_equal(back, btc)
    assert len(back) == 91
    assert not list(path.parent.glob(".*tmp"))  # no temp files left


def test_import_merges_with_existing(tmp_path):
    eth = load_sample("ETH/USDT", start="2024-01-01", end="2024-02-29")
    d = tmp_path / "data"
    import_file(csv_of(eth.iloc[:40], tmp_path / "a.csv"), "ETH/USDT", "1d", data_dir=d)
    changed = eth.iloc[30:].copy()
    changed.loc[changed.index[0], "volume"] = 1.0  # overlapping row: the new file wins
    import_file(csv_of(changed, tmp_path / "b.csv"), "ETH/USDT", "1d", data_dir=d)
    merged = load("ETH/USDT", exchange="local", data_dir=d)
    assert len(merged) == 60
    assert merged["volume"].iloc[30] == 1.0
    pd.testing.assert_frame_equal(merged.drop(merged.index[30]), eth.drop(eth.index[30]))


def test_import_refuses_bad_file_and_writes_nothing(tmp_path):
    btc = load_sample("BTC/USDT", start="2024-01-01", end="2024-01-20")
    btc.iloc[16, btc.columns.get_loc("low")] = btc.iloc[16]["high"] + 1
    src = csv_of(btc, tmp_path / "bad.csv")
    with pytest.raises(DataQualityError, match=r"bad.csv row 18 \(2024-01-17\): low .* > high"):
        import_file(src, "BTC/USDT", "1d", data_dir=tmp_path / "data")
    assert not (tmp_path / "data").exists()


def test_import_checks_timeframe(tmp_path):
    src = csv_of(load_sample("BTC/USDT", start="2024-01-01", end="2024-01-10"), tmp_path / "d.csv")
    with pytest.raises(ParameterError, match=r"d.csv: bars are 1 days 00:00:00 apart \(median\) but --timeframe is 1h"):
        import_file(src, "BTC/USDT", "1h", data_dir=tmp_path)


def test_import_warns_on_gaps(tmp_path):
    btc = load_sample("BTC/USDT", start="2024-01-01", end="2024-01-31")
    src = csv_of(btc.drop(btc.index[10:12]), tmp_path / "g.csv")
    with pytest.warns(DataQualityWarning, match=r"BTC/USDT.*1 gap \(2 missing bars\)"):
        import_file(src, "BTC/USDT", "1d", data_dir=tmp_path / "data")
    with pytest.warns(DataQualityWarning) as record:
        load(["BTC/USDT"], exchange="local", data_dir=tmp_path / "data")
    assert len(record) == 1  # one summary per symbol


def test_load_unknown_cached_symbol(tmp_path):
    d = tmp_path / "data"
    with pytest.raises(UnknownSymbolError, match=r"unknown symbol BTC/USDT in .*binance/1h \(available: nothing cached\)"):
        load("BTC/USDT", exchange="binance", timeframe="1h", data_dir=d)
    write_ohlcv(load_sample("ETH/USDT").iloc[:5], cache_path("binance", "ETH/USDT", "1d", d))
    with pytest.raises(UnknownSymbolError, match=r"\(available: ETH/USDT\)"):
        load(["ETH/USDT", "BTC/USDT"], exchange="binance", data_dir=d)


def test_load_corrupt_cache_names_file_row(tmp_path):
    d = tmp_path / "data"
    df = load_sample("ETH/USDT").iloc[:10].copy()
    df.iloc[4, df.columns.get_loc("close")] = -1.0
    path = cache_path("binance", "ETH/USDT", "1d", d)
    write_ohlcv(df, path)
    with pytest.raises(DataQualityError) as info:
        load("ETH/USDT", exchange="binance", data_dir=d)
    assert str(info.value).startswith(f"{path} row 5 (2020-01-05): ")
    assert "close -1 <= 0" in str(info.value)
    path.write_bytes(b"garbage")
    with pytest.raises(DataError, match="not a readable parquet file"):
        load("ETH/USDT", exchange="binance", data_dir=d)


def test_load_cached_panel(tmp_path):
    d = tmp_path / "data"
    for sym in ["BTC/USDT", "SOL/USDT"]:
        write_ohlcv(load_sample(sym, end="2020-12-31"), cache_path("binance", sym, "1d", d))
    p = load(["BTC/USDT", "SOL/USDT"], exchange="binance", data_dir=d, start="2020-08-01")
    assert p.shape == (153, 10)
    assert p["close"]["SOL/USDT"].isna().sum() == 10
    inner = load("BTC/USDT,SOL/USDT", exchange="binance", data_dir=d, align="inner")
    assert inner.index[0] == pd.Timestamp("2020-08-11", tz="UTC") and len(inner) == 143


def test_list_datasets(tmp_path):
    d = tmp_path / "data"
    write_ohlcv(load_sample("BTC/USDT", start="2024-01-01", end="2024-01-31"), cache_path("binance", "BTC/USDT", "1d", d))
    table = list_datasets(d)
    assert list(table.columns) == ["source", "exchange", "timeframe", "symbol", "start", "end", "bars", "path"]
    assert len(table) == 9
    bundled = table[table["source"] == "bundled"].set_index("symbol")
    assert bundled.loc["BTC/USDT", "bars"] == 2244
    assert bundled.loc["SOL/USDT", "start"] == pd.Timestamp("2020-08-11", tz="UTC")
    assert bundled.loc["AVAX/USDT", "bars"] == 1979
    cached = table[table["source"] == "cache"].iloc[0]
    assert (cached["exchange"], cached["timeframe"], cached["symbol"], cached["bars"]) == ("binance", "1d", "BTC/USDT", 31)
    assert cached["end"] == pd.Timestamp("2024-01-31", tz="UTC")
    assert len(list_datasets(tmp_path / "nothing")) == 8


def test_import_waits_for_or_refuses_a_locked_symbol(tmp_path):
    from quantlab.data.lock import LockTimeout, cache_lock

    btc = load_sample("BTC/USDT", start="2024-01-01", end="2024-01-31")
    src = csv_of(btc, tmp_path / "btc.csv")
    target = cache_path("local", "BTC/USDT", "1d", tmp_path / "data")
    with cache_lock(target), pytest.raises(LockTimeout, match=r"is being written by .* after waiting 0.1 s"):
        import_file(src, "BTC/USDT", "1d", data_dir=tmp_path / "data", lock_timeout=0.1)
    assert not target.exists()  # the lock's folder of a refused first import is not left behind
    import_file(src, "BTC/USDT", "1d", data_dir=tmp_path / "data", lock_timeout=0)
    assert len(load("BTC/USDT", exchange="local", timeframe="1d", data_dir=tmp_path / "data")) == 31


def test_loading_a_cache_does_not_guess_a_partial_last_candle(tmp_path):
    # a quiet last bar (5 % of the usual volume) in a cache: import warns once, loads do not
    btc = load_sample("BTC/USDT", start="2024-01-01", end="2024-03-31").copy()
    btc.iloc[-1, btc.columns.get_loc("volume")] *= 0.05
    src = csv_of(btc, tmp_path / "btc.csv")
    with pytest.warns(DataQualityWarning, match="partial last candle"):
        import_file(src, "BTC/USDT", "1d", data_dir=tmp_path / "data")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataQualityWarning)
        df = load("BTC/USDT", exchange="local", timeframe="1d", data_dir=tmp_path / "data")
    assert len(df) == 91
