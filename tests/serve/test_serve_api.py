"""The supervisor's REST API over HTTP: status with masked secrets, health naming the
components behind it, Prometheus metrics, bearer-token auth of the write endpoints, operator
restart of a critical component, system restart and shutdown, rate limiting (429)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from quantlab.errors import UsageError
from quantlab.live.store import LiveStore
from quantlab.serve.api import ServeApi
from quantlab.serve.ratelimit import RateLimiter
from quantlab.serve.specs import free_port
from tests.serve.test_supervisor import (
    Running,
    call,
    child_env,
    component,
    records,
    serve_toml,
    supervised,
    until,
)

TOKEN = "tok-" + os.urandom(16).hex()
SECRET = "sec-" + os.urandom(16).hex()  # an exchange secret in the environment
ENV_SECRET = "pw-" + os.urandom(8).hex()  # in a component's own env table


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Running, Path]]:
    tmp = tmp_path_factory.mktemp("serve_api")
    ok, worried = free_port(), free_port()
    cfg = serve_toml(
        tmp, component(tmp, "ok", "http", port=ok),
        component(tmp, "worried", "http", port=worried, status="degraded"),
        component(tmp, "bad", "fail") + f'env = {{ DB_PASSWORD = "{ENV_SECRET}" }}\n',
        max_restarts=1, restart_backoff_s=0.1)
    env = child_env({"QUANTLAB_API_TOKEN": TOKEN, "QUANTLAB_API_SECRET": SECRET})
    with supervised(cfg, env) as run:
        until("bad critical", lambda: run.state("bad") == "critical")
        until("ok and worried running", lambda: run.state("ok") == run.state("worried")
              == "running")
        yield run, tmp


def test_status_shows_the_effective_config_and_components(api) -> None:
    run, tmp = api
    r = call(run.url + "/api/status")
    assert r.status == 200 and r.headers["Content-Type"].startswith("application/json")
    st = r.json()
    assert st["health"] == "critical" and st["api"] == run.url and st["pid"] == os.getpid()
    assert st["config"]["serve"]["max_restarts"] == 1
    assert st["config"]["serve"]["token_env"] == "QUANTLAB_API_TOKEN"  # a name, shown
    assert st["config"]["serve"]["state_dir"] == str(tmp / "state")
    bad_cfg = st["config"]["components"][-1]
    assert bad_cfg["name"] == "bad" and bad_cfg["env"] == {"DB_PASSWORD": "***"}
    assert [c["name"] for c in st["components"]] == ["ok", "worried", "bad"]
    assert len(st["config_digest"]) == 64
    with LiveStore.open(tmp / "state" / "serve.sqlite") as store:
        assert store.get_meta("config_digest") == st["config_digest"]
        assert st["audit"]["records"] >= 6


def test_no_answer_contains_a_secret(api) -> None:
    run, tmp = api
    paths = ["/api/status", "/api/health", "/api/metrics", "/api/components",
             "/api/components/bad", "/api/components/ok", "/api/nope"]
    bodies = [call(run.url + p).body for p in paths]
    bodies.append(call(run.url + "/api/components/ok/restart", "POST", token="wrong").body)
    text = b"\n".join(bodies)
    for secret in (TOKEN, SECRET, ENV_SECRET):
        assert secret.encode() not in text
    with LiveStore.open(tmp / "state" / "serve.sqlite") as store:
        audit = repr([r.to_dict() for r in store.audit.records()])
    assert TOKEN not in audit and SECRET not in audit and ENV_SECRET not in audit


def test_health_names_the_components_behind_it(api) -> None:
    run, _ = api
    r = call(run.url + "/api/health")
    assert r.status == 503
    h = r.json()
    assert h["status"] == "critical"
    assert (h["critical"], h["degraded"]) == (["bad"], ["worried"])
    assert h["reasons"][0] == "worried: reports degraded (worried says so)"
    assert h["reasons"][1].startswith("bad: critical (exited with code 1; 1 restarts within")


def test_components_list_and_one_component(api) -> None:
    run, tmp = api
    comps = {c["name"]: c for c in call(run.url + "/api/components").json()["components"]}
    assert comps["ok"]["state"] == "running" and comps["ok"]["pid"] > 0
    assert comps["ok"]["health"]["status"] == "healthy" and comps["ok"]["uptime_s"] > 0
    assert comps["worried"]["health"]["reasons"] == ["worried says so"]
    assert (comps["bad"]["state"], comps["bad"]["pid"], comps["bad"]["restarts"]) == (
        "critical", None, 1)
    assert comps["bad"]["log"] == str(tmp / "state" / "logs" / "bad.log")
    one = call(run.url + "/api/components/bad").json()
    assert one["tail"] == ["bad up in mode fail"]
    missing = call(run.url + "/api/components/nope")
    assert missing.status == 404 and "no component 'nope'" in missing.json()["error"]


def test_metrics_are_prometheus_text(api) -> None:
    run, _ = api
    r = call(run.url + "/api/metrics")
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for fam in text_string_to_metric_families(r.body.decode()) for s in fam.samples}
    assert samples["quantlab_serve_up", ()] == 1.0
    assert samples["quantlab_component_up", (("component", "ok"),)] == 1.0
    assert samples["quantlab_component_up", (("component", "bad"),)] == 0.0
    assert samples["quantlab_component_restarts_total", (("component", "bad"),)] == 1.0
    assert samples["quantlab_component_state", (("component", "bad"),
                                                ("state", "critical"))] == 1.0
    assert samples["quantlab_component_uptime_seconds", (("component", "ok"),)] > 0.0
    assert samples["quantlab_component_uptime_seconds", (("component", "bad"),)] == 0.0


@pytest.mark.parametrize("path", ["/api/components/ok/restart", "/api/system/restart",
                                  "/api/system/shutdown"])
def test_write_endpoints_need_the_bearer_token(api, path) -> None:
    run, _ = api
    pid = run.view("ok")["pid"]
    for kw in ({}, {"token": "wrong"}, {"token": TOKEN, "scheme": "Basic"}):
        r = call(run.url + path, "POST", **kw)
        assert r.status == 401 and r.json() == {"error": "unauthorized"}
        assert r.headers["WWW-Authenticate"] == "Bearer"
    assert call(run.url + path).status == 405  # GET is not allowed either
    assert run.view("ok")["pid"] == pid and run.thread.is_alive()


def test_operator_restart_brings_a_critical_component_back(api) -> None:
    run, tmp = api
    starts = len([r for r in records(tmp) if r[:2] == ("bad", "start")])
    r = call(run.url + "/api/components/bad/restart", "POST", token=TOKEN)
    assert r.status == 202 and r.json() == {"restarting": ["bad"], "previous_state": "critical"}
    until("bad started again", lambda: len([x for x in records(tmp)
                                            if x[:2] == ("bad", "start")]) > starts)
    until("bad critical again", lambda: run.state("bad") == "critical")  # it still fails
    assert len([x for x in records(tmp) if x[:2] == ("bad", "start")]) == starts + 2
    with LiveStore.open(tmp / "state" / "serve.sqlite") as store:
        ops = [x.payload for x in store.audit.records() if x.kind == "operator"]
    assert ops[-1] == {"action": "restart", "component": "bad", "source": "api 127.0.0.1",
                       "state": "critical"}
    assert call(run.url + "/api/components/nope/restart", "POST", token=TOKEN).status == 404


def test_operator_restart_of_a_running_component(api) -> None:
    run, _ = api
    before = run.view("ok")
    assert call(run.url + "/api/components/ok/restart", "POST", token=TOKEN).status == 202
    until("ok back", lambda: (v := run.view("ok"))["pid"] not in (None, before["pid"])
          and v["state"] == "running")
    after = run.view("ok")
    assert after["restarts"] == before["restarts"]  # operator restarts are not counted
    assert after["reason"] == "restarted by an operator" and after["exit_code"] == 0


def test_rate_limit_answers_429_with_retry_after(tmp_path) -> None:
    cfg = serve_toml(tmp_path, rate_limit_per_s=0.5, rate_limit_burst=5)
    with supervised(cfg) as run:
        codes = [call(run.url + "/api/health").status for _ in range(7)]
        assert codes == [200] * 5 + [429] * 2
        r = call(run.url + "/api/status")
        assert r.status == 429 and r.json() == {"error": "too many requests"}
        assert r.headers["Retry-After"] == "2"  # one token every 2 s
        time.sleep(2.1)
        assert call(run.url + "/api/health").status == 200


def test_rate_limiter_buckets() -> None:
    t = [0.0]
    lim = RateLimiter(rate=2, burst=3, clock=lambda: t[0])
    assert [lim.take("a") for _ in range(4)] == [0.0, 0.0, 0.0, 0.5]
    assert lim.take("b") == 0.0  # per client
    t[0] = 0.25
    assert lim.take("a") == pytest.approx(0.25)
    t[0] = 0.5
    assert lim.take("a") == 0.0
    t[0] = 100.0
    assert [lim.take("a") for _ in range(4)] == [0.0, 0.0, 0.0, 0.5]  # never above burst


def test_without_token_writes_are_forbidden_and_only_loopback_binds(tmp_path) -> None:
    cfg = serve_toml(tmp_path)
    with supervised(cfg) as run:
        r = call(run.url + "/api/system/shutdown", "POST", token="anything")
        assert r.status == 403 and "no token configured" in r.json()["error"]
        assert call(run.url + "/api/status").status == 200
        with pytest.raises(UsageError, match=r"refusing to bind the serve API to 0\.0\.0\.0 "
                                             r"without a token"):
            ServeApi(run.sup, host="0.0.0.0", port=0)


def test_shutdown_and_system_restart_endpoints(tmp_path) -> None:
    cfg = serve_toml(tmp_path, component(tmp_path, "a", "sleep"))
    env = child_env({"QUANTLAB_API_TOKEN": TOKEN})
    with supervised(cfg, env) as run:
        until("a started", lambda: [x[1] for x in records(tmp_path)] == ["start"])
        pid = run.view("a")["pid"]
        cfg.write_text(cfg.read_text().replace("[serve]\n", "[serve]\nunknown_key = 1\n"))
        r = call(run.url + "/api/system/restart", "POST", token=TOKEN)
        assert r.status == 400 and "unknown key 'unknown_key' in [serve]" in r.json()["error"]
        assert run.view("a")["pid"] == pid  # an invalid file stops nothing
        cfg.write_text(cfg.read_text().replace("unknown_key = 1\n", "max_backoff_s = 9.0\n"))
        r = call(run.url + "/api/system/restart", "POST", token=TOKEN)
        assert r.status == 202 and r.json() == {"restarting": ["a"]}
        until("a restarted", lambda: run.view("a")["pid"] not in (None, pid)
              and [x[1] for x in records(tmp_path)] == ["start", "sigterm", "exit", "start"])
        status = call(run.url + "/api/status").json()
        assert status["config"]["serve"]["max_backoff_s"] == 9.0
        r = call(run.url + "/api/system/shutdown", "POST", token=TOKEN)
        assert r.status == 202 and r.json() == {"shutting_down": ["a"]}
        run.thread.join(30)
        assert not run.thread.is_alive()  # the supervisor returned
    events = [x[1] for x in records(tmp_path)]
    assert events == ["start", "sigterm", "exit", "start", "sigterm", "exit"]
    for _, _, _, child in records(tmp_path):
        with pytest.raises(ProcessLookupError):
            os.kill(child, 0)
    with LiveStore.open(tmp_path / "state" / "serve.sqlite") as store:
        recs = store.audit.records()
    actions = [x.payload["action"] for x in recs if x.kind == "operator"]
    assert actions == ["system_restart", "shutdown"]
    assert [x.kind for x in recs].count("config") == 2
    assert recs[-1].kind == "shutdown"
    assert recs[-1].payload["reason"] == "shutdown requested (api 127.0.0.1)"
