"""VaR backtests: published reference values, hand-computed values, edge cases, bad input.

Reference values
----------------
[MW] MathWorks Risk Management Toolbox documentation, examples on VaRBacktestData
     (``vbt = varbacktest(EquityIndex, Normal95)``, 1043 observations, 57 failures, VaRLevel
     0.95): pages varbacktest.tl / .bin / .pof / .tuff / .cci / .cc / .tbfi / .tbf
     (https://www.mathworks.com/help/risk/varbacktest.<test>.html). The data set itself is not
     public, so we rebuild a failure sequence with the same counts the pages print (N, x, first
     failure 58, N00=932, N10=53, N01=53, N11=4); every test that depends only on these counts
     must reproduce the published numbers. tbfi/tbf depend on all the gaps, which the pages do not
     list; there we check the published p-values from the published LRs and degrees of freedom.
[Basel96] Basel Committee on Banking Supervision (1996), "Supervisory framework for the use of
     'backtesting' in conjunction with the internal models approach to market risk capital
     requirements", Table 2 (250 observations, 99 % VaR): zones, cumulative probabilities and
     plus factors.
"""

from __future__ import annotations

import json
import math
import sys
import types

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from quantlab.errors import DataError, ParameterError, QuantlabError, UsageError
from quantlab.risk.backtesting import (
    BASEL_PLUS_FACTORS_250,
    TESTS,
    VaRBacktestResult,
    _lr_result,
    var_backtest,
    var_backtest_from_forecasts,
)


def seq(n: int, fails: list[int]) -> np.ndarray:
    """Boolean sequence of length n with failures at the given 1-based positions."""
    out = np.zeros(n, dtype=bool)
    out[np.asarray(fails, dtype=int) - 1] = True
    return out


# ---------------------------------------------------------------------------------------------
# [MW] reference example rebuilt from its counts
# ---------------------------------------------------------------------------------------------
def matlab_like_sequence() -> np.ndarray:
    """1043 bars, 57 failures, first at 58, 53 runs of failures of which 4 are pairs.

    Runs start at 0->1 transitions (N01 = 53); 4 doubles give N11 = 4; every run ends before the
    last bar (N10 = 53); N00 = 1042 - 53 - 53 - 4 = 932.
    """
    fails: list[int] = []
    pos = 58
    for run in range(53):
        length = 2 if run < 4 else 1
        fails.extend(range(pos, pos + length))
        pos += length + 17  # gap of 17 quiet bars; last failure at 58 + 4*19 + 48*18 = 998
    return seq(1043, fails)


@pytest.fixture(scope="module")
def mw() -> VaRBacktestResult:
    return var_backtest(matlab_like_sequence(), 0.95)


def test_mw_counts(mw):
    assert (mw.n_obs, mw.n_failures, mw.first_failure) == (1043, 57, 58)
    assert mw.expected_failures == pytest.approx(52.15)  # [MW] summary: Expected 52.15
    cci = mw.tests["cci"]
    assert (cci["n00"], cci["n10"], cci["n01"], cci["n11"]) == (932, 53, 53, 4)  # [MW] cci


def test_mw_tl(mw):
    # [MW] tl: TL green, Probability 0.77913, TypeI 0.26396, Increase 0
    tl = mw.tests["tl"]
    assert tl["result"] == "green" and mw.traffic_light == "green"
    assert tl["probability"] == pytest.approx(0.77913, abs=5e-6)
    assert tl["type_i"] == pytest.approx(0.26396, abs=5e-6)
    assert tl["increase"] == 0.0


def test_mw_bin(mw):
    # [MW] bin: accept, ZScoreBin 0.68905, PValueBin 0.49079
    b = mw.tests["bin"]
    assert b["statistic"] == pytest.approx(0.68905, abs=5e-6)
    assert b["p_value"] == pytest.approx(0.49079, abs=5e-6)
    assert b["result"] == "accept"


def test_mw_pof(mw):
    # [MW] pof: accept, LRatioPOF 0.46147, PValuePOF 0.49694
    assert mw.tests["pof"]["statistic"] == pytest.approx(0.46147, abs=5e-6)
    assert mw.tests["pof"]["p_value"] == pytest.approx(0.49694, abs=5e-6)
    assert mw.tests["pof"]["result"] == "accept"


