"""Tax lots: which lots a sale consumes, realized gain/loss, holding period, harvesting ideas.

A lots table has one row per purchase: ``symbol, quantity, unit_cost, acquired`` (``unit_cost``
in quote currency per base unit, purchase fees included if you want them in the basis;
``acquired`` a UTC timestamp).

Lot selection (``method``)
--------------------------
``"fifo"``
    Oldest lot first (ties: file order).
``"lifo"``
    Newest lot first (ties: reverse file order).
``"hifo"``
    Highest ``unit_cost`` first (ties: oldest first).
``"min_tax"``
    Losses first, then long-term gains, then short-term gains. Within losses: the largest loss
    per unit first (highest ``unit_cost``); within each gain group: the smallest gain per unit
    first (again highest ``unit_cost``); remaining ties: oldest first.

Gains
-----
``proceeds = quantity * price - fee`` where the sale's estimated cost (fee, spread, impact from
the cost model) is split across the consumed lots pro rata to quantity; ``gain = proceeds -
quantity * unit_cost``. So **sale costs are included** (they reduce proceeds); purchase costs are
included only if they are in ``unit_cost``.

Holding period: ``holding_days = floor((as_of - acquired) / 1 day)``; ``term = "long"`` when
``holding_days >= long_term_days`` (default 365), else ``"short"``.

Tax-loss harvesting (:func:`harvest_candidates`) lists lots whose unrealized return is at or
below a threshold. **No wash-sale check** is made: wash-sale rules do not apply to crypto in many
jurisdictions, but check yours.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from quantlab._validate import check_choice, check_range
from quantlab.data.symbols import normalize_symbol
from quantlab.errors import DataError, ParameterError

__all__ = [
    "LOT_COLUMNS",
    "LOT_METHODS",
    "REALIZED_COLUMNS",
    "as_lots",
    "check_lot_dates",
    "consume_lots",
    "harvest_candidates",
    "order_lots",
]

LOT_COLUMNS = ["symbol", "quantity", "unit_cost", "acquired"]
LOT_METHODS = ("fifo", "lifo", "hifo", "min_tax")
REALIZED_COLUMNS = ["symbol", "acquired", "quantity", "unit_cost", "price", "proceeds",
                    "cost_basis", "fee", "gain", "holding_days", "term"]
HARVEST_COLUMNS = ["symbol", "acquired", "quantity", "unit_cost", "price", "market_value",
                   "unrealized", "return", "holding_days", "term"]


def _timestamp(value: Any, name: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name}={value!r} is not a date") from None
    if ts is pd.NaT:
        raise ParameterError(f"{name} is missing")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def as_lots(lots: Any, *, name: str = "lots") -> pd.DataFrame:
    """Validate a lots table: columns symbol, quantity (> 0), unit_cost (>= 0), acquired (UTC).

    Returns a copy with a fresh RangeIndex (the row order is the "file order" used for ties).
    """
    if not isinstance(lots, pd.DataFrame):
        raise ParameterError(f"{name} must be a DataFrame with columns {', '.join(LOT_COLUMNS)}")
    missing = [c for c in LOT_COLUMNS if c not in lots.columns]
    if missing:
        raise ParameterError(f"{name} is missing column(s) {', '.join(missing)}")
    out = lots[LOT_COLUMNS].copy().reset_index(drop=True)
    out.attrs = dict(lots.attrs)  # source file and line numbers from read_holdings
    out["symbol"] = [normalize_symbol(str(s)) for s in out["symbol"]]
    for col in ("quantity", "unit_cost"):
        try:
            out[col] = out[col].astype("float64")
        except (TypeError, ValueError):
            raise ParameterError(f"{name} column {col} must be numeric") from None
    q = out["quantity"].to_numpy()
    c = out["unit_cost"].to_numpy()
    bad = ~np.isfinite(q) | (q <= 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise ParameterError(
            f"{name} row {i} ({out['symbol'][i]}): quantity {q[i]!r} must be a positive number"
        )
    bad = ~np.isfinite(c) | (c < 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise ParameterError(
            f"{name} row {i} ({out['symbol'][i]}): unit_cost {c[i]!r} must be >= 0"
        )
    try:
        acquired = pd.to_datetime(out["acquired"], utc=True, format="ISO8601")
    except (TypeError, ValueError):
        parsed = []
        for i, value in enumerate(out["acquired"]):
            try:
                parsed.append(_timestamp(value, "acquired") if not pd.isna(value) else pd.NaT)
            except ParameterError:
                raise ParameterError(f"{name} row {i} ({out['symbol'][i]}): acquired {value!r} "
                                     "is not a date") from None
        acquired = pd.Series(pd.DatetimeIndex(parsed), index=out.index)
    if acquired.isna().any():
        i = int(np.argmax(acquired.isna().to_numpy()))
        raise ParameterError(f"{name} row {i} ({out['symbol'][i]}): acquired date is missing")
    out["acquired"] = acquired
    return out


def _day_or_time(ts: pd.Timestamp) -> str:
    return f"{ts:%Y-%m-%d}" if ts == ts.normalize() else ts.isoformat()


def check_lot_dates(lots: pd.DataFrame, as_of: Any, *, name: str = "lots") -> None:
    """Refuse lots acquired after ``as_of`` (their holding period would be negative).

    Parameters
    ----------
    lots : DataFrame
        Validated lots (:func:`as_lots`); ``attrs["source"]``/``attrs["lines"]`` (set by
        :func:`quantlab.portfolio.holdings.read_holdings`) name the file line in the message.
    as_of : date-like
        The valuation/sale date of the plan.
    name : str
        Argument name used when the lots do not come from a file.

    Raises
    ------
    DataError
        A lot from a holdings file is dated after ``as_of`` (file and line named).
    ParameterError
        A lot of an in-memory table is dated after ``as_of`` (row named).
    """
    as_of_ts = _timestamp(as_of, "as_of")
    if lots.empty:
        return
    late = (lots["acquired"] > as_of_ts).to_numpy()
    if not late.any():
        return
    i = int(np.argmax(late))
    row = lots.iloc[i]
    what = (f"lot of {row['symbol']} acquired {_day_or_time(row['acquired'])} is after the plan "
            f"date as_of {_day_or_time(as_of_ts)} (its holding period would be negative); "
            "fix the date or plan as of a later day")
    source, lines = lots.attrs.get("source"), lots.attrs.get("lines")
    if source and lines is not None and len(lines) == len(lots):
        raise DataError(f"{source} line {lines[i]}: {what}")
    raise ParameterError(f"{name} row {i}: {what}")


def order_lots(lots: pd.DataFrame, method: str, *, price: float | None = None,
               as_of: Any = None, long_term_days: int = 365) -> pd.DataFrame:
    """The lots of **one** symbol in the order a sale consumes them under ``method``."""
    method = check_method(method)
    df = lots.copy()
    df["_pos"] = np.arange(len(df))
    if method == "fifo":
        return df.sort_values(["acquired", "_pos"], kind="mergesort").drop(columns="_pos")
    if method == "lifo":
        return df.sort_values(["acquired", "_pos"], ascending=False,
                              kind="mergesort").drop(columns="_pos")
    if method == "hifo":
        return df.sort_values(["unit_cost", "acquired", "_pos"], ascending=[False, True, True],
                              kind="mergesort").drop(columns="_pos")
    if price is None:
        raise ParameterError("lot_method='min_tax' needs the sale price")
    as_of_ts = _timestamp(as_of if as_of is not None else pd.Timestamp.now(tz="UTC"), "as_of")
    days = (as_of_ts - df["acquired"]).dt.days
    gain = price - df["unit_cost"]
    group = np.where(gain < 0, 0, np.where(days >= long_term_days, 1, 2))
    df["_group"] = group
    # all groups: highest unit_cost first = largest loss first / smallest gain first
    return df.sort_values(["_group", "unit_cost", "acquired", "_pos"],
                          ascending=[True, False, True, True],
                          kind="mergesort").drop(columns=["_pos", "_group"])


def check_method(method: str) -> str:
    return check_choice(str(method).lower(), "lot_method", LOT_METHODS)


def consume_lots(lots: pd.DataFrame, symbol: str, quantity: float, price: float, *,
                 method: str = "fifo", fee: float = 0.0, as_of: Any = None,
                 long_term_days: int = 365) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sell ``quantity`` of ``symbol`` at ``price`` out of ``lots``.

    Parameters
    ----------
    lots : DataFrame
        Validated lots (see :func:`as_lots`), any symbols.
    fee : float
        Total estimated cost of the sale (quote currency), split pro rata over the lots consumed.

    Returns
    -------
    (realized, remaining)
        ``realized``: one row per (part of a) lot sold, columns :data:`REALIZED_COLUMNS`;
        ``remaining``: the lots table after the sale (partly sold lots reduced).

    Raises
    ------
    ParameterError
        When the lots of ``symbol`` hold less than ``quantity``.
    """
    symbol = normalize_symbol(symbol)
    as_of_ts = _timestamp(as_of if as_of is not None else pd.Timestamp.now(tz="UTC"), "as_of")
    mine = lots[lots["symbol"] == symbol]
    check_lot_dates(mine, as_of_ts)
    held = float(mine["quantity"].sum())
    if quantity > held * (1 + 1e-9) + 1e-12:
        raise ParameterError(
            f"cannot sell {quantity:g} {symbol}: the lots hold only {held:g}"
        )
    ordered = order_lots(mine, method, price=price, as_of=as_of_ts, long_term_days=long_term_days)
    remaining = lots.copy()
    rows = []
    left = float(quantity)
    for idx, lot in ordered.iterrows():
        if left <= 0:
            break
        take = min(float(lot["quantity"]), left)
        if take >= float(lot["quantity"]) - 1e-12 * max(1.0, float(lot["quantity"])):
            take = float(lot["quantity"])
        left -= take
        if left < 1e-12 * max(1.0, quantity):
            left = 0.0
        remaining.loc[idx, "quantity"] = float(lot["quantity"]) - take
        days = int((as_of_ts - lot["acquired"]).days)
        lot_fee = fee * take / quantity if quantity > 0 else 0.0
        proceeds = take * price - lot_fee
        basis = take * float(lot["unit_cost"])
        rows.append({
            "symbol": symbol, "acquired": lot["acquired"], "quantity": take,
            "unit_cost": float(lot["unit_cost"]), "price": float(price), "proceeds": proceeds,
            "cost_basis": basis, "fee": lot_fee, "gain": proceeds - basis,
            "holding_days": days, "term": "long" if days >= long_term_days else "short",
        })
    remaining = remaining[remaining["quantity"] > 1e-12].reset_index(drop=True)
    realized = pd.DataFrame(rows, columns=REALIZED_COLUMNS)
    return realized, remaining


