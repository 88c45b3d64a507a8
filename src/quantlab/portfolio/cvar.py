"""Minimum-CVaR portfolio on historical scenarios (Rockafellar & Uryasev 2000).

Rockafellar, R.T. and Uryasev, S. (2000). "Optimization of conditional value-at-risk",
*Journal of Risk* 2(3), 21–41. With scenario returns ``r_t`` (rows of ``returns``, equally
likely) and loss ``-r_t'w``, CVaR at ``level`` is

``F(w, alpha) = alpha + 1/((1 - level) T) sum_t max(-r_t'w - alpha, 0)``,  ``CVaR(w) = min_alpha F``

and ``min_w CVaR(w)`` is the linear programme (their eq. 17)::

    min  alpha + 1/((1-level) T) sum_t u_t
    s.t. u_t >= -r_t'w - alpha,  u_t >= 0,  sum w = 1,  bounds, groups, turnover (split u/v)

solved with HiGHS. The optimal ``alpha`` is a VaR of the optimal portfolio. CVaR is a positive
loss fraction (0.05 = 5 % average loss in the tail), like the risk layer's ES.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

from quantlab._validate import as_returns, check_level, check_weights
from quantlab.portfolio.constraints import Constraints, OptimizationError

__all__ = ["min_cvar_weights", "portfolio_cvar"]


def portfolio_cvar(returns: Any, weights: Any, level: float = 0.95) -> float:
    """Historical CVaR ``min_alpha F(w, alpha)`` of a constant-weight portfolio (positive loss).

    The minimum over ``alpha`` of the piecewise-linear convex ``F`` is attained at one of the
    scenario losses, so it is evaluated exactly there (fractional tail atoms included).

    ``returns`` (one column per asset) are validated like every risk input (finite, not
    prices); ``weights`` by asset name or in column order.
    """
    frame = as_returns(returns, min_obs=1, name="returns")
    if frame.ndim == 1:
        frame = frame.to_frame()
    level = check_level(level)
    r = frame.to_numpy()
    loss = -(r @ check_weights(weights, frame.columns))
    t = loss.size
    k = 1.0 / ((1.0 - level) * t)
    srt = np.sort(loss)
    # F(alpha_j) for alpha_j = srt[j]: alpha + k * sum_{i} max(loss_i - alpha, 0)
    tail_sum = np.cumsum(srt[::-1])[::-1]                 # sum_{i >= j} srt[i]
    count = t - np.arange(t)                              # number of i >= j
    vals = srt + k * (tail_sum - count * srt)
    return float(vals.min())


def min_cvar_weights(returns: np.ndarray, cons: Constraints, level: float = 0.95
                     ) -> tuple[np.ndarray, float, float]:
    """Solve the Rockafellar–Uryasev LP under ``cons``.

    Returns
    -------
    (weights, cvar, var)
        Optimal weights, their CVaR (LP objective) and the optimal ``alpha`` (VaR).
    """
    r = np.asarray(returns, dtype="float64")
    t, n = r.shape
    k = 1.0 / ((1.0 - level) * t)
    system = cons.linear_system()              # on x = [w (, p, q)]
    m = system["A_eq"].shape[1]                # n or 3n
    extra = m - n
    # variables: [w, (p, q), alpha, u_1..u_T]
    c = np.r_[np.zeros(m), 1.0, np.full(t, k)]
    # -r_t'w - alpha - u_t <= 0
    scen = sparse.hstack([sparse.csr_matrix(-r), sparse.csr_matrix((t, extra)),
                          sparse.csr_matrix(-np.ones((t, 1))), -sparse.identity(t, format="csr")])
    blocks = [scen]
    b_ub = [np.zeros(t)]
    if system["A_ub"] is not None:
        blocks.append(sparse.hstack([sparse.csr_matrix(system["A_ub"]),
                                     sparse.csr_matrix((system["A_ub"].shape[0], 1 + t))]))
        b_ub.append(system["b_ub"])
    a_ub = sparse.vstack(blocks, format="csr")
    a_eq = sparse.hstack([sparse.csr_matrix(system["A_eq"]),
                          sparse.csr_matrix((system["A_eq"].shape[0], 1 + t))], format="csr")
    bounds = system["bounds"] + [(None, None)] + [(0.0, None)] * t
    res = linprog(c, A_ub=a_ub, b_ub=np.concatenate(b_ub), A_eq=a_eq, b_eq=system["b_eq"],
                  bounds=bounds, method="highs")
    if res.status == 3:
        raise OptimizationError("min_cvar: the LP is unbounded (some long-short portfolio gains "
                                "in every scenario); add bounds or use long_only=True")
    if res.status != 0:
        raise OptimizationError(f"min_cvar: HiGHS failed: {res.message}")
    return np.asarray(res.x[:n]), float(res.fun), float(res.x[m])
