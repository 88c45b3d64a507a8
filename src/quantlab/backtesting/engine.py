"""The vectorized backtester: strategy signals -> vectorbt Portfolio -> :class:`BacktestResult`.

Fill model (default, see ARCHITECTURE.md): a signal computed on bar t's close is filled at bar
t+1's open. Fees are a fraction of traded notional (an all-in buy spends
``units x price x (1 + fee)``); slippage moves the fill price against the trader; an open
position at the end is marked at the last close.

Stops (stop-loss, take-profit, trailing) are checked on each bar's high/low from the bar
*after* the entry fill; a bar that gaps through the stop fills at its open, otherwise at the
stop price, slippage applied. (vectorbt does not check a stop within the fill bar itself.)

Two simulation routes give identical fills (tests/backtesting/test_routes.py): long-only, stop-less
runs without shared cash use ``Portfolio.from_orders`` after :mod:`quantlab.backtesting._orders_nb`
resolves the signals into orders (both numba-cached on disk); everything else uses
``Portfolio.from_signals``, whose simulator is JIT-compiled again in every process.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from quantlab._validate import check_choice
from quantlab.backtesting.options import BacktestOptions
from quantlab.backtesting.prepared import PreparedData, prepare_data, slice_period
from quantlab.backtesting.result import BacktestResult
from quantlab.errors import ParameterError, StrategyError
from quantlab.strategies.base import Signals, Strategy, TargetWeights
from quantlab.strategies.indicators import realized_vol

__all__ = ["PreparedData", "backtest", "prepare_data", "resolve_strategy", "simulate_signals",
           "simulate_weights", "slice_period"]

def _numba_cache() -> None:
    os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(os.getcwd(), ".cache", "numba"))


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


def _shift(frame: pd.Series | pd.DataFrame, fill: Any) -> pd.Series | pd.DataFrame:
    return frame.shift(1, fill_value=fill)


def _realized_vol_fraction(close: pd.Series | pd.DataFrame, opts: BacktestOptions,
                           ppy: float) -> pd.Series | pd.DataFrame:
    vol = realized_vol(close, opts.vol_lookback, ppy)
    frac = (opts.target_vol / vol).clip(upper=1.0)
    return frac.where(np.isfinite(frac), 0.0).fillna(0.0)


def _entry_size(sig: Signals, pdata: PreparedData, opts: BacktestOptions) -> tuple[Any, Any]:
    """(size, size_type) for vectorbt's from_signals under the chosen sizing."""
    if sig.size is not None:
        if opts.sizing != "all_in":
            raise ParameterError(
                f"the strategy sizes its own entries (Signals.size, e.g. a +vol_target overlay); "
                f"sizing={opts.sizing!r} would be ignored: leave sizing='all_in'")
        size = sig.size.astype(float)
        if (size > 1.0 + 1e-12).to_numpy().any():
            raise StrategyError(
                f"strategy sizes reach {float(np.nanmax(size.to_numpy())):.3g} of equity; the backtester "
                "trades without leverage (sizes <= 1), e.g. set max_leverage <= 1"
            )
        return size.clip(lower=0.0).fillna(0.0), "percent"
    if opts.sizing == "all_in":
        return np.inf, "amount"
    if opts.sizing == "fixed_fraction":
        return opts.fraction, "percent"
    if opts.sizing == "risk_per_trade":
        return min(1.0, opts.risk / float(opts.stop_distance)), "percent"  # type: ignore[arg-type]
    return _realized_vol_fraction(pdata.close, opts, pdata.ppy), "percent"


def _as_2d(a: Any, shape: tuple[int, int]) -> np.ndarray:
    arr = np.asarray(a.to_numpy() if isinstance(a, pd.Series | pd.DataFrame) else a, dtype=float)
    if arr.ndim == 1:
        arr = arr[:, None]
    return np.broadcast_to(arr, shape)


