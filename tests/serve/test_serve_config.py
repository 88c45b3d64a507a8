"""ServeConfig: defaults and the example file, validation messages, environment precedence,
inline live keys, masking; component specs built from it (command lines, environment, order,
Prometheus targets)."""

from __future__ import annotations

import sys
from dataclasses import fields
from pathlib import Path

import pytest

from quantlab.errors import ArtifactError, DataError, ParameterError, UsageError
from quantlab.live.config import LiveConfig
from quantlab.serve.config import (
    ComponentEntry,
    RunnerEntry,
    ServeConfig,
    ServeSettings,
    component_id,
    mask,
)
from quantlab.serve.specs import build_specs, prometheus_targets
from tests.live.helpers import promote_flip

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "serve.example.toml"


def write(tmp_path: Path, text: str, name: str = "serve.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


# -- defaults and the example ------------------------------------------------------------------


def test_defaults_are_the_documented_values() -> None:
    c = ServeConfig.load(env={})
    s = c.serve
    assert (s.host, s.port, s.token_env, s.state_dir, s.mode) == (
        "127.0.0.1", 4000, "QUANTLAB_API_TOKEN", "state", "paper")
    assert (s.restart_backoff_s, s.max_backoff_s, s.max_restarts, s.restart_window_s) == (
        1.0, 60.0, 5, 300.0)
    assert (s.health_interval_s, s.health_timeout_s, s.unhealthy_after) == (2.0, 2.0, 3)
    assert (s.rate_limit_per_s, s.rate_limit_burst) == (20.0, 40)
    assert c.runners == () and c.live_config is None and c.live_inline == {}
    assert [(x.name, x.enabled) for x in c.components] == [("data_engine", False),
                                                          ("nightly", False)]
    nightly = c.components[1]
    assert nightly.command == ("quantlab", "report", "nightly") and nightly.at == "02:00"
    assert c.source == "defaults"


def test_example_file_documents_every_key_with_its_default() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    for cls in (ServeSettings, RunnerEntry, ComponentEntry):
        for f in fields(cls):
            assert f"\n{f.name} = " in text, f"{cls.__name__}.{f.name} not in the example"
    c = ServeConfig.load(EXAMPLE, env={})
    assert c.serve == ServeSettings()
    assert [r.name for r in c.runners] == ["btc_sma", "eth_sma"]
    assert all(c.runner_mode(r) == "paper" and r.port is None and r.version is None
               for r in c.runners)
    assert c.live_config == "live.example.toml"
    LiveConfig.load(ROOT / c.live_config, env={})  # the shared live config it names is valid


# -- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize("text,message", [
    ("[serv]\n", "unknown section [serv] (did you mean 'serve'?)"),
    ("[serve]\nprot = 1\n", "unknown key 'prot' in [serve] (did you mean 'port'?)"),
    ("[[runner]]\nname = 'a'\nstrategy_name = 'x'\n",
     "unknown key 'strategy_name' in [[runner]] #1 (did you mean 'strategy'?)"),
    ("[components.x]\ncommand = ['a']\nhealth = 'http://h'\n",
     "unknown key 'health' in [components.x] (did you mean 'health_url'?)"),
    ("[live]\nconfg = 'a'\n", "unknown key 'confg' in [live] (did you mean 'config'?)"),
    ("[live.risk]\nmax_drawdwn = 0.1\n",
     "unknown key 'max_drawdwn' in [live.risk] (did you mean 'max_drawdown'?)"),
])
def test_unknown_names_are_refused_with_a_suggestion(tmp_path, text, message) -> None:
    p = write(tmp_path, text)
    with pytest.raises(ParameterError) as exc:
        ServeConfig.load(p, env={})
    assert str(exc.value) == f"{p}: {message}"


