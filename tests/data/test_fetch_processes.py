"""`quantlab data fetch` as separate processes: two at once on one symbol, and one killed by SIGKILL.

Each process is the real command line (tests/data/fetch_proc.py points ccxt's binance at the
local fake server); the fake answers slowly so that the processes really overlap.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quantlab.data import cache_path
from quantlab.data.store import partition_files, read_cache
from tests.data.fake_binance import HOUR_MS, T0, FakeBinance

ROOT = Path(__file__).resolve().parents[2]
MIN_MS = 60_000


def spawn(server: FakeBinance, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.data.fetch_proc", server.url, "data", "fetch", "--exchange", "binance", *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_for_requests(server: FakeBinance, n: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(server.klines_requests()) < n:
        assert time.monotonic() < deadline, "fetch process made no request"
        time.sleep(0.01)


def expected(server: FakeBinance, start_ms: int, end_ms: int, interval: str) -> pd.DataFrame:
    rows = np.array(server.expected("BTCUSDT", interval, start_ms, end_ms))
    idx = pd.DatetimeIndex(pd.to_datetime(rows[:, 0].astype("int64"), unit="ms", utc=True), name="time")
    return pd.DataFrame(rows[:, 1:], index=idx.as_unit("us"), columns=["open", "high", "low", "close", "volume"])


def test_two_concurrent_fetches_queue_and_keep_both_ranges(fake_binance, tmp_path):
    common = ["--symbols", "BTC/USDT", "--timeframe", "1h", "--limit", "100", "--data-dir", str(tmp_path),
              "--no-progress"]
    fake_binance.hold = True  # A's first page waits: A stays inside its locked section
    a = spawn(fake_binance, *common, "--since", "2024-01-01", "--until", "2024-01-20 23:00")
    wait_for_requests(fake_binance, 1)
    b = spawn(fake_binance, *common, "--since", "2024-01-15", "--until", "2024-02-10 23:00")
    first_line: list[str] = []
    reader = threading.Thread(target=lambda: first_line.append(b.stderr.readline()), daemon=True)
    reader.start()
    reader.join(60)
    assert first_line and first_line[0].startswith(f"quantlab: waiting for pid {a.pid}, which is writing "), first_line
    assert len(fake_binance.klines_requests()) == 1  # B asked for nothing while A held the lock
    fake_binance.hold = False
    _, err_a = a.communicate(timeout=120)
    _, err_b = b.communicate(timeout=120)
    assert a.returncode == 0, err_a
    assert b.returncode == 0, err_b
    df = read_cache(cache_path("binance", "BTC/USDT", "1h", tmp_path))
    pd.testing.assert_frame_equal(df, expected(fake_binance, T0, T0 + (41 * 24 - 1) * HOUR_MS, "1h"))
    # B ran after A's range was stored: it asked only for what was missing
    starts = [int(r.query["startTime"]) for r in fake_binance.klines_requests()]
    assert starts[:5] == [T0 + k * 100 * HOUR_MS for k in range(5)]  # A: 2024-01-01 .. 01-20 23:00
    assert starts[5] == T0 + 20 * 24 * HOUR_MS  # B: from 2024-01-21 00:00, after A's last bar


def test_fetch_killed_at_random_points_leaves_a_loadable_cache(fake_binance, tmp_path):
    fake_binance.now_ms = T0 + 40 * 1440 * MIN_MS + 30_000  # 57,600 one-minute bars: two month files
    fake_binance.delay = 0.01
    args = ["--symbols", "BTC/USDT", "--timeframe", "1m", "--since", "2024-01-01", "--data-dir", str(tmp_path),
            "--no-progress"]
    path = cache_path("binance", "BTC/USDT", "1m", tmp_path)
    rng = random.Random(7)
    for _ in range(4):
        n = len(fake_binance.klines_requests())
        proc = spawn(fake_binance, *args)
        wait_for_requests(fake_binance, n + 1)
        time.sleep(rng.uniform(0.0, 0.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        if partition_files(path):  # killed before its first page: nothing cached yet
            df = read_cache(path, check=True, warn=False)  # loadable, no hard quality error
            assert df.index.is_unique and df.index.is_monotonic_increasing
            want = expected(fake_binance, T0, T0 + (40 * 1440 - 1) * MIN_MS, "1m")
            pd.testing.assert_frame_equal(df, want.loc[df.index])  # every stored bar is right
    proc = spawn(fake_binance, *args)
    _out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "warning" not in err
    pd.testing.assert_frame_equal(read_cache(path), expected(fake_binance, T0, T0 + (40 * 1440 - 1) * MIN_MS, "1m"))
    assert not list(tmp_path.rglob("*.tmp")), "stale temp files left behind"
    assert not [p for p in tmp_path.rglob(".*")], "hidden leftovers"


@pytest.mark.parametrize("bad", ["high_lt_low"])
def test_cli_bad_candle_exits_1_then_skip_bad_stores_the_rest(fake_binance, tmp_path, bad):
    fake_binance.now_ms = T0 + 48 * HOUR_MS + 1
    fake_binance.bad = {T0 + 10 * HOUR_MS: bad}
    args = ["--symbols", "BTC/USDT", "--timeframe", "1h", "--since", "2024-01-01", "--data-dir", str(tmp_path),
            "--no-progress"]
    proc = spawn(fake_binance, *args)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("quantlab: error: binance sent a bad BTC/USDT 1h candle at 2024-01-01 10:00 (high ")
    proc = spawn(fake_binance, *args, "--skip-bad")
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    lines = err.strip().splitlines()
    assert lines[0].startswith("quantlab: warning: binance BTC/USDT 1h: skipped 1 bad candle (first: 2024-01-01 10:00")
    assert lines[1].startswith("quantlab: warning: binance BTC/USDT 1h: 1 of 48 bars that had closed")
    assert lines[1].endswith("are missing: 2024-01-01 10:00")
    assert len(read_cache(cache_path("binance", "BTC/USDT", "1h", tmp_path), check=False)) == 47