def test_mw_pof_normal99():
    # [MW] pof table with TestLevel 0.90: Normal99 has 17 failures in 1043 obs at 0.99:
    # reject, LRatioPOF 3.5118, PValuePOF 0.060933 (the failure positions do not matter)
    res = var_backtest(seq(1043, list(range(10, 1043, 60))[:17]), 0.99, 0.90, tests="pof")
    assert res.n_failures == 17
    assert res.tests["pof"]["statistic"] == pytest.approx(3.5118, abs=5e-5)
    assert res.tests["pof"]["p_value"] == pytest.approx(0.060933, abs=5e-7)
    assert res.tests["pof"]["result"] == "reject"


def test_mw_tuff(mw):
    # [MW] tuff: accept, LRatioTUFF 1.7354, PValueTUFF 0.18773, FirstFailure 58
    t = mw.tests["tuff"]
    assert t["statistic"] == pytest.approx(1.7354, abs=5e-5)
    assert t["p_value"] == pytest.approx(0.18773, abs=5e-6)
    assert t["first_failure"] == 58 and t["result"] == "accept"


def test_mw_cci_cc(mw):
    # [MW] cci: accept, LRatioCCI 0.25866, PValueCCI 0.61104
    assert mw.tests["cci"]["statistic"] == pytest.approx(0.25866, abs=5e-6)
    assert mw.tests["cci"]["p_value"] == pytest.approx(0.61104, abs=5e-6)
    # [MW] cc: accept, LRatioCC 0.72013, PValueCC 0.69763 (= pof + cci, chi2 with 2 df)
    assert mw.tests["cc"]["statistic"] == pytest.approx(0.72013, abs=5e-6)
    assert mw.tests["cc"]["p_value"] == pytest.approx(0.69763, abs=5e-6)
    assert mw.tests["cc"]["df"] == 2 and mw.tests["cc"]["result"] == "accept"


def test_mw_tbf_degrees_of_freedom(mw):
    # [MW] tbfi: LRatioTBFI 88.491 -> PValueTBFI 0.0047475 with x = 57 failures: chi2(x), not
    # chi2(x+1) (which would give 0.00609); tbf: LRatioTBF 88.952 = 88.491 + 0.46147 ->
    # PValueTBF 0.0055565 with chi2(x + 1)
    assert _lr_result(88.491, 57, 0.95)["p_value"] == pytest.approx(0.0047475, abs=5e-7)
    assert _lr_result(88.491 + 0.46147, 58, 0.95)["p_value"] == pytest.approx(0.0055565, abs=5e-7)
    assert mw.tests["tbfi"]["df"] == 57 and mw.tests["tbf"]["df"] == 58
    assert mw.tests["tbf"]["statistic"] == pytest.approx(
        mw.tests["tbfi"]["statistic"] + mw.tests["pof"]["statistic"]
    )


def test_mw_runtests_testlevel_099(mw):
    # [MW] runtests(vbt,'TestLevel',0.99): green accept accept accept accept accept; our gaps
    # differ from the real data for tbf/tbfi, so only the count-based tests are compared
    res = var_backtest(matlab_like_sequence(), 0.95, 0.99)
    assert [res.tests[t]["result"] for t in ("tl", "bin", "pof", "tuff", "cc", "cci")] == [
        "green",
        "accept",
        "accept",
        "accept",
        "accept",
        "accept",
    ]


# ---------------------------------------------------------------------------------------------
# [Basel96] traffic light for 250 observations at 99 %
# ---------------------------------------------------------------------------------------------
# exceptions: (zone, cumulative probability in % as printed in Table 2, scaling factor)
BASEL_TABLE = {
    0: ("green", 8.11, 3.00),
    1: ("green", 28.58, 3.00),
    2: ("green", 54.32, 3.00),
    3: ("green", 75.81, 3.00),
    4: ("green", 89.22, 3.00),
    5: ("yellow", 95.88, 3.40),
    6: ("yellow", 98.63, 3.50),
    7: ("yellow", 99.60, 3.65),
    8: ("yellow", 99.89, 3.75),
    9: ("yellow", 99.97, 3.85),
    10: ("red", 99.99, 4.00),
}


