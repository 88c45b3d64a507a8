"""The SQLite state of one live runner: orders, fills, account, equity, breaker, audit.

One file per runner (``state/NAME.sqlite``) in WAL mode with ``synchronous=FULL``: a write is
on disk when its transaction commits, and readers (the control API, ``quantlab audit verify``,
a second process) see committed data while the runner writes. Every write method runs in
:meth:`LiveStore.transaction`; the runner wraps a group of writes — fills, the model, orders
and their audit records — in one outer ``with store.transaction():`` so they commit together
or not at all, *before* the side effect they record is acknowledged.

The file carries ``schema_version`` in its ``meta`` table; a file of a newer schema, a SQLite
file of another application and a file that is not SQLite are refused with a
:class:`~quantlab.errors.StateError` naming the file.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import pandas as pd

from quantlab._util import to_jsonable
from quantlab.errors import ParameterError, StateError
from quantlab.live.audit import AUDIT_SCHEMA, AuditLog, atomic
from quantlab.live.types import ORDER_STATUSES, Fill, OrderRecord

__all__ = ["BREAKER_LEVELS", "SCHEMA_VERSION", "LiveStore"]

#: Schema of the files this version writes and reads.
SCHEMA_VERSION = 1
APPLICATION = "quantlab-live-state"
#: Circuit breaker levels: 0 ok, 1 warn, 2 reduce-only, 3 halted.
BREAKER_LEVELS = (0, 1, 2, 3)
_RESERVED_META = frozenset({"schema_version", "application"})

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE model (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    blob BLOB NOT NULL,
    bar_ms INTEGER NOT NULL
);
CREATE TABLE orders (
    client_id TEXT PRIMARY KEY,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    amount REAL NOT NULL,
    type TEXT NOT NULL,
    price REAL,
    status TEXT NOT NULL,
    exchange_id TEXT,
    filled REAL NOT NULL,
    average REAL,
    bar_ms INTEGER NOT NULL,
    leg TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    info TEXT NOT NULL
);
CREATE INDEX orders_status ON orders (status);
CREATE TABLE fills (
    fill_id TEXT PRIMARY KEY,
    client_id TEXT,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    amount REAL NOT NULL,
    price REAL NOT NULL,
    fee REAL NOT NULL,
    ts_ms INTEGER NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX fills_ts ON fills (ts_ms);
CREATE TABLE positions (symbol TEXT PRIMARY KEY, amount REAL NOT NULL);
CREATE TABLE account (id INTEGER PRIMARY KEY CHECK (id = 1), cash REAL NOT NULL);
CREATE TABLE equity (
    ts_ms INTEGER PRIMARY KEY,
    equity REAL NOT NULL,
    cash REAL NOT NULL,
    peak REAL NOT NULL
);
CREATE TABLE breaker (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    level INTEGER NOT NULL,
    reason TEXT NOT NULL,
    ts_ms INTEGER NOT NULL
);
""" + AUDIT_SCHEMA

_ORDER_COLS = ("client_id", "symbol", "side", "amount", "type", "price", "status",
               "exchange_id", "filled", "average", "bar_ms", "leg", "reason", "created_ms",
               "updated_ms", "info")
_FILL_COLS = ("fill_id", "client_id", "symbol", "side", "amount", "price", "fee", "ts_ms",
              "reason")


def _finite(name: str, value: Any) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(x):
        raise ParameterError(f"{name} must be finite, got {value!r}")
    return x


def _statuses(status: str | Iterable[str]) -> list[str]:
    wanted = [status] if isinstance(status, str) else list(status)
    for s in wanted:
        if s not in ORDER_STATUSES:
            raise ParameterError(
                f"unknown order status {s!r} (expected one of {', '.join(ORDER_STATUSES)})")
    return wanted


