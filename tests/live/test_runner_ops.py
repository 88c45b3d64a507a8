"""The live runner's operational behaviour in replay: circuit-breaker levels driven by a scripted
price path, a halt that survives a restart, the halt file, and risk refusals feeding the breaker.

Everything runs for real: a tiny two-symbol daily OHLCV cache written with the data layer, a
promoted artifact whose ``signals()`` follows a fixed calendar (so every order is known in
advance), ``run_live(..., mode="replay", risk_in_replay=True)`` with a real SQLite state file,
and assertions read back from that file (orders, fills, equity, breaker row, audit chain).

Hand computation of the scripted path (fees 0, slippage 0, all-in sizing, two sleeves of
5,000 each; a signal at bar t's close fills at bar t+1's open = bar t's close):

========== ============= ============= ============================ ======== =========
day        BTC close     ETH close     book after the close         equity   drawdown
========== ============= ============= ============================ ======== =========
01-02      100           100           entry signal BTC, ETH        10,000   0
01-03      100           100           50 BTC + 50 ETH @ 100        10,000   0
01-11      88            88            50 x 88 + 50 x 88            8,800    12 % warn
01-13/14   88            88            BTC exit / re-entry @ 88     8,800    12 %
01-16      82            82            50 x 82 + 50 x 82            8,200    18 % reduce
01-17/18   82            82            BTC exit allowed, @ 82       8,200    18 %
01-19      82            82            BTC entry refused (breaker)  8,200    18 %
01-21      82            68            4,100 + 50 x 68              7,500    25 % halt
01-22      82            68            ETH flattened @ 68           7,500    25 %
01-25      100           100           entry signals ignored        7,500    25 %
========== ============= ============= ============================ ======== =========
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from quantlab.data.quality.report import DataQualityWarning
from quantlab.data.store import cache_path, write_ohlcv
from quantlab.live.audit import verify_audit
from quantlab.live.session import run_live
from quantlab.live.store import LiveStore
from quantlab.promote.artifact import write_artifact

SYMBOLS = ["BTC/USDT", "ETH/USDT"]
EXCHANGE = "testex"
NAME = "scripted"
DAYS = pd.date_range("2024-01-01", periods=40, freq="D", tz="UTC")
#: First replay stops here; the resumed replay continues to the end of DAYS.
FIRST_END = "2024-01-30"

#: (first day of the new level, price) per symbol; the price holds until the next change.
PRICE_STEPS = {
    "BTC/USDT": [("2024-01-01", 100.0), ("2024-01-11", 88.0), ("2024-01-16", 82.0),
                 ("2024-01-26", 100.0)],
    "ETH/USDT": [("2024-01-01", 100.0), ("2024-01-11", 88.0), ("2024-01-16", 82.0),
                 ("2024-01-21", 68.0), ("2024-01-26", 100.0)],
}
#: Signal days (acted on at that day's close, filled at the next open).
ENTRIES = {"BTC/USDT": ["2024-01-02", "2024-01-14", "2024-01-19", "2024-01-25", "2024-02-02"],
           "ETH/USDT": ["2024-01-02", "2024-01-25", "2024-02-02"]}
EXITS = {"BTC/USDT": ["2024-01-13", "2024-01-17"], "ETH/USDT": []}

BREAKER_ONLY_DRAWDOWN = """
[risk]
max_drawdown = "off"
daily_loss_limit = "off"
max_orders_per_minute = "off"
[breaker]
drawdown = [0.10, 0.15, 0.20]
daily_loss = "off"
consecutive_rejects = "off"
staleness_bars = "off"
"""

_STRATEGY = '''"""Scripted test strategy: entries and exits on fixed bar times (causal: bar t's
signal depends on bar t's timestamp only)."""

import pandas as pd

from quantlab.strategies.base import Signals, Strategy

ENTRIES = {entries!r}
EXITS = {exits!r}


def _marks(close, plan):
    def one(index, times):
        return pd.Series(index.isin(pd.to_datetime(times, utc=True)), index=index)

    if isinstance(close, pd.Series):
        (times,) = plan.values()
        return one(close.index, times)
    return pd.DataFrame({{s: one(close.index, plan.get(s, [])) for s in close.columns}},
                        index=close.index)


class Scripted(Strategy):
    """Enter and exit on a calendar."""

    multi_asset = True

    def warmup(self):
        return 1

    def signals(self, bars):
        close = bars["close"]
        return Signals(entries=_marks(close, ENTRIES), exits=_marks(close, EXITS))
'''


# ------------------------------------------------------------------------------ builders
def ms(day: str) -> int:
    """Epoch ms of a UTC date/time string."""
    return int(pd.Timestamp(day, tz="UTC").value // 1_000_000)


def iso(day: str) -> str:
    return pd.Timestamp(day, tz="UTC").isoformat()


def promote_scripted(root: Path, symbols: list[str], entries: dict[str, list[str]],
                     exits: dict[str, list[str]], *, exchange: str | None,
                     timeframe: str = "1d", options: dict[str, Any] | None = None,
                     name: str = NAME) -> Path:
    """Freeze the calendar strategy as ``root/name/N`` whose manifest names the data folder
    ``exchange`` (a local variant of ``helpers.promote_builtin``)."""
    art = write_artifact(
        name, strategy_source=_STRATEGY.format(entries=entries, exits=exits),
        strategy_ref="strategy.py:Scripted", params={}, root=root,
        manifest={"strategy": "scripted", "params": {},
                  "options": {"fees_bps": 0.0} if options is None else options,
                  "data": {"symbols": symbols, "exchange": exchange, "timeframe": timeframe},
                  "warmup_bars": 1})
    return Path(art.path)


def closes(symbol: str) -> pd.Series:
    """The scripted close path of ``symbol`` over DAYS."""
    out = pd.Series(np.nan, index=DAYS)
    for day, price in PRICE_STEPS[symbol]:
        out[out.index >= pd.Timestamp(day, tz="UTC")] = price
    return out


def write_cache(data_dir: Path) -> None:
    """Daily bars of both symbols in ``data_dir/testex/1d`` (open = previous close)."""
    for sym in SYMBOLS:
        c = closes(sym).to_numpy()
        o = np.r_[c[0], c[:-1]]
        frame = pd.DataFrame({"open": o, "high": np.maximum(o, c), "low": np.minimum(o, c),
                              "close": c, "volume": 1_000.0}, index=DAYS)
        write_ohlcv(frame, cache_path(EXCHANGE, sym, "1d", data_dir))


def replay(base: Path, state: Path, config: str, **kw: Any) -> Any:
    """``quantlab live scripted --mode replay --risk`` in-process, empty environment."""
    cfg = base / f"live-{abs(hash(config))}.toml"
    cfg.write_text(config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)  # flat stretches are on purpose
        return run_live(NAME, mode="replay", config=cfg, state=state, root=base / "strategies",
                        data_dir=base / "data", risk_in_replay=True, env={}, **kw)


def audit(state: Path) -> list[Any]:
    with LiveStore.open(state) as st:
        return st.audit.records()


def kinds(records: list[Any], kind: str) -> list[dict[str, Any]]:
    return [r.payload for r in records if r.kind == kind]


def bar_of(records: list[Any], seq: int) -> str | None:
    """Bar of the newest decision written before record ``seq`` (records of one bar follow
    its decision in the same transaction)."""
    bar = None
    for r in records:
        if r.seq >= seq:
            break
        if r.kind == "decision":
            bar = r.payload["bar"]
    return bar


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("runner_ops")
    write_cache(base / "data")
    promote_scripted(base / "strategies", SYMBOLS, ENTRIES, EXITS, exchange=EXCHANGE)
    return base


@pytest.fixture(scope="module")
def halted(workspace: Path) -> tuple[Path, Any]:
    """The scripted replay up to FIRST_END: warn, reduce-only, halt."""
    state = workspace / "halted.sqlite"
    run = replay(workspace, state, BREAKER_ONLY_DRAWDOWN, end=FIRST_END)
    return state, run


def copy_state(src: Path, dst: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        if Path(str(src) + suffix).exists():
            shutil.copyfile(str(src) + suffix, str(dst) + suffix)
    return dst


# ------------------------------------------------------------------------------ 1. levels
def test_scripted_path_walks_warn_reduce_halt(halted: tuple[Path, Any]) -> None:
    state, run = halted
    records = audit(state)
    changes = [(r.seq, r.payload) for r in records if r.kind == "breaker"]
    assert [(p["from"], p["to"], p["source"], p["reason"]) for _, p in changes] == [
        ("ok", "warn", "auto", "drawdown 12.0% >= warn 10.0%"),
        ("warn", "reduce_only", "auto", "drawdown 18.0% >= reduce 15.0%"),
        ("reduce_only", "halted", "auto", "drawdown 25.0% >= halt 20.0%"),
    ]
    # each change happens at the close of the bar whose equity crosses the threshold
    assert [bar_of(records, seq) for seq, _ in changes] == [
        iso("2024-01-11"), iso("2024-01-16"), iso("2024-01-21")]

    with LiveStore.open(state) as st:
        assert st.breaker() == (3, "drawdown 25.0% >= halt 20.0%", ms("2024-01-21"))
        curve = st.equity_curve()
        assert st.positions() == {"BTC/USDT": 0.0, "ETH/USDT": 0.0}
        assert st.cash() == pytest.approx(7_500.0, rel=1e-12)
    # equity by hand (module docstring): 10,000 -> 8,800 -> 8,200 -> 7,500 from the peak 10,000
    expected = pd.Series(10_000.0, index=pd.date_range("2024-01-02", FIRST_END, tz="UTC"))
    expected[expected.index >= "2024-01-11"] = 50 * 88.0 + 50 * 88.0
    expected[expected.index >= "2024-01-16"] = 50 * 82.0 + 50 * 82.0
    expected[expected.index >= "2024-01-21"] = 50 * 82.0 + 50 * 68.0
    np.testing.assert_allclose(curve["equity"].to_numpy(), expected.to_numpy(), rtol=1e-12)
    assert list(curve.index) == list(expected.index)
    np.testing.assert_allclose(curve["peak"].to_numpy(), 10_000.0, rtol=0)
    dd = curve["drawdown"]
    assert dd["2024-01-11"] == pytest.approx(0.12) and dd["2024-01-16"] == pytest.approx(0.18)
    assert dd["2024-01-21"] == pytest.approx(0.25)
    assert run.breaker == "halted" and run.equity == pytest.approx(7_500.0)
    assert verify_audit(state).ok


def test_warn_trades_reduce_only_refuses_entries_but_not_exits(halted: tuple[Path, Any]) -> None:
    state, _ = halted
    records = audit(state)
    risk = kinds(records, "risk")
    assert len(risk) == 1
    (refusal,) = risk
    assert refusal["rule"] == "breaker"
    assert refusal["message"] == "breaker reduce_only: entry order buy BTC/USDT refused"
    order = refusal["order"]
    assert (order["symbol"], order["side"], order["leg"], order["bar_ms"],
            order["reduce_only"]) == ("BTC/USDT", "buy", "entry", ms("2024-01-19"), False)
    assert order["amount"] == pytest.approx(4_100.0 / 82.0)
    with LiveStore.open(state) as st:
        orders = [(o.bar_ms, o.symbol, o.side, o.leg, o.status) for o in st.orders()]
        fills = [(f.ts_ms, f.symbol, f.side, f.amount, f.price) for f in st.fills()]
        assert st.get_order(refusal["client_id"]) is None  # refused: never became an order
    assert orders == [
        (ms("2024-01-02"), "BTC/USDT", "buy", "entry", "closed"),
        (ms("2024-01-02"), "ETH/USDT", "buy", "entry", "closed"),
        (ms("2024-01-13"), "BTC/USDT", "sell", "exit", "closed"),    # warn: exit ...
        (ms("2024-01-14"), "BTC/USDT", "buy", "entry", "closed"),    # ... and entry allowed
        (ms("2024-01-17"), "BTC/USDT", "sell", "exit", "closed"),    # reduce-only: exit allowed
        (ms("2024-01-21"), "ETH/USDT", "sell", "flatten", "closed"),  # halt: flatten
    ]
    assert fills == [
        (ms("2024-01-03"), "BTC/USDT", "buy", 50.0, 100.0),
        (ms("2024-01-03"), "ETH/USDT", "buy", 50.0, 100.0),
        (ms("2024-01-14"), "BTC/USDT", "sell", 50.0, 88.0),
        (ms("2024-01-15"), "BTC/USDT", "buy", 50.0, 88.0),
        (ms("2024-01-18"), "BTC/USDT", "sell", 50.0, 82.0),
        (ms("2024-01-22"), "ETH/USDT", "sell", 50.0, 68.0),  # next open after the halt bar
    ]


def test_halt_flattens_and_blocks_every_later_entry(halted: tuple[Path, Any]) -> None:
    state, _ = halted
    records = audit(state)
    halt_seq = next(r.seq for r in records if r.kind == "breaker" and r.payload["to"] == "halted")
    after = [r for r in records if r.seq > halt_seq]
    assert [r.payload["leg"] for r in after if r.kind == "order"] == ["flatten"]
    (flatten,) = [r.payload for r in after if r.kind == "order"]
    assert (flatten["symbol"], flatten["side"], flatten["amount"], flatten["reduce_only"]) == (
        "ETH/USDT", "sell", 50.0, True)
    # the strategy still wants both entries on 01-25; nothing is ordered, nothing refused
    wanted = [r.payload for r in after if r.kind == "decision" and r.payload["signals"]]
    assert wanted == [{"bar": iso("2024-01-25"), "signals": {
        "BTC/USDT": {"entry": True, "size": 1.0}, "ETH/USDT": {"entry": True, "size": 1.0}}}]
    assert not [r for r in after if r.kind in ("risk", "breaker")]
    assert [r.payload["side"] for r in after if r.kind == "fill"] == ["sell"]
    assert records[-1].kind == "stop"


# ------------------------------------------------------------------------------ 2. restart
def test_halt_survives_resumed_replay(workspace: Path, halted: tuple[Path, Any]) -> None:
    state = copy_state(halted[0], workspace / "resumed.sqlite")
    before = len(audit(state))
    run = replay(workspace, state, BREAKER_ONLY_DRAWDOWN, resume=True)
    assert run.bars == 10 and run.last_bar == iso("2024-02-09")
    assert run.breaker == "halted"
    records = audit(state)
    new = records[before:]
    start = new[1] if new[0].kind == "config" else new[0]
    assert start.kind == "start"
    assert start.payload["breaker"] == 3 and start.payload["resumed_after"] == iso(FIRST_END)
    # 02-02: the strategy wants both entries again; the latched halt places nothing
    assert [r.payload["bar"] for r in new if r.kind == "decision" and r.payload["signals"]] == [
        iso("2024-02-02")]
    assert not [r for r in new if r.kind in ("order", "fill", "order_update", "risk", "breaker")]
    with LiveStore.open(state) as st:
        assert st.breaker()[0] == 3
        assert len(st.orders()) == 6 and len(st.fills()) == 6
    assert verify_audit(state).ok


# ------------------------------------------------------------------------------ 3. halt file
def test_halt_file_halts_on_the_first_bar(workspace: Path) -> None:
    state = workspace / "haltfile.sqlite"
    halt = state.with_suffix(".halt")
    halt.write_text("maintenance\n")
    run = replay(workspace, state, BREAKER_ONLY_DRAWDOWN, end="2024-01-10")
    records = audit(state)
    assert [r.kind for r in records[:4]] == ["config", "start", "breaker", "decision"]
    change = records[2].payload
    assert change == {"from": "ok", "to": "halted", "source": "halt_file",
                      "reason": f"halt file {halt} present"}
    assert records[3].payload["bar"] == iso("2024-01-02")  # the first bar with a decision
    with LiveStore.open(state) as st:
        assert st.breaker()[:2] == (3, f"halt file {halt} present")
        assert st.orders() == [] and st.fills() == []  # the 01-02 entries never happen
        assert st.last_equity()["equity"] == 10_000.0
    assert run.breaker == "halted" and halt.exists()


# ------------------------------------------------------------------------------ rejects
REJECTS_ONLY = """
[risk]
max_drawdown = "off"
daily_loss_limit = "off"
max_orders_per_minute = "off"
max_order_notional = 1000
[breaker]
drawdown = "off"
daily_loss = "off"
consecutive_rejects = [1, 2, 3]
staleness_bars = "off"
"""


def test_risk_refusals_feed_the_consecutive_rejects_trigger(workspace: Path) -> None:
    state = workspace / "rejects.sqlite"
    replay(workspace, state, REJECTS_ONLY, end="2024-01-10")
    records = audit(state)
    refused = kinds(records, "risk")
    # 01-02: both all-in entries (5,000 each) break max_order_notional 1,000
    assert [(r["rule"], r["order"]["symbol"]) for r in refused] == [
        ("max_order_notional", "BTC/USDT"), ("max_order_notional", "ETH/USDT")]
    reasons = [r["reason"] for r in kinds(records, "breaker")]
    assert reasons and reasons[0].startswith("consecutive_rejects 2 >= reduce 2")