@pytest.mark.parametrize("text,fragment", [
    ("[serve]\nport = 70000\n", "[serve] port=70000 must be"),
    ("[serve]\nmode = 'papr'\n", "[serve] mode='papr': unknown mode 'papr'"),
    ("[serve]\nmax_restarts = -1\n", "[serve] max_restarts=-1 must be"),
    ("[[runner]]\nstrategy = 'x'\n", "[[runner]] #1 has no name"),
    ("[[runner]]\nname = 'a b'\n", "name='a b' must be letters, digits"),
    ("[[runner]]\nname = 'a'\nversion = 0\n", "version=0 must be"),
    ("[components.x]\ncommand = 'run me'\n", "command='run me' must be a list"),
    ("[components.x]\nenabled = true\n", "component 'x' is enabled but has no command"),
    ("[components.x]\ncommand = ['a']\nat = '25:00'\n", "at='25:00' must be a UTC time"),
    ("[components.x]\ncommand = ['a']\nrestart = 'never'\n", "restart='never' must be one of"),
    ("[components.x]\ncommand = ['a']\nhealth_url = 'localhost:1'\n",
     "health_url='localhost:1' must be an http"),
    ("[[runner]]\nname = 'x'\n[components.x]\ncommand = ['a']\n",
     "component name 'x' is used twice"),
    ("[live.api]\nport = 1\n", "[live.api] port is set by the supervisor"),
    ("[live.breaker]\ndrawdown = [0.2, 0.1, 0.3]\n", "[live.breaker] drawdown="),
])
def test_bad_values_name_the_table_and_key(tmp_path, text, fragment) -> None:
    p = write(tmp_path, text)
    with pytest.raises(ParameterError, match=r"^" + str(p)) as exc:
        ServeConfig.load(p, env={})
    assert fragment in str(exc.value)


def test_missing_or_malformed_file_is_a_data_error(tmp_path) -> None:
    with pytest.raises(DataError, match=r"serve config file .*nope\.toml does not exist"):
        ServeConfig.load(tmp_path / "nope.toml", env={})
    with pytest.raises(DataError, match="not valid TOML"):
        ServeConfig.load(write(tmp_path, "[serve\n"), env={})


# -- environment -------------------------------------------------------------------------------


def test_environment_beats_file_beats_defaults(tmp_path) -> None:
    p = write(tmp_path, "[serve]\nport = 4100\nmode = 'live'\nmax_restarts = 2\n"
                        "[[runner]]\nname = 'btc-sma'\nport = 9001\n"
                        "[[runner]]\nname = 'eth'\nmode = 'paper'\n")
    c = ServeConfig.load(p, env={})
    assert (c.serve.port, c.serve.mode, c.serve.max_restarts) == (4100, "live", 2)
    env = {"QUANTLAB_SERVE_PORT": "4200", "MODE": "simulation",
           "QUANTLAB_SERVE_RESTART_BACKOFF_S": "0.5", "RUNNER_BTC_SMA_PORT": "9100",
           "ENABLE_RUNNER_ETH": "0"}
    c = ServeConfig.load(p, env=env)
    assert (c.serve.port, c.serve.mode, c.serve.restart_backoff_s) == (4200, "paper", 0.5)
    assert c.serve.max_restarts == 2
    btc, eth = c.runners
    assert (btc.port, btc.enabled, eth.enabled) == (9100, True, False)
    assert c.runner_mode(btc) == "paper" and c.runner_mode(eth) == "paper"
    assert c.source == (f"{p} + env QUANTLAB_SERVE_PORT,MODE,QUANTLAB_SERVE_RESTART_BACKOFF_S,"
                        f"RUNNER_BTC_SMA_PORT,ENABLE_RUNNER_ETH")
    # the QUANTLAB_ spelling of the mode wins over MODE; backtest is replay
    c = ServeConfig.load(p, env={"MODE": "live", "QUANTLAB_SERVE_MODE": "backtest"})
    assert c.serve.mode == "replay"


def test_enable_switches_turn_components_on_and_off(tmp_path) -> None:
    p = write(tmp_path, "[components.data_engine]\ncommand = ['quantlab', 'data', 'x']\n"
                        "[components.mine]\ncommand = ['sleep', '1']\n")
    c = ServeConfig.load(p, env={})
    assert {x.name: x.enabled for x in c.components} == {"data_engine": False,
                                                         "nightly": False, "mine": True}
    c = ServeConfig.load(p, env={"ENABLE_DATA_ENGINE": "1", "ENABLE_NIGHTLY": "yes",
                                 "ENABLE_MINE": "false"})
    assert {x.name: x.enabled for x in c.components} == {"data_engine": True,
                                                         "nightly": True, "mine": False}
    with pytest.raises(ParameterError, match="'data_engine' is enabled but has no command"):
        ServeConfig.load(env={"ENABLE_DATA_ENGINE": "1"})


