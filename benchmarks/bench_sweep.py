"""Benchmark: the 4,851-combination SMA-cross sweep, quantlab vs plain vectorbt, whole process.

Bundled BTC/USDT daily bars, fast in 2..100, slow in 2..100, fast < slow (C(99, 2) = 4,851
combinations); default fill model: a signal on bar t's close fills at bar t+1's open, 10 bps
fees, all-in sizing, init cash 10,000, long only.

- ``quantlab`` side: ``quantlab.sweep("sma_cross", bars, fast=..., slow=...)``.
- ``vectorbt`` side: the same sweep written directly in vectorbt: each window's SMA computed
  once with quantlab's own ``indicators.sma``, entry/exit crossover matrices built exactly as
  ``SmaCross.batch_signals`` builds them, shifted one bar (next-open fills), then simulated in
  one call. Default route ``orders``: ``entries.vbt.signals.clean(exits)`` resolves the events
  the way ``from_signals`` does (first entry, then first exit; a bar with both is ignored) and
  ``Portfolio.from_orders`` (size +inf to buy all-in, -inf to sell all, price = open) runs
  them. Both are ``cache=True`` numba functions, so a fresh process loads them from the numba
  disk cache; ``Portfolio.from_signals`` takes function arguments and is JIT-compiled again
  in every process (several seconds). ``--vbt-route signals`` times the textbook
  ``from_signals(close, entries, exits, price=open, size=np.inf, ...)`` instead.

Each side runs in a fresh process (this script with ``--side``), which writes the
4,851 total returns to a .npy file and prints its own peak RSS. One untimed warm-up run of
each side first (fills the numba cache), then ``--rounds`` alternating timed rounds. The
check: max |total_return(quantlab) - total_return(vectorbt)| over every combination; the
script exits with status 1 if it exceeds 1e-9.

    .venv/bin/python benchmarks/bench_sweep.py [--rounds N] [--vbt-route orders|signals]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROCESS_START = time.perf_counter()
ROOT = Path(__file__).resolve().parents[1]
WINDOWS = range(2, 101)
TOLERANCE = 1e-9
INIT_CASH = 10_000.0
FEES = 0.001  # 10 bps


def pairs() -> list[tuple[int, int]]:
    """(fast, slow) combinations in one fixed order shared by both sides."""
    return [(f, s) for f in WINDOWS for s in WINDOWS if f < s]


def peak_rss_mib() -> float:
    """Peak resident set size of this process in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --------------------------------------------------------------------------- child sides


def run_quantlab(out: Path) -> dict[str, object]:
    import numpy as np
    import pandas as pd

    import quantlab

    bars = quantlab.load_sample("BTC/USDT")
    res = quantlab.sweep("sma_cross", bars, fast=WINDOWS, slow=WINDOWS, progress=False)
    order = pd.MultiIndex.from_tuples(pairs(), names=["fast", "slow"])
    total = res.table["total_return"].reindex(order).to_numpy(dtype=float)
    np.save(out, total)
    return {"combinations": len(res.table), "bars": len(bars), "module": quantlab.__file__}


def run_vectorbt(out: Path, route: str) -> dict[str, object]:
    import numpy as np
    import pandas as pd
    import vectorbt as vbt

    import quantlab
    from quantlab.strategies.indicators import sma

    bars = quantlab.load_sample("BTC/USDT")
    close, open_ = bars["close"], bars["open"]
    combos = pairs()
    # Each window's SMA once; crossovers exactly as SmaCross.batch_signals builds them.
    ma = {w: sma(close, w).to_numpy() for w in WINDOWS}
    f = np.column_stack([ma[a] for a, _ in combos])
    s = np.column_stack([ma[b] for _, b in combos])
    pad = np.full((1, f.shape[1]), np.nan)
    fp, sp = np.vstack([pad, f[:-1]]), np.vstack([pad, s[:-1]])
    with np.errstate(invalid="ignore"):
        entries = (f > s) & (fp <= sp)
        exits = (f < s) & (fp >= sp)
    del f, s, fp, sp
    # Next-open fills: the signal of bar t trades at bar t+1's open.
    no = np.zeros((1, entries.shape[1]), dtype=bool)
    entries = np.vstack([no, entries[:-1]])
    exits = np.vstack([no, exits[:-1]])
    cols = pd.MultiIndex.from_tuples(combos, names=["fast", "slow"])
    entries = pd.DataFrame(entries, index=close.index, columns=cols)
    exits = pd.DataFrame(exits, index=close.index, columns=cols)
    if route == "signals":
        pf = vbt.Portfolio.from_signals(close=close, entries=entries, exits=exits, price=open_,
                                        size=np.inf, fees=FEES, init_cash=INIT_CASH,
                                        direction="longonly", freq="1D")
    else:
        entries, exits = entries.vbt.signals.clean(exits)
        size = np.where(entries.to_numpy(), np.inf, np.where(exits.to_numpy(), -np.inf, np.nan))
        pf = vbt.Portfolio.from_orders(close=close, size=pd.DataFrame(size, index=close.index, columns=cols),
                                       price=open_, fees=FEES, init_cash=INIT_CASH,
                                       direction="longonly", freq="1D")
    total = pf.total_return().to_numpy(dtype=float)
    np.save(out, total)
    return {"combinations": len(combos), "bars": len(bars), "module": quantlab.__file__,
            "vectorbt": vbt.__version__}


