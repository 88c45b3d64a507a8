"""Stress testing: a scenario library, historical replay, hypothetical shocks, stressed VaR.

Every scenario is applied to *today's* portfolio (weights as fractions of portfolio value, cash is
the remainder and earns nothing):

* **historical** scenarios replay an episode window ``start..end`` (inclusive UTC days): each
  asset's return is its actual compounded return over the window, ``close[end] /
  close[day before start] - 1``. The portfolio is held **buy-and-hold over the window, no
  rebalancing**, so its return is ``sum_i w_i R_i`` exactly.
* **hypothetical** scenarios are instantaneous shocks: per-asset returns (``shocks`` with a
  ``default`` for unlisted assets) and/or a ``market`` shock, optionally beta-scaled: asset *i*
  moves by ``beta_i * market`` with ``beta_i`` the OLS slope (with intercept) of its daily returns
  on the market asset's over the last ``lookback`` bars of the data.

Returns are floored at -100 % (a spot asset cannot lose more). P&L is signed (negative = loss), as
a fraction of portfolio value and, when ``value`` is given, in quote currency.

:func:`stressed_var` stresses a parametric (normal) VaR instead: volatilities times ``k`` and/or
all pairwise correlations set to ``rho``.
"""

from __future__ import annotations

import datetime as _dt
import html
import math
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from quantlab._util import to_jsonable
from quantlab._validate import (
    KeyMatcher,
    align_keys,
    as_returns,
    check_horizon,
    check_level,
    check_not_prices,
    check_weights,
)
from quantlab.data.symbols import normalize_symbol
from quantlab.errors import DataError, ParameterError, UnknownSymbolError

__all__ = [
    "HistoricalScenario",
    "HypotheticalScenario",
    "Scenario",
    "StressResult",
    "StressedVaRResult",
    "estimate_betas",
    "load_scenarios",
    "scenario_names",
    "stress_test",
    "stressed_var",
]

#: Default number of bars for beta regressions (one crypto year of daily bars).
DEFAULT_BETA_LOOKBACK = 365
#: Fewest paired observations accepted for a beta estimate.
MIN_BETA_OBS = 30
_PACKAGED = "scenarios.toml"
_PACKAGED_SOURCE = f"quantlab/risk/{_PACKAGED}"
#: Asset name that is never a shock key: asks a scenario for its market/default return.
_NOT_SHOCKED = "\x00not shocked"


# --------------------------------------------------------------------------------------------
# Scenario objects and the TOML library
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """Base class of a stress scenario (``name`` and free-text ``description``)."""

    name: str
    description: str = ""
    #: File the scenario was read from ("" when built in code); named in error messages.
    source: str = field(default="", compare=False, kw_only=True)

    kind = "scenario"

    @property
    def window(self) -> str:
        """``"start..end"`` for historical scenarios, ``""`` otherwise."""
        return ""


@dataclass(frozen=True, kw_only=True)
class HistoricalScenario(Scenario):
    """Replay of an episode: the assets' compounded returns over ``start..end`` (inclusive days).

    Parameters
    ----------
    name, description : str
        Identifier and free text.
    start, end : pandas.Timestamp
        First and last day of the window (UTC, normalized to midnight).
    """

    start: pd.Timestamp
    end: pd.Timestamp

    kind = "historical"

    def __post_init__(self) -> None:
        start = _toml_day(self.start, f"scenario {self.name}", "start", ParameterError)
        end = _toml_day(self.end, f"scenario {self.name}", "end", ParameterError)
        if start > end:
            raise ParameterError(f"scenario {self.name}: start {start:%Y-%m-%d} is after end "
                                 f"{end:%Y-%m-%d}")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)

    @property
    def window(self) -> str:
        return f"{self.start:%Y-%m-%d}..{self.end:%Y-%m-%d}"


