"""The real-time data engine: closed bars of one exchange group, validated, served to the
runners through a SQLite bar store, with failover from the websocket to REST polling to a
second exchange (``quantlab data-engine --config engine.toml``).

One process per exchange group (``[engine]`` of :mod:`~quantlab.serve.engine_config`): a set
of symbols and a timeframe, and its sources in priority order (``binance`` then ``okx``...).
The engine loops:

1. read the active source's exchange clock; every bar closed by it and not yet served is due;
2. fetch the due bars over REST (:class:`~quantlab.serve.engine_source.Source`), validate them
   (``check_page``, then the quality checks of :mod:`quantlab.data.quality`:
   :func:`~quantlab.serve.engine_checks.check_new_bars`), and write every bar time whose
   symbols are all good to the bar store in one transaction
   (:class:`~quantlab.serve.engine_store.BarStore`, read by
   :class:`~quantlab.live.feed_engine.EngineFeed`);
3. wait for the websocket to report the next bar close (``watch_ohlcv``), at most
   ``poll_interval_s``.

A refused candle is never served: it is audited (``rejected``) and counted, and the engine asks
the other sources for that bar at once, so a bad bar on the primary is served from the
secondary. Failover follows the ladder of :mod:`~quantlab.serve.engine_ladder` —
``binance/ws`` → ``binance/rest`` → ``okx/ws`` → ``okx/rest``: a websocket error or stall
(no update for ``stall_s``) moves to REST polling of the same exchange; a REST failure (after
``max_retries``) or a due bar not delivered within ``stale_s`` moves to the next source. The
sources not in use are probed every ``probe_interval_s``; the engine switches back to a better
path once it has been healthy for ``recover_s``. Every switch is audited (``failover`` /
``failback`` with from, to and the reason) and counted in the metrics. A bar no source
delivers valid data for is given up after ``stale_s`` (when only refused candles are missing)
or ``stale_s`` times the number of paths plus one: it is served without the missing symbols
(audit ``incomplete``), or skipped (audit ``gap``) when none is left.

The heartbeat row of the store is written every ``heartbeat_s`` (state ``starting``,
``serving``, ``degraded`` on a fallback path, ``down`` when no source answers or a due bar is
overdue, ``stopped`` at exit). Metrics (:class:`~quantlab.serve.engine_metrics.EngineMetrics`)
and health are served on 127.0.0.1 (:mod:`~quantlab.serve.engine_http`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from quantlab.data.timeframes import timeframe_ms
from quantlab.errors import DataError, ExchangeError
from quantlab.live.feed_ws import supports_watch_ohlcv
from quantlab.serve.engine_checks import check_new_bars
from quantlab.serve.engine_config import EngineConfig
from quantlab.serve.engine_ladder import FeedPath, Ladder, Switch
from quantlab.serve.engine_metrics import EngineMetrics
from quantlab.serve.engine_source import Fetched, Rejection, Source, last_closed_open
from quantlab.serve.engine_store import BarStore, Heartbeat, ServedBar

__all__ = ["DataEngine", "run_engine"]


def _iso(ms: int | None) -> str | None:
    return None if ms is None else pd.Timestamp(int(ms), unit="ms", tz="UTC").isoformat()


@dataclass
class _Pending:
    """The first bar time not served yet and since when the engine has waited for it."""

    open_ms: int
    due_since: float
    path_since: float


class DataEngine:
    """Serve the closed bars of one exchange group (see the module docstring).

    Parameters
    ----------
    config : EngineConfig
        ``[engine]`` and the ``[[source]]`` list.
    sources : sequence of Source, optional
        Ready-made sources (default: one per ``[[source]]``).
    say : callable, optional
        Progress and switch messages (one line each).

    Attributes
    ----------
    store : BarStore
        The bar store (open between :meth:`open` and :meth:`shutdown`).
    ladder : Ladder
        The failover paths and the active one.
    metrics : EngineMetrics
    head : int or None
        Open time of the newest bar served (or given up).
    stop_event : asyncio.Event
        Set it to stop :meth:`run`.
    """

    def __init__(self, config: EngineConfig, *, sources: Sequence[Source] | None = None,
                 say: Callable[[str], None] | None = None) -> None:
        s = config.engine
        self.config = config
        self.settings = s
        self.symbols = list(s.symbols)
        self.tf_ms = timeframe_ms(s.timeframe)
        self.say = say
        self.sources = list(sources) if sources is not None else [
            Source(spec, self.symbols, s.timeframe, max_retries=s.max_retries,
                   retry_backoff=s.retry_backoff_s, reconnect_backoff=s.reconnect_backoff_s,
                   max_reconnect_backoff=s.max_reconnect_backoff_s)
            for spec in config.sources]
        self.ladder = Ladder([(src.name, src.spec.websocket and supports_watch_ohlcv(src.rest))
                              for src in self.sources])
        self.metrics = EngineMetrics(s.group, [src.name for src in self.sources],
                                     [p.label for p in self.ladder.paths])
        self.store: BarStore | None = None
        self.head: int | None = None
        self.stop_event = asyncio.Event()
        self.served = 0
        self._pending: _Pending | None = None
        self._clock: tuple[int, float] | None = None
        self._clock0: tuple[int, float] | None = None
        self._start_ms: int | None = None
        self._ws_seen: dict[str, int] = {}
        self._reported: set[tuple[str, str, int | None]] = set()
        self._warned: set[tuple[str, str, int, str]] = set()
        self._again = False
        self._tasks: list[asyncio.Task[None]] = []
        self._uptime_at = self._opened_at = time.monotonic()
        self._started_wall = int(time.time() * 1000)

    # ------------------------------------------------------------------ lifecycle
    async def run(self) -> None:
        """:meth:`open`, :meth:`serve` until :attr:`stop_event` is set, :meth:`shutdown`."""
        await self.open()
        try:
            await self.serve()
        finally:
            await self.shutdown()

    async def serve(self) -> None:
        """Run cycles (:meth:`step`) until :attr:`stop_event` is set."""
        while not self.stop_event.is_set():
            await self.step()
            await self._pause()

    async def open(self) -> None:
        """Open the store, start the sources, audit the start, start the heartbeat and the
        prober.

        Raises
        ------
        StateError
            The store is not a bar store, or another engine serves it.
        DataError
            A source does not list one of the symbols.
        """
        s = self.settings
        self._opened_at = time.monotonic()
        self.store = BarStore.open(s.store_path, group=s.group, symbols=self.symbols,
                                   timeframe=s.timeframe)
        try:
            self.store.claim(os.getpid())
            self.head = self.store.head_ms()
            results = await asyncio.gather(*(src.start() for src in self.sources),
                                           return_exceptions=True)
            for src, result in zip(self.sources, results, strict=True):
                if isinstance(result, ExchangeError):
                    self._say(f"source {src.name} is down at start: {src.rest_error}")
                elif isinstance(result, BaseException):
                    raise result
            self._audit("start", {
                "group": s.group, "symbols": self.symbols, "timeframe": s.timeframe,
                "pid": os.getpid(), "paths": [p.label for p in self.ladder.paths],
                "head": _iso(self.head), "config": self.config.to_dict()})
        except BaseException:
            await self._close_sources()
            self.store.close()
            raise
        self._ws_seen = {src.name: src.ws_failures for src in self.sources}
        self.metrics.set_active(self.ladder.current.name, self.ladder.current.label)
        self._beat()
        self._tasks = [asyncio.ensure_future(self._every(s.heartbeat_s, self._beat_async)),
                       asyncio.ensure_future(self._every(s.probe_interval_s, self._probe_all))]

    async def shutdown(self) -> None:
        """Stop the background tasks, write the ``stopped`` heartbeat, audit the stop, close
        the sources and the store."""
        self.stop_event.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self._close_sources()
        if self.store is not None:
            with contextlib.suppress(Exception):
                self._beat("stopped")
                self.store.audit.append("stop", {"head": _iso(self.head), "served": self.served})
            self.store.close()

    async def _close_sources(self) -> None:
        await asyncio.gather(*(src.close() for src in self.sources), return_exceptions=True)

    def _say(self, message: str) -> None:
        if self.say is not None:
            self.say(message)

    async def _every(self, interval: float, fn: Callable[[], Any]) -> None:
        """Run ``fn`` every ``interval`` seconds until stopped; a failure is reported and the
        next run happens as planned (a heartbeat or probe must not end for good)."""
        while not self.stop_event.is_set():
            try:
                await fn()
            except Exception as exc:
                self._say(f"{getattr(fn, '__name__', 'task')} failed: {type(exc).__name__}: {exc}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), timeout=interval)

    # ------------------------------------------------------------------ one cycle
    async def step(self) -> None:
        """One cycle: read the clock, serve the due bars, fail over or back as needed."""
        path = self.ladder.current
        src = self.sources[path.source]
        src.wake.clear()
        try:
            if not src.started:
                await src.start()
            now = await src.now_ms()
        except ExchangeError as exc:
            self._fail(f"{path.label}: {_reason(exc)}")
            return
        self._read_clock(now)
        if path.mode == "ws":
            await src.check_ws(self.settings.stall_s)
            if src.ws_failures > self._ws_seen.get(src.name, 0):
                self._ws_seen[src.name] = src.ws_failures
                if self._fail(f"{path.label}: {src.ws_error}"):
                    return
        due = last_closed_open(now, self.tf_ms)
        if self.head is not None and self.head >= due:
            self._pending = None
        else:
            await self._catch_up(src, path, due, now)
        switch = self.ladder.recover(self._healthy_for, self.settings.recover_s)
        if switch is not None:
            self._switched(switch)

    async def _pause(self) -> None:
        if self._again:
            self._again = False
            return
        s = self.settings
        timeout = s.poll_interval_s
        if self._pending is not None:
            timeout = min(timeout, max(s.stale_s / 5, 0.05))
        wake = self.sources[self.ladder.current.source].wake
        waiters = [asyncio.ensure_future(self.stop_event.wait()),
                   asyncio.ensure_future(wake.wait())]
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)

    def _read_clock(self, now_ms: int) -> None:
        mono = time.monotonic()
        self._clock = (int(now_ms), mono)
        if self._clock0 is None:
            self._clock0 = self._clock
            self._start_ms = int(now_ms)

    def exchange_now(self) -> int | None:
        """The exchange clock: the last reading plus the wall time since (None before one)."""
        if self._clock is None:
            return None
        ms, at = self._clock
        return ms + int((time.monotonic() - at) * 1000)

    def clock_rate(self) -> float:
        """Exchange milliseconds per wall millisecond since the first reading (1 until a
        second has passed)."""
        if self._clock is None or self._clock0 is None:
            return 1.0
        wall = (self._clock[1] - self._clock0[1]) * 1000
        return max((self._clock[0] - self._clock0[0]) / wall, 0.0) if wall >= 1000 else 1.0

    # ------------------------------------------------------------------ serving
    async def _catch_up(self, src: Source, path: FeedPath, due: int, now: int) -> None:
        s, tf = self.settings, self.tf_ms
        oldest = due - (s.backfill_bars - 1) * tf
        first = oldest if self.head is None else max(self.head + tf, oldest)
        if self.head is not None and first > self.head + tf and self._pending is None:
            self._audit("skipped", {"from": _iso(self.head + tf), "to": _iso(first - tf),
                                    "bars": (first - self.head - tf) // tf,
                                    "reason": f"more than backfill_bars={s.backfill_bars} "
                                              f"missed"})
        mono = time.monotonic()
        if self._pending is None or self._pending.open_ms != first:
            self._pending = _Pending(first, mono, mono)
        try:
            got = await src.fetch(first, due, now)
        except ExchangeError as exc:
            self._fail(f"{path.label}: {_reason(exc)}")
            return
        rows = self._validated(src, got, now)
        batch: list[tuple[int, dict[str, ServedBar]]] = []
        have: dict[str, ServedBar] = {}
        for t in range(first, due + 1, tf):
            have = rows.get(t, {})
            refused = [sym for sym in self.symbols
                       if sym not in have and (src.name, sym, t) in self._reported]
            if refused:
                have.update(await self._from_others(t, refused, src))
            if len(have) < len(self.symbols):
                break
            batch.append((t, have))
            have = {}
        if batch:
            self._serve(batch)
        if self.head is not None and self.head >= due:
            self._pending = None
            return
        self._late(src, path, have)

    def _late(self, src: Source, path: FeedPath, have: dict[str, ServedBar]) -> None:
        """The first due bar (``have``: its good symbols) is incomplete: fail over, or give it
        up, once it is late."""
        s = self.settings
        p = self._pending
        assert p is not None
        t = p.open_ms if self.head is None else max(self.head + self.tf_ms, p.open_ms)
        mono = time.monotonic()
        if t != p.open_ms:
            self._pending = p = _Pending(t, mono, mono)
        absent = [sym for sym in self.symbols
                  if sym not in have and (src.name, sym, t) not in self._reported]
        if absent and mono - p.path_since > s.stale_s:
            reason = (f"{path.label}: bar {_iso(t)} not delivered within {s.stale_s:g} s "
                      f"({', '.join(absent)} missing)")
            if self._fail(reason):
                return
        limit = s.stale_s * (len(self.ladder.paths) + 1) if absent else s.stale_s
        if mono - p.due_since > limit:
            self._give_up(t, have)

    def _give_up(self, t: int, have: dict[str, ServedBar]) -> None:
        missing = [sym for sym in self.symbols if sym not in have]
        reasons = {sym: "refused by validation" if any(k[1] == sym and k[2] == t
                                                      for k in self._reported)
                   else "not delivered" for sym in missing}
        if have:
            self._audit("incomplete", {"bar": _iso(t), "missing": reasons})
            self._serve([(t, have)])
        else:
            self._audit("gap", {"bar": _iso(t), "missing": reasons})
            self.head = t
        self._pending = None
        self._say(f"gave up {'part of ' if have else ''}bar {_iso(t)}: {reasons}")

    def _validated(self, src: Source, got: Fetched, now: int
                   ) -> dict[int, dict[str, ServedBar]]:
        """Good bars by time and symbol; every refused candle reported once."""
        assert self.store is not None
        for r in got.rejected:
            self._reject(r)
        out: dict[int, dict[str, ServedBar]] = {}
        for symbol, new in got.rows.items():
            check = check_new_bars(src.name, symbol,
                                   self.store.tail(symbol, self.settings.quality_window), new,
                                   timeframe=self.settings.timeframe, now_ms=now)
            for r in check.rejected:
                self._reject(r)
            for open_ms, name in check.warnings:
                key = (src.name, symbol, open_ms, name)
                if key not in self._warned:
                    self._warned.add(key)
                    self.metrics.warned(src.name, name)
            for row in check.rows:
                t = int(row[0])
                values = (float(row[1]), float(row[2]), float(row[3]), float(row[4]),
                          float(row[5]))
                out.setdefault(t, {})[symbol] = ServedBar(symbol, t, values, src.name)
        return out

    def _reject(self, r: Rejection) -> None:
        key = (r.source, r.symbol, r.open_ms)
        if key in self._reported:
            return
        self._reported.add(key)
        self.metrics.rejected(r.source)
        self._audit("rejected", {"source": r.source, "symbol": r.symbol, "bar": _iso(r.open_ms),
                                 "reason": r.reason})
        self._say(f"refused {r.symbol} {_iso(r.open_ms)} from {r.source}: {r.reason}")

    async def _from_others(self, t: int, symbols: list[str], src: Source
                           ) -> dict[str, ServedBar]:
        """Bars of ``symbols`` at ``t`` from the other sources, in priority order."""
        out: dict[str, ServedBar] = {}
        need = list(symbols)
        for other in self.sources:
            if other is src or not other.started or other.rest_ok_since is None or not need:
                continue
            try:
                now = await other.now_ms()
                got = await other.fetch(t, t, now, need)
            except ExchangeError:
                continue
            found = self._validated(other, got, now).get(t, {})
            out.update({sym: bar for sym, bar in found.items() if sym in need})
            need = [sym for sym in need if sym not in out]
        return out

    def _serve(self, batch: list[tuple[int, dict[str, ServedBar]]]) -> None:
        assert self.store is not None
        served_ms = self.exchange_now() or 0
        bars = [have[sym] for _, have in batch for sym in self.symbols if sym in have]
        self.store.serve(bars, served_ms)
        self.head = batch[-1][0]
        self.served += len(bars)
        for bar in bars:
            self.metrics.served(bar.source)
        for t, _ in batch:
            close = t + self.tf_ms
            if self._start_ms is not None and close >= self._start_ms:
                self.metrics.observe_latency((served_ms - close) / 1000.0)
        self._reported = {k for k in self._reported if k[2] is not None and k[2] > self.head}
        self._warned = {k for k in self._warned if k[2] > self.head}
        self.metrics.set_head(self.head, self.staleness_bars())

    def staleness_bars(self) -> float:
        """Closed bars (by the exchange clock) not served yet."""
        now = self.exchange_now()
        if now is None or self.head is None:
            return 0.0
        return max((last_closed_open(now, self.tf_ms) - self.head) / self.tf_ms, 0.0)

    # ------------------------------------------------------------------ switching
    def _healthy_for(self, path: FeedPath) -> float | None:
        src = self.sources[path.source]
        if not src.started or src.rest_ok_since is None:
            return None
        since = src.rest_ok_since
        if path.mode == "ws":
            if src.ws_ok_since is None:
                return None
            since = max(since, src.ws_ok_since)
        return time.monotonic() - since

    def _fail(self, reason: str) -> bool:
        switch = self.ladder.fail(reason, self._healthy_for)
        if switch is None:
            return False
        self._switched(switch)
        return True

    def _switched(self, switch: Switch) -> None:
        new = self.sources[switch.new.source]
        self._ws_seen[new.name] = new.ws_failures
        self.metrics.switched(switch.kind)
        self.metrics.set_active(switch.new.name, switch.new.label)
        self._audit(switch.kind, switch.to_dict())
        if self._pending is not None:
            self._pending.path_since = time.monotonic()
        self._again = True
        self._say(f"{switch.kind} {switch.old.label} -> {switch.new.label}: {switch.reason}")

    def _audit(self, kind: str, payload: dict[str, Any]) -> None:
        assert self.store is not None
        self.store.audit.append(kind, payload)

    # ------------------------------------------------------------------ background
    async def _probe_all(self) -> None:
        active = self.ladder.current.source
        await asyncio.gather(*(self._probe(src) for i, src in enumerate(self.sources)
                               if i != active))
        for i, src in enumerate(self.sources):
            if i != active and src.has_ws:
                await src.check_ws(self.settings.stall_s)

    async def _probe(self, src: Source) -> None:
        try:
            await src.probe()
        except ExchangeError:
            pass  # the source marked itself failed
        except DataError as exc:
            src.mark_failed(str(exc))

    async def _beat_async(self) -> None:
        self._beat()

    def state(self) -> str:
        """``starting``, ``serving``, ``degraded`` (a fallback path), ``down`` (no source
        answers, or a due bar is overdue)."""
        s, mono = self.settings, time.monotonic()
        last_clock = self._clock[1] if self._clock is not None else self._opened_at
        if mono - last_clock > max(s.stale_s, 3 * s.poll_interval_s):
            return "down"
        if self._clock is None:
            return "starting"
        if self._pending is not None and mono - self._pending.due_since > s.stale_s:
            return "down"
        if self.head is None:
            return "starting"
        return "degraded" if self.ladder.active > 0 else "serving"

    def _beat(self, state: str | None = None) -> None:
        assert self.store is not None
        path = self.ladder.current
        self.store.beat(Heartbeat(
            pid=os.getpid(), wall_ms=int(time.time() * 1000), exchange_ms=self.exchange_now() or 0,
            clock_rate=self.clock_rate(), source=path.name, path=path.label,
            state=state or self.state(), started_ms=self._started_wall))
        mono = time.monotonic()
        elapsed, self._uptime_at = mono - self._uptime_at, mono
        for src in self.sources:
            up = src.started and src.rest_ok_since is not None
            self.metrics.set_source(src.name, up, src.ws_ok_since is not None,
                                    elapsed if up else 0.0)
        self.metrics.set_head(self.head, self.staleness_bars())

    # ------------------------------------------------------------------ views
    def status(self) -> dict[str, Any]:
        """JSON-safe state: group, state, active path, newest bar, staleness, sources."""
        s = self.settings
        return {"group": s.group, "symbols": self.symbols, "timeframe": s.timeframe,
                "state": self.state(), "path": self.ladder.current.label,
                "source": self.ladder.current.name, "last_bar": _iso(self.head),
                "staleness_bars": self.staleness_bars(), "served": self.served,
                "store": str(s.store_path),
                "sources": [{"name": src.name, "exchange": src.rest.id,
                             "rest_up": src.rest_ok_since is not None,
                             "rest_error": src.rest_error,
                             "websocket_up": src.ws_ok_since is not None,
                             "websocket_error": src.ws_error} for src in self.sources]}

    def health(self) -> tuple[str, list[str]]:
        """``healthy``; ``degraded`` (on a fallback path, or starting); ``critical`` (down)."""
        state = self.state()
        if state == "down":
            return "critical", [f"no bars: {self._down_reason()}"]
        if state == "starting":
            return "degraded", ["starting"]
        if state == "degraded":
            return "degraded", [f"serving from {self.ladder.current.label}"]
        return "healthy", []

    def _down_reason(self) -> str:
        errors = [f"{src.name}: {src.rest_error}" for src in self.sources if src.rest_error]
        return "; ".join(errors) or "bars overdue"


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return text.split(": ", 1)[1] if text.startswith("source ") and ": " in text else text


async def _main(config: EngineConfig, on_ready: Callable[[str], None] | None,
                say: Callable[[str], None] | None) -> None:
    from quantlab.serve.engine_http import EngineServer

    engine = DataEngine(config, say=say)
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGTERM, engine.stop_event.set)
        loop.add_signal_handler(signal.SIGINT, engine.stop_event.set)
    await engine.open()
    server = None
    try:
        s = config.engine
        if s.port is not None:
            server = EngineServer(engine, host=s.host, port=s.port)
            url = await server.start()
            if on_ready is not None:
                on_ready(url)
        if say is not None:
            say(f"data engine {s.group}: {', '.join(engine.symbols)} {s.timeframe} from "
                f"{' -> '.join(p.label for p in engine.ladder.paths)}; store {s.store_path}")
        await engine.serve()
    finally:
        if server is not None:
            await server.stop()
        await engine.shutdown()


def run_engine(config: str | Path, *, env: Mapping[str, str] | None = None,
               on_ready: Callable[[str], None] | None = None,
               say: Callable[[str], None] | None = None) -> None:
    """Run the data engine of ``config`` until SIGTERM or SIGINT.

    Parameters
    ----------
    config : path
        TOML configuration (see ``engine.example.toml``).
    env : mapping, optional
        Environment overrides (default ``os.environ``).
    on_ready : callable, optional
        Called with the metrics URL once it listens.
    say : callable, optional
        Progress and switch messages.
    """
    cfg = EngineConfig.load(config, env)
    asyncio.run(_main(cfg, on_ready, say))
