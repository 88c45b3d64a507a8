"""The data engine's bar store: validated closed bars, a heartbeat and the engine's audit log in
one SQLite file (WAL mode), written by the engine and read by the runners.

The schema (documented for readers in :mod:`quantlab.live.feed_engine`, which reads it with
:class:`~quantlab.live.feed_engine.EngineFeed`)::

    meta       (key TEXT PRIMARY KEY, value TEXT)    application, schema_version, group,
                                                     symbols, timeframe (JSON)
    bars       (symbol, timeframe, open_ms, open, high, low, close, volume, source,
                served_ms, PRIMARY KEY (symbol, timeframe, open_ms))
    heartbeat  (id = 1, pid, wall_ms, exchange_ms, clock_rate, source, path, state,
                started_ms)
    audit, audit_head                                the hash-chained audit log
                                                     (:class:`quantlab.live.audit.AuditLog`)

Bars are appended in time order, every symbol of a bar time (or of several when the engine
catches up) in one transaction; ``quantlab audit verify state/bars-GROUP.sqlite`` checks the
audit chain like a runner's. ``synchronous=NORMAL``: a crash of the machine may lose the
last bars written, which the engine fetches again at its next start.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np
import pandas as pd

from quantlab.errors import StateError
from quantlab.live.audit import AuditLog, atomic
from quantlab.live.feed_engine import (
    BAR_STORE_APPLICATION,
    BAR_STORE_SCHEMA_VERSION,
    ENGINE_STATES,
    pid_alive,
)

__all__ = ["BarStore", "Heartbeat", "ServedBar"]

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE bars (
    symbol TEXT NOT NULL,
    timeframe TEXT NOT NULL,
    open_ms INTEGER NOT NULL,
    open REAL NOT NULL,
    high REAL NOT NULL,
    low REAL NOT NULL,
    close REAL NOT NULL,
    volume REAL NOT NULL,
    source TEXT NOT NULL,
    served_ms INTEGER NOT NULL,
    PRIMARY KEY (symbol, timeframe, open_ms)
) WITHOUT ROWID;
CREATE INDEX bars_time ON bars (timeframe, open_ms);
CREATE TABLE heartbeat (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    pid INTEGER NOT NULL,
    wall_ms INTEGER NOT NULL,
    exchange_ms INTEGER NOT NULL,
    clock_rate REAL NOT NULL,
    source TEXT NOT NULL,
    path TEXT NOT NULL,
    state TEXT NOT NULL,
    started_ms INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class ServedBar:
    """One validated closed candle to serve: ``values`` are open, high, low, close, volume."""

    symbol: str
    open_ms: int
    values: tuple[float, float, float, float, float]
    source: str


@dataclass(frozen=True)
class Heartbeat:
    """The engine's heartbeat row (see :mod:`quantlab.live.feed_engine`)."""

    pid: int
    wall_ms: int
    exchange_ms: int
    clock_rate: float
    source: str
    path: str
    state: str
    started_ms: int