def child(side: str, out: Path, route: str) -> int:
    info = run_quantlab(out) if side == "quantlab" else run_vectorbt(out, route)
    info.update(side=side, peak_rss_mib=peak_rss_mib(),
                inner_seconds=time.perf_counter() - PROCESS_START)
    print("RESULT " + json.dumps(info))
    return 0


# --------------------------------------------------------------------------- parent


def launch(side: str, out: Path, route: str) -> tuple[float, dict[str, object]]:
    """Run one side in a fresh interpreter; (whole-process wall seconds, its RESULT record)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--side", side, "--out", str(out),
           "--vbt-route", route]
    t = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    if done.returncode != 0:
        sys.exit(f"{side} side failed ({done.returncode}):\n{done.stderr.strip()[-2000:]}")
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    if not lines:
        sys.exit(f"{side} side printed no RESULT line:\n{done.stdout[-2000:]}")
    return wall, json.loads(lines[-1][len("RESULT "):])


def compare(a: Path, b: Path) -> float:
    import numpy as np

    x, y = np.load(a), np.load(b)
    if x.shape != y.shape:
        sys.exit(f"shape mismatch: quantlab {x.shape} vs vectorbt {y.shape}")
    if not np.array_equal(np.isnan(x), np.isnan(y)):
        return float("inf")
    both = ~np.isnan(x)
    return float(np.max(np.abs(x[both] - y[both]))) if both.any() else 0.0


def parent(rounds: int, route: str) -> int:
    sides = ("quantlab", "vectorbt")
    walls: dict[str, list[float]] = {s: [] for s in sides}
    rss: dict[str, list[float]] = {s: [] for s in sides}
    max_diff = 0.0
    info: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="bench_sweep_") as tmp:
        outs = {s: Path(tmp) / f"{s}.npy" for s in sides}
        for s in sides:  # untimed warm-up: fills the numba disk cache of both sides
            _, info[s] = launch(s, outs[s], route)
        max_diff = compare(outs["quantlab"], outs["vectorbt"])
        for _ in range(rounds):
            for s in sides:
                wall, rec = launch(s, outs[s], route)
                walls[s].append(wall)
                rss[s].append(float(rec["peak_rss_mib"]))  # type: ignore[arg-type]
            max_diff = max(max_diff, compare(outs["quantlab"], outs["vectorbt"]))

    q = info["quantlab"]
    print(f"combinations          {q['combinations']:,} (fast < slow, windows 2..100), "
          f"{q['bars']:,} daily bars of BTC/USDT")
    print(f"quantlab code         {Path(str(q['module'])).parent}")
    print(f"vectorbt side         vectorbt {info['vectorbt']['vectorbt']}, route {route!r} "
          f"({'clean + from_orders' if route == 'orders' else 'from_signals'})")
    print(f"method                1 untimed warm-up run per side (numba cache warm), then {rounds} "
          "alternating rounds,")
    print("                      each run a fresh process (interpreter, imports, data, sweep)")
    for s in sides:
        w = walls[s]
        print(f"{s:<10} whole process  min {min(w):6.2f} s  median {statistics.median(w):6.2f} s   "
              f"peak RSS median {statistics.median(rss[s]):6.0f} MiB (max {max(rss[s]):.0f})")
    ratio = statistics.median(walls["vectorbt"]) / statistics.median(walls["quantlab"])
    print(f"ratio vectorbt/quantlab (medians)  {ratio:.2f}x")
    ok = max_diff <= TOLERANCE
    print(f"check total_return    max |quantlab - vectorbt| = {max_diff:.3g} over "
          f"{q['combinations']:,} combinations ({'ok' if ok else 'FAIL'}, tolerance {TOLERANCE:g})")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per side (default 3)")
    parser.add_argument("--vbt-route", choices=("orders", "signals"), default="orders",
                        help="vectorbt side: clean + from_orders (default) or from_signals")
    parser.add_argument("--side", choices=("quantlab", "vectorbt"), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        if args.out is None:
            parser.error("--side needs --out")
        return child(args.side, args.out, args.vbt_route)
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    return parent(args.rounds, args.vbt_route)


if __name__ == "__main__":
    sys.exit(main())
