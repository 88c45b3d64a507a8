"""Market betas of assets: OLS slopes of their returns on a market asset's ("as of today")."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from quantlab._validate import check_horizon
from quantlab.errors import DataError, UnknownSymbolError

__all__ = ["DEFAULT_BETA_LOOKBACK", "MIN_BETA_OBS", "estimate_betas"]

#: Default number of bars for beta regressions (one crypto year of daily bars).
DEFAULT_BETA_LOOKBACK = 365
#: Fewest paired observations accepted for a beta estimate.
MIN_BETA_OBS = 30


def estimate_betas(returns: pd.DataFrame, market_asset: str = "BTC/USDT", *,
                   lookback: int = DEFAULT_BETA_LOOKBACK, assets: Sequence[str] | None = None,
                   min_obs: int = MIN_BETA_OBS) -> pd.Series:
    """OLS betas of each asset's returns on the market asset's over the last ``lookback`` bars.

    ``beta_i = cov(r_i, r_m) / var(r_m)`` (the slope of ``r_i = a + beta r_m + e``) on the bars
    where both returns exist among the last ``lookback`` rows of ``returns`` ("as of today").
    The market asset's own beta is exactly 1.

    Parameters
    ----------
    returns : DataFrame
        Simple returns, one column per asset (NaN where an asset has no data).
    market_asset : str
        Column of the market factor.
    lookback : int
        Number of most recent rows used.
    assets : sequence of str, optional
        Assets to estimate (default: every column).
    min_obs : int
        Fewest paired observations accepted.

    Returns
    -------
    Series
        Beta per asset.

    Raises
    ------
    UnknownSymbolError
        ``market_asset`` or an asset is not a column.
    DataError
        Fewer than ``min_obs`` paired returns, or a constant market return.
    """
    lookback = check_horizon(lookback) if not isinstance(lookback, bool) else lookback
    if market_asset not in returns.columns:
        raise UnknownSymbolError(f"market asset {market_asset} is not in the return data "
                                 f"(columns: {', '.join(map(str, returns.columns))})")
    assets = list(returns.columns) if assets is None else list(assets)
    recent = returns.iloc[-lookback:]
    m = recent[market_asset]
    out = {}
    for a in assets:
        if a == market_asset:
            out[a] = 1.0
            continue
        if a not in recent.columns:
            raise UnknownSymbolError(f"{a} is not in the return data used for betas")
        pair = pd.concat([recent[a], m], axis=1, keys=["a", "m"]).dropna()
        if len(pair) < min_obs:
            raise DataError(f"beta of {a} on {market_asset}: only {len(pair)} paired returns in "
                            f"the last {lookback} bars, at least {min_obs} are needed")
        var_m = pair["m"].var(ddof=1)
        if not var_m > 0:
            raise DataError(f"beta of {a}: returns of {market_asset} are constant")
        out[a] = float(pair["a"].cov(pair["m"], ddof=1) / var_m)
    return pd.Series(out, name="beta", dtype="float64")