class BarStore:
    """The bar store of one exchange group (open with :meth:`open`).

    Attributes
    ----------
    path : pathlib.Path
        The SQLite file.
    timeframe : str
        Bar length of the group.
    audit : AuditLog
        The engine's audit log, in the same file.
    """

    def __init__(self, path: Path, conn: sqlite3.Connection, timeframe: str) -> None:
        self.path = path
        self.timeframe = timeframe
        self._conn = conn
        self._lock = threading.RLock()
        self.audit = AuditLog(conn, lock=self._lock)

    @classmethod
    def open(cls, path: str | Path, *, group: str, symbols: Sequence[str],
             timeframe: str) -> BarStore:
        """Open (or create, with its folders) the bar store of ``group``.

        Raises
        ------
        StateError
            The file is not a bar store, has a newer schema or another timeframe, or cannot be
            created.
        """
        path = Path(path)
        if path.is_dir():
            raise StateError(f"bar store {path} is a folder")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False,
                                   timeout=5.0)
        except (OSError, sqlite3.Error) as exc:
            raise StateError(f"cannot open bar store {path}: {exc}") from None
        try:
            cls._prepare(path, conn, group, list(symbols), timeframe)
        except BaseException:
            conn.close()
            raise
        return cls(path, conn, timeframe)

    @staticmethod
    def _prepare(path: Path, conn: sqlite3.Connection, group: str, symbols: list[str],
                 timeframe: str) -> None:
        try:
            conn.execute("PRAGMA busy_timeout = 5000")
            tables = {r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            meta = BarStore._meta(path, conn) if tables else {}
            if tables and meta.get("application") != BAR_STORE_APPLICATION:
                raise StateError(f"{path} is not a data engine bar store")
            version = meta.get("schema_version", BAR_STORE_SCHEMA_VERSION)
            if not isinstance(version, int) or version > BAR_STORE_SCHEMA_VERSION:
                raise StateError(f"{path} has bar store schema {version!r}; this quantlab "
                                 f"writes {BAR_STORE_SCHEMA_VERSION}")
            if meta.get("timeframe", timeframe) != timeframe:
                raise StateError(f"{path} holds {meta['timeframe']} bars; the engine is "
                                 f"configured for {timeframe} (use another store)")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            conn.execute("PRAGMA synchronous = NORMAL")
            if str(mode).lower() != "wal":
                raise StateError(f"{path}: cannot switch the bar store to WAL mode ({mode})")
            with atomic(conn):
                if not tables:
                    for stmt in _SCHEMA.split(";"):
                        if stmt.strip():
                            conn.execute(stmt)
                values = {"application": BAR_STORE_APPLICATION,
                          "schema_version": BAR_STORE_SCHEMA_VERSION, "group": group,
                          "symbols": symbols, "timeframe": timeframe}
                conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) "
                                 "DO UPDATE SET value = excluded.value",
                                 [(k, json.dumps(v)) for k, v in values.items()])
        except sqlite3.DatabaseError as exc:
            raise StateError(f"{path} is not a data engine bar store ({exc})") from None

    @staticmethod
    def _meta(path: Path, conn: sqlite3.Connection) -> dict[str, object]:
        try:
            return {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM meta")}
        except (sqlite3.DatabaseError, ValueError):
            raise StateError(f"{path} is not a data engine bar store") from None

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> BarStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"BarStore({str(self.path)!r})"

    # ------------------------------------------------------------------ ownership
    def claim(self, pid: int, dead_after_s: float = 10.0) -> None:
        """Refuse to run a second engine on this store.

        Raises
        ------
        StateError
            The heartbeat names another live process that beat less than ``dead_after_s``
            ago and has not stopped.
        """
        hb = self.heartbeat()
        if hb is None or hb.pid == pid or hb.state == "stopped":
            return
        if time.time() * 1000 - hb.wall_ms <= dead_after_s * 1000 and pid_alive(hb.pid):
            raise StateError(f"{self.path} is served by another data engine (pid {hb.pid}); "
                             f"stop it first")

    # ------------------------------------------------------------------ bars
    def head_ms(self) -> int | None:
        """Open time of the newest served bar."""
        with self._lock:
            row = self._conn.execute("SELECT max(open_ms) FROM bars WHERE timeframe = ?",
                                     (self.timeframe,)).fetchone()
        return None if row[0] is None else int(row[0])

    def serve(self, bars: Iterable[ServedBar], served_ms: int) -> int:
        """Append bars (one transaction); returns how many were written.

        Raises
        ------
        StateError
            A bar is not after the newest served one, or the write failed.
        """
        rows = [(b.symbol, self.timeframe, int(b.open_ms), *map(float, b.values), b.source,
                 int(served_ms)) for b in bars]
        if not rows:
            return 0
        try:
            with atomic(self._conn, self._lock):
                head = self.head_ms()
                first = min(r[2] for r in rows)
                if head is not None and first <= head:
                    raise StateError(f"{self.path}: bar {first} is not after the newest "
                                     f"served bar {head}")
                self._conn.executemany(
                    "INSERT INTO bars (symbol, timeframe, open_ms, open, high, low, close, "
                    "volume, source, served_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        except sqlite3.OperationalError as exc:
            raise StateError(f"{self.path}: bar write failed: {exc}") from exc
        return len(rows)

    def tail(self, symbol: str, n: int) -> np.ndarray:
        """The newest ``n`` served bars of ``symbol`` as rows ``[open_ms, o, h, l, c, v]``,
        oldest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT open_ms, open, high, low, close, volume FROM bars WHERE symbol = ? AND "
                "timeframe = ? ORDER BY open_ms DESC LIMIT ?",
                (symbol, self.timeframe, int(n))).fetchall()
        return np.array(rows[::-1], dtype=float).reshape(-1, 6)

    def bars(self, symbol: str | None = None) -> pd.DataFrame:
        """Served bars (optionally of one symbol) with their source and ``served_ms``, by
        time and symbol."""
        sql = ("SELECT open_ms, symbol, open, high, low, close, volume, source, served_ms "
               "FROM bars WHERE timeframe = ?")
        params: tuple[object, ...] = (self.timeframe,)
        if symbol is not None:
            sql += " AND symbol = ?"
            params += (symbol,)
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY open_ms, symbol", params).fetchall()
        return pd.DataFrame(rows, columns=["open_ms", "symbol", "open", "high", "low", "close",
                                           "volume", "source", "served_ms"])

    # ------------------------------------------------------------------ heartbeat
    def beat(self, hb: Heartbeat) -> None:
        """Write the heartbeat row.

        Raises
        ------
        StateError
            Unknown state, or the write failed.
        """
        if hb.state not in ENGINE_STATES:
            raise StateError(f"unknown engine state {hb.state!r}")
        try:
            with atomic(self._conn, self._lock):
                self._conn.execute(
                    "INSERT INTO heartbeat (id, pid, wall_ms, exchange_ms, clock_rate, source, "
                    "path, state, started_ms) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT(id) DO UPDATE SET pid = excluded.pid, wall_ms = "
                    "excluded.wall_ms, exchange_ms = excluded.exchange_ms, clock_rate = "
                    "excluded.clock_rate, source = excluded.source, path = excluded.path, "
                    "state = excluded.state, started_ms = excluded.started_ms",
                    (int(hb.pid), int(hb.wall_ms), int(hb.exchange_ms), float(hb.clock_rate),
                     hb.source, hb.path, hb.state, int(hb.started_ms)))
        except sqlite3.OperationalError as exc:
            raise StateError(f"{self.path}: heartbeat write failed: {exc}") from exc

    def heartbeat(self) -> Heartbeat | None:
        """The heartbeat row, or None before the first one."""
        with self._lock:
            row = self._conn.execute(
                "SELECT pid, wall_ms, exchange_ms, clock_rate, source, path, state, started_ms "
                "FROM heartbeat WHERE id = 1").fetchone()
        return None if row is None else Heartbeat(int(row[0]), int(row[1]), int(row[2]),
                                                  float(row[3]), str(row[4]), str(row[5]),
                                                  str(row[6]), int(row[7]))
