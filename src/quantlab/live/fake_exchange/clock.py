"""The exchange clock: explicit in tests, wall time times a speed on the command line."""

from __future__ import annotations

import threading
import time

from quantlab.errors import ParameterError

__all__ = ["Clock"]


class Clock:
    """Exchange time in epoch milliseconds.

    ``now_ms = start_ms + speed x (wall seconds since start) x 1000 + advances``. With
    ``speed=0`` (tests) the clock only moves by :meth:`advance` / :meth:`set`.

    Parameters
    ----------
    start_ms : int
        Exchange time at construction.
    speed : float
        Exchange milliseconds per wall millisecond (3600: one hour per second).
    """

    def __init__(self, start_ms: int, speed: float = 0.0) -> None:
        if not speed >= 0:
            raise ParameterError(f"speed must be >= 0, got {speed}")
        self._lock = threading.Lock()
        self._base = int(start_ms)
        self._speed = float(speed)
        self._t0 = time.monotonic()

    def now_ms(self) -> int:
        """Current exchange time."""
        with self._lock:
            return self._base + int((time.monotonic() - self._t0) * 1000.0 * self._speed)

    def advance(self, ms: int) -> int:
        """Move the clock forward by ``ms`` (>= 0); returns the new time."""
        if ms < 0:
            raise ParameterError(f"the exchange clock cannot go back (advance by {ms} ms)")
        with self._lock:
            self._base += int(ms)
        return self.now_ms()

    def set(self, ms: int) -> int:
        """Set the clock to ``ms`` (not earlier than now); returns it."""
        now = self.now_ms()
        if ms < now:
            raise ParameterError(f"the exchange clock cannot go back (from {now} to {ms} ms)")
        with self._lock:
            self._base, self._t0 = int(ms), time.monotonic()
        return int(ms)