def _simulate_as_orders(entries: Any, exits: Any, price: Any, size: Any, size_type: str,
                        common: dict[str, Any]) -> Any:
    """Long-only, stop-less signals through the disk-cached ``from_orders`` (see _orders_nb).

    ``entries``/``exits``/``size`` are already aligned to the fill bars (shifted for next-open).
    """
    import vectorbt as vbt
    from vectorbt.portfolio.enums import SizeType

    from quantlab.backtesting._orders_nb import signal_orders_nb

    e = entries.to_numpy()
    shape = e[:, None].shape if e.ndim == 1 else e.shape
    orders = signal_orders_nb(_as_2d(entries, shape).astype(np.bool_),
                              _as_2d(exits, shape).astype(np.bool_),
                              _as_2d(price, shape), _as_2d(size, shape))
    # Sells are always "-inf amount" (close the long); buys are amounts (all-in) or percents.
    size_types: Any = SizeType.Amount
    if size_type == "percent":
        size_types = np.where(orders > 0, SizeType.Percent, SizeType.Amount)
    if isinstance(entries, pd.DataFrame):
        order_sizes: Any = pd.DataFrame(orders, index=entries.index, columns=entries.columns)
    else:
        orders = orders[:, 0]
        size_types = size_types if np.isscalar(size_types) else size_types[:, 0]
        order_sizes = pd.Series(orders, index=entries.index, name=entries.name)
    return vbt.Portfolio.from_orders(size=order_sizes, size_type=size_types, price=price,
                                     cash_sharing=False, direction="longonly", **common)


def simulate_signals(
    sig: Signals,
    pdata: PreparedData,
    opts: BacktestOptions,
    *,
    group_by: Any = None,
    cash_sharing: bool = False,
    init_cash: Any = None,
    route: str = "auto",
) -> Any:
    """Run a signal strategy under the quantlab fill model on vectorbt.

    Signal arrays may have more columns than the prices (a sweep); prices broadcast.
    ``route="auto"`` sends long-only, stop-less, unshared-cash runs through ``from_orders``
    (numba-cached: no per-process JIT) and everything else through ``from_signals``; both give
    identical fills (tested). ``"signals"``/``"orders"`` force a route.
    """
    _numba_cache()
    import vectorbt as vbt

    size, size_type = _entry_size(sig, pdata, opts)
    simple = (opts.direction == "long_only" and sig.short_entries is None
              and sig.short_exits is None and opts.stop_loss is None
              and opts.take_profit is None and opts.trailing_stop is None and not cash_sharing)
    check_choice(route, "route", ("auto", "signals", "orders"))
    if route == "orders" and not simple:
        raise ParameterError("route='orders' needs long-only signals without stops or shared cash")
    # Fill model: a signal on bar t's close fills at t+1's open (or at t's close).
    arrays: dict[str, Any] = {
        "entries": sig.entries, "exits": sig.exits,
        "short_entries": sig.short_entries, "short_exits": sig.short_exits,
    }
    arrays = {k: (None if v is None else v.astype(bool)) for k, v in arrays.items()}
    if opts.fill == "next_open":
        arrays = {k: (None if v is None else _shift(v, False)) for k, v in arrays.items()}
        if isinstance(size, pd.Series | pd.DataFrame):
            size = _shift(size, 0.0)
        price = pdata.open
    else:
        price = pdata.close
    common: dict[str, Any] = {
        "close": pdata.close,
        "fees": opts.fees,
        "slippage": opts.slippage,
        "init_cash": opts.init_cash if init_cash is None else init_cash,
        "group_by": group_by,
        "freq": pd.Timedelta(days=pdata.bar_days),
    }
    if route == "orders" or (route == "auto" and simple):
        return _simulate_as_orders(arrays["entries"], arrays["exits"], price, size, size_type, common)
    kwargs: dict[str, Any] = {}
    if arrays["short_entries"] is not None or arrays["short_exits"] is not None:
        if opts.direction != "long_short":
            raise ParameterError(
                "the strategy emits short signals; pass direction='long_short' to trade them"
            )
        for k in ("short_entries", "short_exits"):
            if arrays[k] is None:
                arrays[k] = arrays["entries"] & False
    else:
        arrays.pop("short_entries")
        arrays.pop("short_exits")
        kwargs["direction"] = "longonly" if opts.direction == "long_only" else "both"
    if size_type == "percent" and opts.direction == "long_short":
        kwargs["upon_opposite_entry"] = "close"
    stops: dict[str, Any] = {}
    if opts.stop_loss is not None:
        stops["sl_stop"] = opts.stop_loss
    if opts.trailing_stop is not None:
        stops["sl_stop"] = opts.trailing_stop
        stops["sl_trail"] = True
    if opts.take_profit is not None:
        stops["tp_stop"] = opts.take_profit
    if stops:
        stops.update(open=pdata.open, high=pdata.high, low=pdata.low,
                     stop_entry_price="fillprice", stop_exit_price="stopmarket")
    return vbt.Portfolio.from_signals(
        **arrays,
        size=size,
        size_type=size_type,
        price=price,
        cash_sharing=cash_sharing,
        call_seq="auto" if cash_sharing else "default",
        **common,
        **stops,
        **kwargs,
    )


