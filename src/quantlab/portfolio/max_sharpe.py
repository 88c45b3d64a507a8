"""Tangency (maximum Sharpe ratio) portfolio as a convex QP (Cornuéjols & Tütüncü 2007, §8.2).

``max (mu'w - rf) / sqrt(w'Σw)`` over the constraint set is solved in homogenised variables
``y = kappa w`` (``kappa >= 0``)::

    min y'Σy   s.t.   ms'y = 1,   sum y = kappa,
                      lo kappa <= y <= hi kappa,   glo kappa <= sum_{g} y <= ghi kappa,
                      y - kappa w0 = p - q,  p, q >= 0,  sum(p + q) <= T kappa   (turnover)

and ``w = y / kappa``. ``ms = (mu - rf) / best`` is the excess return scaled by the largest
excess return attainable on the feasible set (an LP), so that ``ms'w <= 1`` there and the
problem is well scaled. The SLSQP point is polished by an exact KKT solve on its active set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, linprog, minimize

from quantlab.errors import ParameterError
from quantlab.portfolio.constraints import (
    Constraints,
    OptimizationError,
    finite_or_none,
    qp_polish,
)

__all__ = ["max_sharpe_weights"]


def _best_excess(excess: np.ndarray, cons: Constraints, risk_free: float
                 ) -> tuple[float, np.ndarray]:
    """Largest excess return ``max (mu - rf)'w`` on the feasible set (HiGHS) and its portfolio."""
    n = cons.n
    system = cons.linear_system()
    m = system["A_eq"].shape[1]
    c = -np.r_[excess, np.zeros(m - n)]
    lp = linprog(c, A_ub=system["A_ub"], b_ub=system["b_ub"], A_eq=system["A_eq"],
                 b_eq=system["b_eq"], bounds=system["bounds"], method="highs")
    if lp.status == 3:
        # unbounded expected return (shorts without bounds): any feasible portfolio with a
        # positive excess return serves as the starting point and scale
        cap = float(np.abs(excess).max())
        a_ub = c[None, :] * -1.0 if system["A_ub"] is None else np.vstack([system["A_ub"], -c])
        b_ub = np.r_[[] if system["b_ub"] is None else system["b_ub"], cap]
        lp = linprog(c, A_ub=a_ub, b_ub=b_ub, A_eq=system["A_eq"], b_eq=system["b_eq"],
                     bounds=system["bounds"], method="highs")
    if lp.status != 0:
        raise OptimizationError(f"max_sharpe: HiGHS failed: {lp.message}")
    best = -lp.fun
    if best <= 1e-12 * max(1.0, float(np.abs(excess).max())):
        raise ParameterError(f"max_sharpe: no feasible portfolio has an expected return above "
                             f"risk_free={risk_free:g}; lower risk_free or use min_variance")
    return float(best), np.asarray(lp.x[:n])


@dataclass
class _Homogenised:
    """Linear system on ``x = [y (n), kappa, (p (n), q (n))]``."""

    n: int
    a_eq: np.ndarray
    b_eq: np.ndarray
    a_ub: np.ndarray | None
    b_ub: np.ndarray | None
    lo: np.ndarray
    hi: np.ndarray

    @property
    def k(self) -> int:
        """Position of kappa."""
        return self.n

    @property
    def nv(self) -> int:
        return len(self.lo)

    def system(self) -> dict:
        """The form :func:`quantlab.portfolio.constraints.qp_polish` takes."""
        return {"A_eq": self.a_eq, "b_eq": self.b_eq, "A_ub": self.a_ub, "b_ub": self.b_ub,
                "bounds": [(finite_or_none(a), finite_or_none(b))
                           for a, b in zip(self.lo, self.hi, strict=True)]}


def _scaled_limit_rows(cons: Constraints, nv: int, lo_b: np.ndarray, hi_b: np.ndarray
                       ) -> list[np.ndarray]:
    """``y_i <= hi_i kappa``, ``-y_i <= -lo_i kappa`` and the group limits likewise (``<= 0``).

    Sign-fixing bounds (``hi <= 0``, ``lo >= 0``) are also set directly on ``y`` in place.
    """
    n, k = cons.n, cons.n
    rows = []
    for i in range(n):
        if np.isfinite(cons.upper[i]):
            row = np.zeros(nv)
            row[i], row[k] = 1.0, -cons.upper[i]
            rows.append(row)
            if cons.upper[i] <= 0:
                hi_b[i] = 0.0
        if np.isfinite(cons.lower[i]):
            row = np.zeros(nv)
            row[i], row[k] = -1.0, cons.lower[i]
            rows.append(row)
            if cons.lower[i] >= 0:
                lo_b[i] = 0.0
    for g in cons.groups:
        if np.isfinite(g.hi):
            row = np.zeros(nv)
            row[g.members], row[k] = 1.0, -g.hi
            rows.append(row)
        if np.isfinite(g.lo):
            row = np.zeros(nv)
            row[g.members], row[k] = -1.0, g.lo
            rows.append(row)
    return rows


