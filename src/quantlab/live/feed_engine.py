"""Closed bars for the runner from the data engine's bar store (``[runner] feed = "engine:PATH"``).

``quantlab data-engine`` (:mod:`quantlab.serve.engine`) takes the bars of one exchange group
from its sources (websocket, REST polling, a second exchange), validates them and writes them
to a SQLite file in WAL mode; any number of runners read that file with :class:`EngineFeed`,
which has the interface of :class:`~quantlab.live.feed.CcxtFeed` (``start``, ``close``,
``history``, ``next_bars``, ``staleness_bars``, ``latency_s``).

The bar store
-------------
::

    meta       (key TEXT PRIMARY KEY, value TEXT)       JSON values: application
               ("quantlab-bar-store"), schema_version (1), group, symbols, timeframe
    bars       (symbol, timeframe, open_ms, open, high, low, close, volume, source, served_ms,
                PRIMARY KEY (symbol, timeframe, open_ms))
    heartbeat  (id = 1, pid, wall_ms, exchange_ms, clock_rate, source, path, state, started_ms)
    audit, audit_head                                   the engine's hash-chained audit log
                                                        (quantlab.live.audit)

A row of ``bars`` is one validated closed candle; ``source`` names the source it came from and
``served_ms`` is the exchange time at which the engine wrote it. The engine writes every symbol
of one bar time (and several bar times when it catches up) in one transaction, in time order:
a reader that sees ``max(open_ms)`` move sees every bar up to it. A symbol may be absent at a
time no source delivered valid data for (the feed shows NaN there, as for a symbol without a
candle). The heartbeat row, rewritten every second or so, carries the engine's process id,
its wall clock (``wall_ms``), its estimate of the exchange clock (``exchange_ms``) and how
fast that clock runs against wall time (``clock_rate``; 1 on a real exchange), the active
source and path (``binance/ws``, ``binance/rest``, ``okx/ws``...) and its state
(``starting``, ``serving``, ``degraded``, ``down``, ``stopped``).

Staleness
---------
The feed polls the file every ``poll_interval`` seconds (``max(open_ms)`` per symbol and the
heartbeat: a few index lookups). Its :attr:`EngineFeed.staleness_bars` is how many bar
intervals the newest served bar is behind the newest bar closed by the engine's exchange
clock. While the engine lives that clock is the heartbeat's; when the heartbeat is older than
``dead_after_s``, says ``stopped``, or names a process that no longer exists, the engine is
dead and the clock is extrapolated from the last heartbeat (at ``clock_rate``, at least wall
speed), so the staleness keeps growing and the runner's breaker and health act on it.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np

from quantlab.data.timeframes import timeframe_ms
from quantlab.errors import DataError, ParameterError
from quantlab.live.feed import BarBatch

__all__ = ["BAR_STORE_APPLICATION", "BAR_STORE_SCHEMA_VERSION", "ENGINE_STATES", "EngineFeed",
           "engine_feed_path", "pid_alive"]

#: ``meta.application`` of a bar store.
BAR_STORE_APPLICATION = "quantlab-bar-store"
#: Schema of the bar stores this version writes and reads.
BAR_STORE_SCHEMA_VERSION = 1
#: Heartbeat states of the engine.
ENGINE_STATES = ("starting", "serving", "degraded", "down", "stopped")
#: Prefix of ``[runner] feed`` naming a bar store.
ENGINE_PREFIX = "engine:"

_FIELDS = "open, high, low, close, volume"


def engine_feed_path(feed: str) -> Path:
    """The bar store named by a ``[runner] feed`` value ``"engine:PATH"``.

    Raises
    ------
    ParameterError
        ``feed`` does not name a bar store.
    """
    if not feed.startswith(ENGINE_PREFIX) or not feed[len(ENGINE_PREFIX):].strip():
        raise ParameterError(f"feed={feed!r} does not name a data engine bar store "
                             f"(\"engine:<path>\")")
    return Path(feed[len(ENGINE_PREFIX):].strip())


def pid_alive(pid: int) -> bool:
    """True when a process ``pid`` exists on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


