"""Walk-forward analysis: optimize in-sample, trade the choice out-of-sample, fold after fold.

For each fold a parameter grid is swept over the *train* window (:func:`quantlab.sweep`, so the
batched fast path is used), the best combination by ``metric`` is kept, and that combination is
backtested on the following *test* window (:func:`quantlab.backtest`). The out-of-sample (OOS)
equity curves of the folds are chained into one stitched curve.

Rules
-----
* **Fold plan** (:func:`plan_folds`, a pure function of the bar index): the first test window
  starts right after the first train window; each next one starts ``step`` later (default: the
  test length, so test windows are contiguous). ``step`` may not be shorter than ``test``: test
  windows never overlap. Rolling folds train on the ``train`` bars/duration just before the test
  window; anchored folds train on everything from the first bar. Only complete test windows are
  used; trailing bars that do not fill one are left untested (``WalkForwardResult.untested_bars``).
* **Lengths** are whole numbers of bars (``365``) or durations (``"365D"``, ``pd.Timedelta``,
  ``pd.DateOffset``). A duration window ``[t, t + d)`` holds the bars whose open time is at least
  ``t`` and before ``t + d``; on gap-free daily bars ``"365D"`` and ``365`` give the same folds.
* **Causality / warm-up**: each fold only ever sees data up to the end of the window it runs on:
  the in-sample sweep receives the bars up to the train end, the OOS backtest the bars up to the
  test end. Signals of the OOS run are computed on *all history before the test window* plus the
  window itself (at least ``strategy.warmup()`` bars whenever the history is that long), exactly
  as ``ql.backtest(..., start=test_start, end=test_end)`` does; trading starts at the test window.
* **Flat start**: every OOS run starts from ``init_cash`` in cash with no position, so nothing
  leaks across a fold boundary (a position open at the end of one fold is closed out at its last
  close, marked, and the next fold enters again only on a new signal inside its window).
* **Stitching**: fold ``k``'s equity curve is scaled by the cumulative growth of folds ``0..k-1``,
  so the stitched final value is ``init_cash * prod(1 + fold total return)``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from quantlab._result import Result, format_table
from quantlab._validate import check_choice, check_range
from quantlab.backtesting import metrics
from quantlab.backtesting.engine import backtest, prepare_data
from quantlab.backtesting.options import BacktestOptions
from quantlab.backtesting.result import BacktestResult
from quantlab.backtesting.sweep import (
    LOWER_IS_BETTER,
    SweepResult,
    _as_values,
    _strategy_class,
    sweep,
)
from quantlab.data.timeframes import infer_timeframe
from quantlab.errors import ParameterError
from quantlab.strategies.base import Strategy

__all__ = ["FoldWindow", "WalkForwardFold", "WalkForwardResult", "plan_folds", "walk_forward"]

_OPTION_NAMES = {f.name for f in fields(BacktestOptions)}

Length = int | str | pd.Timedelta | timedelta | pd.DateOffset


# ---------------------------------------------------------------------------- fold planning
@dataclass(frozen=True)
class FoldWindow:
    """Bar positions (``iloc``, end inclusive) and times of one fold's train and test windows."""

    fold: int
    train_lo: int
    train_hi: int
    test_lo: int
    test_hi: int
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp

    @property
    def train_bars(self) -> int:
        """Bars in the train window."""
        return self.train_hi - self.train_lo + 1

    @property
    def test_bars(self) -> int:
        """Bars in the test window."""
        return self.test_hi - self.test_lo + 1


def _length(value: Any, name: str, *, allow_none: bool = False) -> int | pd.Timedelta | pd.DateOffset | None:
    """A window length: a positive whole number of bars, or a positive duration."""
    if value is None and allow_none:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, str):
        text = value.strip()
        try:
            out: Any = pd.Timedelta(text)
        except ValueError:
            try:
                out = pd.tseries.frequencies.to_offset(text)
            except ValueError:
                raise ParameterError(
                    f"{name}={value!r} is not a bar count or a duration (e.g. 365 or '365D')"
                ) from None
        value = out
    if isinstance(value, timedelta) and not isinstance(value, pd.Timedelta):
        value = pd.Timedelta(value)
    if isinstance(value, pd.Timedelta):
        if value <= pd.Timedelta(0):
            raise ParameterError(f"{name}={value!r} must be a positive duration")
        return value
    if isinstance(value, pd.DateOffset):
        probe = pd.Timestamp("2000-01-01")
        if probe + value <= probe:
            raise ParameterError(f"{name}={value!r} must be a positive duration")
        return value
    return int(check_range(value, name, 1, integer=True))


