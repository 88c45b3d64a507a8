"""Live mode against a misbehaving exchange: each fault survived with the right behaviour.

Real ``ccxt.async_support.binance`` against the local fake Binance; the runner runs in this
process (``run_live``), the fake's clock runs at 300x wall time (one 1-minute bar every 0.2 s).
Every test ends with the crash test's consistency check: no order placed twice, the store's
fills equal the exchange's trades, positions equal the exchange's balances.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from quantlab.cli import main
from quantlab.live.fake_exchange import T0, FakeBinance, SyntheticCandles
from quantlab.live.session import run_live
from quantlab.live.store import LiveStore
from tests.live.helpers import live_config, promote_flip
from tests.live.test_crash import check_consistent


@pytest.fixture
def fake():
    f = FakeBinance(SyntheticCandles("1m"), now_ms=T0 + 100 * 60_000 + 5_000, speed=300).start()
    yield f
    f.stop()


def _run(tmp: Path, fake: FakeBinance, bars: int = 6, period: int = 2, **cfg: Any):
    root = tmp / "strategies"
    if not root.exists():
        promote_flip(root, period=period)
    conf = live_config(tmp / "live.toml", fake.url, **cfg)
    env = {"QUANTLAB_API_KEY": fake.api_key, "QUANTLAB_API_SECRET": fake.secret}
    return run_live("flip", mode="live", config=conf, root=root, state=tmp / "flip.sqlite",
                    max_bars=bars, env=env)


def _audit(tmp: Path, kind: str) -> list[dict[str, Any]]:
    with LiveStore.open(tmp / "flip.sqlite") as st:
        return [r.payload for r in st.audit.records() if r.kind == kind]


@pytest.mark.parametrize("fault,error", [
    ("timeout", "RequestTimeout"),              # the order IS placed; the answer comes too late
    ("drop_after_accept", "ExchangeNotAvailable"),  # placed, then the connection drops
    (429, "DDoSProtection"),                    # not placed: retried after backoff
    (503, "ExchangeNotAvailable"),              # not placed: retried
])
def test_lost_or_refused_answer_never_duplicates_the_order(tmp_path, fake, fault, error):
    fake.inject("order", fault, times=1, **({"seconds": 3.0} if fault == "timeout" else {}))
    _run(tmp_path, fake)
    errors = _audit(tmp_path, "error")
    assert len(errors) == 1 and error in errors[0]["error"]
    first = errors[0]["client_id"]
    with LiveStore.open(tmp_path / "flip.sqlite") as st:
        assert st.get_order(first).status == "closed"  # adopted or re-sent, filled once
    assert [o["clientOrderId"] for o in fake.orders()].count(first) == 1
    check_consistent(fake, tmp_path / "flip.sqlite")


def test_rejected_order_is_stored_and_audited_and_the_next_bar_trades(tmp_path, fake):
    fake.inject("order", "reject", times=1)
    _run(tmp_path, fake)
    with LiveStore.open(tmp_path / "flip.sqlite") as st:
        orders = st.orders()
        assert orders[0].status == "rejected"
        assert "InsufficientFunds" in orders[0].info["reject"]
        assert any(o.status == "closed" for o in orders[1:])
    updates = _audit(tmp_path, "order_update")
    assert updates[0]["status"] == "rejected"
    check_consistent(fake, tmp_path / "flip.sqlite")


def test_consecutive_rejects_trip_the_breaker_to_halt(tmp_path, fake):
    fake.inject("order", "reject", times=50)
    # reduce-only stops entries reaching the exchange, so with entries alone the count can
    # only grow up to the reduce level: halt at the same count
    run = _run(tmp_path, fake, bars=10, breaker={"consecutive_rejects": [1, 2, 2]})
    assert run.breaker == "halted"
    changes = _audit(tmp_path, "breaker")
    assert [c["to"] for c in changes] == ["warn", "halted"]
    assert changes[-1]["reason"] == "consecutive_rejects 2 >= halt 2"
    assert fake.orders() == []  # every attempt refused, nothing placed


def test_partial_fill_is_stored_and_the_rest_ordered_on_the_next_bar(tmp_path, fake):
    fake.inject("order", "partial", times=1, fraction=0.4)
    _run(tmp_path, fake, bars=14, period=8)  # long for 8 bars: time to top up
    with LiveStore.open(tmp_path / "flip.sqlite") as st:
        orders = st.orders()
        first, second = orders[0], orders[1]
        assert first.status == "expired" and first.filled == pytest.approx(0.4 * first.amount,
                                                                           rel=1e-3)
        assert second.leg == "entry" and second.side == "buy"
        # the top-up brings the position back to the model's target (within the dust band)
        total = first.filled + second.filled
        assert second.filled == pytest.approx(total - first.filled)
        assert st.positions()["BTC/USDT"] == pytest.approx(total, rel=1e-9)
        assert second.filled > first.filled  # the remaining ~60 %
    check_consistent(fake, tmp_path / "flip.sqlite")


def test_data_faults_are_retried(tmp_path, fake):
    fake.inject("klines", 500, times=2)
    fake.inject("time", 429, times=1)
    run = _run(tmp_path, fake, bars=4)
    assert run.bars >= 4
    check_consistent(fake, tmp_path / "flip.sqlite")


def test_balance_mismatch_halts_on_restart_instead_of_trading(tmp_path, fake):
    _run(tmp_path, fake, bars=3, period=8)
    # someone trades on the account behind the runner's back
    ex = fake.exchange(async_=False)
    ex.load_markets()
    ex.create_order("BTC/USDT", "market", "buy", 0.01)
    run = _run(tmp_path, fake, bars=2, period=8)
    assert run.breaker == "halted"
    with LiveStore.open(tmp_path / "flip.sqlite") as st:
        level, reason, _ = st.breaker()
    assert level == 3 and reason.startswith("reconcile: BTC balance")
    rec = _audit(tmp_path, "reconcile")[-1]
    assert rec["ok"] is False
    assert rec["balances"]["BTC"]["actual"] == pytest.approx(
        rec["balances"]["BTC"]["expected"] + 0.01)


def test_wrong_credentials_exit_1_with_one_line(tmp_path, fake, capsys, monkeypatch):
    promote_flip(tmp_path / "strategies")
    conf = live_config(tmp_path / "live.toml", fake.url)
    monkeypatch.setenv("QUANTLAB_API_KEY", "not-the-key")
    monkeypatch.setenv("QUANTLAB_API_SECRET", "not-the-secret")
    code = main(["live", "flip", "--mode", "live", "--config", str(conf), "--root",
                 str(tmp_path / "strategies"), "--state", str(tmp_path / "x.sqlite"),
                 "--max-bars", "1"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and "AuthenticationError" in err
    assert "not-the-secret" not in err


def test_live_without_credentials_is_a_usage_error(tmp_path, fake, capsys, monkeypatch):
    promote_flip(tmp_path / "strategies")
    conf = live_config(tmp_path / "live.toml", fake.url)
    monkeypatch.delenv("QUANTLAB_API_KEY", raising=False)
    monkeypatch.delenv("QUANTLAB_API_SECRET", raising=False)
    code = main(["live", "flip", "--mode", "live", "--config", str(conf), "--root",
                 str(tmp_path / "strategies"), "--state", str(tmp_path / "x.sqlite")])
    assert code == 2
    assert "QUANTLAB_API_KEY" in capsys.readouterr().err


def test_limit_policy_places_limit_orders_at_the_offset_price(tmp_path, fake):
    _run(tmp_path, fake, bars=6, orders={"type": "limit", "limit_offset_bps": 20.0})
    placed = fake.orders()
    assert placed and all(o["type"] == "LIMIT" for o in placed)
    with LiveStore.open(tmp_path / "flip.sqlite") as st:
        for o in placed:
            rec = st.get_order(o["clientOrderId"])
            ref = rec.price  # the bar's close the order was decided on
            sign = 1 if rec.side == "buy" else -1
            assert float(o["price"]) == pytest.approx(round(ref * (1 + sign * 0.002), 2), abs=0.011)
    check_consistent(fake, tmp_path / "flip.sqlite")


def test_exchange_outage_keeps_the_runner_up_and_staleness_halts_it(tmp_path, fake):
    """The feed fails for longer than its retries: the runner does not exit; the missing bars
    (by the local clock) trip the breaker's staleness trigger up to a halt before any new bar
    arrives; once the exchange answers again the bars are caught up."""
    promote_flip(tmp_path / "strategies", period=2)
    conf = live_config(tmp_path / "live.toml", fake.url,
                       breaker={"staleness_bars": [1, 2, 3]},
                       orders={"max_retries": 1, "retry_backoff_s": 0.01})
    state = tmp_path / "paper.sqlite"
    # the outage begins after the start (a runner that cannot fill its window at start exits
    # with one line and is restarted by its supervisor) and ends once the runner has halted
    import sqlite3
    import threading
    import time

    def read(sql: str) -> Any:
        try:
            con = sqlite3.connect(state)
            try:
                return con.execute(sql).fetchone()
            finally:
                con.close()
        except sqlite3.Error:
            return None

    def wait(check: Any) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not check():
            time.sleep(0.05)

    def outage() -> None:
        # two bars processed, then the exchange's klines fail until the runner has halted
        wait(lambda: (read("SELECT count(*) FROM audit WHERE kind = 'decision'") or (0,))[0] >= 2)
        fake.inject("klines", 500, times=10**6)
        wait(lambda: (read("SELECT level FROM breaker") or (0,))[0] == 3)
        fake.faults.clear()

    threading.Thread(target=outage, daemon=True).start()
    run = run_live("flip", mode="paper", config=conf, root=tmp_path / "strategies",
                   state=state, max_bars=8, env={})
    assert run.breaker == "halted"
    with LiveStore.open(state) as st:
        level, reason, _ = st.breaker()
        recs = st.audit.records()
    assert level == 3 and reason.startswith("staleness_bars")
    errors = [r for r in recs if r.kind == "error"]
    assert errors and errors[0].payload["source"] == "feed"
    assert "klines" in errors[0].payload["error"] or "ohlcv" in errors[0].payload["error"]
    first_error = errors[0].seq
    halt = next(r for r in recs if r.kind == "breaker" and r.payload["to"] == "halted")
    decisions_after = [r for r in recs if r.kind == "decision" and r.seq > halt.seq]
    # halted while no bar arrived, then the bars came back and were processed
    assert not [r for r in recs if r.kind == "decision" and first_error < r.seq < halt.seq]
    assert len(decisions_after) >= 1
