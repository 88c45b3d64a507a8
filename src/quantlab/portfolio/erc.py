"""Equal risk contribution / risk budgeting weights.

``w_i (Σw)_i / w'Σw = b_i`` is solved exactly by Newton's method on the convex problem
``min ½ y'Σy - sum b_i log y_i`` (Spinu 2013), ``w = y / sum y``; assets with a zero budget get
zero weight. When that portfolio breaks the bounds, groups or turnover limit the exact budgets are
unattainable and :func:`erc_weights` returns (status ``"closest_budgets"``) the portfolio
minimising ``sum_i (RC_i - b_i)^2`` over the constraints.
"""

from __future__ import annotations

import numpy as np

from quantlab.portfolio.constraints import (
    Constraints,
    OptimizationError,
    minimize_weights,
    project,
)

__all__ = ["erc_newton", "erc_weights"]


def erc_newton(s: np.ndarray, b: np.ndarray, tol: float = 1e-12, maxiter: int = 200
                ) -> np.ndarray:
    """Risk-budgeting weights by Newton's method on ``½ y'Sy - b'log y`` (Spinu 2013).

    ``s`` is scaled to unit mean variance, so ``y = O(1)``; convergence is declared when the
    gradient ``Sy - b/y`` is below ``tol`` (risk contributions then match the budgets to about
    ``tol``) or the Newton decrement is at round-off level.
    """
    y = b / np.sqrt(np.diag(s))
    y /= np.sqrt(y @ s @ y)

    def f(z: np.ndarray) -> float:
        return 0.5 * float(z @ s @ z) - float(b @ np.log(z))

    fy = f(y)
    for _ in range(maxiter):
        g = s @ y - b / y
        if np.abs(g).max() <= tol:
            return y / y.sum()
        h = s + np.diag(b / y**2)
        step = np.linalg.solve(h, -g)
        dec = float(-g @ step)
        if dec <= 1e-26:
            break
        t = 1.0
        while (y + t * step <= 0).any():
            t *= 0.5
        if dec < 1e-12:
            # quadratic-convergence region: f differences are below round-off, so an Armijo
            # test is meaningless; take the (positivity-safe) Newton step as is
            y = y + t * step
            fy = f(y)
            continue
        while True:
            z = y + t * step
            fz = f(z)
            if fz <= fy - 1e-4 * t * dec:
                break
            t *= 0.5
            if t < 1e-12:
                z, fz = y, fy      # no decrease possible: round-off level reached
                break
        if z is y:
            break
        y, fy = z, fz
    g = s @ y - b / y
    if np.abs(g).max() <= 1e-9:
        return y / y.sum()
    raise OptimizationError(f"erc: Newton's method did not converge in {maxiter} iterations "
                            f"(gradient {np.abs(g).max():.2g})")


def erc_weights(s: np.ndarray, b: np.ndarray, cons: Constraints, w_feas: np.ndarray,
         opts: dict) -> tuple[np.ndarray, str]:
    w = np.zeros(len(b))
    active = b > 0
    idx = np.flatnonzero(active)
    w[idx] = erc_newton(s[np.ix_(idx, idx)], b[idx])
    if not cons.violations(w, 1e-9):
        return w, "optimal"

    def fun(x: np.ndarray) -> float:
        sw = s @ x
        var = float(x @ sw)
        return float(((x * sw / var - b) ** 2).sum())

    def jac(x: np.ndarray) -> np.ndarray:
        sw = s @ x
        var = float(x @ sw)
        rc = x * sw / var
        jmat = (np.diag(sw) + x[:, None] * s) / var - 2.0 * np.outer(rc, sw) / var
        return 2.0 * jmat.T @ (rc - b)

    start = project(w, cons, w_feas)
    out = minimize_weights(fun, jac, cons, start, name="erc (constrained risk budgets)",
                           ftol=opts.get("ftol", 1e-12), maxiter=opts.get("maxiter", 1000))
    return out, "closest_budgets"
