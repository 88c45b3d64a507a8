"""Portfolio optimisers: closed forms, hand-derived HRP split, brute-force CVaR, constraints."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from quantlab.errors import DataError, ParameterError, QuantlabError
from quantlab.portfolio.constraints import InfeasibleError
from quantlab.portfolio.cvar import portfolio_cvar
from quantlab.portfolio.hrp import hrp_weights
from quantlab.portfolio.optimize import (
    METHODS,
    OptimizeResult,
    optimize,
    optimize_result,
    risk_contributions,
)


def _dummy_returns(n: int, rows: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(0, 0.01, (rows, n)), columns=[f"A{i}" for i in range(n)])


def _rc(w: np.ndarray, s: np.ndarray) -> np.ndarray:
    return w * (s @ w) / (w @ s @ w)


# ----------------------------------------------------------------------------- ERC


@pytest.mark.parametrize("cov", ["sample", "ledoit_wolf", "ewma"])
def test_erc_equal_risk_contributions_on_sample(returns: pd.DataFrame, cov: str) -> None:
    res = optimize_result(returns, "erc", cov=cov)
    s = res.covariance.to_numpy()
    w = res.weights.to_numpy()
    assert w.sum() == pytest.approx(1.0, abs=1e-12)
    assert (w > 0).all()
    np.testing.assert_allclose(_rc(w, s), 1 / 8, atol=1e-6)
    np.testing.assert_allclose(res.risk_contributions, 1 / 8, atol=1e-6)
    assert res.status == "optimal"


def test_erc_converges_when_f_is_flat_at_round_off(panel: pd.DataFrame) -> None:
    # regression: on this 90-day window the Armijo test stalls at gradient ~5e-9 because f
    # changes fall below round-off; full Newton steps finish the job
    from quantlab.risk.returns import returns_from_prices

    rets = returns_from_prices(panel["close"])
    j = rets.index.get_loc(pd.Timestamp("2022-12-01", tz="UTC"))
    window = rets.iloc[j - 90:j]
    w = optimize(window, "erc")
    np.testing.assert_allclose(_rc(w.to_numpy(), window.cov().to_numpy()), 0.25, atol=1e-12)


def test_erc_general_budgets(returns: pd.DataFrame) -> None:
    budgets = {a: float(i + 1) for i, a in enumerate(returns.columns)}
    w = optimize(returns, "erc", risk_budgets=budgets)
    b = np.arange(1, 9) / 36
    np.testing.assert_allclose(_rc(w.to_numpy(), returns.cov().to_numpy()), b, atol=1e-6)
    np.testing.assert_allclose(list(w.attrs["risk_contributions"].values()), b, atol=1e-6)


def test_erc_zero_budget_gets_zero_weight(returns: pd.DataFrame) -> None:
    budgets = dict.fromkeys(returns.columns, 1.0) | {"DOGE/USDT": 0.0}
    w = optimize(returns, "erc", risk_budgets=budgets)
    assert w["DOGE/USDT"] == 0.0
    rc = _rc(w.to_numpy(), returns.cov().to_numpy())
    np.testing.assert_allclose(np.delete(rc, list(returns.columns).index("DOGE/USDT")), 1 / 7,
                               atol=1e-6)


def test_erc_closed_forms() -> None:
    # Maillard, Roncalli & Teiletche (2010), "The properties of equally weighted risk
    # contribution portfolios", JPM 36(4): with two assets, or with one common correlation,
    # ERC weights are inverse volatilities, w_i = sigma_i^-1 / sum_j sigma_j^-1.
    sig = np.array([0.1, 0.2, 0.4])
    s = 0.3 * np.outer(sig, sig)
    np.fill_diagonal(s, sig**2)
    w = optimize(_dummy_returns(3), "erc", cov=s)
    np.testing.assert_allclose(w, (1 / sig) / (1 / sig).sum(), atol=1e-10)
    s2 = np.array([[0.04, -0.01], [-0.01, 0.09]])
    w2 = optimize(_dummy_returns(2), "erc", cov=s2)
    np.testing.assert_allclose(w2, [0.6, 0.4], atol=1e-10)  # (1/.2, 1/.3) / (1/.2 + 1/.3)


# ----------------------------------------------------------------------------- min variance


def test_min_variance_unconstrained_closed_form(returns: pd.DataFrame) -> None:
    s = returns.cov().to_numpy()
    x = np.linalg.solve(s, np.ones(8))
    w = optimize(returns, "min_variance", long_only=False)
    np.testing.assert_allclose(w.to_numpy(), x / x.sum(), atol=1e-6)
    assert (w < 0).any()  # the unconstrained solution really shorts something


def test_min_variance_long_only_beats_random_portfolios(returns: pd.DataFrame) -> None:
    res = optimize_result(returns, "min_variance", bounds=(0.0, 0.4))
    w = res.weights.to_numpy()
    assert w.max() <= 0.4 + 1e-9 and w.min() >= -1e-12
    s = returns.cov().to_numpy()
    rng = np.random.default_rng(3)
    cand = rng.dirichlet(np.ones(8), 5000)
    cand = cand[cand.max(axis=1) <= 0.4]
    assert (np.einsum("ki,ij,kj->k", cand, s, cand) >= w @ s @ w - 1e-15).all()
    assert res.volatility == pytest.approx(np.sqrt(w @ s @ w))


# ----------------------------------------------------------------------------- max Sharpe


def test_max_sharpe_unconstrained_tangency() -> None:
    # tangency w = S^-1 (mu - rf) / 1'S^-1 (mu - rf); mu chosen so that 1'S^-1(mu - rf) > 0
    rng = np.random.default_rng(11)
    a = rng.normal(size=(6, 6))
    s = (a @ a.T + 6 * np.eye(6)) * 1e-4
    mu = pd.Series([0.010, 0.008, 0.004, 0.012, 0.002, 0.006], index=[f"A{i}" for i in range(6)])
    rf = 0.001
    x = np.linalg.solve(s, mu.to_numpy() - rf)
    assert x.sum() > 0
    res = optimize_result(_dummy_returns(6), "max_sharpe", cov=s, expected_returns=mu,
                          risk_free=rf, long_only=False)
    np.testing.assert_allclose(res.weights.to_numpy(), x / x.sum(), atol=1e-5)
    # the tangency Sharpe ratio is sqrt((mu - rf)' S^-1 (mu - rf))
    assert res.sharpe == pytest.approx(np.sqrt((mu.to_numpy() - rf) @ x), rel=1e-8)


def test_max_sharpe_sample_unconstrained(returns: pd.DataFrame) -> None:
    s = returns.cov().to_numpy()
    x = np.linalg.solve(s, returns.mean().to_numpy())
    w = optimize(returns, "max_sharpe", long_only=False)
    np.testing.assert_allclose(w.to_numpy(), x / x.sum(), atol=1e-5)


def test_max_sharpe_long_only_with_groups_beats_random(returns: pd.DataFrame) -> None:
    groups = {"majors": (["BTC/USDT", "ETH/USDT"], 0.3, None)}
    res = optimize_result(returns, "max_sharpe", groups=groups, bounds=(0, 0.35))
    w = res.weights.to_numpy()
    assert w[[3, 5]].sum() >= 0.3 - 1e-9 and w.max() <= 0.35 + 1e-9
    s, mu = returns.cov().to_numpy(), returns.mean().to_numpy()
    rng = np.random.default_rng(5)
    cand = rng.dirichlet(np.ones(8) * 0.5, 20000)
    cand = cand[(cand.max(axis=1) <= 0.35) & (cand[:, [3, 5]].sum(axis=1) >= 0.3)]
    assert len(cand) > 100
    sharpe = cand @ mu / np.sqrt(np.einsum("ki,ij,kj->k", cand, s, cand))
    assert res.sharpe >= sharpe.max() - 1e-12


def test_max_sharpe_needs_positive_excess(returns: pd.DataFrame) -> None:
    with pytest.raises(ParameterError, match=r"risk_free=0.1"):
        optimize(returns, "max_sharpe", risk_free=0.1)


# ----------------------------------------------------------------------------- HRP


def test_hrp_block_diagonal_known_split() -> None:
    # Two uncorrelated blocks of two identical assets (correlation 0.5 inside a block):
    #   block 1 (a, b): variance 0.04 each, covariance 0.02
    #   block 2 (c, d): variance 0.01 each, covariance 0.005
    # Single linkage merges a-b and c-d first, so the quasi-diagonal order keeps the blocks
    # together and the first bisection splits {a, b} | {c, d}.
    # Inverse-variance weights inside each block are (1/2, 1/2), so
    #   V1 = 1/4 (0.04 + 0.04 + 2 * 0.02)  = 0.03
    #   V2 = 1/4 (0.01 + 0.01 + 2 * 0.005) = 0.0075
    #   alpha = 1 - V1 / (V1 + V2) = 1 - 0.03 / 0.0375 = 0.2
    # then each block splits in halves with alpha = 1/2 (identical assets):
    #   w = (0.1, 0.1, 0.4, 0.4)
    s = np.array([[0.04, 0.02, 0, 0], [0.02, 0.04, 0, 0],
                  [0, 0, 0.01, 0.005], [0, 0, 0.005, 0.01]])
    np.testing.assert_allclose(hrp_weights(s), [0.1, 0.1, 0.4, 0.4], atol=1e-12)
    # same with the assets shuffled: weights follow the assets
    perm = [2, 0, 3, 1]
    np.testing.assert_allclose(hrp_weights(s[np.ix_(perm, perm)]), [0.4, 0.1, 0.4, 0.1],
                               atol=1e-12)
    w = optimize(_dummy_returns(4), "hrp", cov=s)
    np.testing.assert_allclose(w, [0.1, 0.1, 0.4, 0.4], atol=1e-12)
    assert w.attrs["status"] == "heuristic"


def test_hrp_on_sample(returns: pd.DataFrame) -> None:
    res = optimize_result(returns, "hrp")
    assert res.weights.sum() == pytest.approx(1.0)
    assert (res.weights > 0).all()
    # diagonal covariance: HRP reduces to inverse-variance weights
    d = np.diag([0.01, 0.04, 0.02, 0.05, 0.03])
    np.testing.assert_allclose(hrp_weights(d), (1 / np.diag(d)) / (1 / np.diag(d)).sum(),
                               atol=1e-12)


# ----------------------------------------------------------------------------- min CVaR


def test_portfolio_cvar_tail_mean() -> None:
    # 20 equally likely losses 1..20 (%), level 0.9: CVaR is the mean of the worst 2 = 19.5 %
    r = -np.arange(1, 21, dtype=float)[:, None] / 100
    assert portfolio_cvar(r, [1.0], 0.9) == pytest.approx(0.195)
    # level 0.875: worst 2.5 scenarios -> (20 + 19 + 0.5 * 18) / 2.5 = 19.2 %
    assert portfolio_cvar(r, [1.0], 0.875) == pytest.approx(0.192)


def test_min_cvar_beats_equal_weight(returns: pd.DataFrame) -> None:
    res = optimize_result(returns, "min_cvar", level=0.95)
    w = res.weights.to_numpy()
    assert w.sum() == pytest.approx(1.0, abs=1e-12)
    cvar = portfolio_cvar(returns.to_numpy(), w, 0.95)
    assert cvar <= portfolio_cvar(returns.to_numpy(), np.full(8, 1 / 8), 0.95)
    assert res.params["cvar"] == pytest.approx(cvar, abs=1e-12)
    assert res.params["var"] <= cvar


def test_min_cvar_matches_brute_force_grid(returns: pd.DataFrame) -> None:
    two = returns[["ETH/USDT", "SOL/USDT"]].iloc[-500:]
    res = optimize_result(two, "min_cvar", level=0.9)
    grid = np.linspace(0, 1, 2001)
    r = two.to_numpy()
    vals = np.array([portfolio_cvar(r, [g, 1 - g], 0.9) for g in grid])
    best = vals.min()
    assert res.params["cvar"] <= best + 1e-12           # the LP is the exact minimum
    assert res.params["cvar"] >= best - 1e-4            # and the grid gets close to it
    assert res.weights.iloc[0] == pytest.approx(grid[vals.argmin()], abs=2e-3)


def test_min_cvar_with_constraints(returns: pd.DataFrame) -> None:
    w0 = pd.Series(1 / 8, index=returns.columns)
    groups = {"alts": (["ADA/USDT", "AVAX/USDT", "DOGE/USDT", "XRP/USDT", "SOL/USDT"], 0.2, 0.5)}
    res = optimize_result(returns, "min_cvar", bounds=(0.02, 0.5), groups=groups,
                          current_weights=w0, max_turnover=0.6)
    w = res.weights
    assert w.min() >= 0.02 - 1e-9 and w.max() <= 0.5 + 1e-9
    assert 0.2 - 1e-9 <= w[list(groups["alts"][0])].sum() <= 0.5 + 1e-9
    assert (w - w0).abs().sum() <= 0.6 + 1e-9
    assert res.params["turnover"] == pytest.approx((w - w0).abs().sum())


# ----------------------------------------------------------------------------- constraints


def test_bounds_and_groups_respected(returns: pd.DataFrame) -> None:
    groups = {"majors": (["BTC/USDT", "ETH/USDT"], 0.4, 0.6),
              "memes": (["DOGE/USDT"], None, 0.05)}
    for method in METHODS:
        w = optimize(returns, method, bounds=(0.03, 0.3), groups=groups)
        assert w.sum() == pytest.approx(1.0, abs=1e-9), method
        assert w.min() >= 0.03 - 1e-9 and w.max() <= 0.3 + 1e-9, method
        assert 0.4 - 1e-9 <= w[["BTC/USDT", "ETH/USDT"]].sum() <= 0.6 + 1e-9, method
        assert w["DOGE/USDT"] <= 0.05 + 1e-9, method


def test_per_asset_bounds_and_shorts(returns: pd.DataFrame) -> None:
    w = optimize(returns, "min_variance", long_only=False,
                 bounds={"BTC/USDT": (None, 0.5), "ETH/USDT": (-0.2, 0.1)})
    assert w["BTC/USDT"] <= 0.5 + 1e-9
    assert -0.2 - 1e-9 <= w["ETH/USDT"] <= 0.1 + 1e-9
    assert (w < -1e-6).any()


def test_turnover_respected(returns: pd.DataFrame) -> None:
    w0 = pd.Series(1 / 8, index=returns.columns)
    for method in ("erc", "min_variance", "max_sharpe", "hrp", "inverse_vol"):
        res = optimize_result(returns, method, current_weights=w0, max_turnover=0.05)
        assert (res.weights - w0).abs().sum() <= 0.05 + 1e-7, method
    res = optimize_result(returns, "erc", current_weights=w0, max_turnover=0.05)
    assert res.status == "closest_budgets"
    free = optimize_result(returns, "erc", current_weights=w0, max_turnover=2.0)
    assert free.status == "optimal" and free.params["turnover"] < 2.0


def test_heuristic_projection(returns: pd.DataFrame) -> None:
    res = optimize_result(returns, "inverse_vol", bounds=(0, 0.15))
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
    res = optimize_result(returns, "erc", cov="ledoit_wolf")
    assert isinstance(res, OptimizeResult)
    summ = res.summary()
    assert summ["method"] == "erc" and 0 <= summ["shrinkage"] <= 1
    assert list(res.allocation().columns) == ["weight", "risk_contribution"]
    d = res.to_dict()
    json.dumps(d)
    assert d["weights"]["BTC/USDT"] == pytest.approx(res.weights["BTC/USDT"])
    assert "<table" in res._repr_html_()
    fig = res.plot()
    assert len(fig.data) == 2 and fig.data[0].name == "weight"
    w = optimize(returns, "erc")
    assert w.attrs["method"] == "erc" and w.attrs["status"] == "optimal"
    assert w.name == "erc"
    rc = risk_contributions(w, returns.cov())
    assert rc.sum() == pytest.approx(1.0)
