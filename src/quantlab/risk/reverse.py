"""Reverse stress tests: which market move breaks a loss limit, and how plausible is it?

Three questions, each answered in closed form (no optimizer):

* :func:`reverse_uniform` — the smallest fall ``s`` that, applied to **every** asset at once,
  loses at least ``L``: the portfolio loses ``s * sum_i w_i`` (net exposure; for a long-only
  portfolio the gross long exposure), so ``s = L / sum_i w_i``.
* :func:`reverse_beta` — the smallest fall ``s`` of the market asset that breaches ``L`` when
  asset *i* falls by ``beta_i * s`` (floored at -100 %). The loss is piecewise linear in ``s``
  (kinks where ``beta_i * s`` reaches 100 %), so the root is found exactly segment by segment.
* :func:`worst_case_ellipsoid` / :func:`most_plausible_breach` — the worst loss over the
  plausibility ellipsoid ``{r : (r - mu)' Sigma^-1 (r - mu) <= k^2}`` of one-bar returns:
  ``loss = -w'mu + k sqrt(w' Sigma w)`` at ``r* = mu - k Sigma w / sqrt(w' Sigma w)`` (Cauchy-
  Schwarz in the Sigma-metric), and conversely the smallest ``k`` (the most plausible scenario)
  that breaches ``L``: ``k* = (L + w'mu) / sqrt(w' Sigma w)``. Under a multivariate normal model
  ``(r - mu)' Sigma^-1 (r - mu)`` is chi-square with ``n`` degrees of freedom, so the ellipsoid
  holds a fraction ``chi2.cdf(k^2, n)`` of scenarios (``coverage``); ``1 - coverage`` is the
  probability of a move at least that extreme.

Losses are positive fractions of portfolio value; scenario returns are signed simple returns.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from quantlab._validate import KeyMatcher, align_keys, as_returns, check_range, check_weights
from quantlab.errors import DataError, ParameterError
from quantlab.risk._inputs import check_value, returns_table, sample_returns, weights_series
from quantlab.risk.beta import DEFAULT_BETA_LOOKBACK, estimate_betas
from quantlab.risk.stress_results import ReverseStressResult

__all__ = [
    "ReverseStressResult",
    "check_loss_limit",
    "ellipsoid_coverage",
    "ellipsoid_k",
    "most_plausible_breach",
    "reverse_beta",
    "reverse_uniform",
    "worst_case_ellipsoid",
]


def check_loss_limit(loss_limit: Any) -> float:
    """A loss limit as a positive fraction in (0, 1] (0.2 = lose 20 % of portfolio value)."""
    return check_range(loss_limit, "loss_limit", 0, 1, open_low=True, hint="(0.2 = a 20 % loss)",
                       coerce=True)


def ellipsoid_coverage(k: float, n: int) -> float:
    """Probability mass of a normal model inside the ``k``-ellipsoid in ``n`` dimensions."""
    return float(stats.chi2.cdf(float(k) ** 2, int(n)))


def ellipsoid_k(probability: float, n: int) -> float:
    """Radius ``k`` whose ellipsoid holds ``probability`` of the mass (chi-square, ``n`` dof)."""
    p = check_range(probability, "probability", 0, 1, open_low=True, open_high=True,
                    hint="e.g. 0.99", coerce=True)
    return float(np.sqrt(stats.chi2.ppf(p, int(n))))


def reverse_uniform(weights: Any, loss_limit: float, *, value: float | None = None
                    ) -> ReverseStressResult:
    """Smallest fall ``s`` of every asset at once that loses ``loss_limit``.

    Every asset returns ``-s``; the portfolio loses ``s * sum_i w_i`` (net exposure; equal to
    the gross long exposure for a long-only portfolio), so ``s = L / sum_i w_i``.

    Parameters
    ----------
    weights : Mapping or Series
        Fractions of portfolio value by asset.
    loss_limit : float
        ``L`` in (0, 1].
    value : float, optional
        Portfolio value (quote currency).

    Returns
    -------
    ReverseStressResult

    Raises
    ------
    ParameterError
        ``L`` outside (0, 1], or no fall of at most 100 % breaches ``L`` (net exposure < L).
    """
    w = weights_series(weights)
    limit = check_loss_limit(loss_limit)
    value = check_value(value)
    net = float(w.sum())
    if net <= 0 or limit / net > 1.0 + 1e-12:
        raise ParameterError(
            f"no uniform fall of at most 100 % loses {limit:.2%}: the net exposure is {net:.4g} "
            "(a fall of s loses s x net exposure)")
    s = min(limit / net, 1.0)
    scenario = pd.Series(-s, index=w.index, name="return")
    return ReverseStressResult(method="uniform", scenario=scenario, weights=w,
                               loss=float(s * net), loss_limit=limit, shock=s, value=value)


def _beta_returns(betas: np.ndarray, s: float) -> np.ndarray:
    return np.maximum(-betas * s, -1.0)


def reverse_beta(
    weights: Any,
    loss_limit: float,
    returns: pd.DataFrame | None = None,
    *,
    betas: Any = None,
    market_asset: str = "BTC/USDT",
    lookback: int = DEFAULT_BETA_LOOKBACK,
    value: float | None = None,
) -> ReverseStressResult:
    """Smallest fall ``s`` of the market asset that breaches ``loss_limit``, beta-scaled.

    Asset *i* returns ``max(-beta_i s, -1)``; the loss ``-sum_i w_i r_i(s)`` is piecewise linear
    in ``s`` with kinks at ``s = 1/beta_i``, so the smallest ``s`` in (0, 1] with
    ``loss(s) >= L`` is found exactly by walking the segments.

    Parameters
    ----------
    weights : Mapping or Series
        Fractions of portfolio value by asset.
    loss_limit : float
        ``L`` in (0, 1].
    returns : DataFrame, optional
        Simple returns with a column per asset and ``market_asset`` (NaN = no data) for the
        beta regression; default the bundled daily sample.
    betas : Mapping or Series, optional
        Betas by asset, instead of estimating them.
    market_asset : str
        Market factor (its beta is 1).
    lookback : int
        Bars of the beta regression (see :func:`~quantlab.risk.beta.estimate_betas`).
    value : float, optional
        Portfolio value (quote currency).

    Returns
    -------
    ReverseStressResult

    Raises
    ------
    ParameterError
        ``L`` outside (0, 1], or no market fall of at most 100 % breaches it.
    """
    w = weights_series(weights)
    limit = check_loss_limit(loss_limit)
    value = check_value(value)
    assets = list(w.index)
    if betas is not None:
        b = pd.Series(check_weights(betas, assets, name="betas"), index=w.index, name="beta")
    else:
        if returns is None:
            from quantlab.data.symbols import normalize_symbol

            w.index = pd.Index([normalize_symbol(str(a)) for a in w.index], name="asset")
            market_asset = normalize_symbol(market_asset)
            assets = list(w.index)
            rets = sample_returns([*assets, market_asset])
        else:
            rets = returns_table(returns, from_returns=True)
            cols = list(rets.columns)
            w.index = pd.Index([cols[i] for i in align_keys(assets, cols, name="weights")],
                               name="asset")
            assets = list(w.index)
            found = KeyMatcher(cols).find(market_asset)
            if found is not None:
                market_asset = cols[found]
        b = estimate_betas(rets, market_asset, lookback=lookback, assets=assets)
        b = b.reindex(assets)
    wv, bv = w.to_numpy(), b.to_numpy()

    def loss(s: float) -> float:
        return float(-(wv @ _beta_returns(bv, s)))

    knots = sorted({1.0 / x for x in bv if x > 1.0} | {1.0})
    lo, f_lo = 0.0, 0.0
    shock = None
    for hi in knots:
        f_hi = loss(hi)
        if f_hi >= limit - 1e-15:
            shock = lo + (limit - f_lo) * (hi - lo) / (f_hi - f_lo)
            break
        lo, f_lo = hi, f_hi
    if shock is None:
        raise ParameterError(
            f"no beta-scaled fall of {'the market' if betas is not None else market_asset} "
            f"of at most 100 % loses {limit:.2%} "
            f"(a 100 % fall loses {loss(1.0):.2%})")
    scenario = pd.Series(_beta_returns(bv, shock), index=w.index, name="return")
    notes = []
    floored = [a for a, r in scenario.items() if r <= -1.0]
    if floored:
        notes.append(f"floored at -100 %: {', '.join(map(str, floored))}")
    return ReverseStressResult(method="beta", scenario=scenario, weights=w, loss=loss(shock),
                               loss_limit=limit, shock=float(shock), betas=b, value=value,
                               notes=notes)


def _moments(weights: Any, returns: pd.DataFrame, mean: bool
             ) -> tuple[pd.Series, np.ndarray, np.ndarray, float]:
    rets = as_returns(returns, min_obs=3, allow_frame=True)
    if isinstance(rets, pd.Series):
        rets = rets.to_frame(name=rets.name if rets.name is not None else "asset")
    cols = list(rets.columns)
    w = pd.Series(check_weights(weights, cols), index=pd.Index(cols, name="asset"),
                  name="weight")
    x = rets.to_numpy()
    mu = x.mean(axis=0) if mean else np.zeros(len(cols))
    cov = np.atleast_2d(np.cov(x, rowvar=False, ddof=1))
    sp = float(np.sqrt(max(w.to_numpy() @ cov @ w.to_numpy(), 0.0)))
    if not sp > 0:
        raise DataError("the portfolio's return variance is zero; the ellipsoid has no direction "
                        "of loss")
    return w, mu, cov, sp


def _ellipsoid_result(method: str, w: pd.Series, mu: np.ndarray, cov: np.ndarray, sp: float,
                      k: float, limit: float | None, value: float | None) -> ReverseStressResult:
    wv = w.to_numpy()
    r = mu - k * (cov @ wv) / sp
    scenario = pd.Series(r, index=w.index, name="return")
    notes = []
    below = [str(a) for a, v in scenario.items() if v < -1.0]
    if below:
        notes.append(f"scenario returns below -100 % for {', '.join(below)} (normal model "
                     "ignores the floor)")
    return ReverseStressResult(method=method, scenario=scenario, weights=w,
                               loss=float(-(wv @ mu) + k * sp), loss_limit=limit, k=float(k),
                               coverage=ellipsoid_coverage(k, len(w)), value=value, notes=notes)


def worst_case_ellipsoid(
    weights: Any,
    returns: pd.DataFrame,
    k: float | None = None,
    *,
    probability: float | None = None,
    mean: bool = True,
    value: float | None = None,
) -> ReverseStressResult:
    """Worst one-bar loss over the plausibility ellipsoid ``(r-mu)' Sigma^-1 (r-mu) <= k^2``.

    Closed form: ``loss = -w'mu + k sqrt(w' Sigma w)`` at the scenario
    ``r* = mu - k Sigma w / sqrt(w' Sigma w)``, with ``mu`` and ``Sigma`` the sample mean and
    covariance (ddof=1) of ``returns``.

    Parameters
    ----------
    weights : Mapping, Series or sequence
        Portfolio weights aligned to ``returns``' columns.
    returns : DataFrame
        Simple returns, one column per asset, no NaN.
    k : float, optional
        Ellipsoid radius in Mahalanobis units (default 3 unless ``probability`` is given).
    probability : float, optional
        Coverage instead of ``k``: ``k = sqrt(chi2.ppf(probability, n))``.
    mean : bool
        Centre the ellipsoid on the sample mean (True) or on zero.
    value : float, optional
        Portfolio value (quote currency).

    Returns
    -------
    ReverseStressResult
        ``scenario`` is ``r*``; ``coverage = chi2.cdf(k^2, n)``.
    """
    if k is not None and probability is not None:
        raise ParameterError("give k or probability, not both")
    value = check_value(value)
    w, mu, cov, sp = _moments(weights, returns, mean)
    if probability is not None:
        kk = ellipsoid_k(probability, len(w))
    else:
        kk = 3.0 if k is None else check_range(k, "k", 0, open_low=True,
                                               hint="(Mahalanobis radius)", coerce=True)
    return _ellipsoid_result("ellipsoid", w, mu, cov, sp, kk, None, value)


def most_plausible_breach(
    weights: Any,
    returns: pd.DataFrame,
    loss_limit: float,
    *,
    mean: bool = True,
    value: float | None = None,
) -> ReverseStressResult:
    """The most plausible one-bar scenario (smallest Mahalanobis distance) that loses ``L``.

    ``k* = (L + w'mu) / sqrt(w' Sigma w)``; the scenario is the ellipsoid worst case at ``k*``.
    ``coverage`` tells how extreme it is under a normal model (``1 - coverage`` = chance of a
    move at least that far from the mean in any direction).

    Parameters
    ----------
    weights, returns, mean, value
        As in :func:`worst_case_ellipsoid`.
    loss_limit : float
        ``L`` in (0, 1].

    Returns
    -------
    ReverseStressResult

    Raises
    ------
    ParameterError
        ``L`` outside (0, 1], or the mean return alone already loses ``L`` (``k* <= 0``).
    """
    limit = check_loss_limit(loss_limit)
    value = check_value(value)
    w, mu, cov, sp = _moments(weights, returns, mean)
    k = (limit + float(w.to_numpy() @ mu)) / sp
    if k <= 0:
        raise ParameterError(f"the mean return already loses at least {limit:.2%}; "
                             "every scenario breaches the limit")
    return _ellipsoid_result("breach", w, mu, cov, sp, k, limit, value)
