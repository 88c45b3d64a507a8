"""Property tests of the VaR backtests (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from quantlab.risk.backtesting import TESTS, var_backtest

ZONES = {"green": 0, "yellow": 1, "red": 2}

breach_lists = st.lists(st.booleans(), min_size=1, max_size=300)
levels = st.floats(min_value=0.5, max_value=0.999)
test_levels = st.floats(min_value=0.5, max_value=0.999)


@settings(max_examples=150, deadline=None)
@given(breaches=breach_lists, level=levels, test_level=test_levels)
def test_statistics_and_p_values_are_valid(breaches, level, test_level):
    res = var_backtest(breaches, level, test_level)
    assert list(res.tests) == list(TESTS)
    for name, r in res.tests.items():
        stat, p = r["statistic"], r["p_value"]
        if name in ("tbfi", "tbf") and res.n_failures == 0:
            assert math.isnan(stat) and math.isnan(p)
        else:
            assert math.isfinite(stat)
            assert 0.0 <= p <= 1.0
            if name not in ("bin",):
                assert stat >= 0.0
        expected = {"green", "yellow", "red"} if name == "tl" else {"accept", "reject"}
        assert r["result"] in expected
        if name not in ("tl", "bin") and math.isfinite(stat):
            # accept <=> statistic below the test_level chi-square critical value
            assert (r["result"] == "accept") == (stat < r["critical_value"])
    # mixed tests are sums of their parts
    assert math.isclose(
        res.tests["cc"]["statistic"],
        res.tests["pof"]["statistic"] + res.tests["cci"]["statistic"],
        rel_tol=1e-12,
        abs_tol=1e-12,
    )


@settings(max_examples=100, deadline=None)
@given(n=st.integers(min_value=2, max_value=400), data=st.data())
def test_pof_zero_when_observed_rate_equals_p(n, data):
    x = data.draw(st.integers(min_value=1, max_value=n - 1))
    level = 1.0 - x / n
    fails = np.zeros(n, dtype=bool)
    fails[data.draw(st.permutations(range(n)))[:x]] = True
    res = var_backtest(fails, level, tests="pof")
    assert res.tests["pof"]["statistic"] < 1e-9
    assert res.tests["pof"]["p_value"] > 0.9999


@settings(max_examples=60, deadline=None)
@given(n=st.integers(min_value=1, max_value=300), level=levels)
def test_tl_zone_and_scaling_monotone_in_failures(n, level):
    last_zone, last_factor, last_prob = -1, 0.0, -1.0
    for x in range(n + 1):
        fails = np.zeros(n, dtype=bool)
        fails[:x] = True
        tl = var_backtest(fails, level, tests="tl").tests["tl"]
        zone = ZONES[tl["result"]]
        assert zone >= last_zone
        assert tl["scaling_factor"] >= last_factor - 1e-12
        assert tl["probability"] >= last_prob - 1e-12
        assert 3.0 <= tl["scaling_factor"] <= 4.0
        last_zone, last_factor, last_prob = zone, tl["scaling_factor"], tl["probability"]
        if x > 40 and zone == 2:
            break  # red stays red; keep the test fast


@settings(max_examples=60, deadline=None)
@given(breaches=breach_lists, level=levels)
def test_count_tests_ignore_order(breaches, level):
    # tl, bin and pof depend only on N and x
    a = var_backtest(breaches, level, tests=["tl", "bin", "pof"])
    b = var_backtest(sorted(breaches), level, tests=["tl", "bin", "pof"])
    for name in ("tl", "bin", "pof"):
        assert math.isclose(
            a.tests[name]["statistic"], b.tests[name]["statistic"], rel_tol=1e-12, abs_tol=1e-12
        )
