"""Checked inputs of :func:`quantlab.portfolio.plan_rebalance`: holdings, targets, prices, bands,
covariance, scalar options and exchange rules."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from quantlab._validate import check_choice, check_range
from quantlab.data.symbols import normalize_symbol
from quantlab.errors import ParameterError, UnknownSymbolError
from quantlab.portfolio.lots import as_lots
from quantlab.portfolio.markets import MarketRules, Markets, load_markets

__all__ = ["as_map", "check_scalars", "cov_scale", "market_rules", "parse_bands",
           "parse_holdings", "parse_targets", "to_float", "universe_prices"]


def to_float(value: Any) -> float:
    """``float(value)``, NaN for non-numbers (booleans included: True is not 1 here)."""
    if isinstance(value, bool | np.bool_):
        return float("nan")
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def as_map(obj: Any, name: str) -> dict[str, Any]:
    if isinstance(obj, pd.DataFrame):
        if obj.shape[1] == 1:
            obj = obj.iloc[:, 0]
        else:
            raise ParameterError(f"{name} must be a Series or mapping symbol -> number")
    if isinstance(obj, pd.Series):
        items = list(obj.items())
    elif isinstance(obj, Mapping):
        items = list(obj.items())
    else:
        raise ParameterError(f"{name} must be a Series or mapping symbol -> number")
    out: dict[str, Any] = {}
    first: dict[str, Any] = {}
    for key, value in items:
        try:
            sym = normalize_symbol(key) if isinstance(key, str) else None
        except ParameterError:
            sym = None
        if sym is None:
            raise ParameterError(f"{name}: key {key!r} is not a symbol like BTC/USDT")
        if sym in out:
            raise ParameterError(f"{name} lists {sym} twice ({first[sym]!r} and {key!r})")
        first[sym] = key
        out[sym] = value
    return out


def parse_holdings(holdings: Any, lots: Any) -> tuple[dict[str, float], pd.DataFrame | None]:
    lot_df: pd.DataFrame | None = None
    if isinstance(holdings, pd.DataFrame) and "unit_cost" in holdings.columns:
        lot_df = as_lots(holdings, name="holdings")
        pos = lot_df.groupby("symbol", sort=False)["quantity"].sum().to_dict()
        positions = {k: float(v) for k, v in pos.items()}
    else:
        if isinstance(holdings, pd.DataFrame) and {"symbol", "quantity"} <= set(holdings.columns):
            if holdings["symbol"].duplicated().any():
                dup = holdings["symbol"][holdings["symbol"].duplicated()].iloc[0]
                raise ParameterError(f"holdings lists {dup} twice")
            holdings = holdings.set_index("symbol")["quantity"]
        raw = as_map(holdings, "holdings")
        positions = {}
        for sym, value in raw.items():
            q = to_float(value)
            if not math.isfinite(q):
                raise ParameterError(f"holdings: quantity of {sym} is {value!r}; must be a number")
            if q < 0:
                raise ParameterError(
                    f"holdings: quantity of {sym} is {q:g}; must be >= 0 (long-only)"
                )
            positions[sym] = q
    if lots is not None:
        if lot_df is not None:
            raise ParameterError("lots= given while holdings is already a lots table")
        lot_df = as_lots(lots)
        sums = lot_df.groupby("symbol")["quantity"].sum()
        for sym, total in sums.items():
            held = positions.get(sym, 0.0)
            if not math.isclose(total, held, rel_tol=1e-9, abs_tol=1e-12):
                raise ParameterError(
                    f"lots of {sym} hold {total:g} but holdings say {held:g}; they must match"
                )
        for sym, held in positions.items():
            if held > 0 and sym not in sums.index:
                raise ParameterError(f"lots= has no lots for {sym} (held {held:g})")
    return positions, lot_df


def parse_targets(targets: Any) -> dict[str, float]:
    raw = as_map(targets, "targets")
    out: dict[str, float] = {}
    for sym, value in raw.items():
        w = to_float(value)
        if not math.isfinite(w):
            raise ParameterError(f"targets: weight of {sym} is {value!r}; must be a number")
        if w < 0:
            raise ParameterError(f"targets: weight of {sym} is {w:g}; long-only weights must be >= 0")
        out[sym] = w
    total = sum(out.values())
    if total > 1 + 1e-9:
        raise ParameterError(f"targets sum to {total:.6g}; they must sum to <= 1 (the rest is cash)")
    return out


def parse_bands(bands: Any, t: np.ndarray) -> np.ndarray | None:
    if bands is None:
        return None
    abs_b: float | None = None
    rel_b: float | None = None
    if isinstance(bands, Mapping):
        unknown = set(bands) - {"abs", "rel"}
        if unknown or not bands:
            raise ParameterError(f"bands={dict(bands)!r} must be a float or a dict with 'abs'/'rel'")
        abs_b = bands.get("abs")
        rel_b = bands.get("rel")
    else:
        abs_b = bands
    width = np.full(t.shape, np.inf)
    for name, value in (("abs", abs_b), ("rel", rel_b)):
        if value is None:
            continue
        v = check_range(value, f"bands {name}", 0, coerce=True)
        width = np.minimum(width, v if name == "abs" else v * t)
    return width


def cov_scale(cov: Any, universe: list[str]) -> np.ndarray | None:
    if cov is None:
        return None
    if not isinstance(cov, pd.DataFrame):
        raise ParameterError("cov must be a DataFrame (covariance of asset returns)")
    cov = cov.copy()
    cov.index = [normalize_symbol(str(s)) for s in cov.index]
    cov.columns = [normalize_symbol(str(s)) for s in cov.columns]
    missing = [s for s in universe if s not in cov.index or s not in cov.columns]
    if missing:
        raise ParameterError(f"cov has no row/column for {', '.join(missing)}")
    m = cov.loc[universe, universe].to_numpy(dtype="float64")
    if not np.isfinite(m).all():
        raise ParameterError("cov contains NaN/inf")
    if np.any(np.diag(m) < 0) or not np.allclose(m, m.T, atol=1e-12):
        raise ParameterError("cov must be symmetric with non-negative variances")
    return m


def check_scalars(cash: Any, band_mode: str, long_term_days: Any, aversion: Any,
                  cost_aware: bool, as_of: Any) -> tuple[float, int, float, pd.Timestamp]:
    """Checked cash, long_term_days, aversion and as_of (UTC; default now)."""
    cash_f = check_range(cash, "cash", 0, coerce=True)
    check_choice(band_mode, "band_mode", ("edge", "target"))
    ltd = check_range(long_term_days, "long_term_days", 0, integer=True, coerce=True)
    aversion_f = (check_range(aversion, "aversion", 0, open_low=True, coerce=True) if cost_aware
                  else to_float(aversion))
    try:
        as_of_ts = pd.Timestamp(as_of) if as_of is not None else pd.Timestamp.now(tz="UTC")
    except (TypeError, ValueError):
        raise ParameterError(f"as_of={as_of!r} is not a date") from None
    as_of_ts = as_of_ts.tz_localize("UTC") if as_of_ts.tzinfo is None else as_of_ts.tz_convert("UTC")
    return cash_f, ltd, aversion_f, as_of_ts


def universe_prices(target_map: dict[str, float], positions: dict[str, float],
                    lot_df: pd.DataFrame | None, price_map: dict[str, Any], quote: str
                    ) -> tuple[list[str], np.ndarray]:
    """Symbols the plan covers (targets, then held, then lots) and their checked prices."""
    universe = list(target_map)
    universe += [s for s in positions if s not in target_map and positions[s] > 0]
    if lot_df is not None:
        universe += [s for s in lot_df["symbol"].unique() if s not in universe]
    for sym in universe:
        if sym.split("/", 1)[1] != quote:
            raise ParameterError(f"{sym} is not quoted in {quote} (quote={quote!r})")
        if sym not in price_map:
            where = "targets" if sym in target_map else "holdings"
            raise UnknownSymbolError(f"no price for {sym} (in {where})")
    px = np.array([to_float(price_map[s]) for s in universe])
    bad = ~np.isfinite(px) | (px <= 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise ParameterError(f"prices: {universe[i]} price is {price_map[universe[i]]!r}; "
                             "must be a positive number")
    return universe, px


def market_rules(markets: Any, universe: list[str]) -> tuple[Markets | None,
                                                            list[MarketRules | None], list[str]]:
    """Exchange rules per symbol (None = no rounding) and warnings for unknown rules."""
    warnings: list[str] = []
    mk: Markets | None = load_markets(markets) if markets is not None else None
    rules: list[MarketRules | None] = []
    for sym in universe:
        r = mk.get_rules(sym) if mk is not None else None
        if mk is not None and r is None:
            warnings.append(f"no exchange rules for {sym} in {mk.source or 'markets'}: "
                            "amounts not rounded")
        elif r is not None and not r.known:
            warnings.append(f"exchange rules for {sym} are unknown in {mk.source}: "
                            "amounts not rounded, no minimums checked")
            r = None
        rules.append(r)
    return mk, rules, warnings
