"""Parameter conversion and validation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quantlab.errors import ParameterError
from quantlab.strategies import (
    DonchianBreakout,
    MomentumRotation,
    Param,
    RsiReversion,
    SmaCross,
    with_vol_target,
)


def test_fast_must_be_smaller_than_slow() -> None:
    with pytest.raises(ParameterError) as exc:
        SmaCross(fast=50, slow=20)
    assert str(exc.value) == "sma_cross: fast (50) must be smaller than slow (20)"
    with pytest.raises(ParameterError, match="fast"):
        SmaCross(fast=20, slow=20)


@pytest.mark.parametrize(
    ("cls", "kwargs", "named", "reason"),
    [
        (SmaCross, {"fast": "ten"}, "sma_cross.fast", "not a valid int"),
        (SmaCross, {"fast": 10.5}, "sma_cross.fast", "not a valid int"),
        (SmaCross, {"fast": 0}, "sma_cross.fast", "below its minimum"),
        (SmaCross, {"slow": 10**6}, "sma_cross.slow", "above its maximum"),
        (SmaCross, {"fats": 5}, "'fats'", "has no parameter"),
        (RsiReversion, {"lower": 80}, "lower", "smaller than upper"),
        (RsiReversion, {"upper": 101}, "rsi_reversion.upper", "above its maximum"),
        (RsiReversion, {"lower": float("nan")}, "rsi_reversion.lower", "not a valid float"),
        (RsiReversion, {"confirm": "maybe"}, "rsi_reversion.confirm", "not a valid bool"),
        (DonchianBreakout, {"entry": -1}, "donchian_breakout.entry", "below its minimum"),
        (MomentumRotation, {"top_k": 0}, "momentum_rotation.top_k", "below its minimum"),
        (MomentumRotation, {"min_momentum": "x"}, "momentum_rotation.min_momentum", "float"),
        (with_vol_target(SmaCross), {"target_vol": 0}, "target_vol", "below its minimum"),
        (with_vol_target(SmaCross), {"fast": 9, "slow": 3}, "fast (9)", "smaller than slow"),
    ],
)
def test_bad_parameters_name_the_parameter(cls, kwargs, named, reason) -> None:
    with pytest.raises(ParameterError) as exc:
        cls(**kwargs)
    assert named in str(exc.value) and reason in str(exc.value)


def test_string_values_from_the_cli_are_converted() -> None:
    s = SmaCross(fast="5", slow="20.0")
    assert (s.fast, s.slow) == (5, 20)
    r = RsiReversion(lower="25.5", confirm="yes")
    assert r.lower == 25.5 and r.confirm is True
    assert MomentumRotation(min_momentum=0).min_momentum == 0.0
    assert isinstance(MomentumRotation(min_momentum=0).min_momentum, float)


def test_with_params_and_equality() -> None:
    a = SmaCross(fast=5, slow=20)
    assert a.with_params(slow=30) == SmaCross(fast=5, slow=30)
    assert a == SmaCross(fast=5, slow=20) and hash(a) == hash(SmaCross(fast=5, slow=20))
    with pytest.raises(ParameterError):
        a.with_params(fast=40)


def test_every_builtin_default_is_valid_and_has_docs_and_grid() -> None:
    for cls in (SmaCross, RsiReversion, DonchianBreakout, MomentumRotation):
        cls()  # defaults satisfy validate()
        for p in cls.params.values():
            assert p.doc, (cls.name, p.name)
            assert p.convert(p.default) == p.default
            if p.kind in (int, float):
                assert p.grid is not None and p.low <= p.grid[0] <= p.grid[1] <= p.high


INT_P = Param(10, low=2, high=500, name="window")
FLOAT_P = Param(0.5, low=0.01, high=10.0, name="target_vol")


@given(st.integers(min_value=2, max_value=500))
def test_int_param_round_trips(value: int) -> None:
    assert INT_P.convert(value) == value
    assert INT_P.convert(str(value)) == value
    assert INT_P.convert(float(value)) == value
    assert type(INT_P.convert(float(value))) is int


@given(st.one_of(st.integers(max_value=1), st.integers(min_value=501)))
def test_int_param_rejects_out_of_range(value: int) -> None:
    with pytest.raises(ParameterError, match="window"):
        INT_P.convert(value)


@given(st.floats(min_value=0.01, max_value=10.0, allow_nan=False))
def test_float_param_round_trips(value: float) -> None:
    assert FLOAT_P.convert(value) == value
    assert FLOAT_P.convert(repr(value)) == value


@given(
    st.one_of(
        st.floats(max_value=0.01, exclude_max=True),
        st.floats(min_value=10.0, exclude_min=True),
    )
)
def test_float_param_rejects_out_of_range_and_non_finite(value: float) -> None:
    with pytest.raises(ParameterError, match="target_vol"):
        FLOAT_P.convert(value)
