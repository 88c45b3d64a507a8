"""ERC / risk budgeting (quantlab.portfolio.erc): closed forms, budgets, Newton edge cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantlab.portfolio.optimize import optimize
from tests.portfolio._helpers import dummy_returns as _dummy_returns
from tests.portfolio._helpers import rc as _rc

# ----------------------------------------------------------------------------- ERC


@pytest.mark.parametrize("cov", ["sample", "ledoit_wolf", "ewma"])
def test_erc_equal_risk_contributions_on_sample(returns: pd.DataFrame, cov: str) -> None:
    res = optimize(returns, "erc", cov=cov)
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
    w = optimize(window, "erc").weights
    np.testing.assert_allclose(_rc(w.to_numpy(), window.cov().to_numpy()), 0.25, atol=1e-12)


def test_erc_general_budgets(returns: pd.DataFrame) -> None:
    budgets = {a: float(i + 1) for i, a in enumerate(returns.columns)}
    res = optimize(returns, "erc", risk_budgets=budgets)
    w = res.weights
    b = np.arange(1, 9) / 36
    np.testing.assert_allclose(_rc(w.to_numpy(), returns.cov().to_numpy()), b, atol=1e-6)
    np.testing.assert_allclose(res.risk_contributions.to_numpy(), b, atol=1e-6)
    np.testing.assert_allclose(res.summary()["risk_contribution"].to_numpy(), b, atol=1e-6)


def test_erc_zero_budget_gets_zero_weight(returns: pd.DataFrame) -> None:
    budgets = dict.fromkeys(returns.columns, 1.0) | {"DOGE/USDT": 0.0}
    w = optimize(returns, "erc", risk_budgets=budgets).weights
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
    w = optimize(_dummy_returns(3), "erc", cov=s).weights
    np.testing.assert_allclose(w, (1 / sig) / (1 / sig).sum(), atol=1e-10)
    s2 = np.array([[0.04, -0.01], [-0.01, 0.09]])
    w2 = optimize(_dummy_returns(2), "erc", cov=s2).weights
    np.testing.assert_allclose(w2, [0.6, 0.4], atol=1e-10)  # (1/.2, 1/.3) / (1/.2 + 1/.3)
