"""The monitoring stack end to end, every part real, on 127.0.0.1:

    quantlab serve ─▶ quantlab live (paper) ──/metrics──▶ /usr/bin/prometheus (deploy rules)
          └──────────── /api/metrics ─────────────────────▶
        ▲ orders, bars                                   │ alerts
    FakeBinance (in-process)                     /usr/bin/prometheus-alertmanager
                                                         │ webhook
                                          quantlab alerts serve (subprocess, SQLite)

The runner is the real ``quantlab live`` process, started and supervised by ``quantlab serve``
(both scraped), trading a scripted strategy on the fake
exchange, whose BTC/USDT prices fall to 60 % from bar 2478 on (:class:`CrashCandles`):
entry signal on bar 2476, all in at bar 2477's open, bar 2478 closes 40 % lower, so the
runner's own ``quantlab_drawdown`` gauge reads ~0.40 (its breaker's drawdown and daily-loss
triggers are off, so nothing flattens the position and ``QuantlabBreakerTripped`` cannot
inhibit the drawdown alert). The configurations are deploy/'s, loaded and adapted: scrape and
evaluation every second, each rule's ``for:`` shortened to 1 s, Alertmanager waiting 1 s.

The session (one module fixture) then waits until Prometheus reports ``QuantlabDrawdownHigh``
firing and the sink recorded it, runs every PromQL query of deploy/grafana/quantlab.json
against that Prometheus, stops the supervisor (and with it the runner) and waits for ``QuantlabRunnerDown`` to go the same
way. Every process is terminated and waited for, also on failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

import quantlab
from quantlab.live.fake_exchange import FakeBinance, SyntheticCandles
from quantlab.live.fake_exchange.candles import Candle
from tests.live.test_runner_ops import promote_scripted

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana" / "quantlab.json"
PROMETHEUS = Path("/usr/bin/prometheus")
ALERTMANAGER = Path("/usr/bin/prometheus-alertmanager")

needs_stack = pytest.mark.skipif(
    not (PROMETHEUS.exists() and ALERTMANAGER.exists()),
    reason="needs /usr/bin/prometheus and /usr/bin/prometheus-alertmanager (Debian packages "
           "prometheus, prometheus-alertmanager)")

HOUR_MS = 3_600_000
T0 = 1_704_067_200_000  # the fake's synthetic listing time, 2024-01-01
SYMBOL = "BTC/USDT"
NAME = "scripted"
START_NOW = T0 + 2476 * HOUR_MS + 30 * 60_000  # last closed bar at start: 2475
CRASH_BAR = 2478
CRASH_FACTOR = 0.6
#: Grafana variables of the dashboard and what the test substitutes for them.
GRAFANA_VARS = {"$strategy": ".*", "$__rate_interval": "1m"}


def hour(k: int) -> int:
    return T0 + k * HOUR_MS


class CrashCandles(SyntheticCandles):
    """The fake's synthetic candles, with every price from ``crash_ms`` on times ``factor``."""

    def __init__(self, crash_ms: int, factor: float) -> None:
        super().__init__("1h")
        self.crash_ms, self.factor = crash_ms, factor

    def candle(self, symbol: str, open_ms: int, interval: str) -> Candle | None:
        c = super().candle(symbol, open_ms, interval)
        if c is None or open_ms < self.crash_ms:
            return c
        o, h, low, close, v = c
        f = self.factor
        return round(o * f, 2), round(h * f, 2), round(low * f, 2), round(close * f, 2), v


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(url: str, method: str = "GET", body: Any = None, timeout: float = 5.0) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, method=method, data=data)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            text = r.read().decode()
            status = r.status
    except urllib.error.HTTPError as exc:
        text, status = exc.read().decode(), exc.code
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def until(what: str, check: Callable[[], Any], timeout: float, procs: list[Proc]) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except (OSError, urllib.error.URLError):
            value = None
        if value:
            return value
        for p in procs:
            if p.proc.poll() is not None:
                raise AssertionError(f"{p.name} exited ({p.proc.returncode}) while waiting for "
                                     f"{what}:\n{p.output()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}:\n"
                                 + "\n".join(f"--- {p.name}\n{p.output()}" for p in procs))
        time.sleep(0.1)


