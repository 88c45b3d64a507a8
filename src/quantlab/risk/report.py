"""The stress report of one portfolio: scenarios, stressed VaR, reverse stress and drawdowns.

What ``quantlab risk stress`` prints, as one library call returning a
:class:`~quantlab.risk.stress_results.StressReport`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from quantlab.risk.drawdown import drawdown_analysis
from quantlab.risk.returns import portfolio_returns, returns_from_prices
from quantlab.risk.reverse import reverse_beta, reverse_uniform, worst_case_ellipsoid
from quantlab.risk.scenarios import Scenario
from quantlab.risk.stress import stress_test
from quantlab.risk.stress_results import StressReport
from quantlab.risk.stressed_var import stressed_var

__all__ = ["StressReport", "stress_report"]


def stress_report(
    weights: Mapping[str, float],
    prices: pd.DataFrame | None = None,
    returns: pd.DataFrame | None = None,
    *,
    value: float | None = None,
    scenarios: str | Scenario | Sequence[str | Scenario] | None = None,
    library: str | Path | Mapping[str, Scenario] | None = None,
    missing: str = "skip",
    level: float = 0.99,
    vol_multiplier: float = 2.0,
    correlation: float | None = 1.0,
    loss_limit: float = 0.2,
    market_asset: str = "BTC/USDT",
    plausibility: float = 0.99,
    top: int | None = 5,
) -> StressReport:
    """Scenario replay, stressed VaR, reverse stress and drawdowns of one portfolio.

    Parameters
    ----------
    weights : Mapping
        Fractions of portfolio value by symbol.
    prices : DataFrame, optional
        Close prices, one column per asset, over the whole history (historical scenarios replay
        their episodes from it). Default: the bundled daily sample of the weights' symbols.
    returns : DataFrame, optional
        Simple returns for the stressed VaR, the beta and ellipsoid reverse stress and the
        drawdowns (e.g. a sub-period). Default: ``returns_from_prices(prices)`` (days on which
        every asset has a price).
    value : float, optional
        Portfolio value in quote currency (adds P&L figures).
    scenarios, library, missing
        As in :func:`~quantlab.risk.stress.stress_test` (``missing`` defaults to ``"skip"``:
        a scenario before an asset's listing is reported, with its reason, not an error).
    level, vol_multiplier, correlation
        As in :func:`~quantlab.risk.stressed_var.stressed_var`.
    loss_limit : float
        Loss limit of the reverse stress tests, in (0, 1].
    market_asset : str
        Market asset of the beta-scaled reverse stress; when the portfolio does not hold it,
        that step is left out and ``notes`` says so.
    plausibility : float
        Probability mass of the plausibility ellipsoid of the worst-case reverse stress.
    top : int or None
        Drawdown episodes shown.

    Returns
    -------
    StressReport
        ``.scenarios``, ``.stressed_var``, ``.reverse``, ``.drawdown``, ``.notes``;
        ``.sections()`` pairs each with a heading.
    """
    if prices is None:
        from quantlab.data import load_sample

        prices = load_sample(list(weights))["close"]
    rets = returns_from_prices(prices) if returns is None else returns
    st = stress_test(weights, prices, scenarios=scenarios, value=value, library=library,
                     missing=missing)
    svar = stressed_var(rets, weights, level=level, vol_multiplier=vol_multiplier,
                        correlation=correlation, value=value)
    rev = [reverse_uniform(weights, loss_limit, value=value)]
    notes: list[str] = []
    if market_asset in rets.columns:
        rev.append(reverse_beta(weights, loss_limit, rets, market_asset=market_asset,
                                value=value))
    else:
        notes.append(f"beta-scaled reverse stress skipped: market asset {market_asset} is not "
                     "in the portfolio (choose a held one: market_asset=, --market)")
    rev.append(worst_case_ellipsoid(weights, rets, probability=plausibility, value=value))
    dd = drawdown_analysis(portfolio_returns(rets, weights), from_returns=True, top=top)
    return StressReport(weights=st.weights, value=svar.value, scenarios=st, stressed_var=svar,
                        reverse=rev, drawdown=dd, loss_limit=float(rev[0].loss_limit),
                        notes=notes, start=_date(rets.index, 0), end=_date(rets.index, -1))


def _date(index: pd.Index, i: int) -> pd.Timestamp | None:
    return index[i] if isinstance(index, pd.DatetimeIndex) and len(index) else None
