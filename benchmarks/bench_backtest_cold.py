"""Benchmark: one cold ``quantlab backtest`` CLI process (SMA cross, long/short, 5 % stop-loss).

Runs ``python -m quantlab backtest --strategy sma_cross --param fast=10 --param slow=50
--direction long_short --stop-loss 0.05 --symbols BTC/USDT`` (bundled daily sample) from the
repository root in a fresh interpreter: one untimed warm-up run (fills the numba disk cache),
then ``--runs`` timed runs. Prints min/median/max whole-process seconds. Target: <= 2 s.

    .venv/bin/python benchmarks/bench_backtest_cold.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 2.0
COMMAND = [sys.executable, "-m", "quantlab", "backtest", "--strategy", "sma_cross",
           "--param", "fast=10", "--param", "slow=50", "--direction", "long_short",
           "--stop-loss", "0.05", "--symbols", "BTC/USDT"]


def run_once() -> float:
    t = time.perf_counter()
    done = subprocess.run(COMMAND, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    if done.returncode != 0:
        sys.exit(f"backtest failed ({done.returncode}):\n{done.stderr.strip()[-2000:]}")
    return wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs (default 5)")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be >= 1")
    warm = run_once()
    times = [run_once() for _ in range(args.runs)]
    print("command               " + " ".join(["python", *COMMAND[1:]]))
    print(f"warm-up (untimed)     {warm:6.2f} s  (fills the numba cache)")
    print(f"cold process, {len(times)} runs  min {min(times):.2f} s  median {statistics.median(times):.2f} s  "
          f"max {max(times):.2f} s   target <= {TARGET_S:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
