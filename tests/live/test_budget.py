"""The shared risk budget: each limit with hand-computed numbers (two runner ids on one file),
the reservation under concurrent checks (threads and processes), reduce-only orders, stale books,
and two paper runners of two strategies sharing one budget against the local fake Binance.

Hand computations (prices 40,000 BTC/USDT and 2,000 ETH/USDT, equities 10,000 each):

* gross exposure: a holds 0.3 BTC = 12,000; b buys 5 ETH = 10,000 → 22,000;
* leverage: 22,000 / (10,000 + 10,000) = 1.10;
* VaR: a holds 0.25 BTC = 10,000 and b buys 2.5 ETH = 5,000 on a combined equity of 20,000, so
  ``w = (0.5, 0.25)``; both series move by exactly ±1 % per bar, so every EWMA (co)variance is
  ``±0.01² = 1e-4`` (the EWMA weights sum to 1). Moving together ``sigma = 0.01 x 0.75`` and the
  99 % VaR is ``2.3263478740 x 0.0075 = 1.7448 %``; moving against each other
  ``sigma = 0.01 x 0.25``, VaR ``0.5816 %``;
* drawdown: equities 10,000 + 10,000 set the combined peak 20,000; a falls to 7,900 →
  ``1 - 17,900 / 20,000 = 10.5 %``.
"""

from __future__ import annotations

import multiprocessing
import re
import sqlite3
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from quantlab.errors import ParameterError, StateError
from quantlab.live.budget import HISTORY, SharedBudget, reserved_positions
from quantlab.live.config import BudgetConfig
from quantlab.live.fake_exchange import T0, FakeBinance, synthetic_candle
from quantlab.live.session import run_live
from quantlab.live.store import LiveStore
from quantlab.live.types import OrderIntent
from tests.live.helpers import live_config
from tests.live.test_runner_ops import promote_scripted

BTC, ETH = "BTC/USDT", "ETH/USDT"
PX = {BTC: 40_000.0, ETH: 2_000.0}
Z99 = 2.3263478740408408  # NormalDist().inv_cdf(0.99)


def budget(path: Path, runner: str, clock: Any = None, **limits: Any) -> SharedBudget:
    return SharedBudget(path, runner, BudgetConfig(path=str(path), **limits), clock=clock)


def order(symbol: str, side: str, amount: float, reduce_only: bool = False,
          cid: str = "qltest") -> OrderIntent:
    return OrderIntent(client_id=cid, symbol=symbol, side=side, amount=amount,
                       price=PX[symbol], reduce_only=reduce_only,
                       leg="exit" if reduce_only else "entry")


def alternating(start: float, n: int, sign: float = 1.0) -> np.ndarray:
    """Closes moving by exactly +1 %, -1 %, +1 %... (``sign=-1``: -1 %, +1 %...)."""
    steps = sign * np.where(np.arange(n - 1) % 2 == 0, 0.01, -0.01)
    return start * np.concatenate([[1.0], np.cumprod(1.0 + steps)])


