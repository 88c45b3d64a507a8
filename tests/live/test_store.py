"""LiveStore: every method round-trips through a real SQLite file (WAL), atomically."""

from __future__ import annotations

import math
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from quantlab.errors import ParameterError, StateError
from quantlab.live.store import SCHEMA_VERSION, LiveStore
from quantlab.live.types import Fill, OrderIntent, OrderRecord


@pytest.fixture()
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "runner.sqlite"


@pytest.fixture()
def store(path: Path) -> Iterator[LiveStore]:
    with LiveStore.open(path) as s:
        yield s


def order(cid: str, created: int, status: str = "intent", **kw: object) -> OrderRecord:
    return OrderRecord(client_id=cid, symbol=kw.pop("symbol", "BTC/USDT"), side="buy",
                       amount=0.5, status=status, created_ms=created, updated_ms=created,
                       **kw)


def fill(fid: str, ts: int, symbol: str = "BTC/USDT", **kw: object) -> Fill:
    values = {"client_id": "c1", "side": "buy", "amount": 0.25, "price": 40_000.0, "fee": 10.0}
    return Fill(fill_id=fid, symbol=symbol, ts_ms=ts, **{**values, **kw})


def test_open_creates_folders_wal_and_pragmas(path: Path, store: LiveStore) -> None:
    assert path.is_file() and store.path == path
    conn = store._conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.get_meta("schema_version") == SCHEMA_VERSION == 1


def test_meta_round_trip(store: LiveStore) -> None:
    assert store.get_meta("config") is None
    assert store.get_meta("config", {"x": 1}) == {"x": 1}
    store.set_meta("config", {"name": "btc_sma", "version": 3, "limits": [0.15, 0.02]})
    store.set_meta("started", 1_700_000_000_000)
    store.set_meta("started", 1_700_000_060_000)
    assert store.get_meta("config") == {"name": "btc_sma", "version": 3, "limits": [0.15, 0.02]}
    assert store.get_meta("started") == 1_700_000_060_000
    with pytest.raises(ParameterError, match="reserved"):
        store.set_meta("schema_version", 99)
    with pytest.raises(ParameterError, match="not JSON-serializable"):
        store.set_meta("bad", object.__new__(type("Odd", (), {})))


def test_model_round_trip(store: LiveStore) -> None:
    assert store.load_model() is None and store.last_bar_ms() is None
    store.save_model(b"\x00\x01model-v1", 1_700_000_000_000)
    store.save_model(b"\x00\x02model-v2\xff", 1_700_000_060_000)
    assert store.load_model() == (b"\x00\x02model-v2\xff", 1_700_000_060_000)
    assert store.last_bar_ms() == 1_700_000_060_000


def test_orders_round_trip_order_and_counts(store: LiveStore) -> None:
    intent = OrderIntent(client_id="ql-a", symbol="ETH/USDT", side="sell", amount=1.5,
                         type="limit", price=2500.5, bar_ms=60_000, leg="exit", reason="sma")
    rec = OrderRecord.from_intent(intent, now_ms=61_000)
    store.upsert_order(rec)
    assert store.get_order("ql-a") == rec
    store.upsert_order(order("ql-b", created=50_000))
    store.upsert_order(order("ql-c", created=61_000, status="open"))
    # update a: keeps its position (created 61000, inserted before c), new fields stored
    rec.status, rec.exchange_id, rec.filled, rec.average = "closed", "X9", 1.5, 2501.25
    rec.info = {"fills": [{"id": "t1", "qty": 1.5}], "raw": {"status": "FILLED"}}
    store.upsert_order(rec)
    got = store.get_order("ql-a")
    assert got is not None and got.status == "closed" and got.exchange_id == "X9"
    assert got.filled == 1.5 and got.average == 2501.25 and got.price == 2500.5
    assert got.info == {"fills": [{"id": "t1", "qty": 1.5}], "raw": {"status": "FILLED"}}
    assert [o.client_id for o in store.orders()] == ["ql-b", "ql-a", "ql-c"]
    assert [o.client_id for o in store.orders("closed")] == ["ql-a"]
    assert [o.client_id for o in store.orders(["intent", "closed"])] == ["ql-b", "ql-a"]
    assert [o.client_id for o in store.open_orders()] == ["ql-b", "ql-c"]
    assert store.order_counts() == {"closed": 1, "intent": 1, "open": 1}
    assert store.get_order("nope") is None
    with pytest.raises(ParameterError, match="unknown order status 'done'"):
        store.orders("done")
    with pytest.raises(ParameterError, match="unknown order status"):
        store.upsert_order(order("ql-d", 1, status="weird"))


