"""Checked inputs of the optimisers: method, returns, covariance matrix, expected returns, budgets."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from quantlab._validate import as_returns, check_weights
from quantlab.errors import ParameterError
from quantlab.portfolio.covariance import COV_METHODS, covariance

__all__ = ["METHODS", "budget_vector", "check_method", "cov_matrix", "mean_returns", "returns_frame"]

METHODS = ("equal", "inverse_vol", "min_variance", "max_sharpe", "erc", "hrp", "min_cvar")


def check_method(method: Any) -> str:
    if method not in METHODS:
        raise ParameterError(f"method={method!r} is unknown; use one of {', '.join(METHODS)}")
    return method


def returns_frame(returns: Any) -> pd.DataFrame:
    frame = as_returns(returns, min_obs=2, name="returns")
    if isinstance(frame, pd.Series):
        frame = frame.to_frame()
    if frame.columns.has_duplicates:
        dup = frame.columns[frame.columns.duplicated()][0]
        raise ParameterError(f"returns has duplicate column {dup!r}")
    return frame


def cov_matrix(frame: pd.DataFrame, cov: Any, ewma_lambda: float) -> tuple[np.ndarray, dict]:
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


def mean_returns(frame: pd.DataFrame, expected_returns: Any) -> tuple[np.ndarray, str]:
    if expected_returns is None or (isinstance(expected_returns, str)
                                    and expected_returns == "mean"):
        return frame.mean().to_numpy(), "mean"
    if isinstance(expected_returns, str):
        raise ParameterError(f"expected_returns={expected_returns!r}: use None, 'mean' or a "
                             "Series by asset")
    return check_weights(expected_returns, frame.columns, name="expected_returns"), "given"


def budget_vector(risk_budgets: Any, assets: list[Any]) -> np.ndarray:
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
