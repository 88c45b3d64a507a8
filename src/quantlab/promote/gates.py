"""The six promotion gates, run on a declared strategy and its data.

1. **walk_forward** — :func:`quantlab.walk_forward` over the declared grid: out-of-sample Sharpe
   at least ``min_oos_sharpe``, OOS max drawdown at most ``max_oos_drawdown``, at least
   ``min_trades`` OOS trades.
2. **lookahead** — :func:`~quantlab.promote.lookahead.lookahead_check`: signals recomputed on data
   truncated just after sampled bars equal the full-history signals.
3. **warmup** — :func:`~quantlab.promote.warmup.warmup_check`: the history the outputs need to
   agree (to 1e-9) is at most the declared ``warmup()``; the measured figure is what the live
   runner feeds.
4. **risk** — the strategy's per-bar returns: one-step rolling historical VaR backtest not in the
   red zone (nor yellow with ``max_zone="green"``), full-sample max drawdown at most
   ``max_drawdown``.
5. **reproducibility** — a second backtest gives bit-identical trades and equity.
6. **overfit** — deflated Sharpe ratio (trials = the grid's combinations, or ``trials`` when
   the research tried more) and probability of backtest overfitting (CSCV over the return
   series of up to ``pbo_max_configs`` of the grid's combinations); always recorded,
   thresholds ``min_dsr``/``max_pbo`` optional.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from quantlab._result import Result
from quantlab._util import to_jsonable
from quantlab.backtesting import backtest, walk_forward
from quantlab.backtesting.result import BacktestResult
from quantlab.backtesting.sweep import grid_runs
from quantlab.promote.config import GateConfig
from quantlab.strategies.base import Strategy

__all__ = ["GATES", "GateReport", "run_gates"]

GATES = ("walk_forward", "lookahead", "warmup", "risk", "reproducibility", "overfit")
_ZONES = {"green": 0, "yellow": 1, "red": 2}


def _row(gate: str, figure: str, value: Any, threshold: Any, passed: bool | None) -> dict[str, Any]:
    return {"gate": gate, "figure": figure, "value": value, "threshold": threshold,
            "passed": passed}


def _grid(strategy: Strategy, config: GateConfig) -> dict[str, list[Any]]:
    """The walk-forward / overfitting grid: the configured one, else the declared values."""
    if config.wf_grid:
        unknown = sorted(set(config.wf_grid) - set(strategy.params))
        if unknown:
            from quantlab.errors import ParameterError

            raise ParameterError(f"walk_forward.grid names {unknown[0]!r}, not a parameter of "
                                 f"{strategy.label()} ({', '.join(strategy.params)})")
        return {k: list(v) for k, v in config.wf_grid.items()}
    return {k: [v] for k, v in strategy.values.items() if k in strategy.params}


def gate_walk_forward(strategy: Strategy, bars: pd.DataFrame, options: dict[str, Any],
                      config: GateConfig) -> tuple[list[dict[str, Any]], Any]:
    """Gate 1: out-of-sample figures of the walk-forward (for a strategy without parameters, of
    one backtest of everything after the first train window)."""
    grid = _grid(strategy, config)
    if not grid:  # nothing to re-optimize: the out-of-sample span is everything after one train window
        train = config.wf_train
        first = (bars.index[0] + pd.Timedelta(train) if isinstance(train, str)
                 else bars.index[min(int(train), len(bars) - 2)])
        oos = backtest(strategy, bars, start=first, **options)
        st = oos.stats()
        s = pd.Series({"oos_sharpe": st["sharpe"], "oos_max_drawdown": st["max_drawdown"],
                       "oos_trades": st["trades"], "folds": 0, "efficiency_ratio": np.nan})
        wf: Any = oos
    else:
        wf = walk_forward(strategy, bars, grid, train=config.wf_train, test=config.wf_test,
                          metric="sharpe", **options)
        s = wf.stats()
    rows = [
        _row("walk_forward", "oos_sharpe", float(s["oos_sharpe"]), f">= {config.min_oos_sharpe:g}",
             bool(s["oos_sharpe"] >= config.min_oos_sharpe)),
        _row("walk_forward", "oos_max_drawdown", float(s["oos_max_drawdown"]),
             f"<= {config.max_oos_drawdown:g}", bool(s["oos_max_drawdown"] <= config.max_oos_drawdown)),
        _row("walk_forward", "oos_trades", int(s["oos_trades"]), f">= {config.min_trades}",
             bool(s["oos_trades"] >= config.min_trades)),
        _row("walk_forward", "folds", int(s["folds"]), None, None),
        _row("walk_forward", "efficiency_ratio", float(s["efficiency_ratio"]), None, None),
    ]
    return rows, wf


def gate_risk(result: BacktestResult, config: GateConfig) -> list[dict[str, Any]]:
    """Gate 4: VaR backtest traffic light of the strategy's returns and its max drawdown."""
    from quantlab.risk import rolling_var

    returns = result.returns
    rows = []
    if len(returns) > config.var_window + 1:
        bt = rolling_var(returns, window=config.var_window, level=config.var_level).backtest()
        zone = bt.traffic_light
        rows.append(_row("risk", f"var_{config.var_level:g}_traffic_light", zone,
                         f"<= {config.max_zone}", _ZONES[zone] <= _ZONES[config.max_zone]))
        rows.append(_row("risk", "var_breach_rate", float(bt.failure_rate), None, None))
    else:
        rows.append(_row("risk", "var_traffic_light", "n/a", f"<= {config.max_zone}", False))
    mdd = float(result.stats()["max_drawdown"])
    rows.append(_row("risk", "max_drawdown", mdd, f"<= {config.max_drawdown:g}",
                     mdd <= config.max_drawdown))
    return rows