def test_bad_environment_values_name_the_variable() -> None:
    with pytest.raises(ParameterError, match=r"^environment variable QUANTLAB_SERVE_PORT="
                                             r"'abc': .*must be a number"):
        ServeConfig.load(env={"QUANTLAB_SERVE_PORT": "abc"})
    with pytest.raises(ParameterError, match=r"^environment variable ENABLE_NIGHTLY='maybe'"):
        ServeConfig.load(env={"ENABLE_NIGHTLY": "maybe"})
    with pytest.raises(ParameterError, match="mode='sim'"):
        ServeConfig.load(env={"MODE": "sim"})


def test_component_ids() -> None:
    assert component_id("data_engine") == "DATA_ENGINE"
    assert component_id("btc-sma.v2", runner=True) == "RUNNER_BTC_SMA_V2"


def test_inline_live_keys_reach_runners_unless_the_environment_sets_them(tmp_path) -> None:
    p = write(tmp_path, "[live.risk]\nmax_drawdown = 0.2\nrisk_per_trade = 'off'\n"
                        "[live.breaker]\ndrawdown = [0.05, 'off', 0.3]\n"
                        "[live.runner]\nwebsocket = false\n")
    c = ServeConfig.load(p, env={})
    assert c.live_inline == {"risk": {"max_drawdown": 0.2, "risk_per_trade": None},
                             "breaker": {"drawdown": (0.05, None, 0.3)},
                             "runner": {"websocket": False}}
    assert c.live_env({}) == {"QUANTLAB_RISK_MAX_DRAWDOWN": "0.2",
                              "QUANTLAB_RISK_RISK_PER_TRADE": "off",
                              "QUANTLAB_BREAKER_DRAWDOWN": "0.05,off,0.3",
                              "QUANTLAB_RUNNER_WEBSOCKET": "false"}
    # a bare MAX_DRAWDOWN in the environment beats the inline key: it is not passed on
    env = c.live_env({"MAX_DRAWDOWN": "0.1"})
    assert "QUANTLAB_RISK_MAX_DRAWDOWN" not in env
    assert LiveConfig.load(None, {"MAX_DRAWDOWN": "0.1", **env}).risk.max_drawdown == 0.1
    cfg = LiveConfig.load(None, c.live_env({}))
    assert cfg.breaker.drawdown == (0.05, None, 0.3) and cfg.runner.websocket is False


def test_mask_hides_secret_values_and_known_secrets_but_not_variable_names() -> None:
    value = {"token_env": "QUANTLAB_API_TOKEN", "api_token": "abc", "password": None,
             "note": "uses tok-123456 twice: tok-123456", "list": [{"secret": "s"}, "tok-123456"]}
    assert mask(value, ["tok-123456", ""]) == {
        "token_env": "QUANTLAB_API_TOKEN", "api_token": "***", "password": None,
        "note": "uses *** twice: ***", "list": [{"secret": "***"}, "***"]}


def test_to_dict_masks_component_env_secrets_and_digest_follows_changes(tmp_path) -> None:
    p = write(tmp_path, "[components.x]\ncommand = ['run', '--key', 'k-987654321']\n"
                        "env = { API_KEY = 'k-987654321', LEVEL = '2' }\n")
    c = ServeConfig.load(p, env={})
    d = c.to_dict(["k-987654321"])
    x = d["components"][2]
    assert x["env"] == {"API_KEY": "***", "LEVEL": "2"}
    assert x["command"] == ["run", "--key", "***"]
    assert "k-987654321" not in str(d)
    assert c.digest() == ServeConfig.load(p, env={}).digest()
    assert c.digest() != ServeConfig.load(p, env={"QUANTLAB_SERVE_PORT": "4001"}).digest()


# -- component specs ---------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    promote_flip(tmp_path / "strategies", name="flip")
    (tmp_path / "live.toml").write_text("[exchange]\nurl = \"http://127.0.0.1:1\"\n"
                                        "[api]\ntoken_env = \"MY_TOKEN\"\n")
    return tmp_path