# ------------------------------------------------------------------------------ limits
def test_gross_exposure_counts_every_runner_and_reservations(tmp_path: Path) -> None:
    f = tmp_path / "budget.sqlite"
    with budget(f, "a", max_gross_exposure=20_000) as a, \
            budget(f, "b", max_gross_exposure=20_000) as b:
        a.publish({BTC: 0.3}, {BTC: 40_000}, 10_000, bar_ms=1)
        verdict = b.check(order(ETH, "buy", 5), {ETH: 5.0}, {ETH: 2_000}, equity=10_000)
        assert not verdict.ok
        assert verdict.rule == "budget_max_gross_exposure"
        assert verdict.message == (
            "order qltest BUY 5 ETH/USDT refused by the shared budget: gross exposure "
            "22,000.00 > max 20,000.00 (runners: a 12,000.00, b 10,000.00)")
        assert (verdict.value, verdict.limit) == (22_000.0, 20_000.0)
        state = b.state()
        assert [bk.runner for bk in state.books] == ["a"]  # a refusal reserves nothing
        assert state.gross_exposure == 12_000.0

    with budget(f, "a", max_gross_exposure=25_000) as a, \
            budget(f, "b", max_gross_exposure=25_000) as b:
        assert b.check(order(ETH, "buy", 5), {ETH: 5.0}, {ETH: 2_000}, equity=10_000).ok
        state = a.state()
        assert {bk.runner: bk.positions for bk in state.books} == {"a": {BTC: 0.3},
                                                                    "b": {ETH: 5.0}}
        assert state.gross_exposure == 22_000.0 and state.equity == 20_000.0
        # b's reservation counts before it fills: a's 0.1 BTC more (4,000) no longer fits
        verdict = a.check(order(BTC, "buy", 0.1), {BTC: 0.4}, {BTC: 40_000}, equity=10_000)
        assert not verdict.ok and verdict.value == 26_000.0
        assert "(runners: a 16,000.00, b 10,000.00)" in verdict.message
        assert a.check(order(BTC, "buy", 0.05), {BTC: 0.35}, {BTC: 40_000}, equity=10_000).ok
        assert b.state().gross_exposure == 24_000.0


def test_gross_leverage_of_the_combined_equity(tmp_path: Path) -> None:
    f = tmp_path / "budget.sqlite"
    with budget(f, "a", max_gross_leverage=1.0) as a, \
            budget(f, "b", max_gross_leverage=1.0) as b:
        a.publish({BTC: 0.3}, {BTC: 40_000}, 10_000)
        verdict = b.check(order(ETH, "buy", 5), {ETH: 5.0}, {ETH: 2_000}, equity=10_000)
        assert (verdict.ok, verdict.rule) == (False, "budget_max_gross_leverage")
        assert verdict.value == pytest.approx(1.10, rel=1e-12)
        assert verdict.message.endswith(
            "refused by the shared budget: gross leverage 1.10 > max 1.00 "
            "(gross 22,000.00 / equity 20,000.00)")
        # 4 ETH: 20,000 / 20,000 = 1.00, not above the limit
        assert b.check(order(ETH, "buy", 4), {ETH: 4.0}, {ETH: 2_000}, equity=10_000).ok
        assert b.state().leverage == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize(("sign", "expected", "ok"), [
    (1.0, Z99 * 0.01 * 0.75, False),    # ETH moves with BTC
    (-1.0, Z99 * 0.01 * 0.25, True),    # ETH moves against BTC: the positions hedge
])
def test_var_of_the_combined_positions(tmp_path: Path, sign: float, expected: float,
                                       ok: bool) -> None:
    f = tmp_path / "budget.sqlite"
    times = np.arange(40, dtype=np.int64) * 3_600_000
    with budget(f, "a", var_limit=0.015) as a, budget(f, "b", var_limit=0.015) as b:
        a.publish({BTC: 0.25}, {BTC: 40_000}, 10_000,
                  closes=pd.DataFrame({BTC: alternating(40_000, 40)}, index=times))
        entry = order(ETH, "buy", 2.5)
        refused = b.check(entry, {ETH: 2.5}, {ETH: 2_000}, equity=10_000)
        # b has not published ETH closes yet: the VaR cannot be measured, the entry waits
        assert (refused.ok, refused.rule) == (False, "budget_var_limit")
        assert refused.message.endswith("combined VaR: cannot estimate VaR: "
                                        "no returns for ETH/USDT")
        b.record_closes(pd.DataFrame({ETH: alternating(2_000, 40, sign)}, index=times))
        verdict = b.check(entry, {ETH: 2.5}, {ETH: 2_000}, equity=10_000)
        assert verdict.ok is ok
        if not ok:
            assert verdict.rule == "budget_var_limit"
            assert verdict.value == pytest.approx(expected, rel=1e-9)  # 1.7448 %
            assert verdict.message.endswith("combined VaR 1.74% > max 1.50% of equity "
                                            "20,000.00")
            assert [bk.runner for bk in b.state().books] == ["a"]
            # a alone: 10,000 of BTC on its own 10,000 of equity, w = 1
            assert a.var() == pytest.approx(Z99 * 0.01, rel=1e-9)
        else:
            assert [bk.runner for bk in b.state().books] == ["a", "b"]
            assert a.var() == pytest.approx(expected, rel=1e-9)  # 0.5816 %


