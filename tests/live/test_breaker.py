"""Breaker: scripted equity paths (warn -> reduce -> halt and back), each trigger, allows()."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quantlab.errors import ParameterError
from quantlab.live.breaker import (
    Breaker,
    BreakerChange,
    BreakerInputs,
    BreakerLevel,
    realized_vol,
)
from quantlab.live.config import BreakerTriggers
from quantlab.live.types import OrderIntent

OK, WARN, REDUCE, HALTED = (BreakerLevel.OK, BreakerLevel.WARN, BreakerLevel.REDUCE_ONLY,
                            BreakerLevel.HALTED)
OFF = (None, None, None)


def only(**kw: object) -> BreakerTriggers:
    """Every trigger off but the ones given."""
    base: dict[str, object] = {"drawdown": OFF, "daily_loss": OFF, "var": OFF,
                               "realized_vol": OFF, "consecutive_rejects": OFF,
                               "staleness_bars": OFF}
    return BreakerTriggers(**{**base, **kw})  # type: ignore[arg-type]


def path_inputs(equity: list[float], day: list[int] | None = None) -> list[BreakerInputs]:
    """Drawdown from the running peak and loss since the day's first value, step by step."""
    day = day or [0] * len(equity)
    out, peak, start, current = [], -math.inf, equity[0], day[0]
    for e, d in zip(equity, day, strict=True):
        if d != current:
            start, current = e, d
        peak = max(peak, e)
        out.append(BreakerInputs(drawdown=1 - e / peak, daily_loss=max(1 - e / start, 0.0)))
    return out


def run(b: Breaker, inputs: list[BreakerInputs]) -> tuple[list[BreakerLevel], list[BreakerChange]]:
    levels, changes = [], []
    for x in inputs:
        change = b.evaluate(x)
        if change is not None:
            changes.append(change)
        levels.append(b.level)
    return levels, changes


# -- scripted equity paths ---------------------------------------------------------------------


def test_drawdown_path_warn_reduce_back_then_halt_latches() -> None:
    b = Breaker(only(drawdown=(0.10, 0.15, 0.20)))
    #          peak  9.5%  10.5%  15.2%   11.4%  4.8%  21.0%   new peak  recovered
    equity = [100, 105, 95, 94, 89, 93, 100, 83, 106, 110]
    levels, changes = run(b, path_inputs(equity))
    assert levels == [OK, OK, OK, WARN, REDUCE, WARN, OK, HALTED, HALTED, HALTED]
    assert [(c.old, c.new, c.source) for c in changes] == [
        (OK, WARN, "auto"), (WARN, REDUCE, "auto"), (REDUCE, WARN, "auto"), (WARN, OK, "auto"),
        (OK, HALTED, "auto")]
    assert [c.reason for c in changes] == [
        "drawdown 10.5% >= warn 10.0%",
        "drawdown 15.2% >= reduce 15.0%",
        "recovered to warn: drawdown 11.4% >= warn 10.0%",
        "recovered: no trigger reached",
        "drawdown 21.0% >= halt 20.0%"]
    assert b.halted and b.reason == "drawdown 21.0% >= halt 20.0%"


def test_daily_loss_path_resets_at_the_day_start() -> None:
    b = Breaker(only(daily_loss=(0.03, 0.04, 0.05)))
    equity = [1000, 975, 965, 958, 1000, 990, 969]
    day = [0, 0, 0, 0, 1, 1, 1]
    # loss since day start: 0, 2.5 %, 3.5 %, 4.2 % | new day from 1000: 0, 1 %, 3.1 %
    levels, changes = run(b, path_inputs(equity, day))
    assert levels == [OK, OK, WARN, REDUCE, OK, OK, WARN]
    assert changes[1].reason == "daily_loss 4.2% >= reduce 4.0%"
    assert changes[2] == BreakerChange(REDUCE, OK, "recovered: no trigger reached", "auto")


def test_without_auto_recover_levels_only_go_up() -> None:
    b = Breaker(only(drawdown=(0.10, 0.15, 0.20), auto_recover=False))
    levels, _ = run(b, path_inputs([100, 89, 84, 100, 95]))
    assert levels == [OK, WARN, REDUCE, REDUCE, REDUCE]
    assert b.reason == "drawdown 16.0% >= reduce 15.0%"
    assert b.resume().new == OK                 # an operator brings it back


def test_escalation_can_jump_straight_to_halt() -> None:
    b = Breaker(only(drawdown=(0.10, 0.15, 0.20)))
    change = b.evaluate(BreakerInputs(drawdown=0.30))
    assert change == BreakerChange(OK, HALTED, "drawdown 30.0% >= halt 20.0%", "auto")


# -- each trigger on its own -------------------------------------------------------------------


@pytest.mark.parametrize(("name", "thresholds", "values", "expected", "reason"), [
    ("drawdown", (0.10, 0.15, 0.20), [0.099, 0.10, 0.149, 0.15, 0.20],
     [OK, WARN, WARN, REDUCE, HALTED], "drawdown 20.0% >= halt 20.0%"),
    ("daily_loss", (0.03, 0.04, 0.05), [0.02, 0.031, 0.045, 0.051],
     [OK, WARN, REDUCE, HALTED], "daily_loss 5.1% >= halt 5.0%"),
    ("var", (0.06, 0.08, 0.12), [0.05, 0.07, 0.09, 0.125],
     [OK, WARN, REDUCE, HALTED], "var 12.5% >= halt 12.0%"),
    ("realized_vol", (0.8, 1.2, 2.0), [math.nan, 0.5, 0.9, 1.3, 2.5],
     [OK, OK, WARN, REDUCE, HALTED], "realized_vol 250.0% >= halt 200.0%"),
    ("consecutive_rejects", (2, 3, 5), [1, 2, 3, 4, 5],
     [OK, WARN, REDUCE, REDUCE, HALTED], "consecutive_rejects 5 >= halt 5"),
    ("staleness_bars", (1, 2, 3), [0.5, 1, 2.5, 3],
     [OK, WARN, REDUCE, HALTED], "staleness_bars 3 >= halt 3"),
])
def test_each_trigger_alone(name: str, thresholds: tuple[float, float, float],
                            values: list[float], expected: list[BreakerLevel],
                            reason: str) -> None:
    b = Breaker(only(**{name: thresholds}))
    levels, changes = run(b, [BreakerInputs(**{name: v}) for v in values])
    assert levels == expected
    assert changes[-1].reason == reason


