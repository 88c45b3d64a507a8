"""Prometheus series of the supervisor (:class:`ServeMetrics`), served at ``GET /api/metrics``.

The supervisor exports only its own view of the components; each runner's trading series are
scraped from the runner itself, at the targets the supervisor writes to
``<state_dir>/prometheus_targets.json`` (a Prometheus ``file_sd_configs`` file).

Series
------
``quantlab_serve_up`` (1 while the supervisor runs), ``quantlab_component_up{component}``
(1 while the component is running — or waiting for its next scheduled run — and answers its
health checks), ``quantlab_component_restarts_total{component}`` (automatic restarts),
``quantlab_component_state{component,state}`` (1 for the current state, 0 for the others),
``quantlab_component_uptime_seconds{component}`` (since its process started; 0 when it has none).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

__all__ = ["STATES", "UP_STATES", "ServeMetrics"]

#: Component states, in the order a component usually goes through them.
STATES = ("starting", "running", "unhealthy", "restarting", "critical", "stopped", "waiting")
#: States in which a component counts as up.
UP_STATES = ("running", "waiting")


class ServeMetrics:
    """The supervisor's series, in a registry of its own.

    Attributes
    ----------
    registry : prometheus_client.CollectorRegistry
    """

    def __init__(self) -> None:
        reg = self.registry = CollectorRegistry(auto_describe=True)
        c = ("component",)
        self._serve_up = Gauge("quantlab_serve_up", "1 while the quantlab serve supervisor runs",
                               registry=reg)
        self._up = Gauge("quantlab_component_up",
                         "1 while the component runs and answers its health checks", c,
                         registry=reg)
        self._restarts = Counter("quantlab_component_restarts",
                                 "Automatic restarts of the component", c, registry=reg)
        self._state = Gauge("quantlab_component_state",
                            "1 for the component's current state, 0 for the others",
                            ("component", "state"), registry=reg)
        self._uptime = Gauge("quantlab_component_uptime_seconds",
                             "Seconds since the component's process started", c, registry=reg)
        self._serve_up.set(1)

    def set_state(self, component: str, state: str) -> None:
        """Record ``component``'s current state (also sets ``quantlab_component_up``)."""
        for s in STATES:
            self._state.labels(component, s).set(1 if s == state else 0)
        self._up.labels(component).set(1 if state in UP_STATES else 0)
        self._restarts.labels(component)  # the series exists (at 0) from the first state

    def restarted(self, component: str) -> None:
        """Count one automatic restart."""
        self._restarts.labels(component).inc()

    def set_uptime(self, component: str, seconds: float) -> None:
        """Seconds since ``component``'s process started (0 when it has none)."""
        self._uptime.labels(component).set(max(0.0, float(seconds)))

    def remove(self, component: str) -> None:
        """Drop every series of a component that is no longer configured."""
        for metric in (self._up, self._restarts, self._uptime):
            try:
                metric.remove(component)
            except KeyError:
                pass
        for s in STATES:
            try:
                self._state.remove(component, s)
            except KeyError:
                pass

    def set_serve_up(self, up: bool) -> None:
        """``quantlab_serve_up`` (0 while shutting down)."""
        self._serve_up.set(1 if up else 0)

    def exposition(self) -> bytes:
        """Prometheus text exposition of the registry."""
        return generate_latest(self.registry)
