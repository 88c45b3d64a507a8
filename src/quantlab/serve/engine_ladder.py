"""The data engine's failover ladder: every way of getting bars, best first, and the rules for
moving between them.

Each source contributes a *path* ``<source>/ws`` (websocket wake-ups, REST fetches) when it
has a kline stream, then ``<source>/rest`` (REST polling), in the sources' priority order::

    binance/ws  ->  binance/rest  ->  okx/ws  ->  okx/rest

:meth:`Ladder.fail` leaves the active path when it fails (its websocket errored or stalled,
REST failed, or a closed bar did not arrive in time) for the first *healthy* path after it —
a path whose source has been healthy since some moment — else the first path of another
source after it, else the first healthy path before it; when nothing else is possible it stays.
:meth:`Ladder.recover` goes back to a better path once that one has been healthy for
``recover_s`` (the primary returns, a websocket is delivering again). The ladder itself is pure:
the engine tells it how long each path has been healthy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from quantlab.errors import ParameterError

__all__ = ["MODES", "FeedPath", "Ladder", "Switch"]

#: Ways of getting bars from one source, best first.
MODES = ("ws", "rest")


@dataclass(frozen=True)
class FeedPath:
    """One rung: a source (by position) and a mode (``ws`` or ``rest``)."""

    source: int
    name: str
    mode: str

    @property
    def label(self) -> str:
        """``binance/ws``."""
        return f"{self.name}/{self.mode}"


@dataclass(frozen=True)
class Switch:
    """A move of the ladder from ``old`` (at ``old_rank``) to ``new`` (at ``new_rank``)."""

    old: FeedPath
    new: FeedPath
    reason: str
    old_rank: int
    new_rank: int

    @property
    def kind(self) -> str:
        """``failover`` (to a worse path) or ``failback`` (to a better one)."""
        return "failover" if self.new_rank > self.old_rank else "failback"

    def to_dict(self) -> dict[str, str]:
        """The audit payload: from, to, kind, reason."""
        return {"from": self.old.label, "to": self.new.label, "kind": self.kind,
                "reason": self.reason}


#: How long a path has been healthy (seconds), None when it is not.
HealthyFor = Callable[[FeedPath], float | None]


class Ladder:
    """The paths in order and the active one.

    Parameters
    ----------
    sources : sequence of (name, has_websocket)
        The sources in priority order.
    """

    def __init__(self, sources: Sequence[tuple[str, bool]]) -> None:
        if not sources:
            raise ParameterError("the data engine needs at least one source")
        self.paths: list[FeedPath] = [FeedPath(i, name, mode) for i, (name, ws) in enumerate(sources)
                                  for mode in MODES if mode == "rest" or ws]
        self.active = 0

    @property
    def current(self) -> FeedPath:
        """The active path."""
        return self.paths[self.active]

    def _switch(self, to: int, reason: str) -> Switch:
        sw = Switch(self.current, self.paths[to], reason, self.active, to)
        self.active = to
        return sw

    def fail(self, reason: str, healthy_for: HealthyFor) -> Switch | None:
        """The active path failed: move on (see the module docstring); None when it stays."""
        later = range(self.active + 1, len(self.paths))
        here = self.current.source
        for rank in later:
            if healthy_for(self.paths[rank]) is not None:
                return self._switch(rank, reason)
        for rank in later:
            if self.paths[rank].source != here:
                return self._switch(rank, reason)
        for rank in range(self.active):
            if healthy_for(self.paths[rank]) is not None:
                return self._switch(rank, reason)
        return None

    def recover(self, healthy_for: HealthyFor, recover_s: float) -> Switch | None:
        """Go back to the best path before the active one that has been healthy for
        ``recover_s``; None when there is none."""
        for rank in range(self.active):
            since = healthy_for(self.paths[rank])
            if since is not None and since >= recover_s:
                path = self.paths[rank]
                return self._switch(rank, f"{path.label} healthy for {since:.1f} s")
        return None
