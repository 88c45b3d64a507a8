"""optimize(): min variance, constraints, projections, input errors and the OptimizeResult.

The methods with a module of their own are tested in test_erc, test_max_sharpe, test_hrp and
test_cvar."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from quantlab.errors import DataError, ParameterError, QuantlabError
from quantlab.portfolio.constraints import InfeasibleError
from quantlab.portfolio.optimize import (
    METHODS,
    OptimizeResult,
    optimize,
    optimize_result,
    risk_contributions,
)
from tests.portfolio._helpers import dummy_returns as _dummy_returns

# ----------------------------------------------------------------------------- min variance


def test_min_variance_unconstrained_closed_form(returns: pd.DataFrame) -> None:
    s = returns.cov().to_numpy()
    x = np.linalg.solve(s, np.ones(8))
    w = optimize(returns, "min_variance", long_only=False).weights
    np.testing.assert_allclose(w.to_numpy(), x / x.sum(), atol=1e-6)
    assert (w < 0).any()  # the unconstrained solution really shorts something


def test_min_variance_long_only_beats_random_portfolios(returns: pd.DataFrame) -> None:
    res = optimize(returns, "min_variance", bounds=(0.0, 0.4))
    w = res.weights.to_numpy()
    assert w.max() <= 0.4 + 1e-9 and w.min() >= -1e-12
    s = returns.cov().to_numpy()
    rng = np.random.default_rng(3)
    cand = rng.dirichlet(np.ones(8), 5000)
    cand = cand[cand.max(axis=1) <= 0.4]
    assert (np.einsum("ki,ij,kj->k", cand, s, cand) >= w @ s @ w - 1e-15).all()
    assert res.volatility == pytest.approx(np.sqrt(w @ s @ w))


# ----------------------------------------------------------------------------- constraints


def test_bounds_and_groups_respected(returns: pd.DataFrame) -> None:
    groups = {"majors": (["BTC/USDT", "ETH/USDT"], 0.4, 0.6),
              "memes": (["DOGE/USDT"], None, 0.05)}
    for method in METHODS:
        w = optimize(returns, method, bounds=(0.03, 0.3), groups=groups).weights
        assert w.sum() == pytest.approx(1.0, abs=1e-9), method
        assert w.min() >= 0.03 - 1e-9 and w.max() <= 0.3 + 1e-9, method
        assert 0.4 - 1e-9 <= w[["BTC/USDT", "ETH/USDT"]].sum() <= 0.6 + 1e-9, method
        assert w["DOGE/USDT"] <= 0.05 + 1e-9, method


def test_per_asset_bounds_and_shorts(returns: pd.DataFrame) -> None:
    w = optimize(returns, "min_variance", long_only=False,
                 bounds={"BTC/USDT": (None, 0.5), "ETH/USDT": (-0.2, 0.1)}).weights
    assert w["BTC/USDT"] <= 0.5 + 1e-9
    assert -0.2 - 1e-9 <= w["ETH/USDT"] <= 0.1 + 1e-9
    assert (w < -1e-6).any()


def test_turnover_respected(returns: pd.DataFrame) -> None:
    w0 = pd.Series(1 / 8, index=returns.columns)
    for method in ("erc", "min_variance", "max_sharpe", "hrp", "inverse_vol"):
        res = optimize(returns, method, current_weights=w0, max_turnover=0.05)
        assert (res.weights - w0).abs().sum() <= 0.05 + 1e-7, method
    res = optimize(returns, "erc", current_weights=w0, max_turnover=0.05)
    assert res.status == "closest_budgets"
    free = optimize(returns, "erc", current_weights=w0, max_turnover=2.0)
    assert free.status == "optimal" and free.params["turnover"] < 2.0


def test_heuristic_projection(returns: pd.DataFrame) -> None:
    res = optimize(returns, "inverse_vol", bounds=(0, 0.15))
    assert res.status == "projected"
    assert res.weights.max() <= 0.15 + 1e-9
    raw = 1 / returns.std()
    raw /= raw.sum()
    # least-squares projection onto {sum w = 1, 0 <= w <= 0.15} is w_i = clip(raw_i + tau, 0, .15)
    # with tau solving sum_i w_i = 1 (KKT of the projection; tau found by bisection)
    lo, hi = -1.0, 1.0
    for _ in range(200):
        tau = (lo + hi) / 2
        lo, hi = (tau, hi) if np.clip(raw + tau, 0, 0.15).sum() < 1 else (lo, tau)
    expected = np.clip(raw + tau, 0, 0.15)
    assert (expected == 0.15).sum() == 3  # more than the two assets raw already had above 0.15
    assert (raw > 0.15).sum() == 2
    np.testing.assert_allclose(res.weights, expected, atol=1e-6)


def test_infeasible_bounds_total(returns: pd.DataFrame) -> None:
    with pytest.raises(InfeasibleError, match=r"bounds allow at most 0.8 in total"):
        optimize(returns, "erc", bounds=(0, 0.1))
    with pytest.raises(InfeasibleError, match=r"bounds require at least 1.6 in total"):
        optimize(returns, "erc", bounds=(0.2, 1))


def test_infeasible_groups(returns: pd.DataFrame) -> None:
    alts = ["ADA/USDT", "AVAX/USDT", "DOGE/USDT"]
    with pytest.raises(InfeasibleError,
                       match=r"group 'alts' lower limit 0.7 conflicts with bounds/other groups "
                             r"\(at most 0.6 attainable\)"):
        optimize(returns, "min_variance", bounds=(0, 0.2), groups={"alts": (alts, 0.7, 1.0)})
    groups = {"alts": (alts, 0.5, None), "big": (["BTC/USDT", "ETH/USDT", "BNB/USDT"], 0.6, 1)}
    with pytest.raises(InfeasibleError, match=r"group 'big' lower limit 0.6.*at most 0.5"):
        optimize(returns, "erc", groups=groups)
    with pytest.raises(InfeasibleError, match=r"group 'small' upper limit 0.1.*at least 0.2"):
        optimize(returns, "hrp", bounds=(0.1, 0.5), groups={"small": (alts[:2], 0, 0.1)})


def test_infeasible_turnover(returns: pd.DataFrame) -> None:
    w0 = dict.fromkeys(returns.columns, 0.0) | {"BTC/USDT": 1.0}
    with pytest.raises(InfeasibleError, match=r"max_turnover=0.05 cannot reach any feasible "
                                              r"portfolio from current_weights \(minimum "
                                              r"turnover needed 1\.4\)"):
        optimize(returns, "erc", bounds=(0, 0.3), current_weights=w0, max_turnover=0.05)


def test_input_errors(returns: pd.DataFrame) -> None:
    with pytest.raises(ParameterError, match=r"method='foo' is unknown; use one of equal, "
                                             "inverse_vol, min_variance, max_sharpe, erc, hrp, "
                                             "min_cvar"):
        optimize(returns, "foo")
    bad = returns.copy()
    bad.iloc[5, 1] = np.nan
    with pytest.raises(DataError, match=r"NaN/inf at row 5"):
        optimize(bad)
    with pytest.raises(DataError, match=r"at least 2"):
        optimize(returns.iloc[:1], "equal")
    with pytest.raises(DataError, match=r"at least 9"):
        optimize(returns.iloc[:6], "erc")
    optimize(returns.iloc[:6], "erc", cov="ledoit_wolf")
    with pytest.raises(ParameterError, match=r"bounds name unknown assets: LUNA/USDT"):
        optimize(returns, bounds={"LUNA/USDT": (0, 1)})
    with pytest.raises(ParameterError, match=r"groups\['x'\] names unknown assets: FOO"):
        optimize(returns, groups={"x": (["FOO", "BTC/USDT"], 0, 1)})
    with pytest.raises(ParameterError, match=r"risk_budgets\['BTC/USDT'\]=-1 is negative"):
        optimize(returns, risk_budgets=dict.fromkeys(returns.columns, 1.0) | {"BTC/USDT": -1})
    with pytest.raises(ParameterError, match=r"risk_budgets apply to method='erc' only"):
        optimize(returns, "hrp", risk_budgets=dict.fromkeys(returns.columns, 1.0))
    with pytest.raises(ParameterError, match=r"long_only=True"):
        optimize(returns, bounds=(-0.1, 1))
    with pytest.raises(ParameterError, match=r"max_turnover needs current_weights"):
        optimize(returns, max_turnover=0.1)
    with pytest.raises(ParameterError, match=r"unknown option"):
        optimize(returns, foo=1)
    with pytest.raises(ParameterError, match=r"level"):
        optimize(returns, "min_cvar", level=95)
    with pytest.raises(ParameterError, match=r"lower limit above upper"):
        optimize(returns, bounds=(0.5, 0.1))
    with pytest.raises(ParameterError, match=r"cov has shape"):
        optimize(returns, cov=np.eye(3))
    with pytest.raises(ParameterError, match=r"positive semi-definite"):
        optimize(_dummy_returns(2), cov=np.array([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(ParameterError, match=r"cov='shrunk'"):
        optimize(returns, cov="shrunk")
    # every error is a QuantlabError with a one-line message
    try:
        optimize(returns, bounds=(0, 0.1))
    except QuantlabError as exc:
        assert "\n" not in str(exc)


# ----------------------------------------------------------------------------- result object


def test_result_object(returns: pd.DataFrame) -> None:
    res = optimize(returns, "erc", cov="ledoit_wolf")
    assert isinstance(res, OptimizeResult)
    stats = res.stats()
    assert stats["method"] == "erc" and stats["status"] == "optimal"
    assert stats["cov"] == "ledoit_wolf" == res.cov_method
    assert 0 <= stats["shrinkage"] <= 1
    assert stats["volatility"] == res.volatility and stats["sharpe"] == res.sharpe
    assert stats["n_obs"] == len(returns) and stats["end"] == returns.index[-1]
    table = res.summary()
    assert list(table.columns) == ["weight", "risk_contribution", "volatility",
                                   "expected_return"]
    np.testing.assert_allclose(table["volatility"], returns.std(), rtol=0.5)   # shrunk, close
    np.testing.assert_allclose(table["expected_return"], returns.mean(), atol=1e-15)
    shown = res.summary(formatted=True)
    assert shown.loc["BTC/USDT", "weight"].endswith("%")
    d = res.to_dict()
    json.dumps(d)
    assert d["weights"]["BTC/USDT"] == pytest.approx(res.weights["BTC/USDT"])
    assert d["stats"]["method"] == "erc" and "risk_budgets" in d["params"]
    assert "<table" in res._repr_html_()
    assert repr(res).startswith("erc portfolio (optimal), 8 assets, cov ledoit_wolf")
    fig = res.plot()
    assert [t.name for t in fig.data] == ["weight", "risk contribution"]
    np.testing.assert_allclose(fig.data[0].y, res.weights.to_numpy())
    np.testing.assert_allclose(fig.data[1].y, res.risk_contributions.to_numpy())
    assert list(fig.data[0].x) == list(returns.columns)
    assert res.weights.name == "erc"
    rc = risk_contributions(res.weights, returns.cov())
    assert rc.sum() == pytest.approx(1.0)


def test_optimize_result_is_a_deprecated_alias(returns: pd.DataFrame) -> None:
    with pytest.warns(DeprecationWarning, match="optimize_result"):
        res = optimize_result(returns, "equal")
    assert isinstance(res, OptimizeResult) and res.weights.sum() == pytest.approx(1.0)
