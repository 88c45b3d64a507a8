"""Append-only, hash-chained audit log of a live runner (in its SQLite state file).

Every decision, order, fill, risk event, breaker change, config change and operator action is
one record ``(seq, ts_ms, kind, payload, prev_hash, hash)`` where ``payload`` is canonical JSON
(sorted keys, no spaces, NaN as ``null``) and::

    hash = sha256(f"{seq}|{ts_ms}|{kind}|{payload}|{prev_hash}")

The first record's ``prev_hash`` is 64 zeros. The last ``seq`` and ``hash`` (the *head*) are
also kept in a one-row ``audit_head`` table updated in the same transaction, so deleting the
newest records is detected as well. :func:`verify_audit` re-walks the chain and names the first
bad record (edited, deleted, inserted or reordered); :func:`export_audit` writes it as JSON
lines or CSV.

Secrets never reach the file: payload keys that look like credentials (``secret``, ``token``,
``api_key``, ``password``, ``passphrase``, ``private``) get the value ``"***"``, and every
occurrence of a known secret string (the runner passes its API keys and bearer token) is
replaced by ``"***"``, before the record is hashed and written.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from quantlab._result import Result
from quantlab._util import to_jsonable, write_text_atomic
from quantlab.errors import ParameterError, StateError

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go

__all__ = [
    "GENESIS_HASH",
    "SECRET_KEY",
    "AuditLog",
    "AuditRecord",
    "AuditVerification",
    "atomic",
    "canonical_json",
    "export_audit",
    "record_hash",
    "verify_audit",
]

#: ``prev_hash`` of the first record.
GENESIS_HASH = "0" * 64
REDACTED = "***"
EXPORT_FORMATS = ("jsonl", "csv")

#: Key names whose values are never written (audit payloads, masked configurations).
SECRET_KEY = re.compile(r"secret|token|api_?key|password|passphrase|private", re.IGNORECASE)
_SECRET_KEY = SECRET_KEY

AUDIT_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    ts_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL
);
"""


# ---------------------------------------------------------------------------- transactions
@contextlib.contextmanager
def atomic(conn: sqlite3.Connection, lock: threading.RLock | None = None) -> Iterator[None]:
    """One atomic unit of work on ``conn`` (opened with ``isolation_level=None``).

    Outside a transaction: ``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` when the block
    raises). Inside one (nested use): a ``SAVEPOINT`` that joins the outer transaction — its
    writes commit with the outer one, and an exception raised in the nested block undoes only
    that block's writes before propagating.

    Parameters
    ----------
    conn : sqlite3.Connection
        The connection (autocommit mode: ``isolation_level=None``).
    lock : threading.RLock, optional
        Held for the whole block, so another thread cannot interleave its writes.
    """
    with lock if lock is not None else contextlib.nullcontext():
        if conn.in_transaction:
            conn.execute("SAVEPOINT ql_nested")
            try:
                yield
            except BaseException:
                conn.execute("ROLLBACK TO ql_nested")
                conn.execute("RELEASE ql_nested")
                raise
            conn.execute("RELEASE ql_nested")
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


# ---------------------------------------------------------------------------- records
def record_hash(seq: int, ts_ms: int, kind: str, payload: str, prev_hash: str) -> str:
    """``sha256(f"{seq}|{ts_ms}|{kind}|{payload}|{prev_hash}")`` as 64 hex digits."""
    return hashlib.sha256(f"{seq}|{ts_ms}|{kind}|{payload}|{prev_hash}".encode()).hexdigest()


def canonical_json(payload: Any) -> str:
    """Canonical JSON text: sorted keys, no spaces, NaN/inf as ``null``, numpy/pandas values as
    plain JSON (unknown objects as their ``str``)."""
    return json.dumps(to_jsonable(payload), sort_keys=True, separators=(",", ":"),
                      allow_nan=False, default=str)


