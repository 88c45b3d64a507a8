from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantlab.data import FIELDS, read_ohlcv_file
from quantlab.errors import DataError, DataQualityError, QuantlabError

DAY1 = pd.Timestamp("2024-01-01", tz="UTC")


def write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def check_two_days(df: pd.DataFrame) -> None:
    assert list(df.columns) == FIELDS
    assert df.index.name == "time" and str(df.index.tz) == "UTC"
    assert (df.dtypes == "float64").all()
    assert list(df.index) == [DAY1, DAY1 + pd.Timedelta(days=1)]
    assert df["open"].tolist() == [100.0, 101.0]
    assert df["close"].tolist() == [101.0, 102.5]
    assert df["volume"].tolist() == [5.0, 6.0]


@pytest.mark.parametrize(
    ("header", "t1", "t2"),
    [
        ("date,open,high,low,close,volume", "2024-01-01", "2024-01-02"),
        ("Date,Open,High,Low,Close,Volume", "2024-01-01", "2024-01-02"),
        ("timestamp,o,h,l,c,v", "1704067200", "1704153600"),  # epoch seconds
        ("open_time,OPEN,HIGH,LOW,CLOSE,VOL", "1704067200000", "1704153600000"),  # ms
        ("time,open,high,low,close_price,Volume", "1704067200000000", "1704153600000000"),  # us
        ("datetime,open,high,low,close,volume", "1704067200000000000", "1704153600000000000"),  # ns
        ("Time (UTC),Open,High,Low,Close,Vol", "2024-01-01T01:00:00+01:00", "2024-01-02 01:00+01:00"),
        ("Datetime,Open,High,Low,Close,Volume", "2024-01-01 00:00:00", "2024-01-02T00:00:00Z"),
    ],
)
def test_spellings_and_epoch_units(tmp_path, header, t1, t2):
    p = write(tmp_path, f"{header}\n{t1},100,102,99,101,5\n{t2},101,103,100,102.5,6\n")
    check_two_days(read_ohlcv_file(p))


def test_cryptodatadownload_layout_prefers_base_volume(tmp_path):
    text = (
        "unix,date,symbol,open,high,low,close,Volume BTC,Volume USDT,tradecount\n"
        "1704153600000,2024-01-02,BTC/USDT,101,103,100,102.5,6,615,10\n"
        "1704067200000,2024-01-01,BTC/USDT,100,102,99,101,5,505,9\n"  # newest first: sorted
    )
    check_two_days(read_ohlcv_file(write(tmp_path, text)))


def test_semicolon_bom_blank_lines_and_gzip(tmp_path):
    text = "\ufeffdate;open;high;low;close;volume\n\n2024-01-01;100;102;99;101;5\n\n2024-01-02;101;103;100;102.5;6\n"
    check_two_days(read_ohlcv_file(write(tmp_path, text)))
    gz = tmp_path / "data.csv.gz"
    gz.write_bytes(gzip.compress(b"date,open,high,low,close,volume\n2024-01-01,100,102,99,101,5\n2024-01-02,101,103,100,102.5,6\n"))
    check_two_days(read_ohlcv_file(gz))


def test_headerless_binance_dump(tmp_path):
    text = (
        "1704067200000,100,102,99,101,5,1704153599999,505,9,2,202,0\n"
        "1704153600000,101,103,100,102.5,6,1704239999999,615,10,3,303,0\n"
    )
    check_two_days(read_ohlcv_file(write(tmp_path, text)))


def test_parquet_round_trip(tmp_path):
    df = read_ohlcv_file(write(tmp_path, "date,open,high,low,close,volume\n2024-01-01,100,102,99,101,5\n2024-01-02,101,103,100,102.5,6\n"))
    df.to_parquet(tmp_path / "a.parquet")
    pd.testing.assert_frame_equal(read_ohlcv_file(tmp_path / "a.parquet"), df)
    # foreign parquet: time as a column with other spellings, naive datetimes
    other = df.reset_index().rename(columns={"time": "Date", "close": "Close", "volume": "Vol"})
    other["Date"] = other["Date"].dt.tz_localize(None)
    other.to_parquet(tmp_path / "b.parquet", index=False)
    pd.testing.assert_frame_equal(read_ohlcv_file(tmp_path / "b.parquet"), df)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("date,open,high,low,volume\n2024-01-01,1,2,0.5,3\n", "data.csv: missing column close (columns: date, open, high, low, volume)"),
        ("date,open,high,low,close,volume\n2024-01-01,1,2,0.5,1.5,3\n2024-01-02,1,2,0.5,abc,3\n", "data.csv row 3: non-numeric close 'abc'"),
        ("date,open,high,low,close,volume\n2024-01-01,1,2,0.5,1.5,3\nnot-a-date,1,2,0.5,1.5,3\n", "data.csv row 3: cannot parse time 'not-a-date'"),
        ("date,open,high,low,close,volume\n2024-01-01,1,2,0.5,1.5,3\n,1,2,0.5,1.5,3\n", "data.csv row 3: missing time"),
        ("", "data.csv: empty file"),
        ("   \n\n", "data.csv: empty file"),
        ("date,open,high,low,close,volume\n", "data.csv: no data rows"),
        ("date,open,high,low,close,volume\n2024-01-01,1,2,0.5,1.5,3\n2024-01-02,1,2,0.5,1.5,3,9\n", "data.csv row 3: malformed CSV"),
    ],
)
def test_malformed_files(tmp_path, text, message):
    p = write(tmp_path, text)
    with pytest.raises(DataError) as info:
        read_ohlcv_file(p)
    msg = str(info.value)
    assert msg.startswith(str(p.parent) + "/" + message) or message in msg, msg
    assert str(p) in msg
    assert "\n" not in msg


