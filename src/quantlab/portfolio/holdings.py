"""Read a holdings CSV: positions (``symbol,quantity``) or tax lots.

Format
------
UTF-8 CSV with a header row; blank lines and lines starting with ``#`` are skipped; column
order is free, names are case-insensitive; no other columns are allowed.

Positions file: ``symbol,quantity``
    One row per symbol (a symbol twice is an error); ``quantity`` >= 0 in base units.
Lots file: ``symbol,quantity,unit_cost,acquired``
    One row per purchase (a symbol may repeat); ``quantity`` > 0 in base units; ``unit_cost`` >= 0
    in quote currency per unit; ``acquired`` an ISO date or date-time (``2024-03-01`` or
    ``2024-03-01T12:00:00Z``; no time zone = UTC).

Symbols are ccxt unified (``BTC/USDT``); ``BTC_USDT``, ``btc-usdt`` are accepted and normalised.
Every malformed row raises :class:`~quantlab.errors.DataError` naming the file and line number.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import pandas as pd

from quantlab.data.symbols import normalize_symbol
from quantlab.errors import DataError, QuantlabError

__all__ = ["read_holdings"]

POSITION_COLUMNS = ["symbol", "quantity"]
LOT_COLUMNS = ["symbol", "quantity", "unit_cost", "acquired"]


def _number(text: str, where: str, column: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise DataError(f"{where}: {column} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise DataError(f"{where}: {column} {text!r} is not a finite number")
    return value


def read_holdings(path: str | os.PathLike[str]) -> pd.Series | pd.DataFrame:
    """Read a positions or lots CSV (see the module doc for the format).

    Returns
    -------
    Series or DataFrame
        Positions: a float Series ``quantity`` indexed by ``symbol``. Lots: a DataFrame with
        columns symbol, quantity, unit_cost, acquired (UTC timestamps), in file order, with
        ``attrs["source"]`` (the file) and ``attrs["lines"]`` (each row's line). Either can
        be passed as ``holdings`` to :func:`quantlab.portfolio.plan.plan_rebalance`.

    Raises
    ------
    DataError
        Missing/unreadable file, wrong header, or a bad row (file and line named).
    """
    p = Path(path)
    name = str(p)
    try:
        with p.open(newline="", encoding="utf-8") as fh:
            lines = [(n, line) for n, line in enumerate(fh, start=1)]
    except FileNotFoundError:
        raise DataError(f"holdings file {name} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read holdings file {name}: {exc}") from None
    content = [(n, line) for n, line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not content:
        raise DataError(f"{name} is empty (expected a header symbol,quantity[,unit_cost,acquired])")
    rows = list(csv.reader([line for _, line in content]))
    numbers = [n for n, _ in content]
    header = [h.strip().lower() for h in rows[0]]
    if sorted(header) == sorted(LOT_COLUMNS):
        kind = "lots"
    elif sorted(header) == sorted(POSITION_COLUMNS):
        kind = "positions"
    else:
        raise DataError(
            f"{name} line {numbers[0]}: header {','.join(rows[0])!r} must be "
            "'symbol,quantity' (positions) or 'symbol,quantity,unit_cost,acquired' (lots)"
        )
    col = {h: i for i, h in enumerate(header)}
    records = []
    lot_lines: list[int] = []
    seen: dict[str, int] = {}
    for n, row in zip(numbers[1:], rows[1:], strict=True):
        where = f"{name} line {n}"
        if len(row) != len(header):
            raise DataError(f"{where}: expected {len(header)} fields, got {len(row)}")
        cells = {h: row[i].strip() for h, i in col.items()}
        try:
            sym = normalize_symbol(cells["symbol"])
        except QuantlabError:
            raise DataError(f"{where}: invalid symbol {cells['symbol']!r} (expected e.g. BTC/USDT)"
                            ) from None
        qty = _number(cells["quantity"], where, "quantity")
        if kind == "positions":
            if qty < 0:
                raise DataError(f"{where}: quantity {cells['quantity']} must be >= 0 (long-only)")
            if sym in seen:
                raise DataError(f"{where}: {sym} already listed on line {seen[sym]}")
            seen[sym] = n
            records.append((sym, qty))
            continue
        if qty <= 0:
            raise DataError(f"{where}: quantity {cells['quantity']} must be > 0 for a lot")
        cost = _number(cells["unit_cost"], where, "unit_cost")
        if cost < 0:
            raise DataError(f"{where}: unit_cost {cells['unit_cost']} must be >= 0")
        try:
            ts = pd.Timestamp(cells["acquired"])
        except (TypeError, ValueError):
            ts = pd.NaT
        if ts is pd.NaT or not cells["acquired"][:1].isdigit():  # no 'today'/'now'
            raise DataError(f"{where}: acquired {cells['acquired']!r} is not a date (YYYY-MM-DD)")
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        records.append((sym, qty, cost, ts))
        lot_lines.append(n)
    if not records:
        raise DataError(f"{name} has a header but no rows")
    if kind == "positions":
        syms, qtys = zip(*records, strict=True)
        return pd.Series(qtys, index=pd.Index(syms, name="symbol"), name="quantity",
                         dtype="float64")
    df = pd.DataFrame(records, columns=LOT_COLUMNS)
    df["acquired"] = pd.to_datetime(df["acquired"], utc=True)
    df.attrs["source"] = name       # named with the line in later errors (e.g. a lot dated
    df.attrs["lines"] = lot_lines   # after the plan's as_of)
    return df