@pytest.mark.parametrize("x", sorted(BASEL_TABLE))
def test_basel_table(x):
    zone, cum_pct, factor = BASEL_TABLE[x]
    res = var_backtest(seq(250, list(range(1, 250, 25))[:x]), 0.99, tests=["tl"])
    tl = res.tests["tl"]
    assert res.traffic_light == zone
    assert round(tl["probability"] * 100, 2) == pytest.approx(cum_pct)
    assert tl["scaling_factor"] == pytest.approx(factor)


def test_basel_red_beyond_10():
    res = var_backtest(seq(250, list(range(1, 250, 12))[:15]), 0.99, tests="tl")
    assert res.traffic_light == "red" and res.tests["tl"]["scaling_factor"] == 4.0
    assert BASEL_PLUS_FACTORS_250 == {5: 0.40, 6: 0.50, 7: 0.65, 8: 0.75, 9: 0.85}


def test_tl_increase_matlab_formula_other_sizes():
    # MATLAB tl (Algorithms): Increase = 3 (zAssumed/zObserved - 1), zAssumed = norminv(0.99),
    # zObserved = norminv((N - x)/N). N = 1043, x = 17: cdf = 0.9727 -> yellow;
    # zObserved = norminv(1026/1043 = 0.983701) = 2.1373, 3 (2.32635/2.1373 - 1) = 0.2654
    res = var_backtest(seq(1043, list(range(10, 1043, 60))[:17]), 0.99, tests="tl")
    tl = res.tests["tl"]
    assert tl["result"] == "yellow"
    expected = 3 * (stats.norm.ppf(0.99) / stats.norm.ppf(1026 / 1043) - 1)
    assert tl["increase"] == pytest.approx(expected)
    assert tl["increase"] == pytest.approx(0.2654, abs=5e-4)
    assert tl["scaling_factor"] == pytest.approx(3 + expected)
    # Basel's own rounding is for 250 obs only; MATLAB's unrounded increase for 5 of 250 is 0.398
    five = var_backtest(seq(250, [1, 50, 100, 150, 200]), 0.99, tests="tl").tests["tl"]
    assert five["increase"] == pytest.approx(0.3982, abs=5e-5)
    assert five["scaling_factor"] == pytest.approx(3.40)


def test_tl_matlab_trafficlightvartest_example():
    # MathWorks risk.validation.trafficLightVaRTest(0.9, 40, 250) -> 2 (amber/yellow zone)
    res = var_backtest(seq(250, list(range(1, 250, 6))[:40]), 0.90, tests="tl")
    assert res.n_failures == 40 and res.traffic_light == "yellow"


