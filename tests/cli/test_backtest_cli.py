"""`quantlab backtest`, `quantlab sweep` and `quantlab demo` run in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quantlab.backtesting import STAT_NAMES
from quantlab.cli import main
from quantlab.cli.backtest_cmd import parse_grid
from quantlab.errors import ParameterError


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_backtest_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "backtest", "--strategy", "sma_cross", "--symbols", "BTC/USDT",
                       "--param", "fast=10", "--param", "slow=50", "--json")
    assert code == 0
    d = json.loads(out)
    for name in STAT_NAMES:
        assert name in d
    assert d["trades"] == 25                       # positions opened, see test_invariants
    assert d["total_return"] == pytest.approx(9.3042, abs=1e-4)  # a fraction, not percent
    assert d["params"] == {"fast": 10, "slow": 50}


def test_backtest_period_fees_and_html(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    html = tmp_path / "out" / "bt.html"
    code, out, err = run(capsys, "backtest", "--strategy", "sma_cross", "--from", "2022-01-01",
                         "--to", "2022-12-31", "--fees-bps", "0", "--html", str(html), "--json")
    assert code == 0
    d = json.loads(out)
    assert d["start"].startswith("2022-01-01") and d["end"].startswith("2022-12-31")
    assert d["fees_paid"] == 0
    text = html.read_text()
    assert "plotly" in text and "<table" in text and len(text) > 1_000_000  # plotly.js embedded
    assert "wrote" in err


def test_sweep_json_and_table(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "sweep", "--strategy", "sma_cross", "--grid", "fast=5:15:5",
                       "--grid", "slow=20,50", "--json", "--html", str(tmp_path / "s.html"))
    assert code == 0
    d = json.loads(out)
    assert d["combinations"] == 6 and d["rejected"] == 0
    assert len(d["results"]) == 6
    assert {"fast", "slow", "sharpe", "trades"} <= set(d["results"][0])
    assert (tmp_path / "s.html").exists()
    code, out, _ = run(capsys, "sweep", "--strategy", "sma_cross", "--grid", "fast=5:15:5",
                       "--grid", "slow=20,50", "--top", "3", "--no-progress")
    assert code == 0 and "top 3 by sharpe" in out


@pytest.mark.parametrize(("argv", "code", "needle"), [
    (["backtest", "--strategy", "sma_crss"], 2, "sma_cross"),
    (["backtest", "--strategy", "sma_cross", "--param", "fast=50", "--param", "slow=20"], 2,
     "fast (50) must be smaller than slow (20)"),
    (["backtest", "--strategy", "sma_cross", "--param", "fast=ten"], 2, "fast"),
    (["backtest", "--strategy", "sma_cross", "--param", "speed=3"], 2, "speed"),
    (["backtest", "--strategy", "sma_cross", "--symbols", "FOO/USDT"], 2, "FOO/USDT"),
    (["backtest", "--strategy", "sma_cross", "--from", "2024-01-01", "--to", "2023-01-01"], 2,
     "after end"),
    (["backtest", "--strategy", "sma_cross", "--fees-bps", "-5"], 2, "fees_bps"),
    (["backtest", "--strategy", "sma_cross", "--sizing", "risk_per_trade"], 2, "stop_loss"),
    (["backtest", "--strategy", "momentum_rotation"], 2, "several symbols"),
    (["backtest", "--strategy", "missing_file.py:X"], 2, "missing_file.py"),
    (["sweep", "--strategy", "sma_cross"], 2, "--grid"),
    (["sweep", "--strategy", "sma_cross", "--grid", "fast=9:2"], 2, "below start"),
    (["sweep", "--strategy", "sma_cross", "--grid", "fast"], 2, "NAME="),
    (["sweep", "--strategy", "sma_cross", "--grid", "fast=50:60", "--grid", "slow=10:20"], 2,
     "no valid parameter combination"),
])
def test_user_errors_are_one_line(capsys: pytest.CaptureFixture[str], argv: list[str], code: int,
                                  needle: str) -> None:
    got, _out, err = run(capsys, *argv)
    assert got == code
    assert needle in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_parse_grid() -> None:
    assert parse_grid(["fast=2:5"]) == {"fast": [2, 3, 4, 5]}
    assert parse_grid(["x=0.1:0.3:0.1"]) == {"x": [0.1, 0.2, 0.3]}
    assert parse_grid(["k=1,3,5"]) == {"k": [1, 3, 5]}
    with pytest.raises(ParameterError):
        parse_grid(["fast=2:5:0"])


def test_demo_writes_reports(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "demo", "--out", str(tmp_path), "--max-window", "20")
    assert code == 0
    assert "total_return" in out and "171 (fast, slow) combinations" in out
    assert (tmp_path / "backtest.html").stat().st_size > 1_000_000
    assert (tmp_path / "sweep.html").stat().st_size > 1_000_000


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("data", "strategies", "backtest", "sweep", "demo"):
        assert cmd in out