def _advance(index: pd.DatetimeIndex, pos: int, length: Any, bar: pd.Timedelta) -> int | None:
    """Position just past a window of ``length`` starting at bar ``pos`` (None: not complete)."""
    n = len(index)
    if isinstance(length, int):
        end = pos + length
        return end if end <= n else None
    stop = index[pos] + length
    if stop > index[-1] + bar:        # the data ends before the window does
        return None
    return int(index.searchsorted(stop, side="left"))


def _back(index: pd.DatetimeIndex, pos: int, length: Any) -> int:
    """Start position of a window of ``length`` ending just before bar ``pos`` (clipped at 0)."""
    if isinstance(length, int):
        return max(pos - length, 0)
    return int(index.searchsorted(index[pos] - length, side="left"))


def plan_folds(
    index: pd.DatetimeIndex,
    train: Length,
    test: Length,
    step: Length | None = None,
    *,
    anchored: bool = False,
) -> list[FoldWindow]:
    """Train/test windows of a walk-forward analysis over ``index`` (pure; no data needed).

    Parameters
    ----------
    index : DatetimeIndex
        Bar open times, sorted and unique.
    train, test : int or duration
        Window lengths in bars (``365``) or as durations (``"365D"``, ``pd.Timedelta``).
    step : int or duration, optional
        Distance between the starts of consecutive test windows (default: ``test``); must not be
        shorter than ``test`` (test windows never overlap).
    anchored : bool
        Train windows all start at the first bar (expanding) instead of rolling.

    Returns
    -------
    list of FoldWindow
        At least one fold; each train window ends at the bar just before its test window.

    Raises
    ------
    ParameterError
        Non-positive or malformed lengths, ``step`` shorter than ``test``, or too little data for
        one complete fold.
    """
    if not isinstance(index, pd.DatetimeIndex):
        raise ParameterError(f"index must be a DatetimeIndex, got {type(index).__name__}")
    if not isinstance(anchored, bool | np.bool_):
        raise ParameterError(f"anchored={anchored!r} must be True or False")
    train_len = _length(train, "train")
    test_len = _length(test, "test")
    step_len = test_len if step is None else _length(step, "step")
    n = len(index)
    if n < 4:
        raise ParameterError(f"too little data for a walk-forward: {n} bar(s)")
    bar = infer_timeframe(index)
    _check_step(index, test_len, step_len, bar)

    first = _advance(index, 0, train_len, bar)
    if first is None or first >= n:
        raise ParameterError(
            f"train={train!r} leaves no bars to test ({n:,} bars from {index[0]} to {index[-1]})")
    folds: list[FoldWindow] = []
    k = 0
    t0 = index[first]
    pos = first
    while pos < n:
        end = _advance(index, pos, test_len, bar)
        if end is None or end <= pos:
            break
        lo = 0 if anchored else _back(index, pos, train_len)
        if pos - lo < 2 or end - pos < 2:
            raise ParameterError(
                f"fold {k} has fewer than 2 bars in its {'train' if pos - lo < 2 else 'test'} "
                f"window ({index[pos]}); use longer train/test lengths")
        folds.append(FoldWindow(k, lo, pos - 1, pos, end - 1,
                                index[lo], index[pos - 1], index[pos], index[end - 1]))
        k += 1
        if isinstance(step_len, int):
            pos += step_len
        else:
            nxt = int(index.searchsorted(t0 + step_len * k, side="left"))
            pos = max(nxt, end)  # a gap in the data can not make test windows overlap
    if not folds:
        raise ParameterError(
            f"too little data for one fold: train={train!r} + test={test!r} need more than the "
            f"{n:,} bars from {index[0]} to {index[-1]}")
    return folds


