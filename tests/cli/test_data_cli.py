"""``quantlab data ...`` run in-process through quantlab.cli.main (never the internet)."""

from __future__ import annotations

import json

import ccxt
import pandas as pd
import pytest
from tests.data.fake_binance import HOUR_MS, T0, FakeBinance

from quantlab.cli import main
from quantlab.data import load, load_sample


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def squash(text: str) -> str:
    """Whitespace-collapsed text (tables align columns with variable padding)."""
    return " ".join(text.split())


def csv_file(tmp_path, df: pd.DataFrame, name: str = "btc.csv"):
    out = df.reset_index()
    out["time"] = out["time"].dt.strftime("%Y-%m-%d")
    path = tmp_path / name
    out.to_csv(path, index=False)
    return path


def test_list(capsys, tmp_path):
    code, out, err = run(capsys, "data", "list", "--data-dir", str(tmp_path))
    assert code == 0 and err == ""
    assert "BTC/USDT 2020-01-01 2026-02-21 2244" in squash(out)
    assert "SOL/USDT 2020-08-11 2026-02-21 2021" in squash(out)
    code, out, _ = run(capsys, "data", "list", "--data-dir", str(tmp_path), "--json")
    rows = json.loads(out)["datasets"]
    assert len(rows) == 8
    avax = next(r for r in rows if r["symbol"] == "AVAX/USDT")
    assert avax["bars"] == 1979 and avax["start"] == "2020-09-22T00:00:00+00:00" and avax["source"] == "bundled"


def test_check_bundled_ok(capsys):
    code, out, err = run(capsys, "data", "check")
    assert code == 0 and err == ""
    lines = [ln for ln in out.splitlines() if ln.endswith(" ok")]
    assert len(lines) == 8
    assert "FAILED" not in out
    code, out, _ = run(capsys, "data", "check", "BTC/USDT,ETH/USDT", "--json")
    doc = json.loads(out)
    assert doc["ok"] is True
    assert [r["symbol"] for r in doc["reports"]] == ["BTC/USDT", "ETH/USDT"]
    assert [r["bars"] for r in doc["reports"]] == [2244, 2244]
    assert doc["reports"][0]["errors"] == 0 and doc["reports"][0]["warnings"] == 0
    assert doc["reports"][0]["issues"][0]["time"] == "2020-03-12T00:00:00+00:00"  # COVID crash (info)


def test_import_then_check_cache(capsys, tmp_path):
    data = tmp_path / "data"
    src = csv_file(tmp_path, load_sample("BTC/USDT", start="2024-01-01", end="2024-01-31"))
    code, out, err = run(capsys, "data", "import", str(src), "--symbol", "BTC/USDT",
                         "--timeframe", "1d", "--data-dir", str(data))
    assert code == 0, err
    assert "31 BTC/USDT 1d bars 2024-01-01T00:00:00+00:00 to 2024-01-31T00:00:00+00:00" in out
    assert len(load("BTC/USDT", exchange="local", data_dir=data)) == 31
    code, out, err = run(capsys, "data", "check", "--exchange", "local", "--data-dir", str(data))
    assert code == 0 and "BTC/USDT 31 2024-01-01 2024-01-31 0 0 0 ok" in squash(out)
    code, out, _ = run(capsys, "data", "list", "--data-dir", str(data))
    assert "cache local 1d BTC/USDT 2024-01-01 2024-01-31 31" in squash(out)


def test_import_with_gaps_warns_one_line(capsys, tmp_path):
    df = load_sample("BTC/USDT", start="2024-01-01", end="2024-01-31")
    src = csv_file(tmp_path, df.drop(df.index[5]))
    code, _, err = run(capsys, "data", "import", str(src), "--symbol", "BTC/USDT",
                       "--timeframe", "1d", "--data-dir", str(tmp_path / "d"))
    assert code == 0
    assert err.count("\n") == 1 and err.startswith("quantlab: warning: BTC/USDT (")
    assert "1 gap (1 missing bar)" in err


