"""Benchmark: portfolio optimisers on the bundled sample and on a 200-asset synthetic universe.

Universes
---------
* ``sample-8``: daily simple returns of the eight bundled pairs (rows before every asset is
  listed dropped — AVAX starts 2020-09-22; about 1,980 days).
* ``synthetic-200``: 200 assets x 1,000 days from a seeded 5-factor model
  ``r = B f + e`` (factor vols 1 %..2 %/day, loadings N(0.5, 0.5) on the market factor and
  N(0, 0.3) on the others, idiosyncratic vols 1 %..4 %/day, Student-t(5) shocks).

Every method of :data:`quantlab.portfolio.optimize.METHODS` runs long-only with the sample
covariance (``min_cvar`` on all historical scenarios at 95 %); the constrained rows add
bounds ``[0, 2 %]`` and ``max_turnover=0.3`` from equal weights on the 200-asset universe (ERC
budgets are then unattainable: least-squares closest budgets, the slowest case). Seconds per method: the first run
and, with ``--repeat N``, the best of N (data loading excluded).

    .venv/bin/python benchmarks/bench_portfolio.py [--repeat N]

Other sections (e.g. the rebalancing backtest timing) add their own ``bench_*`` function and a
call in :func:`main`.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from quantlab.data import load_sample, sample_symbols
from quantlab.portfolio.optimize import METHODS, optimize
from quantlab.portfolio.rebalance_backtest import backtest_rebalancing
from quantlab.risk.returns import returns_from_prices


def sample_returns() -> pd.DataFrame:
    """Daily returns of the eight bundled pairs where all are listed."""
    return returns_from_prices(load_sample(sample_symbols())["close"])


def synthetic_returns(n_assets: int = 200, n_days: int = 1000, n_factors: int = 5,
                      seed: int = 42) -> pd.DataFrame:
    """Seeded factor-model returns (see the module docstring)."""
    rng = np.random.default_rng(seed)
    fvol = np.linspace(0.02, 0.01, n_factors)
    f = rng.standard_t(5, (n_days, n_factors)) * fvol / np.sqrt(5 / 3)
    b = rng.normal(0.0, 0.3, (n_assets, n_factors))
    b[:, 0] = rng.normal(0.5, 0.5, n_assets)
    ivol = rng.uniform(0.01, 0.04, n_assets)
    e = rng.standard_t(5, (n_days, n_assets)) * ivol / np.sqrt(5 / 3)
    r = f @ b.T + e + rng.normal(0.0003, 0.0003, n_assets)
    idx = pd.date_range("2021-01-01", periods=n_days, freq="D", tz="UTC", name="time")
    return pd.DataFrame(r, index=idx, columns=[f"S{i:03d}" for i in range(n_assets)])


def bench_optimizers(repeat: int = 1) -> list[dict]:
    """Time every optimiser on both universes.

    Returns
    -------
    list of dict
        One row per (universe, method): ``section``, ``universe``, ``method``, ``assets``,
        ``obs``, ``first_s``, ``best_s``, ``max_weight``, ``n_nonzero``.
    """
    rows = []
    synth = synthetic_returns()
    constrained = {"bounds": (0.0, 0.02), "current_weights": np.full(synth.shape[1], 0.005),
                   "max_turnover": 0.3}
    cases = [("sample-8", sample_returns(), {}, METHODS),
             ("synthetic-200", synth, {}, METHODS),
             ("synthetic-200 bounds+turnover", synth, constrained,
              ("min_variance", "max_sharpe", "erc", "hrp", "min_cvar"))]
    for universe, rets, kwargs, methods in cases:
        for method in methods:
            times = []
            for _ in range(max(1, repeat)):
                t0 = time.perf_counter()
                w = optimize(rets, method, cov="sample", **kwargs).weights
                times.append(time.perf_counter() - t0)
            rows.append({"section": "optimizers", "universe": universe, "method": method,
                         "assets": rets.shape[1], "obs": len(rets), "first_s": times[0],
                         "best_s": min(times), "max_weight": float(w.max()),
                         "n_nonzero": int((w.abs() > 1e-6).sum())})
    return rows


def print_table(rows: list[dict]) -> None:
    """Print benchmark rows as a fixed-width table."""
    frame = pd.DataFrame(rows)
    with pd.option_context("display.float_format", "{:.4f}".format, "display.width", 120):
        print(frame.drop(columns="section").to_string(index=False))


def bench_rebalancing(repeat: int = 1) -> dict[str, float]:
    """Time the monthly ERC rebalancing backtest; returns first and best seconds."""
    closes = load_sample(sample_symbols())["close"]
    listed = closes.dropna().index[0]  # every asset listed from here on
    start = closes.index[closes.index.get_loc(listed) + 91]
    times = []
    res = None
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        res = backtest_rebalancing(closes, "monthly", target="erc", lookback=90,
                                   start=start, fees_bps=10.0)
        times.append(time.perf_counter() - t0)
    assert res is not None
    s = res.stats()
    print(f"{closes.shape[1]} assets, {int(s['bars'])} bars {s['start']:%Y-%m-%d} .. "
          f"{s['end']:%Y-%m-%d}, monthly ERC, lookback 90, {s['rebalances']} rebalances")
    print(f"  total_return {s['total_return']:.2%}  turnover/yr {s['turnover_annual']:.2f}  "
          f"fees {s['fees_paid']:.2f}  tracking_error {s['tracking_error']:.2%}")
    print(f"rebalancing backtest: first {times[0]:.3f} s, best of {len(times)} {min(times):.3f} s")
    return {"first": times[0], "best": min(times)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs (the best is reported)")
    args = parser.parse_args()
    rows = bench_optimizers(args.repeat)
    print(f"portfolio optimisers, long-only, sample covariance; seconds: first run, best of "
          f"{max(1, args.repeat)}")
    print_table(rows)
    print()
    bench_rebalancing(args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
