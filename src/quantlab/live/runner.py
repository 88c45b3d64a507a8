"""The live runner: one promoted strategy, one closed bar at a time, in every mode.

For each closed bar, in this order:

1. *sync* (live): orders still open are queried and their fills stored (idempotent by trade id);
2. *decide*: the strategy's own ``signals()`` on the rolling window → one signal-block row;
3. *step*: the simulator model takes the bar with that row — on paper and in replay it *is* the
   account (pending orders fill at this bar's open, stops against its range, exactly as in a
   backtest); live, it keeps the strategy's own book (entries, stops, sizing) that the exchange
   account is steered to;
4. *guard*: equity, drawdown and daily loss feed the circuit breaker; the orders that take the
   account to the model's target (:func:`~quantlab.live.intents.plan_intents`) pass the breaker
   and the risk guard — refused ones are audited and dropped from the model, never resized;
5. *persist*: fills, orders (as ``intent`` rows for live), model, positions, equity, breaker
   and the last processed bar in **one** SQLite transaction, with their audit records;
6. *submit* (live): each order goes to the exchange under its deterministic client order id;
   the acknowledgement is written as soon as it comes back.

A crash at any point leaves either the whole bar or none of it in the store; a restart
reconciles the orders in flight by client id (:meth:`CcxtBroker.reconcile`) before deciding
again, and never re-sends an order it cannot prove was not placed.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quantlab.backtesting.options import BacktestOptions
from quantlab.data.timeframes import timeframe_ms
from quantlab.errors import ExchangeError, StateError
from quantlab.live.book import AccountBook
from quantlab.live.breaker import Breaker, BreakerChange, BreakerInputs, realized_vol
from quantlab.live.brokers.paper import PaperBroker
from quantlab.live.budget import SharedBudget, reserved_positions
from quantlab.live.config import LiveConfig
from quantlab.live.crash import crashpoint
from quantlab.live.decide import Decision, decide
from quantlab.live.feed import BarBatch
from quantlab.live.intents import flatten_intents, plan_intents
from quantlab.live.metrics import LiveMetrics
from quantlab.live.model import LiveModel, no_signal_row
from quantlab.live.risk import RiskContext, RiskGuard
from quantlab.live.status import runner_health, runner_status
from quantlab.live.store import LiveStore
from quantlab.live.types import OrderIntent, OrderRecord
from quantlab.strategies.base import Strategy

__all__ = ["LiveRunner", "RunnerIdentity"]

#: Live: skip adjustments of a held position smaller than this fraction of it (the account
#: tracks the model's target; fills at the exchange's prices never land exactly on it).
LIVE_BAND = 0.02


def _now_ms() -> int:
    return int(time.time() * 1000)


def _iso(ms: int | None) -> str | None:
    return None if ms is None else pd.Timestamp(int(ms), unit="ms", tz="UTC").isoformat()


@dataclass(frozen=True)
class RunnerIdentity:
    """What a state file belongs to: one strategy version in one mode."""

    name: str
    version: int
    mode: str
    symbols: tuple[str, ...]
    timeframe: str
    artifact_sha256: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (stored in the state file's meta)."""
        return {"name": self.name, "version": self.version, "mode": self.mode,
                "symbols": list(self.symbols), "timeframe": self.timeframe}


