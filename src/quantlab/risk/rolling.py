"""Rolling one-step-ahead VaR/ES forecasts (the input of VaR backtests).

The forecast dated ``t`` uses only the ``window`` returns *before* ``t`` (rows ``t-window .. t-1``)
and is the figure :func:`quantlab.risk.var.value_at_risk` gives on that window (with the same
seed; for refitted models with ``refit_every=1``). Each method is vectorized across days:

- historical / age-weighted: a strided window view + ``np.partition`` / one argsort per window;
- parametric / Student-t / Cornish–Fisher: window moments in one pass; the t ``df`` profile MLE
  is vectorized over the refit days;
- EWMA: the closed-form window forecast is one matrix-vector product;
- Monte Carlo: one draw of standard normals reused every day (common random numbers), covariance
  roots batched, P&L of many days in one matrix product;
- FHS: GARCH refits with ``arch`` on refit days only; between refits the variance filter runs
  with the last parameters over each day's window (vectorized across days); for a one-bar horizon
  the bootstrap is evaluated exactly through the multiplicities of the (reused) bootstrap
  indices, so its cost does not grow with ``n_paths``.

Refits (``refit_every``): model parameters (Student-t df, Monte Carlo t df, GARCH parameters) are
estimated on the windows of forecast days ``0, refit_every, 2*refit_every, ...`` (counted from the
first forecast) and kept fixed until the next refit; everything else (moments, filters,
covariances) is updated daily. The schedule depends only on positions, never on data, so
forecasts stay causal.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from quantlab._validate import check_horizon, check_level
from quantlab.errors import DataError, ParameterError
from quantlab.risk import ewma as _ewma
from quantlab.risk import fhs as _fhs
from quantlab.risk import montecarlo as _mc
from quantlab.risk.historical import age_weighted_var_es, aggregate_returns, historical_var_es
from quantlab.risk.parametric import (
    CornishFisherDomainWarning,
    cornish_fisher_valid,
    cornish_fisher_var_es,
    fit_t_df,
    moments,
    normal_var_es,
    student_t_var_es,
    user_stacklevel,
)
from quantlab.risk.var import (
    check_method,
    check_options,
    mc_df,
    mc_moments,
    mc_setup,
    min_obs,
    positive_int,
    prepare,
    rng_from,
)
from quantlab.risk.var_results import RollingVaRResult

__all__ = ["rolling_var"]

_CHUNK_ELEMENTS = 2_000_000


def rolling_var(
    returns: pd.Series | pd.DataFrame,
    method: str = "historical",
    window: int = 250,
    level: float = 0.99,
    refit_every: int = 1,
    weights: Any = None,
    seed: int | np.random.Generator | None = None,
    horizon: int = 1,
    **kw: Any,
) -> RollingVaRResult:
    """One-step-ahead rolling VaR/ES forecasts.

    Parameters
    ----------
    returns : Series or DataFrame
        Simple returns; a DataFrame of assets needs ``weights`` (constant, summing to 1).
    method : str
        One of :data:`quantlab.risk.var.METHODS`.
    window : int
        Estimation window in bars (rows ``t-window .. t-1`` for the forecast dated ``t``).
    level : float
        Confidence level in (0, 1).
    refit_every : int
        Re-estimate model parameters (t df, GARCH) every this many forecasts.
    weights : mapping or sequence, optional
        Portfolio weights.
    seed : int or numpy Generator, optional
        For ``monte_carlo`` and ``fhs``.
    horizon : int
        Horizon in bars of each forecast (made on day ``t`` for ``t .. t+horizon-1``).
    **kw
        Method options as in :func:`quantlab.risk.var.value_at_risk` (e.g. ``n_paths``).

    Returns
    -------
    RollingVaRResult
        ``.forecasts`` is a DataFrame indexed by forecast date (``returns.index[window:]``),
        columns ``var``, ``es`` (positive loss fractions) and ``realized`` (the portfolio return
        over ``t .. t+horizon-1``, compounded; NaN where the data end first); Cornish–Fisher
        adds ``cf_valid`` per day (and warns once when some days are outside the expansion's
        domain). ``forecasts.attrs`` holds method, level, window, horizon and refit_every.
        ``.backtest()`` runs the VaR backtest suite on them, ``.plot()`` draws them.

    Raises
    ------
    ParameterError
        Bad method/level/window/refit_every/option.
    DataError
        NaN returns or fewer than ``window + 1`` observations.
    """
    name = check_method(method)
    level = check_level(level)
    horizon = check_horizon(horizon)
    window = positive_int(window, "window")
    need = min_obs(name, horizon)
    if window < need:
        raise ParameterError(f"window={window} is too small for method={name!r} (at least {need})")
    refit_every = positive_int(refit_every, "refit_every")
    check_options(name, kw)
    n = len(returns) if hasattr(returns, "__len__") else 0
    if n <= window:
        raise DataError(f"window={window} needs at least {window + 1} returns for one forecast; "
                        f"the data has {n}")
    p = prepare(returns, weights, window + 1)
    x = p.port
    m = len(x) - window
    xw = sliding_window_view(x, window)[:m]
    var, es = _KERNELS[name](p, xw, level, horizon, refit_every, seed, **kw)
    realized = aggregate_returns(x[window:], horizon)
    realized = np.concatenate([realized, np.full(m - len(realized), np.nan)])
    out = pd.DataFrame({"var": var, "es": es, "realized": realized},
                       index=p.series.index[window:])
    if name == "cornish_fisher":
        out["cf_valid"] = _cf_valid_days(xw, horizon)
    out.attrs.update(method=name, level=level, window=window, horizon=horizon,
                     refit_every=refit_every)
    return RollingVaRResult(forecasts=out, method=name, level=level, window=window,
                            horizon=horizon, refit_every=refit_every)


def _cf_valid_days(xw: np.ndarray, horizon: int) -> np.ndarray:
    """Per forecast day: are the window's (h-bar) skew and kurtosis in the Cornish–Fisher
    domain? Warns once with the count of days outside it."""
    ok = np.empty(len(xw), dtype=bool)
    sk = np.empty(len(xw))
    ku = np.empty(len(xw))
    for sl in _chunks(len(xw), xw.shape[1]):
        _, _, sk[sl], ku[sl] = moments(xw[sl])
    sk, ku = sk / np.sqrt(horizon), ku / horizon
    ok[:] = cornish_fisher_valid(sk, ku)
    bad = int((~ok).sum())
    if bad:
        i = int(np.argmax(~ok))
        warnings.warn(f"Cornish-Fisher VaR is outside the expansion's domain of validity on "
                      f"{bad} of {len(ok)} forecast days (first: skew {sk[i]:.3g}, excess "
                      f"kurtosis {ku[i]:.3g}; Maillard 2012); see forecasts['cf_valid']",
                      CornishFisherDomainWarning, stacklevel=user_stacklevel())
    return ok


def _chunks(m: int, per_row: int):
    size = max(1, _CHUNK_ELEMENTS // max(per_row, 1))
    for a in range(0, m, size):
        yield slice(a, min(m, a + size))


def _refit_map(m: int, refit_every: int) -> tuple[np.ndarray, np.ndarray]:
    rows = np.arange(0, m, refit_every)
    return rows, np.arange(m) // refit_every


def _collect(m: int, xw: np.ndarray, fn) -> tuple[np.ndarray, np.ndarray]:
    var = np.empty(m)
    es = np.empty(m)
    for sl in _chunks(m, xw.shape[1]):
        var[sl], es[sl] = fn(xw[sl], sl)
    return var, es


def _k_historical(p, xw, level, horizon, refit_every, seed):
    return _collect(len(xw), xw, lambda c, sl: historical_var_es(c, level, horizon))


def _k_age_weighted(p, xw, level, horizon, refit_every, seed, lam=0.98):
    lam = _ewma.check_lambda(lam)
    return _collect(len(xw), xw, lambda c, sl: age_weighted_var_es(c, level, horizon, lam))


def _k_parametric(p, xw, level, horizon, refit_every, seed):
    def fn(c, sl):
        mu, sd, _, _ = moments(c)
        return normal_var_es(mu, sd, level, horizon)
    return _collect(len(xw), xw, fn)


def _k_cornish_fisher(p, xw, level, horizon, refit_every, seed):
    def fn(c, sl):
        mu, sd, sk, ku = moments(c)
        return cornish_fisher_var_es(mu, sd, sk, ku, level, horizon)
    return _collect(len(xw), xw, fn)


def _k_student_t(p, xw, level, horizon, refit_every, seed, df=None):
    m = len(xw)
    if df is None:
        rows, which = _refit_map(m, refit_every)
        fits = np.concatenate([np.atleast_1d(fit_t_df(xw[rows[sl]]))
                               for sl in _chunks(len(rows), xw.shape[1])])
        nu = fits[which]
    else:
        nu = np.full(m, float(df))

    def fn(c, sl):
        mu, sd, _, _ = moments(c)
        return student_t_var_es(mu, sd, nu[sl], level, horizon)
    return _collect(m, xw, fn)


def _k_ewma(p, xw, level, horizon, refit_every, seed, lam=_ewma.LAMBDA, init_obs=_ewma.INIT_OBS):
    lam = _ewma.check_lambda(lam)
    init_obs = positive_int(init_obs, "init_obs")

    def fn(c, sl):
        sigma = np.sqrt(_ewma.ewma_forecast(c, lam, init_obs))
        return normal_var_es(0.0, sigma, level, horizon)
    return _collect(len(xw), xw, fn)


def _k_monte_carlo(p, xw, level, horizon, refit_every, seed, n_paths=_mc.N_PATHS,
                   dist="normal", df=None, cov="sample", mean="sample", lam=_ewma.LAMBDA):
    n_paths = positive_int(n_paths, "n_paths")
    spec = mc_setup(dist, cov, mean, lam, df)
    m, window = xw.shape
    k = p.assets.shape[1]
    aw = sliding_window_view(p.assets, window, axis=0)[:m].transpose(0, 2, 1)  # (m, window, k)
    rng = rng_from(seed)
    z = _mc.draw_normals(rng, n_paths, horizon, k)
    if dist == "t":
        rows, which = _refit_map(m, refit_every)
        nu_fit = mc_df(xw[rows], spec)
        state = rng.bit_generator.state
        scales: dict[int, np.ndarray] = {}

        def scale_of(g: int) -> np.ndarray:
            if g not in scales:
                scales.clear()
                gen = np.random.Generator(type(rng.bit_generator)())
                gen.bit_generator.state = state
                scales[g] = _mc.draw_t_scale(gen, n_paths, horizon, float(nu_fit[g]))
            return scales[g]
    var = np.empty(m)
    es = np.empty(m)
    w = p.weights
    rows_per_chunk = max(1, min(4_000_000 // (n_paths * horizon), _CHUNK_ELEMENTS // (window * k)))
    zt = np.ascontiguousarray(z[:, 0, :].T) if horizon == 1 else None
    for a in range(0, m, rows_per_chunk):
        sl = slice(a, min(m, a + rows_per_chunk))
        mu, root = mc_moments(aw[sl], spec)
        if horizon == 1 and dist == "normal":
            v = np.einsum("mki,k->mi", root, w)  # root.T @ w per day
            pnl = v @ zt + (mu @ w)[:, None]
            var[sl], es[sl] = historical_var_es(pnl, level)
            continue
        for i, r in enumerate(range(sl.start, sl.stop)):
            scale = scale_of(int(which[r])) if dist == "t" else None
            pnl = _mc.simulate_portfolio(mu[i], root[i], w, z, scale)
            var[r], es[r] = historical_var_es(pnl, level)
    return var, es


def _k_fhs(p, xw, level, horizon, refit_every, seed, n_paths=_fhs.N_PATHS, filter="garch",
           mean="constant", lam=_ewma.LAMBDA):
    n_paths = positive_int(n_paths, "n_paths")
    _fhs.check_filter(filter, mean)
    lam = _ewma.check_lambda(lam)
    m, window = xw.shape
    rng = rng_from(seed)
    idx = rng.integers(0, window, size=(n_paths, horizon))
    if filter == "garch":
        rows, which = _refit_map(m, refit_every)
        fits = [_fhs.fit_garch(xw[r], mean) for r in rows]
        mu = np.array([f.mu for f in fits])[which]
        omega = np.array([f.omega for f in fits])[which]
        alpha = np.array([f.alpha for f in fits])[which]
        beta = np.array([f.beta for f in fits])[which]
    else:
        fits = None
        mu = xw.mean(axis=1) if mean == "constant" else np.zeros(m)
        omega = alpha = beta = np.zeros(m)
    counts = np.bincount(idx[:, 0], minlength=window) if horizon == 1 else None
    var = np.empty(m)
    es = np.empty(m)
    for sl in _chunks(m, window):
        center = _fhs.backcast_center(xw[sl], mean) if filter == "garch" else None
        z, s2 = _fhs.filter_windows(xw[sl], mu[sl], omega[sl], alpha[sl], beta[sl], filter, lam,
                                    backcast_center=center)
        if horizon == 1:
            var[sl], es[sl] = _fhs.fhs_tail_from_counts(z, counts, mu[sl], np.sqrt(s2), level)
            continue
        for i, r in enumerate(range(sl.start, sl.stop)):
            gp = fits[which[r]] if fits is not None else None
            sims = _fhs.simulate_fhs(z[i], idx, float(mu[r]), float(s2[i]), gp, lam)
            var[r], es[r] = historical_var_es(sims, level)
    return var, es


_KERNELS = {
    "parametric": _k_parametric, "student_t": _k_student_t, "cornish_fisher": _k_cornish_fisher,
    "historical": _k_historical, "age_weighted": _k_age_weighted, "ewma": _k_ewma,
    "monte_carlo": _k_monte_carlo, "fhs": _k_fhs,
}
