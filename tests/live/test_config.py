"""LiveConfig: defaults, TOML file, environment overrides (precedence), validation, secrets."""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest

from quantlab.errors import DataError, ParameterError
from quantlab.live.config import (
    SECTIONS,
    ApiConfig,
    BreakerTriggers,
    BudgetConfig,
    ExchangeConfig,
    LiveConfig,
    OrderPolicy,
    RiskLimits,
    RunnerConfig,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "live.example.toml"


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "live.toml"
    p.write_text(text, encoding="utf-8")
    return p


# -- defaults and the example file ------------------------------------------------------------


def test_defaults_are_the_documented_values() -> None:
    c = LiveConfig.load(env={})
    assert c.risk == RiskLimits(max_drawdown=0.25, risk_per_trade=None,
                                max_position_notional=None, max_order_notional=None,
                                daily_loss_limit=0.05, var_limit=None, var_confidence=0.99,
                                ewma_lambda=0.94, max_orders_per_minute=30)
    assert c.breaker.drawdown == (0.10, 0.15, 0.20)
    assert c.breaker.daily_loss == (0.03, 0.04, 0.05)
    assert c.breaker.var == (None, None, None)
    assert c.breaker.realized_vol == (None, None, None)
    assert c.breaker.consecutive_rejects == (2, 3, 5)
    assert c.breaker.staleness_bars == (1, 2, 3)
    assert c.breaker.auto_recover is True
    assert (c.api.host, c.api.port, c.api.token_env) == ("127.0.0.1", None, "QUANTLAB_API_TOKEN")
    assert c.exchange == ExchangeConfig(name="binance", api_key_env="QUANTLAB_API_KEY",
                                        secret_env="QUANTLAB_API_SECRET", url=None,
                                        sandbox=False, timeout_ms=10000, rate_limit_ms=None,
                                        timeframe=None)
    assert c.orders == OrderPolicy(type="market", limit_offset_bps=5.0, cancel_after_s=60.0,
                                   on_shutdown="cancel", max_retries=3, retry_backoff_s=0.5)
    assert c.runner == RunnerConfig(initial_cash=10_000.0, window=None, poll_interval_s=5.0,
                                    state_dir="state", reconcile_tolerance=1e-6,
                                    max_backfill_bars=1000, websocket=True, feed="exchange")
    assert c.budget == BudgetConfig(path=None, max_gross_exposure=None, max_gross_leverage=None,
                                    var_limit=None, max_drawdown=None, stale_s=3600.0)
    assert c.source == "defaults"


def test_example_file_documents_every_key_with_its_default() -> None:
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    assert list(data) == list(SECTIONS)
    for section, cls in SECTIONS.items():
        assert set(data[section]) == {f.name for f in fields(cls)}, section
    assert LiveConfig.load(EXAMPLE, env={}) == LiveConfig()


# -- file and environment, precedence ---------------------------------------------------------


FILE = """
[risk]
max_drawdown = 0.30
risk_per_trade = 0.01
max_order_notional = 5000
var_limit = "off"
[breaker]
drawdown = [0.05, "off", 0.25]
realized_vol = "off"
staleness_bars = [2, 4, 6]
auto_recover = false
[api]
port = 0
[exchange]
url = "http://127.0.0.1:8899"
timeframe = "1h"
[orders]
type = "limit"
[runner]
window = 300
initial_cash = 2500
"""


def test_file_overrides_defaults(tmp_path: Path) -> None:
    p = write(tmp_path, FILE)
    c = LiveConfig.load(p, env={})
    assert c.risk.max_drawdown == 0.30
    assert c.risk.risk_per_trade == 0.01
    assert c.risk.max_order_notional == 5000.0
    assert c.risk.var_limit is None
    assert c.risk.daily_loss_limit == 0.05          # not in the file: default
    assert c.breaker.drawdown == (0.05, None, 0.25)
    assert c.breaker.realized_vol == (None, None, None)
    assert c.breaker.staleness_bars == (2.0, 4.0, 6.0)
    assert c.breaker.auto_recover is False
    assert c.api.port == 0
    assert c.exchange.url == "http://127.0.0.1:8899"
    assert c.exchange.timeframe == "1h"
    assert c.orders.type == "limit"
    assert c.runner.window == 300 and isinstance(c.runner.window, int)
    assert c.runner.initial_cash == 2500.0
    assert c.source == str(p)


def test_env_beats_file_beats_defaults(tmp_path: Path) -> None:
    p = write(tmp_path, FILE)
    env = {"MAX_DRAWDOWN": "0.15", "RISK_PER_TRADE": "0.02", "DAILY_LOSS_LIMIT": "0.07",
           "QUANTLAB_API_PORT": "9000", "QUANTLAB_BREAKER_DRAWDOWN": "0.1,0.15,0.2",
           "QUANTLAB_EXCHANGE_SANDBOX": "true", "QUANTLAB_RUNNER_WINDOW": "none"}
    c = LiveConfig.load(p, env=env)
    assert c.risk.max_drawdown == 0.15        # env over file (0.30)
    assert c.risk.risk_per_trade == 0.02      # env over file (0.01)
    assert c.risk.daily_loss_limit == 0.07    # env over default
    assert c.risk.max_order_notional == 5000  # file over default
    assert c.risk.var_confidence == 0.99      # default
    assert c.api.port == 9000
    assert c.breaker.drawdown == (0.1, 0.15, 0.2)
    assert c.exchange.sandbox is True
    assert c.runner.window is None            # env "none" over file 300
    assert c.source.startswith(str(p) + " + env ")
    assert "MAX_DRAWDOWN" in c.source and "0.15" not in c.source


def test_namespaced_env_beats_bare_risk_name() -> None:
    c = LiveConfig.load(env={"MAX_DRAWDOWN": "0.15", "QUANTLAB_RISK_MAX_DRAWDOWN": "0.12"})
    assert c.risk.max_drawdown == 0.12
    c = LiveConfig.load(env={"MAX_DRAWDOWN": "0.15"})
    assert c.risk.max_drawdown == 0.15


def test_every_risk_key_has_a_bare_env_name() -> None:
    env = {"MAX_DRAWDOWN": "0.2", "RISK_PER_TRADE": "0.03", "MAX_POSITION_NOTIONAL": "25000",
           "MAX_ORDER_NOTIONAL": "off", "DAILY_LOSS_LIMIT": "OFF", "VAR_LIMIT": "0.08",
           "VAR_CONFIDENCE": "0.975", "EWMA_LAMBDA": "0.97", "MAX_ORDERS_PER_MINUTE": "12"}
    c = LiveConfig.load(env=env)
    assert c.risk == RiskLimits(max_drawdown=0.2, risk_per_trade=0.03,
                                max_position_notional=25000.0, max_order_notional=None,
                                daily_loss_limit=None, var_limit=0.08, var_confidence=0.975,
                                ewma_lambda=0.97, max_orders_per_minute=12)
    assert isinstance(c.risk.max_orders_per_minute, int)


def test_env_only_uses_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_DRAWDOWN", "0.11")
    monkeypatch.setenv("QUANTLAB_ORDERS_ON_SHUTDOWN", "wait")
    c = LiveConfig.load()
    assert c.risk.max_drawdown == 0.11
    assert c.orders.on_shutdown == "wait"


def test_env_trigger_with_off_entry_and_whole_trigger_off() -> None:
    c = LiveConfig.load(env={"QUANTLAB_BREAKER_VAR": "off, 0.1, 0.2",
                             "QUANTLAB_BREAKER_CONSECUTIVE_REJECTS": "off"})
    assert c.breaker.var == (None, 0.1, 0.2)
    assert c.breaker.consecutive_rejects == (None, None, None)


def test_secret_variables_are_not_configuration_keys() -> None:
    # QUANTLAB_API_KEY looks like [api] key but is the exchange key's default variable
    env = {"QUANTLAB_API_KEY": "k3y-value", "QUANTLAB_API_SECRET": "s3cret-value",
           "QUANTLAB_API_TOKEN": "t0ken-value"}
    c = LiveConfig.load(env=env)
    assert c == LiveConfig()
    assert c.api_token(env) == "t0ken-value"
    assert c.api_credentials(env) == ("k3y-value", "s3cret-value")
    text = json.dumps(c.to_dict())
    for secret in env.values():
        assert secret not in text
    assert "QUANTLAB_API_TOKEN" in text       # the variable name is recorded, not its value


def test_credentials_missing_or_empty_are_none() -> None:
    c = LiveConfig.load(env={"QUANTLAB_EXCHANGE_API_KEY_ENV": "MY_KEY"})
    assert c.exchange.api_key_env == "MY_KEY"
    assert c.api_credentials({"MY_KEY": "abc"}) == ("abc", None)
    assert c.api_token({"QUANTLAB_API_TOKEN": ""}) is None
    assert c.api_token({}) is None


def test_to_dict_and_digest() -> None:
    c = LiveConfig.load(env={})
    d = c.to_dict()
    assert list(d) == ["risk", "breaker", "api", "exchange", "orders", "runner", "budget"]
    assert d["breaker"]["drawdown"] == [0.10, 0.15, 0.20]
    assert d["risk"]["max_order_notional"] is None
    canonical = json.dumps(d, sort_keys=True, separators=(",", ":"))
    assert c.digest() == hashlib.sha256(canonical.encode()).hexdigest()
    assert LiveConfig.load(env={"MAX_DRAWDOWN": "0.25"}).digest() == c.digest()
    assert LiveConfig.load(env={"MAX_DRAWDOWN": "0.24"}).digest() != c.digest()


# -- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("[riks]\nmax_drawdown = 0.2\n", "unknown section [riks] (did you mean 'risk'?)"),
    ("[risk]\nmax_drawdwn = 0.2\n", "unknown key 'max_drawdwn' in [risk] "
                                    "(did you mean 'max_drawdown'?)"),
    ("[breaker]\nstaleness = [1, 2, 3]\n", "unknown key 'staleness' in [breaker] "
                                           "(did you mean 'staleness_bars'?)"),
    ("risk = 1\n", "risk must be a section [risk], not a value"),
])
def test_unknown_section_or_key_names_file_and_suggests(tmp_path: Path, text: str,
                                                        expected: str) -> None:
    p = write(tmp_path, text)
    with pytest.raises(ParameterError) as info:
        LiveConfig.load(p, env={})
    assert str(info.value) == f"{p}: {expected}"


