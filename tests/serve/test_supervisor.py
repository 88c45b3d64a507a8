"""The supervisor with real child processes: restarts with growing delays, critical after
max_restarts, unhealthy and silent components restarted, normal ends and daily jobs, logs,
audited configuration changes, SIGTERM on ``quantlab serve`` stopping the children in reverse
order, and an end-to-end run of two paper runners against the local fake Binance.

The children are tiny Python scripts (:data:`CHILD`); each appends ``NAME EVENT TIME PID`` lines
to a record file (start, SIGTERM received, exit), so the order and timing of what the supervisor
did can be read back.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import quantlab
from quantlab.live.audit import verify_audit
from quantlab.live.store import LiveStore
from quantlab.serve.component import next_run_at
from quantlab.serve.config import ServeConfig
from quantlab.serve.process import RotatingLog
from quantlab.serve.specs import free_port
from quantlab.serve.supervisor import Supervisor

CHILD = r'''
import http.server, json, os, signal, sys, time
mode, name, record = sys.argv[1:4]

def note(what):
    with open(record, "a") as f:
        f.write(f"{name} {what} {time.time():.6f} {os.getpid()}\n")

def term(*a):
    note("sigterm")
    time.sleep(0.2)
    note("exit")
    os._exit(0)

if mode == "stubborn":
    signal.signal(signal.SIGTERM, lambda *a: note("sigterm"))
elif mode in ("sleep", "http"):
    signal.signal(signal.SIGTERM, term)
note("start")
print(f"{name} up in mode {mode}", flush=True)
if mode == "fail":
    time.sleep(0.3)
    sys.exit(1)
if mode == "done":
    time.sleep(0.1)
    sys.exit(0)
if mode in ("sleep", "stubborn"):
    while True:
        time.sleep(1)
port, status, healthy_for = int(sys.argv[4]), sys.argv[5], int(sys.argv[6])
seen = [0]

class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        seen[0] += 1
        code = 503 if status == "critical" else 200
        body = {"status": status, "reasons": [] if status == "healthy" else [f"{name} says so"]}
        if 0 <= healthy_for < seen[0]:
            code, body = 500, {"error": "broken"}
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass

http.server.HTTPServer(("127.0.0.1", port), Health).serve_forever()
'''


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without quantlab/serve overrides, with the source tree importable."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("QUANTLAB_", "ENABLE_", "RUNNER_"))
           and k not in ("MODE", "MAX_DRAWDOWN", "RISK_PER_TRADE")}
    src = str(Path(quantlab.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {**env, **(extra or {})}


def component(tmp: Path, name: str, mode: str, *, port: int | None = None,
              status: str = "healthy", healthy_for: int = -1, **keys: Any) -> str:
    """A ``[components.NAME]`` table running :data:`CHILD` (written once to ``tmp``)."""
    script = tmp / "child.py"
    if not script.exists():
        script.write_text(CHILD)
    args = ["python", str(script), mode, name, str(tmp / "record.txt")]
    lines = [f"[components.{name}]"]
    if port is not None:
        args += [str(port), status, str(healthy_for)]
        lines.append(f'health_url = "http://127.0.0.1:{port}/health"')
    lines.append("command = " + json.dumps(args))
    lines += [f"{k} = {json.dumps(v)}" for k, v in keys.items()]
    return "\n".join(lines) + "\n"


def serve_toml(tmp: Path, *components: str, **serve: Any) -> Path:
    base = {"port": 0, "state_dir": str(tmp / "state"), "restart_backoff_s": 0.2,
            "max_restarts": 3, "health_interval_s": 0.1, "health_timeout_s": 1.0,
            "unhealthy_after": 2, "stop_timeout_s": 5.0, "rate_limit_per_s": 1000,
            "rate_limit_burst": 1000}
    base.update(serve)
    text = "[serve]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in base.items())
    path = tmp / "serve.toml"
    path.write_text(text + "".join(components))
    return path


def records(tmp: Path) -> list[tuple[str, str, float, int]]:
    """The children's record file: ``(name, event, time, pid)``."""
    path = tmp / "record.txt"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        name, event, ts, pid = line.split()
        out.append((name, event, float(ts), int(pid)))
    return out


