"""The Alertmanager webhook sink (``quantlab alerts serve``): recording, listing, auth, and
forwarding to a URL and by email — all against real servers on 127.0.0.1.

* the sink is a real :class:`~quantlab.serve.alerts.AlertSink` (aiohttp) over a real SQLite
  :class:`~quantlab.serve.alert_store.AlertStore`, driven with aiohttp's client;
* the forward target is a real aiohttp server that answers 503 a scripted number of times;
* the SMTP server is :class:`SmtpSink` below: a small asyncio implementation of the SMTP
  commands :mod:`smtplib` uses (EHLO/HELO, AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT) —
  ``aiosmtpd`` is not among the project's dependencies;
* the CLI runs as a subprocess (``python -m quantlab alerts serve --port 0``).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import email
import email.policy
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import quantlab
from quantlab.errors import ParameterError, StateError, UsageError
from quantlab.serve.alert_email import SmtpForwarder, format_email, parse_smtp_address
from quantlab.serve.alert_forward import UrlForwarder, deliver
from quantlab.serve.alert_payload import AlertPayloadError, parse_notification
from quantlab.serve.alert_store import AlertStore
from quantlab.serve.alerts import AlertSink, build_forwarders

STARTS = "2024-03-01T10:00:00.123456789Z"
NEVER = "0001-01-01T00:00:00Z"


def alert(name: str, strategy: str, status: str = "firing", fingerprint: str | None = None,
          starts: str = STARTS, ends: str = NEVER, **annotations: str) -> dict[str, Any]:
    labels = {"alertname": name, "instance": "127.0.0.1:8765", "job": "quantlab",
              "severity": "warning", "strategy": strategy}
    return {"status": status, "labels": labels,
            "annotations": annotations or {"summary": f"{strategy} drawdown 12%"},
            "startsAt": starts, "endsAt": ends,
            "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=quantlab_drawdown",
            "fingerprint": fingerprint or f"fp-{name}-{strategy}"}


def notification(*alerts: dict[str, Any], status: str | None = None) -> dict[str, Any]:
    """An Alertmanager webhook body (version 4) as Alertmanager 0.25 sends it."""
    firing = any(a["status"] == "firing" for a in alerts)
    common = dict(alerts[0]["labels"]) if len(alerts) == 1 else {"job": "quantlab"}
    return {"receiver": "quantlab-sink", "status": status or ("firing" if firing else "resolved"),
            "alerts": list(alerts), "groupLabels": {"alertname": alerts[0]["labels"]["alertname"]},
            "commonLabels": common, "commonAnnotations": {},
            "externalURL": "http://127.0.0.1:9093", "version": "4",
            "groupKey": '{}:{alertname="QuantlabDrawdownHigh"}', "truncatedAlerts": 0}


DRAWDOWN = alert("QuantlabDrawdownHigh", "btc_sma",
                 summary="btc_sma drawdown 12%",
                 description="Equity of btc_sma (127.0.0.1:8765) is 12% below its peak "
                             "(warn level 10 %).")
BREAKER = alert("QuantlabBreakerTripped", "eth_trend", summary="eth_trend breaker at level 3")


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(coro)  # type: ignore[arg-type]


async def request(method: str, url: str, body: Any = None, token: str | None = None,
                  raw: bytes | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    if data is not None:
        headers["Content-Type"] = "application/json"
    async with aiohttp.ClientSession() as session, \
            session.request(method, url, data=data, headers=headers) as resp:
        text = await resp.text()
        return resp.status, json.loads(text) if text else None


async def with_sink(tmp: Path, scenario: Callable[[AlertSink, str], Awaitable[Any]],
                    **kw: Any) -> Any:
    with AlertStore(tmp / "alerts.sqlite") as store:
        sink = AlertSink(store, port=0, **kw)
        url = await sink.start()
        try:
            return await scenario(sink, url)
        finally:
            await sink.stop()


# ------------------------------------------------------------------------------ record + list
def test_webhook_records_each_alert_once_and_lists_them(tmp_path: Path) -> None:
    async def scenario(sink: AlertSink, url: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        out["first"] = await request("POST", f"{url}/webhook", notification(DRAWDOWN, BREAKER))
        # Alertmanager repeats a firing group (repeat_interval) and retries failed sends
        out["repeat"] = await request("POST", f"{url}/webhook", notification(DRAWDOWN, BREAKER))
        resolved = {**DRAWDOWN, "status": "resolved", "endsAt": "2024-03-01T11:00:00Z"}
        out["resolved"] = await request("POST", f"{url}/webhook", notification(resolved))
        out["all"] = await request("GET", f"{url}/alerts")
        out["firing"] = await request("GET", f"{url}/alerts?status=firing")
        out["by_name"] = await request("GET", f"{url}/alerts?alertname=QuantlabBreakerTripped")
        out["limit"] = await request("GET", f"{url}/alerts?limit=1")
        out["health"] = await request("GET", f"{url}/health")
        return out

    r = run(with_sink(tmp_path, scenario))
    assert r["first"] == (200, {"received": 2, "new": 2})
    assert r["repeat"] == (200, {"received": 2, "new": 0})
    assert r["resolved"] == (200, {"received": 1, "new": 1})
    status, body = r["all"]
    assert status == 200
    rows = body["alerts"]
    assert [(a["alertname"], a["status"]) for a in rows] == [
        ("QuantlabDrawdownHigh", "resolved"), ("QuantlabBreakerTripped", "firing"),
        ("QuantlabDrawdownHigh", "firing")]
    newest = rows[0]
    assert newest["labels"] == DRAWDOWN["labels"]
    assert newest["annotations"] == DRAWDOWN["annotations"]
    assert (newest["startsAt"], newest["endsAt"]) == (STARTS, "2024-03-01T11:00:00Z")
    assert (newest["fingerprint"], newest["severity"], newest["receiver"]) == (
        "fp-QuantlabDrawdownHigh-btc_sma", "warning", "quantlab-sink")
    assert newest["generatorURL"] == DRAWDOWN["generatorURL"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", newest["receivedAt"])
    assert [a["status"] for a in r["firing"][1]["alerts"]] == ["firing", "firing"]
    assert [a["strategy"] for a in (x["labels"] for x in r["by_name"][1]["alerts"])] == [
        "eth_trend"]
    assert len(r["limit"][1]["alerts"]) == 1
    assert r["health"] == (200, {"status": "ok", "alerts": 3,
                                 "deliveries": {"ok": 0, "failed": 0}, "forwarders": []})


def test_alert_store_persists_and_refuses_foreign_files(tmp_path: Path) -> None:
    path = tmp_path / "a" / "alerts.sqlite"
    with AlertStore(path) as store:
        assert store.record(parse_notification(notification(DRAWDOWN))) == 1
    with AlertStore(path) as store:  # reopened: same rows, still idempotent
        assert store.record(parse_notification(notification(DRAWDOWN))) == 0
        assert [a["alertname"] for a in store.alerts()] == ["QuantlabDrawdownHigh"]
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(StateError, match="not a quantlab alert store"):
        AlertStore(other)
    text = tmp_path / "notes.sqlite"
    text.write_text("not a database at all, just text " * 50)
    with pytest.raises(StateError, match=r"notes\.sqlite"):
        AlertStore(text)


def test_fingerprint_is_derived_from_labels_when_missing() -> None:
    a = {k: v for k, v in DRAWDOWN.items() if k != "fingerprint"}
    b = copy.deepcopy(a)
    b["labels"] = dict(reversed(list(b["labels"].items())))  # same labels, other order
    fa = parse_notification(notification(a)).alerts[0].fingerprint
    fb = parse_notification(notification(b)).alerts[0].fingerprint
    c = copy.deepcopy(a)
    c["labels"]["strategy"] = "other"
    assert fa == fb != parse_notification(notification(c)).alerts[0].fingerprint
    assert re.fullmatch(r"[0-9a-f]{16}", fa)


# ------------------------------------------------------------------------------ bad input
BAD_BODIES = [
    (b"{not json", "request body is not valid JSON"),
    (b"[1, 2]", "notification must be a JSON object, got list"),
    (json.dumps({**notification(DRAWDOWN), "version": "3"}).encode(),
     "notification version '3' is not supported (only '4')"),
    (json.dumps({"version": "4", "alerts": {}}).encode(), "notification: 'alerts' must be a list"),
    (json.dumps(notification({**DRAWDOWN, "status": "pending"})).encode(),
     "alerts[0]: status must be 'firing' or 'resolved', got 'pending'"),
    (json.dumps(notification({k: v for k, v in DRAWDOWN.items() if k != "startsAt"})).encode(),
     "alerts[0]: missing 'startsAt'"),
    (json.dumps(notification({**DRAWDOWN, "labels": {"alertname": "X", "n": 3}})).encode(),
     "alerts[0]: labels['n'] must be a string, got int"),
    (json.dumps(notification(DRAWDOWN, {**BREAKER, "labels": {}})).encode(),
     "alerts[1]: 'labels' must name the alert (alertname)"),
]


def test_bad_requests_answer_400_and_record_nothing(tmp_path: Path) -> None:
    async def scenario(sink: AlertSink, url: str) -> list[Any]:
        out = [await request("POST", f"{url}/webhook", raw=body) for body, _ in BAD_BODIES]
        out.append(await request("GET", f"{url}/alerts?limit=0"))
        out.append(await request("GET", f"{url}/alerts?limit=ten"))
        out.append(await request("GET", f"{url}/alerts?status=pending"))
        out.append(await request("GET", f"{url}/nowhere"))
        out.append(await request("GET", f"{url}/webhook"))
        out.append(await request("GET", f"{url}/health"))
        return out

    r = run(with_sink(tmp_path, scenario))
    for (_, message), got in zip(BAD_BODIES, r, strict=False):
        assert got == (400, {"error": message})
    assert r[-6:-1] == [(400, {"error": "limit must be >= 1, got 0"}),
                        (400, {"error": "limit must be an integer, got 'ten'"}),
                        (400, {"error": "status must be 'firing' or 'resolved', got 'pending'"}),
                        (404, {"error": "not found"}),
                        (405, {"error": "method not allowed"})]
    assert r[-1][1]["alerts"] == 0


def test_parse_errors_are_quantlab_usage_errors() -> None:
    with pytest.raises(AlertPayloadError) as info:
        parse_notification({"alerts": [{"status": "firing", "labels": {"alertname": "X"},
                                        "startsAt": 5}]})
    assert isinstance(info.value, UsageError)
    assert str(info.value) == "alerts[0]: 'startsAt' must be a string, got int"


# ------------------------------------------------------------------------------ auth
def test_token_guards_the_webhook_but_not_the_reads(tmp_path: Path) -> None:
    token = "alert-token-" + os.urandom(8).hex()

    async def scenario(sink: AlertSink, url: str) -> list[Any]:
        body = notification(DRAWDOWN)
        return [await request("POST", f"{url}/webhook", body),
                await request("POST", f"{url}/webhook", body, token="wrong"),
                await request("GET", f"{url}/alerts"),
                await request("POST", f"{url}/webhook", body, token=token),
                await request("GET", f"{url}/alerts")]

    r = run(with_sink(tmp_path, scenario, token=token))
    assert r[0] == r[1] == (401, {"error": "unauthorized"})
    assert r[2] == (200, {"alerts": []})
    assert r[3] == (200, {"received": 1, "new": 1})
    assert len(r[4][1]["alerts"]) == 1
    assert token not in json.dumps(r)


def test_non_loopback_host_needs_a_token(tmp_path: Path) -> None:
    with AlertStore(tmp_path / "a.sqlite") as store:
        with pytest.raises(UsageError, match="refusing to bind 0.0.0.0 without a token "
                                             r"\(set QUANTLAB_ALERTS_TOKEN\)"):
            AlertSink(store, host="0.0.0.0")
        AlertSink(store, host="0.0.0.0", token="t")  # accepted (not started: tests bind loopback)
        AlertSink(store, host="localhost")
        with pytest.raises(UsageError, match=r"0\.\.65535"):
            AlertSink(store, port=70000)


# ------------------------------------------------------------------------------ URL forward
class Receiver:
    """A forward target that answers ``fail_status`` to the first ``failures`` requests."""

    def __init__(self, failures: int = 0, fail_status: int = 503) -> None:
        self.failures, self.fail_status = failures, fail_status
        self.bodies: list[Any] = []
        self.times: list[float] = []
        self.headers: list[dict[str, str]] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _handle(self, request: web.Request) -> web.Response:
        self.times.append(time.monotonic())
        self.headers.append(dict(request.headers))
        self.bodies.append(await request.json())
        if len(self.bodies) <= self.failures:
            return web.Response(status=self.fail_status, text="busy")
        return web.json_response({"ok": True})

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/hook"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def test_forward_url_retries_with_exponential_backoff(tmp_path: Path) -> None:
    receiver = Receiver(failures=2)

    async def scenario() -> Any:
        target = await receiver.start()
        try:
            async def inner(sink: AlertSink, url: str) -> Any:
                posted = await request("POST", f"{url}/webhook", notification(DRAWDOWN))
                assert await sink.drain(10)
                return posted, await request("GET", f"{url}/deliveries"), \
                    await request("GET", f"{url}/health")
            return await with_sink(tmp_path, inner, forwarders=build_forwarders(target),
                                   retries=4, backoff_s=0.1)
        finally:
            await receiver.stop()

    posted, deliveries, health = run(scenario())
    assert posted == (200, {"received": 1, "new": 1})
    # the receiver got the Alertmanager document unchanged, three times (503, 503, 200)
    assert receiver.bodies == [notification(DRAWDOWN)] * 3
    assert receiver.headers[0]["Content-Type"] == "application/json"
    gaps = [b - a for a, b in zip(receiver.times, receiver.times[1:], strict=False)]
    assert gaps[0] >= 0.1 and gaps[1] >= 0.2  # 0.1 s, then doubled
    port = receiver.url.split(":")[2].split("/")[0]
    assert deliveries[1]["deliveries"][0] | {"at": None} == {
        "at": None, "target": f"http://127.0.0.1:{port}/hook", "ok": True, "attempts": 3,
        "alerts": 1, "error": ""}
    assert health[1]["deliveries"] == {"ok": 1, "failed": 0}
    assert health[1]["forwarders"] == [f"http://127.0.0.1:{port}/hook"]


@pytest.mark.parametrize(("failures", "status", "attempts", "error"), [
    (99, 500, 3, "answered HTTP 500: busy"),      # transient: retried, then given up
    (99, 404, 1, "answered HTTP 404: busy"),      # permanent: not retried
])
def test_forward_url_failures(failures: int, status: int, attempts: int, error: str) -> None:
    receiver = Receiver(failures=failures, fail_status=status)

    async def scenario() -> Any:
        url = await receiver.start()
        try:
            return await deliver(UrlForwarder(url), parse_notification(notification(BREAKER)),
                                 retries=2, backoff_s=0.01)
        finally:
            await receiver.stop()

    result = run(scenario())
    assert (result.ok, result.attempts) == (False, attempts)
    assert error in result.error
    assert len(receiver.bodies) == attempts


def test_forward_to_a_closed_port_is_retried_then_recorded_as_failed(tmp_path: Path) -> None:
    receiver = Receiver()

    async def scenario() -> Any:
        url = await receiver.start()
        await receiver.stop()  # nothing listens there any more

        async def inner(sink: AlertSink, base: str) -> Any:
            await request("POST", f"{base}/webhook", notification(DRAWDOWN))
            assert await sink.drain(10)
            return await request("GET", f"{base}/deliveries")
        return await with_sink(tmp_path, inner, forwarders=[UrlForwarder(url)], retries=2,
                               backoff_s=0.01)

    _, body = run(scenario())
    (d,) = body["deliveries"]
    assert (d["ok"], d["attempts"], d["alerts"]) == (False, 3, 1)
    assert d["error"].startswith(f"{d['target']}: ClientConnectorError: Cannot connect to host")


# ------------------------------------------------------------------------------ SMTP forward
class SmtpSink:
    """A minimal SMTP server (RFC 5321 subset) on 127.0.0.1 that keeps what it receives.

    ``busy_connections`` first connections get ``421`` and are closed; ``reject_rcpt`` answers
    ``550`` to every RCPT; ``credentials`` (user, password) makes it advertise and check
    ``AUTH PLAIN``.
    """

    def __init__(self, busy_connections: int = 0, reject_rcpt: bool = False,
                 credentials: tuple[str, str] | None = None) -> None:
        self.busy, self.reject_rcpt, self.credentials = busy_connections, reject_rcpt, credentials
        self.connections = 0
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.logins: list[tuple[str, str]] = []
        self.commands: list[str] = []
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1

        async def say(text: str) -> None:
            writer.write(text.encode() + b"\r\n")
            await writer.drain()

        try:
            if self.connections <= self.busy:
                await say("421 sink busy, try again later")
                return
            await say("220 sink.test ESMTP")
            sender, rcpts, authed = "", [], self.credentials is None
            while line := await reader.readline():
                cmd = line.decode().rstrip("\r\n")
                verb = cmd.split(" ", 1)[0].upper()
                self.commands.append(verb)
                if verb == "EHLO":
                    await say("250-sink.test" + ("\r\n250-AUTH PLAIN" if self.credentials
                                                   else "") + "\r\n250 8BITMIME")
                elif verb == "HELO" or verb in ("NOOP",):
                    await say("250 sink.test")
                elif verb == "AUTH":
                    _, mech, blob = cmd.split(" ")
                    _, user, password = base64.b64decode(blob).decode().split("\0")
                    self.logins.append((user, password))
                    authed = mech.upper() == "PLAIN" and (user, password) == self.credentials
                    await say("235 2.7.0 ok" if authed else "535 5.7.8 bad credentials")
                elif verb == "MAIL":
                    if not authed:
                        await say("530 5.7.0 authentication required")
                        continue
                    sender = re.search(r"<(.*?)>", cmd).group(1)  # type: ignore[union-attr]
                    rcpts = []
                    await say("250 ok")
                elif verb == "RCPT":
                    if self.reject_rcpt:
                        await say("550 5.1.1 no such user")
                        continue
                    rcpts.append(re.search(r"<(.*?)>", cmd).group(1))  # type: ignore[union-attr]
                    await say("250 ok")
                elif verb == "DATA":
                    if not rcpts:
                        await say("503 need RCPT")
                        continue
                    await say("354 end with <CRLF>.<CRLF>")
                    data = bytearray()
                    while (chunk := await reader.readline()) != b".\r\n":
                        data += chunk[1:] if chunk.startswith(b"..") else chunk
                    self.messages.append((sender, rcpts, bytes(data)))
                    await say("250 ok queued")
                elif verb == "RSET":
                    sender, rcpts = "", []
                    await say("250 ok")
                elif verb == "QUIT":
                    await say("221 bye")
                    break
                else:
                    await say("502 command not implemented")
        finally:
            writer.close()


def smtp_deliver(sink: SmtpSink, doc: dict[str, Any], *, retries: int = 2,
                 **kw: Any) -> Any:
    async def scenario() -> Any:
        port = await sink.start()
        try:
            fwd = SmtpForwarder("127.0.0.1", port, "quantlab@ops.test",
                                ["oncall@ops.test", "desk@ops.test"], timeout_s=5, **kw)
            return await deliver(fwd, parse_notification(doc), retries=retries, backoff_s=0.01)
        finally:
            await sink.stop()
    return run(scenario())


def test_smtp_forward_sends_one_email_per_notification() -> None:
    sink = SmtpSink()
    result = smtp_deliver(sink, notification(DRAWDOWN))
    assert (result.ok, result.attempts, result.target) == (True, 1, f"smtp://127.0.0.1:{sink.port}")
    ((sender, rcpts, data),) = sink.messages
    assert (sender, rcpts) == ("quantlab@ops.test", ["oncall@ops.test", "desk@ops.test"])
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert msg["Subject"] == ("[quantlab] [FIRING:1] QuantlabDrawdownHigh")
    assert msg["From"] == "quantlab@ops.test"
    assert msg["To"] == "oncall@ops.test, desk@ops.test"
    assert msg["Message-ID"].endswith("@quantlab.alerts>")
    body = msg.get_content()
    assert body.splitlines() == [
        "1 firing, 0 resolved (receiver quantlab-sink)",
        "",
        "[FIRING] QuantlabDrawdownHigh  severity=warning",
        "  btc_sma drawdown 12%",
        "  Equity of btc_sma (127.0.0.1:8765) is 12% below its peak (warn level 10 %).",
        "  labels: instance=127.0.0.1:8765, job=quantlab, strategy=btc_sma",
        f"  since {STARTS}",
        "  source: http://127.0.0.1:9090/graph?g0.expr=quantlab_drawdown",
        "",
        "Alertmanager: http://127.0.0.1:9093",
    ]
    assert sink.commands == ["EHLO", "MAIL", "RCPT", "RCPT", "DATA", "QUIT"]


def test_smtp_subject_of_a_resolved_group_with_labels() -> None:
    resolved = {**BREAKER, "status": "resolved", "endsAt": "2024-03-01T12:00:00Z"}
    doc = notification(resolved)
    doc["groupLabels"] = {"alertname": "QuantlabBreakerTripped", "strategy": "eth_trend"}
    msg = format_email(parse_notification(doc), "a@b.test", ["c@d.test"])
    assert msg["Subject"] == "[quantlab] [RESOLVED:1] QuantlabBreakerTripped (strategy=eth_trend)"
    assert f"  since {STARTS}, ended 2024-03-01T12:00:00Z" in msg.get_content().splitlines()


def test_smtp_login_when_credentials_are_given() -> None:
    sink = SmtpSink(credentials=("alerts", "s3cret"))
    result = smtp_deliver(sink, notification(BREAKER), username="alerts", password="s3cret")
    assert result.ok and sink.logins == [("alerts", "s3cret")] and len(sink.messages) == 1
    wrong = SmtpSink(credentials=("alerts", "s3cret"))
    failed = smtp_deliver(wrong, notification(BREAKER), username="alerts", password="nope")
    assert (failed.ok, failed.attempts) == (False, 1)  # 535 is permanent: no retry
    assert "535" in failed.error and wrong.messages == []


def test_smtp_busy_server_is_retried_and_a_refused_recipient_is_not() -> None:
    busy = SmtpSink(busy_connections=2)
    result = smtp_deliver(busy, notification(DRAWDOWN), retries=3)
    assert (result.ok, result.attempts, busy.connections, len(busy.messages)) == (True, 3, 3, 1)
    refusing = SmtpSink(reject_rcpt=True)
    failed = smtp_deliver(refusing, notification(DRAWDOWN), retries=3)
    assert (failed.ok, failed.attempts, refusing.connections) == (False, 1, 1)
    assert "550" in failed.error and refusing.messages == []


def test_sink_forwards_to_url_and_smtp_together(tmp_path: Path) -> None:
    receiver, smtp = Receiver(), SmtpSink()

    async def scenario() -> Any:
        url = await receiver.start()
        port = await smtp.start()
        try:
            fwd = build_forwarders(url, f"127.0.0.1:{port}", "quantlab@ops.test",
                                   ["oncall@ops.test,desk@ops.test"])

            async def inner(sink: AlertSink, base: str) -> Any:
                await request("POST", f"{base}/webhook", notification(DRAWDOWN, BREAKER))
                assert await sink.drain(10)
                return await request("GET", f"{base}/deliveries")
            return await with_sink(tmp_path, inner, forwarders=fwd, backoff_s=0.01)
        finally:
            await receiver.stop()
            await smtp.stop()

    _, body = run(scenario())
    assert sorted((d["target"].split(":")[0], d["ok"], d["alerts"]) for d in body["deliveries"]) \
        == [("http", True, 2), ("smtp", True, 2)]
    assert receiver.bodies == [notification(DRAWDOWN, BREAKER)]
    ((_, rcpts, data),) = smtp.messages
    assert rcpts == ["oncall@ops.test", "desk@ops.test"]
    assert b"Subject: [quantlab] [FIRING:2] QuantlabDrawdownHigh" in data


# ------------------------------------------------------------------------------ options
@pytest.mark.parametrize(("kwargs", "message"), [
    ({"smtp": "127.0.0.1:25"}, "--smtp needs --smtp-from and at least one --smtp-to"),
    ({"smtp_from": "a@b.test"}, r"--smtp-from/--smtp-to need --smtp HOST:PORT"),
    ({"forward_url": "ftp://x/y"}, "--forward-url must be an http"),
    ({"smtp": "127.0.0.1:99999", "smtp_from": "a@b.test", "smtp_to": ["c@d.test"]},
     "--smtp port must be in 1..65535, got 99999"),
    ({"smtp": "127.0.0.1:x", "smtp_from": "a@b.test", "smtp_to": ["c@d.test"]},
     "--smtp port must be an integer, got 'x'"),
    ({"smtp": "127.0.0.1:25", "smtp_from": "not-an-address", "smtp_to": ["c@d.test"]},
     "--smtp-from must be an email address"),
    ({"smtp": "127.0.0.1:25", "smtp_from": "a@b.test", "smtp_to": ["c@d.test"],
      "smtp_username": "u"}, "SMTP login needs both a username and a password"),
])
def test_build_forwarders_rejects_bad_options(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        build_forwarders(**kwargs)


def test_parse_smtp_address() -> None:
    assert parse_smtp_address("mail.local:2525") == ("mail.local", 2525)
    assert parse_smtp_address("mail.local") == ("mail.local", 25)
    assert parse_smtp_address("[::1]:25") == ("::1", 25)
    assert build_forwarders() == []


# ------------------------------------------------------------------------------ CLI
def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUANTLAB_")}
    src = str(Path(quantlab.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {**env, **extra}


def test_cli_serve_records_then_list_prints(tmp_path: Path) -> None:
    store = tmp_path / "alerts.sqlite"
    proc = subprocess.Popen([sys.executable, "-m", "quantlab", "alerts", "serve", "--port", "0",
                             "--store", str(store)], env=cli_env(), stderr=subprocess.PIPE,
                            text=True)
    lines: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if "alert sink on" in line:
                ready.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        assert ready.wait(60), "".join(lines)
        found = re.search(r"\.\.\. alert sink on (http://127\.0\.0\.1:\d+) \(store (.*), "
                          r"forwarding to none\)", "".join(lines))
        assert found and found.group(2) == str(store), lines
        url = found.group(1)
        posted = run(request("POST", f"{url}/webhook", notification(DRAWDOWN, BREAKER)))
        listed = run(request("GET", f"{url}/alerts"))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        reader.join(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "notification with 2 alert(s), 2 new" in "".join(lines)
    assert posted == (200, {"received": 2, "new": 2})
    assert [a["alertname"] for a in listed[1]["alerts"]] == ["QuantlabBreakerTripped",
                                                            "QuantlabDrawdownHigh"]
    out = subprocess.run([sys.executable, "-m", "quantlab", "alerts", "list", "--store",
                          str(store)], env=cli_env(), capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert out.splitlines() == [
        f"{STARTS}  firing   warning  QuantlabBreakerTripped  instance=127.0.0.1:8765, "
        "job=quantlab, strategy=eth_trend  -- eth_trend breaker at level 3",
        f"{STARTS}  firing   warning  QuantlabDrawdownHigh  instance=127.0.0.1:8765, "
        "job=quantlab, strategy=btc_sma  -- btc_sma drawdown 12%"]
    js = subprocess.run([sys.executable, "-m", "quantlab", "alerts", "list", "--store",
                         str(store), "--json", "--alertname", "QuantlabDrawdownHigh"],
                        env=cli_env(), capture_output=True, text=True, timeout=60, check=True)
    assert [a["labels"]["strategy"] for a in json.loads(js.stdout)] == ["btc_sma"]


@pytest.mark.parametrize(("args", "code", "message"), [
    (["serve", "--host", "0.0.0.0", "--store", "a.sqlite"], 2,
     "quantlab: error: refusing to bind 0.0.0.0 without a token (set QUANTLAB_ALERTS_TOKEN)"),
    (["serve", "--smtp-to", "a@b.test", "--store", "a.sqlite"], 2,
     "quantlab: error: --smtp-from/--smtp-to need --smtp HOST:PORT"),
    (["list", "--store", "missing.sqlite"], 1,
     "quantlab: error: alert store missing.sqlite does not exist (run quantlab alerts serve)"),
])
def test_cli_errors_are_one_line(tmp_path: Path, args: list[str], code: int,
                                 message: str) -> None:
    done = subprocess.run([sys.executable, "-m", "quantlab", "alerts", *args], env=cli_env(),
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr.strip()) == (code, message)
    assert not (tmp_path / "a.sqlite").exists()