def gate_reproducibility(strategy: Strategy, bars: pd.DataFrame, options: dict[str, Any],
                         first: BacktestResult) -> list[dict[str, Any]]:
    """Gate 5: a second run gives bit-identical trades and equity."""
    second = backtest(strategy, bars, **options)
    same_equity = first.equity.to_numpy().tobytes() == second.equity.to_numpy().tobytes()
    same_trades = first.trades.equals(second.trades) and first.orders.equals(second.orders)
    return [_row("reproducibility", "identical_equity", same_equity, "bit-identical", same_equity),
            _row("reproducibility", "identical_trades", same_trades, "identical", same_trades)]


def gate_overfit(strategy: Strategy, bars: pd.DataFrame, options: dict[str, Any], config: GateConfig,
                 chosen: BacktestResult, extra: dict[str, Any]) -> list[dict[str, Any]]:
    """Gate 6: deflated Sharpe ratio over the grid's trials and PBO over their return series.

    The trials' Sharpe ratios come from one :func:`quantlab.sweep` of the grid; PBO needs each
    configuration's per-bar returns, so it backtests at most ``pbo_max_configs`` of them
    (evenly spaced through the grid when it is larger).
    """
    from quantlab.backtesting import sweep
    from quantlab.errors import ParameterError
    from quantlab.promote.dsr import deflated_sharpe
    from quantlab.promote.pbo import pbo

    grid = _grid(strategy, config)
    runs = grid_runs(type(strategy), strategy.values, grid, None)[0]
    if len(runs) > 1:
        swept = sweep(type(strategy), bars, progress=False, **{**strategy.values, **grid}, **options)
        sharpes = swept.table["sharpe"].to_numpy(dtype=float)
    else:
        sharpes = np.array([float(chosen.stats()["sharpe"])])
    rows = [_row("overfit", "grid_combinations", len(sharpes), None, None)]
    if config.trials:
        if len(sharpes) < 2:
            raise ParameterError("[overfit] trials needs a [walk_forward.grid] of at least two "
                                 "combinations (to estimate the variance of the trials' Sharpe ratios)")
        finite = sharpes[np.isfinite(sharpes)]
        dsr = deflated_sharpe(chosen.returns, trials=int(config.trials),
                              sharpe_variance=float(np.var(finite, ddof=1)), periods_per_year=chosen.ppy)
    else:
        dsr = deflated_sharpe(chosen.returns, trials=sharpes, periods_per_year=chosen.ppy)
    extra["dsr"] = dsr
    rows.append(_row("overfit", "trials", int(dsr.trials), None, None))
    rows.append(_row("overfit", "deflated_sharpe", float(dsr.dsr), f">= {config.min_dsr:g}",
                     None if config.min_dsr <= 0 else bool(dsr.dsr >= config.min_dsr)))
    gated = None if config.max_pbo >= 1 else False
    if len(runs) < 2:
        rows.append(_row("overfit", "pbo", "n/a (one combination)", f"<= {config.max_pbo:g}", gated))
        return rows
    pick = np.unique(np.linspace(0, len(runs) - 1, min(len(runs), config.pbo_max_configs)).round().astype(int))
    perf = pd.concat({int(i): backtest(runs[i], bars, **options).returns for i in pick}, axis=1)
    p = pbo(perf, n_splits=config.pbo_splits)
    extra["pbo"] = p
    rows.append(_row("overfit", "pbo_configurations", len(pick), None, None))
    rows.append(_row("overfit", "pbo", float(p.pbo), f"<= {config.max_pbo:g}",
                     None if config.max_pbo >= 1 else bool(p.pbo <= config.max_pbo)))
    return rows


