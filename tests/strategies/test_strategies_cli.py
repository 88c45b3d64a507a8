"""``quantlab strategies`` command."""

from __future__ import annotations

import argparse
import importlib.util
import json

import pytest

from quantlab.cli import strategies_cmd

BUILTINS = {"sma_cross", "rsi_reversion", "donchian_breakout", "momentum_rotation"}
FULL_CLI = all(
    importlib.util.find_spec(f"quantlab.cli.{m}") is not None
    for m in ("backtest_cmd", "data_cmd", "demo_cmd")
)


def run_local(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="quantlab")
    strategies_cmd.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def check_json(out: str) -> None:
    doc = json.loads(out)
    names = {s["name"] for s in doc["strategies"]}
    assert BUILTINS <= names
    sma = next(s for s in doc["strategies"] if s["name"] == "sma_cross")
    fast = next(p for p in sma["parameters"] if p["name"] == "fast")
    assert fast == {
        "name": "fast",
        "type": "int",
        "default": 10,
        "low": 1,
        "high": 1000,
        "choices": None,
        "grid": [5, 50, 5],
        "doc": "fast SMA window (bars)",
        "describe": "int=10 [1, 1000]",
    }
    assert sma["kind"] == "signals" and sma["description"]
    overlay = doc["overlays"][0]
    assert overlay["suffix"] == "+vol_target"
    assert [p["name"] for p in overlay["parameters"]] == [
        "target_vol",
        "vol_lookback",
        "max_leverage",
    ]


def test_strategies_json_local_parser(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_local(["strategies", "--json"]) == 0
    check_json(capsys.readouterr().out)


def test_strategies_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_local(["strategies"]) == 0
    out = capsys.readouterr().out
    for name in BUILTINS:
        assert name in out
    assert "+vol_target" in out


def test_strategies_detail(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_local(["strategies", "sma_cross+vol_target"]) == 0
    out = capsys.readouterr().out
    assert "target_vol" in out and "fast SMA window" in out
    assert run_local(["strategies", "rsi_reversion", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["warmup"].startswith("window + 1")


@pytest.mark.skipif(not FULL_CLI, reason="other CLI command modules not present yet")
def test_strategies_json_via_main(capsys: pytest.CaptureFixture[str]) -> None:
    from quantlab.cli import main

    assert main(["strategies", "--json"]) == 0
    check_json(capsys.readouterr().out)


@pytest.mark.skipif(not FULL_CLI, reason="other CLI command modules not present yet")
def test_unknown_strategy_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    from quantlab.cli import main

    assert main(["strategies", "sma_crss"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Did you mean 'sma_cross'" in err