def test_check_cache_with_hard_error_exits_1(capsys, tmp_path):
    from quantlab.data import cache_path
    from quantlab.data.store import write_ohlcv

    df = load_sample("ETH/USDT", start="2024-01-01", end="2024-01-10").copy()
    df.iloc[3, df.columns.get_loc("volume")] = -1.0
    write_ohlcv(df, cache_path("binance", "ETH/USDT", "1d", tmp_path))
    code, out, err = run(capsys, "data", "check", "ETH/USDT", "--exchange", "binance",
                         "--timeframe", "1d", "--data-dir", str(tmp_path))
    assert code == 1 and err == ""
    assert "FAILED" in out
    assert "error negative_volume row 4 (2024-01-04): volume -1 < 0" in squash(out)


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["data", "check", "FOO/USDT"], 2, "quantlab: error: unknown symbol FOO/USDT in the bundled sample (available: ADA/USDT"),
        (["data", "check", "BTC/USDT", "--timeframe", "1h"], 2, "quantlab: error: --timeframe 1h: the bundled sample is daily"),
        (["data", "import", "{tmp}/missing.csv", "--symbol", "BTC/USDT", "--timeframe", "1d"], 1, "quantlab: error: {tmp}/missing.csv: no such file"),
        (["data", "import", "{tmp}/bad.csv", "--symbol", "BTC/USDT", "--timeframe", "1d"], 1, "quantlab: error: {tmp}/bad.csv row 3: non-numeric close 'oops'"),
        (["data", "import", "{tmp}/bad.csv", "--symbol", "BTC/USDT", "--timeframe", "1x"], 2, "quantlab: error: invalid timeframe '1x'"),
        (["data", "fetch", "--exchange", "nosuchexchange", "--symbols", "BTC/USDT", "--since", "2024-01-01"], 2, "quantlab: error: unknown exchange 'nosuchexchange'"),
    ],
)
def test_errors_are_one_line(capsys, tmp_path, argv, code, message):
    (tmp_path / "bad.csv").write_text("date,open,high,low,close,volume\n2024-01-01,1,2,0.5,1,1\n2024-01-02,1,2,0.5,oops,1\n")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv] + ["--data-dir", str(tmp_path / "data")]
    got, _out, err = run(capsys, *argv)
    assert got == code
    assert err.startswith(message.replace("{tmp}", str(tmp_path))), err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "data").exists()


def test_fetch_via_cli_against_fake_server(capsys, tmp_path, monkeypatch):
    server = FakeBinance(now_ms=T0 + 48 * HOUR_MS + 1).start()
    try:
        real = ccxt.binance
        monkeypatch.setattr(ccxt, "binance", lambda config=None: server.exchange(**(config or {})))
        code, out, err = run(capsys, "data", "fetch", "--exchange", "binance", "--symbols",
                             "BTC/USDT,ETH/USDT", "--timeframe", "1h", "--since", "2024-01-01",
                             "--data-dir", str(tmp_path), "--no-progress", "--json")
        assert code == 0, err
        reports = json.loads(out)["reports"]
        assert [(r["symbol"], r["new_bars"], r["end"]) for r in reports] == [
            ("BTC/USDT", 48, "2024-01-02T23:00:00+00:00"),
            ("ETH/USDT", 48, "2024-01-02T23:00:00+00:00"),
        ]
        assert err == ""
        code, out, err = run(capsys, "data", "fetch", "--exchange", "binance", "--symbols", "XYZ/USDT",
                             "--timeframe", "1h", "--since", "2024-01-01", "--data-dir", str(tmp_path))
        assert code == 2 and err.startswith("quantlab: error: unknown symbol XYZ/USDT on binance")
        monkeypatch.setattr(ccxt, "binance", real)
    finally:
        server.stop()