def test_runner_spec_command_line_environment_and_urls(project) -> None:
    p = write(project, "[serve]\nstate_dir = 'st'\n[live]\nconfig = 'live.toml'\n"
                       "[live.risk]\nmax_drawdown = 0.3\n"
                       "[[runner]]\nname = 'a'\nstrategy = 'flip'\nport = 9123\nversion = 1\n"
                       "[components.nightly]\nenabled = true\n"
                       "[components.data_engine]\nenabled = true\ncommand = ['python', '-V']\n"
                       "health_url = 'http://127.0.0.1:8790/health'\n"
                       "metrics_url = 'http://127.0.0.1:8790/prom'\n")
    env = {"PATH": "/bin", "RISK_PER_TRADE": "0.02"}
    c = ServeConfig.load(p, env=env)
    specs = build_specs(c, env, "tok-abcdef123")
    assert [s.name for s in specs] == ["data_engine", "a", "nightly"]  # start order
    de, a, nightly = specs
    assert a.argv == (sys.executable, "-m", "quantlab", "live", "flip", "--mode", "paper",
                      "--root", "strategies", "--state", "st/a-paper.sqlite", "--data-dir",
                      "data", "--version", "1", "--config", "live.toml")
    assert a.env["QUANTLAB_API_PORT"] == "9123"
    assert a.env["MY_TOKEN"] == "tok-abcdef123"          # the token env its live config names
    assert a.env["QUANTLAB_RISK_MAX_DRAWDOWN"] == "0.3"  # inline key
    assert a.env["RISK_PER_TRADE"] == "0.02"             # inherited override
    assert a.health_url == "http://127.0.0.1:9123/health"
    assert a.restart == "always"
    live = a.info["live"]
    assert live["risk"]["max_drawdown"] == 0.3 and live["risk"]["risk_per_trade"] == 0.02
    assert live["exchange"]["url"] == "http://127.0.0.1:1"
    assert de.argv == (sys.executable, "-V") and de.kind == "command"
    assert nightly.argv == (sys.executable, "-m", "quantlab", "report", "nightly")
    assert nightly.at == "02:00" and nightly.restart == "on-failure"
    assert prometheus_targets(specs) == [
        {"targets": ["127.0.0.1:8790"],
         "labels": {"component": "data_engine", "__metrics_path__": "/prom"}},
        {"targets": ["127.0.0.1:9123"], "labels": {"component": "a"}}]


def test_runner_ports_are_free_ports_kept_when_given(project) -> None:
    p = write(project, "[[runner]]\nname = 'flip'\n[[runner]]\nname = 'b'\nstrategy = 'flip'\n"
                       "mode = 'replay'\n")
    c = ServeConfig.load(p, env={})
    a, b = build_specs(c, {})
    assert a.info["port"] != b.info["port"] and a.info["port"] > 0
    assert b.restart == "on-failure"  # a replay ends on its own
    again = build_specs(c, {}, ports={"flip": 5555, "b": 5556})
    assert [s.info["port"] for s in again] == [5555, 5556]


def test_missing_artifact_and_live_without_credentials_are_refused(project) -> None:
    c = ServeConfig.load(write(project, "[[runner]]\nname = 'nope'\n"), env={})
    with pytest.raises(ArtifactError, match="runner 'nope': no promoted strategy strategies/nope"):
        build_specs(c, {})
    c = ServeConfig.load(write(project, "[[runner]]\nname = 'flip'\nmode = 'live'\n"), env={})
    with pytest.raises(UsageError, match="'flip' runs in live mode but the exchange credentials"
                                         " QUANTLAB_API_KEY / QUANTLAB_API_SECRET are not set"):
        build_specs(c, {})
    spec, = build_specs(c, {"QUANTLAB_API_KEY": "k", "QUANTLAB_API_SECRET": "s"})
    assert "--mode" in spec.argv and spec.argv[spec.argv.index("--mode") + 1] == "live"


def test_a_bad_shared_live_config_is_reported_when_building(project) -> None:
    (project / "bad.toml").write_text("[risk]\nmax_drawdown = 2\n")
    c = ServeConfig.load(write(project, "[live]\nconfig = 'bad.toml'\n[[runner]]\nname = 'flip'\n"),
                         env={})
    with pytest.raises(ParameterError, match=r"bad.toml: \[risk\] max_drawdown=2"):
        build_specs(c, {})
