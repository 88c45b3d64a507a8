"""Portfolio optimisers: one entry point, seven methods, linear constraints.

>>> from quantlab.data import load_sample, sample_symbols
>>> from quantlab.risk import returns_from_prices
>>> from quantlab.portfolio import optimize
>>> rets = returns_from_prices(load_sample(sample_symbols())["close"])
>>> res = optimize(rets, "erc", cov="ledoit_wolf")        # an OptimizeResult
>>> res.weights                                           # Series of weights by asset, sums to 1
>>> res.stats(); res.summary(); res.plot()                # diagnostics, per-asset table, bars

Methods (:data:`METHODS`)
-------------------------
``equal``         1/n.
``inverse_vol``   ``w_i ∝ 1/sigma_i``.
``min_variance``  ``min w'Σw`` (SLSQP; unconstrained with shorts it is ``Σ^-1 1 / 1'Σ^-1 1``).
``max_sharpe``    tangency portfolio ``max (mu'w - rf) / sqrt(w'Σw)``, solved as the convex QP of
                  Cornuéjols & Tütüncü (2007, §8.2), :mod:`quantlab.portfolio.max_sharpe`. Needs
                  a feasible portfolio with expected return above ``risk_free``.
``erc``           equal risk contribution / risk budgeting: ``w_i (Σw)_i / w'Σw = b_i``
                  (``b_i = 1/n`` unless ``risk_budgets``), :mod:`quantlab.portfolio.erc`; status
                  ``"closest_budgets"`` when the constraints make exact budgets unattainable.
``hrp``           Hierarchical Risk Parity, :mod:`quantlab.portfolio.hrp` (``linkage=`` and
                  ``distance=`` choose the paper's or the PyPortfolioOpt/riskfolio/skfolio
                  variant).
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

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from quantlab._validate import check_level, check_number
from quantlab.errors import ParameterError
from quantlab.portfolio.allocation import OptimizeResult, risk_contributions
from quantlab.portfolio.constraints import (
    Constraints,
    InfeasibleError,
    OptimizationError,
    check_feasibility,
    make_constraints,
    minimize_weights,
    polish,
    project,
)
from quantlab.portfolio.cvar import min_cvar_weights, portfolio_cvar
from quantlab.portfolio.erc import erc_weights
from quantlab.portfolio.hrp import check_hrp_options, hrp_weights
from quantlab.portfolio.max_sharpe import max_sharpe_weights
from quantlab.portfolio.optimize_inputs import (
    METHODS,
    budget_vector,
    check_method,
    cov_matrix,
    mean_returns,
    returns_frame,
)

__all__ = [
    "METHODS",
    "InfeasibleError",
    "OptimizationError",
    "OptimizeResult",
    "optimize",
    "optimize_result",
    "risk_contributions",
]

_SOLVER_OPTIONS = ("ftol", "maxiter")
_HEURISTICS = ("equal", "inverse_vol", "hrp")


# --------------------------------------------------------------------------- option checks


def _check_solver_options(kw: Mapping[str, Any]) -> None:
    unknown = [k for k in kw if k not in _SOLVER_OPTIONS]
    if unknown:
        raise ParameterError(f"unknown option(s) {', '.join(unknown)}; solver options are "
                             f"{', '.join(_SOLVER_OPTIONS)}")


def _check_risk_free(risk_free: Any) -> float:
    return check_number(risk_free, "risk_free")


def _method_options(method: str, risk_budgets: Any, linkage: str | None,
                    distance: str | None) -> dict[str, Any]:
    """Options that belong to one method only: refuse them for the others."""
    if risk_budgets is not None and method != "erc":
        raise ParameterError(f"risk_budgets apply to method='erc' only (method={method!r})")
    for name, value in (("linkage", linkage), ("distance", distance)):
        if value is not None and method != "hrp":
            raise ParameterError(f"{name} applies to method='hrp' only (method={method!r})")
    if method != "hrp":
        return {}
    options = {"linkage": linkage or "single", "distance": distance or "euclidean"}
    check_hrp_options(**options)
    return options


# --------------------------------------------------------------------------- solving


def _heuristic(method: str, s: np.ndarray, hrp_options: dict[str, Any]) -> np.ndarray:
    if method == "equal":
        return np.full(len(s), 1.0 / len(s))
    if method == "inverse_vol":
        raw = 1.0 / np.sqrt(np.diag(s))
        return raw / raw.sum()
    return hrp_weights(s, **hrp_options)


def _min_variance(s: np.ndarray, cons: Constraints, w_feas: np.ndarray, opts: dict
                  ) -> np.ndarray:
    return minimize_weights(lambda w: float(w @ s @ w), lambda w: 2.0 * (s @ w), cons, w_feas,
                            name="min_variance", ftol=opts.get("ftol", 1e-12),
                            maxiter=opts.get("maxiter", 1000),
                            quadratic=(2.0 * s, np.zeros(len(s))))


def _solve(method: str, frame: pd.DataFrame, s: np.ndarray, excess: np.ndarray,
           cons: Constraints, w_feas: np.ndarray, *, budgets: np.ndarray | None, level: float,
           hrp_options: dict[str, Any], risk_free: float, opts: dict
           ) -> tuple[np.ndarray, str, dict[str, Any]]:
    """Raw weights, status and method-specific params of one method."""
    sn = s / np.diag(s).mean()                # unit-scale copy for the solvers
    if method in _HEURISTICS:
        raw = _heuristic(method, s, hrp_options)
        w = project(raw, cons, w_feas)
        return w, "heuristic" if w is raw else "projected", dict(hrp_options)
    if method == "min_variance":
        return _min_variance(sn, cons, w_feas, opts), "optimal", {}
    if method == "max_sharpe":
        return max_sharpe_weights(sn, excess, cons, risk_free, opts), "optimal", {}
    if method == "erc":
        w, status = erc_weights(sn, budgets, cons, w_feas, opts)
        names = map(str, cons.assets)
        return w, status, {"risk_budgets": dict(zip(names, budgets.tolist(), strict=True))}
    w, cvar_value, var_value = min_cvar_weights(frame.to_numpy(), cons, level)
    return w, "optimal", {"cvar": cvar_value, "var": var_value, "level": level}


def _feasible(w: np.ndarray, cons: Constraints, method: str) -> np.ndarray:
    w = polish(np.asarray(w, dtype="float64"), cons)
    bad = cons.violations(w, 1e-6)
    if bad:
        raise OptimizationError(f"{method}: solver returned weights that break the constraints "
                                f"({'; '.join(bad[:3])})")
    return w


def _result(frame: pd.DataFrame, w: np.ndarray, s: np.ndarray, mu: np.ndarray, rf: float,
            method: str, status: str, params: dict[str, Any]) -> OptimizeResult:
    weights = pd.Series(w, index=frame.columns, name=method)
    vol = float(np.sqrt(max(w @ s @ w, 0.0)))
    er = float(mu @ w)
    return OptimizeResult(
        weights=weights, risk_contributions=risk_contributions(weights, s), expected_return=er,
        volatility=vol, sharpe=(er - rf) / vol if vol > 0 else float("nan"), method=method,
        status=status, risk_free=rf, params=params,
        covariance=pd.DataFrame(s, index=frame.columns, columns=frame.columns),
        mu=pd.Series(mu, index=frame.columns, name="expected_return"))


# --------------------------------------------------------------------------- public API


def optimize(
    returns: pd.DataFrame, method: str = "erc", *, cov: Any = "sample",
    expected_returns: Any = None, risk_free: float = 0.0, long_only: bool = True,
    bounds: Any = None, groups: Mapping[str, tuple] | None = None, current_weights: Any = None,
    max_turnover: float | None = None, risk_budgets: Mapping[Any, float] | None = None,
    level: float = 0.95, ewma_lambda: float = 0.94, linkage: str | None = None,
    distance: str | None = None, **kw: Any,
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
    linkage : {"single", "complete", "average", "ward"}, optional
        ``hrp`` only: agglomeration method of the tree clustering (default ``"single"``).
    distance : {"euclidean", "correlation"}, optional
        ``hrp`` only: cluster the Euclidean distance between columns of the correlation-distance
        matrix (default, the paper) or the correlation distance ``sqrt((1 - rho) / 2)`` itself
        (PyPortfolioOpt, riskfolio-lib, skfolio); see :mod:`quantlab.portfolio.hrp`.
    **kw
        Solver options: ``ftol``, ``maxiter`` (SLSQP).

    Returns
    -------
    OptimizeResult
        ``.weights`` (Series by asset, sums to 1) and the diagnostics as attributes, in
        ``stats()``, per asset in ``summary()``; ``plot()`` draws weights and risk contributions.

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
    method = check_method(method)
    _check_solver_options(kw)
    frame = returns_frame(returns)
    assets = list(frame.columns)
    cons = make_constraints(assets, long_only=long_only, bounds=bounds, groups=groups,
                            current_weights=current_weights, max_turnover=max_turnover)
    rf = _check_risk_free(risk_free)
    hrp_options = _method_options(method, risk_budgets, linkage, distance)
    budgets = budget_vector(risk_budgets, assets) if method == "erc" else None
    if method == "min_cvar":
        level = check_level(level)
    s, params = cov_matrix(frame, cov, ewma_lambda)
    mu, mu_source = mean_returns(frame, expected_returns)
    w_feas = check_feasibility(cons)
    w, status, extra = _solve(method, frame, s, mu - rf, cons, w_feas, budgets=budgets,
                              level=level, hrp_options=hrp_options, risk_free=rf, opts=kw)
    w = _feasible(w, cons, method)
    params.update(extra)
    if method == "min_cvar":
        params["cvar"] = portfolio_cvar(frame.to_numpy(), w, level)
    if cons.current_weights is not None:
        params["turnover"] = float(np.abs(w - cons.current_weights).sum())
    params.update({"expected_returns": mu_source, "n_obs": len(frame)})
    if isinstance(frame.index, pd.DatetimeIndex):
        params.update({"start": frame.index[0], "end": frame.index[-1]})
    return _result(frame, w, s, mu, rf, method, status, params)


def optimize_result(returns: pd.DataFrame, method: str = "erc", **kwargs: Any) -> OptimizeResult:
    """Deprecated alias of :func:`optimize` (which now returns the :class:`OptimizeResult`)."""
    warnings.warn("optimize_result() is deprecated: optimize() returns the OptimizeResult "
                  "(weights at .weights)", DeprecationWarning, stacklevel=2)
    return optimize(returns, method, **kwargs)