def test_fills_idempotent_and_filtered(store: LiveStore) -> None:
    assert store.add_fill(fill("t1", 1000)) is True
    assert store.add_fill(fill("t1", 9999, price=1.0)) is False  # same id: ignored, unchanged
    assert store.add_fill(fill("t2", 3000, symbol="ETH/USDT", client_id=None)) is True
    assert store.add_fill(fill("t3", 2000)) is True
    assert store._conn.execute("SELECT COUNT(*) FROM fills").fetchone()[0] == 3
    assert store.fills(symbol="BTC/USDT")[0].price == 40_000.0  # the first write kept
    assert store.has_fill("t1") and not store.has_fill("t9")
    assert [f.fill_id for f in store.fills()] == ["t1", "t3", "t2"]
    assert store.fills()[0] == fill("t1", 1000)
    assert store.fills()[2].client_id is None
    assert [f.fill_id for f in store.fills(since_ms=2000)] == ["t3", "t2"]
    assert [f.fill_id for f in store.fills(symbol="BTC/USDT")] == ["t1", "t3"]
    assert [f.fill_id for f in store.fills(since_ms=1500, symbol="BTC/USDT")] == ["t3"]
    assert store.last_fill_ms() == 3000
    assert store.last_fill_ms("BTC/USDT") == 2000
    assert store.last_fill_ms("SOL/USDT") is None
    # filled amount per order: t1 + t3 belong to the same client id, t2 to none
    assert store.filled(fill("t1", 1000).client_id) == pytest.approx(
        fill("t1", 1000).amount + fill("t3", 2000).amount)
    assert store.filled("ql-unknown") == 0.0


def test_positions_and_cash(store: LiveStore) -> None:
    assert store.positions() == {} and store.cash() is None
    store.set_positions({"ETH/USDT": -2.0, "BTC/USDT": 0.75})
    assert store.positions() == {"BTC/USDT": 0.75, "ETH/USDT": -2.0}
    store.set_positions({"SOL/USDT": 10.0})  # replaces all
    assert store.positions() == {"SOL/USDT": 10.0}
    store.set_cash(12_345.67)
    store.set_cash(10_000.5)
    assert store.cash() == 10_000.5
    with pytest.raises(ParameterError, match="cash must be finite"):
        store.set_cash(float("nan"))
    with pytest.raises(ParameterError, match="position BTC/USDT"):
        store.set_positions({"BTC/USDT": float("inf")})
    assert store.positions() == {"SOL/USDT": 10.0}


def test_equity_curve(store: LiveStore) -> None:
    empty = store.equity_curve()
    assert list(empty.columns) == ["equity", "cash", "peak", "drawdown"] and len(empty) == 0
    assert isinstance(empty.index, pd.DatetimeIndex) and str(empty.index.tz) == "UTC"
    assert store.last_equity() is None
    store.add_equity(1_700_000_000_000, 10_000.0, 10_000.0, 10_000.0)
    store.add_equity(1_700_000_120_000, 9_000.0, 4_000.0, 10_000.0)
    store.add_equity(1_700_000_060_000, 10_500.0, 5_000.0, 10_500.0)
    store.add_equity(1_700_000_120_000, 9_450.0, 4_000.0, 10_500.0)  # upsert by ts
    curve = store.equity_curve()
    assert list(curve.index) == [pd.Timestamp(t, unit="ms", tz="UTC") for t in
                                 (1_700_000_000_000, 1_700_000_060_000, 1_700_000_120_000)]
    assert curve["equity"].tolist() == [10_000.0, 10_500.0, 9_450.0]
    assert curve["cash"].tolist() == [10_000.0, 5_000.0, 4_000.0]
    assert curve["drawdown"].tolist() == pytest.approx([0.0, 0.0, 0.1])
    assert store.last_equity() == pytest.approx({"ts_ms": 1_700_000_120_000, "equity": 9_450.0,
                                                 "cash": 4_000.0, "peak": 10_500.0,
                                                 "drawdown": 0.1})


def test_breaker_persists_across_reopen(path: Path) -> None:
    with LiveStore.open(path) as s:
        assert s.breaker() == (0, "", 0)
        s.set_breaker(2, "drawdown 12% >= 10%", 1_700_000_000_000)
        s.set_breaker(3, "operator halt", 1_700_000_060_000)
        with pytest.raises(ParameterError, match="breaker level must be 0, 1, 2 or 3"):
            s.set_breaker(4, "x", 0)
    with LiveStore.open(path) as s:
        assert s.breaker() == (3, "operator halt", 1_700_000_060_000)


