"""A token bucket per client (:class:`RateLimiter`) for the supervisor's REST API."""

from __future__ import annotations

import time
from collections.abc import Callable

from quantlab._validate import check_range

__all__ = ["RateLimiter"]

_MAX_CLIENTS = 10_000


class RateLimiter:
    """Token buckets keyed by client: ``burst`` requests at once, refilled at ``rate`` per second.

    Parameters
    ----------
    rate : float
        Tokens added per second (> 0).
    burst : int
        Bucket size (>= 1): requests a fresh client may make at once.
    clock : callable, optional
        Monotonic seconds (default :func:`time.monotonic`).

    Examples
    --------
    >>> t = [0.0]
    >>> lim = RateLimiter(rate=1, burst=2, clock=lambda: t[0])
    >>> [lim.take("a") for _ in range(3)]
    [0.0, 0.0, 1.0]
    >>> t[0] = 1.0
    >>> lim.take("a")
    0.0
    """

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] | None = None
                 ) -> None:
        self.rate = float(check_range(rate, "rate", 0, open_low=True))
        self.burst = int(check_range(burst, "burst", 1, integer=True))
        self._clock = clock or time.monotonic
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> float:
        """Spend one token of ``key``'s bucket: 0.0 when allowed, else the seconds until the
        next token (the request is refused and nothing is spent)."""
        now = self._clock()
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > _MAX_CLIENTS:
                self._forget_full(now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        """Drop the buckets that have refilled completely (they equal a fresh one)."""
        full = [k for k, (tokens, last) in self._buckets.items()
                if tokens + (now - last) * self.rate >= self.burst]
        for k in full:
            del self._buckets[k]
