from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from quantlab.data import FIELDS, check_quality, load, load_sample, sample_symbols
from quantlab.errors import DataError, ParameterError, UnknownSymbolError


def test_sample_symbols():
    assert sample_symbols() == [
        "ADA/USDT", "AVAX/USDT", "BNB/USDT", "BTC/USDT",
        "DOGE/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT",
    ]


def test_btc_single_frame(btc):
    df = load_sample("BTC/USDT")
    assert len(df) == 2244
    assert df.index[0] == pd.Timestamp("2020-01-01", tz="UTC")
    assert df.index[-1] == pd.Timestamp("2026-02-21", tz="UTC")
    assert df["close"].iloc[0] == 7200.85  # first line of BTC_USDT.csv
    assert list(df.columns) == FIELDS
    assert df.index.name == "time"
    assert str(df.index.tz) == "UTC"
    assert (df.dtypes == "float64").all()
    assert df.index.is_monotonic_increasing and df.index.is_unique
    pd.testing.assert_frame_equal(df, btc)  # same as reading the CSV directly (conftest)


def test_returns_copy():
    a = load_sample("BTC/USDT")
    a.iloc[0, 0] = -1.0
    assert load_sample("BTC/USDT").iloc[0, 0] == 7195.24


def test_panel_outer_and_inner(panel):
    p = load_sample(["BTC/USDT", "SOL/USDT"])
    assert p.columns.names == ["field", "symbol"]
    assert list(p.columns.get_level_values("field").unique()) == FIELDS
    assert list(p["close"].columns) == ["BTC/USDT", "SOL/USDT"]
    assert len(p) == 2244
    sol = p["close"]["SOL/USDT"]
    assert sol.loc[:"2020-08-10"].isna().all()
    assert sol.first_valid_index() == pd.Timestamp("2020-08-11", tz="UTC")
    assert sol.loc["2020-08-11"] == 3.2985
    inner = load_sample(["BTC/USDT", "SOL/USDT"], align="inner")
    assert inner.index[0] == pd.Timestamp("2020-08-11", tz="UTC")
    assert len(inner) == 2244 - 223  # 2020-01-01 .. 2020-08-10 is 223 days
    assert not inner.isna().any().any()
    four = load_sample(["BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT"])
    pd.testing.assert_frame_equal(four, panel)


def test_list_of_one_is_panel_and_comma_string():
    p = load_sample(["ETH/USDT"])
    assert isinstance(p.columns, pd.MultiIndex)
    q = load_sample("BTC/USDT,ETH/USDT")
    assert list(q["close"].columns) == ["BTC/USDT", "ETH/USDT"]


def test_start_end_inclusive():
    df = load_sample("ETH/USDT", start="2024-01-01", end=pd.Timestamp("2024-01-31"))
    assert len(df) == 31
    assert df.index[0] == pd.Timestamp("2024-01-01", tz="UTC")
    assert df.index[-1] == pd.Timestamp("2024-01-31", tz="UTC")
    aware = load_sample("ETH/USDT", start=pd.Timestamp("2024-01-01 01:00", tz="Europe/Berlin"), end="2024-01-02")
    assert aware.index[0] == pd.Timestamp("2024-01-01", tz="UTC")  # 00:00 UTC


def test_range_errors():
    with pytest.raises(ParameterError, match="start 2024-02-01 is after end 2024-01-01"):
        load_sample("BTC/USDT", start="2024-02-01", end="2024-01-01")
    with pytest.raises(DataError, match="no BTC/USDT bars between 2030-01-01"):
        load_sample("BTC/USDT", start="2030-01-01")
    with pytest.raises(ParameterError, match="start: cannot parse 'yesterday-ish'"):
        load_sample("BTC/USDT", start="yesterday-ish")
    with pytest.raises(ParameterError, match="align"):
        load_sample(["BTC/USDT"], align="left")


def test_unknown_symbol_lists_available():
    with pytest.raises(UnknownSymbolError) as info:
        load_sample("FOO/USDT")
    assert str(info.value) == (
        "unknown symbol FOO/USDT in the bundled sample (available: ADA/USDT, AVAX/USDT, "
        "BNB/USDT, BTC/USDT, DOGE/USDT, ETH/USDT, SOL/USDT, XRP/USDT)"
    )
    assert "\n" not in str(info.value)


def test_symbol_spellings_accepted():
    assert len(load_sample("btc_usdt")) == 2244


@pytest.mark.parametrize("symbol", sample_symbols())
def test_bundled_sample_clean(symbol):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = load_sample(symbol)
    rep = check_quality(df, timeframe="1d", symbol=symbol)
    assert rep.ok
    assert len(rep.errors) == 0 and len(rep.warnings) == 0
    assert rep.summary().loc["gap", "count"] == 0


def test_load_defaults_to_sample():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = load("BTC/USDT")
    assert len(df) == 2244
    p = load(["BTC/USDT", "SOL/USDT"], align="inner", start="2021-01-01", end="2021-01-10")
    assert p.shape == (10, 10)
    assert np.isclose(p["close"].loc["2021-01-01", "BTC/USDT"], load_sample("BTC/USDT").loc["2021-01-01", "close"])
    with pytest.raises(ParameterError, match="timeframe '1h' is not in the bundled sample"):
        load("BTC/USDT", timeframe="1h")
    with pytest.raises(ParameterError, match="invalid timeframe"):
        load("BTC/USDT", timeframe="1x")
