"""Deliberate crash points, for the crash tests: ``QUANTLAB_CRASH_AT=name[:count]``.

The runner calls :func:`crashpoint` at every place a crash could leave state half done (before
and after each state write, before and after an order is submitted, between fills). When the
environment variable names a point, the process kills itself with SIGKILL the ``count``-th time
(default 1) it passes that point — no cleanup, no flush, exactly like a power cut or the OOM
killer. Unset (always, outside tests) it costs one dict lookup.
"""

from __future__ import annotations

import os
import signal

__all__ = ["CRASH_POINTS", "crashpoint"]

#: Every crash point the runner passes, in the order of one bar.
CRASH_POINTS = (
    "bar_start", "after_sync", "mid_fill", "before_state_write", "mid_state_write",
    "after_state_write", "before_submit", "after_submit", "after_ack", "after_bar",
    "reconcile", "shutdown",
)

_target: tuple[str, int] | None = None
_counts: dict[str, int] = {}


def _parse() -> tuple[str, int] | None:
    spec = os.environ.get("QUANTLAB_CRASH_AT", "").strip()
    if not spec:
        return None
    name, _, count = spec.partition(":")
    return name, int(count) if count else 1


_target = _parse()


def crashpoint(name: str) -> None:
    """Kill this process with SIGKILL if ``QUANTLAB_CRASH_AT`` names ``name`` (and its count
    is reached)."""
    if _target is None or _target[0] != name:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] >= _target[1]:
        os.kill(os.getpid(), signal.SIGKILL)
