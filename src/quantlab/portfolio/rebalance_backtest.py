"""Backtest of a rebalanced multi-asset portfolio: drift, policy-driven trades, fees, tracking error.

The pieces: :mod:`~quantlab.portfolio.rebalance_inputs` (checked prices and window),
:mod:`~quantlab.portfolio.targets` (fixed, optimised or callable targets),
:mod:`~quantlab.portfolio.rebalance_sim` (the simulation loop) and
:mod:`~quantlab.portfolio.rebalance_result` (the result object).

Conventions
-----------
Timing (close-to-close, no lookahead)
    The decision for bar *t* uses data up to bar *t-1*'s close only: the target is re-estimated
    from the simple returns of bars ``t-lookback .. t-1`` and the drift check compares the
    weights at *t-1*'s close with that target. Trades are filled at bar *t*'s **close**
    (a market-on-close order placed one bar ahead). Sizes are computed from the pre-trade
    holdings valued at *t*'s close, so after a full rebalance the weights equal the target
    exactly at *t*'s close. The first simulated bar invests ``init_cash`` at the target (the
    *initial allocation*: it pays fees but is not counted as a rebalance nor in turnover).
Costs
    Each trade pays ``fees_bps + spread_bps / 2`` basis points of its notional: ``spread_bps``
    is the full quoted bid-ask spread, of which every buy or sell crosses half. Costs are
    deducted from cash; the fill price itself is the close. Trade sizes solve
    ``sum(new values) + fees = equity`` (a short fixed-point iteration), so the portfolio stays
    fully invested with (numerically) zero cash. Units are fractional.
Turnover
    Two-way: ``sum |traded notional| / pre-trade equity`` per rebalance (a full switch from one
    asset to another is 2.0). ``turnover`` is the total over the backtest, ``turnover_annual``
    that total divided by the number of years simulated.
Tracking error
    Annualized standard deviation (ddof=1) of the difference between the portfolio's daily
    return and the return of a costless portfolio that holds the prevailing target weights
    rebalanced every bar (the target in force for bar *t*'s return is the latest one estimated
    on or before *t-1*). ``weight_drift_rms`` is the root-mean-square over all bars and assets of
    the post-trade weight minus the target in force; ``max_drift`` the largest absolute one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from quantlab._validate import check_range
from quantlab.errors import ParameterError
from quantlab.portfolio.allocation import OptimizeResult
from quantlab.portfolio.policies import Policy, resolve_policy
from quantlab.portfolio.rebalance_inputs import check_nonneg, check_prices, simulation_window
from quantlab.portfolio.rebalance_result import RebalanceBacktestResult
from quantlab.portfolio.rebalance_sim import Path, simulate
from quantlab.portfolio.targets import target_spec

__all__ = ["RebalanceBacktestResult", "backtest_rebalancing"]


def backtest_rebalancing(
    prices: pd.DataFrame,
    policy: str | Policy = "monthly",
    *,
    target: str | Mapping[str, float] | OptimizeResult | Callable[[pd.DataFrame], Any] = "erc",
    lookback: int = 90,
    cov: str = "sample",
    bands: float | None = None,
    cost_aware: bool = False,
    fees_bps: float = 10.0,
    spread_bps: float = 0.0,
    init_cash: float = 10_000.0,
    start: Any = None,
    end: Any = None,
    **optimize_kw: Any,
) -> RebalanceBacktestResult:
    """Simulate a portfolio rebalanced to a (re-estimated) target under a rebalancing policy.

    Parameters
    ----------
    prices : DataFrame
        Close prices, one column per symbol (a ``(field, symbol)`` panel is accepted: its
        ``close`` field is used). Every price used must be present: missing prices before an
        asset is listed raise an error naming the first valid ``start``.
    policy : {"monthly", "weekly", "daily", "threshold", "cost_aware"} or Policy
        When to check, re-estimate and trade (see :mod:`quantlab.portfolio.policies`).
    target : str, mapping, OptimizeResult or callable
        An :func:`quantlab.portfolio.optimize.optimize` method (``"erc"``, ``"equal"``,
        ``"inverse_vol"``, ``"min_variance"``, ``"max_sharpe"``, ``"hrp"``, ``"min_cvar"``),
        fixed weights (symbol -> weight, summing to 1, or an :class:`OptimizeResult`, whose
        ``.weights`` are used), or ``callable(returns_window)`` returning weights
        (Series/mapping/sequence in column order, or an OptimizeResult).
    lookback : int
        Bars of returns used to re-estimate the target (bars ``t-lookback .. t-1``); ignored
        for fixed weights.
    cov : str
        Covariance estimator passed to ``optimize`` (``"sample"``, ``"ledoit_wolf"``, ``"ewma"``).
    bands : float, optional
        Override the policy's drift band (e.g. ``"monthly"`` with ``bands=0.02`` trades on
        month starts only when some weight is more than 2 points off target).
    cost_aware : bool
        Trade only to the band edge instead of back to target (needs a band).
    fees_bps, spread_bps : float
        Fee and full bid-ask spread in basis points; each trade pays ``fees + spread/2``.
    init_cash : float
        Starting capital.
    start, end : date-like, optional
        First and last simulated bar (inclusive). Without ``start`` the simulation begins at the
        first bar with a full ``lookback`` window (bar 0 for fixed weights).
    **optimize_kw
        Extra options passed to ``optimize`` (e.g. ``bounds=(0, 0.4)``).

    Returns
    -------
    RebalanceBacktestResult

    Raises
    ------
    ParameterError
        Unknown policy, negative fees, bad lookback/dates/target.
    DataError
        Missing or non-positive prices, or too little data for ``lookback``.
    """
    pol = resolve_policy(policy, bands=bands, cost_aware=cost_aware)
    fees = check_nonneg(fees_bps, "fees_bps")
    spread = check_nonneg(spread_bps, "spread_bps")
    cash0 = check_range(init_cash, "init_cash", 0, open_low=True, coerce=True)
    if isinstance(lookback, bool) or not isinstance(lookback, int | np.integer) or lookback < 2:
        raise ParameterError(f"lookback={lookback!r} must be a whole number of bars >= 2")
    lookback = int(lookback)
    if not isinstance(cov, str):
        raise ParameterError(f"cov={cov!r} must be a covariance estimator name such as 'sample'")
    px = check_prices(prices)
    spec = target_spec(target, px.columns)
    warm = lookback + 1 if spec.needs_window else 0  # prices needed before the first bar
    used, off = simulation_window(px, start, end, warm, lookback)
    path = simulate(used, off, pol, spec, rate=(fees + spread / 2.0) / 1e4, cash0=cash0,
                    lookback=lookback, cov=cov, optimize_kw=optimize_kw)
    options = {"lookback": lookback if spec.needs_window else None,
               "cov": cov if spec.kind == "method" else None, "fees_bps": fees,
               "spread_bps": spread, "init_cash": cash0, **optimize_kw}
    return _result(used, off, path, pol, spec.label, options)


def _result(used: pd.DataFrame, off: int, path: Path, pol: Policy, label: str,
            options: dict[str, Any]) -> RebalanceBacktestResult:
    """Frames of the simulated path."""
    sim_index = used.index[off:]
    columns = used.columns
    values = path.holdings * used.to_numpy()[off:]
    equity = path.cash + values.sum(axis=1)
    targets = pd.DataFrame(np.array([t for _, t in path.targets]).reshape(-1, len(columns)),
                           index=pd.DatetimeIndex([d for d, _ in path.targets],
                                                  name=sim_index.name),
                           columns=columns)
    trades = pd.DataFrame(path.trades, columns=["date", "symbol", "quantity", "price",
                                                "notional", "fee", "kind"])
    trades = trades.astype({"quantity": "float64", "price": "float64", "notional": "float64",
                            "fee": "float64"})
    rebalances = pd.DatetimeIndex(path.rebalance_dates, name="date")
    if sim_index.tz is not None and len(rebalances) == 0:
        rebalances = rebalances.tz_localize(sim_index.tz)
    return RebalanceBacktestResult(
        equity=pd.Series(equity, index=sim_index, name="equity"),
        weights=pd.DataFrame(values / equity[:, None], index=sim_index, columns=columns),
        targets=targets, trades=trades, rebalances=rebalances,
        turnover=pd.Series(path.rebalance_turnover, index=rebalances, name="turnover",
                           dtype="float64"),
        holdings=pd.DataFrame(path.holdings, index=sim_index, columns=columns),
        cash=pd.Series(path.cash, index=sim_index, name="cash"),
        prices=used.iloc[off:], returns=used.pct_change(fill_method=None).iloc[off:],
        policy=pol, target_label=label, options=options)
