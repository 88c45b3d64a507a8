"""Stress testing: apply historical and hypothetical scenarios to today's portfolio.

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

The scenario model and its TOML library are :mod:`quantlab.risk.scenarios`, betas
:mod:`quantlab.risk.beta`, the stressed parametric VaR :mod:`quantlab.risk.stressed_var`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quantlab._validate import KeyMatcher, align_keys, check_not_prices
from quantlab.data.symbols import normalize_symbol
from quantlab.errors import DataError, ParameterError, UnknownSymbolError
from quantlab.risk._inputs import (
    check_value,
    close_frame,
    returns_table,
    sample_returns,
    weights_series,
)
from quantlab.risk.beta import DEFAULT_BETA_LOOKBACK, estimate_betas
from quantlab.risk.scenarios import (
    NOT_SHOCKED,
    PACKAGED_SOURCE,
    HistoricalScenario,
    HypotheticalScenario,
    Scenario,
    load_scenarios,
)
from quantlab.risk.stress_results import StressResult

__all__ = ["StressResult", "stress_test"]


# --------------------------------------------------------------------------------------------
# the portfolio and its data
# --------------------------------------------------------------------------------------------


def _bundled_weights(weights: Any) -> pd.Series:
    """Weights keyed by canonical symbols (the bundled sample is keyed by them)."""
    w = weights_series(weights)
    keys = list(w.index)
    canon: list[str] = []
    for key in keys:
        try:
            sym = normalize_symbol(str(key))
        except ParameterError:
            raise ParameterError(f"weights: key {key!r} is not a symbol like BTC/USDT") from None
        if sym in canon:
            raise ParameterError(f"weights: {keys[canon.index(sym)]!r} and {key!r} both "
                                 f"name {sym}")
        canon.append(sym)
    w.index = pd.Index(canon, name="asset")
    return w


def _user_weights(weights: Any, cols: list[Any]) -> pd.Series:
    """Weights keyed by the user's column names (any symbol spelling matches a column)."""
    if isinstance(weights, Mapping | pd.Series):
        items = list(weights.items())
        pos = align_keys([k for k, _ in items], cols, name="weights")
        return weights_series(pd.Series([v for _, v in items],
                                        index=pd.Index([cols[i] for i in pos])))
    return weights_series(weights, cols)


@dataclass
class _Book:
    """Today's portfolio and the return data scenarios are evaluated on.

    ``bundled``: the data is the bundled sample (loaded lazily, per set of symbols); otherwise
    ``frame`` holds the user's prices or returns and ``universe`` matches its column names.
    """

    weights: pd.Series
    universe: KeyMatcher
    bundled: bool
    frame: pd.DataFrame | None = None
    from_returns: bool = False
    _cache: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def assets(self) -> list[Any]:
        return list(self.weights.index)

    @classmethod
    def build(cls, weights: Any, prices_or_returns: Any, from_returns: bool) -> _Book:
        if prices_or_returns is None:
            from quantlab.data.sample import sample_symbols

            return cls(_bundled_weights(weights), KeyMatcher(sample_symbols()), bundled=True)
        frame = close_frame(prices_or_returns)
        if from_returns:
            check_not_prices(frame, "prices_or_returns")
        cols = list(frame.columns)
        return cls(_user_weights(weights, cols), KeyMatcher(cols), bundled=False, frame=frame,
                   from_returns=from_returns)

    def columns_text(self) -> str:
        cols = self.universe.assets if not self.bundled else []
        return ", ".join(map(str, cols))

    def resolve_proxy(self, proxy: str | None) -> str | None:
        """The data's name of the ``missing='proxy:...'`` symbol."""
        if proxy is None:
            return None
        if self.bundled:
            try:
                return normalize_symbol(proxy)
            except ParameterError:
                raise ParameterError(f"missing='proxy:{proxy}': {proxy!r} is not a symbol like "
                                     "BTC/USDT") from None
        found = self.universe.find(proxy)
        if found is None:
            raise UnknownSymbolError(f"missing='proxy:{proxy}': {proxy} is not in "
                                     f"prices_or_returns (columns: {self.columns_text()})")
        return self.universe.assets[found]

    def column(self, symbol: str) -> Any:
        """The data's column name of ``symbol`` (user columns may be spelled differently)."""
        if self.bundled:
            return symbol
        i = self.universe.find(symbol)
        if i is None:
            raise UnknownSymbolError(f"{symbol} is not in prices_or_returns (columns: "
                                     f"{self.columns_text()})")
        return self.universe.assets[i]

    def returns(self, extra: Iterable[Any] = ()) -> pd.DataFrame:
        """Per-asset returns of the held assets and ``extra`` (NaN = no data)."""
        need = list(dict.fromkeys([*self.assets, *extra]))
        if not self.bundled:
            if "user" not in self._cache:
                self._cache["user"] = returns_table(self.frame, self.from_returns)
            rets = self._cache["user"]
            absent = [a for a in need if a not in rets.columns]
            if absent:
                raise UnknownSymbolError(f"{absent[0]} is not in prices_or_returns "
                                         f"(columns: {', '.join(map(str, rets.columns))})")
            return rets
        key = "|".join(need)
        if key not in self._cache:
            self._cache[key] = sample_returns(need)
        return self._cache[key]

    def shocks_of(self, sc: HypotheticalScenario) -> dict[Any, float]:
        """The scenario's shocks keyed by held asset; refuses keys naming no known asset."""
        held = KeyMatcher(self.assets)
        out: dict[Any, float] = {}
        for key, shock in sc.shocks.items():
            i = held.find(key)
            if i is not None:
                out[self.assets[i]] = float(shock)
                continue
            if self.universe.find(key) is not None or sc.source == PACKAGED_SOURCE:
                continue  # a known asset the portfolio does not hold
            where = f"scenario {sc.name}" + (f" ({sc.source})" if sc.source else "")
            data = "the bundled sample" if self.bundled else "prices_or_returns"
            raise ParameterError(
                f"{where}: shock key {key!r} names no asset of the portfolio or of {data} "
                f"(portfolio: {', '.join(map(str, self.assets))})")
        return out