@dataclass(frozen=True, kw_only=True)
class HypotheticalScenario(Scenario):
    """An instantaneous shock to today's portfolio.

    Parameters
    ----------
    name, description : str
        Identifier and free text.
    shocks : dict
        Simple return per symbol (``-0.3`` = falls 30 %); takes precedence over ``market``.
    default : float or None
        Return of assets not in ``shocks`` when there is no ``market`` shock (None = 0.0).
    market : float or None
        Market shock applied to every asset not in ``shocks``.
    beta_scaled : bool
        Scale ``market`` by each asset's beta to ``market_asset``.
    market_asset : str
        Market factor of the beta regression.
    lookback : int or None
        Bars of the beta regression (None = ``stress_test``'s ``beta_lookback``).
    """

    shocks: Mapping[str, float] = field(default_factory=dict)
    default: float | None = None
    market: float | None = None
    beta_scaled: bool = False
    market_asset: str = "BTC/USDT"
    lookback: int | None = None

    kind = "hypothetical"

    def __post_init__(self) -> None:
        where = f"scenario {self.name}" + (f" ({self.source})" if self.source else "")
        if not isinstance(self.shocks, Mapping):
            raise ParameterError(f"{where}: shocks must be a mapping symbol -> return, "
                                 f"got {type(self.shocks).__name__}")
        try:
            shocks = {}
            first: dict[str, Any] = {}
            for k, v in dict(self.shocks).items():
                key = _shock_key(k)
                if key in first:
                    raise ParameterError(f"{where}: shocks {first[key]!r} and {k!r} both name "
                                         f"{key}")
                first[key] = k
                shocks[key] = _toml_return(v, where, f"shocks.{k}")
            for key in ("default", "market"):
                if getattr(self, key) is not None:
                    _toml_return(getattr(self, key), where, key)
        except DataError as err:
            raise ParameterError(str(err)) from None
        if not shocks and self.market is None:
            raise ParameterError(f"{where}: needs shocks or market")
        if self.beta_scaled and self.market is None:
            raise ParameterError(f"{where}: beta_scaled needs a market shock")
        if not isinstance(self.beta_scaled, bool):
            raise ParameterError(f"{where}: beta_scaled={self.beta_scaled!r} must be True or False")
        try:
            market_asset = normalize_symbol(self.market_asset)
        except ParameterError:
            raise ParameterError(f"{where}: market_asset={self.market_asset!r} is not a symbol "
                                 "like BTC/USDT") from None
        object.__setattr__(self, "shocks", shocks)
        object.__setattr__(self, "market_asset", market_asset)

    def asset_return(self, asset: str, beta: float | None = None) -> float:
        """Unfloored return of ``asset`` under this scenario (``beta`` needed if beta-scaled)."""
        if asset in self.shocks:
            return float(self.shocks[asset])
        if self.market is not None:
            if self.beta_scaled:
                if beta is None:
                    raise ParameterError(f"scenario {self.name}: beta of {asset} is needed")
                return float(beta) * self.market
            return float(self.market)
        return 0.0 if self.default is None else float(self.default)


def _shock_key(key: Any) -> str:
    """A shock key in ccxt unified spelling (``btc_usdt`` -> ``BTC/USDT``); other strings are
    kept as given (they may name a column of user data) and matched in :func:`stress_test`."""
    if not isinstance(key, str) or not key.strip():
        raise ParameterError(f"shock key {key!r} must be a symbol like BTC/USDT")
    try:
        return normalize_symbol(key)
    except ParameterError:
        return key


_HIST_KEYS = {"start", "end", "description"}
_HYPO_KEYS = {"shocks", "default", "market", "beta_scaled", "market_asset", "lookback",
              "description"}


def _bad(source: str, key: str, why: str) -> DataError:
    return DataError(f"{source}: {key} {why}")


def _toml_day(value: Any, source: str, key: str, exc: type[Exception] = DataError
               ) -> pd.Timestamp:
    try:
        return _day(value, source, key)
    except DataError as err:
        raise exc(str(err)) from None


def _day(value: Any, source: str, key: str) -> pd.Timestamp:
    if isinstance(value, pd.Timestamp):
        value = value.isoformat() if value.tzinfo is None else value.tz_convert("UTC")
        if isinstance(value, pd.Timestamp):
            if value != value.normalize():
                raise _bad(source, key, f"= {value} must be a day (midnight UTC)")
            return value
    if isinstance(value, _dt.datetime):
        raise _bad(source, key, f"= {value.isoformat()} must be a day (YYYY-MM-DD), not a time")
    if isinstance(value, _dt.date):
        return pd.Timestamp(value, tz="UTC")
    if isinstance(value, str):
        try:
            day = _dt.date.fromisoformat(value.strip())
        except ValueError:
            raise _bad(source, key, f"= {value!r} is not a date (YYYY-MM-DD)") from None
        return pd.Timestamp(day, tz="UTC")
    raise _bad(source, key, f"= {value!r} must be a date string YYYY-MM-DD")