class EngineFeed:
    """Closed bars of ``symbols`` read from a data engine's bar store.

    Parameters
    ----------
    path : str or Path
        The bar store (``state/bars-<group>.sqlite``).
    symbols : list of str
        Unified symbols, in the runner's order (every one must be served by the engine).
    timeframe : str
        Bar length; must be the engine's.
    poll_interval : float
        Seconds between two looks at the file while waiting for a bar.
    max_backfill : int
        Most bars returned after a pause (the newest ones).
    dead_after_s : float
        A heartbeat older than this means the engine is dead.
    start_timeout_s : float
        How long :meth:`start` waits for the store to appear and :meth:`history` for its
        first bar.

    Attributes
    ----------
    latency_s : float
        Bar close to served by the engine (exchange clock) of the newest bar delivered.
    source : str or None
        Source of the newest bar delivered (of its first symbol).
    """

    def __init__(self, path: str | Path, symbols: list[str], timeframe: str, *,
                 poll_interval: float = 0.1, max_backfill: int = 10_000,
                 dead_after_s: float = 10.0, start_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.symbols = list(symbols)
        self.timeframe = timeframe
        self.tf_ms = timeframe_ms(timeframe)
        self.poll_interval = float(poll_interval)
        self.max_backfill = int(max_backfill)
        self.dead_after_s = float(dead_after_s)
        self.start_timeout_s = float(start_timeout_s)
        self.latency_s = 0.0
        self.source: str | None = None
        self.last_closed_ms: int | None = None
        self._conn: sqlite3.Connection | None = None
        self._head: int | None = None
        self._hb: dict[str, Any] | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Wait (up to ``start_timeout_s``) for the bar store and check it serves the
        timeframe and symbols.

        Raises
        ------
        DataError
            No bar store at ``path`` in time, not a bar store, another timeframe, or a symbol
            the engine does not serve.
        """
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            meta = self._try_open()
            if meta is not None:
                break
            if time.monotonic() > deadline:
                raise DataError(f"no data engine bar store at {self.path} after "
                                f"{self.start_timeout_s:g} s (is quantlab data-engine running?)")
            await asyncio.sleep(self.poll_interval)
        if meta.get("timeframe") != self.timeframe:
            raise DataError(f"{self.path} serves {meta.get('timeframe')} bars, not "
                            f"{self.timeframe}")
        served = list(meta.get("symbols") or [])
        missing = [s for s in self.symbols if s not in served]
        if missing:
            raise DataError(f"{self.path} does not serve {missing[0]} "
                            f"(group {meta.get('group')!r} serves {', '.join(served)})")
        self._refresh()

    def _try_open(self) -> dict[str, Any] | None:
        """The store's meta once it is a complete bar store (None while it is not there)."""
        if not self.path.is_file():
            return None
        try:
            conn = sqlite3.connect(str(self.path), isolation_level=None,
                                   check_same_thread=False, timeout=5.0)
        except sqlite3.Error as exc:
            raise DataError(f"cannot open bar store {self.path}: {exc}") from None
        try:
            conn.execute("PRAGMA busy_timeout = 5000")
            conn.execute("PRAGMA query_only = ON")
            tables = {r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "meta" not in tables:
                conn.close()
                return None  # being created
            meta = {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM meta")}
        except (sqlite3.DatabaseError, ValueError) as exc:
            conn.close()
            raise DataError(f"{self.path} is not a data engine bar store ({exc})") from None
        if meta.get("application") != BAR_STORE_APPLICATION:
            conn.close()
            raise DataError(f"{self.path} is not a data engine bar store")
        version = meta.get("schema_version")
        if not isinstance(version, int) or version > BAR_STORE_SCHEMA_VERSION:
            conn.close()
            raise DataError(f"{self.path} has bar store schema {version!r}; this quantlab "
                            f"reads up to {BAR_STORE_SCHEMA_VERSION}")
        if not {"bars", "heartbeat"} <= tables:
            conn.close()
            return None
        self._conn = conn
        return meta

    async def close(self) -> None:
        """Close the connection (the store belongs to the engine)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # ------------------------------------------------------------------ reading
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise DataError(f"EngineFeed({self.path}) is not started")
        return self._conn

    def _refresh(self) -> int | None:
        """Read the newest bar time of the runner's symbols and the heartbeat (one snapshot)."""
        db = self._db()
        db.execute("BEGIN")
        try:
            heads = [db.execute("SELECT max(open_ms) FROM bars WHERE symbol = ? AND "
                                "timeframe = ?", (s, self.timeframe)).fetchone()[0]
                     for s in self.symbols]
            row = db.execute("SELECT pid, wall_ms, exchange_ms, clock_rate, source, path, "
                             "state, started_ms FROM heartbeat WHERE id = 1").fetchone()
        finally:
            db.execute("COMMIT")
        known = [h for h in heads if h is not None]
        self._head = max(known) if known else None
        if row is not None:
            keys = ("pid", "wall_ms", "exchange_ms", "clock_rate", "source", "path", "state",
                    "started_ms")
            self._hb = dict(zip(keys, row, strict=True))
        return self._head

    def _rows(self, first_ms: int, last_ms: int) -> BarBatch:
        marks = ", ".join("?" * len(self.symbols))
        rows = self._db().execute(
            f"SELECT open_ms, symbol, {_FIELDS}, source, served_ms FROM bars WHERE "
            f"timeframe = ? AND open_ms >= ? AND open_ms <= ? AND symbol IN ({marks}) "
            f"ORDER BY open_ms", (self.timeframe, first_ms, last_ms, *self.symbols)).fetchall()
        times = sorted({int(r[0]) for r in rows})
        pos = {t: i for i, t in enumerate(times)}
        col = {s: j for j, s in enumerate(self.symbols)}
        values = np.full((len(times), len(self.symbols), 5), np.nan)
        for r in rows:
            values[pos[int(r[0])], col[r[1]], :] = r[2:7]
        if rows:
            newest = [r for r in rows if int(r[0]) == times[-1]]
            self.source = str(newest[0][7])
            self.latency_s = max(int(newest[0][8]) - (times[-1] + self.tf_ms), 0) / 1000.0
        return BarBatch(np.asarray(times, dtype=np.int64), values)

    def _first_of_last(self, n: int, last_ms: int) -> int | None:
        """Open time of the ``n``-th newest bar time at or before ``last_ms``."""
        marks = ", ".join("?" * len(self.symbols))
        row = self._db().execute(
            f"SELECT min(open_ms) FROM (SELECT DISTINCT open_ms FROM bars WHERE timeframe = ? "
            f"AND symbol IN ({marks}) AND open_ms <= ? ORDER BY open_ms DESC LIMIT ?)",
            (self.timeframe, *self.symbols, last_ms, int(n))).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    async def history(self, n: int, before_ms: int | None = None) -> BarBatch:
        """The last ``n`` served bars (up to and including ``before_ms`` when given); waits
        up to ``start_timeout_s`` for the engine's first bar."""
        deadline = time.monotonic() + self.start_timeout_s
        while self._refresh() is None and time.monotonic() < deadline:
            await asyncio.sleep(self.poll_interval)
        if self._head is None:
            return BarBatch(np.empty(0, dtype=np.int64), np.empty((0, len(self.symbols), 5)))
        last = self._head if before_ms is None else min(self._head, int(before_ms))
        first = self._first_of_last(n, last)
        if first is None:
            return BarBatch(np.empty(0, dtype=np.int64), np.empty((0, len(self.symbols), 5)))
        return self._rows(first, last)

    async def next_bars(self, after_ms: int | None, stop: asyncio.Event | None = None
                        ) -> BarBatch | None:
        """Wait for a bar served after ``after_ms`` and return every bar served since (the
        newest one only when ``after_ms`` is None); None when ``stop`` is set while waiting."""
        while True:
            if stop is not None and stop.is_set():
                return None
            head = self._refresh()
            if head is not None and (after_ms is None or head > after_ms):
                first = head if after_ms is None else after_ms + 1
                oldest = self._first_of_last(self.max_backfill, head)
                if oldest is not None:
                    first = max(first, oldest)
                batch = self._rows(first, head)
                if len(batch):
                    self.last_closed_ms = int(batch.times[-1])
                    return batch
            if stop is None:
                await asyncio.sleep(self.poll_interval)
            else:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=self.poll_interval)
                except TimeoutError:
                    pass

    # ------------------------------------------------------------------ health
    @property
    def heartbeat(self) -> dict[str, Any] | None:
        """The engine's heartbeat as last read (pid, wall_ms, exchange_ms, clock_rate,
        source, path, state, started_ms)."""
        return None if self._hb is None else dict(self._hb)

    @property
    def engine_alive(self) -> bool:
        """The heartbeat is fresh (``dead_after_s``), not ``stopped`` and its process exists."""
        hb = self._hb
        if hb is None or hb["state"] == "stopped":
            return False
        age_s = time.time() - int(hb["wall_ms"]) / 1000.0
        return age_s <= self.dead_after_s and pid_alive(int(hb["pid"]))

    def engine_now_ms(self) -> int | None:
        """The engine's exchange clock: the heartbeat's, extrapolated when the engine is
        dead."""
        hb = self._hb
        if hb is None:
            return None
        now = int(hb["exchange_ms"])
        if self.engine_alive:
            return now
        age_ms = max(time.time() * 1000.0 - int(hb["wall_ms"]), 0.0)
        return now + int(age_ms * max(float(hb["clock_rate"]), 1.0))

    @property
    def staleness_bars(self) -> float:
        """Bar intervals the newest served bar is behind the newest closed one (0 before the
        first bar)."""
        now = self.engine_now_ms()
        if now is None or self._head is None:
            return 0.0
        last_closed = (now // self.tf_ms) * self.tf_ms - self.tf_ms
        return max((last_closed - self._head) / self.tf_ms, 0.0)