# ---------------------------------------------------------------------------------------------
# hand-computed small sequence
# ---------------------------------------------------------------------------------------------
def test_hand_computed_small_sequence():
    # N = 10, level 0.90 (p = 0.1), failures at bars 3 and 4: 0 0 1 1 0 0 0 0 0 0, x = 2
    res = var_backtest(seq(10, [3, 4]), 0.90)
    t = res.tests
    ln = math.log
    # pof: -2[8 ln .9 + 2 ln .1 - 8 ln .8 - 2 ln .2] = -2[8 ln(9/8) + 2 ln(1/2)]
    #      = -2[0.942264 - 1.386294] = 0.888060
    pof = -2 * (8 * ln(9 / 8) + 2 * ln(0.5))
    assert pof == pytest.approx(0.888060, abs=1e-6)
    assert t["pof"]["statistic"] == pytest.approx(pof)
    # bin: (2 - 1)/sqrt(10 * .1 * .9) = 1/sqrt(.9) = 1.054093
    assert t["bin"]["statistic"] == pytest.approx(1.054093, abs=1e-6)
    # tuff, first failure n = 3: -2[ln .1 + 2 ln .9 - ln(1/3) - 2 ln(2/3)]
    #      = -2[-2.302585 - 0.210721 + 1.098612 + 0.810930] = 1.207528
    tuff = -2 * (ln(0.1) + 2 * ln(0.9) - ln(1 / 3) - 2 * ln(2 / 3))
    assert tuff == pytest.approx(1.207528, abs=1e-6)
    assert t["tuff"]["statistic"] == pytest.approx(tuff)
    # cci: pairs 00 01 11 10 00 00 00 00 00 -> N00 = 6, N01 = 1, N11 = 1, N10 = 1
    # pUC = 2/9, p01 = 1/7, p11 = 1/2
    # num = 7 ln(7/9) + 2 ln(2/9) = -4.767355; den = 6 ln(6/7) + ln(1/7) + 2 ln(1/2) = -4.257108
    # LR = -2 (num - den) = 1.020494
    assert (t["cci"]["n00"], t["cci"]["n01"], t["cci"]["n10"], t["cci"]["n11"]) == (6, 1, 1, 1)
    num = 7 * ln(7 / 9) + 2 * ln(2 / 9)
    den = 6 * ln(6 / 7) + ln(1 / 7) + 2 * ln(0.5)
    assert -2 * (num - den) == pytest.approx(1.020494, abs=1e-6)
    assert t["cci"]["statistic"] == pytest.approx(-2 * (num - den))
    # cc = pof + cci = 1.908554 on 2 df
    assert t["cc"]["statistic"] == pytest.approx(1.908554, abs=1e-6)
    # tbfi: gaps (3, 1): LR(3) = 1.207528 (as tuff), LR(1) = -2 ln .1 = 4.605170;
    # sum 5.812698 on x = 2 df
    assert t["tbfi"]["statistic"] == pytest.approx(tuff - 2 * ln(0.1))
    assert t["tbfi"]["statistic"] == pytest.approx(5.812698, abs=1e-6)
    assert t["tbfi"]["df"] == 2
    # tbf = pof + tbfi = 6.700758 on 3 df
    assert t["tbf"]["statistic"] == pytest.approx(6.700758, abs=1e-6)
    assert t["tbf"]["df"] == 3
    assert t["tbf"]["p_value"] == pytest.approx(stats.chi2.sf(6.700758, 3), abs=1e-6)
    # tl: P(X <= 2) = .9^10 + 10(.1)(.9^9) + 45(.01)(.9^8)
    #               = 0.348678 + 0.387420 + 0.193710 = 0.929809 -> green
    assert t["tl"]["probability"] == pytest.approx(0.929809, abs=1e-6)
    assert t["tl"]["result"] == "green"
    # tbf quartiles of gaps (3, 1) with MATLAB prctile (Hazen): min 1, q1 1, q2 2, q3 3, max 3
    assert [t["tbfi"][k] for k in ("tbf_min", "tbf_q1", "tbf_q2", "tbf_q3", "tbf_max")] == [
        1,
        1,
        2,
        3,
        3,
    ]


def test_accept_reject_follow_critical_value():
    res = var_backtest(seq(10, [3, 4]), 0.90)
    for name in ("pof", "tuff", "cci", "cc", "tbfi", "tbf"):
        r = res.tests[name]
        assert r["critical_value"] == pytest.approx(stats.chi2.ppf(0.95, r["df"]))
        assert r["result"] == ("accept" if r["statistic"] < r["critical_value"] else "reject")
        assert (r["result"] == "reject") == (r["p_value"] <= 0.05)
    # tbfi here: 5.8127 < chi2(2) 5.9915 -> accept; tbf: 6.7008 < chi2(3) 7.8147 -> accept
    assert res.tests["tbfi"]["result"] == "accept"
    assert res.tests["bin"]["critical_value"] == pytest.approx(1.959964, abs=1e-6)


# ---------------------------------------------------------------------------------------------
# edge cases
# ---------------------------------------------------------------------------------------------
def test_no_failures():
    res = var_backtest(np.zeros(250, dtype=bool), 0.99)
    t = res.tests
    # pof with x = 0: -2 N ln(1 - p) = -500 ln(.99) = 5.025168 > 3.8415 -> reject
    assert t["pof"]["statistic"] == pytest.approx(-500 * math.log(0.99))
    assert t["pof"]["result"] == "reject"
    assert res.traffic_light == "green"
    assert t["tl"]["probability"] == pytest.approx(0.99**250)
    assert t["cci"]["statistic"] == 0.0 and t["cci"]["p_value"] == 1.0
    assert t["cci"]["n00"] == 249
    # tuff: first failure censored at N + 1 = 251
    k = 251
    expected = -2 * (
        math.log(0.01) + (k - 1) * math.log(0.99) - math.log(1 / k) - (k - 1) * math.log(1 - 1 / k)
    )
    assert t["tuff"]["statistic"] == pytest.approx(expected)
    assert math.isnan(t["tbfi"]["statistic"]) and t["tbfi"]["result"] == t["tuff"]["result"]
    assert math.isnan(t["tbf"]["statistic"])
    both = t["pof"]["result"] == "accept" and t["tbfi"]["result"] == "accept"
    assert t["tbf"]["result"] == ("accept" if both else "reject")
    assert res.first_failure is None


