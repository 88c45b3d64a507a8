from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantlab.data import CHECKS, QualityReport, check_quality, infer_timeframe, parse_timeframe
from quantlab.errors import DataQualityError, ParameterError


def clean(n: int = 100, freq: str = "1h") -> pd.DataFrame:
    """Deterministic clean OHLCV frame: a gentle zig-zag with distinct closes."""
    idx = pd.date_range("2024-01-01", periods=n, freq=freq, tz="UTC", name="time")
    i = np.arange(n)
    close = 100.0 + 2.0 * np.sin(i / 5.0) + 0.01 * i
    open_ = np.r_[100.0, close[:-1]]
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) + 0.5,
            "low": np.minimum(open_, close) - 0.5,
            "close": close,
            "volume": 10.0 + (i % 5),
        },
        index=idx,
    )


def only(rep: QualityReport, check: str) -> pd.DataFrame:
    assert set(rep.issues["check"]) == {check}, rep.issues
    return rep.issues


def test_clean_frame_has_no_issues():
    rep = check_quality(clean(), timeframe="1h")
    assert rep.ok and rep.issues.empty
    assert rep.bars == 100
    assert list(rep.issues.columns) == ["check", "severity", "time", "row", "detail"]
    assert list(rep.summary().index) == list(CHECKS)
    assert rep.summary()["count"].sum() == 0
    assert rep.raise_for_errors() is rep


def test_gap():
    df = clean().drop(clean().index[40:43])  # 3 hourly bars missing
    rep = check_quality(df, timeframe="1h", symbol="X/Y")
    issues = only(rep, "gap")
    assert len(issues) == 1
    gap = issues.iloc[0]
    assert gap["severity"] == "warning"
    assert gap["row"] == 40  # first bar after the gap
    assert gap["time"] == pd.Timestamp("2024-01-02 16:00", tz="UTC")
    assert gap["detail"] == "3 missing bars from 2024-01-02 16:00 to 2024-01-02 18:00"
    assert rep.missing_bars == 3
    assert rep.ok  # a warning only
    assert rep.summary().loc["gap", "count"] == 1
    assert rep.warning_summary().startswith("X/Y: 1 gap (3 missing bars)")


def test_gap_inferred_timeframe():
    df = clean(50, "1D").drop(clean(50, "1D").index[[10, 20]])
    rep = check_quality(df)
    assert rep.timeframe == pd.Timedelta(days=1)
    assert list(only(rep, "gap")["row"]) == [10, 19]
    assert rep.missing_bars == 2


def test_duplicate_timestamp():
    df = clean()
    df = pd.concat([df.iloc[:31], df.iloc[[30]], df.iloc[31:]])
    rep = check_quality(df, timeframe="1h")
    issues = only(rep, "duplicate_time")
    assert len(issues) == 1 and issues.iloc[0]["row"] == 31
    # rows in messages are 1-based: position 30 is row 31, the duplicate (position 31) row 32
    assert issues.iloc[0]["detail"] == "duplicate timestamp 2024-01-02 06:00 (first at row 31)"
    with pytest.raises(DataQualityError, match=r"^data row 32 \(2024-01-02 06:00\): duplicate .* \(first at row 31\)$"):
        rep.raise_for_errors()
    rep = check_quality(df, timeframe="1h", row_numbers=np.arange(len(df)) + 2)  # CSV lines
    assert rep.issues.iloc[0]["detail"].endswith("(first at row 32)")
    assert rep.message(rep.issues.iloc[0]).startswith("data row 33 ")
    assert not rep.ok


def test_non_monotonic():
    df = clean()
    order = list(range(100))
    order[50], order[51] = 51, 50
    rep = check_quality(df.iloc[order], timeframe="1h")
    issues = only(rep, "non_monotonic")
    assert list(issues["row"]) == [51]
    assert issues.iloc[0]["severity"] == "error"


@pytest.mark.parametrize(
    ("column", "value", "check", "detail"),
    [
        ("low", 1000.0, "ohlc_inconsistent", "low 1000 > high"),
        ("close", np.nan, "non_finite", "close is NaN"),
        ("high", np.inf, "non_finite", "high is inf"),
        ("volume", -5.0, "negative_volume", "volume -5 < 0"),
    ],
)
def test_single_value_defects(column, value, check, detail):
    df = clean()
    df.iloc[17, df.columns.get_loc(column)] = value
    rep = check_quality(df, timeframe="1h")
    issues = rep.errors
    assert set(issues["check"]) == {check}
    assert len(issues) == 1
    assert issues.iloc[0]["row"] == 17
    assert detail in issues.iloc[0]["detail"]
    with pytest.raises(DataQualityError, match=r"^data row 18 \(2024-01-01 17:00\): "):
        rep.raise_for_errors()