@pytest.mark.parametrize(("text", "expected"), [
    ("[risk]\nmax_drawdown = 1.5\n", "[risk] max_drawdown=1.5 must be in (0, 1]"),
    ("[risk]\nmax_drawdown = 0\n", "[risk] max_drawdown=0 must be in (0, 1]"),
    ("[risk]\nmax_drawdown = \"0.2\"\n",
     "[risk] max_drawdown='0.2' must be a number in (0, 1], not str"),
    ("[risk]\nvar_confidence = 1.0\n", "[risk] var_confidence=1.0 must be in (0, 1)"),
    ("[risk]\nmax_orders_per_minute = 2.5\n",
     "[risk] max_orders_per_minute=2.5 must be a whole number >= 1"),
    ("[breaker]\ndrawdown = [0.2, 0.15, 0.3]\n",
     "[breaker] drawdown=[0.2, 0.15, 0.3] must be non-decreasing (warn <= reduce <= halt)"),
    ("[breaker]\ndrawdown = [0.1, 0.2]\n",
     "[breaker] drawdown=[0.1, 0.2] must be [warn, reduce, halt] (numbers or \"off\"), "
     "or \"off\""),
    ("[breaker]\ndaily_loss = [0.01, 2, \"off\"]\n",
     "[breaker] daily_loss reduce=2 must be in (0, 1]"),
    ("[breaker]\nauto_recover = 1\n", "[breaker] auto_recover=1 must be true or false"),
    ("[api]\nport = 70000\n", "[api] port=70000 must be a whole number in [0, 65535]"),
    ("[api]\nhost = \"\"\n", "[api] host='' must be a non-empty string"),
    ("[exchange]\ntimeframe = \"1x\"\n",
     "[exchange] timeframe='1x': invalid timeframe '1x' (expected e.g. 1m, 5m, 15m, 1h, 4h, "
     "1d, 1w, 1M)"),
    ("[orders]\ntype = \"stop\"\n", "[orders] type='stop' must be one of: market, limit"),
    ("[orders]\nmax_retries = -1\n", "[orders] max_retries=-1 must be a whole number >= 0"),
    ("[runner]\ninitial_cash = \"off\"\n",
     "[runner] initial_cash='off' must be a number > 0, not str"),
    ("[runner]\nfeed = \"engine:\"\n",
     "[runner] feed='engine:' must be \"exchange\" or \"engine:<path to the data engine's bar "
     "store>\""),
])
def test_bad_value_names_file_key_and_value(tmp_path: Path, text: str, expected: str) -> None:
    p = write(tmp_path, text)
    with pytest.raises(ParameterError) as info:
        LiveConfig.load(p, env={})
    assert str(info.value) == f"{p}: {expected}"