def _redact(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            name = _redact(str(key), secrets)
            out[name] = REDACTED if _SECRET_KEY.search(str(key)) else _redact(item, secrets)
        return out
    if isinstance(value, list):
        return [_redact(item, secrets) for item in value]
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return value
    return value


@dataclass(frozen=True)
class AuditRecord:
    """One audit record as stored (``payload`` parsed from its canonical JSON).

    Attributes
    ----------
    seq : int
        Position in the chain, from 1.
    ts_ms : int
        Time of the event, epoch milliseconds (UTC).
    kind : str
        ``start``, ``decision``, ``order``, ``fill``, ``breaker``, ``operator``, ...
    payload : dict
        The event's content (redacted).
    prev_hash, hash : str
        The previous record's hash and this record's hash (64 hex digits).
    """

    seq: int
    ts_ms: int
    kind: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str

    @property
    def ts(self) -> pd.Timestamp:
        """``ts_ms`` as a UTC timestamp."""
        return pd.Timestamp(self.ts_ms, unit="ms", tz="UTC")

    def to_dict(self) -> dict[str, Any]:
        """``seq, ts (ISO 8601 UTC), ts_ms, kind, payload, prev_hash, hash``."""
        return {"seq": self.seq, "ts": self.ts.isoformat(), "ts_ms": self.ts_ms,
                "kind": self.kind, "payload": self.payload, "prev_hash": self.prev_hash,
                "hash": self.hash}


def _parse_payload(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return {"_raw": text}
    return value if isinstance(value, dict) else {"_value": value}


class AuditLog:
    """The hash-chained audit table on an open SQLite connection.

    Parameters
    ----------
    conn : sqlite3.Connection
        Connection in autocommit mode (``isolation_level=None``); the ``audit`` and
        ``audit_head`` tables are created when missing.
    secrets : Iterable[str]
        Strings that must never be written (API keys, bearer token); each occurrence in a
        payload string is replaced by ``"***"``. Empty strings are ignored.
    lock : threading.RLock, optional
        Lock shared with the owner of ``conn`` (the :class:`~quantlab.live.store.LiveStore`),
        held while appending.
    """

    def __init__(self, conn: sqlite3.Connection, secrets: Iterable[str] = (), *,
                 lock: threading.RLock | None = None) -> None:
        self._conn = conn
        self._lock = lock if lock is not None else threading.RLock()
        self._secrets = tuple(sorted({str(s) for s in secrets if s}, key=len, reverse=True))
        with self._lock:
            for stmt in AUDIT_SCHEMA.split(";"):
                if stmt.strip():
                    conn.execute(stmt)

    def append(self, kind: str, payload: Mapping[str, Any], ts_ms: int | None = None
               ) -> AuditRecord:
        """Add one record at the end of the chain (joins the caller's transaction, if any).

        Parameters
        ----------
        kind : str
            Non-empty event kind (``decision``, ``order``, ``fill``, ``breaker``, ...).
        payload : Mapping
            JSON-serializable content; credentials are redacted before hashing.
        ts_ms : int, optional
            Event time in epoch ms (default: now).

        Returns
        -------
        AuditRecord
            The record as written.

        Raises
        ------
        ParameterError
            ``kind`` is empty or not a string, or ``payload`` is not a mapping.
        """
        if not isinstance(kind, str) or not kind.strip():
            raise ParameterError(f"audit kind must be a non-empty string, got {kind!r}")
        if not isinstance(payload, Mapping):
            raise ParameterError(
                f"audit payload must be a mapping, got {type(payload).__name__}")
        ts = int(time.time() * 1000) if ts_ms is None else int(ts_ms)
        clean = _redact(to_jsonable(dict(payload)), self._secrets)
        text = canonical_json(clean)
        with atomic(self._conn, self._lock):
            row = self._conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
            last_seq, prev = (int(row[0]), str(row[1])) if row else (0, GENESIS_HASH)
            seq = last_seq + 1
            digest = record_hash(seq, ts, kind, text, prev)
            self._conn.execute(
                "INSERT INTO audit (seq, ts_ms, kind, payload, prev_hash, hash) "
                "VALUES (?, ?, ?, ?, ?, ?)", (seq, ts, kind, text, prev, digest))
            self._conn.execute(
                "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                (seq, digest))
        return AuditRecord(seq, ts, kind, json.loads(text), prev, digest)

    def records(self) -> list[AuditRecord]:
        """Every record, by ``seq``."""
        with self._lock:
            return _read_records(self._conn)

    def head(self) -> tuple[int, str]:
        """``(last seq, last hash)``; ``(0, GENESIS_HASH)`` for an empty log."""
        with self._lock:
            row = self._conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
        return (int(row[0]), str(row[1])) if row else (0, GENESIS_HASH)

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0])

    def __repr__(self) -> str:
        return f"AuditLog({len(self)} records)"


def _read_records(conn: sqlite3.Connection) -> list[AuditRecord]:
    rows = conn.execute(
        "SELECT seq, ts_ms, kind, payload, prev_hash, hash FROM audit ORDER BY seq").fetchall()
    return [AuditRecord(int(seq), int(ts), str(kind), _parse_payload(payload), str(prev),
                        str(digest)) for seq, ts, kind, payload, prev, digest in rows]


# ---------------------------------------------------------------------------- files
@contextlib.contextmanager
def _open_audit_file(path: str | Path) -> Iterator[sqlite3.Connection]:
    """Read-only connection to a state file holding an audit chain (StateError otherwise)."""
    path = Path(path)
    if not path.is_file():
        raise StateError(f"state file not found: {path}")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                               isolation_level=None)
    except sqlite3.Error as exc:
        raise StateError(f"cannot open state file {path}: {exc}") from None
    try:
        conn.execute("PRAGMA busy_timeout = 5000")
        try:
            tables = {r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:
            raise StateError(f"{path} is not a quantlab state file ({exc})") from None
        if not {"audit", "audit_head"} <= tables:
            raise StateError(f"{path} is not a quantlab state file (no audit table)")
        yield conn
    finally:
        conn.close()


@dataclass(repr=False)
class AuditVerification(Result):
    """Outcome of :func:`verify_audit`.

    Attributes
    ----------
    path : pathlib.Path
        The state file checked.
    ok : bool
        True when every record's hash, link and sequence number is intact and the head matches
        the last record.
    n_records : int
        Records found in the file.
    first_bad : int or None
        ``seq`` of the first bad record (None when ok, or when only the head row is damaged).
    reason : str
        One line: what is wrong with that record (empty when ok).
    head_seq : int
        Number of records the head says were written.
    kinds : pandas.DataFrame
        Per kind: ``records``, ``first`` and ``last`` time (UTC).
    """

    path: Path
    ok: bool
    n_records: int
    first_bad: int | None = None
    reason: str = ""
    head_seq: int = 0
    kinds: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["records", "first", "last"]))

    def title(self) -> str:
        """``state.sqlite: audit chain intact (50 records)`` or ``…: audit chain broken: …``."""
        if self.ok:
            return f"{self.path}: audit chain intact ({self.n_records} records)"
        return f"{self.path}: audit chain broken: {self.reason}"

    def stats(self) -> pd.Series:
        """Headline figures: ok, records, head_seq, first_bad, kinds, first, last."""
        first = self.kinds["first"].min() if len(self.kinds) else pd.NaT
        last = self.kinds["last"].max() if len(self.kinds) else pd.NaT
        return pd.Series({"ok": bool(self.ok), "records": int(self.n_records),
                          "head_seq": int(self.head_seq), "first_bad": self.first_bad,
                          "kinds": len(self.kinds), "first": first, "last": last},
                         dtype=object)

    def _summary_table(self) -> pd.DataFrame:
        return self.kinds

    def _figure(self, **kwargs: Any) -> go.Figure:
        import plotly.graph_objects as go

        kinds = self.kinds
        fig = go.Figure(go.Bar(x=[str(k) for k in kinds.index],
                               y=[int(v) for v in kinds["records"].to_numpy()],
                               marker_color="seagreen" if self.ok else "firebrick"))
        fig.update_layout(title=self.title(), xaxis_title="kind", yaxis_title="records",
                          **kwargs)
        return fig

    def _extra_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "ok": bool(self.ok), "n_records": int(self.n_records),
                "first_bad": self.first_bad, "reason": self.reason}


