"""Benchmark: a 1,000-combination SMA-cross sweep on a synthetic year of 1-minute bars.

Seeded geometric Brownian motion (``np.random.default_rng(7)``, ~60 % annual volatility),
525,600 one-minute bars from 2025-01-01 00:00 UTC with consistent OHLC (open = previous
close, high >= max(open, close), low <= min(open, close), all positive), volume 1.0.
Grid: fast in 5, 10, .., 50 x slow in 60, 70, .., 1,050 (10 x 100 = 1,000 combinations, all
fast < slow), default fill model (next open, 10 bps fees, all-in, long only). One
``quantlab.sweep`` in this process after the data is generated. Targets: sweep <= 20 s, peak
RSS <= 1.5 GB.

    .venv/bin/python benchmarks/bench_sweep_scale.py [--bars N] [--combos-scale X]

``--bars`` shortens the series (the first N bars of the same seeded path); ``--combos-scale``
keeps that share of the 100 slow windows (0.1 -> 10 x 10 = 100 combinations).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

PROCESS_START = time.perf_counter()
YEAR_MINUTES = 525_600
ANNUAL_VOL = 0.60
FAST = range(5, 55, 5)
SLOW_START, SLOW_STEP, SLOW_COUNT = 60, 10, 100
TARGET_SWEEP_S = 20.0
TARGET_RSS_MIB = 1.5 * 1024


def peak_rss_mib() -> float:
    """Peak resident set size of this process in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def gbm_minute_bars(n: int, seed: int = 7, start_price: float = 30_000.0) -> pd.DataFrame:
    """``n`` one-minute OHLCV bars of a seeded GBM path (vectorized; the first n of a year's path)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    sigma = ANNUAL_VOL / np.sqrt(YEAR_MINUTES)  # per-minute log-return volatility
    total = max(n, YEAR_MINUTES)  # same draws for every --bars: a prefix of the one-year path
    log_ret = rng.normal(-0.5 * sigma**2, sigma, size=total)[:n]
    wick = np.abs(rng.normal(0.0, 0.5 * sigma, size=(2, total)))[:, :n]
    close = start_price * np.exp(np.cumsum(log_ret))
    open_ = np.empty(n)
    open_[0] = start_price
    open_[1:] = close[:-1]
    high = np.maximum(open_, close) * np.exp(wick[0])
    low = np.minimum(open_, close) * np.exp(-wick[1])
    index = pd.date_range("2025-01-01", periods=n, freq="1min", tz="UTC", name="time")
    bars = pd.DataFrame({"open": open_, "high": high, "low": low, "close": close,
                         "volume": np.ones(n)}, index=index)
    bars.attrs["symbol"] = "GBM/USDT"
    return bars


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=YEAR_MINUTES,
                        help=f"number of 1-minute bars (default {YEAR_MINUTES:,}, one year)")
    parser.add_argument("--combos-scale", type=float, default=1.0,
                        help="share of the 100 slow windows to keep (default 1.0 = 1,000 combinations)")
    args = parser.parse_args()
    n_slow = round(SLOW_COUNT * args.combos_scale)
    if not 1 <= n_slow <= SLOW_COUNT:
        parser.error("--combos-scale must keep between 1 and 100 slow windows (0.01 .. 1.0)")
    slow = range(SLOW_START, SLOW_START + SLOW_STEP * n_slow, SLOW_STEP)
    if args.bars <= slow[-1] + 1:
        parser.error(f"--bars must exceed the longest slow window ({slow[-1]}) + 1")

    t0 = time.perf_counter()
    bars = gbm_minute_bars(args.bars)
    t_data = time.perf_counter() - t0

    t1 = time.perf_counter()
    import quantlab

    sweep = quantlab.sweep  # imports quantlab.backtesting; the simulator's own imports stay in the sweep
    t_import = time.perf_counter() - t1

    t2 = time.perf_counter()
    res = sweep("sma_cross", bars, fast=FAST, slow=slow, progress=False)
    t_sweep = time.perf_counter() - t2
    total = time.perf_counter() - PROCESS_START
    rss = peak_rss_mib()

    full = args.bars == YEAR_MINUTES and n_slow == SLOW_COUNT
    scope = "" if full else "  (reduced run: targets are for 525,600 bars x 1,000 combinations)"
    print(f"bars                  {len(bars):,} x 1m, {bars.index[0]} .. {bars.index[-1]} "
          f"(GBM, seed 7, {ANNUAL_VOL:.0%} annual vol)")
    print(f"combinations          {len(res.table):,} (fast {FAST.start}..{FAST[-1]} x "
          f"slow {slow.start}..{slow[-1]}){scope}")
    print(f"data generation       {t_data:6.2f} s")
    print(f"import quantlab.sweep {t_import:6.2f} s")
    print(f"sweep                 {t_sweep:6.2f} s   target <= {TARGET_SWEEP_S:.0f} s")
    print(f"whole process         {total:6.2f} s")
    print(f"peak memory (RSS)     {rss:6.0f} MiB target <= {TARGET_RSS_MIB:.0f} MiB (1.5 GB)")
    best = res.best("sharpe")
    print(f"best by sharpe        fast={int(best['fast'])} slow={int(best['slow'])} "
          f"sharpe={best['sharpe']:.3f} total_return={best['total_return']:.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
