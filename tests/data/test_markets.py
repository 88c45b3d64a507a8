"""`fetch_markets` / `quantlab data markets`: real ccxt against the local fake Binance server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quantlab.cli import main
from quantlab.data.markets import fetch_markets, markets_path
from quantlab.errors import UnknownSymbolError
from quantlab.portfolio.markets import load_markets

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "holdings.csv"


def test_fetch_markets_writes_rules_plans_can_use(fake_binance, tmp_path):
    path = fetch_markets(fake_binance.exchange(), data_dir=tmp_path, retry_delay=0.01)
    assert path == markets_path("binance", tmp_path)
    doc = json.loads(path.read_text())
    assert doc["_meta"]["exchange"] == "binance" and doc["_meta"]["precision_mode"] == "tick"
    rules = load_markets(path)
    sol = rules["SOL/USDT"]          # the fake server's LOT_SIZE / NOTIONAL filters for SOLUSDT
    assert sol.amount_step == pytest.approx(0.001) and sol.min_notional == pytest.approx(5.0)
    assert rules["BTC/USDT"].amount_step == pytest.approx(0.00001)
    assert sol.check(0.0499, 100.0) == "below min notional 5"
    one = fetch_markets(fake_binance.exchange(), symbols="ETH/USDT", data_dir=tmp_path / "x")
    assert list(json.loads(one.read_text())["markets"]) == ["ETH/USDT"]
    with pytest.raises(UnknownSymbolError, match="FOO/USDT"):
        fetch_markets(fake_binance.exchange(), symbols="FOO/USDT", data_dir=tmp_path)


def test_plan_prefers_cached_rules(fake_binance, tmp_path, capsys):
    fetch_markets(fake_binance.exchange(), data_dir=tmp_path)
    argv = ["rebalance", "plan", "--holdings", str(EXAMPLE), "--symbols", "BTC/USDT,ETH/USDT,SOL/USDT",
            "--target", "0.4,0.3,0.3", "--data-dir", str(tmp_path)]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "SOL/USDT" not in err                      # rules now come from the cached file
    assert "no exchange rules for ADA/USDT" in err    # the fake exchange lists only BTC, ETH, SOL
