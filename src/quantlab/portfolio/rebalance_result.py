"""The result of :func:`quantlab.portfolio.backtest_rebalancing` (see that module for the
conventions behind each figure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from quantlab._result import Result
from quantlab.backtesting import metrics
from quantlab.portfolio.policies import Policy

__all__ = ["RebalanceBacktestResult"]

_PCT = {"total_return", "cagr", "volatility", "max_drawdown", "turnover", "turnover_annual",
        "tracking_error", "weight_drift_rms", "max_drift", "fees_pct"}


@dataclass(eq=False, repr=False)
class RebalanceBacktestResult(Result):
    """Outcome of :func:`backtest_rebalancing`.

    ``stats()`` holds the headline figures (raw fractions), ``summary()`` shows them as a table
    (``formatted=True`` for display strings), ``plot()`` draws the weights drifting between
    rebalances, the targets and the equity curve.

    Attributes
    ----------
    equity : Series
        Portfolio value at each bar's close (after that bar's trades and fees).
    weights : DataFrame
        Post-trade weights at each close (they drift between rebalances).
    targets : DataFrame
        Target weights on the dates they were (re-)estimated (the first row is the initial
        allocation's target).
    trades : DataFrame
        One row per asset traded: date, symbol, quantity (units, signed), price, notional
        (signed, quantity x price), fee, kind ("initial" or "rebalance").
    rebalances : DatetimeIndex
        Dates on which the policy traded (the initial allocation excluded).
    turnover : Series
        Two-way turnover of each rebalance (|traded notional| / pre-trade equity).
    holdings : DataFrame
        Units held after each bar.
    cash : Series
        Cash after each bar (zero up to rounding: trades keep the portfolio fully invested).
    prices, returns : DataFrame
        Prices and simple returns of the simulated bars.
    policy : Policy
        The resolved policy.
    target_label : str
        The optimizer method, ``"fixed"`` or the callable's name.
    options : dict
        lookback, cov, fees_bps, spread_bps, init_cash and optimizer constraints.
    """

    equity: pd.Series
    weights: pd.DataFrame
    targets: pd.DataFrame
    trades: pd.DataFrame
    rebalances: pd.DatetimeIndex
    turnover: pd.Series
    holdings: pd.DataFrame
    cash: pd.Series
    prices: pd.DataFrame
    returns: pd.DataFrame
    policy: Policy
    target_label: str
    options: dict[str, Any] = field(default_factory=dict)

    _percent: ClassVar[frozenset[str]] = frozenset(_PCT)
    _money: ClassVar[frozenset[str]] = frozenset({"init_cash", "final_equity", "fees_paid"})

    def title(self) -> str:
        return (f"Rebalancing backtest: {self.target_label} target, {self.policy.label()} "
                f"on {', '.join(map(str, self.symbols))}")

    @property
    def symbols(self) -> list[str]:
        """Assets in the portfolio."""
        return list(self.weights.columns)

    @property
    def ppy(self) -> float:
        """Bars per year (365 for daily bars)."""
        return float(metrics.periods_per_year(self.equity.index))

    def target_in_force(self) -> pd.DataFrame:
        """The target weights in force at each bar's close (latest estimate on or before it)."""
        return self.targets.reindex(self.equity.index, method="ffill")

    def tracking(self) -> pd.DataFrame:
        """Daily portfolio return, costless target-portfolio return and their difference.

        The first bar (initial allocation) is excluded.
        """
        tgt_prev = self.target_in_force().shift(1).iloc[1:]
        r_target = (tgt_prev.to_numpy() * self.returns.iloc[1:].to_numpy()).sum(axis=1)
        eq = self.equity.to_numpy()
        r_port = eq[1:] / eq[:-1] - 1.0
        return pd.DataFrame({"portfolio": r_port, "target": r_target,
                             "difference": r_port - r_target}, index=self.equity.index[1:])

    def stats(self) -> pd.Series:
        """Headline statistics (fractions; turnover two-way; durations in days).

        Returns
        -------
        Series
            start, end, bars, init_cash, final_equity, total_return, cagr, volatility, sharpe,
            sortino, max_drawdown, max_drawdown_duration, rebalances, trades, turnover (total),
            turnover_annual, fees_paid (incl. the initial allocation), tracking_error,
            weight_drift_rms, max_drift, policy, target.
        """
        eq = self.equity.to_numpy()
        ppy = self.ppy
        init_cash = float(self.options.get("init_cash", eq[0]))
        es = metrics.equity_stats(eq, init_cash, ppy, 365.0 / ppy)
        years = len(eq) / ppy
        tr = self.tracking()
        te = float(tr["difference"].std(ddof=1) * np.sqrt(ppy)) if len(tr) > 1 else np.nan
        dev = (self.weights - self.target_in_force()).to_numpy()
        total_turnover = float(self.turnover.sum())
        out: dict[str, Any] = {
            "start": self.equity.index[0],
            "end": self.equity.index[-1],
            "bars": len(eq),
            "init_cash": init_cash,
            "final_equity": float(eq[-1]),
        }
        for key in ("total_return", "cagr", "volatility", "sharpe", "sortino", "max_drawdown",
                    "max_drawdown_duration"):
            out[key] = float(np.atleast_1d(es[key])[0])
        out.update({
            "rebalances": len(self.rebalances),
            "trades": len(self.trades),
            "turnover": total_turnover,
            "turnover_annual": total_turnover / years if years > 0 else np.nan,
            "fees_paid": float(self.trades["fee"].sum()),
            "tracking_error": te,
            "weight_drift_rms": float(np.sqrt(np.mean(dev**2))),
            "max_drift": float(np.abs(dev).max()),
            "policy": self.policy.label(),
            "target": self.target_label,
        })
        return pd.Series(out, name="rebalancing", dtype=object)

    def _extra_dict(self) -> dict[str, Any]:
        return {
            "symbols": [str(s) for s in self.symbols],
            "options": dict(self.options),
            "rebalance_dates": [d.isoformat() for d in self.rebalances],
            "last_target": self.targets.iloc[-1] if len(self.targets) else None,
            "final_weights": self.weights.iloc[-1],
        }

    def _figure(self, **kwargs: Any) -> Any:
        """Stacked weights drifting over time, rebalance dates, target boundaries, equity."""
        from quantlab.charts.portfolio import weights_drift_figure

        if kwargs:
            raise TypeError(f"plot() got unexpected arguments: {', '.join(kwargs)}")
        return weights_drift_figure(self.weights, self.rebalances, equity=self.equity,
                                    target=self.targets)
