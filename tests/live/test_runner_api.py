"""``quantlab live --mode paper`` as a real process against the local fake Binance: control API
auth, SIGUSR1 / SIGTERM, a halt that survives a restart until an operator resumes, and a grep
for the API token and exchange credentials in everything the runner wrote or answered.

The strategy is the calendar strategy of :mod:`tests.live.test_runner_ops` on ``BTC/USDT`` 1h
bars, so every order is known in advance. The fake exchange's clock (``fake.now_ms``) is
advanced by the test; each step closes one more bar.

Session (one module fixture, two processes on the same state file):

run 1   bar 2476 entry signal → bar 2477 fill at its open · POST /halt without / with a wrong
        token → 401 · POST /halt with the token → halted, flattened at bar 2478's open ·
        POST /resume → ok · SIGUSR1 → halted · SIGTERM → exit 0
run 2   starts halted · bar 2480 entry signal ignored · POST /resume → ok · bar 2481 entry
        signal → order, filled at bar 2482's open · SIGTERM → exit 0
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import quantlab
from quantlab.live.store import LiveStore
from tests.data.fake_binance import HOUR_MS, T0, FakeBinance, candle
from tests.live.test_runner_ops import promote_scripted

SYMBOL = "BTC/USDT"
NAME = "scripted"
START_NOW = T0 + 2476 * HOUR_MS + 30 * 60_000  # last closed bar at start: hour 2475
FEE = 0.001  # the artifact keeps the default 10 bps


def hour(k: int) -> int:
    """Open time (ms) of the fake's k-th hourly bar."""
    return T0 + k * HOUR_MS


def iso(ms: int) -> str:
    return pd.Timestamp(ms, unit="ms", tz="UTC").isoformat()


def bar_open(k: int) -> float:
    return candle("BTCUSDT", hour(k), HOUR_MS)[1]


ENTRIES = {SYMBOL: [iso(hour(k)) for k in (2476, 2480, 2481)]}


@dataclass
class Reply:
    """One HTTP exchange with the runner."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Runner:
    """A ``quantlab live`` subprocess with its output collected by two reader threads."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.out = bytearray()
        self.err = bytearray()
        self.url: str | None = None
        self._ready = threading.Event()
        self._threads = [threading.Thread(target=self._pump, args=(s, b), daemon=True)
                         for s, b in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for t in self._threads:
            t.start()

    def _pump(self, stream: Any, buf: bytearray) -> None:
        for line in stream:
            buf.extend(line)
            found = re.search(rb"control API on (http://127\.0\.0\.1:\d+)", line)
            if found and buf is self.err:
                self.url = found.group(1).decode()
                self._ready.set()

    def wait_ready(self, timeout: float = 90.0) -> str:
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"runner not ready (rc {self.proc.returncode}): "
                                     f"{self.err.decode(errors='replace')}")
        assert self.url is not None
        return self.url

    def stop(self, timeout: float = 30.0) -> int:
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout)
        for t in self._threads:
            t.join(5)
        return rc

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@dataclass
class Session:
    """Everything the scripted session saw (module docstring)."""

    state: Path
    secrets: dict[str, str]
    replies: dict[str, Reply] = field(default_factory=dict)
    rc: list[int] = field(default_factory=list)
    stdout: list[bytes] = field(default_factory=list)
    stderr: list[bytes] = field(default_factory=list)
    verify: subprocess.CompletedProcess[bytes] | None = None
    export: bytes = b""


def call(url: str, method: str = "GET", token: str | None = None,
         body: dict[str, Any] | None = None, scheme: str = "Bearer") -> Reply:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, method=method, data=data)
    if token is not None:
        req.add_header("Authorization", f"{scheme} {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return Reply(r.status, dict(r.headers), r.read())
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, dict(exc.headers), exc.read())


