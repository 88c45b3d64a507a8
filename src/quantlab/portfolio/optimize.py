"""Portfolio optimisers: one entry point, seven methods, linear constraints.

>>> from quantlab.data import load_sample, sample_symbols
>>> from quantlab.risk import returns_from_prices
>>> from quantlab.portfolio.optimize import optimize, optimize_result
>>> rets = returns_from_prices(load_sample(sample_symbols())["close"])
>>> w = optimize(rets, "erc", cov="ledoit_wolf")          # Series of weights, sums to 1
>>> res = optimize_result(rets, "min_variance", bounds=(0, 0.3))
>>> res.summary(); res.allocation(); res.plot()

Methods (:data:`METHODS`)
-------------------------
``equal``         1/n.
``inverse_vol``   ``w_i ∝ 1/sigma_i``.
``min_variance``  ``min w'Σw`` (SLSQP; unconstrained with shorts it is ``Σ^-1 1 / 1'Σ^-1 1``).
``max_sharpe``    tangency portfolio ``max (mu'w - rf) / sqrt(w'Σw)``, solved as the convex QP of
                  Cornuéjols & Tütüncü (2007, §8.2): ``min y'Σy`` s.t. ``(mu - rf)'y = 1``,
                  ``sum y = kappa >= 0`` and every linear constraint homogenised by ``kappa``
                  (bounds ``lo kappa <= y <= hi kappa``, groups likewise, turnover
                  ``sum |y - kappa w0| <= T kappa``); ``w = y / kappa``. Needs a feasible
                  portfolio with expected return above ``risk_free``.
``erc``           equal risk contribution / risk budgeting: ``w_i (Σw)_i / w'Σw = b_i``
                  (``b_i = 1/n`` unless ``risk_budgets``). Solved exactly by Newton's method on the
                  convex problem ``min ½ y'Σy - sum b_i log y_i`` (Spinu 2013), ``w = y / sum y``;
                  assets with a zero budget get zero weight. If that portfolio breaks the bounds,
                  groups or turnover limit, exact budgets are unattainable and the result (status
                  ``"closest_budgets"``) minimises ``sum_i (RC_i - b_i)^2`` over the constraints.
``hrp``           Hierarchical Risk Parity, :mod:`quantlab.portfolio.hrp`.
``min_cvar``      Rockafellar–Uryasev CVaR LP on the historical scenarios,
                  :mod:`quantlab.portfolio.cvar`.

The heuristics (``equal``, ``inverse_vol``, ``hrp``) have no optimisation problem to carry
constraints: when their weights break a constraint they are **projected** onto the constraint set
by least squares (``min ||w - w_heuristic||^2``, SLSQP) and the status says ``"projected"``.

The quadratic programmes (``min_variance``, ``max_sharpe``, projections) are solved with SLSQP and
then polished by an exact KKT solve on the active set SLSQP found (kept only if feasible and no
worse), which gives closed-form accuracy (~1e-14) at a loose SLSQP tolerance.

Conventions: weights sum to 1; risk contributions are fractions of portfolio variance (sum to 1);
expected return, volatility and Sharpe ratio are per bar of ``returns`` (not annualised), with
``mu`` the sample mean unless ``expected_returns`` is given. Before any optimisation the linear
constraint set is checked with HiGHS (:func:`quantlab.portfolio.constraints.check_feasibility`);
an infeasible set raises :class:`InfeasibleError` naming it, a failed solver
:class:`OptimizationError` with the solver message — there is no fallback to another method.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import Bounds, LinearConstraint, linprog, minimize

from quantlab._util import to_jsonable
from quantlab._validate import as_returns, check_level, check_number, check_weights
from quantlab.errors import ParameterError
from quantlab.portfolio.constraints import (
    Constraints,
    InfeasibleError,
    OptimizationError,
    check_feasibility,
    finite_or_none,
    make_constraints,
    minimize_weights,
    polish,
    project,
    qp_polish,
)
from quantlab.portfolio.covariance import COV_METHODS, covariance
from quantlab.portfolio.cvar import min_cvar_weights, portfolio_cvar
from quantlab.portfolio.hrp import hrp_weights

__all__ = [
    "METHODS",
    "InfeasibleError",
    "OptimizationError",
    "OptimizeResult",
    "optimize",
    "optimize_result",
    "risk_contributions",
]

METHODS = ("equal", "inverse_vol", "min_variance", "max_sharpe", "erc", "hrp", "min_cvar")
_SOLVER_OPTIONS = ("ftol", "maxiter")


@dataclass
class OptimizeResult:
    """Weights and diagnostics of one optimisation.

    Attributes
    ----------
    weights : Series
        Weights by asset (sum to 1).
    risk_contributions : Series
        ``w_i (Σw)_i / w'Σw`` (fractions of variance, sum to 1).
    expected_return, volatility, sharpe : float
        Per bar: ``mu'w``, ``sqrt(w'Σw)``, ``(mu'w - risk_free) / volatility``.
    method : str
        One of :data:`METHODS`.
    status : str
        ``"optimal"`` (solved), ``"heuristic"`` (equal/inverse_vol/hrp as is), ``"projected"``
        (heuristic projected onto the constraints) or ``"closest_budgets"`` (ERC/risk budgets
        unattainable under the constraints).
    params : dict
        Covariance estimator (and Ledoit–Wolf shrinkage / EWMA lambda), risk budgets, CVaR/VaR
        for ``min_cvar``, turnover, observation count and date range.
    covariance : DataFrame
        The covariance matrix used.
    """

    weights: pd.Series
    risk_contributions: pd.Series
    expected_return: float
    volatility: float
    sharpe: float
    method: str
    status: str = "optimal"
    risk_free: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)
    covariance: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    def summary(self) -> pd.Series:
        """Key figures: method, status, expected_return, volatility, sharpe, (cvar, turnover...)."""
        out = {"method": self.method, "status": self.status,
               "expected_return": self.expected_return, "volatility": self.volatility,
               "sharpe": self.sharpe}
        for key in ("cov", "shrinkage", "cvar", "var", "level", "turnover", "n_obs"):
            if key in self.params:
                out[key] = self.params[key]
        return pd.Series(out, name=self.method, dtype=object)

    def allocation(self) -> pd.DataFrame:
        """Per-asset table: weight and risk_contribution."""
        return pd.DataFrame({"weight": self.weights,
                             "risk_contribution": self.risk_contributions})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (figures, weights, risk contributions, params)."""
        out = dict(self.summary().items())
        out["weights"] = self.weights
        out["risk_contributions"] = self.risk_contributions
        out["params"] = {k: v for k, v in self.params.items() if k not in out}
        return to_jsonable(out)

    def _repr_html_(self) -> str:
        head = (f"<b>{self.method} portfolio</b> ({self.status}): expected return "
                f"{self.expected_return:.4%}, volatility {self.volatility:.4%}, Sharpe "
                f"{self.sharpe:.3f} per bar<br>")
        return head + self.allocation().to_html(float_format=lambda x: f"{x:.4f}")

    def plot(self) -> Any:
        """Grouped bars of weights and risk contributions (plotly figure)."""
        import plotly.graph_objects as go

        names = [str(a) for a in self.weights.index]
        fig = go.Figure([
            go.Bar(name="weight", x=names, y=self.weights.to_numpy()),
            go.Bar(name="risk contribution", x=names, y=self.risk_contributions.to_numpy()),
        ])
        fig.update_layout(barmode="group", title=f"{self.method} portfolio ({self.status})",
                          yaxis_tickformat=".0%", template="plotly_white")
        return fig


def risk_contributions(weights: Any, cov: Any) -> pd.Series | np.ndarray:
    """Fractions of portfolio variance ``w_i (Σw)_i / w'Σw`` (sum to 1)."""
    w = np.asarray(weights, dtype="float64")
    s = np.asarray(cov, dtype="float64")
    sw = s @ w
    var = float(w @ sw)
    out = w * sw / var if var > 0 else np.full(w.shape, np.nan)
    if isinstance(weights, pd.Series):
        return pd.Series(out, index=weights.index, name="risk_contribution")
    return out


# --------------------------------------------------------------------------- inputs


def _check_method(method: Any) -> str:
    if method not in METHODS:
        raise ParameterError(f"method={method!r} is unknown; use one of {', '.join(METHODS)}")
    return method


def _returns_frame(returns: Any) -> pd.DataFrame:
    frame = as_returns(returns, min_obs=2, name="returns")
    if isinstance(frame, pd.Series):
        frame = frame.to_frame()
    if frame.columns.has_duplicates:
        dup = frame.columns[frame.columns.duplicated()][0]
        raise ParameterError(f"returns has duplicate column {dup!r}")
    return frame


def _cov_matrix(frame: pd.DataFrame, cov: Any, ewma_lambda: float) -> tuple[np.ndarray, dict]:
    assets = list(frame.columns)
    if isinstance(cov, str):
        if cov not in COV_METHODS:
            raise ParameterError(f"cov={cov!r} is not a covariance estimator; use one of "
                                 f"{', '.join(COV_METHODS)} or pass a matrix")
        mat, info = covariance(frame, cov, ewma_lambda=ewma_lambda)
        s = mat.to_numpy()
    elif isinstance(cov, pd.DataFrame):
        if set(cov.index) != set(assets) or set(cov.columns) != set(assets):
            raise ParameterError("cov rows/columns do not match the returns columns")
        s = cov.reindex(index=assets, columns=assets).to_numpy(dtype="float64")
        info = {"cov": "given"}
    else:
        try:
            s = np.asarray(cov, dtype="float64")
        except (TypeError, ValueError):
            raise ParameterError("cov must be 'sample', 'ledoit_wolf', 'ewma' or a matrix") \
                from None
        if s.shape != (len(assets), len(assets)):
            raise ParameterError(f"cov has shape {s.shape}; expected ({len(assets)}, "
                                 f"{len(assets)}) for the returns columns")
        info = {"cov": "given"}
    if not np.isfinite(s).all():
        raise ParameterError("cov contains NaN/inf")
    scale = max(float(np.abs(s).max()), 1e-300)
    if np.abs(s - s.T).max() > 1e-8 * scale:
        raise ParameterError("cov is not symmetric")
    s = (s + s.T) / 2.0
    diag = np.diag(s)
    if (diag <= 0).any():
        i = int(np.argmin(diag))
        raise ParameterError(f"cov gives asset {assets[i]} a zero/negative variance "
                             f"({diag[i]:.3g}); drop it")
    if np.linalg.eigvalsh(s / diag.mean())[0] < -1e-10:
        raise ParameterError("cov is not positive semi-definite")
    return s, info


def _expected(frame: pd.DataFrame, expected_returns: Any) -> tuple[np.ndarray, str]:
    if expected_returns is None or (isinstance(expected_returns, str)
                                    and expected_returns == "mean"):
        return frame.mean().to_numpy(), "mean"
    if isinstance(expected_returns, str):
        raise ParameterError(f"expected_returns={expected_returns!r}: use None, 'mean' or a "
                             "Series by asset")
    return check_weights(expected_returns, frame.columns, name="expected_returns"), "given"


def _budgets(risk_budgets: Any, assets: list[Any]) -> np.ndarray:
    if risk_budgets is None:
        return np.full(len(assets), 1.0 / len(assets))
    b = check_weights(risk_budgets, assets, name="risk_budgets")
    if (b < 0).any():
        i = int(np.argmin(b))
        raise ParameterError(f"risk_budgets[{assets[i]!r}]={b[i]:g} is negative; budgets must "
                             "be >= 0")
    if b.sum() <= 0:
        raise ParameterError("risk_budgets are all zero; give at least one asset a budget")
    return b / b.sum()


# --------------------------------------------------------------------------- solvers


def _erc_newton(s: np.ndarray, b: np.ndarray, tol: float = 1e-12, maxiter: int = 200
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


def _erc(s: np.ndarray, b: np.ndarray, cons: Constraints, w_feas: np.ndarray,
         opts: dict) -> tuple[np.ndarray, str]:
    w = np.zeros(len(b))
    active = b > 0
    idx = np.flatnonzero(active)
    w[idx] = _erc_newton(s[np.ix_(idx, idx)], b[idx])
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


def _min_variance(s: np.ndarray, cons: Constraints, w_feas: np.ndarray, opts: dict
                  ) -> np.ndarray:
    return minimize_weights(lambda w: float(w @ s @ w), lambda w: 2.0 * (s @ w), cons, w_feas,
                            name="min_variance", ftol=opts.get("ftol", 1e-12),
                            maxiter=opts.get("maxiter", 1000),
                            quadratic=(2.0 * s, np.zeros(len(s))))


def _max_sharpe(s: np.ndarray, excess: np.ndarray, cons: Constraints, risk_free: float,
                opts: dict) -> np.ndarray:
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
    ms = excess / best                       # max over the feasible set of ms'w is 1
    w_lp = lp.x[:n]
    # homogenised variables x = [y (n), kappa, (p, q)]
    k = n
    nv = n + 1 + (2 * n if cons.has_turnover else 0)
    eq_rows, eq_b, ub_rows, ub_b = [], [], [], []
    row = np.zeros(nv)
    row[:n], row[k] = 1.0, -1.0
    eq_rows.append(row)
    eq_b.append(0.0)
    row = np.zeros(nv)
    row[:n] = ms
    eq_rows.append(row)
    eq_b.append(1.0)
    lo_b = np.full(nv, -np.inf)
    hi_b = np.full(nv, np.inf)
    lo_b[k] = 0.0
    for i in range(n):
        if np.isfinite(cons.upper[i]):
            row = np.zeros(nv)
            row[i], row[k] = 1.0, -cons.upper[i]
            ub_rows.append(row)
            ub_b.append(0.0)
            if cons.upper[i] <= 0:
                hi_b[i] = 0.0
        if np.isfinite(cons.lower[i]):
            row = np.zeros(nv)
            row[i], row[k] = -1.0, cons.lower[i]
            ub_rows.append(row)
            ub_b.append(0.0)
            if cons.lower[i] >= 0:
                lo_b[i] = 0.0
    for g in cons.groups:
        if np.isfinite(g.hi):
            row = np.zeros(nv)
            row[g.members], row[k] = 1.0, -g.hi
            ub_rows.append(row)
            ub_b.append(0.0)
        if np.isfinite(g.lo):
            row = np.zeros(nv)
            row[g.members], row[k] = -1.0, g.lo
            ub_rows.append(row)
            ub_b.append(0.0)
    if cons.has_turnover:
        eye = np.eye(n)
        block = np.hstack([eye, -cons.current_weights[:, None], -eye, eye])
        eq_rows.extend(block)
        eq_b.extend(np.zeros(n))
        row = np.zeros(nv)
        row[k], row[n + 1:] = -cons.max_turnover, 1.0
        ub_rows.append(row)
        ub_b.append(0.0)
        lo_b[n + 1:] = 0.0
    a_eq, b_eq = np.vstack(eq_rows), np.asarray(eq_b)
    a_ub = np.vstack(ub_rows) if ub_rows else None
    b_ub = np.asarray(ub_b) if ub_rows else None
    constraints = [LinearConstraint(a_eq, b_eq, b_eq)]
    if ub_rows:
        constraints.append(LinearConstraint(a_ub, -np.inf, b_ub))
    x0 = np.r_[w_lp, 1.0]
    if cons.has_turnover:
        d = w_lp - cons.current_weights
        x0 = np.r_[x0, np.maximum(d, 0), np.maximum(-d, 0)]

    def fun(x: np.ndarray) -> float:
        return float(x[:n] @ s @ x[:n])

    def jac(x: np.ndarray) -> np.ndarray:
        out = np.zeros_like(x)
        out[:n] = 2.0 * (s @ x[:n])
        return out

    res = minimize(fun, x0, jac=jac, method="SLSQP", bounds=Bounds(lo_b, hi_b),
                   constraints=constraints,
                   options={"ftol": opts.get("ftol", 1e-12), "maxiter": opts.get("maxiter", 1000)})
    if not res.success and res.status != 8:
        raise OptimizationError(f"max_sharpe: SLSQP failed: {res.message}")
    p = np.zeros((nv, nv))
    p[:n, :n] = 2.0 * s
    system = {"A_eq": a_eq, "b_eq": b_eq, "A_ub": a_ub, "b_ub": b_ub,
              "bounds": [(finite_or_none(a), finite_or_none(b))
                         for a, b in zip(lo_b, hi_b, strict=True)]}
    res.x = qp_polish(p, np.zeros(nv), system, np.asarray(res.x))
    kappa = float(res.x[k])
    if kappa <= 1e-10:
        raise OptimizationError("max_sharpe: the tangency portfolio is undefined (the Sharpe "
                                "ratio grows without bound toward a zero-investment portfolio); "
                                "add bounds or use long_only=True")
    return res.x[:n] / kappa


# --------------------------------------------------------------------------- public API


def optimize_result(
    returns: pd.DataFrame, method: str = "erc", *, cov: Any = "sample",
    expected_returns: Any = None, risk_free: float = 0.0, long_only: bool = True,
    bounds: Any = None, groups: Mapping[str, tuple] | None = None, current_weights: Any = None,
    max_turnover: float | None = None, risk_budgets: Mapping[Any, float] | None = None,
    level: float = 0.95, ewma_lambda: float = 0.94, **kw: Any,
) -> OptimizeResult:
    """Optimise portfolio weights; see the module docstring for the methods.

    Parameters
    ----------
    returns : DataFrame
        Simple returns, one column per asset, no NaN (drop rows before an asset is listed).
    method : str
        One of :data:`METHODS`.
    cov : {"sample", "ledoit_wolf", "ewma"} or matrix
        Covariance estimator (:mod:`quantlab.portfolio.covariance`) or a given matrix
        (DataFrame labelled by asset, or an array in column order).
    expected_returns : None, "mean" or Series/Mapping
        Per-bar expected returns (``max_sharpe`` and reporting); default the sample mean.
    risk_free : float
        Per-bar risk-free rate for ``max_sharpe`` and the Sharpe ratio.
    long_only, bounds, groups, current_weights, max_turnover
        Constraints, :func:`quantlab.portfolio.constraints.make_constraints`.
    risk_budgets : Mapping or None
        Risk budgets for ``erc`` (non-negative, normalised to sum 1); default equal.
    level : float
        CVaR confidence level for ``min_cvar``.
    ewma_lambda : float
        Decay for ``cov="ewma"``.
    **kw
        Solver options: ``ftol``, ``maxiter`` (SLSQP).

    Raises
    ------
    ParameterError
        Unknown method/covariance, bad bounds/groups/budgets; :class:`InfeasibleError` for an
        infeasible constraint set.
    DataError
        NaN returns or too few observations.
    OptimizationError
        The solver failed.
    """
    method = _check_method(method)
    unknown = [k for k in kw if k not in _SOLVER_OPTIONS]
    if unknown:
        raise ParameterError(f"unknown option(s) {', '.join(unknown)}; solver options are "
                             f"{', '.join(_SOLVER_OPTIONS)}")
    frame = _returns_frame(returns)
    assets = list(frame.columns)
    cons = make_constraints(assets, long_only=long_only, bounds=bounds, groups=groups,
                            current_weights=current_weights, max_turnover=max_turnover)
    try:
        rf = check_number(risk_free, "risk_free")
    except (TypeError, ValueError):
        raise ParameterError(f"risk_free={risk_free!r} must be a number") from None
    if risk_budgets is not None and method != "erc":
        raise ParameterError(f"risk_budgets apply to method='erc' only (method={method!r})")
    budgets = _budgets(risk_budgets, assets) if method == "erc" else None
    if method == "min_cvar":
        level = check_level(level)
    s, params = _cov_matrix(frame, cov, ewma_lambda)
    mu, mu_source = _expected(frame, expected_returns)
    w_feas = check_feasibility(cons)
    sn = s / np.diag(s).mean()                # unit-scale copy for the solvers
    status = "optimal"
    if method == "equal":
        raw = np.full(len(assets), 1.0 / len(assets))
    elif method == "inverse_vol":
        raw = 1.0 / np.sqrt(np.diag(s))
        raw /= raw.sum()
    elif method == "hrp":
        raw = hrp_weights(s)
    if method in ("equal", "inverse_vol", "hrp"):
        w = project(raw, cons, w_feas)
        status = "heuristic" if w is raw else "projected"
    elif method == "min_variance":
        w = _min_variance(sn, cons, w_feas, kw)
    elif method == "max_sharpe":
        w = _max_sharpe(sn, mu - rf, cons, rf, kw)
    elif method == "erc":
        w, status = _erc(sn, budgets, cons, w_feas, kw)
        params["risk_budgets"] = dict(zip(map(str, assets), budgets.tolist(), strict=True))
    else:  # min_cvar
        w, cvar_value, var_value = min_cvar_weights(frame.to_numpy(), cons, level)
        params.update({"cvar": cvar_value, "var": var_value, "level": level})
    w = polish(np.asarray(w, dtype="float64"), cons)
    bad = cons.violations(w, 1e-6)
    if bad:
        raise OptimizationError(f"{method}: solver returned weights that break the constraints "
                                f"({'; '.join(bad[:3])})")
    if method == "min_cvar":
        params["cvar"] = portfolio_cvar(frame.to_numpy(), w, level)
    if cons.current_weights is not None:
        params["turnover"] = float(np.abs(w - cons.current_weights).sum())
    params.update({"expected_returns": mu_source, "n_obs": len(frame)})
    if isinstance(frame.index, pd.DatetimeIndex):
        params.update({"start": frame.index[0], "end": frame.index[-1]})
    weights = pd.Series(w, index=frame.columns, name=method)
    rc = risk_contributions(weights, s)
    vol = float(np.sqrt(max(w @ s @ w, 0.0)))
    er = float(mu @ w)
    sharpe = (er - rf) / vol if vol > 0 else float("nan")
    return OptimizeResult(weights=weights, risk_contributions=rc, expected_return=er,
                          volatility=vol, sharpe=sharpe, method=method, status=status,
                          risk_free=rf, params=params,
                          covariance=pd.DataFrame(s, index=frame.columns, columns=frame.columns))


def optimize(returns: pd.DataFrame, method: str = "erc", **kwargs: Any) -> pd.Series:
    """Portfolio weights (Series by asset, sum 1); arguments as :func:`optimize_result`.

    Diagnostics ride along in ``.attrs``: ``method``, ``status``, ``risk_contributions``
    (dict asset -> fraction of variance), ``expected_return``, ``volatility``, ``sharpe``.
    """
    res = optimize_result(returns, method, **kwargs)
    w = res.weights.copy()
    w.attrs.update({"method": res.method, "status": res.status,
                    "risk_contributions": {a: float(v) for a, v in res.risk_contributions.items()},
                    "expected_return": res.expected_return, "volatility": res.volatility,
                    "sharpe": res.sharpe})
    return w
