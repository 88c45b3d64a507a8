"""Benchmark: the parquet cache at minute scale — one year of 1-minute bars.

Builds a synthetic year (2024-01-01 .. 12-30, 525,600 one-minute bars: a random walk with
consistent OHLC)
in a temporary cache folder, then measures, best of ``--repeat`` runs:

* ``load``: ``quantlab.data.load(symbol, exchange=..., timeframe="1m")`` — read the 12 month
  partitions, run every quality check, return one frame (target <= 1 s);
* ``times``: ``cache_times`` — the time column only, what a fetch reads to plan its requests;
* ``append``: merge the next day (2024-12-31, 1,440 bars) into the cache under its lock — only
  the December partition (~43,000 rows) is rewritten;
* ``rewrite``: for comparison, writing the whole year as one file (what every fetched page cost
  before the cache was partitioned).

    .venv/bin/python benchmarks/bench_data.py [--repeat N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from quantlab.data import cache_path, load
from quantlab.data.lock import cache_lock
from quantlab.data.store import (
    append_ohlcv,
    cache_times,
    partition_files,
    write_dataset,
    write_ohlcv,
)


def minute_bars(start: str, n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    idx = pd.date_range(start, periods=n, freq="1min", tz="UTC", name="time").as_unit("us")
    close = 40_000 * np.exp(np.cumsum(rng.normal(0, 5e-4, n)))
    open_ = np.r_[close[0], close[:-1]]
    wick = np.abs(rng.normal(0, 3e-4, (n, 2)))
    high = np.maximum(open_, close) * (1 + wick[:, 0])
    low = np.minimum(open_, close) * (1 - wick[:, 1])
    vol = rng.gamma(2.0, 5.0, n) + 0.01
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": vol}, index=idx)


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    full = minute_bars("2024-01-01", 366 * 1440)
    year, day = full.iloc[: 365 * 1440], full.iloc[365 * 1440 :]  # 2024-01-01 .. 12-30, then 12-31
    with tempfile.TemporaryDirectory() as tmp:
        path = cache_path("bench", "BTC/USDT", "1m", tmp)
        t = time.perf_counter()
        write_dataset(year, path, timeframe="1m")
        first_write = time.perf_counter() - t
        size = sum(f.stat().st_size for f in partition_files(path)) / 2**20

        def do_load() -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # a clean year must load without a warning
                df = load("BTC/USDT", exchange="bench", timeframe="1m", data_dir=tmp)
            assert len(df) == len(year)

        t_load = best(do_load, args.repeat)
        t_times = best(lambda: cache_times(path), args.repeat)
        def do_append() -> None:
            with cache_lock(path):
                append_ohlcv(path, day, timeframe="1m")

        t_append = best(do_append, args.repeat)
        single = Path(tmp) / "one_file.parquet"
        t_rewrite = best(lambda: write_ohlcv(year, single), args.repeat)

    print(f"one year of 1-minute bars: {len(year):,} bars in {len(partition_files(path)) or 12} month files, {size:.1f} MiB")
    print(f"  first write (partitioned)           {first_write:7.3f} s")
    print(f"  load + quality checks (target <= 1) {t_load:7.3f} s")
    print(f"  cache_times (plan a fetch)          {t_times:7.3f} s")
    print(f"  append one day (1,440 bars, locked) {t_append:7.3f} s")
    print(f"  rewrite the year as one file        {t_rewrite:7.3f} s  (cost per page before partitioning)")


if __name__ == "__main__":
    main()
