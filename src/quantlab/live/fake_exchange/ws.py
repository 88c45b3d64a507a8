"""Binance's websocket market streams (klines) on the fake exchange's aiohttp app.

``ccxt.pro.binance`` connects to ``/ws/<n>`` and subscribes with
``{"method": "SUBSCRIBE", "params": ["btcusdt@kline_1m"], "id": 1}``; the server answers
``{"result": null, "id": 1}`` and pushes kline events in Binance's shape::

    {"e": "kline", "E": now, "s": "BTCUSDT",
     "k": {"t": open, "T": close - 1, "s": "BTCUSDT", "i": "1m", "f": 0, "L": 0, "o": "..",
           "c": "..", "h": "..", "l": "..", "v": "..", "n": 100, "x": false, "q": "..",
           "V": "..", "Q": "..", "B": "0"}}

The candle is the one ``GET /api/v3/klines`` serves at the same exchange time (the still-open
candle partial), so websocket and REST never disagree. When the clock crosses a bar boundary the
candle just closed is pushed with ``"x": true``, then the new one; the open candle is pushed
again every ``tick`` seconds of wall time. Raw streams in the path (``/ws/btcusdt@kline_1m``)
and combined streams (``/stream?streams=a/b``, events wrapped as
``{"stream": name, "data": event}``) work too. ``UNSUBSCRIBE`` and ``LIST_SUBSCRIPTIONS`` are
answered; an unknown stream gets Binance's ``{"error": {"code": 2, "msg": "Invalid request:
invalid stream"}, "id": ...}``.

Fault ``("ws", "drop")`` (:meth:`FakeBinance.inject`) closes one open connection abruptly (or
the next one to open) per armed ``times``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from quantlab.live.fake_exchange.candles import CandleSource, klines
from quantlab.live.fake_exchange.errors import ApiError
from quantlab.live.fake_exchange.faults import FaultPlan

__all__ = ["WS_PATHS", "KlineStreams", "kline_event"]

#: URL paths served as websockets (``ccxt.pro.binance`` uses ``/ws/<stream index>``).
WS_PATHS = ("/ws", "/ws/{tail:.*}", "/stream", "/stream/{tail:.*}")


def kline_event(row: list[Any], symbol: str, interval: str, now_ms: int, closed: bool
                ) -> dict[str, Any]:
    """A Binance ``kline`` event of one ``GET /api/v3/klines`` row.

    Parameters
    ----------
    row : list
        ``[open, o, h, l, c, v, close - 1, quote volume, trades, taker base, taker quote, "0"]``.
    symbol : str
        Binance id (``"BTCUSDT"``).
    interval : str
        Binance interval (``"1m"``).
    now_ms : int
        Event time.
    closed : bool
        The ``x`` flag: this is the candle's final update.
    """
    t, o, h, low, c, v, t_close, q, n, vb, qb, _ = row
    return {"e": "kline", "E": int(now_ms), "s": symbol,
            "k": {"t": int(t), "T": int(t_close), "s": symbol, "i": interval, "f": 0, "L": 0,
                  "o": o, "c": c, "h": h, "l": low, "v": v, "n": int(n), "x": bool(closed),
                  "q": q, "V": vb, "Q": qb, "B": "0"}}


@dataclass
class _Stream:
    symbol: str
    interval: str
    last_open: int | None = None


@dataclass
class _Conn:
    ws: web.WebSocketResponse
    request: web.Request
    combined: bool
    streams: dict[str, _Stream] = field(default_factory=dict)


class KlineStreams:
    """Websocket kline streams of a candle source at the fake exchange's clock.

    Parameters
    ----------
    source : CandleSource
        The fake exchange's prices.
    now_ms : callable
        The exchange clock.
    faults : FaultPlan
        Armed faults; the streams take the ``"ws"`` ones.
    record : callable, optional
        Called with ``(method, path, query)`` for every connection (``"GET"``) and every
        subscription message (``"WS"``).
    tick : float
        Wall seconds between two pushes of the open candles.
    """

    def __init__(self, source: CandleSource, now_ms: Callable[[], int], faults: FaultPlan, *,
                 record: Callable[[str, str, dict[str, str]], None] | None = None,
                 tick: float = 0.2) -> None:
        self.source = source
        self.now_ms = now_ms
        self.faults = faults
        self.record = record
        self.tick = float(tick)
        self._conns: list[_Conn] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def connections(self) -> int:
        """Open websocket connections."""
        return len(self._conns)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start pushing (call on the server's event loop)."""
        self._stopping = False
        self._wake = asyncio.Event()
        self._task = asyncio.ensure_future(self._run())

    def wake(self) -> None:
        """Push now instead of at the next tick (the clock moved or a fault was armed); call on
        the server's event loop (``loop.call_soon_threadsafe(streams.wake)``)."""
        if self._wake is not None:
            self._wake.set()

    async def stop(self, app: web.Application | None = None) -> None:
        """Stop pushing and close every connection (going away, 1001)."""
        self._stopping = True  # asyncio.wait_for may swallow a cancel (Python < 3.12)
        self.wake()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for conn in list(self._conns):
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001, message=b"server shutdown")
        self._conns.clear()

    # ------------------------------------------------------------------ connections
    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The aiohttp handler of :data:`WS_PATHS`."""
        ws = web.WebSocketResponse(autoping=True)
        if not ws.can_prepare(request).ok:
            return web.Response(status=400, text="Expected a websocket upgrade")
        await ws.prepare(request)
        combined = request.path.startswith("/stream")
        conn = _Conn(ws, request, combined)
        names = request.query.get("streams", "").split("/") if combined else \
            [request.path.split("/", 2)[2]] if request.path.count("/") >= 2 else []
        for name in names:
            stream = self._parse(name)
            if stream is not None:
                conn.streams[name] = stream
        if self.record is not None:
            self.record("GET", request.path, dict(request.query))
        self._conns.append(conn)
        try:
            if self._drop_if_faulted(conn):
                return ws
            await self._push(conn, self.now_ms())
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self._command(conn, msg.data)
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            if conn in self._conns:
                self._conns.remove(conn)
        return ws

    def _parse(self, name: str) -> _Stream | None:
        symbol, sep, kind = name.partition("@kline_")
        if not sep or symbol.upper() not in self.source.specs or kind not in self.source.intervals:
            return None
        return _Stream(symbol.upper(), kind)

    async def _command(self, conn: _Conn, text: str) -> None:
        try:
            msg = json.loads(text)
        except ValueError:
            await self._send(conn, {"error": {"code": 3, "msg": "Invalid JSON"}, "id": None})
            return
        if not isinstance(msg, dict):
            await self._send(conn, {"error": {"code": 3, "msg": "Invalid JSON"}, "id": None})
            return
        ident, method = msg.get("id"), msg.get("method")
        params = msg.get("params") or []
        if self.record is not None:
            self.record("WS", conn.request.path, {"method": str(method),
                                                  "params": ",".join(map(str, params))})
        if method == "LIST_SUBSCRIPTIONS":
            await self._send(conn, {"result": list(conn.streams), "id": ident})
            return
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE") or not isinstance(params, list):
            await self._send(conn, {"error": {"code": 2, "msg": "Invalid request: unknown method"},
                                    "id": ident})
            return
        parsed = {str(name): self._parse(str(name)) for name in params}
        if any(s is None for s in parsed.values()):
            await self._send(conn, {"error": {"code": 2, "msg": "Invalid request: invalid stream"},
                                    "id": ident})
            return
        if method == "UNSUBSCRIBE":
            for name in parsed:
                conn.streams.pop(name, None)
            await self._send(conn, {"result": None, "id": ident})
            return
        for name, stream in parsed.items():
            conn.streams.setdefault(name, stream)  # type: ignore[arg-type]
        await self._send(conn, {"result": None, "id": ident})
        await self._push(conn, self.now_ms())

    # ------------------------------------------------------------------ pushing
    async def _run(self) -> None:
        assert self._wake is not None
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.tick)
            self._wake.clear()
            if self._stopping:
                return
            now = self.now_ms()
            for conn in list(self._conns):
                if self._drop_if_faulted(conn):
                    continue
                try:
                    await self._push(conn, now)
                except Exception:  # a broken connection must not stop the others' pushes
                    with contextlib.suppress(Exception):
                        await conn.ws.close(code=1011)

    def _drop_if_faulted(self, conn: _Conn) -> bool:
        if self.faults.take("ws") is None:
            return False
        transport = conn.request.transport
        if transport is not None:
            transport.close()
        if conn in self._conns:
            self._conns.remove(conn)
        return True

    async def _push(self, conn: _Conn, now: int) -> None:
        for name, st in list(conn.streams.items()):
            try:
                rows = klines(self.source, {"symbol": st.symbol, "interval": st.interval,
                                            "limit": "2"}, now)
            except ApiError:
                continue
            if not rows:
                continue
            current = rows[-1]
            events = []
            if st.last_open is not None and current[0] > st.last_open and len(rows) == 2:
                events.append(kline_event(rows[0], st.symbol, st.interval, now, closed=True))
            events.append(kline_event(current, st.symbol, st.interval, now,
                                      closed=current[6] < now))
            st.last_open = int(current[0])
            for event in events:
                if not await self._send(conn, {"stream": name, "data": event}
                                        if conn.combined else event):
                    return

    async def _send(self, conn: _Conn, payload: dict[str, Any]) -> bool:
        if conn.ws.closed:
            return False
        try:
            await conn.ws.send_str(json.dumps(payload, separators=(",", ":")))
        except (ConnectionError, RuntimeError):
            return False
        return True