def _locate_break(rows: list[tuple[Any, ...]], p: int) -> tuple[int, str] | None:
    """First problem at position ``p`` of the seq-ordered rows, as ``(first_bad, reason)``."""
    seq, ts, kind, payload, prev, digest = rows[p]
    expected = p + 1
    if seq != expected:
        if seq > expected:
            where = (f"the log starts at {seq}" if p == 0
                     else f"{expected - 1} is followed by {seq}")
            return expected, f"record {expected}: missing (deleted; {where})"
        return seq, f"record {seq}: unexpected sequence number (inserted)"
    link = rows[p - 1][5] if p else GENESIS_HASH
    own_ok = record_hash(seq, ts, kind, payload, prev) == digest
    if prev != link:
        position = {row[5]: i for i, row in enumerate(rows)}
        i = -1 if prev == GENESIS_HASH else position.get(prev)
        if i is not None and i < p - 1:
            first = rows[i + 1][0]
            target = "the genesis hash" if i < 0 else f"record {rows[i][0]}"
            return first, f"record {first}: inserted (record {seq} links to {target})"
        if i is not None and i >= p:
            return seq, (f"record {seq}: out of order (it links to record {rows[i][0]}, "
                         f"which comes after it)")
        if p + 1 < len(rows) and rows[p + 1][4] == link:
            return seq, f"record {seq}: inserted (record {rows[p + 1][0]} links past it)"
        if own_ok and p > 0:
            before = rows[p - 1][0]
            return before, (f"record {before}: rewritten (record {seq} links to a hash no "
                            f"record has)")
        if not own_ok:
            return seq, f"record {seq}: hash mismatch (edited)"
        prior = "the genesis hash" if p == 0 else f"record {seq - 1}"
        return seq, f"record {seq}: prev_hash does not match {prior} (inserted or reordered)"
    if not own_ok:
        return seq, f"record {seq}: hash mismatch (edited)"
    return None