def _toml_return(value: Any, source: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad(source, key, f"= {value!r} must be a finite number (a simple return, -0.3 = -30 %)")
    if value < -1.0:
        raise _bad(source, key, f"= {value!r} is below -1 (a return cannot lose more than 100 %)")
    return float(value)


def _parse_entry(kind: str, name: str, entry: Any, source: str) -> Scenario:
    where = f"{kind}.{name}"
    if not isinstance(entry, dict):
        raise _bad(source, where, "must be a table ([" + where + "])")
    allowed = _HIST_KEYS if kind == "historical" else _HYPO_KEYS
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise _bad(source, f"{where}.{unknown[0]}",
                   f"is not a known key (allowed: {', '.join(sorted(allowed))})")
    description = entry.get("description", "")
    if not isinstance(description, str):
        raise _bad(source, f"{where}.description", "must be a string")
    if kind == "historical":
        for key in ("start", "end"):
            if key not in entry:
                raise _bad(source, f"{where}.{key}", "is missing")
        start = _toml_day(entry["start"], source, f"{where}.start")
        end = _toml_day(entry["end"], source, f"{where}.end")
        if start > end:
            raise _bad(source, f"{where}.start", f"{start:%Y-%m-%d} is after end {end:%Y-%m-%d}")
        return HistoricalScenario(name=name, description=description, start=start, end=end,
                                  source=source)
    shocks_raw = entry.get("shocks", {})
    if not isinstance(shocks_raw, dict):
        raise _bad(source, f"{where}.shocks", 'must be a table like { "BTC/USDT" = -0.3 }')
    shocks: dict[str, float] = {}
    first: dict[str, str] = {}
    for sym, v in shocks_raw.items():
        try:
            key = normalize_symbol(sym)
        except ParameterError:
            raise _bad(source, f"{where}.shocks.{sym!r}",
                       "is not a symbol (expected BASE/QUOTE, e.g. BTC/USDT)") from None
        if key in first:
            raise _bad(source, f"{where}.shocks.{sym!r}",
                       f"names {key} again (already given as {first[key]!r})")
        first[key] = sym
        shocks[key] = _toml_return(v, source, f"{where}.shocks.{sym}")
    market = entry.get("market")
    if market is not None:
        market = _toml_return(market, source, f"{where}.market")
    default = entry.get("default")
    if default is not None:
        default = _toml_return(default, source, f"{where}.default")
        if market is not None:
            raise _bad(source, f"{where}.default", "cannot be combined with market")
    if not shocks and market is None:
        raise _bad(source, where, "needs shocks or market")
    beta_scaled = entry.get("beta_scaled", False)
    if not isinstance(beta_scaled, bool):
        raise _bad(source, f"{where}.beta_scaled", f"= {beta_scaled!r} must be true or false")
    if beta_scaled and market is None:
        raise _bad(source, f"{where}.beta_scaled", "needs a market shock")
    market_asset = entry.get("market_asset", "BTC/USDT")
    if not isinstance(market_asset, str) or not market_asset:
        raise _bad(source, f"{where}.market_asset", "must be a symbol string like BTC/USDT")
    try:
        market_asset = normalize_symbol(market_asset)
    except ParameterError:
        raise _bad(source, f"{where}.market_asset",
                   f"= {market_asset!r} is not a symbol (expected BASE/QUOTE, e.g. BTC/USDT)"
                   ) from None
    lookback = entry.get("lookback")
    if lookback is not None and (isinstance(lookback, bool) or not isinstance(lookback, int)
                                 or lookback < MIN_BETA_OBS):
        raise _bad(source, f"{where}.lookback",
                   f"= {lookback!r} must be a whole number of bars >= {MIN_BETA_OBS}")
    return HypotheticalScenario(name=name, description=description, shocks=shocks,
                                default=default, market=market, beta_scaled=beta_scaled,
                                market_asset=market_asset, lookback=lookback, source=source)


def _parse_library(text: str, source: str) -> dict[str, Scenario]:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"{source}: not valid TOML ({exc})") from None
    unknown = sorted(set(doc) - {"historical", "hypothetical"})
    if unknown:
        raise _bad(source, unknown[0], "is not a known section (use [historical.NAME] or "
                   "[hypothetical.NAME])")
    out: dict[str, Scenario] = {}
    for kind in ("historical", "hypothetical"):
        section = doc.get(kind, {})
        if not isinstance(section, dict):
            raise _bad(source, kind, "must be a table of scenarios")
        for name, entry in section.items():
            if name in out:
                raise _bad(source, f"{kind}.{name}", "duplicates a scenario name of another kind")
            out[name] = _parse_entry(kind, name, entry, source)
    return out


def load_scenarios(path: str | Path | None = None, *, include_packaged: bool = True
                   ) -> dict[str, Scenario]:
    """Load and validate the stress-scenario library.

    Parameters
    ----------
    path : str or Path, optional
        A user TOML file in the same format as the packaged ``quantlab/risk/scenarios.toml``.
        Its entries extend the packaged ones; an entry with the same name replaces the
        packaged one.
    include_packaged : bool
        Start from the packaged library (default); False loads ``path`` alone.

    Returns
    -------
    dict of str to Scenario
        Scenarios by name, packaged ones first, in file order.

    Raises
    ------
    DataError
        File missing/unreadable, invalid TOML or an invalid entry (the message names file and key).
    """
    out: dict[str, Scenario] = {}
    if include_packaged:
        entry = resources.files("quantlab") / "risk" / _PACKAGED
        out.update(_parse_library(entry.read_text(encoding="utf-8"), _PACKAGED_SOURCE))
    if path is not None:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise DataError(f"{p}: cannot read scenario file ({exc.strerror or exc})") from None
        out.update(_parse_library(text, str(p)))
    elif not include_packaged:
        raise ParameterError("load_scenarios(include_packaged=False) needs a path")
    return out


def scenario_names(path: str | Path | None = None) -> list[str]:
    """Names of the scenarios in the library (packaged + ``path``)."""
    return list(load_scenarios(path))


# --------------------------------------------------------------------------------------------
# Shared input helpers (also used by quantlab.risk.reverse)
# --------------------------------------------------------------------------------------------


def _weights_series(weights: Any, assets: Sequence[Any] | None = None) -> pd.Series:
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


def _check_value(value: Any) -> float | None:
    if value is None:
        return None
    try:
        if isinstance(value, bool | np.bool_):
            raise TypeError(value)
        v = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"value={value!r} must be a positive number (portfolio value)") from None
    if not math.isfinite(v) or v <= 0:
        raise ParameterError(f"value={value!r} must be a positive number (portfolio value)")
    return v


