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