def _homogenise(cons: Constraints, ms: np.ndarray) -> _Homogenised:
    n = k = cons.n
    nv = n + 1 + (2 * n if cons.has_turnover else 0)
    budget, scale = np.zeros(nv), np.zeros(nv)
    budget[:n], budget[k] = 1.0, -1.0          # sum y = kappa
    scale[:n] = ms                              # ms'y = 1
    eq_rows, eq_b = [budget, scale], [0.0, 1.0]
    lo_b, hi_b = np.full(nv, -np.inf), np.full(nv, np.inf)
    lo_b[k] = 0.0
    ub_rows = _scaled_limit_rows(cons, nv, lo_b, hi_b)
    if cons.has_turnover:
        eye = np.eye(n)
        eq_rows.extend(np.hstack([eye, -cons.current_weights[:, None], -eye, eye]))
        eq_b.extend(np.zeros(n))
        row = np.zeros(nv)
        row[k], row[n + 1:] = -cons.max_turnover, 1.0
        ub_rows.append(row)
        lo_b[n + 1:] = 0.0
    return _Homogenised(
        n=n, a_eq=np.vstack(eq_rows), b_eq=np.asarray(eq_b),
        a_ub=np.vstack(ub_rows) if ub_rows else None,
        b_ub=np.zeros(len(ub_rows)) if ub_rows else None, lo=lo_b, hi=hi_b)


def _start(h: _Homogenised, cons: Constraints, w_lp: np.ndarray) -> np.ndarray:
    x0 = np.r_[w_lp, 1.0]
    if cons.has_turnover:
        d = w_lp - cons.current_weights
        x0 = np.r_[x0, np.maximum(d, 0), np.maximum(-d, 0)]
    return x0


def _solve(s: np.ndarray, h: _Homogenised, x0: np.ndarray, opts: dict) -> np.ndarray:
    """``min y'Σy`` on the homogenised system: SLSQP, then the exact active-set polish."""
    n = h.n
    constraints = [LinearConstraint(h.a_eq, h.b_eq, h.b_eq)]
    if h.a_ub is not None:
        constraints.append(LinearConstraint(h.a_ub, -np.inf, h.b_ub))

    def fun(x: np.ndarray) -> float:
        return float(x[:n] @ s @ x[:n])

    def jac(x: np.ndarray) -> np.ndarray:
        out = np.zeros_like(x)
        out[:n] = 2.0 * (s @ x[:n])
        return out

    res = minimize(fun, x0, jac=jac, method="SLSQP", bounds=Bounds(h.lo, h.hi),
                   constraints=constraints,
                   options={"ftol": opts.get("ftol", 1e-12), "maxiter": opts.get("maxiter", 1000)})
    if not res.success and res.status != 8:
        raise OptimizationError(f"max_sharpe: SLSQP failed: {res.message}")
    p = np.zeros((h.nv, h.nv))
    p[:n, :n] = 2.0 * s
    return qp_polish(p, np.zeros(h.nv), h.system(), np.asarray(res.x))


def max_sharpe_weights(s: np.ndarray, excess: np.ndarray, cons: Constraints, risk_free: float,
                       opts: dict) -> np.ndarray:
    """Tangency weights for covariance ``s`` and per-asset ``excess = mu - risk_free``."""
    best, w_lp = _best_excess(excess, cons, risk_free)
    h = _homogenise(cons, excess / best)       # max over the feasible set of ms'w is 1
    x = _solve(s, h, _start(h, cons, w_lp), opts)
    kappa = float(x[h.k])
    if kappa <= 1e-10:
        raise OptimizationError("max_sharpe: the tangency portfolio is undefined (the Sharpe "
                                "ratio grows without bound toward a zero-investment portfolio); "
                                "add bounds or use long_only=True")
    return x[: h.n] / kappa