def _check_step(index: pd.DatetimeIndex, test: Any, step: Any, bar: pd.Timedelta) -> None:
    """``step`` must not be shorter than ``test`` (compared in bars or as durations)."""
    def as_time(x: Any) -> pd.Timedelta:
        if isinstance(x, int):
            return bar * x
        return (index[0] + x) - index[0]

    shorter = step < test if isinstance(step, int) and isinstance(test, int) else \
        as_time(step) < as_time(test)
    if shorter:
        raise ParameterError(f"step={step!r} is shorter than test={test!r}: test windows would overlap")


# ---------------------------------------------------------------------------- running
@dataclass(repr=False)
class WalkForwardFold:
    """One fold: its windows, the in-sample choice and the out-of-sample backtest.

    Attributes
    ----------
    window : FoldWindow
        Train/test positions and times.
    params : dict
        Parameters chosen in-sample (the swept ones; the others keep the strategy's values).
    is_metric : float
        The chosen combination's ``metric`` on the train window.
    in_sample : SweepResult
        The sweep over the train window.
    oos : BacktestResult
        The chosen parameters backtested on the test window (started flat).
    """

    window: FoldWindow
    params: dict[str, Any]
    is_metric: float
    in_sample: SweepResult
    oos: BacktestResult
    metric: str = "sharpe"

    @property
    def oos_metric(self) -> float:
        """The out-of-sample value of ``metric``."""
        return float(self.oos.stats()[self.metric])

    def __repr__(self) -> str:
        w = self.window
        return (f"<fold {w.fold}: train {w.train_start.date()}..{w.train_end.date()}, "
                f"test {w.test_start.date()}..{w.test_end.date()}, params {self.params}, "
                f"IS {self.metric} {self.is_metric:.4g}, OOS {self.oos_metric:.4g}>")


def _check_grid(cls: type[Strategy], grid: Any) -> dict[str, list[Any]]:
    if not isinstance(grid, Mapping) or not grid:
        raise ParameterError(
            f"grid must be a non-empty dict of parameter -> values (e.g. {{'fast': [5, 10]}}), "
            f"got {grid!r}")
    unknown = [k for k in grid if k not in cls.params]
    if unknown:
        raise ParameterError(
            f"grid: {cls.label()} has no parameter {unknown[0]!r} "
            f"(parameters: {', '.join(cls.params) or 'none'})")
    return {k: _as_values(k, v) for k, v in grid.items()}


