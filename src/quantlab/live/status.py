"""What ``GET /status`` and ``GET /health`` answer about a runner (JSON-safe views).

The functions read a :class:`~quantlab.live.runner.LiveRunner` (passed in, not imported: the
runner imports this module).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from quantlab.live.breaker import BreakerLevel

__all__ = ["runner_health", "runner_status"]


def _num(x: float | None) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def _iso(ms: int | None) -> str | None:
    return None if ms is None else pd.Timestamp(int(ms), unit="ms", tz="UTC").isoformat()


def runner_status(runner: Any) -> dict[str, Any]:
    """Positions, equity, drawdown, breaker, last bar and decision, orders, data latency."""
    b = runner.book
    n = len(runner.symbols)
    held = runner.held() if runner.model is not None else np.zeros(n)
    close = runner._values[-1, :, 3] if len(runner._values) else np.full(n, np.nan)
    positions = {s: {"units": float(h), "price": _num(c),
                     "notional": _num(h * c) if np.isfinite(c) else None}
                 for s, h, c in zip(runner.symbols, held, close, strict=True)}
    level = runner.breaker.level
    return {"strategy": runner.ident.name, "version": runner.ident.version,
            "mode": runner.ident.mode, "symbols": list(runner.symbols),
            "equity": _num(b.equity), "cash": _num(b.cash), "peak_equity": _num(b.peak),
            "drawdown": _num(b.drawdown), "daily_loss": _num(b.daily_loss),
            "positions": positions,
            "breaker": {"level": int(level), "name": level.name.lower(),
                        "reason": runner.breaker.reason},
            "last_bar": _iso(runner.last_bar_ms), "last_decision": runner.last_decision,
            "bars_processed": runner.bars_done, "orders": runner.store.order_counts(),
            "data": {"staleness_bars": float(getattr(runner.feed, "staleness_bars", 0.0)),
                     "latency_s": float(getattr(runner.feed, "latency_s", 0.0))}}


def runner_health(runner: Any) -> tuple[str, list[str]]:
    """``healthy``; ``degraded`` (breaker warn or reduce-only, data late); ``critical``
    (halted, or data as late as the breaker's halt threshold for staleness)."""
    level = runner.breaker.level
    if level >= BreakerLevel.HALTED:
        return "critical", [f"halted: {runner.breaker.reason}"]
    state, reasons = "healthy", []
    if level > BreakerLevel.OK:
        state = "degraded"
        reasons.append(f"breaker {level.name.lower()}: {runner.breaker.reason}")
    stale = float(getattr(runner.feed, "staleness_bars", 0.0))
    halt_at = runner.config.breaker.staleness_bars[2]
    if halt_at is not None and stale >= halt_at:
        return "critical", [*reasons, f"data {stale:g} bar(s) late"]
    if stale >= 1:
        state = "degraded"
        reasons.append(f"data {stale:g} bar(s) late")
    return state, reasons
