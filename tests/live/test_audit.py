"""Audit chain: append, redaction, verify (tamper detection on real files), export."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import sqlite3
import time
from pathlib import Path

import plotly.graph_objects as go
import pytest

from quantlab.errors import ParameterError, StateError
from quantlab.live.audit import (
    GENESIS_HASH,
    AuditLog,
    AuditVerification,
    canonical_json,
    export_audit,
    verify_audit,
)
from quantlab.live.store import LiveStore

KINDS = ["decision", "order", "order_update", "fill", "risk"]
T0 = 1_700_000_000_000


def sha(seq: int, ts: int, kind: str, payload: str, prev: str) -> str:
    return hashlib.sha256(f"{seq}|{ts}|{kind}|{payload}|{prev}".encode()).hexdigest()


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A closed state file with 50 audit records (start, 48 events, stop)."""
    path = tmp_path_factory.mktemp("audit") / "chain.sqlite"
    with LiveStore.open(path) as store:
        store.audit.append("start", {"mode": "paper", "strategy": "btc_sma"}, ts_ms=T0)
        for i in range(2, 50):
            store.audit.append(KINDS[i % len(KINDS)], {"i": i, "price": 40_000.0 + i},
                               ts_ms=T0 + i * 60_000)
        store.audit.append("stop", {"reason": "SIGTERM"}, ts_ms=T0 + 50 * 60_000)
    assert not Path(f"{path}-wal").exists()  # checkpointed on close: one file to copy
    return path


def tampered(chain: Path, tmp_path: Path, *sql: str | tuple[str, tuple]) -> Path:
    copy = tmp_path / "copy.sqlite"
    shutil.copy(chain, copy)
    conn = sqlite3.connect(copy)
    for stmt in sql:
        if isinstance(stmt, tuple):
            conn.execute(*stmt)
        else:
            conn.execute(stmt)
    conn.commit()
    conn.close()
    return copy


def row(path: Path, seq: int) -> tuple:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT seq, ts_ms, kind, payload, prev_hash, hash FROM audit "
                            "WHERE seq = ?", (seq,)).fetchone()
    finally:
        conn.close()


# ---------------------------------------------------------------------------- append
def test_append_links_and_hashes(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "a.sqlite", isolation_level=None)
    log = AuditLog(conn)
    assert len(log) == 0 and log.head() == (0, GENESIS_HASH)
    r1 = log.append("start", {"b": 2, "a": [1.5, float("nan")], "c": {"z": None}}, ts_ms=1000)
    r2 = log.append("operator", {"action": "halt"}, ts_ms=2000)
    text = '{"a":[1.5,null],"b":2,"c":{"z":null}}'
    assert conn.execute("SELECT payload FROM audit WHERE seq = 1").fetchone()[0] == text
    assert r1.seq == 1 and r1.prev_hash == GENESIS_HASH
    assert r1.hash == sha(1, 1000, "start", text, GENESIS_HASH)
    assert r2.seq == 2 and r2.prev_hash == r1.hash
    assert r2.hash == sha(2, 2000, "operator", '{"action":"halt"}', r1.hash)
    assert r1.payload == {"a": [1.5, None], "b": 2, "c": {"z": None}}
    assert log.records() == [r1, r2] and len(log) == 2 and log.head() == (2, r2.hash)
    assert r2.to_dict()["ts"] == "1970-01-01T00:00:02+00:00"
    before = int(time.time() * 1000)
    r3 = log.append("config", {})
    assert before <= r3.ts_ms <= int(time.time() * 1000) + 1
    with pytest.raises(ParameterError, match="audit kind must be a non-empty string"):
        log.append("", {})
    with pytest.raises(ParameterError, match="audit payload must be a mapping, got list"):
        log.append("fill", [1, 2])  # type: ignore[arg-type]
    assert len(log) == 3
    conn.close()


def test_canonical_json() -> None:
    assert canonical_json({"b": 1, "a": {"y": float("inf"), "x": "é"}}) == \
        '{"a":{"x":"\\u00e9","y":null},"b":1}'


def test_secrets_never_reach_the_file(tmp_path: Path) -> None:
    key, token = "sk-LIVE-abcdef1234567890", "bearer-tok-XYZ-987654"
    path = tmp_path / "s.sqlite"
    with LiveStore.open(path, secrets=[key, token, ""]) as store:
        rec = store.audit.append("config", {
            "apiKey": key, "API_SECRET": "hunter2-secret-value", "password": "pw-zz-top",
            "exchange": {"privateKeyPem": "-----PEM-----", "name": "binance"},
            "note": f"auth header Bearer {token} rejected",
            "list": [key, {"deep": f"x{key}y"}], "leverage": 2, "access_token": None,
        })
        wal_bytes = Path(f"{path}-wal").read_bytes()
    assert rec.payload == {
        "apiKey": "***", "API_SECRET": "***", "password": "***",
        "exchange": {"privateKeyPem": "***", "name": "binance"},
        "note": "auth header Bearer *** rejected", "list": ["***", {"deep": "x***y"}],
        "leverage": 2, "access_token": "***"}
    raw = path.read_bytes() + wal_bytes
    for secret in (key, token, "hunter2-secret-value", "pw-zz-top", "-----PEM-----"):
        assert secret.encode() not in raw
    assert b"binance" in raw  # the payload itself is there
    assert verify_audit(path).ok