def test_combined_drawdown_from_the_stored_peak(tmp_path: Path) -> None:
    f = tmp_path / "budget.sqlite"
    with budget(f, "a", max_drawdown=0.10) as a, budget(f, "b", max_drawdown=0.10) as b:
        a.publish({}, {}, 10_000)
        assert b.publish({}, {}, 10_000).peak == 20_000.0
        assert a.publish({}, {}, 7_900).drawdown == pytest.approx(0.105, rel=1e-12)
        verdict = b.check(order(ETH, "buy", 1), {ETH: 1.0}, {ETH: 2_000}, equity=10_000)
        assert (verdict.ok, verdict.rule) == (False, "budget_max_drawdown")
        assert verdict.value == pytest.approx(0.105, rel=1e-12)
        assert verdict.message.endswith("combined drawdown 10.50% >= max 10.00% "
                                        "(equity 17,900.00, peak 20,000.00)")
        a.publish({}, {}, 8_100)  # 1 - 18,100 / 20,000 = 9.5 %
        assert b.check(order(ETH, "buy", 1), {ETH: 1.0}, {ETH: 2_000}, equity=10_000).ok
        state = b.state()
        assert state.peak == 20_000.0 and state.drawdown == pytest.approx(0.095)


def test_reduce_only_passes_over_every_limit(tmp_path: Path) -> None:
    f = tmp_path / "budget.sqlite"
    limits = {"max_gross_exposure": 5_000, "max_gross_leverage": 0.1, "var_limit": 0.001,
              "max_drawdown": 0.01}
    with budget(f, "a", **limits) as a, budget(f, "b", **limits) as b:
        b.publish({}, {}, 10_000)
        a.publish({BTC: 0.3}, {BTC: 40_000}, 10_000)  # combined peak 20,000
        a.publish({BTC: 0.3}, {BTC: 40_000}, 5_000)  # 12,000 > 5,000 and 25 % drawdown
        sell = a.check(order(BTC, "sell", 0.1, reduce_only=True), {BTC: 0.2}, {BTC: 40_000})
        assert sell.ok and sell.rule == "" and sell.message == ""
        assert a.state().exposure("a") == 8_000.0  # the reservation is written
        buy = a.check(order(BTC, "buy", 0.01), {BTC: 0.21}, {BTC: 40_000})
        assert (buy.ok, buy.rule) == (False, "budget_max_drawdown")


def test_stale_books_still_count_and_are_flagged(tmp_path: Path) -> None:
    f = tmp_path / "budget.sqlite"
    t0 = 1_700_000_000_000
    with budget(f, "a", clock=lambda: t0, max_gross_exposure=20_000, stale_s=3600) as a, \
            budget(f, "b", clock=lambda: t0 + 4_000_000, max_gross_exposure=20_000,
                   stale_s=3600) as b:
        a.publish({BTC: 0.3}, {BTC: 40_000}, 10_000)
        state = b.state()
        assert state.stale == ("a",) and state.books[0].age_s(state.now_ms) == 4_000.0
        assert state.to_dict()["runners"][0]["stale"] is True
        verdict = b.check(order(ETH, "buy", 5), {ETH: 5.0}, {ETH: 2_000}, equity=10_000)
        assert not verdict.ok
        assert verdict.message.endswith("(runners: a 12,000.00 stale 4,000 s, b 10,000.00)")
        assert a.state().stale == ()  # a's own clock: just published