def until(what: str, check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def subprocess_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("QUANTLAB_") and k not in ("MAX_DRAWDOWN", "RISK_PER_TRADE")}
    src = str(Path(quantlab.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {**env, **extra}


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    base = tmp_path_factory.mktemp("runner_api")
    fake = FakeBinance(now_ms=START_NOW).start()
    procs: list[Runner] = []
    try:
        promote_scripted(base / "strategies", [SYMBOL], ENTRIES, {SYMBOL: []}, exchange=None,
                         timeframe="1h", options={})
        config = base / "live.toml"
        config.write_text(f'[exchange]\nurl = "{fake.url}"\n'
                          "[runner]\npoll_interval_s = 0.05\n[api]\nport = 0\n")
        keys = {"QUANTLAB_API_TOKEN": "tok" + secrets.token_hex(20),
                "QUANTLAB_API_KEY": "key" + secrets.token_hex(20),
                "QUANTLAB_API_SECRET": "sec" + secrets.token_hex(20)}
        s = Session(state=base / "state" / "paper.sqlite", secrets=keys)
        args = [sys.executable, "-m", "quantlab", "live", NAME, "--mode", "paper",
                "--root", str(base / "strategies"), "--config", str(config),
                "--state", str(s.state)]
        env = subprocess_env(keys)
        token = keys["QUANTLAB_API_TOKEN"]

        def get(label: str, path: str, method: str = "GET", **kw: Any) -> Reply:
            s.replies[label] = reply = call(url + path, method, **kw)
            return reply

        def step(label: str, bars: int, hours: int = 1) -> Reply:
            fake.now_ms += hours * HOUR_MS
            return until(f"{bars} bars ({label})", lambda: (
                r := get(label, "/status")).json()["bars_processed"] >= bars and r)

        # ---- run 1
        procs.append(Runner(args, env, base))
        url = procs[-1].wait_ready()
        get("status0", "/status")
        get("health0", "/health")
        get("metrics0", "/metrics")
        step("after_entry_signal", 1)                      # bar 2476: entry decided
        step("after_entry_fill", 2)                        # bar 2477: filled at its open
        get("halt_no_token", "/halt", "POST")
        get("halt_wrong_token", "/halt", "POST", token=keys["QUANTLAB_API_KEY"])
        get("halt_wrong_scheme", "/halt", "POST", token=token, scheme="Basic")
        get("status_after_401", "/status")
        get("halt", "/halt", "POST", token=token, body={"reason": "operator test"})
        get("status_halted", "/status")
        get("health_halted", "/health")
        step("after_flatten", 3)                           # bar 2478: flattened at its open
        get("resume_no_token", "/resume", "POST")
        get("resume", "/resume", "POST", token=token)
        get("health_resumed", "/health")
        procs[-1].proc.send_signal(signal.SIGUSR1)
        until("SIGUSR1 halt", lambda: get("status_sigusr1", "/status").json()
              ["breaker"]["level"] == 3)
        get("metrics1", "/metrics")
        s.rc.append(procs[-1].stop())
        s.stdout.append(bytes(procs[-1].out))
        s.stderr.append(bytes(procs[-1].err))

        # ---- run 2: same state file
        procs.append(Runner(args, env, base))
        url = procs[-1].wait_ready()
        get("restart_status", "/status")
        get("restart_health", "/health")
        step("restart_bars", 2, hours=2)                   # bars 2479, 2480 (entry signal)
        get("restart_resume", "/resume", "POST", token=token)
        step("resumed_entry", 3)                           # bar 2481: entry decided
        step("resumed_fill", 4)                            # bar 2482: filled at its open
        s.rc.append(procs[-1].stop())
        s.stdout.append(bytes(procs[-1].out))
        s.stderr.append(bytes(procs[-1].err))

        cli = [sys.executable, "-m", "quantlab", "audit"]
        s.verify = subprocess.run([*cli, "verify", str(s.state)], env=env, capture_output=True,
                                  timeout=120)
        s.export = subprocess.run([*cli, "export", str(s.state), "--format", "jsonl"], env=env,
                                  capture_output=True, timeout=120, check=True).stdout
        yield s
    finally:
        for p in procs:
            p.kill()
        fake.stop()


def records(state: Path) -> list[Any]:
    with LiveStore.open(state) as st:
        return st.audit.records()


def runs(state: Path) -> list[list[Any]]:
    """Audit records split per process (each run starts with ``config`` or ``start``)."""
    out: list[list[Any]] = []
    for r in records(state):
        if r.kind == "config" or (r.kind == "start" and (not out or out[-1][-1].kind != "config")):
            out.append([])
        out[-1].append(r)
    return out


# ------------------------------------------------------------------------------ 4. process
def test_paper_process_serves_the_api_and_trades_on_the_fake(session: Session) -> None:
    r = session.replies
    first = r["status0"].json()
    assert r["status0"].status == 200
    assert (first["mode"], first["strategy"], first["bars_processed"]) == ("paper", NAME, 0)
    assert first["breaker"] == {"level": 0, "name": "ok", "reason": ""}
    assert r["health0"].status == 200 and r["health0"].json() == {"status": "healthy",
                                                                    "reasons": []}
    assert b'quantlab_breaker_level{strategy="scripted"} 0.0' in r["metrics0"].body
    signal_bar = r["after_entry_signal"].json()
    assert signal_bar["last_bar"] == iso(hour(2476))
    assert signal_bar["last_decision"]["signals"] == {SYMBOL: {"entry": True, "size": 1.0}}
    assert signal_bar["orders"] == {"open": 1}
    filled = r["after_entry_fill"].json()
    units = filled["positions"][SYMBOL]["units"]
    # all in at bar 2477's open: units x price x (1 + fee) = 10,000
    assert units * bar_open(2477) * (1 + FEE) == pytest.approx(10_000.0, rel=1e-12)
    with LiveStore.open(session.state) as st:
        fill = st.fills()[0]
    assert (fill.ts_ms, fill.side, fill.price) == (hour(2477), "buy", bar_open(2477))
    assert fill.amount == pytest.approx(units, rel=1e-12)


# ------------------------------------------------------------------------------ 5. API auth
def test_write_endpoints_need_the_bearer_token(session: Session) -> None:
    r = session.replies
    for label in ("halt_no_token", "halt_wrong_token", "halt_wrong_scheme", "resume_no_token"):
        assert r[label].status == 401, label
        assert r[label].json() == {"error": "unauthorized"}
        assert r[label].headers.get("WWW-Authenticate") == "Bearer"
    assert r["status_after_401"].json()["breaker"]["level"] == 0  # nothing happened
    assert r["halt"].status == 200
    assert r["halt"].json()["breaker"] == {"level": 3, "name": "halted",
                                           "reason": "operator test"}
    assert r["status_halted"].json()["breaker"]["level"] == 3
    assert r["health_halted"].status == 503
    assert r["health_halted"].json() == {"status": "critical",
                                         "reasons": ["halted: operator test"]}
    assert r["resume"].status == 200
    assert r["resume"].json()["breaker"] == {"level": 0, "name": "ok",
                                             "reason": "resumed by api"}
    assert r["health_resumed"].json() == {"status": "healthy", "reasons": []}
    first = runs(session.state)[0]
    assert [(p.payload["action"], p.payload["source"]) for p in first if p.kind == "operator"] == [
        ("halt", "api"), ("resume", "api"), ("halt", "signal")]


def test_api_halt_flattens_at_the_next_open(session: Session) -> None:
    r = session.replies
    units = r["after_entry_fill"].json()["positions"][SYMBOL]["units"]
    after = r["after_flatten"].json()
    assert after["positions"][SYMBOL]["units"] == 0.0
    assert after["cash"] == pytest.approx(units * bar_open(2478) * (1 - FEE), rel=1e-12)
    with LiveStore.open(session.state) as st:
        sell = st.fills()[1]
    assert (sell.ts_ms, sell.side, sell.price) == (hour(2478), "sell", bar_open(2478))
    assert sell.amount == pytest.approx(units, rel=1e-12)


def test_api_halt_flatten_is_an_audited_flatten_order(session: Session) -> None:
    first = runs(session.state)[0]
    halt_seq = next(x.seq for x in first if x.kind == "operator")
    ordered = [x.payload for x in first if x.kind == "order" and x.seq > halt_seq]
    assert [(o["leg"], o["side"], o["reduce_only"]) for o in ordered] == [
        ("flatten", "sell", True)]
    with LiveStore.open(session.state) as st:
        sell = st.fills()[1]
        order = st.get_order(sell.client_id)
    assert order is not None and (order.leg, order.type) == ("flatten", "market")


def test_sigusr1_halts_with_source_signal(session: Session) -> None:
    status = session.replies["status_sigusr1"].json()
    assert status["breaker"] == {"level": 3, "name": "halted", "reason": "SIGUSR1 received"}
    assert b'quantlab_breaker_level{strategy="scripted"} 3.0' in session.replies["metrics1"].body
    first = runs(session.state)[0]
    changes = [x.payload for x in first if x.kind == "breaker"]
    assert changes[-1] == {"from": "ok", "to": "halted", "reason": "SIGUSR1 received",
                           "source": "signal"}
    assert [c["source"] for c in changes] == ["api", "api", "signal"]


def test_sigterm_exits_zero_after_a_stop_record(session: Session) -> None:
    assert session.rc == [0, 0], session.stderr
    per_run = runs(session.state)
    assert len(per_run) == 2
    for run, bars in zip(per_run, (3, 4), strict=True):
        assert run[-1].kind == "stop"
        assert run[-1].payload["bars"] == bars
    assert b"scripted@1 paper: 3 bar(s)," in session.stdout[0]
    assert b"breaker halted" in session.stdout[0]
    assert session.verify is not None and session.verify.returncode == 0
    assert session.verify.stdout.decode().splitlines()[0] == (
        f"{session.state}: audit chain intact ({len(records(session.state))} records)")


# ------------------------------------------------------------------------------ 2. restart
def test_halt_survives_restart_until_an_operator_resumes(session: Session) -> None:
    r = session.replies
    assert r["restart_status"].json()["breaker"] == {"level": 3, "name": "halted",
                                                     "reason": "SIGUSR1 received"}
    assert r["restart_health"].status == 503
    assert r["restart_health"].json() == {"status": "critical",
                                          "reasons": ["halted: SIGUSR1 received"]}
    second = runs(session.state)[1]
    start = next(x.payload for x in second if x.kind == "start")
    assert start["breaker"] == 3 and start["resumed_after"] == iso(hour(2478))
    resume_seq = next(x.seq for x in second if x.kind == "operator")
    before = [x for x in second if x.seq < resume_seq]
    # bar 2480: the strategy wants an entry, the latched halt places nothing
    assert [x.payload["bar"] for x in before if x.kind == "decision" and x.payload["signals"]] \
        == [iso(hour(2480))]
    assert not [x for x in before if x.kind in ("order", "fill", "risk")]
    assert r["restart_bars"].json()["orders"] == {"closed": 2}
    assert r["restart_resume"].json()["breaker"]["level"] == 0
    operator = [x.payload for x in second if x.kind == "operator"]
    assert [{k: v for k, v in o.items() if k != "peak_reset_to"} for o in operator] \
        == [{"action": "resume", "source": "api"}]
    assert operator[0]["peak_reset_to"] > 0  # drawdown counts from the resume
    # trading resumed: bar 2481's entry is ordered and filled at bar 2482's open
    after = [x.payload for x in second if x.seq > resume_seq and x.kind in ("order", "fill")]
    assert [(p["side"], p.get("leg"), p.get("price")) for p in after] == [
        ("buy", "entry", candle("BTCUSDT", hour(2481), HOUR_MS)[4]),
        ("buy", None, bar_open(2482))]
    assert r["resumed_fill"].json()["positions"][SYMBOL]["units"] > 0


# ------------------------------------------------------------------------------ 6. secrets
def test_no_secret_in_state_output_api_or_export(session: Session) -> None:
    base = session.state
    blobs: dict[str, bytes] = {}
    for suffix in ("", "-wal", "-shm", "-journal"):
        path = Path(str(base) + suffix)
        if path.exists():
            blobs[path.name] = path.read_bytes()
    assert blobs[base.name]  # the state file itself was read
    for i, (out, err) in enumerate(zip(session.stdout, session.stderr, strict=True)):
        blobs[f"stdout{i}"], blobs[f"stderr{i}"] = out, err
    for label, reply in session.replies.items():
        blobs[f"{label} body"] = reply.body
        blobs[f"{label} headers"] = json.dumps(reply.headers).encode()
    assert session.verify is not None
    blobs["verify"] = session.verify.stdout + session.verify.stderr
    blobs["export"] = session.export
    assert len(session.export.splitlines()) == len(records(base)) > 20
    for name, value in session.secrets.items():
        needle = value.encode()
        leaks = [where for where, blob in blobs.items() if needle in blob]
        assert leaks == [], f"{name} leaked into {leaks}"


# ------------------------------------------------------------------------------ rate limit
def test_max_orders_per_minute_refuses_entries_in_paper(tmp_path: Path) -> None:
    from quantlab.live.session import run_live

    fake = FakeBinance(now_ms=START_NOW).start()
    try:
        entries = {SYMBOL: [iso(hour(2476)), iso(hour(2480))]}
        promote_scripted(tmp_path / "strategies", [SYMBOL], entries, {SYMBOL: [iso(hour(2478))]},
                         exchange=None, timeframe="1h", options={})
        config = tmp_path / "live.toml"
        config.write_text(f'[exchange]\nurl = "{fake.url}"\n[runner]\npoll_interval_s = 0.05\n'
                          "[risk]\nmax_orders_per_minute = 2\n")

        def clock() -> None:  # one more closed bar every 0.1 s once the window is loaded
            until("history fetch", fake.klines_requests)
            for _ in range(7):
                time.sleep(0.1)
                fake.now_ms += HOUR_MS

        ticker = threading.Thread(target=clock, daemon=True)
        ticker.start()
        state = tmp_path / "rate.sqlite"
        run = run_live(NAME, mode="paper", config=config, state=state,
                       root=tmp_path / "strategies", max_bars=6, env={})
        ticker.join(10)
    finally:
        fake.stop()
    assert run.bars == 6
    recs = records(state)
    ordered = [(x.payload["leg"], x.payload["bar_ms"]) for x in recs if x.kind == "order"]
    # entry (2476) and exit (2478) used the two orders of the minute; the 2480 entry is refused
    assert ordered == [("entry", hour(2476)), ("exit", hour(2478))]
    refused = [x.payload for x in recs if x.kind == "risk"]
    assert [(p["rule"], p["order"]["bar_ms"]) for p in refused] == [
        ("max_orders_per_minute", hour(2480))]
