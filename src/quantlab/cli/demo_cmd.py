"""``quantlab demo``: the main job on the bundled data (what `make demo` runs)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from quantlab.cli._output import print_table

__all__ = ["register", "run_demo"]


def run_demo(args: argparse.Namespace) -> int:
    """Backtest and sweep SMA-cross on bundled BTC/USDT; write two HTML reports."""
    from quantlab.backtesting import backtest, sweep
    from quantlab.data import load_sample
    from quantlab.reports import write_report
    from quantlab.strategies import get_strategy

    out = Path(args.out)
    t0 = time.perf_counter()
    bars = load_sample(args.symbol)
    cls = get_strategy("sma_cross")
    strategy = cls(fast=args.fast, slow=args.slow)
    res = backtest(strategy, bars)
    stats = res.stats()
    print(f"{strategy!r} on {args.symbol}, {stats['start'].date()} → {stats['end'].date()}, "
          f"next-open fills, 10 bps fees")
    print_table(res.summary(formatted=True))
    p1 = write_report(out / "backtest.html", f"Backtest: {strategy!r} on {args.symbol}",
                      [res.summary(formatted=True), res.plot(log=True), ("heading", "Trades"), res.trades])
    grid: dict[str, Any] = {"fast": range(2, args.max_window + 1), "slow": range(2, args.max_window + 1)}
    sw = sweep(cls, bars, progress=sys.stderr.isatty(), **grid)
    print(f"\nsweep: {len(sw.table):,} (fast, slow) combinations in {sw.elapsed:.1f} s; top 5 by Sharpe:")
    print_table(sw.best("sharpe", n=5).set_index(["fast", "slow"])
                [["total_return", "cagr", "sharpe", "max_drawdown", "trades"]])
    p2 = write_report(out / "sweep.html", f"Sweep: sma_cross on {args.symbol}",
                      [sw.summary(formatted=True), sw.heatmap("fast", "slow", "sharpe"),
                       sw.heatmap("fast", "slow", "total_return"),
                       sw.heatmap("fast", "slow", "max_drawdown")],
                      subtitle=f"{len(sw.table):,} combinations, fast < slow, windows 2..{args.max_window}")
    print(f"\nwrote {p1}\nwrote {p2}\n({time.perf_counter() - t0:.1f} s)")
    return 0


def register(sub: Any) -> None:
    """Add the ``demo`` command."""
    p = sub.add_parser("demo", help="backtest + sweep SMA-cross on bundled BTC/USDT, write HTML reports")
    p.add_argument("--out", default="reports/demo", help="output folder (default reports/demo)")
    p.add_argument("--symbol", default="BTC/USDT", help="bundled symbol (default BTC/USDT)")
    p.add_argument("--fast", type=int, default=10, help="fast SMA of the single backtest (default 10)")
    p.add_argument("--slow", type=int, default=50, help="slow SMA of the single backtest (default 50)")
    p.add_argument("--max-window", type=int, default=100, help="largest window of the sweep (default 100)")
    p.set_defaults(func=run_demo)
