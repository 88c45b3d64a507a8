"""Linear portfolio constraints: specification, feasibility check and the shared smooth solver.

Every portfolio is fully invested (``sum w = 1``). On top of that:

* **bounds** – per-asset ``lo <= w_i <= hi``: long-only by default (``[0, 1]``); with
  ``long_only=False`` and no bounds the weights are free (shorts and leverage allowed);
* **groups** – ``{name: ([assets], lo, hi)}``: ``lo <= sum_{i in group} w_i <= hi``
  (``None`` = no limit on that side);
* **turnover** – ``sum_i |w_i - w0_i| <= max_turnover`` against ``current_weights``. The absolute
  values are linearised with split variables ``w - w0 = u - v``, ``u, v >= 0``,
  ``sum(u + v) <= max_turnover`` so every problem stays linear (LP) or smooth (QP/SLSQP).

:func:`check_feasibility` solves the linear feasibility problem with HiGHS (``linprog``) before any
optimisation and raises :class:`InfeasibleError` naming the set that cannot be met (bounds total,
the first group that conflicts with bounds/earlier groups, or the turnover budget).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, linprog, minimize

from quantlab._validate import KeyMatcher, check_range, check_weights
from quantlab.errors import ParameterError, QuantlabError

__all__ = [
    "Constraints",
    "Group",
    "InfeasibleError",
    "OptimizationError",
    "check_feasibility",
    "make_constraints",
    "minimize_weights",
    "project",
]

TOL = 1e-7


class InfeasibleError(ParameterError):
    """No portfolio satisfies the constraints (the message names the set at fault)."""


class OptimizationError(QuantlabError):
    """The solver failed (its message is included); no weights are returned."""


@dataclass(frozen=True)
class Group:
    """``lo <= sum(w[members]) <= hi`` (``-inf``/``inf`` for no limit)."""

    name: str
    members: np.ndarray  # integer positions
    lo: float
    hi: float


@dataclass
class Constraints:
    """Constraint set on weights of ``assets`` (see the module docstring)."""

    assets: list[Any]
    lower: np.ndarray
    upper: np.ndarray
    long_only: bool = True
    groups: list[Group] = field(default_factory=list)
    current_weights: np.ndarray | None = None
    max_turnover: float | None = None

    @property
    def n(self) -> int:
        return len(self.assets)

    @property
    def has_turnover(self) -> bool:
        return self.max_turnover is not None

    @property
    def box_only(self) -> bool:
        """Only per-asset bounds (no groups, no turnover)."""
        return not self.groups and not self.has_turnover

    def group_matrix(self) -> np.ndarray:
        a = np.zeros((len(self.groups), self.n))
        for k, g in enumerate(self.groups):
            a[k, g.members] = 1.0
        return a

    def violations(self, w: np.ndarray, tol: float = 1e-6) -> list[str]:
        """Human-readable list of the constraints ``w`` breaks (empty when feasible)."""
        out = []
        if abs(w.sum() - 1.0) > tol:
            out.append(f"weights sum to {w.sum():.6g}")
        for i in np.flatnonzero((w < self.lower - tol) | (w > self.upper + tol)):
            out.append(f"{self.assets[i]}={w[i]:.6g} outside [{self.lower[i]:.4g}, "
                       f"{self.upper[i]:.4g}]")
        for g in self.groups:
            total = w[g.members].sum()
            if total < g.lo - tol or total > g.hi + tol:
                out.append(f"group {g.name!r} total {total:.6g} outside [{g.lo:.4g}, {g.hi:.4g}]")
        if self.has_turnover:
            turn = np.abs(w - self.current_weights).sum()
            if turn > self.max_turnover + tol:
                out.append(f"turnover {turn:.6g} > max_turnover={self.max_turnover:.4g}")
        return out

    def linear_system(self) -> dict[str, Any]:
        """``A_eq x = b_eq``, ``A_ub x <= b_ub`` and bounds on ``x = [w, u, v]`` (``[w]`` without
        turnover) — the form ``linprog`` takes."""
        n = self.n
        m = 3 * n if self.has_turnover else n
        a_eq = [np.r_[np.ones(n), np.zeros(m - n)]]
        b_eq = [1.0]
        a_ub: list[np.ndarray] = []
        b_ub: list[float] = []
        for g in self.groups:
            row = np.zeros(m)
            row[g.members] = 1.0
            if np.isfinite(g.hi):
                a_ub.append(row)
                b_ub.append(g.hi)
            if np.isfinite(g.lo):
                a_ub.append(-row)
                b_ub.append(-g.lo)
        bounds = [(finite_or_none(lo), finite_or_none(hi))
                  for lo, hi in zip(self.lower, self.upper, strict=True)]
        if self.has_turnover:
            eye = np.eye(n)
            a_eq.extend(np.hstack([eye, -eye, eye]))
            b_eq.extend(self.current_weights)
            a_ub.append(np.r_[np.zeros(n), np.ones(2 * n)])
            b_ub.append(float(self.max_turnover))
            bounds += [(0.0, None)] * (2 * n)
        return {
            "A_eq": np.vstack(a_eq), "b_eq": np.asarray(b_eq),
            "A_ub": np.vstack(a_ub) if a_ub else None, "b_ub": np.asarray(b_ub) if b_ub else None,
            "bounds": bounds,
        }


def finite_or_none(x: float) -> float | None:
    return None if not np.isfinite(x) else float(x)


def _pair(value: Any, name: str) -> tuple[float, float]:
    try:
        lo, hi = value
    except (TypeError, ValueError):
        raise ParameterError(f"{name}={value!r} must be a (lo, hi) pair") from None
    try:
        lo_f = -np.inf if lo is None else float(lo)
        hi_f = np.inf if hi is None else float(hi)
    except (TypeError, ValueError):
        raise ParameterError(f"{name}={value!r} must hold numbers or None") from None
    if np.isnan(lo_f) or np.isnan(hi_f):
        raise ParameterError(f"{name}={value!r} contains NaN")
    if lo_f > hi_f:
        raise ParameterError(f"{name}={value!r}: lower limit above upper limit")
    return lo_f, hi_f


def make_constraints(
    assets: Sequence[Any], *, long_only: bool = True,
    bounds: tuple[float | None, float | None] | Mapping[Any, tuple] | None = None,
    groups: Mapping[str, tuple[Sequence[Any], float | None, float | None]] | None = None,
    current_weights: Any = None, max_turnover: float | None = None,
) -> Constraints:
    """Validate a constraint specification (names every bad parameter) into :class:`Constraints`.

    Parameters
    ----------
    assets : sequence
        Asset names in weight order.
    long_only : bool
        Default bounds ``[0, 1]``; with False the default is unbounded. Explicit bounds with a
        negative lower limit require ``long_only=False``.
    bounds : (lo, hi), {asset: (lo, hi)} or None
        Same limits for every asset, or per asset (unlisted assets keep the default).
    groups : {name: ([assets], lo, hi)} or None
        Limits on the total weight of each group.
    current_weights : Mapping/Series/sequence or None
        Current portfolio, needed with ``max_turnover``.
    max_turnover : float or None
        Limit on ``sum |w - current_weights|``.
    """
    assets = list(assets)
    n = len(assets)
    if n == 0:
        raise ParameterError("returns has no assets (columns)")
    matcher = KeyMatcher(assets)
    default = (0.0, 1.0) if long_only else (-np.inf, np.inf)
    lower = np.full(n, default[0])
    upper = np.full(n, default[1])
    if bounds is not None:
        if isinstance(bounds, Mapping):
            unknown = [k for k in bounds if matcher.find(k) is None]
            if unknown:
                raise ParameterError(f"bounds name unknown assets: {', '.join(map(str, unknown))}")
            given: dict[int, Any] = {}
            for k, v in bounds.items():
                i = matcher.find(k)
                if i in given:
                    raise ParameterError(f"bounds: {given[i]!r} and {k!r} both name {assets[i]}")
                given[i] = k  # type: ignore[index]
                lower[i], upper[i] = _pair(v, f"bounds[{k!r}]")
        else:
            lo, hi = _pair(bounds, "bounds")
            lower[:], upper[:] = lo, hi
        if long_only and (lower < 0).any():
            i = int(np.argmax(lower < 0))
            raise ParameterError(f"bounds give {assets[i]} a negative lower limit "
                                 f"{lower[i]:g} but long_only=True; pass long_only=False for shorts")
        if long_only:
            lower = np.maximum(lower, 0.0)
    glist: list[Group] = []
    if groups is not None:
        if not isinstance(groups, Mapping):
            raise ParameterError("groups must be a dict {name: ([assets], lo, hi)}")
        for name, spec in groups.items():
            try:
                members, lo, hi = spec
            except (TypeError, ValueError):
                raise ParameterError(f"groups[{name!r}] must be ([assets], lo, hi)") from None
            if isinstance(members, str):
                members = [members]
            members = list(members)
            unknown = [m for m in members if matcher.find(m) is None]
            if unknown:
                raise ParameterError(f"groups[{name!r}] names unknown assets: "
                                     f"{', '.join(map(str, unknown))}")
            if not members:
                raise ParameterError(f"groups[{name!r}] has no assets")
            found = [matcher.find(m) for m in members]
            dup = next((k for k, i in enumerate(found) if i in found[:k]), None)
            if dup is not None:
                i = found[dup]
                raise ParameterError(f"groups[{name!r}] names {assets[i]} twice "  # type: ignore[index]
                                     f"({members[found.index(i)]!r} and {members[dup]!r})")
            glo, ghi = _pair((lo, hi), f"groups[{name!r}] limits")
            idx = np.array(sorted(found), dtype=int)  # type: ignore[type-var]
            glist.append(Group(str(name), idx, glo, ghi))
    w0 = None
    turnover = check_range(max_turnover, "max_turnover", 0, allow_none=True, coerce=True)
    if turnover is not None and current_weights is None:
        raise ParameterError("max_turnover needs current_weights (the portfolio held now)")
    if current_weights is not None:
        w0 = check_weights(current_weights, assets, name="current_weights")
    return Constraints(assets, lower, upper, long_only, glist, w0, turnover)


def _lp(c: np.ndarray, system: dict[str, Any]) -> Any:
    return linprog(c, A_ub=system["A_ub"], b_ub=system["b_ub"], A_eq=system["A_eq"],
                   b_eq=system["b_eq"], bounds=system["bounds"], method="highs")


def check_feasibility(cons: Constraints) -> np.ndarray:
    """Find a portfolio satisfying every constraint with HiGHS, or raise :class:`InfeasibleError`.

    The sets are checked in order — bounds total, each group (against bounds and the groups
    before it), turnover — so the message names the first one that cannot be met.

    Returns
    -------
    ndarray
        One feasible weight vector (a starting point for the optimisers).
    """
    lo_sum, hi_sum = cons.lower.sum(), cons.upper.sum()
    if hi_sum < 1.0 - 1e-12:
        raise InfeasibleError(f"infeasible constraints: bounds allow at most {hi_sum:.4g} in "
                              "total but weights must sum to 1")
    if lo_sum > 1.0 + 1e-12:
        raise InfeasibleError(f"infeasible constraints: bounds require at least {lo_sum:.4g} in "
                              "total but weights must sum to 1")
    for k, g in enumerate(cons.groups):
        sub = Constraints(cons.assets, cons.lower, cons.upper, cons.long_only, cons.groups[:k])
        system = sub.linear_system()
        row = np.zeros(cons.n)
        row[g.members] = 1.0
        lo_res, hi_res = _lp(row, system), _lp(-row, system)
        if lo_res.status != 0 or hi_res.status not in (0, 3):
            raise OptimizationError(f"feasibility check failed: {lo_res.message}")
        gmin = lo_res.fun
        gmax = np.inf if hi_res.status == 3 else -hi_res.fun
        if g.lo > gmax + 1e-9:
            raise InfeasibleError(f"infeasible constraints: group {g.name!r} lower limit "
                                  f"{g.lo:.4g} conflicts with bounds/other groups (at most "
                                  f"{gmax:.4g} attainable)")
        if g.hi < gmin - 1e-9:
            raise InfeasibleError(f"infeasible constraints: group {g.name!r} upper limit "
                                  f"{g.hi:.4g} conflicts with bounds/other groups (at least "
                                  f"{gmin:.4g} required)")
    base = Constraints(cons.assets, cons.lower, cons.upper, cons.long_only, cons.groups)
    system = base.linear_system()
    if not cons.has_turnover:
        res = _lp(np.zeros(cons.n), system)
        if res.status == 2:
            raise InfeasibleError("infeasible constraints: bounds and groups together admit no "
                                  "fully invested portfolio")
        if res.status != 0:
            raise OptimizationError(f"feasibility check failed: {res.message}")
        return np.asarray(res.x[: cons.n])
    # minimum turnover needed to reach the feasible set from current_weights
    n = cons.n
    relaxed = Constraints(cons.assets, cons.lower, cons.upper, cons.long_only, cons.groups,
                          cons.current_weights, 1e300)
    system = relaxed.linear_system()
    res = _lp(np.r_[np.zeros(n), np.ones(2 * n)], system)
    if res.status != 0:
        raise OptimizationError(f"feasibility check failed: {res.message}")
    if res.fun > cons.max_turnover + 1e-9:
        raise InfeasibleError(f"infeasible constraints: max_turnover={cons.max_turnover:.4g} "
                              "cannot reach any feasible portfolio from current_weights (minimum "
                              f"turnover needed {res.fun:.4g})")
    return np.asarray(res.x[:n])


def _slsqp_constraints(system: dict[str, Any]) -> list[Any]:
    out = [LinearConstraint(system["A_eq"], system["b_eq"], system["b_eq"])]
    if system["A_ub"] is not None:
        out.append(LinearConstraint(system["A_ub"], -np.inf, system["b_ub"]))
    return out


def _bounds(pairs: list[tuple[float | None, float | None]]) -> Bounds:
    lo = np.array([-np.inf if a is None else a for a, _ in pairs])
    hi = np.array([np.inf if b is None else b for _, b in pairs])
    return Bounds(lo, hi)


def _start(cons: Constraints, w0: np.ndarray) -> np.ndarray:
    if not cons.has_turnover:
        return w0
    d = w0 - cons.current_weights
    return np.r_[w0, np.maximum(d, 0.0), np.maximum(-d, 0.0)]


def qp_polish(p: np.ndarray, q: np.ndarray, system: dict[str, Any], x: np.ndarray,
               tol: float = 1e-8) -> np.ndarray:
    """Solve the QP ``½ x'Px + q'x`` exactly on the active set SLSQP found (KKT system).

    Bounds within ``tol`` of their limit are fixed there, inequality rows within ``tol`` are
    taken as equalities; the equality-constrained QP on the remaining variables is solved by
    least squares on its KKT system. The polished point is kept only if it is feasible and not
    worse than ``x``; otherwise ``x`` is returned unchanged.
    """
    lo = np.array([-np.inf if a is None else a for a, _ in system["bounds"]])
    hi = np.array([np.inf if b is None else b for _, b in system["bounds"]])
    at_lo, at_hi = np.abs(x - lo) <= tol, np.abs(x - hi) <= tol
    fixed = at_lo | at_hi
    xf = np.where(at_lo, lo, np.where(at_hi, hi, x))
    rows, rhs = [system["A_eq"]], [system["b_eq"]]
    if system["A_ub"] is not None:
        act = np.abs(system["A_ub"] @ x - system["b_ub"]) <= tol
        rows.append(system["A_ub"][act])
        rhs.append(system["b_ub"][act])
    a = np.vstack(rows)
    b = np.concatenate(rhs)
    z = ~fixed
    if not z.any():
        return x
    az, af = a[:, z], a[:, fixed]
    pzz = p[np.ix_(z, z)]
    kkt = np.block([[pzz, az.T], [az, np.zeros((len(b), len(b)))]])
    r = np.r_[-(q[z] + p[np.ix_(z, fixed)] @ xf[fixed]), b - af @ xf[fixed]]
    sol = np.linalg.lstsq(kkt, r, rcond=None)[0]
    out = xf.copy()
    out[z] = sol[: z.sum()]

    def obj(v: np.ndarray) -> float:
        return 0.5 * float(v @ p @ v) + float(q @ v)

    feas = (out >= lo - 1e-12).all() and (out <= hi + 1e-12).all() and \
        np.abs(system["A_eq"] @ out - system["b_eq"]).max() <= 1e-12 and \
        (system["A_ub"] is None or (system["A_ub"] @ out <= system["b_ub"] + 1e-12).all())
    if feas and obj(out) <= obj(x) + 1e-14 * max(1.0, abs(obj(x))):
        return out
    return x


def minimize_weights(
    fun: Callable[[np.ndarray], float], jac: Callable[[np.ndarray], np.ndarray],
    cons: Constraints, w_start: np.ndarray, *, name: str, ftol: float = 1e-12,
    maxiter: int = 1000, quadratic: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Minimise a smooth ``fun(w)`` over the constraint set with SLSQP.

    Turnover split variables are appended internally; ``fun``/``jac`` see ``w`` only. With
    ``quadratic=(P, q)`` (``fun(w) = ½ w'Pw + q'w``) the SLSQP point is polished by an exact
    solve on its active set (:func:`qp_polish`). Raises :class:`OptimizationError` with the
    solver message on failure.
    """
    n = cons.n
    system = cons.linear_system()

    def f(x: np.ndarray) -> float:
        return fun(x[:n])

    def g(x: np.ndarray) -> np.ndarray:
        out = np.zeros_like(x)
        out[:n] = jac(x[:n])
        return out

    res = minimize(f, _start(cons, w_start), jac=g, method="SLSQP",
                   bounds=_bounds(system["bounds"]), constraints=_slsqp_constraints(system),
                   options={"ftol": ftol, "maxiter": maxiter})
    w = np.asarray(res.x[:n])
    if not res.success and not _acceptable(res, cons, w):
        raise OptimizationError(f"{name}: SLSQP failed: {res.message}")
    if quadratic is not None:
        m = len(res.x)
        p = np.zeros((m, m))
        p[:n, :n] = quadratic[0]
        q = np.zeros(m)
        q[:n] = quadratic[1]
        w = qp_polish(p, q, system, np.asarray(res.x))[:n]
    return w


