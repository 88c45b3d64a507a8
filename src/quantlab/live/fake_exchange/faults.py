"""Fault injection: the next requests to an endpoint misbehave as real exchanges do.

``plan.add("order", "timeout", times=2)`` makes the next two order requests slow; each request
takes (consumes) at most one fault, its endpoint's own before any ``"*"`` fault. The websocket
(``"ws"``) takes only its own faults: ``plan.add("ws", "drop")`` closes one open market-stream
connection (or the next one to open); ``"*"`` faults are for REST requests.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from quantlab.errors import ParameterError

__all__ = ["ENDPOINTS", "FAULTS", "Fault", "FaultPlan"]

#: Endpoint names (``"*"``: any REST endpoint; ``"ws"``: the websocket market streams).
ENDPOINTS = ("order", "query", "cancel", "openOrders", "myTrades", "account", "klines", "time",
             "exchangeInfo", "marginPairs", "ping", "ws", "*")
#: Fault kinds: ``timeout`` answers late (after doing the work), 429/5xx answer with that
#: status, ``drop`` closes the connection unanswered, ``reject`` refuses an order for balance,
#: ``drop_after_accept`` does the work then closes the connection, ``partial`` fills a part.
FAULTS = ("timeout", 429, 500, 502, 503, "drop", "reject", "drop_after_accept", "partial")
_ORDER_ONLY = ("reject", "partial")
_OPTIONS = {"timeout": {"seconds"}, 429: {"retry_after"}, "partial": {"fraction"}}


@dataclass
class Fault:
    """One armed fault: ``kind`` on the next ``remaining`` requests of ``endpoint``."""

    endpoint: str
    kind: str | int
    remaining: int
    options: dict[str, Any] = field(default_factory=dict)


def _check(endpoint: str, fault: str | int, times: int, options: dict[str, Any]) -> None:
    if endpoint not in ENDPOINTS:
        raise ParameterError(f"unknown endpoint {endpoint!r} (use one of {', '.join(ENDPOINTS)})")
    if fault not in FAULTS or isinstance(fault, bool):
        raise ParameterError(f"unknown fault {fault!r} (use one of {', '.join(map(str, FAULTS))})")
    if endpoint == "ws" and fault != "drop":
        raise ParameterError(f"endpoint 'ws' takes fault 'drop' only, not {fault!r}")
    if fault in _ORDER_ONLY and endpoint != "order":
        raise ParameterError(f"fault {fault!r} applies to endpoint 'order' only, not {endpoint!r}")
    if not (isinstance(times, int) and times >= 1):
        raise ParameterError(f"times must be a positive integer, got {times!r}")
    unknown = set(options) - _OPTIONS.get(fault, set())
    if unknown:
        raise ParameterError(f"fault {fault!r} takes no option {sorted(unknown)[0]!r}")
    fraction = options.get("fraction", 0.4)
    if not 0 < fraction < 1:
        raise ParameterError(f"fraction must be in (0, 1), got {fraction}")
    for name in ("seconds", "retry_after"):
        if name in options and not options[name] >= 0:
            raise ParameterError(f"{name} must be >= 0, got {options[name]}")


class FaultPlan:
    """Thread-safe queue of armed faults per endpoint."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, endpoint: str, fault: str | int, times: int = 1, **options: Any) -> None:
        """Arm ``fault`` for the next ``times`` requests of ``endpoint`` (validated)."""
        _check(endpoint, fault, times, options)
        with self._lock:
            self._faults.append(Fault(endpoint, fault, times, dict(options)))

    def take(self, endpoint: str) -> Fault | None:
        """The fault for one request of ``endpoint`` (consumed), or None (``"ws"`` never takes
        a ``"*"`` fault)."""
        with self._lock:
            for wanted in (endpoint,) if endpoint == "ws" else (endpoint, "*"):
                for fault in self._faults:
                    if fault.endpoint == wanted:
                        fault.remaining -= 1
                        if fault.remaining == 0:
                            self._faults.remove(fault)
                        return fault
        return None

    def pending(self) -> list[Fault]:
        """Faults still armed (copies)."""
        with self._lock:
            return [Fault(f.endpoint, f.kind, f.remaining, dict(f.options)) for f in self._faults]

    def clear(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._faults.clear()
