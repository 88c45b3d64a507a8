"""The simulator's order records as tidy tables: fills, rejected orders and round-trip trades."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from quantlab.backtesting.sim import REASONS, kernel

__all__ = ["orders_table", "rejected_table", "trades_table"]

_TRADE_COLUMNS = ["symbol", "direction", "entry_time", "entry_price", "exit_time", "exit_price",
                  "size", "pnl", "return", "status", "fees"]


def _base(rec: np.ndarray, index: pd.DatetimeIndex, symbols: Sequence[str]) -> pd.DataFrame:
    side = rec[:, kernel.REC_SIDE]
    return pd.DataFrame({
        "time": index[rec[:, kernel.REC_BAR].astype(np.int64)],
        "symbol": np.asarray(list(symbols), dtype=object)[rec[:, kernel.REC_COL].astype(np.int64)],
        "side": np.where(side > 0, "buy", "sell"),
        "size": rec[:, kernel.REC_SIZE],
        "price": rec[:, kernel.REC_PRICE],
    })


def _filled(rec: np.ndarray) -> np.ndarray:
    return rec[rec[:, kernel.REC_STATUS] == kernel.STATUS_FILLED]


def orders_table(rec: np.ndarray, index: pd.DatetimeIndex, symbols: Sequence[str]) -> pd.DataFrame:
    """Every fill: time, symbol, side, size, price, notional, fee, reason."""
    rec = _filled(rec)
    out = _base(rec, index, symbols)
    out["notional"] = out["size"] * out["price"]
    out["fee"] = rec[:, kernel.REC_FEE]
    out["reason"] = [REASONS[int(r)] for r in rec[:, kernel.REC_REASON]]
    return out


def rejected_table(rec: np.ndarray, index: pd.DatetimeIndex, symbols: Sequence[str]) -> pd.DataFrame:
    """Orders the exchange rules (or missing buying power) refused: time, symbol, side, size,
    price, notional and the reason."""
    rec = rec[rec[:, kernel.REC_STATUS] == kernel.STATUS_REJECTED]
    out = _base(rec, index, symbols)
    out["notional"] = out["size"] * out["price"]
    out["reason"] = [REASONS[int(r)] for r in rec[:, kernel.REC_REASON]]
    return out


def trades_table(rec: np.ndarray, index: pd.DatetimeIndex, symbols: Sequence[str],
                 last_close: np.ndarray, positions_end: np.ndarray) -> pd.DataFrame:
    """Round trips: one row per position from opening to flat (adds and partial exits included).

    ``entry_price``/``exit_price`` are size-weighted averages of the entry/exit fills, ``size``
    the units entered, ``pnl`` net of all fees, ``return`` = pnl / (size x entry_price). A
    position still open is marked at the last close (``exit_price``; no exit fee) with status
    ``open`` and no exit time.
    """
    rec = _filled(rec)
    rows: list[dict[str, object]] = []
    live: dict[int, dict[str, float]] = {}

    def finish(col: int, t: dict[str, float], pnl: float, status: str, exit_bar: int | None) -> None:
        long = t["dir"] > 0
        exit_units = t["xu"]
        exit_price = t["xv"] / exit_units if exit_units > 0 else np.nan
        if status == "open":
            rem = abs(float(positions_end[col]))
            price = float(last_close[col])
            exit_price = (t["xv"] + rem * price) / (exit_units + rem) if exit_units + rem > 0 else price
        entry_price = t["ev"] / t["eu"]
        rows.append({
            "symbol": symbols[col], "direction": "long" if long else "short",
            "entry_time": index[int(t["bar"])], "entry_price": entry_price,
            "exit_time": index[exit_bar] if exit_bar is not None else pd.NaT,
            "exit_price": exit_price, "size": t["eu"], "pnl": pnl,
            "return": pnl / t["ev"] if t["ev"] else np.nan, "status": status, "fees": t["fees"],
        })

    for r in rec:
        col = int(r[kernel.REC_COL])
        side, units, price, fee = r[kernel.REC_SIDE], r[kernel.REC_SIZE], r[kernel.REC_PRICE], r[kernel.REC_FEE]
        if r[kernel.REC_OPENED] > 0:
            live[col] = {"dir": side, "bar": r[kernel.REC_BAR], "eu": 0.0, "ev": 0.0, "xu": 0.0,
                         "xv": 0.0, "fees": 0.0}
        t = live[col]
        t["fees"] += fee
        if side == t["dir"]:
            t["eu"] += units
            t["ev"] += units * price
        else:
            t["xu"] += units
            t["xv"] += units * price
        pnl = r[kernel.REC_PNL]
        if pnl == pnl:  # the position is flat again
            finish(col, t, float(pnl), "closed", int(r[kernel.REC_BAR]))
            del live[col]
    for col, t in sorted(live.items(), key=lambda kv: kv[1]["bar"]):
        rem = float(positions_end[col])
        value = t["xv"] - t["ev"] if t["dir"] > 0 else t["ev"] - t["xv"]
        pnl = value + rem * float(last_close[col]) - t["fees"]  # rem is signed
        finish(col, t, pnl, "open", None)
    out = pd.DataFrame(rows, columns=_TRADE_COLUMNS)
    if len(out):
        out = out.sort_values(["entry_time"], kind="stable").reset_index(drop=True)
    for name in ("entry_time", "exit_time"):
        out[name] = pd.Series(pd.DatetimeIndex(out[name], tz=index.tz), index=out.index)
    return out
