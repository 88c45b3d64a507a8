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
    (["--log"], "--log only applies to the --html report's chart; add --html OUT"),
])
@pytest.mark.parametrize("command", ["backtest", "sweep"])
def test_backtest_option_pairs(capsys: pytest.CaptureFixture[str], command: str,
                               argv: list[str], text: str) -> None:
    extra = ["--grid", "fast=5,10", "--no-progress"] if command == "sweep" else []
    if command == "sweep" and argv == ["--log"]:
        pytest.skip("sweep has no --log")
    code, out, err = run(capsys, command, "--strategy", "sma_cross", *extra, *argv)
    assert code == 2 and out == ""
    assert one_line(err) == f"quantlab: error: {text}"


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
