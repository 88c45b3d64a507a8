"""``quantlab.backtest``: strategy signals -> the event-ordered simulator -> :class:`BacktestResult`.

Fill model (default, see ARCHITECTURE.md): a signal computed on bar t's close is filled at bar
t+1's open. Fees are a fraction of traded notional (an all-in buy spends
``units x price x (1 + fee)``); slippage moves the fill price against the trader; an open
position at the end is marked at the last close. Inside each bar events are processed in time
order — orders at the open, then stops and resting orders on the high/low (the entry bar of an
open fill included), then the close's signals; :mod:`quantlab.backtesting.sim.kernel` states
every rule. The same compiled simulator fills sweeps, walk-forward folds, the paper broker and
replay; vectorbt is not imported on this path (see ``BacktestResult.to_vectorbt``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from quantlab.backtesting.options import BacktestOptions
from quantlab.backtesting.prepared import PreparedData, prepare_data, slice_period
from quantlab.backtesting.result import BacktestResult
from quantlab.backtesting.simulation import simulate_output
from quantlab.errors import ParameterError
from quantlab.strategies.base import Strategy

__all__ = ["PreparedData", "backtest", "prepare_data", "resolve_strategy", "slice_period"]

def resolve_strategy(strategy: Any, params: dict[str, Any] | None = None) -> Strategy:
    """Accept a Strategy instance, class, or registry name/path and return an instance."""
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise ParameterError(
            f"params must be a dict of parameter name -> value (e.g. {{'fast': 10}}), "
            f"got {type(params).__name__} {params!r}")
    params = dict(params)
    bad_keys = [k for k in params if not isinstance(k, str)]
    if bad_keys:
        raise ParameterError(f"params keys must be parameter names (str), got {bad_keys[0]!r}")
    if isinstance(strategy, Strategy):
        return strategy.with_params(**params) if params else strategy
    if isinstance(strategy, str):
        from quantlab.strategies import get_strategy

        strategy = get_strategy(strategy)
    if isinstance(strategy, type) and issubclass(strategy, Strategy):
        return strategy(**params)
    raise ParameterError(
        f"strategy must be a Strategy, a Strategy subclass or a name, got {type(strategy).__name__}"
    )


def backtest(
    strategy: Any,
    data: pd.DataFrame,
    *,
    params: dict[str, Any] | None = None,
    start: Any = None,
    end: Any = None,
    symbol: str | None = None,
    **options: Any,
) -> Any:
    """Backtest a strategy on OHLCV bars.

    Parameters
    ----------
    strategy : Strategy, Strategy subclass or str
        An instance, a class (instantiated with ``params``), or a registered name / path.
    data : DataFrame
        One OHLCV frame or a ``(field, symbol)`` panel (e.g. from :func:`quantlab.load_sample`).
    params : dict, optional
        Strategy parameters (override the instance's).
    start, end : date-like, optional
        Trade only in this period; signals still use the bars before ``start`` for warm-up.
    symbol : str, optional
        Name of the asset for single-frame data.
    **options
        :class:`~quantlab.backtesting.options.BacktestOptions` fields: ``init_cash``, ``fees_bps``,
        ``slippage_bps``, ``fill``, ``direction``, ``sizing``, ``fraction``, ``risk``,
        ``target_vol``, ``vol_lookback``, ``stop_loss``, ``take_profit``, ``trailing_stop``,
        ``allocation``, ``accumulate``, ``leverage``, ``maintenance_margin``, ``order_ttl``,
        ``amount_step``, ``min_amount``, ``min_notional``.

    Returns
    -------
    BacktestResult
        ``.stats()``, ``.equity``, ``.returns``, ``.trades``, ``.orders``, ``.plot()``.

    Examples
    --------
    >>> import quantlab as ql
    >>> res = ql.backtest("sma_cross", ql.load_sample("BTC/USDT"), params={"fast": 10, "slow": 50})
    >>> res.stats()["sharpe"]  # doctest: +SKIP
    """
    strat = resolve_strategy(strategy, params)
    shadowed = sorted(set(options) & set(strat.params))
    if shadowed:
        name = shadowed[0]
        raise ParameterError(
            f"{name} is a parameter of {strat.label()}, not a backtest option here: pass "
            f"params={{{name!r}: {options[name]!r}}}")
    opts = BacktestOptions.from_kwargs(**options)
    full = prepare_data(data, symbol)
    if strat.multi_asset and not full.is_panel:
        raise ParameterError(f"{strat.label()} needs several symbols (a panel), got one asset")
    out = strat.run(full.bars)
    if (start is not None or end is not None):
        bars = slice_period(full.bars, start, end)
        lo, hi = bars.index[0], bars.index[-1]
        out = out[full.bars.index.get_indexer([lo])[0]:full.bars.index.get_indexer([hi])[0] + 1]
        pdata = prepare_data(bars, full.symbols[0] if not full.is_panel else None)
    else:
        pdata = full
    return BacktestResult.from_simulation(simulate_output(out, pdata, opts), strat, pdata, opts, out)
