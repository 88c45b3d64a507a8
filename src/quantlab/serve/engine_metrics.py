"""Prometheus series of the data engine (:class:`EngineMetrics`), in a registry of its own.

Every series carries the ``group`` label (the exchange group the engine serves).

Series
------
``quantlab_data_engine_up`` (1 while the process runs), ``quantlab_data_source_up{source}``
(1 while the source's REST side answers), ``quantlab_data_websocket_up{source}`` (1 while its
kline stream delivers), ``quantlab_data_active_source{source}`` (1 for the source bars are
taken from), ``quantlab_data_active_path{path}`` (1 for ``binance/ws``, ``binance/rest``...),
``quantlab_data_failovers_total`` and ``quantlab_data_failbacks_total`` (switches to a worse /
a better path), ``quantlab_data_source_uptime_seconds_total{source}``,
``quantlab_data_served_bars_total{source}``, ``quantlab_data_rejected_bars_total{source}``,
``quantlab_data_quality_warnings_total{source,check}``,
``quantlab_data_served_latency_seconds`` (histogram: bar close to served, exchange clock),
``quantlab_data_last_bar_timestamp_seconds`` (open time of the newest served bar),
``quantlab_data_engine_staleness_bars`` (closed bars not served yet).
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from quantlab.errors import ParameterError

__all__ = ["SERVE_LATENCY_BUCKETS", "EngineMetrics"]

#: Buckets (seconds) of the bar-close-to-served latency: 10 ms .. 5 min.
SERVE_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                         120.0, 300.0)


class EngineMetrics:
    """The data engine's series.

    Parameters
    ----------
    group : str
        The exchange group (value of the ``group`` label).
    sources : sequence of str
        Source names, in priority order.
    paths : sequence of str
        Path labels (``binance/ws``...).

    Examples
    --------
    >>> m = EngineMetrics("spot", ["binance", "okx"], ["binance/ws", "binance/rest", "okx/rest"])
    >>> m.set_active("binance", "binance/ws")
    >>> b'quantlab_data_active_source{group="spot",source="binance"} 1.0' in m.exposition()
    True
    """

    def __init__(self, group: str, sources: Sequence[str], paths: Sequence[str]) -> None:
        if not isinstance(group, str) or not group:
            raise ParameterError(f"EngineMetrics: group must be a non-empty string, got {group!r}")
        self.group = group
        self.sources = list(sources)
        self.paths = list(paths)
        self.registry = CollectorRegistry(auto_describe=True)
        reg, g, gs = self.registry, ("group",), ("group", "source")
        self._up = Gauge("quantlab_data_engine_up", "1 while the data engine runs", g,
                         registry=reg)
        self._source_up = Gauge("quantlab_data_source_up",
                                "1 while the source's REST API answers", gs, registry=reg)
        self._ws_up = Gauge("quantlab_data_websocket_up",
                            "1 while the source's kline websocket delivers", gs, registry=reg)
        self._active = Gauge("quantlab_data_active_source", "1 for the source bars come from",
                             gs, registry=reg)
        self._path = Gauge("quantlab_data_active_path", "1 for the active failover path",
                           ("group", "path"), registry=reg)
        self._failovers = Counter("quantlab_data_failovers", "Switches to a worse path", g,
                                  registry=reg)
        self._failbacks = Counter("quantlab_data_failbacks", "Switches back to a better path",
                                  g, registry=reg)
        self._uptime = Counter("quantlab_data_source_uptime_seconds",
                               "Seconds the source's REST API answered", gs, registry=reg)
        self._served = Counter("quantlab_data_served_bars", "Bars served (per symbol)", gs,
                               registry=reg)
        self._rejected = Counter("quantlab_data_rejected_bars",
                                 "Candles refused by validation", gs, registry=reg)
        self._warnings = Counter("quantlab_data_quality_warnings",
                                 "Quality warnings on served bars", ("group", "source", "check"),
                                 registry=reg)
        self._latency = Histogram("quantlab_data_served_latency_seconds",
                                  "Bar close to served (exchange clock)", g,
                                  buckets=SERVE_LATENCY_BUCKETS, registry=reg)
        self._last_bar = Gauge("quantlab_data_last_bar_timestamp_seconds",
                               "Open time of the newest served bar", g, registry=reg)
        self._stale = Gauge("quantlab_data_engine_staleness_bars",
                            "Closed bars the engine has not served yet", g, registry=reg)
        self._up.labels(group).set(1)
        for name in self.sources:
            for metric in (self._source_up, self._ws_up, self._active, self._uptime,
                           self._served, self._rejected):
                metric.labels(group, name)
        for path in self.paths:
            self._path.labels(group, path)
        self._failovers.labels(group)
        self._failbacks.labels(group)
        self._latency.labels(group)

    def set_active(self, source: str, path: str) -> None:
        """Mark the active source and path (1) and every other (0)."""
        for name in self.sources:
            self._active.labels(self.group, name).set(1 if name == source else 0)
        for label in self.paths:
            self._path.labels(self.group, label).set(1 if label == path else 0)

    def set_source(self, source: str, rest_up: bool, ws_up: bool, uptime_s: float = 0.0) -> None:
        """A source's REST and websocket state; ``uptime_s`` more seconds of uptime."""
        self._source_up.labels(self.group, source).set(1 if rest_up else 0)
        self._ws_up.labels(self.group, source).set(1 if ws_up else 0)
        if uptime_s > 0:
            self._uptime.labels(self.group, source).inc(uptime_s)

    def switched(self, kind: str) -> None:
        """Count a ``failover`` or a ``failback``."""
        (self._failovers if kind == "failover" else self._failbacks).labels(self.group).inc()

    def served(self, source: str, n: int = 1) -> None:
        """``n`` bars served from ``source``."""
        self._served.labels(self.group, source).inc(n)

    def rejected(self, source: str, n: int = 1) -> None:
        """``n`` candles of ``source`` refused."""
        self._rejected.labels(self.group, source).inc(n)

    def warned(self, source: str, check: str) -> None:
        """One quality warning of ``check`` on a bar of ``source``."""
        self._warnings.labels(self.group, source, check).inc()

    def observe_latency(self, seconds: float) -> None:
        """Bar close to served, seconds."""
        self._latency.labels(self.group).observe(max(float(seconds), 0.0))

    def set_head(self, open_ms: int | None, staleness_bars: float) -> None:
        """Newest served bar and how many closed bars are not served yet."""
        if open_ms is not None:
            self._last_bar.labels(self.group).set(open_ms / 1000.0)
        self._stale.labels(self.group).set(float(staleness_bars))

    def value(self, name: str, **labels: str) -> float | None:
        """Current value of a sample (``group`` filled in), for checks and the status."""
        got = self.registry.get_sample_value(name, {"group": self.group, **labels})
        return None if got is None else float(got)

    def exposition(self) -> bytes:
        """Prometheus text exposition of every series."""
        return generate_latest(self.registry)