def test_reserved_positions_count_entries_before_exits() -> None:
    held = {BTC: 0.5, ETH: 0.0}
    assert reserved_positions(held, {ETH: 3.0}) == {BTC: 0.5, ETH: 3.0}
    assert reserved_positions(held, {BTC: -0.5}) == {BTC: 0.5, ETH: 0.0}  # exit: once filled
    assert reserved_positions(held, {BTC: 0.25, "SOL/USDT": -2.0}) == {
        BTC: 0.75, ETH: 0.0, "SOL/USDT": -2.0}


def test_closes_keep_the_last_history_per_symbol(tmp_path: Path) -> None:
    f = tmp_path / "budget.sqlite"
    with budget(f, "a") as a, budget(f, "b") as b:
        a.record_closes(pd.DataFrame({BTC: np.arange(1.0, 151.0)}, index=np.arange(150)))
        b.record_closes(pd.DataFrame({BTC: [999.0, np.nan]}, index=[149, 150]))  # latest wins
    con = sqlite3.connect(f)
    try:
        rows = con.execute("SELECT bar_ms, close FROM closes ORDER BY bar_ms").fetchall()
    finally:
        con.close()
    assert len(rows) == HISTORY
    assert rows[0] == (50, 51.0) and rows[-1] == (149, 999.0)