def test_all_failures():
    res = var_backtest(np.ones(5, dtype=bool), 0.99)
    t = res.tests
    # pof with x = N: -2 N ln p = -10 ln .01 = 46.0517
    assert t["pof"]["statistic"] == pytest.approx(-10 * math.log(0.01))
    assert res.traffic_light == "red" and t["tl"]["scaling_factor"] == 4.0
    # all transitions 1 -> 1: p11 = pUC = 1, LR = 0
    assert t["cci"]["statistic"] == 0.0 and t["cci"]["n11"] == 4
    # tuff n = 1: -2 ln p; tbfi: 5 gaps of 1 -> 5 (-2 ln p) on 5 df
    assert t["tuff"]["statistic"] == pytest.approx(-2 * math.log(0.01))
    assert t["tbfi"]["statistic"] == pytest.approx(-10 * math.log(0.01))
    assert t["tbfi"]["df"] == 5


@pytest.mark.parametrize("value", [True, False])
def test_single_observation(value):
    res = var_backtest([value], 0.95)
    p = 0.05
    expected_pof = -2 * math.log(p) if value else -2 * math.log(1 - p)
    assert res.tests["pof"]["statistic"] == pytest.approx(expected_pof)
    assert res.tests["cci"]["statistic"] == 0.0  # no transitions
    expected_z = ((1 if value else 0) - p) / math.sqrt(p * (1 - p))
    assert res.tests["bin"]["statistic"] == pytest.approx(expected_z)
    assert res.n_obs == 1


def test_tests_subset_and_order():
    res = var_backtest(seq(20, [5]), 0.95, tests=["pof", "TL"])
    assert list(res.tests) == ["tl", "pof"]
    assert list(res.summary().index) == ["tl", "pof"]


def test_accepts_series_and_python_bools():
    idx = pd.date_range("2024-01-01", periods=5, freq="D", tz="UTC")
    a = var_backtest(pd.Series([False, True, False, False, False], index=idx), 0.9)
    b = var_backtest([False, True, False, False, False], 0.9)
    c = var_backtest(pd.Series([False, True, False, False, False], dtype="boolean"), 0.9)
    assert a.tests == b.tests == c.tests


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "exc", "word"),
    [
        ({"breaches": [0, 1, 0]}, ParameterError, "breaches"),
        ({"breaches": [0.0, 1.0]}, ParameterError, "breaches"),
        ({"breaches": ["a", "b"]}, ParameterError, "breaches"),
        ({"breaches": "TTF"}, ParameterError, "breaches"),
        ({"breaches": [[True, False]]}, ParameterError, "breaches"),
        ({"breaches": [True, np.nan]}, DataError, "breaches"),
        ({"breaches": pd.Series([True, None], dtype="boolean")}, DataError, "breaches"),
        ({"breaches": []}, DataError, "breaches"),
        ({"level": 1.0}, ParameterError, "level"),
        ({"level": 0}, ParameterError, "level"),
        ({"level": "high"}, ParameterError, "level"),
        ({"level": float("nan")}, ParameterError, "level"),
        ({"test_level": 1.5}, ParameterError, "test_level"),
        ({"tests": ["pof", "nope"]}, ParameterError, "tests"),
        ({"tests": []}, ParameterError, "tests"),
    ],
)
def test_bad_input(kwargs, exc, word):
    args = {"breaches": [True, False, False], "level": 0.95, **kwargs}
    with pytest.raises(exc) as info:
        var_backtest(**args)
    msg = str(info.value)
    assert isinstance(info.value, QuantlabError)
    assert word in msg and "\n" not in msg


# ---------------------------------------------------------------------------------------------
# from forecasts
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def forecasts():
    idx = pd.date_range("2024-01-01", periods=6, freq="D", tz="UTC")
    returns = pd.Series([0.01, -0.03, -0.02, 0.0, -0.05, 0.02], index=idx)
    var = pd.Series([0.025] * 6, index=idx)
    return returns, var