@pytest.mark.parametrize(("env", "expected"), [
    ({"MAX_DRAWDOWN": "abc"},
     "environment variable MAX_DRAWDOWN='abc': max_drawdown='abc' must be a number or off"),
    ({"RISK_PER_TRADE": "1.2"},
     "environment variable RISK_PER_TRADE='1.2': risk_per_trade=1.2 must be in (0, 1]"),
    ({"QUANTLAB_API_PORT": "80.5"},
     "environment variable QUANTLAB_API_PORT='80.5': port=80.5 must be a whole number in "
     "[0, 65535]"),
    ({"QUANTLAB_EXCHANGE_SANDBOX": "maybe"},
     "environment variable QUANTLAB_EXCHANGE_SANDBOX='maybe': sandbox='maybe' must be true "
     "or false"),
    ({"QUANTLAB_BREAKER_DRAWDOWN": "0.3,0.2,0.1"},
     "environment variable QUANTLAB_BREAKER_DRAWDOWN='0.3,0.2,0.1': drawdown=[0.3, 0.2, 0.1] "
     "must be non-decreasing (warn <= reduce <= halt)"),
    ({"QUANTLAB_RUNNER_INITIAL_CASH": "off"},
     "environment variable QUANTLAB_RUNNER_INITIAL_CASH='off': initial_cash='off' must be a "
     "number > 0, not str"),
])
def test_bad_env_value_names_the_variable(env: dict[str, str], expected: str) -> None:
    with pytest.raises(ParameterError) as info:
        LiveConfig.load(env=env)
    assert str(info.value) == expected