def audit(state_dir: Path) -> list[Any]:
    with LiveStore.open(state_dir / "serve.sqlite") as st:
        return st.audit.records()


def until(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def call(url: str, method: str = "GET", token: str | None = None,
         scheme: str = "Bearer") -> Reply:
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    if token is not None:
        req.add_header("Authorization", f"{scheme} {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return Reply(r.status, dict(r.headers), r.read())
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, dict(exc.headers), exc.read())


@dataclass
class Running:
    """A :class:`Supervisor` running in a thread of its own (its own event loop)."""

    sup: Supervisor
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        assert self.sup.url is not None
        return self.sup.url

    def do(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn()`` on the supervisor's loop and return its result."""
        async def run() -> Any:
            return fn()
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(30)

    def state(self, name: str) -> str:
        return self.do(lambda: self.sup.components[name].state)

    def view(self, name: str) -> dict[str, Any]:
        return self.do(lambda: self.sup.component_view(name))

    def stop(self) -> None:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.sup.shutdown, "test over")
            self.thread.join(60)
        assert not self.thread.is_alive()


@contextmanager
def supervised(config: Path, env: dict[str, str] | None = None) -> Iterator[Running]:
    """Run a supervisor on ``config`` until the block ends (then shut it down)."""
    env = child_env() if env is None else env
    box: dict[str, Any] = {}
    ready = threading.Event()
    events: list[dict[str, Any]] = []

    def target() -> None:
        async def main() -> None:
            cfg = ServeConfig.load(config, env)
            sup = Supervisor(cfg, config_path=config, env=env, on_event=events.append)
            box["sup"], box["loop"] = sup, asyncio.get_running_loop()
            task = asyncio.ensure_future(sup.run())
            while not sup.ready.is_set() and not task.done():
                await asyncio.sleep(0.01)
            ready.set()
            await task
        try:
            asyncio.run(main())
        except BaseException as exc:  # reported by the waiting test
            box["error"] = exc
        finally:
            ready.set()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    assert ready.wait(60), "supervisor did not start"
    if "error" in box:
        raise box["error"]
    run = Running(box["sup"], box["loop"], thread, events)
    try:
        yield run
    finally:
        run.stop()
        if "error" in box:
            raise box["error"]


# -- restarts and critical ---------------------------------------------------------------------


def test_failing_component_restarts_with_growing_delays_then_critical(tmp_path) -> None:
    port = free_port()
    cfg = serve_toml(tmp_path, component(tmp_path, "ok", "http", port=port),
                     component(tmp_path, "bad", "fail"))
    with supervised(cfg) as run:
        until("bad critical", lambda: run.state("bad") == "critical")
        until("ok running", lambda: run.state("ok") == "running")
        health = run.do(run.sup.health)
        bad, ok = run.view("bad"), run.view("ok")
        metrics = run.do(run.sup.metrics.exposition).decode()
    assert health["status"] == "critical" and health["critical"] == ["bad"]
    assert health["degraded"] == []
    assert health["reasons"][0].startswith("bad: critical (exited with code 1; 3 restarts")
    assert (bad["restarts"], bad["exit_code"], bad["pid"]) == (3, 1, None)
    assert bad["tail"] == ["bad up in mode fail"]
    assert (ok["state"], ok["restarts"], ok["health"]["status"]) == ("running", 0, "healthy")

    recs = [r for r in audit(tmp_path / "state") if r.payload.get("component") == "bad"]
    assert [r.kind for r in recs] == (["component_start", "component_exit",
                                       "component_restart"] * 3
                                      + ["component_start", "component_exit",
                                         "component_critical"])
    restarts = [r for r in recs if r.kind == "component_restart"]
    assert [r.payload["delay_s"] for r in restarts] == [0.2, 0.4, 0.8]  # backoff * 2**k
    exits = [r.ts_ms for r in recs if r.kind == "component_exit"]
    starts = [r.ts_ms for r in recs if r.kind == "component_start"]
    gaps = [(b - a) / 1000 for a, b in zip(exits, starts[1:], strict=False)]
    assert all(g >= d - 0.01 for g, d in zip(gaps, [0.2, 0.4, 0.8], strict=True)), gaps
    assert gaps[0] < gaps[1] < gaps[2]
    assert len([r for r in records(tmp_path) if r[:2] == ("bad", "start")]) == 4
    assert verify_audit(tmp_path / "state" / "serve.sqlite").ok

    assert 'quantlab_component_restarts_total{component="bad"} 3.0' in metrics
    assert 'quantlab_component_restarts_total{component="ok"} 0.0' in metrics
    assert 'quantlab_component_state{component="bad",state="critical"} 1.0' in metrics
    assert 'quantlab_component_state{component="bad",state="running"} 0.0' in metrics
    assert 'quantlab_component_up{component="bad"} 0.0' in metrics
    assert 'quantlab_component_up{component="ok"} 1.0' in metrics
    assert "quantlab_serve_up 1.0" in metrics


def test_unhealthy_and_silent_components_are_restarted(tmp_path) -> None:
    flaky, mute = free_port(), free_port()
    cfg = serve_toml(
        tmp_path,
        component(tmp_path, "flaky", "http", port=flaky, healthy_for=3),  # then answers 500
        component(tmp_path, "mute", "sleep") + f'health_url = "http://127.0.0.1:{mute}/h"\n',
        start_timeout_s=1.5, max_restarts=1, restart_window_s=60)
    with supervised(cfg) as run:
        until("mute critical", lambda: run.state("mute") == "critical")
        until("flaky critical", lambda: run.state("flaky") == "critical")
        flaky_view = run.view("flaky")
    recs = audit(tmp_path / "state")
    reasons = {r.payload["component"]: r.payload["reason"] for r in recs
               if r.kind == "component_restart"}
    assert reasons["flaky"] == "failed 2 health checks in a row"
    assert reasons["mute"] == "no healthy answer within 1.5 s of the start"
    exits = [r.payload for r in recs if r.kind == "component_exit"]
    # both were stopped by the supervisor: SIGTERM, recorded by the child, exit code 0
    assert {e["component"] for e in exits} >= {"flaky", "mute"}
    assert all(e["exit_code"] == 0 for e in exits)
    assert ("flaky", "sigterm") in {r[:2] for r in records(tmp_path)}
    assert flaky_view["health"]["http"] == 500 and flaky_view["restarts"] == 1
    assert flaky_view["health"]["status"] == "failing"
    assert flaky_view["reason"].startswith("failed 2 health checks in a row; 1 restarts within")
    crit = [r.payload for r in recs if r.kind == "component_critical"]
    assert sorted(c["component"] for c in crit) == ["flaky", "mute"]
    # healthy for 3 answers, then 500 twice: each process of flaky saw exactly 5 checks
    flaky_starts = [r for r in records(tmp_path) if r[:2] == ("flaky", "start")]
    assert len(flaky_starts) == 2


def test_normal_end_is_not_restarted_and_daily_jobs_wait(tmp_path) -> None:
    cfg = serve_toml(tmp_path, component(tmp_path, "once", "done", restart="on-failure"),
                     component(tmp_path, "daily", "done", at="03:30"))
    with supervised(cfg) as run:
        until("once stopped", lambda: run.view("once")["exit_code"] == 0)
        assert run.state("once") == "stopped"
        daily = run.view("daily")
        assert daily["state"] == "waiting" and daily["pid"] is None
        assert dt.datetime.fromisoformat(daily["next_run"]) == next_run_at("03:30")
        assert run.do(run.sup.health)["status"] == "healthy"
        run.do(lambda: run.sup.restart("daily", "test"))  # run it now
        until("daily ran", lambda: run.view("daily")["exit_code"] == 0
              and run.state("daily") == "waiting")
        time.sleep(0.5)
        assert run.view("once")["restarts"] == 0 and run.state("once") == "stopped"
    starts = [r[0] for r in records(tmp_path) if r[1] == "start"]
    assert sorted(starts) == ["daily", "once"]
    kinds = [(r.kind, r.payload.get("action")) for r in audit(tmp_path / "state")]
    assert ("operator", "restart") in kinds


def test_a_program_that_cannot_start_becomes_critical(tmp_path) -> None:
    cfg = serve_toml(tmp_path, "[components.ghost]\ncommand = [\"/nonexistent/prog\"]\n",
                     max_restarts=1, restart_backoff_s=0.05)
    with supervised(cfg) as run:
        until("ghost critical", lambda: run.state("ghost") == "critical")
        ghost = run.view("ghost")
    assert ghost["reason"].startswith("cannot start /nonexistent/prog: [Errno 2] No such file")
    assert ghost["restarts"] == 1 and ghost["pid"] is None
    kinds = [r.kind for r in audit(tmp_path / "state") if r.payload.get("component") == "ghost"]
    assert kinds == ["component_restart", "component_critical"]


def test_next_run_at_is_the_next_utc_occurrence() -> None:
    now = dt.datetime(2025, 3, 1, 2, 0, tzinfo=dt.UTC)
    assert next_run_at("02:30", now) == dt.datetime(2025, 3, 1, 2, 30, tzinfo=dt.UTC)
    assert next_run_at("02:00", now) == dt.datetime(2025, 3, 2, 2, 0, tzinfo=dt.UTC)
    assert next_run_at("01:59", now) == dt.datetime(2025, 3, 2, 1, 59, tzinfo=dt.UTC)


def test_logs_capture_output_and_rotate(tmp_path) -> None:
    log = RotatingLog(tmp_path / "logs" / "x.log", max_bytes=1024, backups=2)
    for i in range(5):
        log.write(f"{i}".encode() * 600)
    log.close()
    names = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert names == ["x.log", "x.log.1", "x.log.2"]
    assert (tmp_path / "logs" / "x.log").read_bytes() == b"4" * 600
    assert (tmp_path / "logs" / "x.log.1").read_bytes() == b"3" * 600
    assert (tmp_path / "logs" / "x.log.2").read_bytes() == b"2" * 600
    # the supervisor's children write there
    cfg = serve_toml(tmp_path, component(tmp_path, "once", "done", restart="on-failure"))
    with supervised(cfg) as run:
        until("once ended", lambda: run.view("once")["exit_code"] == 0)
    text = (tmp_path / "state" / "logs" / "once.log").read_text()
    assert text == "once up in mode done\n"


def test_configuration_changes_are_audited(tmp_path) -> None:
    cfg = serve_toml(tmp_path, component(tmp_path, "a", "sleep"))

    def configs() -> list[dict[str, Any]]:
        return [r.payload for r in audit(tmp_path / "state") if r.kind == "config"]

    with supervised(cfg):
        pass
    with supervised(cfg):  # same configuration: not audited again
        pass
    first = configs()
    assert len(first) == 1 and first[0]["previous"] is None
    assert first[0]["config"]["components"][2]["name"] == "a"
    with supervised(cfg, child_env({"QUANTLAB_SERVE_MAX_RESTARTS": "7"})):
        pass
    second = configs()
    assert len(second) == 2 and second[1]["previous"] == first[0]["digest"]
    assert second[1]["config"]["serve"]["max_restarts"] == 7
    # edited while running: POST /api/system/restart reads it again
    with supervised(cfg) as run:
        old_pid = run.view("a")["pid"]
        until("a started", lambda: ("a", "start", old_pid) in
              {(r[0], r[1], r[3]) for r in records(tmp_path)})
        cfg.write_text(cfg.read_text() + component(tmp_path, "b", "sleep"))
        run.do(lambda: run.sup.restart_all("test"))
        until("b started", lambda: "b" in {r[0] for r in records(tmp_path)})
        new_pid = run.view("a")["pid"]
        assert new_pid not in (None, old_pid) and run.state("b") == "running"
        assert ("a", "sigterm", old_pid) in {(r[0], r[1], r[3]) for r in records(tmp_path)}
    third = configs()
    assert len(third) == 4  # back to the file's values at start, then the edit
    assert [c["name"] for c in third[3]["config"]["components"]][-2:] == ["a", "b"]
    last = [(r.kind, r.payload.get("component"), r.payload.get("action"))
            for r in audit(tmp_path / "state")][-8:]
    assert last == [("operator", None, "system_restart"), ("component_exit", "a", None),
                    ("config", None, None), ("component_start", "a", None),
                    ("component_start", "b", None), ("component_exit", "b", None),
                    ("component_exit", "a", None), ("shutdown", None, None)]


# -- quantlab serve as a process ---------------------------------------------------------------


class Serve:
    """``quantlab serve`` as a subprocess, stdout lines collected by a thread."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "quantlab", "serve", *args],
                                     env=env, cwd=cwd, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.err: list[str] = []
        self.threads = [threading.Thread(target=self._pump, args=(s, b), daemon=True)
                        for s, b in ((self.proc.stdout, self.lines),
                                     (self.proc.stderr, self.err))]
        for t in self.threads:
            t.start()

    def _pump(self, stream: Any, out: list[str]) -> None:
        for line in stream:
            out.append(line.rstrip("\n"))

    def url(self, timeout: float = 60) -> str:
        def found() -> str | None:
            if self.proc.poll() is not None:
                raise AssertionError(f"quantlab serve ended: {self.err}")
            for line in self.lines:
                m = re.search(r"serve API on (http://127\.0\.0\.1:\d+)", line)
                if m:
                    return m.group(1)
            return None
        return until("serve API", found, timeout)

    def stop(self, timeout: float = 60) -> int:
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout)
        for t in self.threads:
            t.join(5)
        return rc

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def test_sigterm_stops_children_in_reverse_order_and_exits_zero(tmp_path) -> None:
    cfg = serve_toml(tmp_path, component(tmp_path, "first", "sleep"),
                     component(tmp_path, "second", "sleep"),
                     component(tmp_path, "stubborn", "stubborn"),
                     component(tmp_path, "last", "sleep"), stop_timeout_s=0.5)
    serve = Serve(["--config", str(cfg)], child_env(), tmp_path)
    try:
        url = serve.url()
        until("four running", lambda: [c["state"] for c in call(url + "/api/components")
                                       .json()["components"]] == ["running"] * 4)
        until("children started", lambda: len(records(tmp_path)) == 4)
        assert serve.stop() == 0
    finally:
        serve.kill()
    rec = records(tmp_path)
    spawned = [r.payload["component"] for r in audit(tmp_path / "state")
               if r.kind == "component_start"]
    assert spawned == ["first", "second", "stubborn", "last"]  # in order, one at a time
    assert sorted(r[0] for r in rec if r[1] == "start") == sorted(spawned)
    assert [r[0] for r in rec if r[1] == "sigterm"] == ["last", "stubborn", "second", "first"]
    # each child had finished (or was killed) before the next one got its SIGTERM
    t = {(r[0], r[1]): r[2] for r in rec}
    assert t["last", "exit"] <= t["stubborn", "sigterm"]
    assert t["stubborn", "sigterm"] + 0.45 <= t["second", "sigterm"]  # SIGKILL after 0.5 s
    assert t["second", "exit"] <= t["first", "sigterm"]
    for _, _, _, pid in rec:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    exits = {r.payload["component"]: r.payload["exit_code"] for r in audit(tmp_path / "state")
             if r.kind == "component_exit"}
    assert exits == {"first": 0, "second": 0, "stubborn": -9, "last": 0}
    kinds = [r.kind for r in audit(tmp_path / "state")]
    assert kinds[:2] == ["start", "config"] and kinds[-1] == "shutdown"
    assert serve.lines[0].startswith("serve API on http://127.0.0.1:")
    assert [line.split(":")[0] for line in serve.lines[1:5]] == ["first", "second", "stubborn",
                                                                 "last"]
    assert all("started (pid" in line for line in serve.lines[1:5])
    assert serve.lines[-1] == "stopped (SIGTERM received)"


def test_serve_refuses_a_bad_configuration_with_one_line(tmp_path) -> None:
    (tmp_path / "serve.toml").write_text("[serve]\nprot = 1\n")
    out = subprocess.run([sys.executable, "-m", "quantlab", "serve", "--config", "serve.toml"],
                         cwd=tmp_path, env=child_env(), capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1] == (
        "quantlab: error: serve.toml: unknown key 'prot' in [serve] (did you mean 'port'?)")


# -- end to end: two paper runners against the fake exchange -----------------------------------


def test_two_paper_runners_supervised_end_to_end(tmp_path) -> None:
    from quantlab.live.fake_exchange import T0, FakeBinance, SyntheticCandles
    from tests.live.helpers import live_config, promote_flip

    fake = FakeBinance(SyntheticCandles("1m"), now_ms=T0 + 100 * 60_000 + 5_000,
                       speed=60).start()
    serve = None
    try:
        promote_flip(tmp_path / "strategies", name="flip_btc", period=2)
        promote_flip(tmp_path / "strategies", name="flip_eth", period=3,
                     symbols=["ETH/USDT"])
        live_config(tmp_path / "live.toml", fake.url)
        (tmp_path / "serve.toml").write_text(
            "[serve]\nport = 0\nhealth_interval_s = 0.3\nrestart_backoff_s = 0.2\n"
            "stop_timeout_s = 30\n[live]\nconfig = \"live.toml\"\n"
            "[[runner]]\nname = \"flip_btc\"\n[[runner]]\nname = \"flip_eth\"\n")
        token = "tok-" + os.urandom(12).hex()
        serve = Serve([], child_env({"QUANTLAB_API_TOKEN": token}), tmp_path)
        url = serve.url()

        def states() -> dict[str, str]:
            return {c["name"]: c["state"] for c in call(url + "/api/components")
                    .json()["components"]}

        until("both runners healthy", lambda: call(url + "/api/health").json()["status"]
              == "healthy" and states() == {"flip_btc": "running", "flip_eth": "running"},
              timeout=90)
        comps = {c["name"]: c for c in call(url + "/api/components").json()["components"]}
        for name in ("flip_btc", "flip_eth"):
            c = comps[name]
            assert (c["kind"], c["mode"], c["health"]["status"]) == ("runner", "paper",
                                                                    "healthy")
            runner = call(f"http://127.0.0.1:{c['port']}/status").json()
            assert (runner["strategy"], runner["mode"]) == (name, "paper")
            assert c["state_file"] == f"state/{name}-paper.sqlite"
        targets = json.loads((tmp_path / "state" / "prometheus_targets.json").read_text())
        assert targets == [{"targets": [f"127.0.0.1:{comps[n]['port']}"],
                            "labels": {"component": n}} for n in ("flip_btc", "flip_eth")]
        # the runners got the supervisor's token: their own write endpoints accept it
        port = comps["flip_eth"]["port"]
        assert call(f"http://127.0.0.1:{port}/resume", "POST").status == 401
        assert call(f"http://127.0.0.1:{port}/resume", "POST", token=token).status == 200

        os.kill(comps["flip_btc"]["pid"], signal.SIGKILL)
        until("flip_btc restarted", lambda: (c := {x["name"]: x for x in call(
            url + "/api/components").json()["components"]}["flip_btc"])["restarts"] == 1
              and c["state"] == "running" and c["pid"] != comps["flip_btc"]["pid"],
              timeout=90)
        assert call(url + "/api/health").json()["status"] == "healthy"
        after = {c["name"]: c for c in call(url + "/api/components").json()["components"]}
        assert after["flip_eth"]["pid"] == comps["flip_eth"]["pid"]  # the other one untouched
        assert after["flip_btc"]["port"] == comps["flip_btc"]["port"]
        assert after["flip_btc"]["exit_code"] == -9
        assert serve.stop() == 0
    finally:
        if serve is not None:
            serve.kill()
        fake.stop()
    recs = audit(tmp_path / "state")
    kinds = [(r.kind, r.payload.get("component")) for r in recs]
    assert ("component_restart", "flip_btc") in kinds
    assert kinds[-3:] == [("component_exit", "flip_eth"), ("component_exit", "flip_btc"),
                          ("shutdown", None)]
    assert all(r.payload["exit_code"] == 0 for r in recs[-3:-1])
    assert verify_audit(tmp_path / "state" / "serve.sqlite").ok
    for name in ("flip_btc", "flip_eth"):  # each runner's own state and audit chain
        assert verify_audit(tmp_path / "state" / f"{name}-paper.sqlite").ok
        log = (tmp_path / "state" / "logs" / f"{name}.log").read_text()
        assert "control API on http://127.0.0.1:" in log
    assert token not in " ".join(serve.lines + serve.err)
