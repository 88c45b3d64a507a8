"""Backtest of a rebalanced multi-asset portfolio: drift, policy-driven trades, fees, tracking error.

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

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from quantlab._util import format_stat
from quantlab._validate import check_weights
from quantlab.backtesting import metrics
from quantlab.errors import DataError, ParameterError, QuantlabError
from quantlab.portfolio.policies import Policy, resolve_policy

__all__ = ["RebalanceBacktestResult", "backtest_rebalancing"]

_FIXED_POINT_ITERATIONS = 60


# -- input checks ---------------------------------------------------------------------------
def _check_nonneg(value: Any, name: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name}={value!r} must be a number") from None
    if isinstance(value, bool) or not np.isfinite(out) or out < 0.0:
        raise ParameterError(f"{name}={value!r} must be a finite number >= 0")
    return out


def _check_prices(prices: Any) -> pd.DataFrame:
    if isinstance(prices, pd.DataFrame) and isinstance(prices.columns, pd.MultiIndex):
        if "close" in prices.columns.get_level_values(0):
            prices = prices["close"]
        else:
            raise ParameterError("prices has MultiIndex columns without a 'close' field; "
                                 "pass close prices with one column per symbol")
    if not isinstance(prices, pd.DataFrame):
        raise ParameterError("prices must be a DataFrame of close prices (one column per symbol), "
                             f"got {type(prices).__name__}")
    if prices.shape[1] == 0 or len(prices) == 0:
        raise DataError("prices is empty")
    if not isinstance(prices.index, pd.DatetimeIndex):
        raise ParameterError("prices must have a DatetimeIndex (bar times)")
    if prices.columns.has_duplicates:
        dup = prices.columns[prices.columns.duplicated()][0]
        raise DataError(f"prices has the column {dup} twice")
    if prices.index.has_duplicates:
        dup = prices.index[prices.index.duplicated()][0]
        raise DataError(f"prices has the bar {dup} twice")
    if not prices.index.is_monotonic_increasing:
        raise DataError("prices index is not sorted by time; sort it first (prices.sort_index())")
    try:
        out = prices.astype("float64")
    except (TypeError, ValueError):
        raise DataError("prices must be numeric") from None
    values = out.to_numpy()
    bad = np.isfinite(values) & (values <= 0)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise DataError(f"prices: {out.columns[c]} has a non-positive price at {out.index[r]}")
    if np.isinf(values).any():
        r, c = np.argwhere(np.isinf(values))[0]
        raise DataError(f"prices: {out.columns[c]} has an infinite price at {out.index[r]}")
    return out


def _timestamp(value: Any, name: str, index: pd.DatetimeIndex) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name}={value!r} is not a date") from None
    if index.tz is not None and ts.tzinfo is None:
        ts = ts.tz_localize(index.tz)
    elif index.tz is None and ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts


def _target_spec(target: Any, columns: pd.Index) -> tuple[str, Any, str]:
    """(kind, payload, label) with kind in fixed/method/callable."""
    if isinstance(target, str):
        return "method", target, target
    if callable(target) and not isinstance(target, Mapping | pd.Series):
        return "callable", target, getattr(target, "__name__", type(target).__name__)
    if isinstance(target, Mapping | pd.Series | list | tuple | np.ndarray):
        w = check_weights(target, columns, name="target weights", sum_to_one=True)
        return "fixed", w, "fixed"
    raise ParameterError(
        f"target={target!r} must be an optimizer method name (e.g. 'erc'), fixed weights "
        "(a mapping symbol -> weight) or a callable(returns_window) -> weights"
    )


def _first_nan_message(prices: pd.DataFrame, row: int, col: int, needed: str) -> str:
    sym = prices.columns[col]
    series = prices.iloc[:, col]
    valid = series.notna().to_numpy()
    first_valid = int(np.argmax(valid)) if valid.any() else None
    if first_valid is not None and row < first_valid:
        return (f"prices: {sym} has no price before {prices.index[first_valid]} (not listed yet) "
                f"but the backtest needs prices from {needed}; pass start= on or after "
                f"{{suggest}} or drop {sym}")
    return (f"prices: {sym} is missing at {prices.index[row]} (a gap in the data); "
            "fill or drop missing prices first")


# -- the simulation ---------------------------------------------------------------------------
def _trade_to(x: np.ndarray, equity: float, new_w: np.ndarray, rate: float
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


def backtest_rebalancing(
    prices: pd.DataFrame,
    policy: str | Policy = "monthly",
    *,
    target: str | Mapping[str, float] | Callable[[pd.DataFrame], Any] = "erc",
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
    target : str, mapping or callable
        An :func:`quantlab.portfolio.optimize.optimize` method (``"erc"``, ``"equal"``,
        ``"inverse_vol"``, ``"min_variance"``, ``"max_sharpe"``, ``"hrp"``, ``"min_cvar"``),
        fixed weights (symbol -> weight, summing to 1), or ``callable(returns_window)``
        returning weights (Series/mapping/sequence in column order).
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
        Extra constraints passed to ``optimize`` (e.g. ``max_weight=0.4``).

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
    fees = _check_nonneg(fees_bps, "fees_bps")
    spread = _check_nonneg(spread_bps, "spread_bps")
    rate = (fees + spread / 2.0) / 1e4
    cash0 = _check_nonneg(init_cash, "init_cash")
    if cash0 <= 0:
        raise ParameterError(f"init_cash={init_cash!r} must be positive")
    if isinstance(lookback, bool) or not isinstance(lookback, int | np.integer) or lookback < 2:
        raise ParameterError(f"lookback={lookback!r} must be a whole number of bars >= 2")
    lookback = int(lookback)
    if not isinstance(cov, str):
        raise ParameterError(f"cov={cov!r} must be a covariance estimator name such as 'sample'")

    px = _check_prices(prices)
    kind, payload, target_label = _target_spec(target, px.columns)
    needs_window = kind != "fixed"

    ts_start = _timestamp(start, "start", px.index)
    ts_end = _timestamp(end, "end", px.index)
    if ts_start is not None and ts_end is not None and ts_start > ts_end:
        raise ParameterError(f"start={start!r} is after end={end!r}")
    if ts_end is not None:
        px = px.loc[:ts_end]
        if len(px) == 0:
            raise DataError(f"no prices on or before end={end!r}")
    warm = lookback + 1 if needs_window else 0  # prices needed before the first bar
    if ts_start is None:
        i0 = warm
    else:
        i0 = int(px.index.searchsorted(ts_start, side="left"))
        if i0 < warm:
            raise DataError(
                f"start={start!r} leaves {i0} bars of prices before it but lookback={lookback} "
                f"needs {warm}; start on or after {px.index[warm] if warm < len(px) else 'the end'}"
                " or shorten lookback"
            )
    if i0 >= len(px):
        if ts_start is not None and i0 >= warm:
            raise DataError(f"start={start!r} is after the last bar ({px.index[-1]})")
        raise DataError(
            f"lookback={lookback} needs {warm + 1} bars (lookback + 1 prices before the first "
            f"rebalance) but prices has {len(px)}; shorten lookback or load more history"
        )
    first_needed = i0 - warm
    used = px.iloc[first_needed:]
    nan = np.isnan(used.to_numpy())
    if nan.any():
        r, c = np.argwhere(nan)[0]
        msg = _first_nan_message(px, first_needed + int(r), int(c), str(px.index[first_needed]))
        if "{suggest}" in msg:
            full = px.notna().all(axis=1).to_numpy()
            # first bar after which every asset is listed (and stays listed)
            tail_ok = np.flip(np.logical_and.accumulate(np.flip(full)))
            first_full = int(np.argmax(tail_ok)) if tail_ok.any() else len(px)
            suggest_i = first_full + warm
            suggest = str(px.index[suggest_i]) if suggest_i < len(px) else "(no such bar)"
            msg = msg.replace("{suggest}", suggest)
        raise DataError(msg)

    symbols = list(px.columns)
    P = used.to_numpy()
    R = used.pct_change(fill_method=None)
    off = warm
    sim_index = used.index[off:]
    T, n = len(sim_index), len(symbols)

    check = pol.check_mask(sim_index)
    est = pol.estimate_mask(sim_index)
    if not needs_window:
        est = np.zeros(T, dtype=bool)
    events = np.flatnonzero(check | est)
    if T and (len(events) == 0 or events[0] != 0):
        events = np.concatenate([[0], events])

    def estimate(j: int) -> np.ndarray:
        if kind == "fixed":
            return payload
        window = R.iloc[j - lookback:j]
        when = used.index[j]
        if kind == "method":
            try:
                from quantlab.portfolio.optimize import optimize
            except ImportError:  # pragma: no cover - only while the optimizer is being written
                raise ParameterError(
                    f"target={payload!r} needs quantlab.portfolio.optimize, which is not "
                    "available; pass fixed weights or a callable"
                ) from None
            try:
                out = optimize(window, method=payload, cov=cov, **optimize_kw)
            except QuantlabError as exc:  # keep the class, name the rebalance date
                try:
                    again = type(exc)(f"target={payload!r} at {when}: {exc}")
                except TypeError:
                    again = ParameterError(f"target={payload!r} at {when}: {exc}")
                raise again from None
            except (ValueError, TypeError, KeyError, np.linalg.LinAlgError) as exc:
                raise ParameterError(f"target={payload!r} failed at {when}: {exc}") from exc
        else:
            try:
                out = payload(window.copy())
            except QuantlabError:
                raise
            except Exception as exc:
                raise ParameterError(f"target callable {target_label} failed at {when}: "
                                     f"{type(exc).__name__}: {exc}") from exc
        return check_weights(out, symbols, name=f"target weights at {when}", sum_to_one=True)

    h = np.zeros(n)
    cash = cash0
    H = np.empty((T, n))
    C = np.empty(T)
    tgt = payload if kind == "fixed" else None
    target_rows: list[tuple[pd.Timestamp, np.ndarray]] = []
    trade_rows: list[tuple[Any, ...]] = []
    reb_dates: list[pd.Timestamp] = []
    reb_turnover: list[float] = []
    last = 0
    for e in events:
        H[last:e] = h
        C[last:e] = cash
        last = e
        j = off + e
        when = sim_index[e]
        p = P[j]
        if e == 0 or est[e]:
            tgt = estimate(j)
            target_rows.append((when, tgt))
        if e == 0:
            k = 1.0
        elif check[e]:
            p_prev = P[j - 1]
            x_prev = h * p_prev
            eq_prev = cash + x_prev.sum()
            if eq_prev <= 0:
                continue
            k = pol.decide(x_prev / eq_prev, tgt)
        else:
            k = 0.0
        if k <= 0.0:
            continue
        x = h * p
        equity = cash + float(x.sum())
        if equity <= 0:
            continue
        w_now = x / equity
        new_w = w_now + k * (tgt - w_now)
        y, fee = _trade_to(x, equity, new_w, rate)
        traded = np.abs(y - x)
        if traded.sum() <= 1e-12 * equity:
            continue
        qty = (y - x) / p
        fee_each = rate * traded
        for i in np.flatnonzero(traded > 1e-12 * equity):
            trade_rows.append((when, symbols[i], float(qty[i]), float(p[i]),
                               float(qty[i] * p[i]), float(fee_each[i]),
                               "initial" if e == 0 else "rebalance"))
        h = y / p
        cash = equity - fee - float(y.sum())
        if e > 0:
            reb_dates.append(when)
            reb_turnover.append(float(traded.sum()) / equity)
    H[last:] = h
    C[last:] = cash

    Psim = P[off:]
    values = H * Psim
    equity_arr = C + values.sum(axis=1)
    equity_s = pd.Series(equity_arr, index=sim_index, name="equity")
    weights = pd.DataFrame(values / equity_arr[:, None], index=sim_index, columns=px.columns)
    holdings = pd.DataFrame(H, index=sim_index, columns=px.columns)
    targets = pd.DataFrame(np.array([t for _, t in target_rows]).reshape(-1, n),
                           index=pd.DatetimeIndex([d for d, _ in target_rows], name=sim_index.name),
                           columns=px.columns)
    trades = pd.DataFrame(trade_rows, columns=["date", "symbol", "quantity", "price", "notional",
                                               "fee", "kind"])
    trades = trades.astype({"quantity": "float64", "price": "float64", "notional": "float64",
                            "fee": "float64"})
    rebalances = pd.DatetimeIndex(reb_dates, name="date")
    if sim_index.tz is not None and len(rebalances) == 0:
        rebalances = rebalances.tz_localize(sim_index.tz)
    turnover = pd.Series(reb_turnover, index=rebalances, name="turnover", dtype="float64")
    return RebalanceBacktestResult(
        equity=equity_s, weights=weights, targets=targets, trades=trades, rebalances=rebalances,
        turnover=turnover, holdings=holdings, cash=pd.Series(C, index=sim_index, name="cash"),
        prices=used.iloc[off:], returns=R.iloc[off:], policy=pol, target_label=target_label,
        options={"lookback": lookback if needs_window else None, "cov": cov if kind == "method"
                 else None, "fees_bps": fees, "spread_bps": spread, "init_cash": cash0,
                 **{k: v for k, v in optimize_kw.items()}},
    )


# -- result ---------------------------------------------------------------------------------
_PCT = {"total_return", "cagr", "volatility", "max_drawdown", "turnover", "turnover_annual",
        "tracking_error", "weight_drift_rms", "max_drift", "fees_pct"}


def _fmt(key: str, value: Any) -> str:
    return format_stat(key, value, _PCT)


@dataclass(eq=False)
class RebalanceBacktestResult:
    """Outcome of :func:`backtest_rebalancing`.

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

    def summary(self) -> pd.DataFrame:
        """Statistics as a one-column DataFrame, formatted for display."""
        s = self.stats()
        return pd.DataFrame({"value": [_fmt(k, v) for k, v in s.items()]}, index=s.index)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary: every statistic plus symbols, options, rebalance dates and the
        last target."""
        from quantlab._util import to_jsonable

        out: dict[str, Any] = {k: to_jsonable(v) for k, v in self.stats().items()}
        out.update({
            "symbols": [str(s) for s in self.symbols],
            "options": to_jsonable(dict(self.options)),
            "rebalance_dates": [d.isoformat() for d in self.rebalances],
            "last_target": to_jsonable(self.targets.iloc[-1]) if len(self.targets) else None,
            "final_weights": to_jsonable(self.weights.iloc[-1]),
        })
        return out

    def plot(self) -> Any:
        """Plotly figure: stacked weights drifting over time, rebalance dates, target, equity."""
        from quantlab.charts.portfolio import weights_drift_figure

        return weights_drift_figure(self.weights, self.rebalances, equity=self.equity,
                                    target=self.targets)

    def _repr_html_(self) -> str:
        title = (f"Rebalancing backtest: {self.target_label} target, {self.policy.label()} "
                 f"on {', '.join(map(str, self.symbols))}")
        return f"<h4>{html.escape(title)}</h4>" + self.summary().to_html()

    def __repr__(self) -> str:
        s = self.stats()
        return (f"RebalanceBacktestResult({self.target_label}, {self.policy.label()}, "
                f"total_return={s['total_return']:.4f}, rebalances={s['rebalances']}, "
                f"turnover={s['turnover']:.3f}, fees_paid={s['fees_paid']:.2f})")