def test_bad_env_value_is_reported_even_over_a_good_file(tmp_path: Path) -> None:
    p = write(tmp_path, "[risk]\nvar_limit = 0.1\n")
    with pytest.raises(ParameterError, match=r"^environment variable VAR_LIMIT='-1'"):
        LiveConfig.load(p, env={"VAR_LIMIT": "-1"})


def test_missing_or_malformed_file_is_a_data_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(DataError) as info:
        LiveConfig.load(missing, env={})
    assert str(info.value) == f"live config file {missing} does not exist"
    assert not isinstance(info.value, ParameterError)
    bad = write(tmp_path, "[risk\nmax_drawdown = 0.2\n")
    with pytest.raises(DataError, match=r"live\.toml: not valid TOML: .*line 1"):
        LiveConfig.load(bad, env={})


def test_budget_section_from_file_and_env(tmp_path: Path) -> None:
    p = write(tmp_path, '[budget]\npath = "state/budget.sqlite"\nmax_gross_exposure = 25000\n'
                        'max_drawdown = 0.2\nstale_s = 120\n')
    c = LiveConfig.load(p, env={"QUANTLAB_BUDGET_VAR_LIMIT": "0.05",
                                "QUANTLAB_BUDGET_MAX_GROSS_LEVERAGE": "1.5"})
    assert c.budget == BudgetConfig(path="state/budget.sqlite", max_gross_exposure=25_000.0,
                                    max_gross_leverage=1.5, var_limit=0.05, max_drawdown=0.2,
                                    stale_s=120.0)
    assert LiveConfig.load(env={"QUANTLAB_BUDGET_PATH": "off"}).budget.path is None
    with pytest.raises(ParameterError, match=r"^.*live\.toml: \[budget\] max_gross_exposure=0 "):
        LiveConfig.load(write(tmp_path, "[budget]\nmax_gross_exposure = 0\n"), env={})


def test_sections_validate_when_built_directly() -> None:
    assert BreakerTriggers(drawdown=[0.1, 0.2, 0.3]).drawdown == (0.1, 0.2, 0.3)
    assert RiskLimits(max_order_notional="off").max_order_notional is None
    with pytest.raises(ParameterError, match=r"^daily_loss_limit=0 must be in \(0, 1\]$"):
        RiskLimits(daily_loss_limit=0)
    with pytest.raises(ParameterError,
                       match=r"^port=-1 must be a whole number in \[0, 65535\]$"):
        ApiConfig(port=-1)
    with pytest.raises(ParameterError, match=r"^consecutive_rejects warn=0 must be"):
        BreakerTriggers(consecutive_rejects=(0, 1, 2))
