"""Benchmark: ``quantlab live`` in paper mode on replayed 1-minute bars — latency and memory.

Writes a seeded synthetic history of 1-minute bars (geometric random walk, ``--seed`` 42,
``--bars`` 20,000 from 2025-01-01 00:00 UTC) into a temporary data cache with the data
layer's own partitioned writer, freezes a built-in strategy as a promoted artifact whose
manifest names that cache (exchange folder ``bench``, timeframe ``1m``), and runs
``quantlab.live.session.run_live(name, mode="replay", risk_in_replay=True)``: the paper broker
with the risk guard and the circuit breaker on, i.e. paper mode's per-bar work with the
history as the bar source instead of the exchange.

Per processed bar the runner times, from the start of the closed bar's processing to its
orders being submitted and persisted (``LiveRun.submit_latency``): the decision (the
strategy's own ``signals()`` on the rolling window), the simulator step, the risk guard, the
breaker and one SQLite WAL transaction with the audit records. Not included: the network
round trip to an exchange (fetching the candle, placing the order).

Two cases, each in a fresh process (the script re-runs itself with ``--child``) that does an
untimed warm-up run of ``--warmup-bars`` first (numba cache load, LLVM initialisation, first
calls), then the timed run over the whole history: ``sma_cross`` fast=10 slow=50 on BTC/USDT,
and ``momentum_rotation`` lookback=30 top_k=2 rebalance=60 on a 3-symbol panel (``--no-panel``
skips it). Prints bars processed, bars/s, p50/p90/p99/max latency (ms), the RSS after the
imports and after the warm-up, the process's peak RSS (MiB) and whether the targets
(**p99 <= 50 ms, peak RSS <= 300 MB**, read as MiB like the other benchmarks) are met.

    .venv/bin/python benchmarks/bench_live.py [--bars N] [--seed S] [--no-panel] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numba
import numpy as np
import pandas as pd

from quantlab.data import cache_path, load
from quantlab.data.store import write_dataset
from quantlab.live.session import LiveRun, run_live
from quantlab.promote.artifact import write_artifact

EXCHANGE = "bench"
TIMEFRAME = "1m"
PANEL = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
STARTS = {"BTC/USDT": 40_000.0, "ETH/USDT": 2_500.0, "SOL/USDT": 150.0}
P99_TARGET_MS = 50.0
RSS_TARGET_MIB = 300.0

#: Limits loose enough never to refuse an order of these strategies (all-in, no stop), yet
#: switched on so the guard evaluates them; the breaker's drawdown and daily-loss triggers are
#: off so a random walk does not halt the run halfway. ``max_orders_per_minute`` counts wall
#: clock minutes, which a replay compresses, so it is set far above the replay's order rate.
CONFIG = """\
[risk]
max_drawdown = 0.99
risk_per_trade = "off"
max_position_notional = 1e12
max_order_notional = 1e12
daily_loss_limit = 0.99
var_limit = 0.99
max_orders_per_minute = 1000000

[breaker]
drawdown = "off"
daily_loss = "off"
var = [0.9, 0.95, 0.99]
realized_vol = [50.0, 100.0, 200.0]