def test_import_multi_defect_file_lists_every_kind_and_writes_nothing(capsys, tmp_path):
    rows = [f"2024-01-{d:02d},100,102,99,101,5" for d in range(1, 21)]
    rows[3] = "2024-01-03,100,102,99,101,5"  # line 5: duplicate of line 4
    rows[9] = "2024-01-09,100,102,99,101,5"  # line 11: duplicate of line 10
    rows[12] = "2024-01-13,100,100,101.5,101,5"  # line 14: low > high
    rows[15] = "2024-01-16,100,102,99,oops,5"  # line 17: non-numeric close
    rows[17] = "2024-01-18,100,102,99,101,-2"  # line 19: negative volume
    src = tmp_path / "multi.csv"
    src.write_text("date,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    data = tmp_path / "data"
    code, out, err = run(capsys, "data", "import", str(src), "--symbol", "BTC/USDT", "--timeframe", "1d",
                         "--data-dir", str(data))
    assert code == 1 and out == ""
    lines = err.splitlines()
    assert lines[0] == (
        f"quantlab: error: {src}: 5 hard errors — non_numeric ×1 (row 17: non-numeric close 'oops'), "
        "duplicate_time ×2 (rows 5, 11), negative_volume ×1 (row 19: volume -2 < 0), "
        "ohlc_inconsistent ×1 (row 14: low 101.5 > high 100; open 100 < low 101.5; close 101 > high 100; "
        "close 101 < low 101.5); nothing imported"
    )
    assert lines[0].endswith("; nothing imported")
    assert lines[1] == f"{src}: 5 errors, 3 warnings"  # 2 gaps (duplicated dates) + constant close
    for block in ["  non_numeric (error) ×1:", "    row 17: non-numeric close 'oops'",
                  "  duplicate_time (error) ×2:", "    row 5 (2024-01-03): duplicate timestamp 2024-01-03 (first at row 4)",
                  "    row 11 (2024-01-09): duplicate timestamp 2024-01-09 (first at row 10)",
                  "  negative_volume (error) ×1:", "    row 19 (2024-01-18): volume -2 < 0",
                  "  ohlc_inconsistent (error) ×1:", "  gap (warning) ×2:",
                  "    row 6 (2024-01-04): 1 missing bar at 2024-01-04", "  stale_price (warning) ×1:"]:
        assert block in lines, block
    assert "Traceback" not in err
    assert not data.exists()


def _cache(tmp_path, df: pd.DataFrame, symbol: str = "ETH/USDT"):
    from quantlab.data import cache_path
    from quantlab.data.store import write_ohlcv

    return write_ohlcv(df, cache_path("binance", symbol, "1d", tmp_path))


def test_check_flags_zero_volume_and_spike_in_cache(capsys, tmp_path):
    df = load_sample("ETH/USDT", start="2024-01-01", end="2024-01-31").copy()
    df.iloc[3:6, df.columns.get_loc("volume")] = 0.0
    df.iloc[12, df.columns.get_loc("close")] *= 10.0
    df.iloc[12, df.columns.get_loc("high")] = df.iloc[12]["close"]
    _cache(tmp_path, df)
    code, out, err = run(capsys, "data", "check", "ETH/USDT", "--exchange", "binance", "--data-dir", str(tmp_path))
    assert code == 0 and err == ""
    text = squash(out)
    assert "ETH/USDT 31 2024-01-01 2024-01-31 0 2 0 ok" in text
    assert "warning zero_volume row 4 (2024-01-04): volume 0 for 3 bars (to 2024-01-06)" in text
    assert "warning spike_revert row 13 (2024-01-13): close 25781.9 is 10.2× the previous close 2522.54" in text
    code, out, _ = run(capsys, "data", "check", "ETH/USDT", "--exchange", "binance", "--data-dir", str(tmp_path), "--json")
    doc = json.loads(out)
    assert doc["reports"][0]["counts"]["zero_volume"] == 1 and doc["reports"][0]["counts"]["spike_revert"] == 1


def test_check_reports_unsorted_cache(capsys, tmp_path):
    from quantlab.data import cache_path

    df = load_sample("BTC/USDT", start="2024-01-01", end="2024-01-10")
    order = [0, 1, 2, 3, 4, 6, 5, 7, 8, 9]
    path = cache_path("binance", "BTC/USDT", "1d", tmp_path)
    path.parent.mkdir(parents=True)
    df.iloc[order].to_parquet(path)  # written by another tool: not sorted
    code, out, _ = run(capsys, "data", "check", "--exchange", "binance", "--data-dir", str(tmp_path))
    assert code == 1
    assert "error non_monotonic row 7 (2024-01-06): time 2024-01-06 is before the previous row's 2024-01-07" in squash(out)


def test_check_partial_candle_as_of(capsys):
    code, out, _ = run(capsys, "data", "check", "BTC/USDT", "--as-of", "2026-02-21 12:00")
    assert code == 0
    assert ("warning partial_candle row 2245 (2026-02-21): last bar 2026-02-21 had not closed at "
            "2026-02-21 12:00 (closes 2026-02-22)") in squash(out)
    code, out, _ = run(capsys, "data", "check", "BTC/USDT", "--as-of", "2026-02-22")
    assert "partial_candle" not in out