def test_from_forecasts_breach_definition(forecasts):
    returns, var = forecasts
    res = var_backtest_from_forecasts(returns, var, 0.95)
    # breach is returns < -var: -0.03 and -0.05 (strict: a loss equal to VaR is no breach)
    assert res.breaches.tolist() == [False, True, False, False, True, False]
    assert res.n_failures == 2
    assert res.returns is not None and res.var is not None
    same = var_backtest(res.breaches, 0.95)
    assert same.tests == res.tests
    edge = var_backtest_from_forecasts(pd.Series([-0.025, 0.0]), [0.025, 0.025], 0.95)
    assert edge.n_failures == 0


def test_from_forecasts_aligns_by_index(forecasts):
    returns, var = forecasts
    shuffled = var.iloc[::-1]
    res = var_backtest_from_forecasts(returns, shuffled * np.linspace(1, 2, 6), 0.95)
    expected = returns < -(var.iloc[::-1] * np.linspace(1, 2, 6)).reindex(returns.index)
    assert res.breaches.tolist() == expected.tolist()


@pytest.mark.parametrize(
    ("mutate", "exc", "words"),
    [
        (lambda r, v: (r, v.iloc[:-1]), DataError, ["misaligned"]),
        (lambda r, v: (r, v.set_axis(v.index + pd.Timedelta("1h"))), DataError, ["misaligned"]),
        (lambda r, v: (r, v.where(v.index != v.index[2])), DataError, ["var", "NaN"]),
        (lambda r, v: (r, v * -1), DataError, ["var", "negative"]),
        (lambda r, v: (r, v.to_numpy()[:-2]), DataError, ["var", "4 values"]),
        (lambda r, v: (r.where(r.index != r.index[1]), v), DataError, ["returns", "NaN"]),
        (lambda r, v: (r, ["x"] * 6), ParameterError, ["var"]),
        (lambda r, v: (r, pd.DataFrame({"a": v, "b": v})), ParameterError, ["var"]),
    ],
)
def test_from_forecasts_bad_input(forecasts, mutate, exc, words):
    returns, var = mutate(*forecasts)
    with pytest.raises(exc) as info:
        var_backtest_from_forecasts(returns, var, 0.95)
    msg = str(info.value)
    assert all(w in msg for w in words), msg
    assert "\n" not in msg


# ---------------------------------------------------------------------------------------------
# result object
# ---------------------------------------------------------------------------------------------
def test_result_summary_and_dict(mw):
    s = mw.summary()
    assert list(s.index) == list(TESTS)
    for col in ("statistic", "p_value", "critical_value", "result"):
        assert col in s.columns
    assert s.loc["tl", "result"] == "green"
    assert set(s["result"].drop("tl")) <= {"accept", "reject"}
    assert s.loc["cci", "n00"] == 932 and s.loc["tuff", "first_failure"] == 58
    d = mw.to_dict()
    json.dumps(d)  # plain JSON
    assert d["traffic_light"] == "green" and d["n_failures"] == 57
    assert d["tests"]["tl"]["critical_value"] is None  # NaN -> None
    html = mw._repr_html_()
    assert "<table" in html and "green" in html
    assert repr(mw).startswith("VaR backtest: 0.95 VaR") and "57 failures" in repr(mw)
    stats = mw.stats()
    assert stats["n_failures"] == 57 and stats["p_value_tl"] == s.loc["tl", "p_value"]
    assert mw.level == 0.95 and mw.test_level == 0.95


def test_plot_needs_forecasts(mw):
    with pytest.raises(UsageError, match="var_backtest_from_forecasts"):
        mw.plot()


def test_plot_delegates_lazily(forecasts, monkeypatch):
    returns, var = forecasts
    res = var_backtest_from_forecasts(returns, var, 0.95)
    fake = types.ModuleType("quantlab.charts.risk")
    calls = []

    def fake_figure(r, v, **kw):
        calls.append((r, v, kw))
        return "FIG"

    fake.var_backtest_figure = fake_figure
    monkeypatch.setitem(sys.modules, "quantlab.charts.risk", fake)
    assert res.plot(title="x") == "FIG"
    r, v, kw = calls[0]
    assert r is res.returns and v is res.var
    assert kw == {"title": "x", "level": 0.95, "zone": res.traffic_light}


def test_plot_real_figure(forecasts):
    pytest.importorskip("plotly")
    returns, var = forecasts
    fig = var_backtest_from_forecasts(returns, var, 0.95).plot()
    assert len(fig.data) >= 2
