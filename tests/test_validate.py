"""The shared validators of :mod:`quantlab._validate`: bounds, whole numbers, booleans, None,
choices, hints; every message names the argument."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from quantlab._validate import check_choice, check_number, check_range
from quantlab.errors import ParameterError


@pytest.mark.parametrize(("kwargs", "ok", "bad", "message"), [
    ({"lo": 0, "hi": 1}, [0, 0.5, 1], [-0.1, 1.1], "x={!r} must be in [0, 1]"),
    ({"lo": 0, "hi": 1, "open_low": True}, [0.5, 1], [0, -1], "x={!r} must be in (0, 1]"),
    ({"lo": 0, "hi": 1, "open_high": True}, [0, 0.5], [1, 2], "x={!r} must be in [0, 1)"),
    ({"lo": 0, "hi": 1, "open_low": True, "open_high": True}, [0.5], [0, 1],
     "x={!r} must be in (0, 1)"),
    ({"lo": 0}, [0, 1e9], [-1e-9], "x={!r} must be >= 0"),
    ({"lo": 0, "open_low": True}, [1e-9], [0], "x={!r} must be > 0"),
    ({"hi": 0}, [0, -5], [0.1], "x={!r} must be <= 0"),
    ({"hi": 0, "open_high": True}, [-5], [0], "x={!r} must be < 0"),
    ({}, [-1e300, 1e300], [float("nan"), float("inf")], "x={!r} must be a finite number"),
])
def test_check_range_bounds(kwargs, ok, bad, message):
    for value in ok:
        assert check_range(value, "x", **kwargs) == value
    for value in bad:
        with pytest.raises(ParameterError) as info:
            check_range(value, "x", **kwargs)
        assert str(info.value) == message.format(value)


def test_check_range_nan_refused_within_bounds():
    with pytest.raises(ParameterError, match=r"^x=nan must be in \[0, 1\]$"):
        check_range(float("nan"), "x", 0, 1)


def test_check_range_integer():
    assert check_range(3, "window", 1, integer=True) == 3
    out = check_range(3.0, "window", 1, integer=True)
    assert out == 3 and isinstance(out, int)
    assert isinstance(check_range(np.int64(5), "window", 1, integer=True), int)
    with pytest.raises(ParameterError, match=r"^window=2.5 must be a whole number >= 1$"):
        check_range(2.5, "window", 1, integer=True)
    with pytest.raises(ParameterError, match=r"^window=0 must be a whole number >= 1$"):
        check_range(0, "window", 1, integer=True)
    with pytest.raises(ParameterError, match=r"^n=inf must be a finite whole number$"):
        check_range(float("inf"), "n", integer=True)


@pytest.mark.parametrize("value", [True, False, np.bool_(True)])
def test_booleans_refused(value):
    with pytest.raises(ParameterError, match=r"^fee=(np\.)?(True|False)_? must be a number, not bool"):
        check_number(value, "fee")
    with pytest.raises(ParameterError, match=r"^fee=(np\.)?(True|False)_? must be a number >= 0, not bool"):
        check_range(value, "fee", 0)
    with pytest.raises(ParameterError, match=r"^n=(np\.)?(True|False)_? must be a whole number >= 1, "):
        check_range(value, "n", 1, integer=True)
    with pytest.raises(ParameterError, match=r"^fee=(np\.)?(True|False)_? must be a number, not bool"):
        check_number(value, "fee", coerce=True)  # coerce never turns True into 1


@pytest.mark.parametrize("value", ["0.5", None, [1], object()])
def test_non_numbers_refused(value):
    with pytest.raises(ParameterError, match=r"^lam=.* must be a number in \(0, 1\], not "):
        check_range(value, "lam", 0, 1, open_low=True)
    with pytest.raises(ParameterError, match=r"^lam=.* must be a number, not "):
        check_number(value, "lam")


def test_coerce_takes_what_float_takes():
    assert check_range("0.5", "lam", 0, 1, coerce=True) == 0.5
    assert check_range(Decimal("0.25"), "lam", 0, 1, coerce=True) == 0.25
    assert check_range(np.array(0.5), "lam", 0, 1, coerce=True) == 0.5
    assert check_range("3", "n", 1, integer=True, coerce=True) == 3
    with pytest.raises(ParameterError, match=r"^lam='abc' must be a number in \[0, 1\], not str$"):
        check_range("abc", "lam", 0, 1, coerce=True)


def test_none_handling():
    assert check_number(None, "x", allow_none=True) is None
    assert check_range(None, "x", 0, 1, allow_none=True) is None
    with pytest.raises(ParameterError, match=r"^x=None must be a number in \[0, 1\], not NoneType$"):
        check_range(None, "x", 0, 1)
    with pytest.raises(ParameterError, match=r"^x=None must be a number, not NoneType$"):
        check_number(None, "x")


def test_check_number():
    assert check_number(2, "x") == 2.0 and isinstance(check_number(2, "x"), float)
    assert check_number(np.float32(1.5), "x") == 1.5
    assert check_number(4.0, "n", integer=True) == 4
    with pytest.raises(ParameterError, match=r"^n=4.5 must be a whole number$"):
        check_number(4.5, "n", integer=True)
    assert np.isnan(check_number(float("nan"), "x"))  # finiteness is left to check_range


def test_hints():
    with pytest.raises(ParameterError, match=r"^lam=1.5 must be in \(0, 1\], e.g. 0.94$"):
        check_range(1.5, "lam", 0, 1, open_low=True, hint="e.g. 0.94")
    with pytest.raises(ParameterError, match=r"^value=-1 must be > 0 \(portfolio value\)$"):
        check_range(-1, "value", 0, open_low=True, hint="(portfolio value)")
    with pytest.raises(ParameterError, match=r"^lam='x' must be a number, not str, e.g. 0.94$"):
        check_number("x", "lam", hint="e.g. 0.94")
    with pytest.raises(ParameterError, match=r"^dist='x' must be one of: a, b \(see docs\)$"):
        check_choice("x", "dist", ("a", "b"), hint="(see docs)")


def test_check_choice():
    assert check_choice("t", "dist", ("normal", "t")) == "t"
    assert check_choice(None, "impact", (None, "sqrt")) is None
    with pytest.raises(ParameterError, match=r"^dist='x' must be one of: normal, t$"):
        check_choice("x", "dist", ("normal", "t"))
    with pytest.raises(ParameterError, match=r"^flag=True must be one of: 1, 0$"):
        check_choice(True, "flag", (1, 0))  # True == 1, but a bool is not a choice
    with pytest.raises(ParameterError, match=r"^mode=\['a'\] must be one of: a$"):
        check_choice(["a"], "mode", frozenset({"a"}))  # unhashable against a set
