"""SQLite record of the alerts the webhook sink received (:class:`AlertStore`).

One file (WAL mode), two tables:

* ``alerts`` — one row per distinct ``(fingerprint, status, startsAt)``: Alertmanager repeats a
  firing alert every ``repeat_interval`` and retries a notification it thinks failed; those
  repeats are not recorded twice. A resolved alert is a new row (its status differs).
* ``deliveries`` — one row per forwarding attempt series (target, ok, attempts, last error).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from quantlab.errors import ParameterError, StateError
from quantlab.serve.alert_payload import ALERT_STATUSES, Notification

__all__ = ["AlertStore"]

APPLICATION = "quantlab-alerts"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    status TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL,
    alertname TEXT NOT NULL,
    severity TEXT NOT NULL,
    labels TEXT NOT NULL,
    annotations TEXT NOT NULL,
    generator_url TEXT NOT NULL,
    receiver TEXT NOT NULL,
    group_key TEXT NOT NULL,
    received_at TEXT NOT NULL,
    UNIQUE (fingerprint, status, starts_at)
);
CREATE INDEX alerts_name ON alerts (alertname, status);
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    target TEXT NOT NULL,
    ok INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    alerts INTEGER NOT NULL,
    error TEXT NOT NULL
)
"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AlertStore:
    """The alert sink's SQLite file.

    Parameters
    ----------
    path : str or Path
        The file (created with its folder on first use), e.g. ``alerts.sqlite``.

    Raises
    ------
    StateError
        The file is not SQLite, belongs to another application or has a newer schema.

    Examples
    --------
    >>> from quantlab.serve.alert_payload import parse_notification
    >>> store = AlertStore(":memory:")
    >>> doc = {"alerts": [{"status": "firing", "labels": {"alertname": "X"},
    ...                    "startsAt": "2024-01-01T00:00:00Z", "fingerprint": "ab"}]}
    >>> store.record(parse_notification(doc)), store.record(parse_notification(doc))
    (1, 0)
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        memory = str(path) == ":memory:"
        if not memory and self.path.is_dir():
            raise StateError(f"alert store {self.path} is a folder")
        try:
            if not memory:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False,
                                   timeout=5.0)
        except (OSError, sqlite3.Error) as exc:
            raise StateError(f"cannot open alert store {self.path}: {exc}") from None
        self._conn = conn
        self._lock = threading.Lock()
        try:
            self._prepare(memory)
        except BaseException:
            conn.close()
            raise

    def _prepare(self, memory: bool) -> None:
        conn = self._conn
        try:
            conn.execute("PRAGMA busy_timeout = 5000")
            tables = {r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not tables:
                if not memory:
                    conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("BEGIN IMMEDIATE")
                try:
                    if not conn.execute("SELECT 1 FROM sqlite_master").fetchone():
                        for stmt in _SCHEMA.split(";"):
                            if stmt.strip():
                                conn.execute(stmt)
                        conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)",
                                         [("application", APPLICATION),
                                          ("schema_version", str(SCHEMA_VERSION))])
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                tables = {r[0] for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'")}
            meta = dict(conn.execute("SELECT key, value FROM meta")) if "meta" in tables else {}
        except sqlite3.DatabaseError as exc:
            raise StateError(f"{self.path} is not a quantlab alert store ({exc})") from None
        if meta.get("application") != APPLICATION:
            raise StateError(f"{self.path} is not a quantlab alert store (no application marker)")
        version = meta.get("schema_version", "")
        if not version.isdigit() or int(version) > SCHEMA_VERSION:
            raise StateError(f"{self.path} has alert store schema {version!r}; this quantlab "
                             f"reads up to {SCHEMA_VERSION}")

    def record(self, notification: Notification) -> int:
        """Record every alert of a notification; returns how many were new.

        An alert already recorded with the same fingerprint, status and ``startsAt`` is skipped.
        """
        received = _now()
        rows = [(a.fingerprint, a.status, a.starts_at, a.ends_at, a.name,
                 a.labels.get("severity", ""), json.dumps(a.labels, sort_keys=True),
                 json.dumps(a.annotations, sort_keys=True), a.generator_url,
                 notification.receiver, notification.group_key, received)
                for a in notification.alerts]
        with self._lock:
            before = self._conn.total_changes
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "INSERT OR IGNORE INTO alerts (fingerprint, status, starts_at, ends_at, "
                    "alertname, severity, labels, annotations, generator_url, receiver, "
                    "group_key, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            return self._conn.total_changes - before

    def alerts(self, *, status: str | None = None, alertname: str | None = None,
               limit: int = 100) -> list[dict[str, Any]]:
        """Recorded alerts, newest first.

        Parameters
        ----------
        status : {"firing", "resolved"}, optional
            Only alerts in that state.
        alertname : str, optional
            Only alerts of that rule.
        limit : int, default 100
            At most this many (>= 1).

        Returns
        -------
        list of dict
            ``id, status, alertname, severity, labels, annotations, startsAt, endsAt,
            fingerprint, generatorURL, receiver, receivedAt``.
        """
        if status is not None and status not in ALERT_STATUSES:
            raise ParameterError(f"status must be 'firing' or 'resolved', got {status!r}")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ParameterError(f"limit must be an integer >= 1, got {limit!r}")
        where, args = [], []
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if alertname is not None:
            where.append("alertname = ?")
            args.append(alertname)
        sql = ("SELECT id, status, alertname, severity, labels, annotations, starts_at, ends_at, "
               "fingerprint, generator_url, receiver, received_at FROM alerts"
               + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC LIMIT ?")
        with self._lock:
            rows = self._conn.execute(sql, [*args, limit]).fetchall()
        return [{"id": r[0], "status": r[1], "alertname": r[2], "severity": r[3],
                 "labels": json.loads(r[4]), "annotations": json.loads(r[5]),
                 "startsAt": r[6], "endsAt": r[7], "fingerprint": r[8], "generatorURL": r[9],
                 "receiver": r[10], "receivedAt": r[11]} for r in rows]

    def count(self) -> int:
        """Number of recorded alerts."""
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM alerts").fetchone()[0])

    def add_delivery(self, target: str, ok: bool, attempts: int, alerts: int,
                     error: str = "") -> None:
        """Record the outcome of forwarding one notification to ``target``."""
        with self._lock:
            self._conn.execute(
                "INSERT INTO deliveries (at, target, ok, attempts, alerts, error) "
                "VALUES (?, ?, ?, ?, ?, ?)", (_now(), target, int(bool(ok)), int(attempts),
                                              int(alerts), error))

    def deliveries(self, limit: int = 100) -> list[dict[str, Any]]:
        """Forwarding outcomes, newest first: ``at, target, ok, attempts, alerts, error``."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT at, target, ok, attempts, alerts, error FROM deliveries "
                "ORDER BY id DESC LIMIT ?", (int(limit),)).fetchall()
        return [{"at": r[0], "target": r[1], "ok": bool(r[2]), "attempts": r[3],
                 "alerts": r[4], "error": r[5]} for r in rows]

    def delivery_counts(self) -> dict[str, int]:
        """``{"ok": n, "failed": m}`` over every forwarding recorded."""
        with self._lock:
            ok, failed = self._conn.execute(
                "SELECT COALESCE(SUM(ok), 0), COALESCE(SUM(1 - ok), 0) FROM deliveries"
            ).fetchone()
        return {"ok": int(ok), "failed": int(failed)}

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> AlertStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AlertStore({str(self.path)!r})"
