"""Brokers: where the runner's orders go.

* :class:`~.paper.PaperBroker` fills through the backtest simulator's one-bar step (same fill
  model, fees and slippage as :func:`quantlab.backtest`); used by ``--mode paper`` and replay.
* :class:`~.ccxt_broker.CcxtBroker` places real orders through ccxt with deterministic client
  order ids (``--mode live``).
"""

from __future__ import annotations

from quantlab.live.brokers.paper import PaperBroker, PaperStep

__all__ = ["PaperBroker", "PaperStep"]