@dataclass(repr=False)
class GateReport(Result):
    """The gates of one promotion: a row per figure with its threshold and verdict.

    Attributes
    ----------
    table : DataFrame
        ``gate, figure, value, threshold, passed`` (``passed`` None: recorded, not gated).
    strategy : Strategy
        The strategy instance gated.
    symbols : list[str]
        Data it was gated on.
    warmup_bars : int or None
        The measured warm-up (history the live runner must feed).
    artifact : str or None
        Folder of the promoted version written (None when a gate failed or nothing was written).
    """

    table: pd.DataFrame
    strategy: Strategy
    symbols: list[str]
    warmup_bars: int | None = None
    artifact: str | None = None

    @property
    def passed(self) -> bool:
        """Every gated figure passed."""
        gated = self.table["passed"].dropna()
        return bool(gated.astype(bool).all())

    def failed(self) -> pd.DataFrame:
        """The rows that failed."""
        return self.table[self.table["passed"].eq(False)]

    def stats(self) -> pd.Series:
        """passed, number of figures, gated and failed, and each gate's verdict."""
        out: dict[str, Any] = {"passed": self.passed, "figures": len(self.table),
                               "gated": int(self.table["passed"].notna().sum()),
                               "failed": int(self.table["passed"].eq(False).sum()),
                               "warmup_bars": self.warmup_bars, "artifact": self.artifact}
        for gate in GATES:
            rows = self.table[(self.table["gate"] == gate) & self.table["passed"].notna()]
            out[gate] = "n/a" if rows.empty else ("pass" if rows["passed"].astype(bool).all() else "FAIL")
        return pd.Series(out, name="gates", dtype=object)

    def _summary_table(self) -> pd.DataFrame:
        t = self.table.copy()
        t["passed"] = t["passed"].map({True: "pass", False: "FAIL"}).fillna("")
        t["threshold"] = t["threshold"].fillna("")
        return t.set_index(["gate", "figure"])

    def summary(self, formatted: bool = False) -> pd.DataFrame:
        """The gate table (``formatted=True``: numbers as display strings)."""
        t = self._summary_table()
        if formatted:
            t["value"] = [v if isinstance(v, str) else f"{v:,.4g}" if isinstance(v, float) else str(v)
                          for v in t["value"]]
        return t

    def title(self) -> str:
        """``Gates of SmaCross(fast=10, slow=50) on BTC/USDT: passed``."""
        verdict = "passed" if self.passed else f"FAILED ({len(self.failed())} figure(s))"
        return f"Gates of {self.strategy!r} on {', '.join(self.symbols)}: {verdict}"

    def _figure(self, **kwargs: Any) -> Any:
        import plotly.graph_objects as go

        s = self.stats()
        gates = [g for g in GATES if s[g] != "n/a"]
        colors = ["seagreen" if s[g] == "pass" else "firebrick" for g in gates]
        fig = go.Figure(go.Bar(x=gates, y=[1] * len(gates), marker_color=colors,
                               text=[s[g] for g in gates], textposition="inside"))
        fig.update_layout(title=self.title(), yaxis={"visible": False}, **kwargs)
        return fig

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: verdict, stats and every row."""
        return to_jsonable({"type": type(self).__name__, "title": self.title(),
                            "passed": self.passed, "stats": self.stats(),
                            "strategy": self.strategy.label(), "params": self.strategy.values,
                            "symbols": self.symbols, "warmup_bars": self.warmup_bars,
                            "artifact": self.artifact,
                            "gates": self.table.to_dict(orient="records")})


def run_gates(strategy: Strategy, bars: pd.DataFrame, *, options: dict[str, Any] | None = None,
              config: GateConfig | None = None, symbols: list[str] | None = None,
              progress: Any = None) -> tuple[GateReport, dict[str, Any]]:
    """Run every gate on ``strategy`` and ``bars``.

    Parameters
    ----------
    strategy : Strategy
        The declared strategy with its parameters.
    bars : DataFrame
        The data it was researched on (one asset or a panel).
    options : dict, optional
        Backtest options declared by the notebook.
    config : GateConfig, optional
        Thresholds (defaults: :class:`GateConfig`).
    symbols : list[str], optional
        Names for the report.
    progress : callable, optional
        ``progress(gate_name)`` before each gate.

    Returns
    -------
    (GateReport, dict)
        The verdicts, and the objects computed on the way (``backtest``, ``walk_forward``,
        ``lookahead``, ``warmup``, ``dsr``, ``pbo``) for the manifest and the report.
    """
    from quantlab.promote.lookahead import lookahead_check
    from quantlab.promote.warmup import warmup_check

    cfg = config or GateConfig()
    opts = dict(options or {})
    say = progress or (lambda name: None)
    rows: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}

    say("walk_forward")
    wf_rows, extra["walk_forward"] = gate_walk_forward(strategy, bars, opts, cfg)
    rows += wf_rows

    say("lookahead")
    la = lookahead_check(strategy, bars, n_changes=cfg.lookahead_changes,
                         n_random=cfg.lookahead_random, seed=cfg.lookahead_seed)
    extra["lookahead"] = la
    first = la.first
    rows.append(_row("lookahead", "bars_checked", int(la.checked), None, None))
    rows.append(_row("lookahead", "violations", len(la.offending), "0", bool(la.passed)))
    if first is not None:
        rows.append(_row("lookahead", "first_violation",
                         f"{first['time']} {first['array']}[{first['column']}]", None, None))

    say("warmup")
    wu = warmup_check(strategy, bars, last_k=cfg.warmup_last_k)
    extra["warmup"] = wu
    needed = None if wu.needed is None else int(wu.needed)
    rows.append(_row("warmup", "needed_bars", "not reached within the data" if needed is None else needed,
                     f"<= declared {int(wu.declared)}", bool(wu.passed)))

    say("risk")
    res = backtest(strategy, bars, **opts)
    extra["backtest"] = res
    rows += gate_risk(res, cfg)

    say("reproducibility")
    rows += gate_reproducibility(strategy, bars, opts, res)

    say("overfit")
    rows += gate_overfit(strategy, bars, opts, cfg, res, extra)
    report = GateReport(pd.DataFrame(rows), strategy, list(symbols or []), needed)
    return report, extra
