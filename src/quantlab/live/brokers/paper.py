"""The paper broker: orders fill through the backtest simulator's one-bar step.

Decisions made at a bar's close become the model's pending orders; the next closed bar is
stepped through :meth:`~quantlab.live.model.LiveModel.step` — the kernel a backtest loops over
— which fills them at that bar's open (stops and limits against its range), with the same fees
and slippage. Each simulator record becomes a :class:`~quantlab.live.types.Fill` (or a
rejection), matched to the order that the runner stored for it at the previous close; fills
the runner did not order (a stop-loss, a take-profit, a liquidation) get an order of their own
with leg ``stop_loss`` etc. Fill ids are ``paper:<bar ms>:<symbol>:<n>``: stepping the same bar
again after a restart gives the same ids, so the store keeps each fill once.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from quantlab.backtesting.sim import REASONS, kernel
from quantlab.live.model import LiveModel
from quantlab.live.types import Fill, OrderRecord, client_order_id

__all__ = ["PaperBroker", "PaperStep"]

#: Reasons of fills that carry out an order the runner placed at the previous close.
_ORDERED = {kernel.REASON_SIGNAL, kernel.REASON_REBALANCE, kernel.REASON_LIMIT,
            kernel.REASON_STOP_ENTRY, kernel.REASON_MIN_AMOUNT, kernel.REASON_MIN_NOTIONAL,
            kernel.REASON_NO_FUNDS}
#: Reasons of fills triggered by a level inside the bar.
_STOPS = {kernel.REASON_STOP_LOSS, kernel.REASON_TAKE_PROFIT, kernel.REASON_TRAILING}


@dataclass
class PaperStep:
    """What one bar did on paper.

    Attributes
    ----------
    records : ndarray
        The simulator's records of the bar (``REC_COL`` = asset index).
    fills : list of Fill
        Filled records, in order.
    orders : list of OrderRecord
        Orders whose status changed (filled, rejected, canceled) or that the simulator made
        itself (stops).
    """

    records: np.ndarray
    fills: list[Fill] = field(default_factory=list)
    orders: list[OrderRecord] = field(default_factory=list)


class PaperBroker:
    """Fills the runner's orders on paper through the simulator.

    Parameters
    ----------
    model : LiveModel
        The simulator accounts (the paper account *is* the model).
    symbols : list of str
        Symbol of each asset.
    strategy, version : str, int
        For the client order ids of orders the simulator makes itself (stops).
    """

    def __init__(self, model: LiveModel, symbols: list[str], strategy: str, version: int) -> None:
        self.model = model
        self.symbols = list(symbols)
        self.strategy = strategy
        self.version = int(version)

    def step(self, bar_ms: int, ohlc: np.ndarray, row: np.ndarray,
             open_orders: list[OrderRecord], now_ms: int) -> PaperStep:
        """Step the model through one closed bar and account for what it filled.

        Parameters
        ----------
        bar_ms : int
            Open time of the bar.
        ohlc : ndarray
            float64[n, 4+]: open, high, low, close per asset.
        row : ndarray
            The decision at this bar's close (one row of the signal block).
        open_orders : list of OrderRecord
            Orders placed at the previous close and not final yet.
        now_ms : int
            Time stamp for the order updates.
        """
        rec = self.model.step(ohlc[:, 0], ohlc[:, 1], ohlc[:, 2], ohlc[:, 3], row)
        out = PaperStep(records=rec)
        queue: dict[str, list[OrderRecord]] = defaultdict(list)
        for order in open_orders:
            queue[order.symbol].append(order)
        seen: dict[str, int] = defaultdict(int)
        for r in rec:
            col = int(r[kernel.REC_COL])
            sym = self.symbols[col]
            reason = int(r[kernel.REC_REASON])
            side = "buy" if r[kernel.REC_SIDE] > 0 else "sell"
            filled = int(r[kernel.REC_STATUS]) == kernel.STATUS_FILLED
            n = seen[sym]
            seen[sym] += 1
            order = None
            if reason in _ORDERED:
                order = next((o for o in queue[sym] if o.side == side), None)
                if order is not None:
                    queue[sym].remove(order)
            if order is None:
                name = REASONS.get(reason, "signal")
                order = OrderRecord(client_id=client_order_id(self.strategy, self.version, bar_ms,
                                                              sym, f"{name}:{n}"),
                                    symbol=sym, side=side, amount=float(r[kernel.REC_SIZE]),
                                    type="stop" if reason in _STOPS else "market",
                                    price=float(r[kernel.REC_PRICE]), bar_ms=bar_ms, leg=name,
                                    reason=name, created_ms=now_ms)
            order.updated_ms = now_ms
            if filled:
                size, price = float(r[kernel.REC_SIZE]), float(r[kernel.REC_PRICE])
                order.info = {**order.info, "ordered_amount": order.amount}
                order.amount = order.filled = size
                order.average = price
                order.status = "closed"
                order.exchange_id = f"paper:{bar_ms}:{sym}:{n}"
                out.fills.append(Fill(fill_id=order.exchange_id, client_id=order.client_id,
                                      symbol=sym, side=side, amount=size, price=price,
                                      fee=float(r[kernel.REC_FEE]), ts_ms=bar_ms,
                                      reason=REASONS.get(reason, "signal")))
            else:
                order.status = "rejected"
                order.info = {**order.info, "reject": REASONS.get(reason, "rejected")}
            out.orders.append(order)
        pending = self.model.pending()
        for sym, rest in queue.items():
            j = self.symbols.index(sym)
            for order in rest:
                if pending[j] != kernel.ACT_NONE:
                    continue  # a limit/stop entry still working: stays open
                order.status = "canceled"
                order.updated_ms = now_ms
                order.info = {**order.info, "cancel": "not filled by the simulator"}
                out.orders.append(order)
        return out