def test_rejects_and_staleness_reasons() -> None:
    b = Breaker(only(consecutive_rejects=(2, 3, 5), staleness_bars=(1, 2, 3)))
    assert b.evaluate(BreakerInputs(consecutive_rejects=3)).reason == \
        "consecutive_rejects 3 >= reduce 3"
    b = Breaker(only(staleness_bars=(1, 2, 3)))
    assert b.evaluate(BreakerInputs(staleness_bars=2.5)).reason == "staleness_bars 2.5 >= reduce 2"


def test_worst_trigger_wins() -> None:
    b = Breaker(BreakerTriggers(var=(0.06, 0.08, 0.12)))
    x = BreakerInputs(drawdown=0.11, var=0.09, consecutive_rejects=2)
    assert b.implied(x) == (REDUCE, "var 9.0% >= reduce 8.0%")
    assert b.evaluate(x).new == REDUCE


def test_none_thresholds_are_off() -> None:
    b = Breaker(only(drawdown=(None, None, 0.20)))
    assert b.evaluate(BreakerInputs(drawdown=0.19)) is None and b.level == OK
    assert b.evaluate(BreakerInputs(drawdown=0.20)).new == HALTED
    silent = Breaker(only())
    extreme = BreakerInputs(drawdown=0.9, daily_loss=0.9, var=0.9, realized_vol=9.0,
                            consecutive_rejects=99, staleness_bars=99)
    assert silent.evaluate(extreme) is None and silent.level == OK


# -- operator actions, restore, allows ---------------------------------------------------------


def test_halt_and_resume() -> None:
    b = Breaker(BreakerTriggers())
    assert b.evaluate(BreakerInputs(drawdown=0.12)).new == WARN
    change = b.halt("kill switch pressed", source="api")
    assert change == BreakerChange(WARN, HALTED, "kill switch pressed", "api")
    assert b.halt("again", source="signal") is None            # first reason kept
    assert b.reason == "kill switch pressed"
    assert b.evaluate(BreakerInputs()) is None and b.halted     # latched: metrics are fine
    assert b.resume() == BreakerChange(HALTED, OK, "resumed by operator", "operator")
    assert b.resume() is None
    # the next evaluation may raise it again at once
    assert b.evaluate(BreakerInputs(drawdown=0.16)).new == REDUCE
    assert b.resume(source="halt_file").new == OK               # resume from any level


def test_restored_halt_stays_until_resumed() -> None:
    b = Breaker(BreakerTriggers(), level=3, reason="drawdown 21.0% >= halt 20.0%")
    assert b.halted and b.level is HALTED
    assert b.evaluate(BreakerInputs()) is None
    assert b.resume().old == HALTED and not b.halted


def test_bad_level_or_source_is_refused() -> None:
    with pytest.raises(ParameterError, match="breaker level=4 must be one of"):
        Breaker(BreakerTriggers(), level=4)
    with pytest.raises(ParameterError, match="source='cron' must be one of: auto, operator"):
        Breaker(BreakerTriggers()).halt("x", source="cron")
    with pytest.raises(ParameterError, match="triggers must be a BreakerTriggers"):
        Breaker(None)  # type: ignore[arg-type]


ENTRY = OrderIntent("ql1", "BTC/USDT", "buy", 0.1, leg="entry")
EXIT = OrderIntent("ql2", "BTC/USDT", "sell", 0.1, leg="exit", reduce_only=True)
FLATTEN = OrderIntent("ql3", "BTC/USDT", "sell", 0.1, leg="flatten", reduce_only=True)


@pytest.mark.parametrize(("level", "entry", "exit_", "flatten"), [
    (OK, True, True, True),
    (WARN, True, True, True),
    (REDUCE, False, True, True),
    (HALTED, False, False, True),
])
def test_allows_matrix(level: BreakerLevel, entry: bool, exit_: bool, flatten: bool) -> None:
    b = Breaker(BreakerTriggers(), level=level)
    assert (b.allows(ENTRY), b.allows(EXIT), b.allows(FLATTEN)) == (entry, exit_, flatten)


# -- realized volatility -----------------------------------------------------------------------


def test_realized_vol() -> None:
    # returns +10 %, -10 %, +10 %: mean 1/30, sample std sqrt(0.02667 / 2) = 0.1154700538
    equity = [50.0, 100.0, 110.0, 99.0, 108.9]
    vol = realized_vol(equity, lookback=4, periods_per_year=365)
    assert vol == pytest.approx(0.11547005383792516 * math.sqrt(365), rel=1e-12)
    assert vol == pytest.approx(2.2060522, rel=1e-7)
    assert math.isnan(realized_vol(equity[:3], lookback=4, periods_per_year=365))
    assert math.isnan(realized_vol([100.0, 0.0, 100.0], lookback=3, periods_per_year=365))
    assert realized_vol(np.full(10, 100.0), lookback=10, periods_per_year=365) == 0.0
    with pytest.raises(ParameterError, match="lookback=2 must be a whole number >= 3"):
        realized_vol(equity, lookback=2, periods_per_year=365)