# ---------------------------------------------------------------------------- verify
def test_intact_chain_verifies(chain: Path) -> None:
    result = verify_audit(chain)
    assert isinstance(result, AuditVerification)
    assert result.ok and result.n_records == 50 and result.head_seq == 50
    assert result.first_bad is None and result.reason == ""
    assert result.title() == f"{chain}: audit chain intact (50 records)"
    assert result.kinds.loc["start", "records"] == 1 and result.kinds["records"].sum() == 50
    assert result.kinds.loc["fill", "records"] == 10  # i = 3, 8, ..., 48
    stats = result.stats()
    assert stats["ok"] is True and stats["records"] == 50 and stats["kinds"] == 7
    assert stats["first"].value // 1_000_000 == T0
    fig = result.plot()
    assert isinstance(fig, go.Figure) and sum(fig.data[0].y) == 50
    assert json.loads(json.dumps(result.to_dict()))["n_records"] == 50


@pytest.mark.parametrize(("name", "sql", "first_bad", "reason"), [
    ("edit payload", ["UPDATE audit SET payload = '{\"i\":17,\"price\":1.0}' WHERE seq = 17"],
     17, "record 17: hash mismatch (edited)"),
    ("edit kind", ["UPDATE audit SET kind = 'operator' WHERE seq = 5"],
     5, "record 5: hash mismatch (edited)"),
    ("edit ts", ["UPDATE audit SET ts_ms = ts_ms + 1 WHERE seq = 30"],
     30, "record 30: hash mismatch (edited)"),
    ("delete middle", ["DELETE FROM audit WHERE seq = 17"],
     17, "record 17: missing (deleted; 16 is followed by 18)"),
    ("delete first", ["DELETE FROM audit WHERE seq = 1"],
     1, "record 1: missing (deleted; the log starts at 2)"),
    ("delete last", ["DELETE FROM audit WHERE seq = 50"],
     50, "head says 50 records, found 49 (records deleted at the end)"),
    ("delete last two", ["DELETE FROM audit WHERE seq >= 49"],
     49, "head says 50 records, found 48 (records deleted at the end)"),
    ("delete last and fix head seq", ["DELETE FROM audit WHERE seq = 50",
                                      "UPDATE audit_head SET seq = 49"],
     49, "record 49: does not match the head hash (last record replaced)"),
    ("delete head row", ["DELETE FROM audit_head"],
     None, "audit head is missing (the audit_head row was deleted)"),
])
def test_tampering_is_detected(chain: Path, tmp_path: Path, name: str, sql: list[str],
                               first_bad: int | None, reason: str) -> None:
    result = verify_audit(tampered(chain, tmp_path, *sql))
    assert not result.ok, name
    assert (result.first_bad, result.reason) == (first_bad, reason)
    assert f"audit chain broken: {reason}" in result.title()


def test_inserted_record_with_own_hash_is_named(chain: Path, tmp_path: Path) -> None:
    prev = row(chain, 19)[5]
    payload = canonical_json({"forged": True, "i": 19.5})
    ts = T0 + 19 * 60_000 + 30_000
    forged = (20, ts, "fill", payload, prev, sha(20, ts, "fill", payload, prev))
    path = tampered(
        chain, tmp_path,
        "UPDATE audit SET seq = -(seq + 1) WHERE seq >= 20",  # renumber 20..50 -> 21..51
        "UPDATE audit SET seq = -seq WHERE seq < 0",
        ("INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?)", forged),
        "UPDATE audit_head SET seq = 51")
    result = verify_audit(path)
    assert not result.ok and result.n_records == 51
    assert result.first_bad == 20
    assert result.reason == "record 20: inserted (record 21 links to record 19)"


def test_inserted_first_record_is_named(chain: Path, tmp_path: Path) -> None:
    payload = canonical_json({"forged": True})
    forged = (1, T0 - 1, "start", payload, GENESIS_HASH,
              sha(1, T0 - 1, "start", payload, GENESIS_HASH))
    path = tampered(chain, tmp_path,
                    "UPDATE audit SET seq = -(seq + 1)", "UPDATE audit SET seq = -seq",
                    ("INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?)", forged),
                    "UPDATE audit_head SET seq = 51")
    result = verify_audit(path)
    assert (result.ok, result.first_bad) == (False, 1)
    assert result.reason == "record 1: inserted (record 2 links to the genesis hash)"