def test_refuses_files_and_arguments_that_are_not_a_budget(tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    with pytest.raises(StateError, match=r"other\.sqlite is not a shared budget file"):
        budget(other, "a")
    with LiveStore.open(tmp_path / "state.sqlite"):
        pass
    with pytest.raises(StateError, match=r"state\.sqlite is not a shared budget file "
                                         r"\(no application marker\)"):
        budget(tmp_path / "state.sqlite", "a")
    with pytest.raises(ParameterError, match="runner id must be a non-empty string"):
        budget(tmp_path / "b.sqlite", " ")
    with pytest.raises(ParameterError, match="limits must be a BudgetConfig"):
        SharedBudget(tmp_path / "b.sqlite", "a", {"max_gross_exposure": 1})  # type: ignore[arg-type]
    with budget(tmp_path / "b.sqlite", "a") as a:
        with pytest.raises(ParameterError, match="a holds ETH/USDT without a price"):
            a.publish({ETH: 1.0}, {BTC: 40_000}, 10_000)
        with pytest.raises(ParameterError, match="no equity published for a"):
            a.check(order(ETH, "buy", 1), {ETH: 1.0}, {ETH: 2_000})


# ------------------------------------------------------------------------------ races
def test_concurrent_checks_serialize_threads(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Each racer reads, pauses 50 ms, then decides: without the write lock held from the
    read to the reservation every racer would see an empty book and pass."""
    evaluate = SharedBudget._evaluate

    def slow(self: SharedBudget, *args: Any) -> Any:
        time.sleep(0.05)
        return evaluate(self, *args)

    monkeypatch.setattr(SharedBudget, "_evaluate", slow)
    for round_ in range(3):
        f = tmp_path / f"race{round_}.sqlite"
        racers = [budget(f, f"r{i}", max_gross_exposure=15_000) for i in range(4)]
        start = threading.Barrier(len(racers))
        results: dict[str, bool] = {}

        def race(b: SharedBudget, start: threading.Barrier, results: dict[str, bool]) -> None:
            start.wait()
            results[b.runner_id] = b.check(order(BTC, "buy", 0.25), {BTC: 0.25},
                                           {BTC: 40_000}, equity=10_000).ok

        threads = [threading.Thread(target=race, args=(b, start, results)) for b in racers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        state = racers[0].state()
        for b in racers:
            b.close()
        assert sum(results.values()) == 1, results
        (winner,) = [r for r, ok in results.items() if ok]
        assert [bk.runner for bk in state.books] == [winner]
        assert state.gross_exposure == 10_000.0


def _race_process(path: str, runner: str, go: Any, out: Any) -> None:
    evaluate = SharedBudget._evaluate

    def slow(self: SharedBudget, *args: Any) -> Any:  # widen the race window, as above
        time.sleep(0.2)
        return evaluate(self, *args)

    SharedBudget._evaluate = slow  # type: ignore[method-assign]  # this child process only
    b = budget(Path(path), runner, max_gross_exposure=15_000)
    go.wait(60)
    verdict = b.check(order(BTC, "buy", 0.25), {BTC: 0.25}, {BTC: 40_000}, equity=10_000)
    out.put((runner, verdict.ok, verdict.rule))
    b.close()


def test_concurrent_checks_serialize_processes(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    f = tmp_path / "race.sqlite"
    budget(f, "setup").close()
    go, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_race_process, args=(str(f), f"p{i}", go, out))
             for i in range(3)]
    for p in procs:
        p.start()
    time.sleep(0.5)
    go.set()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    assert sorted(ok for _, ok, _ in results) == [False, False, True]
    assert {rule for _, ok, rule in results if not ok} == {"budget_max_gross_exposure"}
    with budget(f, "reader") as r:
        state = r.state()
    (winner,) = [name for name, ok, _ in results if ok]
    assert [bk.runner for bk in state.books] == [winner] and state.gross_exposure == 10_000.0


# ------------------------------------------------------------------------------ two runners
HOUR = 3_600_000
START = T0 + 100 * HOUR + 30 * 60_000  # last closed bar at start: hour 99
LIMIT = 15_000.0
BARS = 9  # hours 100..108


def hour(k: int) -> int:
    return T0 + k * HOUR


def iso(k: int) -> str:
    return pd.Timestamp(hour(k), unit="ms", tz="UTC").isoformat()


def close_of(symbol: str, k: int) -> float:
    return synthetic_candle(symbol.replace("/", ""), hour(k), HOUR)[4]


def open_of(symbol: str, k: int) -> float:
    return synthetic_candle(symbol.replace("/", ""), hour(k), HOUR)[1]


def last_equity_ms(state: Path) -> int | None:
    if not state.exists():
        return None
    con = sqlite3.connect(state, timeout=10)
    try:
        row = con.execute("SELECT MAX(ts_ms) FROM equity").fetchone()
    except sqlite3.OperationalError:
        return None
    finally:
        con.close()
    return None if row is None or row[0] is None else int(row[0])


def wait_for(what: str, cond: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_two_strategies_share_one_gross_exposure_budget(tmp_path: Path) -> None:
    """alpha (BTC) enters at hour 101 and exits at 105; beta (ETH) wants in at 103 — refused,
    alpha's 10,000 plus its 10,000 would break 15,000 — and again at 107, after alpha's exit
    filled (106's open): then it fits."""
    root = tmp_path / "strategies"
    promote_scripted(root, [BTC], {BTC: [iso(101)]}, {BTC: [iso(105)]}, exchange=None,
                     timeframe="1h", name="alpha")
    promote_scripted(root, [ETH], {ETH: [iso(103), iso(107)]}, {ETH: []}, exchange=None,
                     timeframe="1h", name="beta")
    budget_file = tmp_path / "state" / "budget.sqlite"
    fake = FakeBinance(now_ms=START).start()
    runs: dict[str, Any] = {}
    errors: list[BaseException] = []
    try:
        conf = live_config(tmp_path / "live.toml", fake.url,
                           runner={"websocket": False}, api={"port": 0},
                           budget={"path": str(budget_file), "max_gross_exposure": LIMIT})
        states = {n: tmp_path / "state" / f"{n}-paper.sqlite" for n in ("alpha", "beta")}
        ready = {n: threading.Event() for n in states}

        def run(name: str) -> None:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    runs[name] = run_live(name, mode="paper", config=conf, root=root,
                                          state=states[name], max_bars=BARS, env={},
                                          on_ready=lambda url, n=name: ready[n].set())
            except BaseException as exc:  # surfaced below
                errors.append(exc)
                ready[name].set()

        threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in states]
        for t in threads:
            t.start()
        for n in states:
            assert ready[n].wait(90), f"{n} did not start"
        assert not errors, errors
        for k in range(100, 100 + BARS):
            fake.advance(HOUR)  # bar k closes
            for n, st in states.items():
                wait_for(f"{n} at hour {k}", lambda st=st, k=k: last_equity_ms(st) == hour(k))
        for t in threads:
            t.join(60)
    finally:
        fake.stop()
    assert not errors, errors
    assert runs["alpha"].bars == BARS and runs["beta"].bars == BARS

    def book(name: str) -> tuple[list[Any], list[Any], pd.DataFrame]:
        with LiveStore.open(states[name]) as st:
            return st.audit.records(), st.fills(), st.equity_curve()

    alpha_audit, alpha_fills, alpha_curve = book("alpha")
    beta_audit, beta_fills, beta_curve = book("beta")

    # alpha: entry went through (filled at 102's open, all-in), exit at 106's open
    assert not [r for r in alpha_audit if r.kind == "risk"]
    units = 10_000.0 / open_of(BTC, 102)
    assert [(f.ts_ms, f.side) for f in alpha_fills] == [(hour(102), "buy"), (hour(106), "sell")]
    assert alpha_fills[0].amount == pytest.approx(units, rel=1e-12)

    # beta: the 103 entry refused by the shared budget and audited, the 107 entry filled
    (risk,) = [r.payload for r in beta_audit if r.kind == "risk"]
    assert risk["rule"] == "budget_max_gross_exposure"
    assert risk["order"]["bar_ms"] == hour(103) and risk["order"]["side"] == "buy"
    wanted = risk["order"]["amount"]
    assert wanted == pytest.approx(10_000.0 / close_of(ETH, 103), rel=1e-12)
    found = re.fullmatch(
        r"order ql\w+ BUY [\d.e-]+ ETH/USDT refused by the shared budget: gross exposure "
        r"([\d,.]+) > max 15,000\.00 \(runners: alpha-paper ([\d,.]+), beta-paper ([\d,.]+)\)",
        risk["message"])
    assert found, risk["message"]
    gross, alpha_part, beta_part = (float(g.replace(",", "")) for g in found.groups())
    assert beta_part == pytest.approx(wanted * close_of(ETH, 103), abs=0.006)
    # alpha's book as published after hour 102 or 103 (the two runners share the bar)
    assert min(abs(alpha_part - units * close_of(BTC, k)) for k in (102, 103)) < 0.006
    assert gross == pytest.approx(alpha_part + beta_part, abs=0.011)
    assert [(f.ts_ms, f.side) for f in beta_fills] == [(hour(108), "buy")]
    assert not [r for r in beta_audit if r.kind == "order" and r.payload["bar_ms"] == hour(103)]

    # the combined exposure (equity - cash of each long-only book) never breaks the limit
    both = pd.concat({"alpha": alpha_curve["equity"] - alpha_curve["cash"],
                      "beta": beta_curve["equity"] - beta_curve["cash"]}, axis=1)
    assert list(both.index) == list(pd.to_datetime([hour(k) for k in range(100, 100 + BARS)],
                                                   unit="ms", utc=True))
    assert (both.sum(axis=1) <= LIMIT).all()
    assert ((both > 0).sum(axis=1) <= 1).all()  # never both at once
    assert both["alpha"].loc[iso(102):iso(105)].gt(9_000).all()
    assert both["beta"].loc[iso(108)] > 9_000

    with SharedBudget(budget_file, "reader", BudgetConfig(path=str(budget_file))) as reader:
        final = reader.state()
    assert {b.runner: b.positions for b in final.books} == {
        "alpha-paper": {BTC: 0.0}, "beta-paper": {ETH: pytest.approx(beta_fills[0].amount)}}
