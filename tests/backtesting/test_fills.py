"""Hand-computed fixtures for the fill model, fees, slippage, sizing and stops.

Every expected number below is worked out by hand from the ARCHITECTURE.md conventions:
signal on bar t's close -> fill at bar t+1's open; an all-in buy spends units x price x (1+fee);
a sell receives units x price x (1-fee); slippage moves the price against the trader.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantlab.backtesting import backtest
from quantlab.errors import ParameterError
from quantlab.strategies.base import Signals, Strategy

IDX = pd.date_range("2024-01-01", periods=6, freq="D", tz="UTC", name="time")


def bars(open_, high, low, close) -> pd.DataFrame:
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close,
                         "volume": 1.0}, index=IDX[: len(close)], dtype=float)


class Scripted(Strategy):
    """Test strategy replaying fixed signal lists (index positions)."""

    name = ""
    entry_at: tuple[int, ...] = ()
    exit_at: tuple[int, ...] = ()

    def signals(self, b: pd.DataFrame) -> Signals:
        n = len(b)
        e = np.zeros(n, bool)
        x = np.zeros(n, bool)
        e[[i for i in self.entry_at if i < n]] = True
        x[[i for i in self.exit_at if i < n]] = True
        return Signals(entries=pd.Series(e, b.index), exits=pd.Series(x, b.index))


def scripted(entries: tuple[int, ...], exits: tuple[int, ...]) -> Strategy:
    cls = type("S", (Scripted,), {"entry_at": entries, "exit_at": exits})
    return cls()


# Rising market: opens 100, 110, 120, 130, 140, 150; closes 5 above the open.
OPEN = [100, 110, 120, 130, 140, 150]
CLOSE = [105, 115, 125, 135, 145, 155]
HIGH = [106, 116, 126, 136, 146, 156]
LOW = [99, 109, 119, 129, 139, 149]
RISING = bars(OPEN, HIGH, LOW, CLOSE)


def test_next_open_fill_with_fees() -> None:
    # Enter on bar 0's close -> buy at bar 1's open 110; exit on bar 2 -> sell at bar 3's open 130.
    res = backtest(scripted((0,), (2,)), RISING, fees_bps=10)
    units = 10_000 / (110 * 1.001)                   # 90.818272636454...
    assert res.orders["price"].tolist() == [110.0, 130.0]
    assert res.orders["size"].iloc[0] == pytest.approx(90.81827263645446, rel=1e-12)
    final = units * 130 * (1 - 0.001)                # 11794.569...
    assert res.equity.iloc[-1] == pytest.approx(final, rel=1e-12)
    assert res.equity.iloc[-1] == pytest.approx(11794.569067296, rel=1e-10)  # 90.8182726364 x 129.87
    # bar 0: flat -> 10,000; bar 1: long, marked at close 115.
    assert res.equity.iloc[0] == 10_000
    assert res.equity.iloc[1] == pytest.approx(units * 115, rel=1e-12)
    fees = 10_000 / 1.001 * 0.001 + units * 130 * 0.001
    assert res.stats()["fees_paid"] == pytest.approx(fees, rel=1e-12)
    assert res.stats()["trades"] == 1
    assert res.stats()["total_return"] == pytest.approx(final / 10_000 - 1, rel=1e-12)


def test_close_fill_is_same_bar() -> None:
    res = backtest(scripted((0,), (2,)), RISING, fees_bps=0, fill="close")
    assert res.orders["price"].tolist() == [105.0, 125.0]
    assert res.equity.iloc[-1] == pytest.approx(10_000 / 105 * 125, rel=1e-12)


def test_slippage_moves_price_against_trader() -> None:
    res = backtest(scripted((0,), (2,)), RISING, fees_bps=0, slippage_bps=50)
    assert res.orders["price"].tolist() == pytest.approx([110 * 1.005, 130 * 0.995])
    units = 10_000 / 110.55
    assert res.equity.iloc[-1] == pytest.approx(units * 129.35, rel=1e-12)


def test_open_position_marked_at_last_close() -> None:
    res = backtest(scripted((1,), ()), RISING, fees_bps=10)
    units = 10_000 / (120 * 1.001)
    assert res.equity.iloc[-1] == pytest.approx(units * 155, rel=1e-12)
    s = res.stats()
    assert s["open_trades"] == 1 and s["trades"] == 1
    assert np.isnan(s["win_rate"])                    # no closed trade
    assert res.trades["status"].tolist() == ["open"]


def test_signal_on_last_bar_is_not_filled() -> None:
    res = backtest(scripted((5,), ()), RISING)
    assert len(res.orders) == 0
    assert res.equity.iloc[-1] == 10_000


def test_fixed_fraction_spends_share_of_cash() -> None:
    res = backtest(scripted((0,), ()), RISING, fees_bps=10, sizing="fixed_fraction", fraction=0.5)
    # vectorbt's percent sizing: the fraction of cash spent *including* the fee.
    assert res.orders["notional"].iloc[0] * 1.001 == pytest.approx(5_000, rel=1e-12)
    assert res.cash.iloc[-1] == pytest.approx(5_000, rel=1e-12)


def test_risk_per_trade_fraction_is_risk_over_stop() -> None:
    res = backtest(scripted((0,), ()), RISING, fees_bps=0, sizing="risk_per_trade",
                   risk=0.02, stop_loss=0.10)
    # 2 % risk with a 10 % stop -> commit 20 % of cash.
    assert res.orders["notional"].iloc[0] == pytest.approx(2_000, rel=1e-12)


def test_stop_loss_intrabar_and_gap() -> None:
    # Buy at bar 1's open 100. Stop 5 % -> 95.
    o = [100, 100, 99, 90, 90, 90]
    h = [101, 102, 100, 91, 91, 91]
    low = [99, 98, 94, 89, 89, 89]   # bar 2 trades through 95 intrabar
    c = [100, 101, 96, 90, 90, 90]
    res = backtest(scripted((0,), ()), bars(o, h, low, c), fees_bps=0, stop_loss=0.05)
    assert res.orders["price"].tolist() == [100.0, 95.0]
    assert res.orders["time"].iloc[1] == IDX[2]
    # Gap: bar 2 opens at 92, below the stop -> filled at the open, not the stop.
    o2 = [100, 100, 92, 90, 90, 90]
    res2 = backtest(scripted((0,), ()), bars(o2, h, low, c), fees_bps=0, stop_loss=0.05)
    assert res2.orders["price"].tolist() == [100.0, 92.0]


def test_take_profit_and_trailing_stop() -> None:
    res = backtest(scripted((0,), ()), RISING, fees_bps=0, take_profit=0.15)
    # Bought at 110; target 126.5 is inside bar 2's range [119, 126]? no -> bar 3 opens 130 above it.
    assert res.orders["price"].tolist() == [110.0, 130.0]
    o = [100, 100, 110, 120, 110, 100]
    h = [100, 105, 115, 125, 112, 101]
    low = [100, 99, 108, 118, 105, 99]
    c = [100, 104, 114, 124, 108, 100]
    res2 = backtest(scripted((0,), ()), bars(o, h, low, c), fees_bps=0, trailing_stop=0.10)
    # Highest high after entry is 125 (bar 3) -> trail at 112.5; bar 4 opens 110 < 112.5 (gap).
    assert res2.orders["price"].tolist() == [100.0, 110.0]


def test_long_short_reverses_on_exit_signal() -> None:
    res = backtest(scripted((0,), (2,)), RISING, fees_bps=0, direction="long_short")
    # Exit on bar 2 -> at bar 3's open 130: sell the long (10,000/110 units), then short all
    # of the equity after it (10,000 x 130/110 = 11,818.18) -> 90.909... units.
    assert res.orders["side"].tolist() == ["buy", "sell", "sell"]
    assert res.orders["price"].tolist() == [110.0, 130.0, 130.0]
    assert res.orders["size"].iloc[1] == pytest.approx(10_000 / 110, rel=1e-12)
    assert res.orders["size"].iloc[2] == pytest.approx(10_000 / 110, rel=1e-12)  # 11,818.18 / 130
    assert res.trades["direction"].tolist() == ["long", "short"]
    # short 90.909 units from 130, marked at the last close 155: equity 11,818.18 - 90.909 x 25
    assert res.equity.iloc[-1] == pytest.approx(10_000 * 130 / 110 - 10_000 / 110 * 25, rel=1e-12)


def test_option_errors_are_one_line_parameter_errors() -> None:
    with pytest.raises(ParameterError, match="fees_bps"):
        backtest(scripted((0,), ()), RISING, fees_bps=-1)
    with pytest.raises(ParameterError, match="risk_per_trade"):
        backtest(scripted((0,), ()), RISING, sizing="risk_per_trade")
    with pytest.raises(ParameterError, match="unknown backtest option 'fee'"):
        backtest(scripted((0,), ()), RISING, fee=10)
    with pytest.raises(ParameterError, match="fill"):
        backtest(scripted((0,), ()), RISING, fill="tomorrow")
    with pytest.raises(ParameterError, match="after end"):
        backtest(scripted((0,), ()), RISING, start="2024-01-05", end="2024-01-02")
