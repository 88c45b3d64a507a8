"""The live broker: real orders through ccxt, idempotent by client order id.

Every order is an ``intent`` row in the store *before* it is sent (the runner writes it with the
bar's state), then goes out with its deterministic ``newClientOrderId``. When the answer is
lost — a timeout, a dropped connection after the exchange accepted the order, a crash — the
broker asks the exchange for that client id before anything else: an order that exists is
adopted, never placed twice; an order that provably does not exist is re-sent (within the same
bar) or expired (after a restart: the next bar's target re-orders what is still missing).
Fills come from the exchange's trade list per order and are stored once per trade id.

Amounts and prices are rounded with the exchange's precision (ccxt markets); an order below
the market's minimum amount or notional is not sent but stored as rejected, with the reason.
On start, :meth:`CcxtBroker.reconcile` settles every order in flight, stores missed fills and
compares the exchange balances with the store; a difference beyond tolerance halts the runner
with a clear alert instead of trading.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from quantlab.errors import LiveError
from quantlab.live.config import OrderPolicy
from quantlab.live.crash import crashpoint
from quantlab.live.types import FINAL_STATUSES, Fill, OrderIntent, OrderRecord

if TYPE_CHECKING:  # pragma: no cover
    from quantlab.live.runner import LiveRunner

__all__ = ["CcxtBroker"]


def _now_ms() -> int:
    return int(time.time() * 1000)


def _line(exc: BaseException, limit: int = 200) -> str:
    text = f"{type(exc).__name__}: " + " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class CcxtBroker:
    """Places, tracks and reconciles orders on a ccxt exchange.

    Parameters
    ----------
    exchange : ccxt.async_support.Exchange
        With credentials; markets are loaded on first use.
    symbols : list of str
        The runner's symbols.
    policy : OrderPolicy
        Order type, limit offset, cancel timeout, shutdown policy, retries.
    tolerance : float
        Relative tolerance of the balance check at start.
    """

    def __init__(self, exchange: Any, symbols: Sequence[str], policy: OrderPolicy,
                 tolerance: float = 1e-6) -> None:
        self.exchange = exchange
        self.symbols = list(symbols)
        self.policy = policy
        self.tolerance = float(tolerance)

    # ------------------------------------------------------------------ exchange calls
    async def _call(self, what: str, fn: Any, *args: Any, **kw: Any) -> Any:
        """``fn`` with retries on network errors (not for order creation)."""
        import ccxt

        delay = max(self.policy.retry_backoff_s, 0.01)
        attempts = max(self.policy.max_retries, 0) + 1
        for attempt in range(1, attempts + 1):
            try:
                return await fn(*args, **kw)
            except (ccxt.AuthenticationError, ccxt.PermissionDenied) as exc:
                raise LiveError(f"{self.exchange.id} refused the credentials ({what}): "
                                f"{_line(exc)}") from None
            except ccxt.NetworkError as exc:
                if attempt == attempts:
                    raise LiveError(f"{self.exchange.id} {what} failed {attempts} times: "
                                    f"{_line(exc)}") from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        raise AssertionError("unreachable")  # pragma: no cover

    async def lookup(self, rec: OrderRecord) -> dict[str, Any] | None:
        """The exchange's view of an order, by client id (None if it does not exist)."""
        import ccxt

        try:
            return await self._call(f"fetch_order {rec.client_id}", self.exchange.fetch_order,
                                    rec.exchange_id or "", rec.symbol,
                                    {"origClientOrderId": rec.client_id})
        except LiveError as exc:
            if "OrderNotFound" in str(exc):  # pragma: no cover - OrderNotFound is not retried
                return None
            raise
        except ccxt.OrderNotFound:
            return None

    # ------------------------------------------------------------------ submit
    def tradable(self, intent: OrderIntent) -> bool:
        """False for dust: an order the exchange's minimum amount or notional would refuse
        (reduce-only legs are always tried, so a position is never stranded by the check)."""
        return intent.reduce_only or not self._prepare(intent)[2]

    def _prepare(self, intent: OrderIntent) -> tuple[float, float | None, str]:
        """Amount and price after the exchange's precision; a reason when it cannot be sent."""
        import ccxt

        ex = self.exchange
        market = ex.market(intent.symbol)
        try:
            amount = float(ex.amount_to_precision(intent.symbol, intent.amount))
        except ccxt.InvalidOrder:
            amount = 0.0
        ref = float(intent.price) if intent.price is not None else float("nan")
        limits = market.get("limits") or {}
        min_amount = (limits.get("amount") or {}).get("min") or 0.0
        min_cost = (limits.get("cost") or {}).get("min") or 0.0
        if amount <= 0 or amount < min_amount:
            return amount, None, (f"amount {intent.amount:.10g} below the exchange minimum "
                                  f"{min_amount:g} after precision")
        if ref == ref and amount * ref < min_cost:
            return amount, None, (f"notional {amount * ref:.2f} below the exchange minimum "
                                  f"{min_cost:g}")
        price = None
        if self.policy.type == "limit" and ref == ref:
            off = self.policy.limit_offset_bps / 1e4
            price = float(ex.price_to_precision(
                intent.symbol, ref * (1 + off if intent.side == "buy" else 1 - off)))
        return amount, price, ""

    async def submit_all(self, runner: LiveRunner, intents: Sequence[OrderIntent]) -> None:
        """Send the bar's orders (exits first, as planned)."""
        for intent in intents:
            await self.submit(runner, intent)

    async def submit(self, runner: LiveRunner, intent: OrderIntent) -> None:
        """Send one order whose ``intent`` row is already stored; settle its outcome."""
        import ccxt

        store = runner.store
        rec = store.get_order(intent.client_id) or OrderRecord.from_intent(intent, _now_ms())
        if rec.status != "intent":
            return  # already sent (a restart found it)
        amount, price, problem = self._prepare(intent)
        if problem:
            self._finish(runner, rec, "rejected", {"reject": problem}, count=False)
            return
        rec.info = {**rec.info, "sent_amount": amount,
                    **({"limit_price": price} if price is not None else {})}
        crashpoint("before_submit")
        params = {"newClientOrderId": intent.client_id}
        order_type = "limit" if price is not None else "market"
        attempts = max(self.policy.max_retries, 0) + 1
        for attempt in range(1, attempts + 1):
            try:
                order = await self.exchange.create_order(intent.symbol, order_type, intent.side,
                                                         amount, price, params)
                crashpoint("after_submit")
                await self._apply(runner, rec, order)
                runner.book.rejects = 0
                crashpoint("after_ack")
                return
            except (ccxt.AuthenticationError, ccxt.PermissionDenied) as exc:
                raise LiveError(f"{self.exchange.id} refused the credentials: {_line(exc)}") \
                    from None
            except ccxt.NetworkError as exc:
                self._audit_error(runner, rec, exc, attempt)
                found = await self.lookup(rec)
                if found is not None:
                    await self._apply(runner, rec, found)
                    return
                if attempt < attempts:
                    await asyncio.sleep(self.policy.retry_backoff_s * attempt)
            except ccxt.ExchangeError as exc:  # InvalidOrder, InsufficientFunds, duplicates...
                found = await self.lookup(rec)
                if found is not None:  # a duplicate client id: the order exists, adopt it
                    await self._apply(runner, rec, found)
                    return
                self._finish(runner, rec, "rejected", {"reject": _line(exc)}, count=True)
                return
        # unknown after every retry: stays "intent"; the next sync asks the exchange again

    def _audit_error(self, runner: LiveRunner, rec: OrderRecord, exc: BaseException,
                     attempt: int) -> None:
        with runner.store.transaction():
            runner.store.audit.append("error", {"client_id": rec.client_id, "attempt": attempt,
                                                "error": _line(exc)})

    def _finish(self, runner: LiveRunner, rec: OrderRecord, status: str, info: dict[str, Any],
                *, count: bool) -> None:
        rec.status = status
        rec.updated_ms = _now_ms()
        rec.info = {**rec.info, **info}
        with runner.store.transaction():
            runner.store.upsert_order(rec)
            runner.store.audit.append("order_update", {"client_id": rec.client_id,
                                                       "status": status, **info})
        if count:
            runner.book.rejects += 1
            runner.metrics.inc_rejects("exchange")

    # ------------------------------------------------------------------ order state + fills
    async def _apply(self, runner: LiveRunner, rec: OrderRecord, order: dict[str, Any]) -> None:
        """Store the exchange's view of ``rec`` and any new fills, in one transaction."""
        status = str(order.get("status") or "open")
        if status not in ("open", "closed", "canceled", "expired", "rejected"):
            status = "open"
        filled = float(order.get("filled") or 0.0)
        exchange_id = str(order.get("id")) if order.get("id") is not None else rec.exchange_id
        trades: list[dict[str, Any]] = []
        known = runner.store.filled(rec.client_id)
        if filled > known + 1e-12 and exchange_id:
            trades = await self._call(f"fetch_my_trades {rec.symbol}",
                                      self.exchange.fetch_my_trades, rec.symbol, None, None,
                                      {"orderId": exchange_id})
        rec.exchange_id = exchange_id
        rec.status = status
        rec.filled = filled
        rec.average = float(order["average"]) if order.get("average") else rec.average
        rec.updated_ms = _now_ms()
        store = runner.store
        with store.transaction():
            store.upsert_order(rec)
            store.audit.append("order_update", {"client_id": rec.client_id, "status": status,
                                                "exchange_id": exchange_id, "filled": filled,
                                                "average": rec.average})
            for i, t in enumerate(sorted(trades, key=lambda t: (t.get("timestamp") or 0,
                                                                str(t.get("id"))))):
                if str(t.get("order")) != exchange_id:
                    continue
                self._add_fill(runner, rec, t)
                if i == 0:
                    crashpoint("mid_fill")

    def _add_fill(self, runner: LiveRunner, rec: OrderRecord, trade: dict[str, Any]) -> None:
        store = runner.store
        market = self.exchange.market(rec.symbol)
        amount = float(trade["amount"])
        price = float(trade["price"])
        fee = trade.get("fee") or {}
        fee_cost = float(fee.get("cost") or 0.0)
        currency = fee.get("currency")
        fee_quote = fee_cost if currency in (None, market["quote"]) else (
            fee_cost * price if currency == market["base"] else 0.0)
        fill = Fill(fill_id=f"{rec.symbol}:{trade['id']}", client_id=rec.client_id,
                    symbol=rec.symbol, side=str(trade["side"]), amount=amount, price=price,
                    fee=fee_quote, ts_ms=int(trade.get("timestamp") or _now_ms()),
                    reason=rec.leg)
        if not store.add_fill(fill):
            return
        signed = fill.signed_amount
        if currency == market["base"] and fill.side == "buy":
            signed -= fee_cost  # the exchange took the fee from the bought coins
        pos = store.positions()
        pos[rec.symbol] = pos.get(rec.symbol, 0.0) + signed
        store.set_positions(pos)
        cash = store.cash()
        cash = runner.init_cash if cash is None else cash
        store.set_cash(cash - fill.signed_amount * price - fee_quote)
        store.audit.append("fill", {**fill.to_dict(), "fee_currency": currency})
        runner.metrics.inc_fills()

    # ------------------------------------------------------------------ per bar
    async def sync(self, runner: LiveRunner) -> None:
        """Settle every order still in flight: query it, store fills, cancel stale limits."""
        now = _now_ms()
        for rec in runner.store.open_orders():
            order = await self.lookup(rec)
            if order is None:
                if rec.status == "intent":
                    self._finish(runner, rec, "expired",
                                 {"expired": "never reached the exchange (no order with this "
                                             "client id); the next decision re-orders"},
                                 count=False)
                else:
                    self._finish(runner, rec, "expired", {"expired": "unknown to the exchange"},
                                 count=False)
                continue
            await self._apply(runner, rec, order)
            if (rec.status == "open" and rec.type == "limit"
                    and now - rec.created_ms > self.policy.cancel_after_s * 1000):
                await self.cancel(runner, rec)

    async def cancel(self, runner: LiveRunner, rec: OrderRecord) -> None:
        """Cancel an open order and store its final state (and any last fills)."""
        import ccxt

        try:
            await self._call(f"cancel_order {rec.client_id}", self.exchange.cancel_order,
                             rec.exchange_id or "", rec.symbol,
                             {"origClientOrderId": rec.client_id})
        except (ccxt.OrderNotFound, ccxt.InvalidOrder):
            pass  # filled or gone meanwhile: the lookup below tells
        order = await self.lookup(rec)
        if order is not None:
            await self._apply(runner, rec, order)

    # ------------------------------------------------------------------ start / stop
    async def reconcile(self, runner: LiveRunner) -> None:
        """Before any new order: settle orders in flight, store missed fills, check balances.

        A balance that differs from what the store's fills imply (beyond tolerance and the
        market's amount precision) halts the runner.
        """
        store = runner.store
        await self._call("load_markets", self.exchange.load_markets)
        balance = await self._call("fetch_balance", self.exchange.fetch_balance)
        totals = balance.get("total") or {}
        if store.get_meta("baseline") is None:
            pos = store.positions()
            base = {self.exchange.market(s)["base"]: float(totals.get(
                self.exchange.market(s)["base"]) or 0.0) - pos.get(s, 0.0) for s in self.symbols}
            with store.transaction():
                store.set_meta("baseline", base)
                if store.cash() is None:
                    store.set_cash(runner.init_cash)
                store.audit.append("reconcile", {"first_start": True, "baseline": base})
        await self.sync(runner)
        balance = await self._call("fetch_balance", self.exchange.fetch_balance)
        totals = balance.get("total") or {}
        baseline = store.get_meta("baseline") or {}
        pos = store.positions()
        problems = []
        checked = {}
        for sym in self.symbols:
            market = self.exchange.market(sym)
            asset = market["base"]
            expected = float(baseline.get(asset, 0.0)) + pos.get(sym, 0.0)
            actual = float(totals.get(asset) or 0.0)
            step = (market.get("precision") or {}).get("amount") or 0.0
            tol = max(self.tolerance * max(abs(expected), abs(actual)), float(step) / 2, 1e-12)
            checked[asset] = {"expected": expected, "actual": actual}
            if abs(actual - expected) > tol:
                problems.append(f"{asset} balance {actual:.10g} != {expected:.10g} expected "
                                f"from the stored fills")
        with store.transaction():
            store.audit.append("reconcile", {"balances": checked, "ok": not problems,
                                             "open_orders": len(store.open_orders())})
        runner.metrics.set_reconcile(bool(problems))
        if problems:
            change = runner.breaker.halt("reconcile: " + "; ".join(problems), "reconcile")
            runner._apply_change(change)

    async def shutdown(self, runner: LiveRunner) -> None:
        """Orders still open at shutdown: cancel them, or wait for them (``on_shutdown``)."""
        deadline = time.monotonic() + self.policy.cancel_after_s
        while True:
            open_ = [r for r in runner.store.open_orders() if r.status not in FINAL_STATUSES]
            if not open_:
                break
            if self.policy.on_shutdown == "cancel" or time.monotonic() > deadline:
                for rec in open_:
                    if rec.status == "intent":
                        await self.sync(runner)
                    else:
                        await self.cancel(runner, rec)
                break
            await asyncio.sleep(0.5)
            await self.sync(runner)
        crashpoint("shutdown")