def test_open_outside_range_and_non_positive():
    df = clean()
    df.iloc[5, 0] = df.iloc[5]["high"] + 1.0  # open above high
    df.iloc[9, :4] = [0.0, 0.0, 0.0, 0.0]
    rep = check_quality(df, timeframe="1h", source="x.csv")
    assert rep.errors["check"].tolist() == ["ohlc_inconsistent", "non_positive_price"]
    assert rep.errors["row"].tolist() == [5, 9]
    assert rep.errors.iloc[1]["detail"] == "open 0 <= 0, high 0 <= 0, low 0 <= 0, close 0 <= 0"
    with pytest.raises(DataQualityError) as info:
        rep.raise_for_errors()
    assert str(info.value) == (
        "x.csv: 2 hard errors — non_positive_price ×1 (row 10: open 0 <= 0, high 0 <= 0, low 0 <= 0, "
        "close 0 <= 0), ohlc_inconsistent ×1 (row 6: open 103.232942 > high 102.232942)"
    )
    assert info.value.report is rep


def test_stale_prices():
    df = clean()
    df.iloc[60:67, df.columns.get_loc("close")] = 101.0
    df["high"] = df[["open", "high", "close"]].max(axis=1)
    df["low"] = df[["open", "low", "close"]].min(axis=1)
    rep = check_quality(df, timeframe="1h", stale_bars=5)
    issues = only(rep, "stale_price")
    assert len(issues) == 1
    assert issues.iloc[0]["row"] == 60
    assert issues.iloc[0]["detail"] == "close 101 unchanged for 7 bars (to 2024-01-03 18:00)"
    assert rep.ok
    assert check_quality(df, timeframe="1h", stale_bars=8).issues.empty


def test_outlier_robust_z():
    df = clean()
    df.iloc[70:, :4] *= 1.5  # +50 % level shift that persists: an outlier, not a bad tick
    rep = check_quality(df, timeframe="1h")
    issues = only(rep, "outlier_return")
    assert list(issues["row"]) == [70]
    assert (issues["severity"] == "info").all()
    assert rep.ok and rep.warnings.empty
    r = df["close"].pct_change().dropna().to_numpy()
    z = 0.6745 * (r - np.median(r)) / np.median(np.abs(r - np.median(r)))
    assert issues.iloc[0]["detail"] == f"return {r[69]:+.2%} (robust z {z[69]:+.1f})"
    assert round(z[69], 1) == 117.0
    assert check_quality(df, timeframe="1h", outlier_threshold=120).issues.empty


def test_to_dict_and_html():
    df = clean().drop(clean().index[3])
    rep = check_quality(df, timeframe="1h", symbol="BTC/USDT")
    d = rep.to_dict()
    assert d["ok"] is True and d["warnings"] == 1 and d["counts"]["gap"] == 1
    assert d["issues"][0]["time"] == "2024-01-01T03:00:00+00:00"
    html = rep._repr_html_()
    assert "BTC/USDT" in html and "<table" in html


def test_bad_input():
    with pytest.raises(ParameterError, match="missing column volume"):
        check_quality(clean().drop(columns="volume"))
    with pytest.raises(ParameterError):
        check_quality(clean().reset_index())


def test_timeframes():
    assert parse_timeframe("1m") == pd.Timedelta(minutes=1)
    assert parse_timeframe("4h") == pd.Timedelta(hours=4)
    assert parse_timeframe("1w") == pd.Timedelta(days=7)
    assert parse_timeframe("1M") == pd.Timedelta(days=30)
    for bad in ["", "h", "0h", "1x", "1H", None, "1.5h"]:
        with pytest.raises(ParameterError, match="invalid timeframe"):
            parse_timeframe(bad)
    assert infer_timeframe(clean(10, "15min").index) == pd.Timedelta(minutes=15)
    assert infer_timeframe(clean(10, "1D").drop(clean(10, "1D").index[4])) == pd.Timedelta(days=1)
    with pytest.raises(ParameterError):
        infer_timeframe(clean(1).index)
