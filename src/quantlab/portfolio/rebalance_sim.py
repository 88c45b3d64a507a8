"""The rebalancing simulation: events, decisions, fee-inclusive trade sizes, the holdings path.

See :mod:`quantlab.portfolio.rebalance_backtest` for the timing, cost and turnover conventions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from quantlab.portfolio.policies import Policy
from quantlab.portfolio.targets import TargetSpec

__all__ = ["Path", "simulate", "trade_to"]

_FIXED_POINT_ITERATIONS = 60


def trade_to(x: np.ndarray, equity: float, new_w: np.ndarray, rate: float
             ) -> tuple[np.ndarray, float]:
    """Post-trade values ``y = new_w * (equity - fee)`` with ``fee = rate * sum|y - x|``."""
    post = equity
    for _ in range(_FIXED_POINT_ITERATIONS):
        y = new_w * post
        nxt = equity - rate * float(np.abs(y - x).sum())
        if abs(nxt - post) <= 1e-13 * max(abs(equity), 1.0):
            post = nxt
            break
        post = nxt
    y = new_w * post
    return y, rate * float(np.abs(y - x).sum())


@dataclass
class Path:
    """Units and cash after each simulated bar, plus the targets, trades and rebalances."""

    holdings: np.ndarray
    cash: np.ndarray
    targets: list[tuple[pd.Timestamp, np.ndarray]] = field(default_factory=list)
    trades: list[tuple[Any, ...]] = field(default_factory=list)
    rebalance_dates: list[pd.Timestamp] = field(default_factory=list)
    rebalance_turnover: list[float] = field(default_factory=list)


def _events(pol: Policy, sim_index: pd.DatetimeIndex, estimated: bool
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(check mask, estimate mask, bars with anything to do — always including bar 0)."""
    check = pol.check_mask(sim_index)
    est = pol.estimate_mask(sim_index) if estimated else np.zeros(len(sim_index), dtype=bool)
    events = np.flatnonzero(check | est)
    if len(sim_index) and (len(events) == 0 or events[0] != 0):
        events = np.concatenate([[0], events])
    return check, est, events


def _trade_fraction(e: int, check: np.ndarray, pol: Policy, h: np.ndarray, cash: float,
                    p_prev: np.ndarray, tgt: np.ndarray) -> float:
    """How far toward the target bar ``e`` trades (1 for the initial allocation)."""
    if e == 0:
        return 1.0
    if not check[e]:
        return 0.0
    x_prev = h * p_prev
    eq_prev = cash + x_prev.sum()
    if eq_prev <= 0:
        return 0.0
    return pol.decide(x_prev / eq_prev, tgt)


def simulate(used: pd.DataFrame, off: int, pol: Policy, spec: TargetSpec, *, rate: float,
             cash0: float, lookback: int, cov: Any, optimize_kw: dict[str, Any]) -> Path:
    """Run the policy over ``used`` (prices; the simulation starts at row ``off``)."""
    symbols = list(used.columns)
    prices = used.to_numpy()
    rets = used.pct_change(fill_method=None)
    sim_index = used.index[off:]
    n_bars, n = len(sim_index), len(symbols)
    check, est, events = _events(pol, sim_index, spec.needs_window)

    def estimate(j: int) -> np.ndarray:
        return spec.estimate(rets.iloc[j - lookback:j] if spec.needs_window else rets.iloc[:0],
                             used.index[j], cov=cov, **optimize_kw)

    h, cash = np.zeros(n), cash0
    path = Path(holdings=np.empty((n_bars, n)), cash=np.empty(n_bars))
    tgt = spec.payload if spec.kind == "fixed" else None
    last = 0
    for e in events:
        path.holdings[last:e], path.cash[last:e] = h, cash
        last = e
        j, when = off + e, sim_index[e]
        if e == 0 or est[e]:
            tgt = estimate(j)
            path.targets.append((when, tgt))
        k = _trade_fraction(e, check, pol, h, cash, prices[j - 1], tgt)
        if k <= 0.0:
            continue
        h, cash = _rebalance(path, e, when, prices[j], h, cash, k, tgt, rate, symbols)
    path.holdings[last:], path.cash[last:] = h, cash
    return path


def _rebalance(path: Path, e: int, when: pd.Timestamp, p: np.ndarray, h: np.ndarray,
               cash: float, k: float, tgt: np.ndarray, rate: float, symbols: list[Any]
               ) -> tuple[np.ndarray, float]:
    """Trade a fraction ``k`` of the way to ``tgt`` at prices ``p``; record the trades."""
    x = h * p
    equity = cash + float(x.sum())
    if equity <= 0:
        return h, cash
    w_now = x / equity
    y, fee = trade_to(x, equity, w_now + k * (tgt - w_now), rate)
    traded = np.abs(y - x)
    if traded.sum() <= 1e-12 * equity:
        return h, cash
    qty = (y - x) / p
    fee_each = rate * traded
    for i in np.flatnonzero(traded > 1e-12 * equity):
        path.trades.append((when, symbols[i], float(qty[i]), float(p[i]), float(qty[i] * p[i]),
                            float(fee_each[i]), "initial" if e == 0 else "rebalance"))
    if e > 0:
        path.rebalance_dates.append(when)
        path.rebalance_turnover.append(float(traded.sum()) / equity)
    return y / p, equity - fee - float(y.sum())