def harvest_candidates(lots: pd.DataFrame, prices: Mapping[str, float] | pd.Series, *,
                       threshold: float = -0.10, as_of: Any = None,
                       long_term_days: int = 365) -> pd.DataFrame:
    """Lots whose unrealized return ``price / unit_cost - 1`` is <= ``threshold``.

    Sorted by unrealized loss, largest loss first. **No wash-sale check** (see module doc).

    Parameters
    ----------
    threshold : float
        Return threshold, e.g. ``-0.10`` lists lots down 10 % or more; must be <= 0.
    """
    thr = check_range(threshold, "harvest_threshold", hi=0, hint="(e.g. -0.10)", coerce=True)
    as_of_ts = _timestamp(as_of if as_of is not None else pd.Timestamp.now(tz="UTC"), "as_of")
    if lots.empty:
        return pd.DataFrame(columns=HARVEST_COLUMNS)
    check_lot_dates(lots, as_of_ts)
    px = lots["symbol"].map(lambda s: float(prices[s]) if s in prices else float("nan"))
    df = lots.copy()
    df["price"] = px.astype("float64")
    df["market_value"] = df["quantity"] * df["price"]
    df["unrealized"] = df["market_value"] - df["quantity"] * df["unit_cost"]
    with np.errstate(divide="ignore", invalid="ignore"):
        df["return"] = np.where(df["unit_cost"] > 0, df["price"] / df["unit_cost"] - 1.0, np.nan)
    df["holding_days"] = (as_of_ts - df["acquired"]).dt.days.astype("int64")
    df["term"] = np.where(df["holding_days"] >= long_term_days, "long", "short")
    pick = (df["unrealized"] < 0) & (df["return"] <= thr)
    out = df.loc[pick, HARVEST_COLUMNS].sort_values("unrealized", kind="mergesort")
    return out.reset_index(drop=True)
