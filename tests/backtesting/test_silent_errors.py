"""No silent wrong answers in the backtest API: option pairs, wrong types, strategy bugs."""

from __future__ import annotations

import pandas as pd
import pytest

from quantlab.backtesting import backtest, sweep
from quantlab.backtesting.options import BacktestOptions
from quantlab.errors import DataError, ParameterError, QuantlabError, StrategyError
from quantlab.strategies.base import Param, Signals, Strategy


class Boom(Strategy):
    """Divides by zero inside signals()."""

    name = "boom"
    window = Param(5, low=1)

    def signals(self, bars: pd.DataFrame) -> Signals:
        return Signals(entries=bars["close"] / 0 > 1 / 0, exits=bars["close"] < 0)


class BadValidate(Strategy):
    """A bug in validate()."""

    window = Param(5, low=1)

    def validate(self) -> None:
        {}["missing"]


@pytest.mark.parametrize(("options", "text"), [
    ({"fraction": 0.5}, "fraction=0.5 only applies with sizing='fixed_fraction' (sizing='all_in')"),
    ({"risk": 0.02, "stop_loss": 0.1}, "risk=0.02 only applies with sizing='risk_per_trade'"),
    ({"target_vol": 0.3, "sizing": "fixed_fraction"},
     "target_vol=0.3 only applies with sizing='vol_target' (sizing='fixed_fraction')"),
    ({"vol_lookback": 20}, "vol_lookback=20 only applies with sizing='vol_target'"),
])
def test_sizing_options_need_their_sizing(options: dict, text: str) -> None:
    with pytest.raises(ParameterError) as err:
        BacktestOptions(**options)
    assert text in str(err.value)


def test_sizing_defaults_apply_only_to_their_sizing() -> None:
    assert BacktestOptions().fraction is None
    assert BacktestOptions(sizing="fixed_fraction").fraction == 1.0
    opts = BacktestOptions(sizing="vol_target")
    assert (opts.target_vol, opts.vol_lookback) == (0.5, 30)
    assert BacktestOptions(sizing="risk_per_trade", stop_loss=0.1).risk == 0.01


def test_backtest_api_refuses_fraction_with_all_in(btc: pd.DataFrame) -> None:
    with pytest.raises(ParameterError, match=r"fraction=0\.5 only applies with sizing='fixed_fraction'"):
        backtest("sma_cross", btc, fraction=0.5)


def test_overlay_parameter_given_as_option_is_refused(btc: pd.DataFrame) -> None:
    with pytest.raises(ParameterError, match=r"target_vol is a parameter of sma_cross\+vol_target"):
        backtest("sma_cross+vol_target", btc, target_vol=0.3)


@pytest.mark.parametrize("name", ["fees_bps", "slippage_bps", "init_cash", "stop_loss"])
def test_booleans_are_not_numbers_in_options(name: str) -> None:
    with pytest.raises(ParameterError, match=f"{name}=True must be a number, not bool"):
        BacktestOptions(**{name: True})


def test_boolean_fraction_refused() -> None:
    with pytest.raises(ParameterError, match="fraction=True must be a number"):
        BacktestOptions(sizing="fixed_fraction", fraction=True)


@pytest.mark.parametrize("value", [True, False])
def test_booleans_are_not_strategy_numbers(btc: pd.DataFrame, value: bool) -> None:
    with pytest.raises(ParameterError) as err:
        backtest("sma_cross", btc, params={"fast": value})
    assert f"parameter sma_cross.fast={value!r} is not a valid int" in str(err.value)


def test_params_must_be_a_dict(btc: pd.DataFrame) -> None:
    with pytest.raises(ParameterError) as err:
        backtest("sma_cross", btc, params=[10, 50])
    assert "params must be a dict of parameter name -> value" in str(err.value)
    assert "list [10, 50]" in str(err.value)


def test_string_in_close_column_is_a_data_error(btc: pd.DataFrame) -> None:
    bars = btc.iloc[:100].copy()
    bars["close"] = bars["close"].astype(object)
    bars.iloc[42, bars.columns.get_loc("close")] = "n/a"
    with pytest.raises(DataError) as err:
        backtest("sma_cross", bars)
    msg = str(err.value)
    assert "column close is not numeric" in msg
    assert f"row 42 ({bars.index[42]})" in msg and "'n/a'" in msg


def test_exception_in_signals_names_strategy_and_exception(btc: pd.DataFrame) -> None:
    with pytest.raises(StrategyError) as err:
        backtest(Boom, btc)
    assert str(err.value) == ("strategy boom raised ZeroDivisionError: division by zero "
                              "in signals()")
    assert isinstance(err.value.__cause__, ZeroDivisionError)   # traceback kept for --debug


def test_exception_in_signals_during_sweep(btc: pd.DataFrame) -> None:
    with pytest.raises(StrategyError, match="strategy boom raised ZeroDivisionError"):
        sweep(Boom, btc, window=[3, 4], progress=False)


def test_exception_in_validate_is_a_strategy_error() -> None:
    with pytest.raises(StrategyError) as err:
        BadValidate()
    assert str(err.value) == "strategy BadValidate raised KeyError: 'missing' in validate()"


def test_quantlab_errors_from_strategies_pass_through(btc: pd.DataFrame) -> None:
    class Picky(Strategy):
        def signals(self, bars: pd.DataFrame) -> Signals:
            raise DataError("needs volume")

    with pytest.raises(QuantlabError) as err:
        backtest(Picky, btc)
    assert type(err.value) is DataError and str(err.value) == "needs volume"
