"""Stress scenarios: the scenario model and the TOML scenario library.

* :class:`HistoricalScenario` replays an episode window ``start..end`` (inclusive UTC days);
* :class:`HypotheticalScenario` is an instantaneous shock: per-asset returns (``shocks`` with a
  ``default`` for unlisted assets) and/or a ``market`` shock, optionally beta-scaled.

:func:`load_scenarios` reads the packaged library ``quantlab/risk/scenarios.toml``, extended or
overridden by a user TOML file in the same format. How scenarios are applied to a portfolio is
:func:`quantlab.risk.stress.stress_test`.
"""

from __future__ import annotations

import datetime as _dt
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from quantlab.data.symbols import normalize_symbol
from quantlab.errors import DataError, ParameterError
from quantlab.risk.beta import MIN_BETA_OBS

__all__ = [
    "HistoricalScenario",
    "HypotheticalScenario",
    "Scenario",
    "load_scenarios",
    "scenario_names",
]

_PACKAGED = "scenarios.toml"
#: Source name of the packaged scenarios (their shock keys may name assets outside the data).
PACKAGED_SOURCE = f"quantlab/risk/{_PACKAGED}"
#: Asset name that is never a shock key: asks a scenario for its market/default return.
NOT_SHOCKED = "\x00not shocked"


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
        out.update(_parse_library(entry.read_text(encoding="utf-8"), PACKAGED_SOURCE))
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
