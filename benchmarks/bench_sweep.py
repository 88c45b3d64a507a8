"""Benchmark: the 4,851-combination SMA-cross sweep on bundled BTC/USDT, whole process.

Windows 2..100 as fast < slow pairs (C(99, 2) = 4,851 combinations), default fill model
(next open, 10 bps fees). Prints wall-clock seconds of the whole process (interpreter start,
imports, numba JIT or cache load, data load, sweep) and the peak resident memory.

    .venv/bin/python benchmarks/bench_sweep.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

PROCESS_START = time.perf_counter()
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".cache" / "numba"))


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=0, help="extra in-process sweeps (warm timing)")
    args = parser.parse_args()

    t0 = time.perf_counter()
    import quantlab
    from quantlab.backtesting import sweep
    from quantlab.strategies import get_strategy

    bars = quantlab.load_sample("BTC/USDT")
    cls = get_strategy("sma_cross")
    t_import = time.perf_counter() - t0

    t1 = time.perf_counter()
    res = sweep(cls, bars, fast=range(2, 101), slow=range(2, 101), progress=False)
    t_first = time.perf_counter() - t1
    warm = []
    for _ in range(args.repeat):
        t2 = time.perf_counter()
        sweep(cls, bars, fast=range(2, 101), slow=range(2, 101), progress=False)
        warm.append(time.perf_counter() - t2)

    best = res.best("sharpe")
    total = time.perf_counter() - PROCESS_START
    print(f"combinations          {len(res.table):,} ({res.rejected:,} fast >= slow skipped)")
    print(f"bars                  {len(bars):,} (BTC/USDT 1d, {bars.index[0].date()} .. {bars.index[-1].date()})")
    print(f"imports + data        {t_import:6.2f} s")
    print(f"first sweep           {t_first:6.2f} s  (includes numba JIT / cache load)")
    if warm:
        print(f"warm sweep (median)   {sorted(warm)[len(warm) // 2]:6.2f} s  over {len(warm)} runs")
    print(f"whole process         {total:6.2f} s")
    print(f"peak memory (RSS)     {peak_rss_mb():6.0f} MiB")
    print(f"best by sharpe        fast={int(best['fast'])} slow={int(best['slow'])} "
          f"sharpe={best['sharpe']:.3f} total_return={best['total_return']:.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