def test_quality_errors_name_file_and_line(tmp_path):
    rows = [f"2024-01-{d:02d},100,102,99,101,5" for d in range(1, 20)]
    rows[15] = "2024-01-16,100,100,101.5,101,5"  # line 17 in the file: low > high
    p = write(tmp_path, "date,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataQualityError) as info:
        read_ohlcv_file(p)
    assert str(info.value).startswith(f"{p} row 17 (2024-01-16): low 101.5 > high 100")
    dup = write(tmp_path, "date,open,high,low,close,volume\n2024-01-01,1,2,0.5,1,1\n2024-01-01,1,2,0.5,1,1\n", "dup.csv")
    with pytest.raises(DataQualityError, match=r"dup.csv row 3 \(2024-01-01\): duplicate timestamp"):
        read_ohlcv_file(dup)
    nan = write(tmp_path, "date,open,high,low,close,volume\n2024-01-01,1,2,0.5,,1\n", "nan.csv")
    with pytest.raises(DataQualityError, match=r"nan.csv row 2 \(2024-01-01\): close is NaN"):
        read_ohlcv_file(nan)
    assert read_ohlcv_file(nan, validate=False)["close"].isna().all()


def test_binary_junk_and_missing(tmp_path):
    junk = tmp_path / "junk.csv"
    junk.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(DataError, match=r"junk.csv: not a CSV text file"):
        read_ohlcv_file(junk)
    bad_pq = tmp_path / "bad.parquet"
    bad_pq.write_bytes(b"PAR1 not really parquet")
    with pytest.raises(DataError, match=r"bad.parquet: not a readable parquet file"):
        read_ohlcv_file(bad_pq)
    with pytest.raises(DataError, match=r"nope.csv: no such file"):
        read_ohlcv_file(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="is a directory"):
        read_ohlcv_file(tmp_path)


_cell = st.one_of(
    st.sampled_from(["", "1", "2.5", "-3", "nan", "inf", "abc", "1e400", "2024-01-01", "1704067200000", '"', "0"]),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    header=st.one_of(
        st.just("date,open,high,low,close,volume"),
        st.lists(st.sampled_from(["time", "Open", "h", "low", "c", "Vol", "x", ""]), min_size=1, max_size=7).map(",".join),
    ),
    rows=st.lists(st.lists(_cell, min_size=0, max_size=8).map(",".join), max_size=6),
    sep=st.sampled_from([",", ";", "\t"]),
)
def test_fuzz_reader_never_crashes(tmp_path, header, rows, sep):
    text = "\n".join([header, *rows]).replace(",", sep)
    p = tmp_path / "fuzz.csv"
    p.write_text(text, encoding="utf-8")
    try:
        df = read_ohlcv_file(p)
    except QuantlabError as exc:
        assert "\n" not in str(exc)
        return
    assert list(df.columns) == FIELDS
    assert df.index.is_monotonic_increasing and df.index.is_unique
    assert np.isfinite(df.to_numpy()).all()


MULTI = (
    "\n\n"                                   # lines 1-2: leading blank lines
    "date,open,high,low,close,volume\n"      # line 3: header
    "2024-01-01,100,102,99,101,5\n"          # 4
    "2024-01-02,101,103,100,102,6\n"         # 5
    "2024-01-02,101,103,100,102,6\n"         # 6 duplicate of line 5
    "2024-01-03,101,100,101.5,101,5\n"       # 7 low > high
    "bad-date,1,2,0.5,1,1\n"                 # 8 unparsable time
    "2024-01-05,1,2,0.5,oops,1\n"            # 9 non-numeric close
    "2024-01-06,1,2,0.5,1,x\n"               # 10 non-numeric volume
    "2024-01-07,1,2,0.5,,1\n"                # 11 empty close (NaN)
    "\n"                                     # 12 blank
    "2024-01-08,1,2,0.5,1,-1\n"              # 13 negative volume
    "2024-01-08,1,2,0.5,1,1\n"               # 14 duplicate of line 13
)


def test_every_defect_of_a_csv_in_one_pass_with_line_numbers(tmp_path):
    p = write(tmp_path, MULTI, "multi.csv")
    with pytest.raises(DataQualityError) as info:
        read_ohlcv_file(p)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg == (
        f"{p}: 8 hard errors — bad_time ×1 (row 8: cannot parse time 'bad-date'), non_numeric ×2 (rows 9, 10), "
        "duplicate_time ×2 (rows 6, 14), non_finite ×1 (row 11: close is NaN), negative_volume ×1 "
        "(row 13: volume -1 < 0), ohlc_inconsistent ×1 (row 7: low 101.5 > high 100; open 101 > high 100; "
        "open 101 < low 101.5; close 101 > high 100; close 101 < low 101.5)"
    )
    rep = info.value.report
    errors = rep.errors
    assert [(c, rep.row_label(r)) for c, r in zip(errors["check"], errors["row"], strict=True)] == [
        ("duplicate_time", 6), ("ohlc_inconsistent", 7), ("bad_time", 8), ("non_numeric", 9),
        ("non_numeric", 10), ("non_finite", 11), ("negative_volume", 13), ("duplicate_time", 14),
    ]
    listing = rep.listing()
    assert "    row 6 (2024-01-02): duplicate timestamp 2024-01-02 (first at row 5)" in listing
    assert "    row 14 (2024-01-08): duplicate timestamp 2024-01-08 (first at row 13)" in listing
    assert "    row 9: non-numeric close 'oops'" in listing and "    row 10: non-numeric volume 'x'" in listing
    # validate=False still refuses unparsable values, but only those
    with pytest.raises(DataQualityError) as info:
        read_ohlcv_file(p, validate=False)
    assert str(info.value) == (
        f"{p}: 3 hard errors — bad_time ×1 (row 8: cannot parse time 'bad-date'), non_numeric ×2 (rows 9, 10)"
    )


def test_non_numeric_cells_of_every_column_reported_together(tmp_path):
    rows = [f"2024-01-{d:02d},100,102,99,101,5" for d in range(1, 13)]
    rows[2] = "2024-01-03,1O0,102,99,101,5"  # letter O, line 4
    rows[6] = "2024-01-07,100,102,99,101,n/a"  # line 8
    rows[9] = "2024-01-10,100,high,99,101,5"  # line 11
    p = write(tmp_path, "date,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError) as info:
        read_ohlcv_file(p)
    assert str(info.value) == f"{p}: 3 hard errors — non_numeric ×3 (rows 4, 8, 11)"
    assert info.value.report.errors["detail"].tolist() == [
        "non-numeric open '1O0'", "non-numeric volume 'n/a'", "non-numeric high 'high'",
    ]


def test_bad_times_all_reported(tmp_path):
    text = "time,open,high,low,close,volume\n" + "".join(
        f"{t},1,2,0.5,1,1\n" for t in ["1704067200000", "x", "1704153600000", "", "1704240000000", "9e99"]
    )
    with pytest.raises(DataQualityError) as info:
        read_ohlcv_file(write(tmp_path, text))
    assert info.value.report.errors["detail"].tolist() == [
        "cannot parse time 'x'", "missing time", "time 9e99 is out of range",
    ]
    assert str(info.value).endswith("bad_time ×3 (rows 3, 5, 7)")


def test_parquet_rows_are_records(tmp_path):
    df = pd.DataFrame(
        {"open": [1.0, 1, 1, 1], "high": [2.0, 2, 0.5, 2], "low": [0.5, 0.5, 1, 0.5], "close": [1.0, 1, 1, 1],
         "volume": [1.0, -1, 1, 1]},
        index=pd.DatetimeIndex(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"], tz="UTC", name="time"),
    )
    df.to_parquet(tmp_path / "x.parquet")
    with pytest.raises(DataQualityError) as info:
        read_ohlcv_file(tmp_path / "x.parquet")
    assert str(info.value).startswith(f"{tmp_path / 'x.parquet'}: 2 hard errors — negative_volume ×1 (row 2: volume -1 < 0), ohlc_inconsistent ×1 (row 3: low 1 > high 0.5")