def _close_frame(data: Any) -> pd.DataFrame:
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


def _returns_table(data: Any, from_returns: bool) -> pd.DataFrame:
    """Per-asset simple returns (NaN = no data) from user prices or returns."""
    frame = _close_frame(data)
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


def _sample_returns(symbols: Iterable[str]) -> pd.DataFrame:
    from quantlab.data import load_sample

    syms = list(dict.fromkeys(symbols))
    return load_sample(syms)["close"].pct_change(fill_method=None).iloc[1:]


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


# --------------------------------------------------------------------------------------------
# Result objects
# --------------------------------------------------------------------------------------------


def _fmt_table(table: pd.DataFrame, pct_cols: Iterable[str]) -> str:
    pct = set(pct_cols)
    fmt = {c: (lambda v: "" if pd.isna(v) else f"{v:.2%}") for c in table.columns if c in pct}
    return table.to_html(formatters=fmt, float_format=lambda v: f"{v:,.2f}", na_rep="")


@dataclass
class StressResult:
    """Scenario P&L of a portfolio.

    Attributes
    ----------
    table : DataFrame
        One row per scenario (index ``scenario``): ``kind``, ``window``, ``portfolio_return``
        (signed fraction), ``pnl`` (quote currency, only with ``value``), ``worst_asset`` and
        ``worst_contribution`` (the asset with the most negative ``w_i R_i``), ``note``
        (proxies used, floored shocks), then each asset's return.
    contributions : DataFrame
        ``w_i R_i`` per scenario and asset (sums to ``portfolio_return``).
    weights : Series
        Portfolio weights used.
    value : float or None
        Portfolio value in quote currency.
    scenarios : dict
        The scenario objects applied.
    betas : dict
        Betas used by beta-scaled scenarios, by scenario name.
    """

    table: pd.DataFrame
    contributions: pd.DataFrame
    weights: pd.Series
    value: float | None
    scenarios: dict[str, Scenario]
    betas: dict[str, pd.Series] = field(default_factory=dict)

    def summary(self) -> pd.DataFrame:
        """The scenario table (a copy)."""
        return self.table.copy()

    def worst(self) -> str:
        """Name of the scenario with the lowest portfolio return."""
        return str(self.table["portfolio_return"].idxmin())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: weights, value, scenario rows, contributions, betas."""
        return to_jsonable({
            "weights": self.weights,
            "value": self.value,
            "scenarios": self.table,
            "descriptions": {n: s.description for n, s in self.scenarios.items()},
            "contributions": self.contributions,
            "betas": {k: v for k, v in self.betas.items()},
        })

    def plot(self, **kwargs: Any) -> Any:
        """Bar chart of each scenario's portfolio return (``quantlab.charts.risk.stress_figure``)."""
        from quantlab.charts.risk import stress_figure

        return stress_figure(self.table, **kwargs)

    def _repr_html_(self) -> str:
        pct = ["portfolio_return", "worst_contribution", *map(str, self.weights.index)]
        head = f"<b>Stress test</b> — {len(self.table)} scenarios"
        if self.value is not None:
            head += f", portfolio value {self.value:,.2f}"
        return head + _fmt_table(self.table, pct)


def _check_missing(missing: str) -> str | None:
    if missing in ("error", "skip"):
        return None
    if isinstance(missing, str) and missing.startswith("proxy:") and len(missing) > 6:
        return missing[6:]
    raise ParameterError(f"missing={missing!r} must be 'error', 'skip' or 'proxy:SYMBOL' "
                         "(e.g. 'proxy:BTC/USDT')")


def _select(scenarios: Any, library: Any) -> dict[str, Scenario]:
    if isinstance(library, Mapping):
        lib = dict(library)
    else:
        lib = load_scenarios(library)
    if scenarios is None:
        return lib
    if isinstance(scenarios, str | Scenario):
        scenarios = [scenarios]
    out: dict[str, Scenario] = {}
    for s in scenarios:
        if isinstance(s, Scenario):
            out[s.name] = s
        elif isinstance(s, str):
            if s not in lib:
                raise ParameterError(f"unknown scenario {s!r} (available: {', '.join(lib)})")
            out[s] = lib[s]
        else:
            raise ParameterError(f"scenarios must be names or Scenario objects, not {s!r}")
    if not out:
        raise ParameterError("no scenarios given")
    return out


def _window_rows(rets: pd.DataFrame, sc: HistoricalScenario) -> pd.DataFrame:
    idx = rets.index
    if not isinstance(idx, pd.DatetimeIndex):
        raise ParameterError("historical scenarios need prices_or_returns with a DatetimeIndex")
    start, end = sc.start, sc.end
    if idx.tz is None:
        start, end = start.tz_localize(None), end.tz_localize(None)
    else:
        start, end = start.tz_convert(idx.tz), end.tz_convert(idx.tz)
    if len(idx) == 0 or idx[0] > start or idx[-1] < end:
        span = f"{idx[0]:%Y-%m-%d}..{idx[-1]:%Y-%m-%d}" if len(idx) else "empty"
        raise DataError(f"scenario {sc.name} window {sc.window} is outside the data "
                        f"(returns cover {span})")
    rows = rets[(idx >= start) & (idx < end + pd.Timedelta(days=1))]
    if rows.empty:
        raise DataError(f"scenario {sc.name}: no bars inside the window {sc.window}")
    return rows