def test_record_appended_after_the_head(chain: Path, tmp_path: Path) -> None:
    last = row(chain, 50)
    payload = canonical_json({"forged": True})
    ts = last[1] + 1
    forged = (51, ts, "fill", payload, last[5], sha(51, ts, "fill", payload, last[5]))
    result = verify_audit(tampered(chain, tmp_path,
                                   ("INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?)", forged)))
    assert (result.ok, result.first_bad) == (False, 51)
    assert result.reason == "record 51: after the head (head says 50 records; inserted at the end)"


@pytest.mark.parametrize(("a", "b"), [(10, 11), (10, 30), (1, 2)])
def test_reordered_records_are_named(chain: Path, tmp_path: Path, a: int, b: int) -> None:
    ra, rb = row(chain, a), row(chain, b)
    swap = "UPDATE audit SET ts_ms = ?, kind = ?, payload = ?, prev_hash = ?, hash = ? " \
           "WHERE seq = ?"
    path = tampered(chain, tmp_path, (swap, (*rb[1:], a)), (swap, (*ra[1:], b)))
    result = verify_audit(path)
    assert not result.ok and result.first_bad == a
    linked = b if b - 1 == a else b - 1  # where the record it follows now sits
    assert result.reason == (f"record {a}: out of order (it links to record {linked}, "
                             f"which comes after it)")


def test_rewritten_record_with_recomputed_hash(chain: Path, tmp_path: Path) -> None:
    seq, ts, kind, _, prev, _ = row(chain, 17)
    payload = canonical_json({"i": 17, "price": 1.0})
    path = tampered(chain, tmp_path, (
        "UPDATE audit SET payload = ?, hash = ? WHERE seq = 17",
        (payload, sha(seq, ts, kind, payload, prev))))
    result = verify_audit(path)
    assert (result.ok, result.first_bad) == (False, 17)
    assert result.reason == "record 17: rewritten (record 18 links to a hash no record has)"


def test_verify_reads_a_consistent_snapshot_while_writing(tmp_path: Path) -> None:
    path = tmp_path / "live.sqlite"
    with LiveStore.open(path) as store:
        for i in range(3):
            store.audit.append("decision", {"i": i})
        with store.transaction():
            store.audit.append("order", {"id": "o1"})
            result = verify_audit(path)  # another connection: sees the 3 committed records
            assert result.ok and result.n_records == 3
        assert verify_audit(path).n_records == 4


def test_verify_refuses_non_state_files(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="state file not found"):
        verify_audit(tmp_path / "missing.sqlite")
    junk = tmp_path / "junk.sqlite"
    junk.write_text("hello, not a database\n" * 50)
    with pytest.raises(StateError, match="is not a quantlab state file") as info:
        verify_audit(junk)
    assert "\n" not in str(info.value)
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(StateError, match=r"other\.sqlite is not a quantlab state file"):
        verify_audit(other)


# ---------------------------------------------------------------------------- export
def test_export_jsonl_round_trip(chain: Path) -> None:
    text = export_audit(chain, "jsonl")
    assert text is not None
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) == 50 and [r["seq"] for r in lines] == list(range(1, 51))
    first = lines[0]
    assert list(first) == ["seq", "ts", "ts_ms", "kind", "payload", "prev_hash", "hash"]
    assert first["ts"] == "2023-11-14T22:13:20+00:00" and first["ts_ms"] == T0
    assert first["kind"] == "start" and first["payload"] == {"mode": "paper",
                                                             "strategy": "btc_sma"}
    prev = GENESIS_HASH
    for r in lines:  # the export alone re-verifies
        assert r["prev_hash"] == prev
        assert r["hash"] == sha(r["seq"], r["ts_ms"], r["kind"], canonical_json(r["payload"]),
                                prev)
        prev = r["hash"]
    with LiveStore.open(chain) as store:
        assert [x.to_dict() for x in store.audit.records()] == lines


def test_export_csv_round_trip(chain: Path, tmp_path: Path) -> None:
    out = tmp_path / "sub" / "audit.csv"
    assert export_audit(chain, fmt="csv", out=out) is None
    assert sorted(p.name for p in out.parent.iterdir()) == ["audit.csv"]  # no temp file left
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 50
    assert list(rows[0]) == ["seq", "ts", "ts_ms", "kind", "payload", "prev_hash", "hash"]
    r17 = rows[16]
    assert r17["seq"] == "17" and r17["kind"] == KINDS[17 % 5]
    assert json.loads(r17["payload"]) == {"i": 17, "price": 40_017.0}
    assert r17["hash"] == sha(17, int(r17["ts_ms"]), r17["kind"], r17["payload"],
                              r17["prev_hash"])
    assert export_audit(chain, "csv") == out.read_text()


def test_export_errors(chain: Path, tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="format must be jsonl or csv, got 'xml'"):
        export_audit(chain, "xml")
    with pytest.raises(StateError, match="state file not found"):
        export_audit(tmp_path / "nope.sqlite")