# --------------------------------------------------------------------------------------------
# scenario selection and windows
# --------------------------------------------------------------------------------------------


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



# --------------------------------------------------------------------------------------------
# applying one scenario: asset returns (or a skipped row) and notes
# --------------------------------------------------------------------------------------------


@dataclass
class _Outcome:
    """What a scenario does to each asset: returns (NaN = unknown), notes, betas, or a skip."""

    returns: pd.Series
    notes: list[str] = field(default_factory=list)
    betas: pd.Series | None = None
    skipped: str | None = None


def _replay(sc: HistoricalScenario, book: _Book, proxy: str | None, missing: str) -> _Outcome:
    """Compounded asset returns over the scenario window; assets not listed get the proxy's
    return, or skip the scenario, or raise (per ``missing``)."""
    rets = book.returns([proxy] if proxy else [])
    win = _window_rows(rets, sc)
    assets = book.assets
    compounded = (1.0 + win.fillna(0.0)).prod() - 1.0
    r = compounded.reindex(assets)
    unlisted = [a for a in assets if win[a].isna().any()]
    if not unlisted:
        return _Outcome(r)
    if proxy is None:
        a = unlisted[0]
        first = rets[a].first_valid_index()
        since = f"its returns start {first:%Y-%m-%d}" if first is not None else "no data at all"
        if missing == "skip":
            return _Outcome(r.where(~r.index.isin(unlisted)),  # not 0: unknown
                            skipped=f"skipped: {', '.join(map(str, unlisted))} not listed over "
                                    f"the window ({since})")
        raise DataError(f"{a} has no data over scenario {sc.name} ({sc.window}; {since}); "
                        "pass missing='proxy:BTC/USDT' to use a proxy's return, or drop the "
                        "asset or the scenario")
    if win[proxy].isna().any():
        raise DataError(f"proxy {proxy} has no data over scenario {sc.name} ({sc.window})")
    r[unlisted] = compounded[proxy]
    return _Outcome(r, notes=[f"proxy {proxy} for {', '.join(map(str, unlisted))}"])


def _shock(sc: HypotheticalScenario, book: _Book, beta_lookback: int) -> _Outcome:
    """Instantaneous asset returns of a hypothetical scenario, floored at -100 %."""
    assets = book.assets
    shocks = book.shocks_of(sc)
    betas = None
    if sc.beta_scaled:
        market = book.column(sc.market_asset)
        betas = estimate_betas(book.returns([market]), market,
                               lookback=sc.lookback or beta_lookback,
                               assets=[a for a in assets if a not in shocks])
    r = pd.Series({a: shocks[a] if a in shocks else
                   sc.asset_return(NOT_SHOCKED, None if betas is None else betas.get(a))
                   for a in assets}, dtype="float64")
    notes = []
    floored = [a for a in assets if r[a] < -1.0]
    if floored:
        r[floored] = -1.0
        notes.append(f"floored at -100 %: {', '.join(map(str, floored))}")
    return _Outcome(r, notes=notes, betas=betas)


def _row(sc: Scenario, out: _Outcome, w: pd.Series, value: float | None) -> dict[str, Any]:
    """The scenario's row of the result table (before the per-asset returns)."""
    row: dict[str, Any] = {"kind": sc.kind, "window": sc.window}
    if out.skipped is not None:
        row["portfolio_return"] = np.nan
        if value is not None:
            row["pnl"] = np.nan
        row.update(worst_asset=None, worst_contribution=np.nan, note=out.skipped)
        return row
    contrib = w * out.returns
    port = float(contrib.sum())
    worst = contrib.idxmin()
    row["portfolio_return"] = port
    if value is not None:
        row["pnl"] = port * value
    row.update(worst_asset=str(worst), worst_contribution=float(contrib[worst]),
               note="; ".join(out.notes))
    return row


# --------------------------------------------------------------------------------------------
# the public function
# --------------------------------------------------------------------------------------------


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
    value = check_value(value)
    chosen = _select(scenarios, library)
    book = _Book.build(weights, prices_or_returns, from_returns)
    proxy = book.resolve_proxy(proxy)
    outcomes: dict[str, _Outcome] = {}
    for name, sc in chosen.items():
        if isinstance(sc, HistoricalScenario):
            outcomes[name] = _replay(sc, book, proxy, missing)
        elif isinstance(sc, HypotheticalScenario):
            outcomes[name] = _shock(sc, book, beta_lookback)
        else:
            raise ParameterError(f"scenario {name!r} has an unknown kind")
    return _result(chosen, outcomes, book.weights, value)


def _result(chosen: dict[str, Scenario], outcomes: dict[str, _Outcome], w: pd.Series,
            value: float | None) -> StressResult:
    assets = list(w.index)
    meta = pd.DataFrame.from_dict({n: _row(chosen[n], o, w, value) for n, o in outcomes.items()},
                                  orient="index")
    per_asset = pd.DataFrame({n: o.returns for n, o in outcomes.items()}).T.reindex(columns=assets)
    table = pd.concat([meta, per_asset], axis=1)
    table.index.name = "scenario"
    contributions = per_asset * w
    contributions.index.name = "scenario"
    betas = {n: o.betas for n, o in outcomes.items() if o.betas is not None}
    return StressResult(table=table, contributions=contributions, weights=w, value=value,
                        scenarios=chosen, betas=betas)