def walk_forward(
    strategy: Any,
    data: pd.DataFrame,
    grid: Mapping[str, Iterable[Any] | Any],
    *,
    train: Length,
    test: Length,
    step: Length | None = None,
    metric: str = "sharpe",
    anchored: bool = False,
    constraint: Callable[[dict[str, Any]], bool] | None = None,
    symbol: str | None = None,
    **options: Any,
) -> WalkForwardResult:
    """Walk-forward optimization: sweep ``grid`` in-sample, backtest the best out-of-sample.

    Parameters
    ----------
    strategy : Strategy subclass, instance or str
        The strategy; an instance supplies the values of parameters not in ``grid``.
    data : DataFrame
        OHLCV bars (one frame or a ``(field, symbol)`` panel).
    grid : dict
        Parameter name -> values to search in-sample (as the keyword grids of ``ql.sweep``).
    train, test : int or duration
        Train and test window lengths in bars (``365``) or as durations (``"365D"``).
    step : int or duration, optional
        Distance between consecutive test windows (default ``test``; not shorter than ``test``).
    metric : str
        Statistic the in-sample search optimizes (one of ``quantlab.backtesting.STAT_NAMES``);
        maximized, or minimized for ``max_drawdown``, ``max_drawdown_duration``, ``volatility``
        and ``fees_paid`` (as ``SweepResult.best``).
    anchored : bool
        Train from the first bar every fold (expanding window) instead of a rolling window.
    constraint : callable, optional
        ``constraint(params) -> bool`` filtering grid combinations (as in ``ql.sweep``).
    symbol : str, optional
        Name of the asset for single-frame data.
    **options
        Backtest options (``fees_bps``, ``slippage_bps``, ``init_cash``, ...), used in- and
        out-of-sample.

    Returns
    -------
    WalkForwardResult
        ``.stats()``, ``.summary()`` (one row per fold), ``.plot()``, ``.equity`` (stitched OOS),
        ``.folds[k].oos`` (each fold's :class:`BacktestResult`).

    Examples
    --------
    >>> import quantlab as ql
    >>> wf = ql.walk_forward("sma_cross", ql.load_sample("BTC/USDT"),
    ...                      {"fast": [5, 10, 20], "slow": [50, 100]}, train="365D", test="90D")
    >>> wf.stats()["oos_sharpe"]  # doctest: +SKIP
    """
    cls, base = _strategy_class(strategy)
    values = _check_grid(cls, grid)
    check_choice(metric, "metric", metrics.STAT_NAMES)
    if not isinstance(anchored, bool | np.bool_):
        raise ParameterError(f"anchored={anchored!r} must be True or False")
    clash = sorted(set(options) & set(cls.params))
    if clash:
        raise ParameterError(
            f"{clash[0]} is a parameter of {cls.label()}, not a backtest option: put it in grid")
    unknown = sorted(set(options) - _OPTION_NAMES)
    if unknown:
        raise ParameterError(
            f"unknown backtest option {unknown[0]!r} (options: {', '.join(sorted(_OPTION_NAMES))})")
    opts = BacktestOptions.from_kwargs(**options)
    full = prepare_data(data, symbol)
    bars = full.bars
    windows = plan_folds(bars.index, train, test, step, anchored=bool(anchored))

    strat_arg: Any = strategy if isinstance(strategy, Strategy) else cls
    folds: list[WalkForwardFold] = []
    for w in windows:
        try:
            sw = sweep(strat_arg, bars.iloc[:w.train_hi + 1], constraint=constraint,
                       start=w.train_start, end=w.train_end, progress=False, **values, **options)
            best = sw.best(metric)
        except ParameterError as exc:
            raise ParameterError(
                f"fold {w.fold} (train {w.train_start} to {w.train_end}): {exc}") from None
        chosen = cls(**{**base, **{p: best[p] for p in values}}).values
        params = {p: chosen[p] for p in values}
        oos = backtest(strat_arg, bars.iloc[:w.test_hi + 1], params=params,
                       start=w.test_start, end=w.test_end, symbol=symbol, **options)
        folds.append(WalkForwardFold(w, params, float(best[metric]), sw, oos, metric))

    return WalkForwardResult(
        strategy=cls, metric=metric, anchored=bool(anchored), grid=values, folds=folds,
        options=opts, symbols=list(full.symbols), ppy=full.ppy, bar_days=full.bar_days,
        lengths={"train": train, "test": test, "step": test if step is None else step},
        untested_bars=len(bars) - 1 - windows[-1].test_hi,
    )


def _chain(curves: list[pd.Series], init_cash: float) -> pd.Series:
    """Chain equity curves that each start from ``init_cash`` into one compounded curve."""
    out, scale = [], 1.0
    for eq in curves:
        out.append(eq * scale)
        scale *= float(eq.iloc[-1]) / init_cash
    return pd.concat(out)


