"""The result of one backtest: equity, trades, fills, statistics and a plotly figure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from quantlab._result import Result
from quantlab._util import format_stat, to_jsonable
from quantlab.backtesting import metrics
from quantlab.backtesting.options import BacktestOptions
from quantlab.backtesting.prepared import PreparedData
from quantlab.backtesting.records import orders_table, rejected_table, trades_table
from quantlab.backtesting.simulation import SimRun
from quantlab.errors import ParameterError
from quantlab.strategies.base import Signals, Strategy, TargetWeights

__all__ = ["BacktestResult"]

@dataclass(repr=False)
class BacktestResult(metrics.EquityCurve, Result):
    """Outcome of :func:`quantlab.backtest`.

    Attributes
    ----------
    strategy : Strategy
        The strategy instance that produced the signals.
    options : BacktestOptions
        Fill, fee, sizing and stop settings.
    equity : Series
        Portfolio value at each bar's close (cash + positions marked to close).
    cash : Series
        Cash at each bar's close.
    positions : DataFrame
        Units held per symbol at each bar's close.
    trades : DataFrame
        One row per position opened (symbol, direction, entry/exit time and price, size, pnl,
        return, fees, status); still-open positions are marked at the last close.
    orders : DataFrame
        Every fill (time, symbol, side, size, price, notional, fee, reason: signal,
        stop_loss, take_profit, trailing_stop, liquidation, rebalance, limit_entry, stop_entry).
    rejected : DataFrame
        Orders refused by the exchange rules or for lack of buying power (time, symbol, side,
        size, price, notional, reason); empty when none were.
    benchmark : Series
        Buy-and-hold equity of the same capital (equal weight across symbols).
    prices : DataFrame
        Close prices by symbol.
    signals : Signals or TargetWeights
        The strategy output the backtest traded.
    records : ndarray
        The simulator's raw order records (``quantlab.backtesting.sim.kernel.REC_*`` fields).
    """

    strategy: Strategy
    options: BacktestOptions
    equity: pd.Series
    cash: pd.Series
    positions: pd.DataFrame
    trades: pd.DataFrame
    orders: pd.DataFrame
    benchmark: pd.Series
    prices: pd.DataFrame
    signals: Signals | TargetWeights
    ppy: float
    bar_days: float
    rejected: pd.DataFrame = field(default_factory=pd.DataFrame)
    records: np.ndarray = field(repr=False, default_factory=lambda: np.empty((0, 10)))

    _percent = metrics.PERCENT_STATS
    _money = frozenset({"init_cash", "final_equity", "fees_paid"})

    @classmethod
    def from_simulation(
        cls,
        run: SimRun,
        strategy: Strategy,
        pdata: PreparedData,
        opts: BacktestOptions,
        signals: Signals | TargetWeights,
    ) -> BacktestResult:
        """Build a result from the simulator's output (:func:`~.simulation.simulate_output`)."""
        index = pdata.close.index
        symbols = list(pdata.symbols)
        close = pdata.close.to_frame() if isinstance(pdata.close, pd.Series) else pdata.close.copy()
        close.columns = symbols
        last_close = close.ffill().iloc[-1].to_numpy()
        return cls(
            strategy=strategy,
            options=opts,
            equity=pd.Series(run.equity, index=index, name="equity"),
            cash=pd.Series(run.cash, index=index, name="cash"),
            positions=pd.DataFrame(run.positions, index=index, columns=symbols),
            trades=trades_table(run.records, index, symbols, last_close, run.positions[-1]),
            orders=orders_table(run.records, index, symbols),
            benchmark=_buy_and_hold(close, opts.init_cash),
            prices=close,
            signals=signals,
            ppy=pdata.ppy,
            bar_days=pdata.bar_days,
            rejected=rejected_table(run.records, index, symbols),
            records=run.records,
        )

    def to_vectorbt(self) -> Any:
        """The same fills as a ``vectorbt.Portfolio``, for its analytics (needs vectorbt).

        Built from this backtest's order records (not re-simulated by vectorbt), so its
        ``value()`` equals :attr:`equity`.
        """
        try:
            import vectorbt as vbt
            from vectorbt.portfolio.enums import log_dt, order_dt
        except ImportError as exc:  # pragma: no cover - the dev extra installs vectorbt
            raise ParameterError("to_vectorbt() needs vectorbt: pip install \"quantlab[vectorbt]\"") from exc
        from quantlab.backtesting.sim import kernel

        rec = self.records[self.records[:, kernel.REC_STATUS] == kernel.STATUS_FILLED]
        rec = rec[np.lexsort((rec[:, kernel.REC_BAR], rec[:, kernel.REC_COL]))]
        orders = np.zeros(len(rec), dtype=order_dt)
        orders["id"] = np.arange(len(rec))
        orders["col"] = rec[:, kernel.REC_COL].astype(np.int64)
        orders["idx"] = rec[:, kernel.REC_BAR].astype(np.int64)
        orders["size"] = rec[:, kernel.REC_SIZE]
        orders["price"] = rec[:, kernel.REC_PRICE]
        orders["fees"] = rec[:, kernel.REC_FEE]
        orders["side"] = np.where(rec[:, kernel.REC_SIDE] > 0, 0, 1)
        n = self.prices.shape[1]
        shared = n > 1 and (isinstance(self.signals, TargetWeights) or self.options.allocation == "shared")
        grouped = n > 1
        wrapper = vbt.ArrayWrapper.from_obj(self.prices, freq=pd.Timedelta(days=self.bar_days),
                                            group_by=True if grouped else None)
        init_cash = self.options.init_cash if (shared or not grouped) else self.options.init_cash / n
        return vbt.Portfolio(
            wrapper, self.prices, orders, np.zeros(0, dtype=log_dt),
            init_cash=np.full(1 if shared else n, init_cash) if grouped else init_cash,
            cash_sharing=shared, call_seq=np.zeros(self.prices.shape, dtype=np.int64))

    # -- derived series -----------------------------------------------------------------
    @property
    def symbols(self) -> list[str]:
        """Symbols traded."""
        return list(self.prices.columns)

    # -- statistics ---------------------------------------------------------------------
    def stats(self) -> pd.Series:
        """Headline statistics (fractions; durations in days).

        Returns
        -------
        Series
            total_return, cagr, volatility, sharpe, sortino, calmar, max_drawdown,
            max_drawdown_duration (days), win_rate, profit_factor, exposure (fraction of bars
            with a position), trades (positions opened), fees_paid, plus start, end,
            init_cash, final_equity, benchmark_return, open_trades, best_trade, worst_trade,
            avg_trade_return.
        """
        eq = self.equity.to_numpy()
        es = metrics.equity_stats(eq, self.options.init_cash, self.ppy, self.bar_days)
        t = self.trades
        ts = metrics.trade_stats(t["pnl"].to_numpy(), (t["status"] == "closed").to_numpy(),
                                 np.zeros(len(t), dtype=np.int64), 1)
        exposure = float((self.positions.abs() > 0).any(axis=1).mean())
        values: dict[str, Any] = {k: float(v[0]) for k, v in es.items()}
        values.update({
            "win_rate": float(ts["win_rate"][0]),
            "profit_factor": float(ts["profit_factor"][0]),
            "exposure": exposure,
            "trades": len(t),
            "fees_paid": float(self.orders["fee"].sum()),
        })
        out = {name: values[name] for name in metrics.STAT_NAMES}
        closed = t[t["status"] == "closed"]
        out.update({
            "start": self.equity.index[0],
            "end": self.equity.index[-1],
            "init_cash": float(self.options.init_cash),
            "final_equity": float(eq[-1]),
            "benchmark_return": float(self.benchmark.iloc[-1] / self.options.init_cash - 1.0),
            "open_trades": int((t["status"] == "open").sum()),
            "best_trade": float(closed["return"].max()) if len(closed) else np.nan,
            "worst_trade": float(closed["return"].min()) if len(closed) else np.nan,
            "avg_trade_return": float(closed["return"].mean()) if len(closed) else np.nan,
        })
        return pd.Series(out, name=self.strategy.label(), dtype=object)

    def _summary_table(self) -> pd.DataFrame:
        return self.stats().to_frame("value")

    def summary(self, formatted: bool = False) -> pd.DataFrame:
        """Statistics as a one-column DataFrame (``formatted=True``: display strings)."""
        table = self._summary_table()
        if formatted:
            return pd.DataFrame({"value": [_fmt(k, v) for k, v in table["value"].items()]},
                                index=table.index)
        return table

    def title(self) -> str:
        """``SmaCross(fast=10, slow=50) on BTC/USDT``."""
        return f"{self.strategy!r} on {', '.join(self.symbols)}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary: every statistic at top level plus strategy, params, symbols and options."""
        out: dict[str, Any] = {"type": type(self).__name__, "title": self.title()}
        out.update({k: to_jsonable(v) for k, v in self.stats().items()})
        out.update({
            "strategy": self.strategy.label(),
            "params": to_jsonable(self.strategy.values),
            "symbols": self.symbols,
            "options": to_jsonable(self.options.to_dict()),
        })
        return out

    # -- display ------------------------------------------------------------------------
    def _figure(self, log: bool = False) -> Any:
        """Plotly figure: price with trade markers, equity vs buy-and-hold, drawdown."""
        from quantlab.charts.backtest import backtest_figure

        return backtest_figure(self.prices, self.orders, self.equity, self.benchmark, self.drawdown,
                               title=self.title(), log=log)

    def plot(self, log: bool = False) -> Any:
        """Plotly figure: price with trade markers, equity vs buy-and-hold, drawdown.

        Parameters
        ----------
        log : bool
            Log-scale price and equity axes.
        """
        return self._figure(log=log)


def _buy_and_hold(close: pd.DataFrame, init_cash: float) -> pd.Series:
    first = close.bfill().iloc[0]
    rel = (close.ffill() / first).fillna(1.0)
    return (rel.mean(axis=1) * init_cash).rename("buy_and_hold")


def _fmt(key: str, value: Any) -> str:
    return format_stat(key, value, metrics.PERCENT_STATS)
