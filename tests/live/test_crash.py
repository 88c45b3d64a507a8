"""Crash safety: ``quantlab live --mode live`` killed with SIGKILL at many points, then restarted.

The runner runs as a real subprocess against the local fake Binance (real ccxt, REST), with
``QUANTLAB_CRASH_AT=point:count`` making it SIGKILL itself the count-th time it passes a crash
point (:mod:`quantlab.live.crash`): before/after each state write, inside the SQLite
transaction, before the order is sent, after the exchange accepted it but before the answer was
stored, between fills, during reconcile and shutdown. The exchange clock keeps running while it
is down, so the restart also has missed bars to catch up. After the restart:

* zero duplicate orders — every client order id appears once at the exchange;
* zero lost fills — the store's fills are exactly the exchange's trades;
* positions equal to the exchange's balances;
* the audit chain verifies and reconciliation did not have to halt.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from quantlab.live.audit import verify_audit
from quantlab.live.crash import CRASH_POINTS
from quantlab.live.fake_exchange import T0, FakeBinance, SyntheticCandles
from quantlab.live.store import LiveStore
from tests.live.helpers import live_config, promote_flip

# every point at its first pass, and the per-bar points again on a later bar (a position is
# open, or orders are in flight); reconcile and shutdown happen once per process
KILLS = [(p, 1) for p in CRASH_POINTS] + [(p, 3) for p in CRASH_POINTS
                                           if p not in ("reconcile", "shutdown")]
assert len(KILLS) >= 20


def _live(tmp: Path, cfg: Path, env: dict[str, str], max_bars: int,
          crash: str | None = None) -> subprocess.CompletedProcess[str]:
    run_env = {k: v for k, v in os.environ.items() if k != "QUANTLAB_CRASH_AT"}
    run_env.update(env)
    if crash:
        run_env["QUANTLAB_CRASH_AT"] = crash
    return subprocess.run(
        [sys.executable, "-m", "quantlab", "live", "flip", "--mode", "live", "--config", str(cfg),
         "--root", str(tmp / "strategies"), "--state", str(tmp / "flip.sqlite"),
         "--max-bars", str(max_bars)],
        capture_output=True, text=True, env=run_env, cwd=tmp, timeout=120)


def check_consistent(fake: FakeBinance, state: Path) -> None:
    """No duplicate orders, no lost fills, positions equal to the exchange's."""
    orders = fake.orders()
    cids = [o["clientOrderId"] for o in orders]
    assert len(cids) == len(set(cids)), "an order was placed twice"
    with LiveStore.open(state) as st:
        stored = {o.client_id: o for o in st.orders()}
        for cid in cids:  # every order at the exchange is known to the store
            assert cid in stored
            assert stored[cid].status in ("open", "closed", "canceled", "expired", "rejected")
        fills = {f.fill_id: f for f in st.fills()}
        trades = {f"BTC/USDT:{t['id']}": t for t in fake.trades()}
        assert set(fills) == set(trades), "fills lost or invented"
        for fid, t in trades.items():
            assert fills[fid].amount == pytest.approx(float(t["qty"]), rel=1e-12)
            assert fills[fid].price == pytest.approx(float(t["price"]), rel=1e-12)
        baseline = st.get_meta("baseline")
        pos = st.positions().get("BTC/USDT", 0.0)
        assert baseline["BTC"] + pos == pytest.approx(sum(fake.balances()["BTC"]), abs=1e-9)
        level, reason, _ = st.breaker()
        assert level == 0, reason
    report = verify_audit(state)
    assert report.ok, report.reason


@pytest.mark.parametrize("point,count", KILLS, ids=[f"{p}:{c}" for p, c in KILLS])
def test_sigkill_then_restart_is_consistent(tmp_path, point, count):
    fake = FakeBinance(SyntheticCandles("1m"), now_ms=T0 + 100 * 60_000 + 5_000,
                       speed=300).start()
    try:
        promote_flip(tmp_path / "strategies", period=2)
        cfg = live_config(tmp_path / "live.toml", fake.url)
        env = {"QUANTLAB_API_KEY": fake.api_key, "QUANTLAB_API_SECRET": fake.secret}
        first = _live(tmp_path, cfg, env, max_bars=14, crash=f"{point}:{count}")
        assert first.returncode == -9, (first.returncode, first.stderr[-2000:])
        second = _live(tmp_path, cfg, env, max_bars=6)
        assert second.returncode == 0, second.stderr[-2000:]
        assert len(fake.orders()) >= 1  # the strategy traded
        check_consistent(fake, tmp_path / "flip.sqlite")
    finally:
        fake.stop()
