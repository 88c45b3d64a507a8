"""The morning summary of one portfolio and its strategies (``notebooks/nightly.ipynb``).

:func:`morning_summary` puts the figures a desk looks at first thing into one
:class:`MorningSummary`:

* **data** — per symbol the last bar, its age against ``as_of`` (stale when older than one bar
  plus ``tolerance``) and the :func:`~quantlab.data.check_quality` error/warning counts;
* **P&L** — the portfolio's last-day and month-to-date return. The portfolio is *rebalanced to
  the target weights at the close of the last bar before the 1st of the month* and held since
  (buy and hold), or — with ``holdings`` — the held quantities are kept constant;
* **risk** — VaR/ES by three methods (historical, EWMA, parametric) of the current weights
  against ``var_limit``, and the Basel traffic light of a rolling one-step-ahead VaR backtest;
* **drift** — current weights (after the price moves since that rebalance) against the target;
* **strategies** — per strategy and symbol the position implied by the signals up to the last
  closed bar (``1`` long, ``0`` flat, ``-1`` short) and a backtest of the last ``oos_days``
  with the configured (fixed, so out-of-sample) parameters.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from quantlab._result import Result, format_table
from quantlab.errors import DataError, ParameterError

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go

__all__ = ["VAR_METHODS", "MorningSummary", "morning_summary", "parse_strategies",
           "parse_weights", "signal_position"]

VAR_METHODS = ("historical", "ewma", "parametric")


# ---------------------------------------------------------------------------- inputs
def parse_weights(symbols: Sequence[str], weights: Any) -> pd.Series:
    """Target weights by symbol from a comma string (``"0.6,0.4"``), a sequence in symbol order
    or a mapping; they must sum to 1."""
    syms = list(symbols)
    if isinstance(weights, str):
        weights = [float(x) for x in weights.split(",") if x.strip()]
    if isinstance(weights, Mapping | pd.Series):
        w = pd.Series({s: float(weights.get(s, 0.0)) for s in syms})
        extra = sorted(set(weights) - set(syms))
        if extra:
            raise ParameterError(f"weights name symbols not in the portfolio: {', '.join(extra)}")
    else:
        values = [float(x) for x in weights]
        if len(values) != len(syms):
            raise ParameterError(f"{len(values)} weights for {len(syms)} symbols")
        w = pd.Series(values, index=syms)
    if not np.isclose(w.sum(), 1.0, atol=1e-6):
        raise ParameterError(f"weights must sum to 1, got {w.sum():g}")
    return w.rename("target")


def parse_strategies(spec: str | Sequence[str] | None) -> list[tuple[str, dict[str, Any]]]:
    """``"sma_cross:fast=10,slow=50;donchian_breakout"`` → ``[(name, params), ...]``.

    Values are read as int, float or bool where they parse, else kept as strings.
    """
    from quantlab.reports.runner import _resolve_type

    if spec is None:
        return []
    items = spec.split(";") if isinstance(spec, str) else list(spec)
    out = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        name, _, rest = item.partition(":")
        params: dict[str, Any] = {}
        for pair in (p.strip() for p in rest.split(",")):
            if not pair:
                continue
            if "=" not in pair:
                raise ParameterError(f"strategy {name}: parameter {pair!r} is not key=value")
            key, value = pair.split("=", 1)
            params[key.strip()] = _resolve_type(value)
        out.append((name.strip(), params))
    return out


def signal_position(signals: Any) -> tuple[int, pd.Timestamp | None]:
    """Position implied by entry/exit signals after the last bar, and when it last changed.

    Long entries open a long (``1``), long exits close it, short entries/exits likewise (``-1``);
    an entry and an exit of the same side on one bar cancel (ignored). A
    :class:`~quantlab.strategies.TargetWeights` gives the sign of its last weight.
    """
    from quantlab.strategies import TargetWeights

    if isinstance(signals, TargetWeights):
        w = signals.weights.iloc[:, 0].dropna() if isinstance(signals.weights, pd.DataFrame) \
            else signals.weights.dropna()
        if w.empty:
            return 0, None
        return int(np.sign(w.iloc[-1])), w.index[-1]
    index = signals.entries.index
    n = len(index)

    def arr(a: Any) -> np.ndarray:
        return np.zeros(n, bool) if a is None else np.asarray(a, dtype=bool).reshape(n)

    e, x, se, sx = (arr(signals.entries), arr(signals.exits), arr(signals.short_entries),
                    arr(signals.short_exits))
    pos, changed = 0, None
    for i in np.flatnonzero(e | x | se | sx):
        new = pos
        if pos == 1 and x[i] and not e[i]:
            new = 0
        elif pos == -1 and sx[i] and not se[i]:
            new = 0
        if new != 1 and e[i] and not x[i]:
            new = 1
        elif new != -1 and se[i] and not sx[i]:
            new = -1
        if new != pos:
            pos, changed = new, index[i]
    return pos, changed


def _as_of(value: Any, index: pd.DatetimeIndex) -> pd.Timestamp:
    if value is None:
        return index[-1]
    ts = pd.Timestamp.now(tz="UTC") if str(value) == "now" else pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _holding_units(holdings: Any, symbols: list[str]) -> pd.Series:
    from quantlab.portfolio.holdings import read_holdings

    h = read_holdings(holdings) if isinstance(holdings, str | os.PathLike) else holdings
    if isinstance(h, pd.DataFrame):   # tax lots: total quantity per symbol
        h = h.groupby("symbol")["quantity"].sum()
    units = pd.Series(h, dtype=float).reindex(symbols).fillna(0.0)
    if not (units > 0).any():
        raise DataError(f"holdings hold none of {', '.join(symbols)}")
    return units


# ---------------------------------------------------------------------------- result
@dataclass(repr=False)
class MorningSummary(Result):
    """Result of :func:`morning_summary`.

    Attributes
    ----------
    as_of : pandas.Timestamp
        The summary's time (the last bar unless given).
    freshness : DataFrame
        Per symbol: ``last_bar``, ``age`` (Timedelta), ``stale``, ``errors``, ``warnings``.
    value : Series
        Portfolio value since the month's rebalance (1.0 at that close).
    var : DataFrame
        Per method: ``var``, ``es``, ``limit``, ``breach``.
    weights : DataFrame
        Per symbol: ``target``, ``current``, ``drift`` (current − target).
    strategies : DataFrame
        Per strategy and symbol: ``key``, ``strategy``, ``symbol``, ``signal``, ``since``,
        ``oos_return``, ``oos_sharpe``, ``oos_trades``.
    traffic_light : str
        Basel zone of the rolling VaR backtest (``green``/``yellow``/``red``).
    backtest_failures : int
        VaR exceptions in that backtest.
    """

    as_of: pd.Timestamp
    freshness: pd.DataFrame
    value: pd.Series
    var: pd.DataFrame
    weights: pd.DataFrame
    strategies: pd.DataFrame
    traffic_light: str
    backtest_failures: int
    level: float = 0.99
    var_limit: float = 0.06
    mode: str = "target"
    rebalanced: pd.Timestamp | None = None
    oos_days: int = 90
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pnl_1d(self) -> float:
        return float(self.value.iloc[-1] / self.value.iloc[-2] - 1) if len(self.value) > 1 else 0.0

    @property
    def pnl_mtd(self) -> float:
        return float(self.value.iloc[-1] / self.value.iloc[0] - 1)

    def title(self) -> str:
        stale = int(self.freshness["stale"].sum())
        return (f"Morning summary {self.as_of:%Y-%m-%d %H:%M} — {len(self.weights)} symbols, "
                f"{f'{stale} stale' if stale else 'data fresh'}, VaR "
                f"{'BREACH' if self.var['breach'].any() else 'within limit'}, "
                f"traffic light {self.traffic_light}")

    def stats(self) -> pd.Series:
        """Headline figures: freshness counts, ``pnl_1d``, ``pnl_mtd``, ``var_<method>``,
        ``es_<method>``, ``var_breach``, ``traffic_light``, ``max_drift`` and per strategy and
        symbol ``signal_<key>``, ``oos_return_<key>``, ``oos_sharpe_<key>``."""
        out: dict[str, Any] = {
            "as_of": self.as_of,
            "stale_symbols": int(self.freshness["stale"].sum()),
            "quality_errors": int(self.freshness["errors"].sum()),
            "quality_warnings": int(self.freshness["warnings"].sum()),
            "pnl_1d": self.pnl_1d, "pnl_mtd": self.pnl_mtd,
        }
        for m, row in self.var.iterrows():
            out[f"var_{m}"] = float(row["var"])
            out[f"es_{m}"] = float(row["es"])
        out["var_limit"] = float(self.var_limit)
        out["var_breach"] = bool(self.var["breach"].any())
        out["traffic_light"] = self.traffic_light
        out["backtest_failures"] = int(self.backtest_failures)
        out["max_drift"] = float(self.weights["drift"].abs().max())
        for _, row in self.strategies.iterrows():
            out[f"signal_{row['key']}"] = int(row["signal"])
            out[f"oos_return_{row['key']}"] = float(row["oos_return"])
            out[f"oos_sharpe_{row['key']}"] = float(row["oos_sharpe"])
        return pd.Series(out, dtype=object)

    def _summary_table(self) -> pd.DataFrame:
        rows: list[tuple[str, str, Any, str]] = []
        for sym, f in self.freshness.iterrows():
            rows.append(("data", f"{sym} last bar", f["last_bar"],
                         f"{'STALE' if f['stale'] else 'fresh'}; {f['errors']} error(s), "
                         f"{f['warnings']} warning(s)"))
        since = f"since {self.rebalanced:%Y-%m-%d}" if self.rebalanced is not None else ""
        rows.append(("pnl", "pnl_1d", self.pnl_1d, f"{self.value.index[-1]:%Y-%m-%d}"))
        rows.append(("pnl", "pnl_mtd", self.pnl_mtd, since))
        for m, row in self.var.iterrows():
            rows.append(("risk", f"var_{m}", float(row["var"]),
                         f"{'BREACH' if row['breach'] else 'ok'} (limit {self.var_limit:.2%})"))
            rows.append(("risk", f"es_{m}", float(row["es"]), ""))
        rows.append(("risk", "traffic_light", self.traffic_light,
                     f"{self.backtest_failures} exception(s)"))
        for sym, w in self.weights.iterrows():
            rows.append(("drift", f"drift {sym}", float(w["drift"]),
                         f"current {w['current']:.2%} vs target {w['target']:.2%}"))
        rows.append(("drift", "max_drift", float(self.weights["drift"].abs().max()), ""))
        names = {1: "long", 0: "flat", -1: "short"}
        for _, s in self.strategies.iterrows():
            rows.append(("strategies", f"oos_return_{s['key']}", float(s["oos_return"]),
                         f"signal {names.get(int(s['signal']), s['signal'])}; "
                         f"oos sharpe {s['oos_sharpe']:.2f} over {self.oos_days} days"))
        frame = pd.DataFrame(rows, columns=["section", "item", "value", "note"])
        return frame.set_index("item")

    def _percent_labels(self) -> set[str]:
        table = self._summary_table()
        return {str(i) for i in table.index
                if str(i).startswith(("pnl_", "var_", "es_", "drift ", "max_drift", "oos_return_"))}

    def summary(self, formatted: bool = False) -> pd.DataFrame:
        """The per-section table (``section``, ``value``, ``note`` by item)."""
        table = self._summary_table()
        return format_table(table, self._percent_labels()) if formatted else table

    def _extra_dict(self) -> dict[str, Any]:
        return {"freshness": self.freshness, "weights": self.weights, "var": self.var,
                "strategies": self.strategies}

    def _figure(self, **kwargs: Any) -> go.Figure:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        fig = make_subplots(rows=1, cols=3, subplot_titles=(
            "Portfolio month to date", f"VaR / ES at {self.level:g} vs limit", "Weights"))
        fig.add_trace(go.Scatter(x=self.value.index, y=self.value - 1, mode="lines+markers",
                                 name="return since rebalance"), row=1, col=1)
        fig.add_trace(go.Bar(x=list(self.var.index), y=self.var["var"], name="VaR"), row=1, col=2)
        fig.add_trace(go.Bar(x=list(self.var.index), y=self.var["es"], name="ES"), row=1, col=2)
        fig.add_hline(y=self.var_limit, line_dash="dash", line_color="red", row=1, col=2)
        fig.add_trace(go.Bar(x=list(self.weights.index), y=self.weights["target"], name="target"),
                      row=1, col=3)
        fig.add_trace(go.Bar(x=list(self.weights.index), y=self.weights["current"], name="current"),
                      row=1, col=3)
        fig.update_yaxes(tickformat=".1%")
        fig.update_layout(title=self.title(), barmode="group", height=kwargs.get("height", 380))
        return fig


# ---------------------------------------------------------------------------- computation
def morning_summary(
    bars: pd.DataFrame,
    weights: Any,
    *,
    holdings: Any = None,
    strategies: str | Sequence[str] | None = None,
    as_of: Any = None,
    timeframe: str = "1d",
    var_level: float = 0.99,
    var_limit: float = 0.06,
    methods: Sequence[str] = VAR_METHODS,
    backtest_method: str = "historical",
    var_window: int = 250,
    oos_days: int = 90,
    tolerance: Any = None,
    fees_bps: float = 10.0,
) -> MorningSummary:
    """The morning summary of a portfolio (see the module docstring for what each part means).

    Parameters
    ----------
    bars : DataFrame
        A ``(field, symbol)`` OHLCV panel, e.g. ``quantlab.load("BTC/USDT,ETH/USDT")``.
    weights : str, sequence or mapping
        Target weights (comma string or sequence in the panel's symbol order, or by symbol).
    holdings : path, Series or DataFrame, optional
        Current positions or tax lots (:func:`~quantlab.portfolio.holdings.read_holdings`);
        held quantities are kept constant for P&L and give the current weights. None: the
        target portfolio rebalanced at the close before the 1st of the month and held since.
    strategies : str or list of str, optional
        ``"sma_cross:fast=10,slow=50;donchian_breakout"`` (single-asset strategies, run on
        every symbol).
    as_of : date-like or "now", optional
        Summary time; bars after it are ignored. Default: the last bar.
    timeframe : str
        Bar length, for the staleness check.
    var_level, var_limit : float
        VaR confidence level and the limit (a fraction of value) a method's VaR must not exceed.
    methods : sequence of str
        VaR methods (default historical, ewma, parametric).
    backtest_method, var_window : str, int
        Method and estimation window of the rolling VaR backtest (traffic light).
    oos_days : int
        Length of the recent backtest of each strategy (days before ``as_of``).
    tolerance : Timedelta-like, optional
        Extra age allowed beyond one bar before a symbol is stale (default one bar).
    fees_bps : float
        Fees of the strategy backtests.

    Returns
    -------
    MorningSummary
    """
    from quantlab import risk
    from quantlab.backtesting import backtest
    from quantlab.data import check_quality
    from quantlab.data.timeframes import parse_timeframe
    from quantlab.strategies import get_strategy

    if not isinstance(bars.columns, pd.MultiIndex):
        raise ParameterError("bars must be a (field, symbol) panel, e.g. quantlab.load([...])")
    symbols = list(dict.fromkeys(bars["close"].columns))
    target = parse_weights(symbols, weights)
    when = _as_of(as_of, bars.index)
    bars = bars.loc[bars.index <= when]
    if len(bars) < 3:
        raise DataError(f"fewer than 3 bars up to {when}")
    bar = parse_timeframe(timeframe)
    tol = bar if tolerance is None else pd.Timedelta(tolerance)

    # data freshness and quality
    fresh = {}
    frames = {}
    for sym in symbols:
        df = bars.xs(sym, axis=1, level=1).dropna(how="all")
        frames[sym] = df
        q = check_quality(df, timeframe=timeframe, symbol=sym).stats()
        age = when - df.index[-1]
        fresh[sym] = {"last_bar": df.index[-1], "age": age, "stale": bool(age > bar + tol),
                      "errors": int(q["errors"]), "warnings": int(q["warnings"])}
    freshness = pd.DataFrame.from_dict(fresh, orient="index")

    # P&L and drift: buy and hold since the close before the 1st of the month
    close = bars["close"][symbols].ffill()
    month_start = when.normalize().replace(day=1)
    before = close.index[close.index < month_start]
    t0 = before[-1] if len(before) else close.index[0]
    p0 = close.loc[t0]
    if p0.isna().any():
        raise DataError(f"no price at the rebalance {t0:%Y-%m-%d} for "
                        + ", ".join(p0.index[p0.isna()]))
    if holdings is None:
        units, mode = target / p0, "target"
    else:
        units, mode = _holding_units(holdings, symbols), "holdings"
    held = close.loc[t0:] * units
    value = held.sum(axis=1)
    value = (value / value.iloc[0]).rename("value")
    current = (held.iloc[-1] / held.iloc[-1].sum()).rename("current")
    w_table = pd.DataFrame({"target": target, "current": current})
    w_table["drift"] = w_table["current"] - w_table["target"]

    # VaR / ES of the current weights, and the rolling backtest's traffic light
    rets = risk.returns_from_prices(bars["close"][symbols])
    wmap = current.to_dict()
    rows = {}
    for m in methods:
        s = risk.value_at_risk(rets, level=var_level, method=m, weights=wmap).stats()
        rows[m] = {"var": float(s["var"]), "es": float(s["es"]), "limit": float(var_limit),
                   "breach": bool(s["var"] > var_limit)}
    var = pd.DataFrame.from_dict(rows, orient="index")
    bt = risk.rolling_var(rets, method=backtest_method, window=var_window, level=var_level,
                          weights=wmap).backtest()

    # strategies: last-bar signal and the recent backtest
    start = when - pd.Timedelta(days=int(oos_days))
    srows = []
    seen: dict[str, int] = {}
    for name, params in parse_strategies(strategies):
        cls = get_strategy(name)
        if getattr(cls, "multi_asset", False):
            raise ParameterError(f"strategy {name} is multi-asset; the summary runs "
                                 "single-asset strategies on each symbol")
        seen[name] = seen.get(name, 0) + 1
        label = name if seen[name] == 1 else f"{name}{seen[name]}"
        strat = cls(**params)
        for sym in symbols:
            df = frames[sym]
            pos, changed = signal_position(strat.run(df))
            st = backtest(strat, df, start=start, end=when, symbol=sym, fees_bps=fees_bps).stats()
            srows.append({"key": f"{label}_{sym.replace('/', '_')}", "strategy": label,
                          "symbol": sym, "signal": pos, "since": changed,
                          "oos_return": float(st["total_return"]), "oos_sharpe": float(st["sharpe"]),
                          "oos_trades": int(st["trades"])})
    strat_table = pd.DataFrame(srows, columns=["key", "strategy", "symbol", "signal", "since",
                                               "oos_return", "oos_sharpe", "oos_trades"])
    return MorningSummary(as_of=when, freshness=freshness, value=value, var=var, weights=w_table,
                          strategies=strat_table, traffic_light=str(bt.traffic_light),
                          backtest_failures=int(bt.stats()["n_failures"]), level=var_level,
                          var_limit=var_limit, mode=mode, rebalanced=t0, oos_days=int(oos_days))
