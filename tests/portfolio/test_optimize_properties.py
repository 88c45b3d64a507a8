"""Property tests: random positive-definite covariances through min_variance, erc and hrp."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from quantlab.errors import ParameterError
from quantlab.portfolio.optimize import optimize


@st.composite
def covariances(draw: st.DrawFn) -> np.ndarray:
    n = draw(st.integers(2, 8))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, n + draw(st.integers(0, 4))))
    vols = rng.uniform(0.005, 0.1, n)
    corr_ish = a @ a.T + draw(st.floats(0.01, 2.0)) * np.eye(n)
    d = np.sqrt(np.diag(corr_ish))
    return corr_ish / np.outer(d, d) * np.outer(vols, vols)


def _frame(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.normal(0, 0.01, (n + 2, n)), columns=[f"A{i}" for i in range(n)])


@settings(max_examples=60, deadline=None)
@given(covariances())
def test_min_variance_and_erc_properties(s: np.ndarray) -> None:
    n = len(s)
    rets = _frame(n)
    w = optimize(rets, "min_variance", cov=s).weights.to_numpy()
    assert abs(w.sum() - 1) < 1e-9
    assert (w >= -1e-12).all()
    # KKT of long-only min variance: (Sw)_i equal to the minimum on the support, >= it elsewhere
    g = s @ w
    support = w > 1e-6
    lam = g[support].mean()
    np.testing.assert_allclose(g[support], lam, rtol=1e-4, atol=1e-10)
    assert (g[~support] >= lam * (1 - 1e-4) - 1e-10).all()
    e = optimize(rets, "erc", cov=s).weights.to_numpy()
    assert abs(e.sum() - 1) < 1e-9
    assert (e > 0).all()
    rc = e * (s @ e) / (e @ s @ e)
    np.testing.assert_allclose(rc, 1 / n, atol=1e-6)
    h = optimize(rets, "hrp", cov=s).weights.to_numpy()
    assert abs(h.sum() - 1) < 1e-12 and (h > 0).all()


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(["min_variance", "erc", "hrp", "min_cvar",
                                                   "max_sharpe"]))
def test_random_constraints_feasible_or_clear_error(seed: int, method: str) -> None:
    from scipy.optimize import linprog

    from quantlab.portfolio.constraints import InfeasibleError

    rng = np.random.default_rng(seed)
    n = 5
    rets = pd.DataFrame(rng.normal(0.001, 0.02, (60, n)) + rng.normal(0, 0.01, (60, 1)),
                        columns=list("abcde"))
    lo = rng.uniform(0, 0.25, n).round(2)
    hi = (lo + rng.uniform(0.05, 0.6, n)).round(2)
    members = list(rng.choice(list("abcde"), 2, replace=False))
    glo, ghi = sorted(rng.uniform(0, 0.8, 2).round(2))
    w0 = rng.dirichlet(np.ones(n))
    turnover = round(float(rng.uniform(0.05, 1.0)), 2)
    kwargs = {"bounds": dict(zip("abcde", zip(lo, hi, strict=True), strict=True)),
              "groups": {"g": (members, glo, ghi)}, "current_weights": w0,
              "max_turnover": turnover}
    # independent feasibility check: x = [w, u, v], w - u + v = w0, sum(u + v) <= T
    grow = np.r_[[1.0 if c in members else 0.0 for c in "abcde"], np.zeros(2 * n)]
    a_eq = np.vstack([np.r_[np.ones(n), np.zeros(2 * n)],
                      np.hstack([np.eye(n), -np.eye(n), np.eye(n)])])
    a_ub = np.vstack([grow, -grow, np.r_[np.zeros(n), np.ones(2 * n)]])
    lp = linprog(np.zeros(3 * n), A_ub=a_ub, b_ub=[ghi, -glo, turnover], A_eq=a_eq,
                 b_eq=np.r_[1.0, w0], bounds=list(zip(lo, hi, strict=True)) + [(0, None)] * 2 * n,
                 method="highs")
    try:
        w = optimize(rets, method, **kwargs).weights.to_numpy()
    except InfeasibleError as exc:
        assert lp.status == 2, str(exc)
        assert str(exc).startswith("infeasible constraints: ")
        return
    except ParameterError as exc:  # max_sharpe with no positive-excess feasible portfolio
        assert method == "max_sharpe" and "risk_free" in str(exc)
        return
    assert lp.status == 0
    tol = 1e-6
    assert abs(w.sum() - 1) < 1e-9
    assert (w >= lo - tol).all() and (w <= hi + tol).all()
    gsum = w[[("abcde").index(m) for m in members]].sum()
    assert glo - tol <= gsum <= ghi + tol
    assert np.abs(w - w0).sum() <= turnover + tol