[runner]
initial_cash = 10000.0
state_dir = "{state_dir}"
"""

BUILTINS = {
    "sma_cross": ("sma_cross", "SmaCross"),
    "momentum_rotation": ("momentum_rotation", "MomentumRotation"),
}


def minute_bars(n: int, seed: int, start_price: float) -> pd.DataFrame:
    """``n`` one-minute OHLCV bars from 2025-01-01 00:00 UTC: a geometric random walk
    (60 % annual volatility), open = previous close, high/low widened by a random wick."""
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2025-01-01", periods=n, freq="1min", tz="UTC", name="time").as_unit("us")
    sigma = 0.6 / np.sqrt(365 * 1440)
    close = start_price * np.exp(np.cumsum(rng.normal(0.0, sigma, n)))
    open_ = np.r_[start_price, close[:-1]]
    wick = np.abs(rng.normal(0.0, sigma / 2, (n, 2)))
    high = np.maximum(open_, close) * (1 + wick[:, 0])
    low = np.minimum(open_, close) * (1 - wick[:, 1])
    volume = rng.gamma(2.0, 5.0, n) + 0.01
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close,
                         "volume": volume}, index=idx)


def write_history(data_dir: Path, symbols: list[str], n: int, seed: int) -> None:
    """Cache ``n`` bars of each symbol under ``data_dir/bench/1m`` and check they load back."""
    for k, sym in enumerate(symbols):
        bars = minute_bars(n, seed + k, STARTS[sym])
        write_dataset(bars, cache_path(EXCHANGE, sym, TIMEFRAME, data_dir), timeframe=TIMEFRAME)
    back = load(symbols[0] if len(symbols) == 1 else symbols, exchange=EXCHANGE,
                timeframe=TIMEFRAME, data_dir=data_dir)
    if len(back) != n:
        raise SystemExit(f"cache read back {len(back)} bars, wrote {n}")


def promote_builtin(root: Path, name: str, strategy: str, params: dict[str, Any],
                    symbols: list[str], options: dict[str, Any] | None = None,
                    warmup: int = 50, timeframe: str = "1d",
                    exchange: str | None = None) -> Path:
    """Freeze a built-in strategy as ``root/name/N`` without the promotion gates (a copy of
    ``tests/live/helpers.promote_builtin`` whose manifest also names the cache's exchange)."""
    module, cls = BUILTINS[strategy]
    art = write_artifact(
        name, strategy_source=f"from quantlab.strategies.{module} import {cls}\n",
        strategy_ref=f"strategy.py:{cls}", params=params, root=root,
        manifest={"strategy": strategy, "params": params, "options": options or {},
                  "data": {"symbols": symbols, "exchange": exchange, "timeframe": timeframe},
                  "warmup_bars": warmup})
    return Path(art.path)


def risk_events(state: Path) -> int:
    """Orders refused by the guard or the breaker (audited ``risk`` records)."""
    con = sqlite3.connect(state)
    try:
        return int(con.execute("SELECT count(*) FROM audit WHERE kind = 'risk'").fetchone()[0])
    finally:
        con.close()


def replay(tmp: Path, name: str, max_bars: int | None) -> tuple[LiveRun, float]:
    """One paper-mode replay through ``run_live``; returns the run and its wall seconds."""
    t = time.perf_counter()
    run = run_live(name, mode="replay", risk_in_replay=True, config=tmp / "live.toml",
                   root=tmp / "strategies", data_dir=tmp / "data",
                   state=tmp / "state" / f"{name}.sqlite", max_bars=max_bars, env={})
    return run, time.perf_counter() - t


def rss_mib() -> float:
    """Current resident set of this process (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mib() -> float:
    """Peak resident set of this process (Linux ``ru_maxrss`` is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(tmp: Path, name: str, warmup_bars: int, profile: bool) -> None:
    """One case in this (fresh) process: untimed warm-up run, timed run; JSON on stdout."""
    after_imports = rss_mib()
    replay(tmp, name, warmup_bars)  # untimed: numba cache load, LLVM init, first calls
    after_warmup = rss_mib()
    if profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        run, wall = prof.runcall(replay, tmp, name, None)
        pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(30)
    else:
        run, wall = replay(tmp, name, None)
    print(json.dumps({"bars": run.bars, "orders": sum(run.orders.values()),
                      "fills": len(run.fills),
                      "refused": risk_events(tmp / "state" / f"{name}.sqlite"),
                      "breaker": run.breaker, "equity": run.equity, "wall": wall,
                      "latency": list(run.submit_latency), "rss_imports": after_imports,
                      "rss_warmup": after_warmup, "peak_rss": peak_rss_mib()}))


def report(label: str, out: dict[str, Any]) -> None:
    """Print one run's figures and whether each target is met."""
    lat = np.asarray(out["latency"]) * 1000.0
    if not len(lat):
        raise SystemExit(f"{label}: no bar was processed")
    p50, p90, p99 = np.percentile(lat, [50, 90, 99])
    lat_ok = bool(p99 <= P99_TARGET_MS)
    rss_ok = bool(out["peak_rss"] <= RSS_TARGET_MIB)
    work = lat.sum() / 1000
    print(label)
    print(f"  bars processed (timed)              {out['bars']:>9,} ({len(lat):,})")
    print(f"  orders / fills / refused            {out['orders']:>9,} / {out['fills']:,} / "
          f"{out['refused']:,}  (breaker {out['breaker']}, equity {out['equity']:,.2f})")
    print(f"  run_live wall (load, start, bars)   {out['wall']:9.2f} s -> "
          f"{out['bars'] / out['wall']:,.0f} bars/s")
    print(f"  per-bar work only (sum of latency)  {work:9.2f} s -> {len(lat) / work:,.0f} bars/s")
    print(f"  latency p50 / p90                   {p50:9.2f} / {p90:.2f} ms")
    print(f"  latency p99 (target <= {P99_TARGET_MS:g} ms)       {p99:9.2f} ms  "
          f"{'met' if lat_ok else 'MISSED'}")
    print(f"  latency max                         {lat.max():9.2f} ms")
    tenth = max(len(lat) // 10, 1)
    print(f"  p50 first / last tenth of the bars  {np.median(lat[:tenth]):9.2f} / "
          f"{np.median(lat[-tenth:]):.2f} ms")
    print(f"  RSS after imports / after warm-up   {out['rss_imports']:9.0f} / "
          f"{out['rss_warmup']:.0f} MiB")
    print(f"  peak RSS (target <= {RSS_TARGET_MIB:g} MiB)      {out['peak_rss']:9.0f} MiB  "
          f"{'met' if rss_ok else 'MISSED'}")


def machine() -> str:
    """One line: cores, versions, load average."""
    load1, load5, _ = os.getloadavg()
    return (f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"pandas {pd.__version__}, numba {numba.__version__}, "
            f"load average {load1:.2f} / {load5:.2f} (1 / 5 min)")


def cases(panel: bool) -> list[tuple[str, str, dict[str, Any], list[str], dict[str, Any], int]]:
    """(artifact name, strategy, params, symbols, backtest options, warm-up bars)."""
    out = [("btc_sma", "sma_cross", {"fast": 10, "slow": 50}, ["BTC/USDT"],
            {"fees_bps": 10.0, "slippage_bps": 5.0}, 50)]
    if panel:
        out.append(("panel_mom", "momentum_rotation",
                    {"lookback": 30, "top_k": 2, "rebalance": 60}, PANEL, {"fees_bps": 10.0}, 30))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=20_000, help="1-minute bars per symbol")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--warmup-bars", type=int, default=300,
                    help="bars of the untimed warm-up run (default 300)")
    ap.add_argument("--no-panel", action="store_true",
                    help="skip the 3-symbol momentum_rotation run")
    ap.add_argument("--profile", action="store_true",
                    help="cProfile each timed run (top 30 by own time, on stderr)")
    ap.add_argument("--child", nargs=2, metavar=("DIR", "NAME"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(Path(args.child[0]), args.child[1], args.warmup_bars, args.profile)
        return
    if args.bars < 200:
        ap.error("--bars must be at least 200")
    todo = cases(not args.no_panel)
    print(machine())
    print(f"paper mode: replay through the paper broker with risk guard + breaker on, "
          f"{args.bars:,} one-minute bars per symbol (seed {args.seed}); each case in a fresh "
          f"process after an untimed {args.warmup_bars}-bar warm-up run")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        (tmp / "state").mkdir()
        (tmp / "live.toml").write_text(CONFIG.format(state_dir=(tmp / "state").as_posix()))
        write_history(tmp / "data", sorted({s for c in todo for s in c[3]}), args.bars, args.seed)
        for name, strategy, params, symbols, options, warmup in todo:
            promote_builtin(tmp / "strategies", name, strategy, params, symbols, options,
                            warmup, timeframe=TIMEFRAME, exchange=EXCHANGE)
            cmd = [sys.executable, __file__, "--child", str(tmp), name,
                   "--warmup-bars", str(args.warmup_bars)] + (["--profile"] if args.profile else [])
            res = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
            if res.returncode != 0:
                raise SystemExit(f"{name}: the benchmark process failed "
                                 f"(exit status {res.returncode})")
            out = json.loads(res.stdout.strip().splitlines()[-1])
            report(f"{strategy} {params} on {', '.join(symbols)}", out)


if __name__ == "__main__":
    main()