def _order_row(rec: OrderRecord) -> tuple[Any, ...]:
    _statuses(rec.status)
    if rec.side not in ("buy", "sell"):
        raise ParameterError(f"order {rec.client_id}: side must be buy or sell, got {rec.side!r}")
    info = json.dumps(to_jsonable(dict(rec.info)), sort_keys=True, default=str)
    return (rec.client_id, rec.symbol, rec.side, float(rec.amount), rec.type,
            None if rec.price is None else float(rec.price), rec.status, rec.exchange_id,
            float(rec.filled), None if rec.average is None else float(rec.average),
            int(rec.bar_ms), rec.leg, rec.reason, int(rec.created_ms), int(rec.updated_ms), info)


def _order_from_row(row: tuple[Any, ...]) -> OrderRecord:
    values = dict(zip(_ORDER_COLS, row, strict=True))
    values["info"] = json.loads(values["info"])
    return OrderRecord(**values)


class LiveStore:
    """State of one live runner in one SQLite file (WAL mode).

    Open with :meth:`open`; use as a context manager to close it. Every write method joins the
    caller's :meth:`transaction` when there is one.

    Attributes
    ----------
    path : pathlib.Path
        The state file.
    audit : AuditLog
        The hash-chained audit log, in the same database and connection (so audit records
        commit atomically with the state they describe).
    """

    def __init__(self, path: Path, conn: sqlite3.Connection, secrets: Iterable[str] = ()
                 ) -> None:
        self.path = path
        self._conn = conn
        self._lock = threading.RLock()
        self.audit = AuditLog(conn, secrets, lock=self._lock)

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def open(cls, path: str | Path, *, secrets: Iterable[str] = ()) -> LiveStore:
        """Open (or create, with its folders) the state file ``path``.

        Parameters
        ----------
        path : str or Path
            The runner's state file, e.g. ``state/btc_sma.sqlite``.
        secrets : Iterable[str]
            Strings the audit log must never write (API keys, bearer token).

        Returns
        -------
        LiveStore

        Raises
        ------
        StateError
            The file is not SQLite, belongs to another application, has a newer schema, or
            cannot be created.
        """
        path = Path(path)
        if path.is_dir():
            raise StateError(f"state file {path} is a folder")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False,
                                   timeout=5.0)
        except (OSError, sqlite3.Error) as exc:
            raise StateError(f"cannot open state file {path}: {exc}") from None
        try:
            cls._prepare(path, conn)
        except BaseException:
            conn.close()
            raise
        return cls(path, conn, secrets)

    @staticmethod
    def _prepare(path: Path, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("PRAGMA busy_timeout = 5000")
            tables = {r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            if tables:  # identify the file before changing anything in it
                LiveStore._check_identity(path, conn, tables)
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as exc:
            raise StateError(f"{path} is not a quantlab state file ({exc})") from None
        if str(mode).lower() != "wal":
            raise StateError(f"{path}: cannot switch the state file to WAL mode (got {mode})")
        if not tables:
            with atomic(conn):
                if not conn.execute("SELECT 1 FROM sqlite_master").fetchone():
                    for stmt in _SCHEMA.split(";"):
                        if stmt.strip():
                            conn.execute(stmt)
                    conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)",
                                     [("schema_version", json.dumps(SCHEMA_VERSION)),
                                      ("application", json.dumps(APPLICATION))])
            tables = {r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            LiveStore._check_identity(path, conn, tables)

    @staticmethod
    def _check_identity(path: Path, conn: sqlite3.Connection, tables: set[str]) -> None:
        """StateError unless ``conn`` holds a quantlab state file of a readable schema."""
        if "meta" not in tables:
            raise StateError(f"{path} is not a quantlab state file (no meta table)")
        try:
            rows = {k: json.loads(v) for k, v in conn.execute(
                "SELECT key, value FROM meta WHERE key IN ('schema_version', 'application')")}
        except (sqlite3.DatabaseError, ValueError, TypeError) as exc:
            raise StateError(f"{path} is not a quantlab state file ({exc})") from None
        if rows.get("application") != APPLICATION:
            raise StateError(f"{path} is not a quantlab state file (no application marker)")
        version = rows.get("schema_version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise StateError(f"{path}: invalid state schema_version {version!r}")
        if version > SCHEMA_VERSION:
            raise StateError(f"{path} has state schema version {version}; this quantlab reads "
                             f"up to {SCHEMA_VERSION} (upgrade quantlab)")

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> LiveStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LiveStore({str(self.path)!r})"

    def transaction(self) -> AbstractContextManager[None]:
        """``with store.transaction():`` — every write inside commits together or not at all.

        ``BEGIN IMMEDIATE`` … ``COMMIT``, ``ROLLBACK`` when the block raises. Re-entrant: a
        nested ``transaction()`` (and every write method) joins the outer one through a
        savepoint. Do not ``await`` inside the block.
        """
        return self._tx()

    @contextmanager
    def _tx(self) -> Iterator[None]:
        try:
            with atomic(self._conn, self._lock):
                yield
        except sqlite3.OperationalError as exc:
            raise StateError(f"{self.path}: state write failed: {exc}") from exc

    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        with self._lock:
            return self._conn.execute(sql, params).fetchone()

    def _all(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    # ------------------------------------------------------------------ meta
    def get_meta(self, key: str, default: Any = None) -> Any:
        """The JSON value stored under ``key`` (``default`` when absent)."""
        row = self._one("SELECT value FROM meta WHERE key = ?", (str(key),))
        return default if row is None else json.loads(row[0])

    def set_meta(self, key: str, value: Any) -> None:
        """Store a JSON-serializable ``value`` under ``key`` (replacing the old one).

        Raises
        ------
        ParameterError
            ``key`` is reserved (``schema_version``, ``application``) or empty, or ``value``
            is not JSON-serializable.
        """
        if not isinstance(key, str) or not key or key in _RESERVED_META:
            raise ParameterError(f"meta key {key!r} is reserved or invalid")
        try:
            text = json.dumps(to_jsonable(value), allow_nan=False, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"meta value for {key!r} is not JSON-serializable: {exc}"
                                 ) from None
        with self._tx():
            self._conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) "
                               "DO UPDATE SET value = excluded.value", (key, text))

    # ------------------------------------------------------------------ model
    def save_model(self, blob: bytes, bar_ms: int) -> None:
        """Store the simulator model's bytes and the last bar it has processed."""
        with self._tx():
            self._conn.execute(
                "INSERT INTO model (id, blob, bar_ms) VALUES (1, ?, ?) ON CONFLICT(id) "
                "DO UPDATE SET blob = excluded.blob, bar_ms = excluded.bar_ms",
                (sqlite3.Binary(bytes(blob)), int(bar_ms)))

    def load_model(self) -> tuple[bytes, int] | None:
        """``(blob, bar_ms)`` saved last, or None."""
        row = self._one("SELECT blob, bar_ms FROM model WHERE id = 1")
        return None if row is None else (bytes(row[0]), int(row[1]))

    def last_bar_ms(self) -> int | None:
        """Open time (epoch ms) of the last processed bar, or None."""
        row = self._one("SELECT bar_ms FROM model WHERE id = 1")
        return None if row is None else int(row[0])

    # ------------------------------------------------------------------ orders
    def upsert_order(self, rec: OrderRecord) -> None:
        """Insert or replace the order ``rec.client_id`` (keeping its original position).

        Raises
        ------
        ParameterError
            Unknown status or side.
        """
        row = _order_row(rec)
        cols = ", ".join(_ORDER_COLS)
        marks = ", ".join("?" * len(_ORDER_COLS))
        updates = ", ".join(f"{c} = excluded.{c}" for c in _ORDER_COLS[1:])
        with self._tx():
            self._conn.execute(f"INSERT INTO orders ({cols}) VALUES ({marks}) "
                               f"ON CONFLICT(client_id) DO UPDATE SET {updates}", row)

    def get_order(self, client_id: str) -> OrderRecord | None:
        """The order with this client id, or None."""
        row = self._one(f"SELECT {', '.join(_ORDER_COLS)} FROM orders WHERE client_id = ?",
                        (client_id,))
        return None if row is None else _order_from_row(row)

    def orders(self, status: str | Iterable[str] | None = None) -> list[OrderRecord]:
        """Orders (optionally of one or several statuses), by ``created_ms`` then insertion."""
        sql = f"SELECT {', '.join(_ORDER_COLS)} FROM orders"
        params: tuple[Any, ...] = ()
        if status is not None:
            wanted = _statuses(status)
            if not wanted:
                return []
            sql += f" WHERE status IN ({', '.join('?' * len(wanted))})"
            params = tuple(wanted)
        return [_order_from_row(r) for r in self._all(sql + " ORDER BY created_ms, rowid",
                                                      params)]

    def open_orders(self) -> list[OrderRecord]:
        """Orders not yet final: status ``intent`` or ``open``."""
        return self.orders(("intent", "open"))

    def order_counts(self) -> dict[str, int]:
        """Number of orders per status (statuses with none are left out)."""
        return {str(s): int(n) for s, n in self._all(
            "SELECT status, COUNT(*) FROM orders GROUP BY status ORDER BY status")}

    # ------------------------------------------------------------------ fills
    def add_fill(self, fill: Fill) -> bool:
        """Record a fill once: False (and nothing written) when ``fill.fill_id`` is known."""
        row = (fill.fill_id, fill.client_id, fill.symbol, fill.side, float(fill.amount),
               float(fill.price), float(fill.fee), int(fill.ts_ms), fill.reason)
        with self._tx():
            cur = self._conn.execute(
                f"INSERT OR IGNORE INTO fills ({', '.join(_FILL_COLS)}) "
                f"VALUES ({', '.join('?' * len(_FILL_COLS))})", row)
            return cur.rowcount == 1

    def has_fill(self, fill_id: str) -> bool:
        """True when a fill with this id is stored."""
        return self._one("SELECT 1 FROM fills WHERE fill_id = ?", (fill_id,)) is not None

    def fills(self, since_ms: int | None = None, symbol: str | None = None) -> list[Fill]:
        """Fills with ``ts_ms >= since_ms`` (all when None), optionally of one symbol, by time."""
        where, params = [], []
        if since_ms is not None:
            where.append("ts_ms >= ?")
            params.append(int(since_ms))
        if symbol is not None:
            where.append("symbol = ?")
            params.append(symbol)
        sql = f"SELECT {', '.join(_FILL_COLS)} FROM fills"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [Fill(**dict(zip(_FILL_COLS, r, strict=True)))
                for r in self._all(sql + " ORDER BY ts_ms, rowid", tuple(params))]

    def filled(self, client_id: str) -> float:
        """Total amount of the stored fills of one order (0 when none)."""
        row = self._one("SELECT COALESCE(SUM(amount), 0) FROM fills WHERE client_id = ?",
                        (client_id,))
        return float(row[0]) if row is not None else 0.0

    def last_fill_ms(self, symbol: str | None = None) -> int | None:
        """Time of the newest fill (of ``symbol``), or None."""
        if symbol is None:
            row = self._one("SELECT MAX(ts_ms) FROM fills")
        else:
            row = self._one("SELECT MAX(ts_ms) FROM fills WHERE symbol = ?", (symbol,))
        return None if row is None or row[0] is None else int(row[0])

    # ------------------------------------------------------------------ account
    def set_positions(self, positions: Mapping[str, float]) -> None:
        """Replace every position by ``positions`` (symbol → signed base units)."""
        rows = [(str(s), _finite(f"position {s}", v)) for s, v in positions.items()]
        with self._tx():
            self._conn.execute("DELETE FROM positions")
            self._conn.executemany("INSERT INTO positions (symbol, amount) VALUES (?, ?)", rows)

    def positions(self) -> dict[str, float]:
        """Symbol → signed base units, by symbol."""
        return {str(s): float(a) for s, a in self._all(
            "SELECT symbol, amount FROM positions ORDER BY symbol")}

    def set_cash(self, cash: float) -> None:
        """Store the quote-currency cash balance."""
        value = _finite("cash", cash)
        with self._tx():
            self._conn.execute("INSERT INTO account (id, cash) VALUES (1, ?) ON CONFLICT(id) "
                               "DO UPDATE SET cash = excluded.cash", (value,))

    def cash(self) -> float | None:
        """The stored cash balance, or None."""
        row = self._one("SELECT cash FROM account WHERE id = 1")
        return None if row is None else float(row[0])

    # ------------------------------------------------------------------ equity
    def add_equity(self, ts_ms: int, equity: float, cash: float, peak: float) -> None:
        """Store an equity snapshot at ``ts_ms`` (replacing one at the same time)."""
        values = (int(ts_ms), _finite("equity", equity), _finite("cash", cash),
                  _finite("peak", peak))
        with self._tx():
            self._conn.execute(
                "INSERT INTO equity (ts_ms, equity, cash, peak) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(ts_ms) DO UPDATE SET equity = excluded.equity, "
                "cash = excluded.cash, peak = excluded.peak", values)

    def equity_curve(self) -> pd.DataFrame:
        """Equity snapshots: UTC index ``time``; ``equity, cash, peak, drawdown``.

        ``drawdown`` is ``1 - equity / peak`` (a positive fraction; 0 when ``peak <= 0``).
        """
        rows = self._all("SELECT ts_ms, equity, cash, peak FROM equity ORDER BY ts_ms")
        frame = pd.DataFrame(rows, columns=["ts_ms", "equity", "cash", "peak"])
        index = pd.DatetimeIndex(pd.to_datetime(frame.pop("ts_ms").astype("int64"), unit="ms",
                                                utc=True), name="time")
        frame = frame.astype("float64").set_index(index)
        peak = frame["peak"].where(frame["peak"] > 0)
        frame["drawdown"] = (1.0 - frame["equity"] / peak).fillna(0.0)
        return frame

    def last_equity(self) -> dict[str, float] | None:
        """The newest snapshot: ``ts_ms, equity, cash, peak, drawdown``, or None."""
        row = self._one("SELECT ts_ms, equity, cash, peak FROM equity "
                        "ORDER BY ts_ms DESC LIMIT 1")
        if row is None:
            return None
        ts, equity, cash, peak = int(row[0]), float(row[1]), float(row[2]), float(row[3])
        drawdown = 1.0 - equity / peak if peak > 0 else 0.0
        return {"ts_ms": ts, "equity": equity, "cash": cash, "peak": peak,
                "drawdown": drawdown}

    # ------------------------------------------------------------------ breaker
    def set_breaker(self, level: int, reason: str, ts_ms: int) -> None:
        """Store the circuit breaker state (0 ok, 1 warn, 2 reduce-only, 3 halted).

        Raises
        ------
        ParameterError
            ``level`` is not 0, 1, 2 or 3.
        """
        if isinstance(level, bool) or level not in BREAKER_LEVELS:
            raise ParameterError(f"breaker level must be 0, 1, 2 or 3, got {level!r}")
        with self._tx():
            self._conn.execute(
                "INSERT INTO breaker (id, level, reason, ts_ms) VALUES (1, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET level = excluded.level, "
                "reason = excluded.reason, ts_ms = excluded.ts_ms",
                (int(level), str(reason), int(ts_ms)))

    def breaker(self) -> tuple[int, str, int]:
        """``(level, reason, ts_ms)``; ``(0, "", 0)`` when never set."""
        row = self._one("SELECT level, reason, ts_ms FROM breaker WHERE id = 1")
        return (0, "", 0) if row is None else (int(row[0]), str(row[1]), int(row[2]))