class LiveRunner:
    """Runs one promoted strategy against a feed and a broker, with guard, breaker and store.

    Parameters
    ----------
    ident : RunnerIdentity
        Strategy name/version, mode, symbols, timeframe.
    strategy : Strategy
        The verified promoted strategy instance.
    opts : BacktestOptions
        Its backtest options (fees, slippage, sizing, stops...): the paper fill model.
    config : LiveConfig
        Risk limits, breaker triggers, order policy, runner settings.
    store : LiveStore
        The state file (opened).
    feed : ReplayFeed or CcxtFeed
        Closed bars.
    metrics : LiveMetrics
        Prometheus metrics of this runner.
    window : int
        Bars in the decision window.
    init_cash : float
        Capital of the model (paper: the paper account).
    ppy : float
        Bars per year (the backtest's annualization).
    broker : CcxtBroker, optional
        Live mode: the exchange broker; None for paper and replay.
    halt_file : Path, optional
        When this file exists the runner halts (kill switch that survives restarts).
    guard_enabled : bool
        Apply the risk guard, the breaker and the shared budget (off in a plain replay).
    budget : SharedBudget, optional
        The risk budget shared with other runners: orders that passed the guard are checked
        against it, and the book is published to it after each bar.
    """

    def __init__(self, ident: RunnerIdentity, strategy: Strategy, opts: BacktestOptions,
                 config: LiveConfig, store: LiveStore, feed: Any, metrics: LiveMetrics, *,
                 window: int, init_cash: float, ppy: float, broker: Any = None,
                 halt_file: Path | None = None, guard_enabled: bool = True,
                 budget: SharedBudget | None = None) -> None:
        self.ident = ident
        self.symbols = list(ident.symbols)
        self.strategy = strategy
        self.opts = opts
        self.config = config
        self.store = store
        self.feed = feed
        self.metrics = metrics
        self.window = int(window)
        self.init_cash = float(init_cash)
        self.ppy = float(ppy)
        self.broker = broker
        self.halt_file = halt_file
        self.guard = RiskGuard(config.risk) if guard_enabled else None
        level, reason, _ = store.breaker()
        self.breaker = Breaker(config.breaker, level=level, reason=reason)
        self.guard_enabled = guard_enabled
        self.budget = budget if guard_enabled else None
        self.model: LiveModel | None = None
        self.paper: PaperBroker | None = None
        self.book = AccountBook()
        self.last_bar_ms: int | None = store.last_bar_ms()
        self.last_decision: dict[str, Any] = {}
        self.bars_done = 0
        self.bars_acted = 0
        self.submit_latency: list[float] = []
        self._times = np.empty(0, dtype=np.int64)
        self._values = np.empty((0, len(self.symbols), 5))
        self._lock = asyncio.Lock()
        self.stop_event = asyncio.Event()
        self.max_bars: int | None = None
        self._last_inputs: BreakerInputs | None = None
        self._outage_since: int | None = None
        self._cursor: int | None = self.last_bar_ms

    # ------------------------------------------------------------------ start
    def _check_identity(self) -> None:
        saved = self.store.get_meta("identity")
        mine = self.ident.to_dict()
        if saved is None:
            self.store.set_meta("identity", mine)
            return
        for key in ("name", "version", "mode", "symbols", "timeframe"):
            if saved.get(key) != mine[key]:
                raise StateError(
                    f"{self.store.path} belongs to {saved.get('name')}@{saved.get('version')} "
                    f"({saved.get('mode')}, {saved.get('timeframe')}, {saved.get('symbols')}); "
                    f"{key} differs — use another --state file")

    async def start(self) -> None:
        """Load the state, audit the start, reconcile (live) and fill the decision window."""
        with self.store.transaction():
            self._check_identity()
            digest = self.config.digest()
            if self.store.get_meta("config_digest") != digest:
                self.store.audit.append("config", {"digest": digest, "config": self.config.to_dict()})
                self.store.set_meta("config_digest", digest)
            self.store.audit.append("start", {**self.ident.to_dict(),
                                              "artifact_sha256": self.ident.artifact_sha256,
                                              "resumed_after": _iso(self.last_bar_ms),
                                              "breaker": int(self.breaker.level)})
        saved = self.store.load_model()
        if saved is not None:
            self.model = LiveModel.from_bytes(saved[0])
            self.paper = PaperBroker(self.model, self.symbols, self.ident.name, self.ident.version)
        self.book.restore(self.store.get_meta("book"), self.store.last_equity())
        if self.broker is not None:
            await self.broker.reconcile(self)
            crashpoint("reconcile")
        if hasattr(self.feed, "skip_to"):
            self.feed.skip_to(self.last_bar_ms)
        hist = await self.feed.history(self.window, self.last_bar_ms)
        self._append(hist)
        # a fresh start trades from the next bar to close: the history only fills the window
        self._cursor = self.last_bar_ms if self.last_bar_ms is not None else (
            int(hist.times[-1]) if len(hist) and self.ident.mode != "replay" else None)
        self.metrics.set_breaker(int(self.breaker.level))

    # ------------------------------------------------------------------ window
    def _append(self, batch: BarBatch) -> None:
        if not len(batch):
            return
        keep = self._times < batch.times[0]
        self._times = np.concatenate([self._times[keep], batch.times])[-self.window:]
        self._values = np.concatenate([self._values[keep], batch.values])[-self.window:]

    def _frame(self) -> pd.DataFrame:
        return BarBatch(self._times, self._values).frame(self.symbols)

    # ------------------------------------------------------------------ the loop
    async def run(self) -> None:
        """Process closed bars until the feed ends (replay) or :attr:`stop_event` is set."""
        while not self.stop_event.is_set():
            try:
                batch = await self.feed.next_bars(self._cursor, self.stop_event)
            except ExchangeError as exc:  # an outage: keep running, let staleness act
                await self._outage(exc)
                continue
            self._outage_since = None
            if batch is None:
                break
            for i in range(len(batch)):
                if self.stop_event.is_set():
                    break
                if self._cursor is not None and batch.times[i] <= self._cursor:
                    continue
                # live: bars caught up after a pause only move the model; orders go out for the
                # newest closed bar alone (never trade on a stale bar)
                act = i == len(batch) - 1 or self.broker is None
                await self.on_bar(BarBatch(batch.times[i:i + 1], batch.values[i:i + 1]), act=act)
                self.bars_acted += int(act)
                if self.max_bars is not None and self.bars_acted >= self.max_bars:
                    self.stop_event.set()

    async def _outage(self, exc: ExchangeError) -> None:
        """The feed failed after its retries: audit it once, mark the data stale by the local
        clock (the exchange's is out of reach), let the breaker act on it, wait and retry."""
        now = _now_ms()
        if self._outage_since is None:
            self._outage_since = now
            with self.store.transaction():
                self.store.audit.append("error", {"source": "feed", "error": str(exc)})
        if self._cursor is not None:  # closed bars missing since the last one processed
            tf = timeframe_ms(self.ident.timeframe)
            missing = max((now // tf * tf - tf - self._cursor) / tf, 0.0)
            self.feed.staleness_bars = max(float(getattr(self.feed, "staleness_bars", 0.0)),
                                           missing)
        await self.check_staleness()
        wait = float(getattr(self.feed, "poll_interval", 1.0) or 1.0)
        try:
            await asyncio.wait_for(self.stop_event.wait(), timeout=wait)
        except TimeoutError:
            pass

    async def check_staleness(self) -> None:
        """Re-evaluate the breaker with the feed's current staleness (between bars): stale
        data can warn, reduce or halt — and a halt flattens — before the next bar arrives."""
        if not self.guard_enabled or self._last_inputs is None:
            return
        stale = float(getattr(self.feed, "staleness_bars", 0.0))
        if self._outage_since is None:  # the bar that just closed is being fetched: on time
            stale = max(stale - 1.0, 0.0)
        if stale <= self._last_inputs.staleness_bars:
            return
        async with self._lock:
            inputs = replace(self._last_inputs, staleness_bars=stale)
            change = self.breaker.evaluate(inputs)
            if change is not None:
                self._apply_change(change)
                if self.breaker.halted:
                    await self._flatten_now()
            self._last_inputs = inputs
            self.metrics.set_data(stale, float(getattr(self.feed, "latency_s", 0.0)),
                                  self.last_bar_ms)

    async def on_bar(self, bar: BarBatch, act: bool = True) -> None:
        """Everything one closed bar triggers (see the module docstring); ``act=False``
        only steps the model (a bar caught up after a pause, live)."""
        async with self._lock:
            await self._on_bar(bar, act)

    async def watch_halt_file(self, interval: float = 1.0) -> None:
        """Halt as soon as the halt file appears (not only at the next bar)."""
        while not self.stop_event.is_set():
            if self.halt_file is not None and self.halt_file.exists() and not self.breaker.halted:
                await self.halt(f"halt file {self.halt_file} present", "halt_file")
            await self.check_staleness()
            try:
                await asyncio.wait_for(self.stop_event.wait(), timeout=interval)
            except TimeoutError:
                pass

    def _check_halt_file(self) -> None:
        if self.halt_file is not None and self.halt_file.exists() and not self.breaker.halted:
            self._apply_change(self.breaker.halt(f"halt file {self.halt_file} present", "halt_file"))

    async def _on_bar(self, bar: BarBatch, act: bool = True) -> None:
        crashpoint("bar_start")
        t_close = time.perf_counter()
        bar_ms = int(bar.times[0])
        now = _now_ms()
        self._append(bar)
        values = bar.values[0]
        close = values[:, 3]
        if self.broker is not None:
            await self.broker.sync(self)
            crashpoint("after_sync")
        self._check_halt_file()
        t0 = time.perf_counter()
        decision = self._decide()
        self.metrics.observe_decision(time.perf_counter() - t0)
        row = decision.row if decision is not None else no_signal_row(len(self.symbols))
        if self.model is None:
            if decision is None:
                self._cursor = bar_ms
                return  # not enough bars for the first decision yet
            self.model = LiveModel.new(len(self.symbols), self.init_cash, decision.params,
                                       sleeves=self._sleeves(decision))
            self.paper = PaperBroker(self.model, self.symbols, self.ident.name, self.ident.version)
        if self.breaker.halted:
            row = no_signal_row(len(self.symbols))
        assert self.paper is not None and self.model is not None
        step = self.paper.step(bar_ms, values, row, [] if self.broker else
                               [o for o in self.store.open_orders() if o.status == "open"], now)
        held = self.held()
        equity, cash = self._account(close, held)
        change = self._update_book(bar_ms, equity, cash, close, held)
        intents, refused = self._orders(bar_ms, close, held) if act else ([], [])
        if self.broker is not None:
            intents = [i for i in intents if self.broker.tradable(i)]
        crashpoint("before_state_write")
        with self.store.transaction():
            self._persist(bar_ms, now, decision, step, intents, refused, change, close, held)
            crashpoint("mid_state_write")
        crashpoint("after_state_write")
        self.last_bar_ms = self._cursor = bar_ms
        if self.broker is not None and intents:
            await self.broker.submit_all(self, intents)
        self.submit_latency.append(time.perf_counter() - t_close)
        self.metrics.observe_submit(time.perf_counter() - t_close)
        self.bars_done += 1
        self._publish(close)
        self._publish_budget(bar_ms, close)
        crashpoint("after_bar")

    def _sleeves(self, decision: Decision) -> bool:
        return (len(self.symbols) > 1 and not decision.target_mode
                and self.opts.allocation == "sleeves")

    def _decide(self) -> Decision | None:
        if len(self._times) < 2:
            return None
        decision = decide(self.strategy, self._frame(), self.opts, self.symbols, self.ppy)
        self.last_decision = {"bar": _iso(int(self._times[-1])),
                              "signals": decision.summary(self.symbols)}
        return decision

    # ------------------------------------------------------------------ account
    def held(self) -> np.ndarray:
        """Units held per symbol: the model (paper/replay) or the store's fills (live)."""
        assert self.model is not None
        if self.broker is None:
            return self.model.positions.copy()
        pos = self.store.positions()
        return np.array([pos.get(s, 0.0) for s in self.symbols])

    def _account(self, close: np.ndarray, held: np.ndarray) -> tuple[float, float]:
        assert self.model is not None
        if self.broker is None:
            return self.model.equity, self.model.cash
        cash = self.store.cash()
        cash = self.init_cash if cash is None else cash
        marks = np.where(np.isfinite(close), close, 0.0)
        return float(cash + np.sum(held * marks)), float(cash)

    def _update_book(self, bar_ms: int, equity: float, cash: float, close: np.ndarray,
                     held: np.ndarray) -> BreakerChange | None:
        b = self.book
        b.update(bar_ms, equity, cash)
        if not self.guard_enabled:
            return None
        vol = (realized_vol(np.asarray(b.equities), min(len(b.equities), 30), self.ppy)
               if len(b.equities) >= 3 else math.nan)
        inputs = BreakerInputs(drawdown=b.drawdown, daily_loss=b.daily_loss,
                               var=self._var(held, close, equity), realized_vol=vol,
                               consecutive_rejects=b.rejects,
                               staleness_bars=float(getattr(self.feed, "staleness_bars", 0.0)))
        self._last_inputs = inputs
        return self.breaker.evaluate(inputs)

    def _returns(self) -> pd.DataFrame:
        closes = self._values[:, :, 3]
        frame = pd.DataFrame(closes, columns=self.symbols)
        return frame.pct_change().iloc[1:]

    def _var(self, held: np.ndarray, close: np.ndarray, equity: float) -> float:
        if self.guard is None or not np.any(held) or equity <= 0 or len(self._times) < 3:
            return 0.0
        return float(self.guard.portfolio_var(dict(zip(self.symbols, held, strict=True)),
                                              dict(zip(self.symbols, close, strict=True)),
                                              self._returns(), equity))

    # ------------------------------------------------------------------ orders
    def _context(self, close: np.ndarray, held: np.ndarray) -> RiskContext:
        b = self.book
        return RiskContext(equity=b.equity, peak_equity=b.peak,
                           day_start_equity=b.day_start if math.isfinite(b.day_start) else b.equity,
                           positions=dict(zip(self.symbols, map(float, held), strict=True)),
                           prices=dict(zip(self.symbols, map(float, close), strict=True)),
                           returns=self._returns(), stop_fraction=self.opts.stop_loss)

    def _plan(self, bar_ms: int, close: np.ndarray, held: np.ndarray) -> list[OrderIntent]:
        assert self.model is not None
        px = np.where(np.isfinite(close), close, np.nan)
        if self.breaker.halted:
            return flatten_intents(held, self.symbols, px, strategy=self.ident.name,
                                   version=self.ident.version, bar_ms=bar_ms)
        target = self.model.projected(np.where(np.isfinite(px), px, 0.0))
        return plan_intents(target, held, self.symbols, px, strategy=self.ident.name,
                            version=self.ident.version, bar_ms=bar_ms,
                            band=LIVE_BAND if self.broker is not None else 0.0)

    def _orders(self, bar_ms: int, close: np.ndarray,
                held: np.ndarray) -> tuple[list[OrderIntent], list[tuple[OrderIntent, str, str]]]:
        """The bar's orders after breaker and risk guard; refused ones leave the model too."""
        assert self.model is not None
        if self.breaker.halted:
            for j in range(len(self.symbols)):
                self.model.close_pending(j)
        intents = self._plan(bar_ms, close, held)
        refused: list[tuple[OrderIntent, str, str]] = []
        if not intents or self.breaker.halted:
            return intents, refused
        ctx = self._context(close, held)
        booked = dict(ctx.positions)
        if self.budget is not None:
            self.budget.record_closes(self._closes())
        ok: list[OrderIntent] = []
        for intent in intents:
            if not self.breaker.allows(intent):
                refused.append((intent, "breaker", f"breaker {self.breaker.level.name.lower()}: "
                                f"{intent.leg} order {intent.side} {intent.symbol} refused"))
                continue
            if self.guard is not None:
                now = _now_ms()
                verdict = self.guard.check(intent, replace(ctx, positions=dict(booked)), now)
                if verdict.ok and self.budget is not None:
                    after = {**booked, intent.symbol: booked.get(intent.symbol, 0.0)
                             + intent.signed_amount}
                    verdict = self.budget.check(intent, after, ctx.prices, equity=ctx.equity)
                if not verdict.ok:
                    refused.append((intent, verdict.rule, verdict.message))
                    self.book.rejects += 1  # consecutive refusals feed the breaker
                    continue
                self.guard.record_submitted(now)
                if self.broker is None:  # on paper, passing the guard is acceptance
                    self.book.rejects = 0
            booked[intent.symbol] = booked.get(intent.symbol, 0.0) + intent.signed_amount
            ok.append(intent)
        if refused:
            for intent, _, _ in refused:
                j = self.symbols.index(intent.symbol)
                legs = [i for i in ok if i.symbol == intent.symbol]
                if any(i.reduce_only for i in legs):
                    self.model.close_pending(j)
                elif not intent.reduce_only:
                    self.model.cancel_pending(j)
            intents = self._plan(bar_ms, close, held)
            refused_ids = {i.client_id for i, _, _ in refused}
            intents = [i for i in intents if i.client_id not in refused_ids]
        return intents, refused

    # ------------------------------------------------------------------ persist
    def _persist(self, bar_ms: int, now: int, decision: Decision | None, step: Any,
                 intents: list[OrderIntent], refused: list[tuple[OrderIntent, str, str]],
                 change: BreakerChange | None, close: np.ndarray, held: np.ndarray) -> None:
        st, audit = self.store, self.store.audit
        if decision is not None:
            audit.append("decision", {"bar": _iso(bar_ms), "signals": decision.summary(self.symbols)},
                         now)
        if self.broker is None:
            for order in step.orders:
                st.upsert_order(order)
                audit.append("order_update", {"client_id": order.client_id, "status": order.status,
                                              "symbol": order.symbol, "side": order.side,
                                              "filled": order.filled, "average": order.average,
                                              "leg": order.leg}, now)
            for i, fill in enumerate(step.fills):
                if st.add_fill(fill):
                    audit.append("fill", fill.to_dict(), now)
                    self.metrics.inc_fills()
                if i == 0:
                    crashpoint("mid_fill")
            st.set_positions(dict(zip(self.symbols, map(float, held), strict=True)))
            st.set_cash(self.book.cash)
        if change is not None:
            self._record_change(change, bar_ms)
        for intent, rule, message in refused:
            audit.append("risk", {"client_id": intent.client_id, "rule": rule, "message": message,
                                  "order": intent.to_dict()}, now)
            self.metrics.inc_rejects(rule)
        for intent in intents:
            rec = OrderRecord.from_intent(intent, now)
            rec.status = "intent" if self.broker is not None else "open"
            st.upsert_order(rec)
            audit.append("order", intent.to_dict(), now)
        assert self.model is not None
        st.save_model(self.model.to_bytes(), bar_ms)
        b = self.book
        st.add_equity(bar_ms, b.equity, b.cash, b.peak)
        self._save_book()

    def _save_book(self) -> None:
        self.store.set_meta("book", self.book.to_meta())

    def _record_change(self, change: BreakerChange, ts_ms: int | None = None) -> None:
        self.store.set_breaker(int(change.new), change.reason, ts_ms or _now_ms())
        self.store.audit.append("breaker", {"from": change.old.name.lower(),
                                            "to": change.new.name.lower(),
                                            "reason": change.reason, "source": change.source})
        self.metrics.set_breaker(int(change.new))

    def _apply_change(self, change: BreakerChange | None) -> None:
        if change is not None:
            with self.store.transaction():
                self._record_change(change)

    def _closes(self) -> pd.DataFrame:
        """The decision window's closes (index: bar open times in ms, one column per symbol)."""
        return pd.DataFrame(self._values[:, :, 3], index=self._times, columns=self.symbols)

    def _publish_budget(self, bar_ms: int, close: np.ndarray) -> None:
        """The book to the shared budget: held, plus the open orders that add exposure."""
        if self.budget is None or not math.isfinite(self.book.equity):
            return
        pending: dict[str, float] = {}
        for o in self.store.open_orders():
            sign = 1.0 if o.side == "buy" else -1.0
            pending[o.symbol] = pending.get(o.symbol, 0.0) + sign * o.remaining
        held = dict(zip(self.symbols, map(float, self.held()), strict=True))
        self.budget.publish(reserved_positions(held, pending),
                            dict(zip(self.symbols, map(float, close), strict=True)),
                            self.book.equity, bar_ms=bar_ms, closes=self._closes())

    def _publish(self, close: np.ndarray) -> None:
        b = self.book
        held = self.held()
        self.metrics.set_equity(b.equity, b.drawdown, b.peak)
        self.metrics.set_positions({s: float(abs(h) * c) for s, h, c in
                                    zip(self.symbols, held, close, strict=True)
                                    if h != 0 and np.isfinite(c)})
        self.metrics.set_orders(self.store.order_counts())
        self.metrics.set_data(float(getattr(self.feed, "staleness_bars", 0.0)),
                              float(getattr(self.feed, "latency_s", 0.0)), self.last_bar_ms)

    # ------------------------------------------------------------------ operator actions
    async def halt(self, reason: str, source: str) -> dict[str, Any]:
        """Kill switch: stop opening positions, flatten, stay halted until resumed."""
        async with self._lock:
            change = self.breaker.halt(reason or "operator halt", source)
            with self.store.transaction():
                self.store.audit.append("operator", {"action": "halt", "reason": reason,
                                                     "source": source})
                if change is not None:
                    self._record_change(change)
            await self._flatten_now()
        return self.status()

    async def resume(self, source: str) -> dict[str, Any]:
        """Clear a halt (the next bar's figures may trip the breaker again)."""
        async with self._lock:
            if self.halt_file is not None and self.halt_file.exists():
                self.halt_file.unlink()
            change = self.breaker.resume(source)
            # the operator accepts the loss so far: drawdown and daily loss count from here
            # (otherwise the next bar would trip the same trigger again)
            self.book.accept_loss()
            with self.store.transaction():
                self.store.audit.append("operator", {"action": "resume", "source": source,
                                                     "peak_reset_to": _num(self.book.peak)})
                self._save_book()
                if change is not None:
                    self._record_change(change)
        return self.status()

    async def flatten(self, source: str) -> dict[str, Any]:
        """Close every position and halt (flatten without halting would re-enter on the next
        signal)."""
        return await self.halt("operator flatten", source)

    async def _flatten_now(self) -> None:
        if self.model is None:
            return
        for j in range(len(self.symbols)):
            self.model.close_pending(j)
        if self.broker is not None and self.last_bar_ms is not None:
            held = self.held()
            close = self._values[-1, :, 3] if len(self._values) else np.full(len(held), np.nan)
            intents = flatten_intents(held, self.symbols, close, strategy=self.ident.name,
                                      version=self.ident.version, bar_ms=self.last_bar_ms + 1)
            with self.store.transaction():
                for intent in intents:
                    self.store.upsert_order(OrderRecord.from_intent(intent, _now_ms()))
                    self.store.audit.append("order", intent.to_dict())
            await self.broker.submit_all(self, intents)
        else:  # paper: the close orders fill at the next bar's open, like any order
            held = self.held()
            close = self._values[-1, :, 3] if len(self._values) else np.full(len(held), np.nan)
            intents = flatten_intents(held, self.symbols, close, strategy=self.ident.name,
                                      version=self.ident.version,
                                      bar_ms=(self.last_bar_ms or 0) + 1)
            with self.store.transaction():
                for intent in intents:
                    rec = OrderRecord.from_intent(intent, _now_ms())
                    rec.status = "open"
                    self.store.upsert_order(rec)
                    self.store.audit.append("order", intent.to_dict())
                self.store.save_model(self.model.to_bytes(), self.last_bar_ms or 0)

    # ------------------------------------------------------------------ views
    def status(self) -> dict[str, Any]:
        """Positions, equity, drawdown, breaker, last bar and decision, data latency."""
        return runner_status(self)

    def health(self) -> tuple[str, list[str]]:
        """``healthy``, ``degraded`` or ``critical``, with the reasons."""
        return runner_health(self)

def _num(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None