def stress_test(
    weights: Any,
    prices_or_returns: Any = None,
    scenarios: str | Scenario | Sequence[str | Scenario] | None = None,
    value: float | None = None,
    *,
    from_returns: bool = False,
    library: str | Path | Mapping[str, Scenario] | None = None,
    missing: str = "error",
    beta_lookback: int = DEFAULT_BETA_LOOKBACK,
) -> StressResult:
    """Apply stress scenarios to today's portfolio.

    Historical scenarios: asset returns are the actual compounded returns over the window
    (``close[end] / close[day before start] - 1``), the portfolio is **buy-and-hold over the
    window with no rebalancing**, so its return is ``sum_i w_i R_i``. Hypothetical scenarios:
    see :class:`HypotheticalScenario`; beta-scaled shocks use :func:`estimate_betas` on the last
    ``beta_lookback`` bars of the data. Returns are floored at -100 %.

    Parameters
    ----------
    weights : Mapping, Series or sequence
        Fractions of portfolio value by symbol (negative = short; the rest is cash at 0 %).
        A plain sequence follows the columns of ``prices_or_returns``.
    prices_or_returns : DataFrame, optional
        Close prices (or returns with ``from_returns=True``), one column per asset, or a
        ``(field, symbol)`` panel; NaN = not listed. Default: the bundled daily sample.
    scenarios : name, Scenario or list of them, optional
        Scenarios to run (default: the whole library).
    value : float, optional
        Portfolio value in quote currency; adds a ``pnl`` column.
    from_returns : bool
        ``prices_or_returns`` holds simple returns rather than prices.
    library : path or dict, optional
        Extra scenario TOML file (extends the packaged library) or a loaded library.
    missing : {"error", "skip", "proxy:SYMBOL"}
        An asset without data over a historical window raises a ``DataError`` (default),
        ``skip`` keeps the scenario's row with a NaN result and the reason in ``note``, or
        ``proxy:SYMBOL`` takes the return of ``SYMBOL`` over that window (noted too).
    beta_lookback : int
        Bars of the beta regressions (a scenario's own ``lookback`` wins).

    Returns
    -------
    StressResult

    Raises
    ------
    ParameterError
        Unknown scenario name (the message lists the library), bad ``missing``/``value``/weights.
    DataError
        A window outside the data, an asset with no data in a window (named), bad prices.
    UnknownSymbolError
        An asset is not in the data.

    Examples
    --------
    >>> res = stress_test({"BTC/USDT": 0.6, "ETH/USDT": 0.4}, value=100_000)
    >>> res.summary()[["portfolio_return", "pnl"]]
    """
    proxy = _check_missing(missing)
    value = _check_value(value)
    chosen = _select(scenarios, library)
    bundled = prices_or_returns is None
    if bundled:
        from quantlab.data.sample import sample_symbols

        w = _weights_series(weights)
        keys = list(w.index)
        canon: list[str] = []
        for key in keys:
            try:
                sym = normalize_symbol(str(key))
            except ParameterError:
                raise ParameterError(f"weights: key {key!r} is not a symbol like BTC/USDT"
                                     ) from None
            if sym in canon:
                raise ParameterError(f"weights: {keys[canon.index(sym)]!r} and {key!r} both "
                                     f"name {sym}")
            canon.append(sym)
        w.index = pd.Index(canon, name="asset")
        if proxy is not None:
            try:
                proxy = normalize_symbol(proxy)
            except ParameterError:
                raise ParameterError(f"missing='proxy:{proxy}': {proxy!r} is not a symbol like "
                                     "BTC/USDT") from None
        universe = KeyMatcher(sample_symbols())
    else:
        user_frame = _close_frame(prices_or_returns)
        if from_returns:
            check_not_prices(user_frame, "prices_or_returns")
        cols = list(user_frame.columns)
        universe = KeyMatcher(cols)
        if isinstance(weights, Mapping | pd.Series):
            items = list(weights.items())
            pos = align_keys([k for k, _ in items], cols, name="weights")
            w = _weights_series(pd.Series([v for _, v in items],
                                          index=pd.Index([cols[i] for i in pos])))
        else:
            w = _weights_series(weights, cols)
        if proxy is not None:
            found = universe.find(proxy)
            if found is None:
                raise UnknownSymbolError(f"missing='proxy:{proxy}': {proxy} is not in "
                                         f"prices_or_returns (columns: {', '.join(map(str, cols))})")
            proxy = cols[found]
    assets = list(w.index)
    held = KeyMatcher(assets)

    def shocks_of(sc: HypotheticalScenario) -> dict[Any, float]:
        """The scenario's shocks keyed by portfolio asset; refuses keys naming no known asset."""
        out: dict[Any, float] = {}
        for key, shock in sc.shocks.items():
            i = held.find(key)
            if i is not None:
                out[assets[i]] = float(shock)
                continue
            if universe.find(key) is not None or sc.source == _PACKAGED_SOURCE:
                continue  # a known asset the portfolio does not hold
            where = f"scenario {sc.name}" + (f" ({sc.source})" if sc.source else "")
            data = "the bundled sample" if bundled else "prices_or_returns"
            raise ParameterError(
                f"{where}: shock key {key!r} names no asset of the portfolio or of {data} "
                f"(portfolio: {', '.join(map(str, assets))})")
        return out

    def data_name(symbol: str) -> str:
        """The data's column name of ``symbol`` (user columns may be spelled differently)."""
        if bundled:
            return symbol
        i = universe.find(symbol)
        if i is None:
            raise UnknownSymbolError(f"{symbol} is not in prices_or_returns (columns: "
                                     f"{', '.join(map(str, universe.assets))})")
        return str(universe.assets[i]) if not isinstance(universe.assets[i], str) \
            else universe.assets[i]

    cache: dict[str, pd.DataFrame] = {}

    def returns_for(extra: Iterable[str]) -> pd.DataFrame:
        if not bundled:
            if "r" not in cache:
                cache["r"] = _returns_table(prices_or_returns, from_returns)
            rets = cache["r"]
            absent = [a for a in [*assets, *extra] if a not in rets.columns]
            if absent:
                raise UnknownSymbolError(f"{absent[0]} is not in prices_or_returns "
                                         f"(columns: {', '.join(map(str, rets.columns))})")
            return rets
        need = list(dict.fromkeys([*assets, *extra]))
        key = "|".join(need)
        if key not in cache:
            cache[key] = _sample_returns(need)
        return cache[key]

    rows: dict[str, dict[str, Any]] = {}
    asset_rets: dict[str, pd.Series] = {}
    betas_used: dict[str, pd.Series] = {}
    for name, sc in chosen.items():
        notes: list[str] = []
        if isinstance(sc, HistoricalScenario):
            rets = returns_for([proxy] if proxy else [])
            win = _window_rows(rets, sc)
            nan_assets = [a for a in assets if win[a].isna().any()]
            compounded = (1.0 + win.fillna(0.0)).prod() - 1.0
            r = compounded.reindex(assets)
            if nan_assets:
                if proxy is None:
                    a = nan_assets[0]
                    first = rets[a].first_valid_index()
                    since = (f"its returns start {first:%Y-%m-%d}" if first is not None
                             else "no data at all")
                    if missing == "skip":
                        rows[name] = {"kind": sc.kind, "window": sc.window,
                                      "portfolio_return": np.nan,
                                      **({"pnl": np.nan} if value is not None else {}),
                                      "worst_asset": None, "worst_contribution": np.nan,
                                      "note": f"skipped: {', '.join(nan_assets)} not listed "
                                              f"over the window ({since})"}
                        asset_rets[name] = r.where(~r.index.isin(nan_assets))  # not 0: unknown
                        continue
                    raise DataError(
                        f"{a} has no data over scenario {name} ({sc.window}; {since}); "
                        "pass missing='proxy:BTC/USDT' to use a proxy's return, or drop "
                        "the asset or the scenario")
                if win[proxy].isna().any():
                    raise DataError(f"proxy {proxy} has no data over scenario {name} ({sc.window})")
                for a in nan_assets:
                    r[a] = compounded[proxy]
                notes.append(f"proxy {proxy} for {', '.join(nan_assets)}")
        elif isinstance(sc, HypotheticalScenario):
            betas = None
            shocks = shocks_of(sc)
            if sc.beta_scaled:
                market = data_name(sc.market_asset)
                rets = returns_for([market])
                lookback = sc.lookback or beta_lookback
                betas = estimate_betas(rets, market, lookback=lookback,
                                       assets=[a for a in assets if a not in shocks])
                betas_used[name] = betas
            r = pd.Series({a: shocks[a] if a in shocks else
                           sc.asset_return(_NOT_SHOCKED, None if betas is None else betas.get(a))
                           for a in assets}, dtype="float64")
            floored = [a for a in assets if r[a] < -1.0]
            if floored:
                r[floored] = -1.0
                notes.append(f"floored at -100 %: {', '.join(floored)}")
        else:
            raise ParameterError(f"scenario {name!r} has an unknown kind")
        asset_rets[name] = r
        contrib = w * r
        port = float(contrib.sum())
        worst = str(contrib.idxmin())
        row: dict[str, Any] = {"kind": sc.kind, "window": sc.window, "portfolio_return": port}
        if value is not None:
            row["pnl"] = port * value
        row.update(worst_asset=worst, worst_contribution=float(contrib[worst]),
                   note="; ".join(notes))
        rows[name] = row
    meta = pd.DataFrame.from_dict(rows, orient="index")
    per_asset = pd.DataFrame(asset_rets).T.reindex(columns=assets)
    table = pd.concat([meta, per_asset], axis=1)
    table.index.name = "scenario"
    contributions = per_asset * w
    contributions.index.name = "scenario"
    return StressResult(table=table, contributions=contributions, weights=w, value=value,
                        scenarios=chosen, betas=betas_used)