def simulate_weights(
    tw: TargetWeights, pdata: PreparedData, opts: BacktestOptions, *, group_by: Any = True
) -> Any:
    """Run vectorbt's ``Portfolio.from_orders`` with target-percent orders (shared cash)."""
    _numba_cache()
    import vectorbt as vbt

    if opts.stop_loss is not None or opts.take_profit is not None or opts.trailing_stop is not None:
        raise ParameterError("stops apply to signal strategies, not target-weight strategies")
    weights = tw.weights.astype(float)
    close = pdata.close if pdata.is_panel else pdata.close.to_frame()
    if list(map(str, weights.columns)) != list(map(str, close.columns)) and weights.shape[1] == close.shape[1]:
        weights.columns = close.columns
    if opts.direction == "long_only" and (weights < 0).to_numpy().any():
        raise StrategyError("strategy produced negative weights; use direction='long_short'")
    if isinstance(weights.columns, pd.MultiIndex):  # a sweep: one group of symbols per run
        gross = weights.abs().T.groupby(level=0).sum().T.max(axis=1)
    else:
        gross = weights.abs().sum(axis=1)
    if (gross > 1.0 + 1e-9).any():
        raise StrategyError(
            f"strategy weights sum to {gross.max():.4f} at {gross.idxmax()}; "
            "leverage above 1 is not supported"
        )
    if opts.fill == "next_open":
        weights = weights.shift(1)
        price = pdata.open if pdata.is_panel else pdata.open.to_frame()
    else:
        price = close
    # Assets without a price on a rebalance bar (not yet listed) cannot be traded.
    weights = weights.where(~(weights.notna() & price.isna()), np.nan)
    return vbt.Portfolio.from_orders(
        close,
        size=weights,
        size_type="targetpercent",
        price=price,
        fees=opts.fees,
        slippage=opts.slippage,
        init_cash=opts.init_cash,
        group_by=group_by,
        cash_sharing=True,
        call_seq="auto",
        direction="longonly" if opts.direction == "long_only" else "both",
        freq=pd.Timedelta(days=pdata.bar_days),
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
        ``allocation``.

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
    if isinstance(out, TargetWeights):
        pf = simulate_weights(out, pdata, opts)
    else:
        if pdata.is_panel:
            n = len(pdata.symbols)
            shared = opts.allocation == "shared"
            pf = simulate_signals(
                out, pdata, opts, group_by=True, cash_sharing=shared,
                init_cash=opts.init_cash if shared else opts.init_cash / n,
            )
        else:
            pf = simulate_signals(out, pdata, opts)
    return BacktestResult.from_portfolio(pf, strat, pdata, opts, out)
