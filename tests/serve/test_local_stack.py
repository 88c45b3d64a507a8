"""The local stack of `make stack` (deploy/local/): its configurations are valid and wire up."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from quantlab.live.config import LiveConfig
from quantlab.serve.config import ServeConfig
from quantlab.serve.engine_config import EngineConfig
from quantlab.serve.specs import build_specs
from tests.live.helpers import promote_builtin

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / "deploy" / "local"


def test_serve_config_starts_engine_two_runners_and_monitoring(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    for name, symbol in (("btc_sma", "BTC/USDT"), ("eth_sma", "ETH/USDT")):
        promote_builtin(tmp_path, name, "sma_cross", {"fast": 10, "slow": 50}, [symbol])
    cfg = ServeConfig.load(LOCAL / "serve.toml",
                           env={"QUANTLAB_SERVE_STRATEGIES_DIR": str(tmp_path)})
    specs = build_specs(cfg, {})
    assert [s.name for s in specs] == ["data_engine", "btc_sma", "eth_sma", "alerts",
                                       "prometheus", "alertmanager"]
    assert [s.kind for s in specs][:3] == ["command", "runner", "runner"]
    assert specs[1].info["port"] == 8771 and specs[2].info["port"] == 8772
    engine = EngineConfig.load(LOCAL / "engine.toml", env={})
    assert sorted(engine.engine.symbols) == ["BTC/USDT", "ETH/USDT"]
    live = LiveConfig.load(LOCAL / "live.toml", env={})
    # the runners read the bar store the engine of this group writes
    assert live.runner.feed == f"engine:state/bars-{engine.engine.group}.sqlite"
    assert engine.engine.timeframe == "1d"


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian prometheus) missing")
def test_prometheus_config_of_the_local_stack_is_valid(tmp_path) -> None:
    out = subprocess.run(["promtool", "check", "config", str(LOCAL / "prometheus.yml")],
                         capture_output=True, text=True, cwd=ROOT, timeout=60,
                         env={**os.environ})
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout + out.stderr
