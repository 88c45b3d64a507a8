"""`quantlab risk var | backtest | stress` run in-process on the bundled sample."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quantlab.cli import main
from quantlab.risk import METHODS


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_risk_var_all_methods_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "risk", "var", "--symbols", "BTC/USDT,ETH/USDT", "--weights",
                         "0.6,0.4", "--level", "0.99", "--method", "all", "--json",
                         "--html", str(tmp_path / "var.html"))
    assert code == 0, err
    d = json.loads(out)
    assert set(d["methods"]) == set(METHODS)
    for res in d["methods"].values():
        assert res["es"] >= res["var"] > 0          # positive loss fractions, ES >= VaR
    comp = [row["component_var"] for row in d["decomposition"]["assets"]] \
        if "assets" in d["decomposition"] else None
    if comp is not None:
        assert sum(comp) == pytest.approx(d["methods"]["parametric"]["var"], rel=1e-9)
    assert (tmp_path / "var.html").stat().st_size > 1_000_000


def test_risk_backtest_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "risk", "backtest", "--symbols", "BTC/USDT", "--method", "historical",
                         "--window", "250", "--level", "0.99", "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["traffic_light"] in {"green", "yellow", "red"}
    assert d["n_obs"] == 2243 - 250                 # one forecast per day after the window


def test_risk_stress_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "risk", "stress", "--symbols", "BTC/USDT,ETH/USDT", "--weights",
                         "0.5,0.5", "--value", "1000", "--scenarios", "covid_crash,ftx", "--json")
    assert code == 0, err
    d = json.loads(out)
    assert "scenarios" in d and "reverse" in d and "drawdown" in d
    code, out, _ = run(capsys, "risk", "stress", "--symbols", "BTC/USDT,ETH/USDT",
                       "--scenarios", "ftx")
    assert code == 0 and "ftx" in out and "plausibility ellipsoid" in out


@pytest.mark.parametrize(("argv", "needle"), [
    (["risk", "var", "--weights", "0.5"], "1 values for 2 symbols"),
    (["risk", "var", "--weights", "0.7,0.7"], "sum to 1.4"),
    (["risk", "var", "--method", "magic"], "unknown method 'magic'"),
    (["risk", "var", "--level", "1.5"], "level"),
    (["risk", "var", "--symbols", "BTC/USDT,NOPE/USDT"], "NOPE/USDT"),
    (["risk", "backtest", "--window", "5000"], "window"),
    (["risk", "stress", "--scenarios", "martians"], "unknown scenario 'martians'"),
    (["risk", "stress", "--loss-limit", "0"], "loss"),
])
def test_risk_user_errors(capsys: pytest.CaptureFixture[str], argv: list[str], needle: str) -> None:
    code, _, err = run(capsys, *argv)
    assert code in (1, 2)
    assert needle in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_stress_without_market_asset_says_beta_step_was_skipped(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "risk", "stress", "--symbols", "ETH/USDT,SOL/USDT",
                         "--scenarios", "ftx", "--json")
    assert code == 0, err
    d = json.loads(out)
    assert [r["method"] for r in d["reverse"]] == ["uniform", "ellipsoid"]
    assert "market asset BTC/USDT is not in the portfolio" in d["notes"][0]
