"""Prometheus series of one live runner (:class:`LiveMetrics`).

Each runner owns its own :class:`prometheus_client.CollectorRegistry` — never the global one —
so several runners can live in one process without sharing values. Every series carries a
``strategy`` label (the runner's name), given once to the constructor. The control server
(:mod:`quantlab.live.api`) serves :meth:`LiveMetrics.exposition` at ``GET /metrics``.

Series
------
``quantlab_up`` (1), ``quantlab_info{mode,version}`` (1), ``quantlab_equity``,
``quantlab_drawdown`` (positive fraction below peak), ``quantlab_peak_equity``,
``quantlab_position_notional{symbol}``, ``quantlab_orders{status}``, ``quantlab_fills_total``,
``quantlab_rejects_total{rule}``, ``quantlab_decision_latency_seconds`` and
``quantlab_bar_to_submit_seconds`` (histograms, 1 ms .. 10 s), ``quantlab_breaker_level``
(0 ok, 1 warn, 2 reduce-only, 3 halted), ``quantlab_data_staleness_bars``,
``quantlab_data_latency_seconds``, ``quantlab_last_bar_timestamp_seconds``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from quantlab.errors import ParameterError
from quantlab.live.types import ORDER_STATUSES

__all__ = ["LATENCY_BUCKETS", "LiveMetrics"]

#: Histogram buckets (seconds) of the decision and bar-to-submit latencies: 1 ms .. 10 s.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class LiveMetrics:
    """The Prometheus series of one runner, in a registry of its own.

    Parameters
    ----------
    strategy : str
        The runner's name; the value of the ``strategy`` label on every series.
    mode : str
        ``"replay"``, ``"paper"`` or ``"live"`` (shown in ``quantlab_info``).
    version : str, default ""
        The artifact version (shown in ``quantlab_info``).

    Attributes
    ----------
    registry : prometheus_client.CollectorRegistry
        This runner's registry (pass it to a Prometheus exporter of your own if needed).

    Examples
    --------
    >>> m = LiveMetrics("btc_sma", "paper")
    >>> m.set_equity(10_500.0, drawdown=0.02, peak=10_714.0)
    >>> b"quantlab_equity" in m.exposition()
    True
    """

    def __init__(self, strategy: str, mode: str, version: str = "") -> None:
        if not isinstance(strategy, str) or not strategy:
            raise ParameterError(f"LiveMetrics: strategy must be a non-empty string, got {strategy!r}")
        self.strategy = strategy
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        s = ("strategy",)

        self._up = Gauge("quantlab_up", "1 while the runner process is up", s, registry=reg)
        self._info = Gauge("quantlab_info", "Runner identity (value is always 1)",
                           ("strategy", "mode", "version"), registry=reg)
        self._equity = Gauge("quantlab_equity", "Account equity (quote currency)", s, registry=reg)
        self._drawdown = Gauge("quantlab_drawdown",
                               "Drawdown from peak equity (positive fraction)", s, registry=reg)
        self._peak = Gauge("quantlab_peak_equity", "Peak equity (quote currency)", s, registry=reg)
        self._position = Gauge("quantlab_position_notional",
                               "Signed position notional per symbol (quote currency)",
                               ("strategy", "symbol"), registry=reg)
        self._orders = Gauge("quantlab_orders", "Orders in the store by lifecycle status",
                             ("strategy", "status"), registry=reg)
        self._fills = Counter("quantlab_fills", "Fills received", s, registry=reg)
        self._rejects = Counter("quantlab_rejects", "Orders refused by the risk guard, by rule",
                                ("strategy", "rule"), registry=reg)
        self._decision = Histogram("quantlab_decision_latency_seconds",
                                   "Time to decide on a closed bar (seconds)", s,
                                   buckets=LATENCY_BUCKETS, registry=reg)
        self._submit = Histogram("quantlab_bar_to_submit_seconds",
                                 "Bar close to order submitted (seconds)", s,
                                 buckets=LATENCY_BUCKETS, registry=reg)
        self._breaker = Gauge("quantlab_breaker_level",
                              "Circuit breaker level (0 ok, 1 warn, 2 reduce-only, 3 halted)",
                              s, registry=reg)
        self._reconcile = Gauge("quantlab_reconcile_mismatch",
                                "1 when the exchange balances disagreed with the stored fills at "
                                "the last reconciliation (the runner halted)", s, registry=reg)
        self._staleness = Gauge("quantlab_data_staleness_bars",
                                "Closed bars missing since the last bar processed", s, registry=reg)
        self._latency = Gauge("quantlab_data_latency_seconds",
                              "Delay between a bar's close and its arrival (seconds)", s,
                              registry=reg)
        self._last_bar = Gauge("quantlab_last_bar_timestamp_seconds",
                               "Open time of the last bar processed (Unix seconds; NaN if none)",
                               s, registry=reg)

        self._up.labels(strategy).set(1)
        self._info.labels(strategy, str(mode), str(version)).set(1)
        for status in ORDER_STATUSES:
            self._orders.labels(strategy, status).set(0)
        self._fills.labels(strategy)
        self._breaker.labels(strategy).set(0)
        self._reconcile.labels(strategy).set(0)
        self._last_bar.labels(strategy).set(math.nan)
        self._symbols: set[str] = set()
        self._statuses: set[str] = set(ORDER_STATUSES)

    def set_equity(self, equity: float, drawdown: float, peak: float) -> None:
        """Set ``quantlab_equity``, ``quantlab_drawdown`` and ``quantlab_peak_equity``."""
        self._equity.labels(self.strategy).set(float(equity))
        self._drawdown.labels(self.strategy).set(float(drawdown))
        self._peak.labels(self.strategy).set(float(peak))

    def set_positions(self, notional: Mapping[str, float]) -> None:
        """Set ``quantlab_position_notional`` per symbol; symbols no longer given are removed."""
        current = {str(sym): float(v) for sym, v in notional.items()}
        for sym in self._symbols - current.keys():
            self._position.remove(self.strategy, sym)
        for sym, value in current.items():
            self._position.labels(self.strategy, sym).set(value)
        self._symbols = set(current)

    def set_orders(self, counts: Mapping[str, int]) -> None:
        """Set ``quantlab_orders`` by status.

        The standard statuses (:data:`quantlab.live.types.ORDER_STATUSES`) are always present
        (0 when not given); any other status is removed once it is no longer given.
        """
        current = {str(status): int(n) for status, n in counts.items()}
        for status in self._statuses - current.keys() - set(ORDER_STATUSES):
            self._orders.remove(self.strategy, status)
        for status in ORDER_STATUSES:
            self._orders.labels(self.strategy, status).set(current.get(status, 0))
        for status, n in current.items():
            self._orders.labels(self.strategy, status).set(n)
        self._statuses = set(current) | set(ORDER_STATUSES)

    def inc_fills(self, n: int = 1) -> None:
        """Add ``n`` (>= 0) to ``quantlab_fills_total``."""
        if n < 0:
            raise ParameterError(f"inc_fills: n must be >= 0, got {n}")
        self._fills.labels(self.strategy).inc(n)

    def inc_rejects(self, rule: str) -> None:
        """Count one order refused by risk rule ``rule`` in ``quantlab_rejects_total``."""
        self._rejects.labels(self.strategy, str(rule)).inc()

    def observe_decision(self, seconds: float) -> None:
        """Record one decision's duration in ``quantlab_decision_latency_seconds``."""
        self._decision.labels(self.strategy).observe(float(seconds))

    def observe_submit(self, seconds: float) -> None:
        """Record one bar-close-to-order-submitted delay in ``quantlab_bar_to_submit_seconds``."""
        self._submit.labels(self.strategy).observe(float(seconds))

    def set_breaker(self, level: int) -> None:
        """Set ``quantlab_breaker_level`` (0 ok, 1 warn, 2 reduce-only, 3 halted)."""
        if level not in (0, 1, 2, 3):
            raise ParameterError(f"set_breaker: level must be 0, 1, 2 or 3, got {level!r}")
        self._breaker.labels(self.strategy).set(int(level))

    def set_reconcile(self, mismatch: bool) -> None:
        """Set ``quantlab_reconcile_mismatch`` (1 after a reconciliation found a mismatch)."""
        self._reconcile.labels(self.strategy).set(1 if mismatch else 0)

    def set_data(self, staleness_bars: float, latency_s: float, last_bar_ms: int | None) -> None:
        """Set the data-feed gauges.

        Parameters
        ----------
        staleness_bars : float
            Closed bars missing since the last bar processed (0 when up to date).
        latency_s : float
            Seconds between the last bar's close and its arrival.
        last_bar_ms : int or None
            Open time of the last bar processed (epoch ms); ``None`` (no bar yet) gives NaN.
        """
        self._staleness.labels(self.strategy).set(float(staleness_bars))
        self._latency.labels(self.strategy).set(float(latency_s))
        seconds = math.nan if last_bar_ms is None else int(last_bar_ms) / 1000.0
        self._last_bar.labels(self.strategy).set(seconds)

    def exposition(self) -> bytes:
        """The registry in Prometheus text format (``generate_latest(self.registry)``)."""
        return generate_latest(self.registry)
