"""Return series from prices, and constant-weight portfolio returns."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from quantlab._validate import as_returns, check_weights

__all__ = ["portfolio_returns", "returns_from_prices"]


def portfolio_returns(returns: pd.DataFrame, weights: Any) -> pd.Series:
    """Returns of a constant-weight (daily rebalanced) portfolio: ``returns @ weights``."""
    returns = as_returns(returns, min_obs=1, allow_frame=True)
    if isinstance(returns, pd.Series):
        returns = returns.to_frame()
    w = check_weights(weights, returns.columns)
    return pd.Series(returns.to_numpy() @ w, index=returns.index, name="portfolio")


def returns_from_prices(prices: pd.Series | pd.DataFrame, *, log: bool = False,
                        dropna: bool = True) -> pd.Series | pd.DataFrame:
    """Simple (or log) returns of prices; with ``dropna`` rows with any missing value are dropped."""
    if log:
        out = np.log(prices).diff()
    else:
        out = prices.pct_change(fill_method=None)
    out = out.iloc[1:]
    return out.dropna(how="any") if dropna else out