class Proc:
    """A subprocess whose combined output goes to a log file in the test's folder."""

    def __init__(self, name: str, args: list[str], log: Path, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> None:
        self.name, self.log = name, log
        self._fh = log.open("wb")
        self.proc = subprocess.Popen(args, stdout=self._fh, stderr=subprocess.STDOUT, env=env,
                                     cwd=cwd)

    def output(self, tail: int = 3000) -> str:
        self._fh.flush()
        return self.log.read_text(errors="replace")[-tail:]

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._fh.close()
        return self.proc.returncode


def subprocess_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("QUANTLAB_") and k not in ("MAX_DRAWDOWN", "RISK_PER_TRADE")}
    src = str(Path(quantlab.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


# ------------------------------------------------------------------------------ test configs
def short_rules(path: Path) -> Path:
    """deploy's rules with every ``for:`` shortened to 1 s."""
    doc = yaml.safe_load((DEPLOY / "prometheus" / "rules" / "quantlab.rules.yml").read_text())
    for group in doc["groups"]:
        for rule in group["rules"]:
            rule["for"] = "1s"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def prometheus_config(path: Path, rules: Path, runner: str, alertmanager: str,
                      supervisor: str) -> Path:
    """deploy's prometheus.yml: 1 s intervals, the runner as the `quantlab` job's only target,
    the supervisor as `quantlab-serve`'s."""
    doc = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    doc["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    doc["rule_files"] = [str(rules)]
    doc["alerting"]["alertmanagers"][0]["static_configs"] = [{"targets": [alertmanager]}]
    (job,) = [j for j in doc["scrape_configs"] if j["job_name"] == "quantlab"]
    job["static_configs"] = [{"targets": [runner]}]
    (serve,) = [j for j in doc["scrape_configs"] if j["job_name"] == "quantlab-serve"]
    serve["static_configs"] = [{"targets": [supervisor]}]
    doc["scrape_configs"] = [job, serve]
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def alertmanager_config(path: Path, sink_url: str) -> Path:
    """deploy's alertmanager.yml: the webhook on the test's sink, 1 s group waits."""
    doc = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yml").read_text())
    for route in [doc["route"], *doc["route"].get("routes", [])]:
        route.update(group_wait="1s", group_interval="1s")
    (receiver,) = doc["receivers"]
    receiver["webhook_configs"][0]["url"] = f"{sink_url}/webhook"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def dashboard_queries() -> list[tuple[str, str]]:
    """``(panel title, expr)`` of every target of every panel (rows included)."""
    doc = json.loads(DASHBOARD.read_text())
    out: list[tuple[str, str]] = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for p in panels:
            for t in p.get("targets", []):
                out.append((p["title"], t["expr"]))
            walk(p.get("panels", []))

    walk(doc["panels"])
    return out


def substitute(expr: str) -> str:
    for name, value in GRAFANA_VARS.items():
        expr = expr.replace(name, value)
    return expr


# ------------------------------------------------------------------------------ the session
@dataclass
class Stack:
    prom: str
    sink: str
    status: dict[str, Any] = field(default_factory=dict)
    metrics: str = ""
    drawdown_alert: dict[str, Any] = field(default_factory=dict)
    drawdown_recorded: dict[str, Any] = field(default_factory=dict)
    queries: dict[str, tuple[int, Any]] = field(default_factory=dict)
    strategies: tuple[int, Any] = (0, None)
    other_alerts: list[str] = field(default_factory=list)
    down_alert: dict[str, Any] = field(default_factory=dict)
    down_recorded: dict[str, Any] = field(default_factory=dict)
    runner_rc: int | None = None
    supervisor: list[dict[str, Any]] = field(default_factory=list)
    rcs: dict[str, int] = field(default_factory=dict)


def prom_alert(prom: str, name: str) -> dict[str, Any] | None:
    _, body = http(f"{prom}/api/v1/alerts")
    for a in body["data"]["alerts"]:
        if a["labels"]["alertname"] == name and a["state"] == "firing":
            return a
    return None


def sink_alert(sink: str, name: str) -> dict[str, Any] | None:
    _, body = http(f"{sink}/alerts?alertname={name}&status=firing")
    return body["alerts"][0] if body["alerts"] else None


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("monitoring")
    ports = {k: free_port() for k in ("runner", "serve", "prom", "am", "sink")}
    env = subprocess_env()
    fake = FakeBinance(CrashCandles(hour(CRASH_BAR), CRASH_FACTOR), now_ms=START_NOW).start()
    procs: list[Proc] = []
    try:
        promote_scripted(base / "strategies", [SYMBOL], {SYMBOL: [pd.Timestamp(
            hour(2476), unit="ms", tz="UTC").isoformat()]}, {SYMBOL: []}, exchange=None,
            timeframe="1h", options={})
        config = base / "live.toml"
        config.write_text(f'[exchange]\nurl = "{fake.url}"\n[runner]\npoll_interval_s = 0.05\n'
                          '[breaker]\ndrawdown = "off"\ndaily_loss = "off"\n')
        # the runner under the supervisor: Prometheus scrapes both
        (base / "serve.toml").write_text(
            f'[serve]\nport = {ports["serve"]}\nhealth_interval_s = 0.5\n'
            f'[live]\nconfig = "{config}"\n'
            f'[[runner]]\nname = "{NAME}"\nmode = "paper"\nport = {ports["runner"]}\n')
        runner = Proc("serve", [sys.executable, "-m", "quantlab", "serve", "--config",
                                str(base / "serve.toml")], base / "serve.log", env=env, cwd=base)
        procs.append(runner)
        sink = Proc("sink", [sys.executable, "-m", "quantlab", "alerts", "serve", "--port",
                             str(ports["sink"]), "--store", str(base / "alerts.sqlite")],
                    base / "sink.log", env=env, cwd=base)
        procs.append(sink)
        sink_url = f"http://127.0.0.1:{ports['sink']}"
        am = Proc("alertmanager", [
            str(ALERTMANAGER),
            f"--config.file={alertmanager_config(base / 'alertmanager.yml', sink_url)}",
            f"--storage.path={base / 'am-data'}", f"--web.listen-address=127.0.0.1:{ports['am']}",
            "--cluster.listen-address="], base / "alertmanager.log", cwd=base)
        procs.append(am)
        prom_cfg = prometheus_config(base / "prometheus.yml", short_rules(base / "rules.yml"),
                                     f"127.0.0.1:{ports['runner']}", f"127.0.0.1:{ports['am']}",
                                     f"127.0.0.1:{ports['serve']}")
        prom = Proc("prometheus", [
            str(PROMETHEUS), f"--config.file={prom_cfg}",
            f"--storage.tsdb.path={base / 'prom-data'}",
            f"--web.listen-address=127.0.0.1:{ports['prom']}"], base / "prometheus.log", cwd=base)
        procs.append(prom)
        prom_url = f"http://127.0.0.1:{ports['prom']}"
        runner_url = f"http://127.0.0.1:{ports['runner']}"
        s = Stack(prom=prom_url, sink=sink_url)

        until("prometheus ready", lambda: http(f"{prom_url}/-/ready")[0] == 200, 60, procs)
        until("alertmanager ready", lambda: http(f"http://127.0.0.1:{ports['am']}/-/ready")[0]
              == 200, 60, procs)
        until("alert sink", lambda: http(f"{sink_url}/health")[0] == 200, 60, procs)
        until("runner API", lambda: http(f"{runner_url}/status")[0] == 200, 90, procs)

        # drive the drawdown: bars 2476 (entry signal), 2477 (filled at the open), 2478 (-40 %)
        for bars in (1, 2, 3):
            fake.advance(HOUR_MS)
            until(f"{bars} bar(s) processed", lambda b=bars: http(f"{runner_url}/status")[1]
                  ["bars_processed"] >= b, 30, procs)
        s.status = http(f"{runner_url}/status")[1]
        s.metrics = http(f"{runner_url}/metrics")[1]

        s.drawdown_alert = until("QuantlabDrawdownHigh firing in Prometheus",
                                 lambda: prom_alert(prom_url, "QuantlabDrawdownHigh"), 30, procs)
        s.drawdown_recorded = until("QuantlabDrawdownHigh recorded by the sink",
                                    lambda: sink_alert(sink_url, "QuantlabDrawdownHigh"), 30,
                                    procs)
        s.other_alerts = sorted({a["labels"]["alertname"] for a in http(
            f"{prom_url}/api/v1/alerts")[1]["data"]["alerts"] if a["state"] == "firing"})

        # every Grafana panel query against the live Prometheus
        for title, expr in dashboard_queries():
            query = urllib.parse.urlencode({"query": substitute(expr)})
            s.queries[f"{title}: {expr}"] = http(f"{prom_url}/api/v1/query?{query}")
        match = urllib.parse.urlencode({"match[]": "quantlab_up"})
        s.strategies = http(f"{prom_url}/api/v1/label/strategy/values?{match}")
        # the supervisor is scraped too, and reports its runner up
        query = urllib.parse.urlencode({"query": f'quantlab_component_up{{component="{NAME}"}}'})
        s.supervisor = until("the supervisor's metrics in Prometheus", lambda: (
            r := http(f"{prom_url}/api/v1/query?{query}")[1]["data"]["result"]) and r, 30, procs)

        # the runner goes away: QuantlabRunnerDown goes the same way
        s.runner_rc = runner.stop()
        s.down_alert = until("QuantlabRunnerDown firing in Prometheus",
                             lambda: prom_alert(prom_url, "QuantlabRunnerDown"), 30, procs[1:])
        s.down_recorded = until("QuantlabRunnerDown recorded by the sink",
                                lambda: sink_alert(sink_url, "QuantlabRunnerDown"), 30,
                                procs[1:])
        for p in reversed(procs):
            s.rcs[p.name] = p.stop()
        yield s
    finally:
        for p in reversed(procs):
            with contextlib.suppress(Exception):
                p.stop(10)
        fake.stop()


# ------------------------------------------------------------------------------ the tests
@needs_stack
def test_the_paper_runner_reached_a_forty_percent_drawdown(stack: Stack) -> None:
    status = stack.status
    assert status["bars_processed"] == 3
    assert status["positions"][SYMBOL]["units"] > 0  # still holding: nothing flattened
    assert status["drawdown"] == pytest.approx(0.4, abs=0.02)
    assert status["breaker"]["level"] == 0
    line = re.search(r'quantlab_drawdown\{strategy="scripted"\} (\S+)', stack.metrics)
    assert line and float(line.group(1)) == pytest.approx(status["drawdown"], rel=1e-9)


@needs_stack
def test_prometheus_fires_the_drawdown_alert(stack: Stack) -> None:
    a = stack.drawdown_alert
    assert a["state"] == "firing"
    assert a["labels"] == {"alertname": "QuantlabDrawdownHigh", "severity": "warning",
                           "job": "quantlab", "instance": a["labels"]["instance"],
                           "strategy": NAME}
    assert float(a["value"]) == pytest.approx(stack.status["drawdown"], rel=1e-9)
    pct = f"{100 * float(a['value']):.4g}%"
    assert a["annotations"]["summary"] == f"scripted drawdown {pct}"
    # the breaker is off and nothing else is wrong: no other alert fired
    assert stack.other_alerts == ["QuantlabDrawdownHigh"]


@needs_stack
def test_alertmanager_delivers_it_to_quantlab_alerts_serve(stack: Stack) -> None:
    rec = stack.drawdown_recorded
    assert (rec["alertname"], rec["status"], rec["severity"]) == (
        "QuantlabDrawdownHigh", "firing", "warning")
    # Prometheus adds its external labels (deploy/prometheus/prometheus.yml) on the way out
    assert rec["labels"] == {**stack.drawdown_alert["labels"], "monitor": "quantlab"}
    assert rec["annotations"] == stack.drawdown_alert["annotations"]
    assert rec["receiver"] == "quantlab-sink"
    assert re.fullmatch(r"[0-9a-f]{16}", rec["fingerprint"])
    assert "/graph?g0.expr=quantlab_drawdown" in rec["generatorURL"]


@needs_stack
def test_every_dashboard_query_runs_without_error(stack: Stack) -> None:
    assert len(stack.queries) == len(dashboard_queries()) >= 20
    errors = {k: v for k, v in stack.queries.items()
              if v[0] != 200 or v[1].get("status") != "success"}
    assert errors == {}
    results = {k.split(": ", 1)[1]: v[1]["data"]["result"] for k, v in stack.queries.items()}
    # the runner's series are there (empty results are fine only for absent components)
    for expr in ('quantlab_equity{strategy=~"$strategy"}', 'quantlab_drawdown{strategy=~"$strategy"}',
                 'quantlab_breaker_level{strategy=~"$strategy"}',
                 'quantlab_position_notional{strategy=~"$strategy"}'):
        assert [r["metric"]["strategy"] for r in results[expr]] == [NAME], expr
    firing = results['sum by (alertname) (ALERTS{alertstate="firing", alertname=~"Quantlab.*"})']
    assert [r["metric"]["alertname"] for r in firing] == ["QuantlabDrawdownHigh"]
    assert stack.strategies == (200, {"status": "success", "data": [NAME]})


def test_dashboard_uses_only_known_variables_and_the_datasource_variable() -> None:
    doc = json.loads(DASHBOARD.read_text())
    assert 38 <= doc["schemaVersion"] <= 40
    names = [v["name"] for v in doc["templating"]["list"]]
    assert names == ["datasource", "strategy"]
    datasource, strategy = doc["templating"]["list"]
    assert (datasource["type"], datasource["query"]) == ("datasource", "prometheus")
    assert strategy["definition"] == "label_values(quantlab_up, strategy)"  # queried above
    assert (strategy["multi"], strategy["includeAll"], strategy["allValue"]) == (True, True, ".*")
    used = set()
    for _, expr in dashboard_queries():
        used |= set(re.findall(r"\$\w+", expr))
    assert used == set(GRAFANA_VARS)

    def panels(ps: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for p in ps:
            yield p
            yield from panels(p.get("panels", []))

    titles = [p["title"] for p in panels(doc["panels"]) if p["type"] != "row"]
    assert len(titles) == len(set(titles))
    for p in panels(doc["panels"]):
        if p["type"] != "row":
            assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
    for needle in ("Equity", "Drawdown", "Positions", "Orders by status", "Fills and risk rejects",
                   "Decision latency", "Bar close to order submitted", "Circuit breaker",
                   "Staleness (bars)", "Data sources"):
        assert needle in titles


@needs_stack
def test_runner_down_fires_and_reaches_the_sink(stack: Stack) -> None:
    assert stack.runner_rc == 0
    a = stack.down_alert
    assert (a["labels"]["alertname"], a["labels"]["severity"], a["labels"]["job"]) == (
        "QuantlabRunnerDown", "critical", "quantlab")
    assert float(a["value"]) == 0.0
    rec = stack.down_recorded
    assert rec["labels"] == {**a["labels"], "monitor": "quantlab"}
    assert rec["annotations"]["summary"] == f"quantlab runner {a['labels']['instance']} is down"


@needs_stack
def test_every_process_stopped_cleanly(stack: Stack) -> None:
    assert stack.rcs == {"prometheus": 0, "alertmanager": 0, "sink": 0, "serve": 0}


@needs_stack
def test_prometheus_scrapes_the_supervisor_too(stack: Stack) -> None:
    (series,) = stack.supervisor
    assert series["metric"]["job"] == "quantlab-serve"
    assert series["value"][1] == "1"
