"""Input helpers shared by stress testing, stressed VaR and reverse stress (private).

Weights keyed by asset, a portfolio value, per-asset return tables from user prices/returns or
from the bundled sample.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from quantlab._validate import check_not_prices, check_range, check_weights
from quantlab.data.symbols import normalize_symbol
from quantlab.errors import DataError, ParameterError

__all__ = ["check_value", "close_frame", "returns_table", "sample_returns", "weights_series"]


def weights_series(weights: Any, assets: Sequence[Any] | None = None) -> pd.Series:
    """Weights as a float Series indexed by asset (validated with ``check_weights``)."""
    if isinstance(weights, Mapping | pd.Series):
        keys = list(weights.keys()) if isinstance(weights, Mapping) else list(weights.index)
        if isinstance(weights, pd.Series) and weights.index.has_duplicates:
            raise ParameterError("weights name an asset twice")
    elif assets is not None:
        keys = list(assets)
    else:
        raise ParameterError("weights must be a mapping or Series by symbol, e.g. "
                             '{"BTC/USDT": 0.6, "ETH/USDT": 0.4}')
    if not keys:
        raise ParameterError("weights are empty")
    first: dict[Any, Any] = {}
    for key in keys:
        try:
            canon: Any = normalize_symbol(key) if isinstance(key, str) else key
        except ParameterError:
            canon = key
        if canon in first:
            raise ParameterError(f"weights: {first[canon]!r} and {key!r} both name {canon}")
        first[canon] = key
    arr = check_weights(weights, keys)
    return pd.Series(arr, index=pd.Index(keys, name="asset"), name="weight")


def check_value(value: Any) -> float | None:
    return check_range(value, "value", 0, open_low=True, hint="(portfolio value)",
                       allow_none=True, coerce=True)


def close_frame(data: Any) -> pd.DataFrame:
    """A DataFrame of one column per asset from a frame, a Series or a (field, symbol) panel."""
    if isinstance(data, pd.Series):
        data = data.to_frame(name=data.name if data.name is not None else "asset")
    if not isinstance(data, pd.DataFrame):
        raise ParameterError("prices_or_returns must be a DataFrame with one column per asset")
    if isinstance(data.columns, pd.MultiIndex):
        if "close" not in data.columns.get_level_values(0):
            raise ParameterError("a (field, symbol) panel needs a 'close' field")
        data = data["close"]
    try:
        out = data.astype("float64")
    except (TypeError, ValueError):
        raise DataError("prices_or_returns must be numeric") from None
    if np.isinf(out.to_numpy()).any():
        row, col = np.argwhere(np.isinf(out.to_numpy()))[0]
        raise DataError(f"prices_or_returns has inf in {out.columns[col]} at {out.index[row]}")
    return out


def returns_table(data: Any, from_returns: bool) -> pd.DataFrame:
    """Per-asset simple returns (NaN = no data) from user prices or returns."""
    frame = close_frame(data)
    if from_returns:
        check_not_prices(frame, "prices_or_returns")
        bad = (frame <= -1.0).to_numpy()
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise DataError(f"returns of {frame.columns[col]} at {frame.index[row]} are <= -100 %")
        return frame
    bad = (frame <= 0).to_numpy()
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataError(f"price of {frame.columns[col]} at {frame.index[row]} is not positive")
    return frame.pct_change(fill_method=None).iloc[1:]


def sample_returns(symbols: Iterable[str]) -> pd.DataFrame:
    from quantlab.data import load_sample

    syms = list(dict.fromkeys(symbols))
    return load_sample(syms)["close"].pct_change(fill_method=None).iloc[1:]