def _check_chain(rows: list[tuple[Any, ...]], head: tuple[int, str] | None
                 ) -> tuple[int | None, str]:
    for p in range(len(rows)):
        found = _locate_break(rows, p)
        if found is not None:
            return found
    n = len(rows)
    last_seq, last_hash = (rows[-1][0], rows[-1][5]) if rows else (0, GENESIS_HASH)
    if head is None:
        if n:
            return None, "audit head is missing (the audit_head row was deleted)"
        return None, ""
    head_seq, head_hash = head
    if head_seq > last_seq:
        return last_seq + 1, (f"head says {head_seq} records, found {n} "
                              f"(records deleted at the end)")
    if head_seq < last_seq:
        return head_seq + 1, (f"record {head_seq + 1}: after the head (head says {head_seq} "
                              f"records; inserted at the end)")
    if head_hash != last_hash:
        return last_seq, f"record {last_seq}: does not match the head hash (last record replaced)"
    return None, ""


def _kind_table(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame({"records": pd.Series(dtype="int64"),
                             "first": pd.Series(dtype="datetime64[ns, UTC]"),
                             "last": pd.Series(dtype="datetime64[ns, UTC]")},
                            index=pd.Index([], name="kind"))
    frame = pd.DataFrame({"kind": [str(r[2]) for r in rows],
                          "time": pd.to_datetime([_int_or_nan(r[1]) for r in rows], unit="ms",
                                                 utc=True)})
    table = frame.groupby("kind")["time"].agg(["count", "min", "max"])
    return table.rename(columns={"count": "records", "min": "first", "max": "last"})


def _iso(ts_ms: Any) -> str | None:
    value = _int_or_nan(ts_ms)
    return None if value != value else pd.Timestamp(int(value), unit="ms", tz="UTC").isoformat()


def _int_or_nan(value: Any) -> float:
    try:
        return float(int(value))
    except (TypeError, ValueError):
        return float("nan")


def verify_audit(path: str | Path) -> AuditVerification:
    """Re-walk the audit chain of a state file and name the first bad record.

    Detects an edited record (payload, kind or time), a deleted record (first, middle or last,
    the last through the ``audit_head`` row), an inserted record (even with its own hash
    recomputed) and reordered records.

    Parameters
    ----------
    path : str or Path
        A runner's state file (``state/NAME.sqlite``).

    Returns
    -------
    AuditVerification
        ``ok``, ``n_records``, ``first_bad`` and a one-line ``reason``.

    Raises
    ------
    StateError
        The file is missing, not SQLite, or holds no audit chain.
    """
    with _open_audit_file(path) as conn:
        conn.execute("BEGIN")  # one snapshot of records and head, even while a runner writes
        try:
            rows = [(int(r[0]), r[1], r[2], r[3], r[4], r[5]) for r in conn.execute(
                "SELECT seq, ts_ms, kind, payload, prev_hash, hash FROM audit ORDER BY seq")]
            head_row = conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
        finally:
            conn.execute("COMMIT")
    head = (int(head_row[0]), str(head_row[1])) if head_row else None
    first_bad, reason = _check_chain(rows, head)
    return AuditVerification(path=Path(path), ok=not reason, n_records=len(rows),
                             first_bad=first_bad, reason=reason,
                             head_seq=head[0] if head else 0, kinds=_kind_table(rows))


def export_audit(path: str | Path, fmt: str = "jsonl", out: str | Path | None = None
                 ) -> str | None:
    """Export a state file's audit records as JSON lines or CSV.

    Parameters
    ----------
    path : str or Path
        The runner's state file.
    fmt : {"jsonl", "csv"}
        JSON lines (one object per record: ``seq, ts, ts_ms, kind, payload, prev_hash,
        hash``; ``ts`` is ISO 8601 UTC) or CSV with the same columns (``payload`` as JSON text).
    out : str or Path, optional
        File to write (atomically: temp file + rename). None returns the text.

    Returns
    -------
    str or None
        The text when ``out`` is None.

    Raises
    ------
    ParameterError
        Unknown ``fmt``.
    StateError
        The file is missing, not SQLite, or holds no audit chain.
    """
    if fmt not in EXPORT_FORMATS:
        raise ParameterError(f"audit export format must be jsonl or csv, got {fmt!r}")
    with _open_audit_file(path) as conn:
        rows = conn.execute("SELECT seq, ts_ms, kind, payload, prev_hash, hash FROM audit "
                            "ORDER BY seq").fetchall()
    buf = io.StringIO()
    if fmt == "csv":
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["seq", "ts", "ts_ms", "kind", "payload", "prev_hash", "hash"])
    for seq, ts_ms, kind, payload, prev, digest in rows:
        ts = _iso(ts_ms)
        if fmt == "csv":
            writer.writerow([seq, ts, ts_ms, kind, payload, prev, digest])
        else:
            try:
                content: Any = json.loads(payload)
            except (TypeError, ValueError):  # a damaged payload is exported as its text
                content = payload
            line = {"seq": int(seq), "ts": ts, "ts_ms": ts_ms, "kind": kind,
                    "payload": content, "prev_hash": prev, "hash": digest}
            buf.write(json.dumps(line, separators=(",", ":")) + "\n")
    text = buf.getvalue()
    if out is None:
        return text
    write_text_atomic(out, text)
    return None
