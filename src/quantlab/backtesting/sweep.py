"""Parameter sweeps: every combination of a grid through the same simulator as ``backtest``.

:func:`sweep` builds the valid combinations, scores them with
:func:`quantlab.backtesting.scoring.score_runs` (in this process, or in partitions on a Dask
cluster via :mod:`quantlab.backtesting.distributed`) and wraps the table in a
:class:`SweepResult`.
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from quantlab._result import Result
from quantlab._util import to_jsonable
from quantlab._validate import check_range
from quantlab.backtesting import metrics
from quantlab.backtesting.distributed import check_scheduler
from quantlab.backtesting.options import BacktestOptions
from quantlab.backtesting.prepared import prepare_data, slice_period
from quantlab.backtesting.scoring import score_runs
from quantlab.errors import ParameterError
from quantlab.strategies.base import Strategy

__all__ = ["SweepResult", "grid_runs", "score_runs", "sweep"]

#: Metrics where smaller is better (``best`` minimizes them).
LOWER_IS_BETTER = {"max_drawdown", "max_drawdown_duration", "volatility", "fees_paid"}
_OPTION_NAMES = {f.name for f in fields(BacktestOptions)}


def _strategy_class(strategy: Any) -> tuple[type[Strategy], dict[str, Any]]:
    if isinstance(strategy, Strategy):
        return type(strategy), strategy.values
    if isinstance(strategy, str):
        from quantlab.strategies import get_strategy

        strategy = get_strategy(strategy)
    if isinstance(strategy, type) and issubclass(strategy, Strategy):
        return strategy, {}
    raise ParameterError(f"strategy must be a Strategy class or name, got {type(strategy).__name__}")


def _as_values(name: str, value: Any) -> list[Any]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        return [value]
    values = list(value)
    if not values:
        raise ParameterError(f"sweep range for {name} is empty")
    return values


def grid_runs(
    cls: type[Strategy],
    base: Mapping[str, Any],
    grid: Mapping[str, list[Any]],
    constraint: Callable[[dict[str, Any]], bool] | None,
) -> tuple[list[Strategy], int]:
    """Strategy instances for every combination of ``grid`` over ``base`` values.

    Returns the valid runs and how many were skipped (by ``constraint`` or the strategy's own
    validation, e.g. ``fast >= slow``). Used by sweeps and by the promote gates.
    """
    names = list(grid)
    out: list[Strategy] = []
    rejected = 0
    for combo in itertools.product(*(grid[n] for n in names)):
        values = dict(zip(names, combo, strict=True))
        if constraint is not None and not constraint(values):
            rejected += 1
            continue
        try:
            out.append(cls(**{**base, **values}))
        except ParameterError:
            # Invalid by the strategy's own rules (e.g. fast >= slow): not a combination.
            rejected += 1
    return out, rejected


class _NoBar:
    """Stand-in for a disabled tqdm bar (tqdm.auto costs ~70 ms to import)."""

    def update(self, n: int = 1) -> None:
        """Ignore progress."""

    def close(self) -> None:
        """Nothing to close."""


def _progress_bar(total: int, desc: str, show: bool) -> Any:
    if not show:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="run", file=sys.stderr)


def sweep(
    strategy: Any,
    data: pd.DataFrame,
    *,
    constraint: Callable[[dict[str, Any]], bool] | None = None,
    start: Any = None,
    end: Any = None,
    chunk_size: int = 1000,
    progress: bool | None = None,
    scheduler: str = "local",
    address: str | None = None,
    workers: int | None = None,
    **grid_and_options: Any,
) -> SweepResult:
    """Backtest every combination of a parameter grid.

    Parameters
    ----------
    strategy : Strategy subclass, instance or str
        The strategy; an instance supplies the values of parameters not in the grid.
    data : DataFrame
        OHLCV bars (one frame or a panel).
    constraint : callable, optional
        ``constraint(params) -> bool``; combinations for which it is False are skipped.
        Combinations the strategy itself rejects (e.g. ``fast >= slow``) are always skipped.
    start, end : date-like, optional
        Trading period (signals use earlier bars for warm-up).
    chunk_size : int
        Combinations whose signals are held in memory at once (bounds memory; the fused
        ``sma_cross`` path holds none and uses it only for progress updates).
    progress : bool, optional
        Show a progress bar on stderr (default: when stderr is a terminal and the sweep is large).
    scheduler : {"local", "dask"}
        Score the combinations in this process, or in partitions on a Dask cluster
        (:mod:`quantlab.backtesting.distributed`, needs ``pip install "quantlab[dask]"``); the
        table is the same either way.
    address : str, optional
        With ``scheduler="dask"``: a running Dask scheduler (``"tcp://host:8786"``) whose
        workers have quantlab installed. Without it, a local cluster of ``workers`` processes
        is started for the sweep and closed afterwards (in a script, call the sweep under
        ``if __name__ == "__main__":``).
    workers : int, optional
        With ``scheduler="dask"`` and no address: worker processes of the local cluster
        (default 2).
    **grid_and_options
        Strategy parameters as iterables (``fast=range(2, 101)``) or scalars, and backtest
        options (``fees_bps=10``...) as in :func:`quantlab.backtest`.

    Returns
    -------
    SweepResult
        ``.table`` of metrics per combination, ``.best(metric)``, ``.heatmap(x, y, metric)``.
    """
    started = time.perf_counter()
    cls, base = _strategy_class(strategy)
    # Strategy parameters win a name clash with backtest options (e.g. the vol-target overlay's
    # ``target_vol``): they are what a sweep varies.
    is_option = {k: k in _OPTION_NAMES and k not in cls.params for k in grid_and_options}
    options = {k: v for k, v in grid_and_options.items() if is_option[k]}
    grid_in = {k: v for k, v in grid_and_options.items() if not is_option[k]}
    unknown = sorted(set(grid_in) - set(cls.params))
    if unknown:
        raise ParameterError(
            f"{cls.label()} has no parameter {unknown[0]!r} "
            f"(parameters: {', '.join(cls.params) or 'none'})"
        )
    if not grid_in:
        raise ParameterError("give at least one parameter range to sweep, e.g. fast=range(2, 50)")
    chunk_size = check_range(chunk_size, "chunk_size", 1, integer=True)
    scheduler, address, workers = check_scheduler(scheduler, address, workers)
    grid = {k: _as_values(k, v) for k, v in grid_in.items()}
    opts = BacktestOptions.from_kwargs(**options)
    runs, rejected = grid_runs(cls, base, grid, constraint)
    if not runs:
        raise ParameterError("no valid parameter combination in the grid")

    full = prepare_data(data)
    if cls.multi_asset and not full.is_panel:
        raise ParameterError(f"{cls.label()} needs several symbols (a panel), got one asset")
    rows = slice(None)
    if start is not None or end is not None:
        bars = slice_period(full.bars, start, end)
        i0 = full.bars.index.get_indexer([bars.index[0]])[0]
        rows = slice(i0, i0 + len(bars))
        pdata = prepare_data(bars, full.symbols[0] if not full.is_panel else None)
    else:
        pdata = full
    show = progress if progress is not None else (len(runs) > 200 and sys.stderr.isatty())
    bar = _progress_bar(len(runs), f"sweep {cls.label()}", show)
    try:
        # -- scoring: in this process, or partitions of `runs` on a Dask cluster ------------
        if scheduler == "dask":
            from quantlab.backtesting.distributed import score_on_dask

            scores = score_on_dask(runs, full, pdata, rows, opts, chunk_size,
                                   address=address, workers=workers, on_progress=bar.update)
        else:
            scores = score_runs(runs, full, pdata, rows, opts, chunk_size, on_progress=bar.update)
    finally:
        bar.close()

    names = list(grid)
    index = pd.MultiIndex.from_tuples([tuple(s.values[n] for n in names) for s in runs], names=names) \
        if len(names) > 1 else pd.Index([s.values[names[0]] for s in runs], name=names[0])
    table = pd.DataFrame(scores, columns=list(metrics.STAT_NAMES), index=index)
    table["trades"] = table["trades"].astype("int64")
    return SweepResult(
        strategy=cls, base_params=base, grid=grid, table=table, options=opts,
        symbols=list(pdata.symbols), rejected=rejected,
        elapsed=time.perf_counter() - started,
    )


@dataclass(repr=False)
class SweepResult(Result):
    """Metrics of every combination of a parameter sweep.

    ``stats()`` gives the headline figures, ``summary()`` the ten best combinations by Sharpe,
    ``describe()`` each metric's distribution, ``plot()``/``heatmap()`` a metric over two
    parameters.

    Attributes
    ----------
    table : DataFrame
        One row per valid combination (indexed by the swept parameters), one column per metric
        of :data:`quantlab.backtesting.metrics.STAT_NAMES`.
    rejected : int
        Combinations skipped by the constraint or the strategy's own validation.
    elapsed : float
        Wall-clock seconds of the sweep.
    """

    _percent = metrics.PERCENT_STATS | {"best_total_return", "share_positive_return"}

    strategy: type[Strategy]
    base_params: dict[str, Any]
    grid: dict[str, list[Any]]
    table: pd.DataFrame
    options: BacktestOptions
    symbols: list[str]
    rejected: int
    elapsed: float

    @property
    def params(self) -> list[str]:
        """Names of the swept parameters."""
        return list(self.grid)

    def _check_metric(self, metric: str) -> None:
        if metric not in self.table.columns:
            raise ParameterError(
                f"unknown metric {metric!r} (metrics: {', '.join(self.table.columns)})"
            )

    def best(self, metric: str = "sharpe", n: int = 1) -> pd.Series | pd.DataFrame:
        """Best combination(s) by ``metric`` (maximized, or minimized for drawdown/volatility/fees).

        Returns a Series (parameters and metrics) for ``n=1``, else the top ``n`` rows.
        """
        self._check_metric(metric)
        valid = self.table[self.table[metric].notna()]
        if valid.empty:
            raise ParameterError(f"metric {metric!r} is undefined for every combination")
        ranked = valid.sort_values(metric, ascending=metric in LOWER_IS_BETTER, kind="stable")
        top = ranked.head(n).reset_index()
        return top.iloc[0] if n == 1 else top

    def heatmap(self, x: str | None = None, y: str | None = None, metric: str = "sharpe",
                agg: str = "max") -> Any:
        """Plotly heatmap of ``metric`` over two swept parameters (others aggregated by ``agg``)."""
        from quantlab.charts.sweep import heatmap_figure

        x = x or self.params[0]
        y = y or (self.params[1] if len(self.params) > 1 else None)
        for name in (x, y):
            if name is not None and name not in self.params:
                raise ParameterError(f"{name!r} is not a swept parameter ({', '.join(self.params)})")
        self._check_metric(metric)
        return heatmap_figure(self.table, x, y, metric, agg=agg,
                              title=f"{self.strategy.label()} on {', '.join(self.symbols)}: {metric}")

    def _figure(self, metric: str = "sharpe") -> Any:
        return self.heatmap(metric=metric)

    def plot(self, metric: str = "sharpe") -> Any:
        """Heatmap of ``metric`` over the first two swept parameters."""
        return self._figure(metric=metric)

    def stats(self) -> pd.Series:
        """Headline figures of the sweep (raw numbers).

        Returns
        -------
        Series
            combinations, rejected, elapsed_seconds, best_sharpe and the parameters that
            reach it (``best_<param>``), best_total_return, median_sharpe,
            share_positive_return (fraction of combinations that made money).
        """
        t = self.table
        out: dict[str, Any] = {
            "combinations": len(t),
            "rejected": int(self.rejected),
            "elapsed_seconds": float(self.elapsed),
        }
        sharpe = t["sharpe"].replace([np.inf, -np.inf], np.nan)
        if sharpe.notna().any():
            best = self.best("sharpe")
            out["best_sharpe"] = float(best["sharpe"])
            out.update({f"best_{p}": best[p] for p in self.params})
        else:
            out["best_sharpe"] = np.nan
        out["best_total_return"] = float(t["total_return"].max()) if len(t) else np.nan
        out["median_sharpe"] = float(sharpe.median()) if len(t) else np.nan
        out["share_positive_return"] = float((t["total_return"] > 0).mean()) if len(t) else np.nan
        return pd.Series(out, name=self.strategy.label(), dtype=object)

    def describe(self) -> pd.DataFrame:
        """Each metric across the combinations (count, mean, std, quantiles)."""
        return self.table.replace([np.inf, -np.inf], np.nan).describe().T

    def _summary_table(self) -> pd.DataFrame:
        return self.best("sharpe", n=10)

    def summary(self, formatted: bool = False) -> pd.DataFrame:
        """Top 10 combinations by Sharpe ratio (``formatted=True``: display strings)."""
        return super().summary(formatted=formatted)

    def title(self) -> str:
        """``Sweep of sma_cross on BTC/USDT: 4,851 combinations (4,950 skipped), 4.2 s``."""
        return (f"Sweep of {self.strategy.label()} on {', '.join(self.symbols)}: "
                f"{len(self.table):,} combinations ({self.rejected:,} skipped), {self.elapsed:.1f} s")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary: grid, counts, best combinations and the full table."""
        return to_jsonable({
            "type": type(self).__name__,
            "title": self.title(),
            "strategy": self.strategy.label(),
            "symbols": self.symbols,
            "grid": {k: [v[0], v[-1], len(v)] for k, v in self.grid.items()},
            "combinations": len(self.table),
            "rejected": self.rejected,
            "elapsed_seconds": self.elapsed,
            "stats": self.stats(),
            "best": {m: to_jsonable(self.best(m).to_dict()) for m in ("sharpe", "total_return")},
            "options": self.options.to_dict(),
            "results": self.table.reset_index().to_dict(orient="records"),
        })