# --------------------------------------------------------------------------------------------
# Stressed parametric VaR
# --------------------------------------------------------------------------------------------


@dataclass
class StressedVaRResult:
    """Base versus stressed parametric (normal) VaR and ES.

    Attributes
    ----------
    table : DataFrame
        Rows ``base`` and ``stressed``; columns ``volatility`` (portfolio sigma over the
        horizon), ``var`` and ``es`` (positive loss fractions), ``undiversified_var`` (sum of
        stand-alone VaRs), ``var_pnl``/``es_pnl`` in quote currency when ``value`` is given.
    assets : DataFrame
        Per asset: weight, base and stressed volatility, stand-alone VaR base/stressed.
    correlation : DataFrame
        The stressed correlation matrix.
    level, vol_multiplier, rho, horizon, mean :
        The parameters used.
    notes : list of str
        E.g. a correlation matrix repaired to be positive semi-definite.
    """

    table: pd.DataFrame
    assets: pd.DataFrame
    correlation: pd.DataFrame
    level: float
    vol_multiplier: float
    rho: float | None
    horizon: int
    mean: bool
    value: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def var(self) -> float:
        """Stressed VaR (positive loss fraction)."""
        return float(self.table.loc["stressed", "var"])

    @property
    def es(self) -> float:
        """Stressed ES (positive loss fraction)."""
        return float(self.table.loc["stressed", "es"])

    def summary(self) -> pd.DataFrame:
        """The base/stressed table (a copy)."""
        return self.table.copy()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the parameters and tables."""
        return to_jsonable({
            "level": self.level, "vol_multiplier": self.vol_multiplier, "correlation": self.rho,
            "horizon": self.horizon, "mean": self.mean, "value": self.value,
            "table": self.table, "assets": self.assets, "notes": list(self.notes),
        })

    def plot(self, **kwargs: Any) -> Any:
        """Bars of base vs stressed VaR as negative returns (``stress_figure``)."""
        from quantlab.charts.risk import stress_figure

        t = pd.DataFrame({"portfolio_return": -self.table["var"]})
        t.index = [f"VaR {i}" for i in t.index]
        t.index.name = "scenario"
        return stress_figure(t, **kwargs)

    def _repr_html_(self) -> str:
        rho = "unchanged" if self.rho is None else f"{self.rho:g}"
        head = (f"<b>Stressed VaR</b> — level {self.level:g}, volatility x{self.vol_multiplier:g},"
                f" correlation {rho}, horizon {self.horizon}")
        notes = "".join(f"<br><i>{html.escape(n)}</i>" for n in self.notes)
        return head + notes + _fmt_table(self.table, ["volatility", "var", "es",
                                                      "undiversified_var"])


def _nearest_correlation(c: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh((c + c.T) / 2.0)
    fixed = vecs @ np.diag(np.clip(vals, 1e-10, None)) @ vecs.T
    d = np.sqrt(np.diag(fixed))
    out = fixed / np.outer(d, d)
    np.fill_diagonal(out, 1.0)
    return out


def _stressed_corr(base: np.ndarray, correlation: Any, cols: Sequence[Any]
                   ) -> tuple[np.ndarray, float | None, list[str]]:
    n = base.shape[0]
    if correlation is None:
        return base, None, []
    if isinstance(correlation, int | float | np.number) and not isinstance(correlation, bool):
        rho = float(correlation)
        if not math.isfinite(rho) or not -1.0 <= rho <= 1.0:
            raise ParameterError(f"correlation={correlation!r} must be in [-1, 1]")
        lower = -1.0 / (n - 1) if n > 1 else -1.0
        if rho < lower - 1e-12:
            raise ParameterError(
                f"correlation={rho:g} is not a valid common correlation for {n} assets "
                f"(the matrix is positive semi-definite only for rho >= {lower:.4g})")
        c = np.full((n, n), rho)
        np.fill_diagonal(c, 1.0)
        return c, rho, []
    if isinstance(correlation, pd.DataFrame):
        try:
            correlation = correlation.loc[list(cols), list(cols)]
        except KeyError:
            raise ParameterError("correlation matrix must be labelled by the return columns") from None
    c = np.asarray(correlation, dtype="float64")
    if c.shape != (n, n) or not np.isfinite(c).all():
        raise ParameterError(f"correlation must be a number or a finite {n}x{n} matrix")
    if not np.allclose(c, c.T, atol=1e-10) or not np.allclose(np.diag(c), 1.0) \
            or np.abs(c).max() > 1.0 + 1e-12:
        raise ParameterError("correlation matrix must be symmetric with unit diagonal and "
                             "entries in [-1, 1]")
    if np.linalg.eigvalsh(c).min() < -1e-10:
        return _nearest_correlation(c), None, [
            "correlation matrix was not positive semi-definite; negative eigenvalues were "
            "clipped and the diagonal rescaled to 1"]
    return c, None, []


def stressed_var(
    returns: pd.DataFrame,
    weights: Any,
    level: float = 0.99,
    vol_multiplier: float = 1.0,
    correlation: float | np.ndarray | pd.DataFrame | None = None,
    *,
    horizon: int = 1,
    mean: bool = False,
    value: float | None = None,
) -> StressedVaRResult:
    """Parametric (normal) portfolio VaR/ES with stressed volatilities and correlations.

    With sample covariance ``Sigma = D C D`` (``D`` = diag of volatilities, ``C`` = correlation),
    the stressed covariance is ``(k D) C* (k D)`` where ``C*`` is ``C`` (``correlation=None``),
    the equicorrelation matrix with every off-diagonal ``rho`` (a number), or a given matrix.
    ``VaR = -h w'mu + z_level sqrt(h w' Sigma w)`` and
    ``ES = -h w'mu + sqrt(h w' Sigma w) phi(z) / (1 - level)``.

    With ``rho = 1`` the portfolio volatility is ``|sum_i w_i sigma_i|``: for a long-only
    portfolio the (zero-mean) VaR is the sum of stand-alone VaRs ``sum_i w_i sigma_i z``; with
    shorts perfect correlation makes hedges perfect, so compare with ``undiversified_var``
    (``sum_i |w_i| sigma_i z``), reported beside it.

    Parameters
    ----------
    returns : DataFrame
        Simple returns, one column per asset, no NaN.
    weights : Mapping, Series or sequence
        Portfolio weights (fractions of value).
    level : float
        Confidence level, e.g. 0.99.
    vol_multiplier : float
        ``k > 0``; every asset's volatility is multiplied by ``k``.
    correlation : float, matrix or None
        Stressed correlation. A number ``rho`` must keep the matrix positive semi-definite
        (``rho >= -1/(n-1)``); a non-PSD matrix is repaired by eigenvalue clipping (noted).
    horizon : int
        Bars; sigma scales with ``sqrt(horizon)`` and the mean with ``horizon``.
    mean : bool
        Include the sample mean (default False: zero-mean, the RiskMetrics convention and the
        more conservative choice for assets with positive drift).
    value : float, optional
        Portfolio value; adds ``var_pnl``/``es_pnl`` columns in quote currency.

    Returns
    -------
    StressedVaRResult
    """
    rets = as_returns(returns, min_obs=2, allow_frame=True)
    if isinstance(rets, pd.Series):
        rets = rets.to_frame(name=rets.name if rets.name is not None else "asset")
    level = check_level(level)
    horizon = check_horizon(horizon)
    value = _check_value(value)
    try:
        if isinstance(vol_multiplier, bool | np.bool_):
            raise TypeError(vol_multiplier)
        k = float(vol_multiplier)
    except (TypeError, ValueError):
        raise ParameterError(f"vol_multiplier={vol_multiplier!r} must be a positive number") from None
    if not math.isfinite(k) or k <= 0:
        raise ParameterError(f"vol_multiplier={vol_multiplier!r} must be a positive number")
    cols = list(rets.columns)
    w = check_weights(weights, cols)
    x = rets.to_numpy()
    mu = x.mean(axis=0) if mean else np.zeros(len(cols))
    cov = np.atleast_2d(np.cov(x, rowvar=False, ddof=1))
    sig = np.sqrt(np.diag(cov))
    if (sig <= 0).any():
        flat = cols[int(np.argmin(sig))]
        raise DataError(f"returns of {flat} are constant; its volatility is zero")
    base_c = cov / np.outer(sig, sig)
    np.fill_diagonal(base_c, 1.0)
    stress_c, rho, notes = _stressed_corr(base_c, correlation, cols)
    z = float(stats.norm.ppf(level))
    es_factor = float(stats.norm.pdf(z) / (1.0 - level))
    h = float(horizon)

    def measures(s: np.ndarray, c: np.ndarray) -> dict[str, float]:
        sp = float(np.sqrt(max(w @ (np.outer(s, s) * c) @ w, 0.0)) * np.sqrt(h))
        m = -h * float(w @ mu)
        alone = -h * w * mu + z * np.abs(w) * s * np.sqrt(h)
        out = {"volatility": sp, "var": m + z * sp, "es": m + es_factor * sp,
               "undiversified_var": float(alone.sum())}
        if value is not None:
            out["var_pnl"] = out["var"] * value
            out["es_pnl"] = out["es"] * value
        return out

    table = pd.DataFrame([measures(sig, base_c), measures(k * sig, stress_c)],
                         index=pd.Index(["base", "stressed"], name="case"))
    sq = np.sqrt(h)
    assets = pd.DataFrame({
        "weight": w,
        "volatility": sig * sq,
        "stressed_volatility": k * sig * sq,
        "standalone_var": -h * w * mu + z * np.abs(w) * sig * sq,
        "stressed_standalone_var": -h * w * mu + z * np.abs(w) * k * sig * sq,
    }, index=pd.Index(cols, name="asset"))
    return StressedVaRResult(table=table, assets=assets,
                             correlation=pd.DataFrame(stress_c, index=cols, columns=cols),
                             level=level, vol_multiplier=k, rho=rho, horizon=horizon, mean=mean,
                             value=value, notes=notes)
