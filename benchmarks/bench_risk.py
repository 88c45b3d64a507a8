"""Benchmark: rolling one-step 99 % VaR/ES for every method on the eight-asset sample portfolio.

Equal-weight portfolio of the eight bundled pairs (daily simple returns of closes, rows before
every asset is listed dropped — AVAX starts 2020-09-22), window 250, one forecast per day
(about 1,700 forecasts). Monte Carlo: 10,000 paths per day (multivariate normal, sample
covariance). FHS: GARCH(1,1) refitted with ``arch`` every 20 forecasts, filter with fixed
parameters in between, 10,000 bootstrap paths. Student-t: df refitted every day.
Prints seconds per method and the total (data loading and imports excluded): the first
(cold) run and, with ``--repeat N``, the best of N runs.

    .venv/bin/python benchmarks/bench_risk.py [--repeat N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from quantlab.data import load_sample, sample_symbols
from quantlab.risk.returns import returns_from_prices
from quantlab.risk.rolling import rolling_var
from quantlab.risk.var import METHODS

OPTIONS: dict[str, dict] = {
    "monte_carlo": {"n_paths": 10_000},
    "fhs": {"n_paths": 10_000, "refit_every": 20},
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs (the best is reported)")
    args = parser.parse_args()
    closes = load_sample(sample_symbols())["close"]
    returns = returns_from_prices(closes)  # drops rows with any NaN (before AVAX is listed)
    weights = np.full(returns.shape[1], 1.0 / returns.shape[1])
    print(f"{returns.shape[1]} assets, {len(returns)} daily returns "
          f"{returns.index[0]:%Y-%m-%d} .. {returns.index[-1]:%Y-%m-%d}, window 250, level 0.99")
    best: dict[str, float] = {}
    first: dict[str, float] = {}
    n_forecasts = 0
    for _ in range(max(1, args.repeat)):
        for method in METHODS:
            t0 = time.perf_counter()
            out = rolling_var(returns, method=method, window=250, level=0.99, weights=weights,
                              seed=42, **OPTIONS.get(method, {}))
            dt = time.perf_counter() - t0
            first.setdefault(method, dt)
            best[method] = min(dt, best.get(method, np.inf))
            n_forecasts = len(out.forecasts)
    print(f"{n_forecasts} forecasts per method; seconds: first run, best of {max(1, args.repeat)}")
    for method in METHODS:
        print(f"  {method:<15} {first[method]:7.3f} {best[method]:7.3f}")
    print(f"  {'total':<15} {sum(first.values()):7.3f} {sum(best.values()):7.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