def test_reopen_keeps_everything(path: Path) -> None:
    with LiveStore.open(path) as s:
        s.set_meta("k", [1, 2])
        s.save_model(b"blob", 42)
        s.upsert_order(order("o1", 5))
        s.add_fill(fill("f1", 7))
        s.set_positions({"BTC/USDT": 0.25})
        s.set_cash(99.5)
        s.add_equity(60_000, 100.0, 99.5, 120.0)
        s.audit.append("start", {"mode": "paper"}, ts_ms=1)
    with LiveStore.open(path) as s:
        assert s.get_meta("k") == [1, 2]
        assert s.load_model() == (b"blob", 42)
        assert s.get_order("o1") == order("o1", 5)
        assert s.fills() == [fill("f1", 7)]
        assert s.positions() == {"BTC/USDT": 0.25} and s.cash() == 99.5
        assert s.last_equity()["drawdown"] == pytest.approx(1 / 6)
        assert [(r.seq, r.kind, r.payload) for r in s.audit.records()] == [
            (1, "start", {"mode": "paper"})]


def test_crash_inside_transaction_writes_nothing(path: Path, store: LiveStore) -> None:
    store.set_cash(100.0)
    with pytest.raises(RuntimeError, match="boom"), store.transaction():
        store.set_cash(50.0)
        store.add_fill(fill("f1", 1))
        store.upsert_order(order("o1", 1))
        store.save_model(b"m", 10)
        store.audit.append("fill", {"id": "f1"})
        raise RuntimeError("boom")
    assert store.cash() == 100.0 and store.fills() == [] and store.orders() == []
    assert store.load_model() is None and len(store.audit) == 0
    with LiveStore.open(path) as other:  # nothing reached the file either
        assert other.cash() == 100.0 and other.fills() == []


def test_transaction_is_reentrant(store: LiveStore) -> None:
    with store.transaction():
        store.set_cash(1.0)
        with store.transaction():
            store.add_fill(fill("f1", 1))
            assert store._conn.in_transaction
        assert store._conn.in_transaction  # the nested block did not commit the outer one
        # a failing nested block is undone, the outer one goes on
        with pytest.raises(ValueError), store.transaction():
            store.add_fill(fill("f2", 2))
            raise ValueError("inner")
        store.audit.append("fill", {"id": "f1"})
    assert not store._conn.in_transaction
    assert store.cash() == 1.0 and [f.fill_id for f in store.fills()] == ["f1"]
    assert len(store.audit) == 1


def test_outer_rollback_undoes_nested_commits(store: LiveStore) -> None:
    with pytest.raises(KeyError), store.transaction():
        with store.transaction():
            store.set_positions({"BTC/USDT": 1.0})
        raise KeyError("late")
    assert store.positions() == {}


def test_second_connection_sees_committed_data(path: Path, store: LiveStore) -> None:
    other = LiveStore.open(path)
    try:
        with store.transaction():
            store.set_cash(7.0)
            assert other.cash() is None  # uncommitted: invisible to the other connection
        assert other.cash() == 7.0
    finally:
        other.close()
    store.add_fill(fill("f-proc", 123))
    code = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
            "print(c.execute('select fill_id, ts_ms from fills').fetchall(), "
            "c.execute('pragma journal_mode').fetchone()[0])")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                         text=True, check=True, timeout=30).stdout.strip()
    assert out == "[('f-proc', 123)] wal"


def test_not_sqlite_or_foreign_or_newer_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database at all\n" * 100)
    with pytest.raises(StateError) as info:
        LiveStore.open(junk)
    msg = str(info.value)
    assert "\n" not in msg and str(junk) in msg and "not a quantlab state file" in msg

    foreign = tmp_path / "foreign.sqlite"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(StateError, match=r"foreign\.sqlite is not a quantlab state file"):
        LiveStore.open(foreign)
    conn = sqlite3.connect(foreign)  # left untouched (still rollback-journal mode)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()

    newer = tmp_path / "newer.sqlite"
    LiveStore.open(newer).close()
    conn = sqlite3.connect(newer)
    conn.execute("UPDATE meta SET value = '7' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(StateError, match="schema version 7; this quantlab reads up to 1"):
        LiveStore.open(newer)

    folder = tmp_path / "adir"
    folder.mkdir()
    with pytest.raises(StateError, match="is a folder"):
        LiveStore.open(folder)


def test_damaged_file_is_a_state_error(tmp_path: Path) -> None:
    path = tmp_path / "damaged.sqlite"
    with LiveStore.open(path) as s:
        s.set_cash(1.0)
    data = bytearray(path.read_bytes())
    data[:16] = b"garbage garbage!"  # overwrite the SQLite header
    path.write_bytes(bytes(data))
    with pytest.raises(StateError, match=r"damaged\.sqlite is not a quantlab state file"):
        LiveStore.open(path)


def test_write_methods_reject_nan(store: LiveStore) -> None:
    with pytest.raises(ParameterError, match="equity must be finite"):
        store.add_equity(0, math.nan, 1.0, 1.0)
    assert len(store.equity_curve()) == 0
