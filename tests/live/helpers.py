"""Shared test helpers: promoted artifacts of the built-in strategies, store readers."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quantlab.promote.artifact import write_artifact

BUILTINS = {
    "sma_cross": ("sma_cross", "SmaCross"),
    "donchian_breakout": ("donchian", "DonchianBreakout"),
    "rsi_reversion": ("rsi_reversion", "RsiReversion"),
    "momentum_rotation": ("momentum_rotation", "MomentumRotation"),
    "regime": ("regime", "MarkovRegime"),
}


def promote_builtin(root: Path, name: str, strategy: str, params: dict[str, Any],
                    symbols: list[str], options: dict[str, Any] | None = None,
                    warmup: int = 50, timeframe: str = "1d") -> Path:
    """Freeze a built-in strategy as ``root/name/N`` (what ``quantlab promote`` writes, minus
    the gates: the runner only reads strategy.py, params.json and the manifest's validation)."""
    module, cls = BUILTINS[strategy]
    art = write_artifact(
        name, strategy_source=f"from quantlab.strategies.{module} import {cls}\n",
        strategy_ref=f"strategy.py:{cls}", params=params, root=root,
        manifest={"strategy": strategy, "params": params, "options": options or {},
                  "data": {"symbols": symbols, "exchange": None, "timeframe": timeframe},
                  "warmup_bars": warmup})
    return Path(art.path)


def store_fills(path: Path) -> pd.DataFrame:
    """Fills of a state file, in time order, read with plain sqlite3."""
    from quantlab.live.store import LiveStore

    with LiveStore.open(path) as st:
        rows = [f.to_dict() for f in st.fills()]
    return pd.DataFrame(rows)


def raw(path: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(path)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def backtest_fills(res: Any) -> pd.DataFrame:
    """The backtest's filled records as (ts_ms, symbol, side, amount, price, fee)."""
    from quantlab.backtesting.sim import kernel

    rec = res.records[res.records[:, kernel.REC_STATUS] == kernel.STATUS_FILLED]
    index = res.equity.index
    symbols = list(res.positions.columns)
    out = pd.DataFrame({
        "ts_ms": (index[rec[:, kernel.REC_BAR].astype(int)].as_unit("ns").asi8 // 1_000_000),
        "col": rec[:, kernel.REC_COL].astype(int),
        "side": np.where(rec[:, kernel.REC_SIDE] > 0, "buy", "sell"),
        "amount": rec[:, kernel.REC_SIZE], "price": rec[:, kernel.REC_PRICE],
        "fee": rec[:, kernel.REC_FEE]})
    out["symbol"] = [symbols[c] for c in out["col"]]
    return out


FLIP_SOURCE = '''
import pandas as pd

from quantlab.strategies.base import Param, Signals, Strategy


class Flip(Strategy):
    """Long for ``period`` bars, flat for ``period`` bars (by bar time: causal, trades often)."""

    name = "flip"
    period = Param(2, low=1, high=1000, doc="bars per phase")

    def warmup(self) -> int:
        return 2

    def signals(self, bars: pd.DataFrame) -> Signals:
        minutes = bars.index.as_unit("ns").asi8 // 60_000_000_000
        on = pd.Series((minutes // self.period) % 2 == 0, index=bars.index)
        prev = on.shift(1, fill_value=False).astype(bool)
        return Signals(entries=on & ~prev, exits=~on & prev)
'''


def promote_flip(root: Path, name: str = "flip", symbols: list[str] | None = None,
                 options: dict[str, Any] | None = None, period: int = 2,
                 timeframe: str = "1m") -> Path:
    """A promoted strategy that enters and exits every ``period`` bars (for order tests)."""
    art = write_artifact(
        name, strategy_source=FLIP_SOURCE, strategy_ref="strategy.py:Flip",
        params={"period": period}, root=root,
        manifest={"strategy": "flip", "params": {"period": period},
                  "options": options or {"sizing": "fixed_fraction", "fraction": 0.5},
                  "data": {"symbols": symbols or ["BTC/USDT"], "exchange": "binance",
                           "timeframe": timeframe},
                  "warmup_bars": 2})
    return Path(art.path)


def live_config(path: Path, url: str, **sections: dict[str, Any]) -> Path:
    """A live.toml pointing at ``url`` with fast polling and no rate limit; ``sections``
    add or override keys (``breaker={"drawdown": "off"}``)."""
    base: dict[str, dict[str, Any]] = {
        "exchange": {"url": url, "rate_limit_ms": 0, "timeout_ms": 2000},
        "runner": {"poll_interval_s": 0.02, "window": 10},
        "orders": {"retry_backoff_s": 0.05},
        "breaker": {"drawdown": "off", "daily_loss": "off", "staleness_bars": "off"},
        "risk": {"max_drawdown": "off", "daily_loss_limit": "off", "max_orders_per_minute": "off"},
    }
    for section, items in sections.items():
        base.setdefault(section, {}).update(items)

    def fmt(v: Any) -> str:
        if isinstance(v, str):
            return f'"{v}"'
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, list | tuple):
            return "[" + ", ".join(fmt(x) for x in v) + "]"
        return repr(v)

    lines = []
    for section, items in base.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {fmt(v)}" for k, v in items.items()]
    path.write_text("\n".join(lines) + "\n")
    return path