# ---------------------------------------------------------------------------- the result
@dataclass(repr=False)
class WalkForwardResult(metrics.EquityCurve, Result):
    """Outcome of :func:`quantlab.walk_forward`.

    ``stats()`` gives the stitched out-of-sample figures and the robustness ratios,
    ``summary()`` one row per fold, ``plot()`` the stitched OOS equity with fold boundaries over
    the in-sample vs out-of-sample metric per fold.

    Attributes
    ----------
    folds : list of WalkForwardFold
        Per fold: ``window``, ``params``, ``is_metric``, ``in_sample`` (SweepResult) and ``oos``
        (BacktestResult).
    metric : str
        The optimized statistic.
    untested_bars : int
        Trailing bars after the last complete test window.
    """

    _base_percent = frozenset({
        "oos_total_return", "oos_cagr", "oos_max_drawdown", "oos_volatility",
        "positive_folds", "param_stability", "benchmark_return",
    })
    _percent = _base_percent

    strategy: type[Strategy]
    metric: str
    anchored: bool
    grid: dict[str, list[Any]]
    folds: list[WalkForwardFold]
    options: BacktestOptions
    symbols: list[str]
    ppy: float
    bar_days: float
    lengths: dict[str, Any]
    untested_bars: int = 0
    _equity: pd.Series | None = field(default=None, init=False)

    # -- series --------------------------------------------------------------------------
    @property
    def params(self) -> list[str]:
        """Names of the searched parameters."""
        return list(self.grid)

    @property
    def equity(self) -> pd.Series:
        """Stitched out-of-sample equity: fold curves chained (each fold started flat)."""
        if self._equity is None:
            self._equity = _chain([f.oos.equity for f in self.folds],
                                  self.options.init_cash).rename("oos_equity")
        return self._equity

    @property
    def benchmark(self) -> pd.Series:
        """Buy-and-hold over the test windows, chained the same way."""
        return _chain([f.oos.benchmark for f in self.folds],
                      self.options.init_cash).rename("buy_and_hold")

    @property
    def chosen(self) -> pd.DataFrame:
        """The parameters chosen in each fold (one row per fold)."""
        return pd.DataFrame([f.params for f in self.folds],
                            index=pd.RangeIndex(len(self.folds), name="fold"))

    @property
    def boundaries(self) -> list[pd.Timestamp]:
        """First bar of each test window."""
        return [f.window.test_start for f in self.folds]

    # -- figures -------------------------------------------------------------------------
    def _metric_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        is_m = np.array([f.is_metric for f in self.folds], float)
        oos_m = np.array([f.oos_metric for f in self.folds], float)
        return is_m, oos_m

    def stats(self) -> pd.Series:
        """Headline figures of the walk-forward (raw numbers).

        Returns
        -------
        Series
            folds; oos_start, oos_end, oos_bars; stitched OOS oos_total_return, oos_cagr,
            oos_volatility, oos_sharpe, oos_sortino, oos_max_drawdown, oos_trades (positions
            opened, summed over folds), benchmark_return (buy-and-hold chained over the test
            windows), positive_folds (fraction of folds with a positive OOS return);
            is_metric_mean and oos_metric_mean (mean of ``metric`` over the folds, NaN folds
            ignored); efficiency_ratio = oos_metric_mean / is_metric_mean (NaN when the
            in-sample mean is 0 or undefined; for lower-is-better metrics a value above 1 means
            worse out of sample); param_stability (fraction of folds whose chosen parameter set
            equals the most frequent one: 1 = the same choice every fold); param_dispersion
            (mean over numeric parameters of the standard deviation of the chosen values across
            folds divided by the width of the grid's range: 0 = stable, NaN without numeric
            parameters).
        """
        eq = self.equity.to_numpy()
        cash = self.options.init_cash
        es = metrics.equity_stats(eq, cash, self.ppy, self.bar_days)
        is_m, oos_m = self._metric_pairs()
        is_mean = _nanmean(is_m)
        oos_mean = _nanmean(oos_m)
        eff = oos_mean / is_mean if math.isfinite(is_mean) and is_mean != 0 and \
            math.isfinite(oos_mean) else np.nan
        fold_ret = np.array([float(f.oos.equity.iloc[-1]) / cash - 1.0 for f in self.folds])
        out: dict[str, Any] = {
            "folds": len(self.folds),
            "oos_start": self.equity.index[0],
            "oos_end": self.equity.index[-1],
            "oos_bars": len(eq),
            "oos_total_return": float(es["total_return"][0]),
            "oos_cagr": float(es["cagr"][0]),
            "oos_volatility": float(es["volatility"][0]),
            "oos_sharpe": float(es["sharpe"][0]),
            "oos_sortino": float(es["sortino"][0]),
            "oos_max_drawdown": float(es["max_drawdown"][0]),
            "oos_trades": int(sum(len(f.oos.trades) for f in self.folds)),
            "benchmark_return": float(self.benchmark.iloc[-1] / cash - 1.0),
            "positive_folds": float((fold_ret > 0).mean()),
            "is_metric_mean": is_mean,
            "oos_metric_mean": oos_mean,
            "efficiency_ratio": float(eff),
            "param_stability": self._param_stability(),
            "param_dispersion": self._param_dispersion(),
        }
        return pd.Series(out, name=self.strategy.label(), dtype=object)

    def _param_stability(self) -> float:
        keys = [tuple(sorted(f.params.items())) for f in self.folds]
        return Counter(keys).most_common(1)[0][1] / len(keys)

    def _param_dispersion(self) -> float:
        spreads = []
        for p, values in self.grid.items():
            grid_vals = [v for v in values if isinstance(v, int | float | np.number)
                         and not isinstance(v, bool | np.bool_)]
            if len(grid_vals) != len(values):
                continue
            width = float(max(grid_vals)) - float(min(grid_vals))
            chosen = np.array([float(f.params[p]) for f in self.folds])
            spreads.append(0.0 if width == 0 else float(chosen.std(ddof=0)) / width)
        return float(np.mean(spreads)) if spreads else np.nan

    def _summary_table(self) -> pd.DataFrame:
        rows = []
        for f in self.folds:
            w = f.window
            s = f.oos.stats()
            rows.append({
                "train_start": w.train_start, "train_end": w.train_end,
                "test_start": w.test_start, "test_end": w.test_end,
                **f.params,
                "is_metric": f.is_metric,
                "oos_metric": float(s[self.metric]),
                "oos_total_return": float(s["total_return"]),
                "oos_max_drawdown": float(s["max_drawdown"]),
                "oos_trades": int(s["trades"]),
            })
        return pd.DataFrame(rows, index=pd.RangeIndex(len(rows), name="fold"))

    def summary(self, formatted: bool = False) -> pd.DataFrame:
        """One row per fold: windows, chosen parameters, IS and OOS metric, OOS return/drawdown/trades.

        ``is_metric``/``oos_metric`` are the optimized ``metric`` (shown as percentages when it
        is a fraction such as ``total_return``); ``formatted=True`` gives display strings.
        """
        table = self._summary_table()
        if not formatted:
            return table
        pct = set(self._percent)
        if self.metric in metrics.PERCENT_STATS:
            pct |= {"is_metric", "oos_metric"}
        return format_table(table, pct, self._money)

    def title(self) -> str:
        """``Walk-forward of sma_cross on BTC/USDT: 8 folds (rolling, train 365D, test 90D), by sharpe``."""
        kind = "anchored" if self.anchored else "rolling"
        ln = self.lengths
        return (f"Walk-forward of {self.strategy.label()} on {', '.join(self.symbols)}: "
                f"{len(self.folds)} folds ({kind}, train {ln['train']}, test {ln['test']}), "
                f"by {self.metric}")

    def _extra_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy.label(),
            "symbols": self.symbols,
            "metric": self.metric,
            "lower_is_better": self.metric in LOWER_IS_BETTER,
            "anchored": self.anchored,
            "lengths": {k: str(v) for k, v in self.lengths.items()},
            "grid": self.grid,
            "untested_bars": self.untested_bars,
            "options": self.options.to_dict(),
            "folds": [{"fold": f.window.fold, "params": f.params,
                       "is_metric": f.is_metric, "oos_stats": f.oos.stats()} for f in self.folds],
        }

    def _figure(self, log: bool = False) -> Any:
        from quantlab.charts.walk_forward import walk_forward_figure

        is_m, oos_m = self._metric_pairs()
        return walk_forward_figure(self.equity, self.boundaries, is_m, oos_m,
                                   metric=self.metric, benchmark=self.benchmark,
                                   title=self.title(), log=log)

    def plot(self, log: bool = False) -> Any:
        """Stitched OOS equity (with buy-and-hold) and fold boundaries; IS vs OOS metric per fold.

        Parameters
        ----------
        log : bool
            Log-scale equity axis.
        """
        return self._figure(log=log)


def _nanmean(a: np.ndarray) -> float:
    a = a[np.isfinite(a)]
    return float(a.mean()) if len(a) else np.nan