def _acceptable(res: Any, cons: Constraints, w: np.ndarray) -> bool:
    # SLSQP reports "Positive directional derivative in linesearch" / "Iteration limit" when it
    # cannot improve further at machine precision; accept only a feasible point in that case.
    return res.status in (8,) and not cons.violations(w, 1e-8)


def project(w_target: np.ndarray, cons: Constraints, w_start: np.ndarray) -> np.ndarray:
    """Least-squares projection ``argmin ||w - w_target||^2`` over the constraint set."""
    if not cons.violations(w_target, 1e-9):
        return w_target
    return minimize_weights(lambda w: float(((w - w_target) ** 2).sum()),
                            lambda w: 2.0 * (w - w_target), cons, w_start, name="projection",
                            quadratic=(2.0 * np.eye(cons.n), -2.0 * w_target))


def polish(w: np.ndarray, cons: Constraints, tol: float = 1e-6) -> np.ndarray:
    """Clip solver round-off (≤ ``tol``) into the bounds and restore ``sum w = 1`` exactly."""
    out = np.clip(w, cons.lower, cons.upper)
    resid = 1.0 - out.sum()
    if abs(resid) > tol:
        return w
    slack = (cons.upper - out) if resid > 0 else (out - cons.lower)
    i = int(np.argmax(slack))
    if slack[i] >= abs(resid):
        out[i] += resid
    return out
