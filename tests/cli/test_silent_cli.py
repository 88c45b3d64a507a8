"""No silent wrong answers on the command line: one-line errors, right exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from quantlab.cli import main
from quantlab.errors import StrategyError

BOOM = '''
from quantlab.strategies.base import Param, Signals, Strategy


class MyStrat(Strategy):
    name = "my_strat"
    window = Param(5, low=1)

    def signals(self, bars):
        return 1 / 0
'''


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(("argv", "text"), [
    (["--fraction", "0.5"], "--fraction only applies with --sizing fixed_fraction (--sizing is all_in)"),
    (["--risk", "0.02", "--stop-loss", "0.1"],
     "--risk only applies with --sizing risk_per_trade (--sizing is all_in)"),
    (["--target-vol", "0.3", "--sizing", "fixed_fraction"],
     "--target-vol only applies with --sizing vol_target (--sizing is fixed_fraction)"),
])
@pytest.mark.parametrize("command", ["backtest", "sweep"])
def test_backtest_option_pairs(capsys: pytest.CaptureFixture[str], command: str,
                               argv: list[str], text: str) -> None:
    extra = ["--grid", "fast=5,10", "--no-progress"] if command == "sweep" else []
    code, out, err = run(capsys, command, "--strategy", "sma_cross", *extra, *argv)
    assert code == 2 and out == ""
    assert one_line(err) == f"quantlab: error: {text}"


def test_log_needs_html(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "backtest", "--strategy", "sma_cross", "--log")
    assert code == 2
    assert one_line(err) == ("quantlab: error: --log only applies to the --html report's chart; "
                             "add --html OUT")


def test_target_vol_of_overlay_points_to_param(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "backtest", "--strategy", "sma_cross+vol_target",
                       "--target-vol", "0.3")
    assert code == 2
    assert "use --param target_vol=0.3" in one_line(err)


def test_user_strategy_exception_is_one_line(capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path) -> None:
    path = tmp_path / "boom.py"
    path.write_text(BOOM, encoding="utf-8")
    code, out, err = run(capsys, "backtest", "--strategy", f"{path}:MyStrat")
    assert code == 1 and out == ""
    assert one_line(err) == ("quantlab: error: strategy my_strat raised ZeroDivisionError: "
                             "division by zero in signals()")


def test_user_strategy_exception_in_sweep(capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path) -> None:
    path = tmp_path / "boom.py"
    path.write_text(BOOM, encoding="utf-8")
    code, _, err = run(capsys, "sweep", "--strategy", f"{path}:MyStrat", "--grid", "window=3,4",
                       "--no-progress")
    assert code == 1
    assert "strategy my_strat raised ZeroDivisionError: division by zero" in one_line(err)


def test_debug_keeps_the_original_traceback(tmp_path: Path) -> None:
    path = tmp_path / "boom.py"
    path.write_text(BOOM, encoding="utf-8")
    with pytest.raises(StrategyError) as err:
        main(["--debug", "backtest", "--strategy", f"{path}:MyStrat"])
    assert isinstance(err.value.__cause__, ZeroDivisionError)


def test_boolean_like_param_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "backtest", "--strategy", "sma_cross", "--param", "fast=true")
    assert code == 2
    assert one_line(err) == "quantlab: error: parameter sma_cross.fast='true' is not a valid int"


# ------------------------------------------------------------------ risk, stress, rebalance

def _json(out: str) -> dict:
    import json

    return json.loads(out)


@pytest.mark.parametrize(("argv", "text"), [
    (["risk", "var", "--method", "historical", "--seed", "7"],
     "--seed only applies to the simulation methods monte_carlo and fhs (--method is historical)"),
    (["risk", "backtest", "--method", "parametric", "--seed", "7"],
     "--seed only applies to the simulation methods monte_carlo and fhs (--method is parametric)"),
    (["risk", "stress", "--seed", "7"], "--seed has no effect on risk stress (nothing is simulated)"),
    (["risk", "var", "--symbols", "BTC/USDT,btc_usdt"], "--symbols lists BTC/USDT twice"),
    (["risk", "var", "--symbols", "BTC/USDT,bitcoin"], "--symbols: 'bitcoin' is not a symbol like BTC/USDT"),
    (["rebalance", "backtest", "--symbols", "BTC/USDT,ETH/USDT", "--target", "0.5,0.5",
      "--lookback", "30"],
     "--lookback only applies when --target is an optimizer (--target 0.5,0.5 is fixed weights)"),
    (["rebalance", "backtest", "--symbols", "BTC/USDT,ETH/USDT", "--target", "0.5,0.3,0.2"],
     "--target has 3 weights for 2 symbols"),
    (["rebalance", "backtest", "--symbols", "BTC/USDT,ETH/USDT", "--target", "0.5,half"],
     "--target '0.5,half' must be a method (equal, inverse_vol, min_variance, max_sharpe, erc, "
     "hrp, min_cvar) or comma-separated weights"),
])
def test_risk_and_rebalance_option_pairs(capsys: pytest.CaptureFixture[str], argv: list[str],
                                         text: str) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert one_line(err) == f"quantlab: error: {text}"


def test_seed_with_a_simulation_method_is_fine(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "risk", "var", "--method", "historical,monte_carlo", "--seed", "7",
                       "--json")
    assert code == 0 and "monte_carlo" in _json(out)["methods"]


def test_risk_symbols_spelling_gives_same_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["risk", "var", "--method", "historical", "--weights", "0.6,0.4", "--json"]
    _, canonical, _ = run(capsys, *args, "--symbols", "BTC/USDT,ETH/USDT")
    code, odd, _ = run(capsys, *args, "--symbols", "btc_usdt,eth-usdt")
    assert code == 0
    assert _json(odd)["methods"] == _json(canonical)["methods"]


def _library(path: Path, key: str) -> Path:
    path.write_text(f'[hypothetical.my_crash]\nshocks = {{ "{key}" = -0.4 }}\ndefault = 0.0\n',
                    encoding="utf-8")
    return path


def test_stress_library_key_spellings_give_same_loss(capsys: pytest.CaptureFixture[str],
                                                     tmp_path: Path) -> None:
    losses = []
    for i, key in enumerate(["BTC/USDT", "btc_usdt", "btc/usdt", "BTC-USDT"]):
        lib = _library(tmp_path / f"lib{i}.toml", key)
        code, out, _ = run(capsys, "risk", "stress", "--weights", "0.6,0.4", "--library", str(lib),
                           "--scenarios", "my_crash", "--json")
        assert code == 0
        rows = _json(out)["scenarios"]["scenarios"]
        losses.append(next(r["portfolio_return"] for r in rows if r["scenario"] == "my_crash"))
    assert losses == [0.6 * -0.4] * 4


def test_stress_library_garbage_key_is_one_line(capsys: pytest.CaptureFixture[str],
                                                tmp_path: Path) -> None:
    lib = _library(tmp_path / "bad.toml", "BTC USDT")
    code, out, err = run(capsys, "risk", "stress", "--library", str(lib))
    assert code == 1 and out == ""
    assert one_line(err) == (f"quantlab: error: {lib}: hypothetical.my_crash.shocks.'BTC USDT' "
                             "is not a symbol (expected BASE/QUOTE, e.g. BTC/USDT)")


def test_stress_library_unknown_asset_is_one_line(capsys: pytest.CaptureFixture[str],
                                                  tmp_path: Path) -> None:
    lib = _library(tmp_path / "typo.toml", "BTC/USTD")
    code, _, err = run(capsys, "risk", "stress", "--library", str(lib))
    assert code == 2
    assert one_line(err) == (f"quantlab: error: scenario my_crash ({lib}): shock key 'BTC/USTD' "
                             "names no asset of the portfolio or of prices_or_returns (portfolio: "
                             "BTC/USDT, ETH/USDT)")


LOTS = """symbol,quantity,unit_cost,acquired
BTC/USDT,0.05,55605.2,2021-03-15
eth_usdt,1.2,1793.48,2021-03-15
ETH/USDT,0.5,2799.07,2025-12-01
"""


def test_plan_refuses_lot_after_plan_date(capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path) -> None:
    f = tmp_path / "lots.csv"
    f.write_text(LOTS, encoding="utf-8")
    code, out, err = run(capsys, "rebalance", "plan", "--holdings", str(f), "--to", "2024-12-31",
                         "--target", "0.5,0.5")
    assert code == 1 and out == ""
    assert one_line(err) == (f"quantlab: error: {f} line 4: lot of ETH/USDT acquired 2025-12-01 "
                             "is after the plan date as_of 2024-12-31 (its holding period would "
                             "be negative); fix the date or plan as of a later day")


@pytest.mark.parametrize(("argv", "text"), [
    (["--lot-method", "hifo"], "--lot-method only applies to a lots holdings file"),
    (["--band-mode", "target"], "--band-mode only applies with --bands"),
    (["--target", "0.5,0.5", "--cov", "sample"], "--cov only applies when --target is an optimizer"),
])
def test_plan_option_pairs(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                           argv: list[str], text: str) -> None:
    f = tmp_path / "positions.csv"
    f.write_text("symbol,quantity\nBTC/USDT,0.1\nETH/USDT,1\n", encoding="utf-8")
    code, _, err = run(capsys, "rebalance", "plan", "--holdings", str(f), *argv)
    assert code == 2
    assert one_line(err).startswith(f"quantlab: error: {text}")
