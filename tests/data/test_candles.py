"""check_page (data/candles.py): what an exchange page may put into the cache, by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from quantlab.data.candles import check_page

H = 3_600_000
T = 1_704_067_200_000  # 2024-01-01 00:00 UTC


def row(k: int, o=100.0, h=101.0, lo=99.0, c=100.5, v=3.0):
    return [T + k * H, o, h, lo, c, v]


def test_good_page_sorted_and_identical_repeats_merged():
    page = [row(2), row(0), row(1), row(1)]
    out = check_page(page, timeframe_ms=H)
    assert out.rejected == [] and out.not_candles == 0
    np.testing.assert_array_equal(out.rows[:, 0], [T, T + H, T + 2 * H])
    assert out.rows.dtype == np.float64 and out.rows.shape == (3, 6)


def test_each_bad_candle_is_rejected_with_its_reason():
    page = [
        row(0),
        row(1, h=98.0),                 # high < low
        row(2, c=-1.0),                 # negative close (also below low)
        row(3, v=-2.0),                 # negative volume
        row(4, c=math.nan),             # NaN
        [T + 5 * H + 1, 100, 101, 99, 100, 1],  # off the hourly grid
        row(6, o="abc"),                # not a number
        row(7, o=102.0),                # open above high
        row(8),
    ]
    out = check_page(page, timeframe_ms=H)
    reasons = {r.time.hour: r.reason for r in out.rejected}
    assert reasons[1] == "high 98 < low 99"
    assert reasons[2] == "close -1 <= 0; close -1 < low 99"
    assert reasons[3] == "volume -2 < 0"
    assert reasons[4] == "close is missing or not a number"
    assert reasons[5] == "open time off the 60-minute grid"
    assert reasons[6] == "open is missing or not a number"
    assert reasons[7] == "open 102 > high 101"
    np.testing.assert_array_equal(out.rows[:, 0], [T, T + 8 * H])


def test_conflicting_repeat_is_rejected_and_not_stored():
    out = check_page([row(0), row(1), row(1, c=100.9)], timeframe_ms=H)
    assert [r.reason for r in out.rejected] == ["sent twice with different values"]
    assert out.rejected[0].time == pd.Timestamp(T + H, unit="ms", tz="UTC")
    np.testing.assert_array_equal(out.rows[:, 0], [T])


def test_not_candles():
    assert check_page("<html>", timeframe_ms=H).not_candles == 1
    out = check_page([["a", 1], {"x": 1}, [None, 1, 2, 3, 4, 5], row(0)], timeframe_ms=H)
    assert out.not_candles == 3 and len(out.rows) == 1
    assert out.rejected[0].time is None


def test_grid_anchor_from_the_cache_and_booleans_are_not_numbers():
    # weekly candles open on Mondays, not on multiples of 7 days since the epoch (a Thursday)
    week = 7 * 24 * H
    monday = 1_704_067_200_000  # 2024-01-01 was a Monday
    out = check_page([[monday + week, 1, 2, 0.5, 1.5, 10]], timeframe_ms=week, anchor_ms=monday)
    assert out.rejected == [] and len(out.rows) == 1
    out = check_page([row(0, v=True)], timeframe_ms=H)
    assert out.rejected[0].reason == "volume is missing or not a number"
