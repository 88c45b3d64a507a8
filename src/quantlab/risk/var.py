"""Value at Risk and Expected Shortfall: one entry point, eight methods.

Example::

    import quantlab.data as qd
    from quantlab.risk.var import value_at_risk

    r = qd.load_sample("BTC/USDT")["close"].pct_change().dropna()
    res = value_at_risk(r, level=0.99, method="historical")
    res.var, res.es                      # positive loss fractions of portfolio value
    res.stats()                          # the same figures as a Series (fractions)
    value_at_risk(r, method="all").summary()   # a VaRComparison: one row per method

Conventions: returns are simple returns, one row per bar; ``level=0.99`` is the 1 % left tail;
VaR and ES are positive loss fractions (0.05 = 5 % loss) and ``ES >= VaR``. A DataFrame of asset
returns needs ``weights`` (constant, summing to 1; the portfolio is rebalanced every bar, so its
return is ``returns @ weights``). Method details and conventions are documented in the modules
:mod:`~quantlab.risk.parametric`, :mod:`~quantlab.risk.historical`, :mod:`~quantlab.risk.ewma`,
:mod:`~quantlab.risk.montecarlo` and :mod:`~quantlab.risk.fhs`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload

import numpy as np
import pandas as pd

from quantlab._validate import (
    as_returns,
    check_choice,
    check_horizon,
    check_level,
    check_range,
    check_weights,
)
from quantlab.errors import ParameterError
from quantlab.risk import ewma as _ewma
from quantlab.risk import fhs as _fhs
from quantlab.risk import montecarlo as _mc
from quantlab.risk.historical import age_weighted_var_es, historical_var_es
from quantlab.risk.parametric import (
    check_cornish_fisher,
    cornish_fisher_var_es,
    fit_t_df,
    moments,
    normal_var_es,
    student_t_var_es,
)
from quantlab.risk.var_results import VaRComparison, VaRResult

__all__ = ["METHODS", "VaRComparison", "VaRResult", "value_at_risk"]

METHODS: tuple[str, ...] = ("parametric", "student_t", "cornish_fisher", "historical",
                            "age_weighted", "ewma", "monte_carlo", "fhs")

#: Minimum number of one-bar observations per method (historical methods: plus horizon - 1).
MIN_OBS: dict[str, int] = {"parametric": 2, "student_t": 10, "cornish_fisher": 4,
                           "historical": 1, "age_weighted": 1, "ewma": 2, "monte_carlo": 2,
                           "fhs": 30}


# --------------------------------------------------------------------------------------------
# input preparation (shared with rolling/decomposition)


@dataclass(frozen=True)
class Prepared:
    """Checked inputs: portfolio series, asset matrix and weights."""

    series: pd.Series          # portfolio one-bar returns
    assets: np.ndarray         # (n, k) asset returns (k = 1 for a series)
    weights: np.ndarray        # (k,)
    columns: list[Any]

    @property
    def port(self) -> np.ndarray:
        return self.series.to_numpy()

    @property
    def weight_series(self) -> pd.Series | None:
        """Weights by asset (None for a single unnamed series)."""
        if len(self.columns) == 1 and self.columns[0] is None:
            return None
        return pd.Series(self.weights, index=pd.Index(self.columns, name="asset"),
                         name="weight")


def check_method(method: str, allow_all: bool = False) -> str:
    """A known method name (case-insensitive)."""
    name = str(method).lower() if isinstance(method, str) else method
    if name in METHODS or (allow_all and name == "all"):
        return name
    choices = ", ".join(METHODS) + (", all" if allow_all else "")
    raise ParameterError(f"method={method!r} is not one of: {choices}")


def prepare(returns: Any, weights: Any, min_obs: int) -> Prepared:
    """Validate returns/weights (via :mod:`quantlab._validate`) and build the portfolio."""
    data = as_returns(returns, min_obs=min_obs)
    if isinstance(data, pd.DataFrame):
        cols = list(data.columns)
        if weights is None:
            if len(cols) != 1:
                raise ParameterError(
                    f"weights are required for returns with {len(cols)} columns (assets)")
            w = np.ones(1)
        else:
            w = check_weights(weights, cols, sum_to_one=True)
        assets = data.to_numpy()
        series = pd.Series(assets @ w, index=data.index, name="portfolio")
    else:
        if weights is not None:
            w = check_weights(weights, [data.name], sum_to_one=True)
        else:
            w = np.ones(1)
        cols = [data.name]
        assets = data.to_numpy()[:, None]
        series = pd.Series(assets[:, 0] * w[0], index=data.index,
                           name=data.name if data.name is not None else "returns")
    return Prepared(series=series, assets=assets, weights=w, columns=cols)


def rng_from(seed: int | np.random.Generator | None) -> np.random.Generator:
    """``numpy.random.default_rng(seed)`` (a Generator is used as is)."""
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError):
        raise ParameterError(f"seed={seed!r} must be an int, a numpy Generator or None") from None


def positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """A whole number >= minimum."""
    return check_range(value, name, minimum, integer=True, coerce=True)


def _scaling(horizon: int, kind: str) -> str:
    return "none" if horizon == 1 else kind


# --------------------------------------------------------------------------------------------
# methods: each returns (var, es, scaling, params)

Out = tuple[float, float, str, dict[str, Any]]


def _parametric(p: Prepared, level: float, horizon: int, seed: Any) -> Out:
    mu, sd, _, _ = moments(p.port)
    var, es = normal_var_es(mu, sd, level, horizon)
    return var, es, _scaling(horizon, "sqrt_time"), {"mean": float(mu), "sigma": float(sd)}


def _student_t(p: Prepared, level: float, horizon: int, seed: Any, df: float | None = None) -> Out:
    mu, sd, _, _ = moments(p.port)
    fitted = df is None
    nu = fit_t_df(p.port) if fitted else float(df)
    var, es = student_t_var_es(mu, sd, nu, level, horizon)
    return var, es, _scaling(horizon, "sqrt_time"), {
        "mean": float(mu), "sigma": float(sd), "df": float(nu), "df_fitted": fitted,
        "scale": float(sd * np.sqrt((nu - 2) / nu))}


def _cornish_fisher(p: Prepared, level: float, horizon: int, seed: Any) -> Out:
    mu, sd, sk, ku = moments(p.port)
    var, es = cornish_fisher_var_es(mu, sd, sk, ku, level, horizon)
    valid = check_cornish_fisher(float(sk), float(ku), horizon)
    return var, es, _scaling(horizon, "sqrt_time"), {
        "mean": float(mu), "sigma": float(sd), "skew": float(sk), "kurt": float(ku),
        "cf_valid": valid}


def _historical(p: Prepared, level: float, horizon: int, seed: Any) -> Out:
    var, es = historical_var_es(p.port, level, horizon)
    return var, es, _scaling(horizon, "aggregation"), {
        "n_scenarios": len(p.port) - horizon + 1}


def _age_weighted(p: Prepared, level: float, horizon: int, seed: Any, lam: float = 0.98) -> Out:
    lam = _ewma.check_lambda(lam)
    var, es = age_weighted_var_es(p.port, level, horizon, lam)
    return var, es, _scaling(horizon, "aggregation"), {
        "lambda": lam, "n_scenarios": len(p.port) - horizon + 1}


def _ewma_method(p: Prepared, level: float, horizon: int, seed: Any, lam: float = _ewma.LAMBDA,
                 init_obs: int = _ewma.INIT_OBS) -> Out:
    lam = _ewma.check_lambda(lam)
    init_obs = positive_int(init_obs, "init_obs")
    sigma = float(np.sqrt(_ewma.ewma_forecast(p.port, lam, init_obs)))
    var, es = normal_var_es(0.0, sigma, level, horizon)
    return var, es, _scaling(horizon, "sqrt_time"), {
        "lambda": lam, "sigma": sigma, "mean": 0.0, "init_obs": init_obs}


def _monte_carlo(p: Prepared, level: float, horizon: int, seed: Any, n_paths: int = _mc.N_PATHS,
                 dist: str = "normal", df: float | None = None, cov: str = "sample",
                 mean: str = "sample", lam: float = _ewma.LAMBDA) -> Out:
    n_paths = positive_int(n_paths, "n_paths")
    mc = mc_setup(dist, cov, mean, lam, df)
    mu, root = mc_moments(p.assets[None], mc)
    nu = mc_df(p.port[None], mc)
    rng = rng_from(seed)
    z = _mc.draw_normals(rng, n_paths, horizon, p.assets.shape[1])
    scale = _mc.draw_t_scale(rng, n_paths, horizon, float(nu[0])) if dist == "t" else None
    pnl = _mc.simulate_portfolio(mu[0], root[0], p.weights, z, scale)
    var, es = historical_var_es(pnl, level)
    sig = root[0].T @ p.weights
    params = {"n_paths": n_paths, "dist": dist, "cov": cov, "mean": float(mu[0] @ p.weights),
              "sigma": float(np.sqrt(sig @ sig))}
    if dist == "t":
        params.update(df=float(nu[0]), df_fitted=df is None)
    return var, es, _scaling(horizon, "aggregation"), params


@dataclass(frozen=True)
class MCSpec:
    dist: str
    cov: str
    mean: str
    lam: float
    df: float | None


def mc_setup(dist: str, cov: str, mean: str, lam: float, df: float | None) -> MCSpec:
    """Validate Monte Carlo options."""
    if dist not in ("normal", "t"):  # wording pinned by tests/risk/test_var.py
        raise ParameterError(f"dist={dist!r} must be 'normal' or 't'")
    check_choice(cov, "cov", ("sample", "ewma"))
    check_choice(mean, "mean", ("sample", "zero"))
    df = check_range(df, "df", 2, open_low=True, allow_none=True, coerce=True)
    return MCSpec(dist, cov, mean, _ewma.check_lambda(lam), df)


def mc_moments(windows: np.ndarray, spec: MCSpec) -> tuple[np.ndarray, np.ndarray]:
    """Means ``(m, k)`` and covariance roots ``(m, k, k)`` of asset windows ``(m, n, k)``."""
    n = windows.shape[1]
    mu = windows.mean(axis=1)
    if spec.cov == "sample":
        d = windows - mu[:, None, :]
        cov = np.einsum("mti,mtj->mij", d, d) / max(n - 1, 1)
    else:
        cov = _ewma.ewma_covariance(windows, spec.lam)
    if spec.mean == "zero":
        mu = np.zeros_like(mu)
    return mu, _mc.cov_sqrt(cov)


def mc_df(port_windows: np.ndarray, spec: MCSpec) -> np.ndarray:
    """Student-t df per window (given or fitted on the portfolio returns)."""
    if spec.dist != "t":
        return np.full(len(port_windows), np.nan)
    if spec.df is not None:
        return np.full(len(port_windows), spec.df)
    return np.atleast_1d(fit_t_df(port_windows))


def _fhs_method(p: Prepared, level: float, horizon: int, seed: Any, n_paths: int = _fhs.N_PATHS,
                filter: str = "garch", mean: str = "constant", lam: float = _ewma.LAMBDA) -> Out:
    n_paths = positive_int(n_paths, "n_paths")
    _fhs.check_filter(filter, mean)
    lam = _ewma.check_lambda(lam)
    x = p.port
    params: dict[str, Any] = {"n_paths": n_paths, "filter": filter}
    if filter == "garch":
        gp = _fhs.fit_garch(x, mean)
        mu = gp.mu
        z, s2 = _fhs.filter_windows(x[None], np.array([mu]), gp.omega, gp.alpha, gp.beta,
                                    backcast_center=_fhs.backcast_center(x, mean))
        params.update(mu=gp.mu, omega=gp.omega, alpha=gp.alpha, beta=gp.beta)
    else:
        gp = None
        mu = float(x.mean()) if mean == "constant" else 0.0
        z, s2 = _fhs.filter_windows(x[None], np.array([mu]), 0.0, 0.0, 0.0, filter="ewma",
                                    lam=lam)
        params["lambda"] = lam
    rng = rng_from(seed)
    idx = rng.integers(0, len(x), size=(n_paths, horizon))
    sims = _fhs.simulate_fhs(z[0], idx, mu, float(s2[0]), gp, lam)
    var, es = historical_var_es(sims, level)
    params.update(mean=mu, sigma=float(np.sqrt(s2[0])))
    return var, es, _scaling(horizon, "aggregation"), params


_IMPL: dict[str, Callable[..., Out]] = {
    "parametric": _parametric, "student_t": _student_t, "cornish_fisher": _cornish_fisher,
    "historical": _historical, "age_weighted": _age_weighted, "ewma": _ewma_method,
    "monte_carlo": _monte_carlo, "fhs": _fhs_method,
}


def method_options(method: str) -> set[str]:
    """Keyword options a method accepts."""
    sig = inspect.signature(_IMPL[method])
    return set(list(sig.parameters)[4:])


def check_options(method: str, kw: Mapping[str, Any]) -> None:
    """Reject keywords the method does not know."""
    extra = sorted(set(kw) - method_options(method))
    if extra:
        allowed = ", ".join(sorted(method_options(method))) or "none"
        raise ParameterError(
            f"unknown option {extra[0]!r} for method={method!r} (options: {allowed})")


def min_obs(method: str, horizon: int) -> int:
    """Minimum number of one-bar returns a method needs."""
    base = MIN_OBS[method]
    return base + horizon - 1 if method in ("historical", "age_weighted") else base


Returns = pd.Series | pd.DataFrame | Sequence[float] | np.ndarray
Weights = Mapping[Any, float] | Sequence[float] | None
Seed = int | np.random.Generator | None


@overload
def value_at_risk(returns: Returns, level: float, method: Literal["all"] | list[str]
                  | tuple[str, ...], horizon: int = ..., weights: Weights = ...,
                  seed: Seed = ..., **kw: Any) -> VaRComparison: ...
@overload
def value_at_risk(returns: Returns, level: float = ..., *, method: Literal["all"] | list[str]
                  | tuple[str, ...], horizon: int = ..., weights: Weights = ...,
                  seed: Seed = ..., **kw: Any) -> VaRComparison: ...
@overload
def value_at_risk(returns: Returns, level: float = ..., method: str = ..., horizon: int = ...,
                  weights: Weights = ..., seed: Seed = ..., **kw: Any) -> VaRResult: ...


def value_at_risk(
    returns: Returns,
    level: float = 0.99,
    method: str | list[str] | tuple[str, ...] = "historical",
    horizon: int = 1,
    weights: Weights = None,
    seed: Seed = None,
    **kw: Any,
) -> VaRResult | VaRComparison:
    """Value at Risk and Expected Shortfall of a return series or a weighted portfolio.

    One return type per call: a method name gives a :class:`VaRResult`; ``method="all"`` or a
    list/tuple of method names gives a :class:`VaRComparison` (a read-only mapping
    ``method -> VaRResult`` with a side-by-side ``summary()``).

    Parameters
    ----------
    returns : Series, DataFrame or array-like
        Simple returns (one row per bar). A DataFrame holds asset returns and needs ``weights``
        unless it has one column.
    level : float
        Confidence level in (0, 1); 0.99 = the 1 % left tail.
    method : str or list of str
        One of :data:`METHODS`; ``"all"`` (every method) or a list of names gives a
        :class:`VaRComparison`:

        - ``"parametric"``: normal with sample mean and std; sqrt-time.
        - ``"student_t"``: t with df by profile MLE, std matched (option ``df`` fixes it).
        - ``"cornish_fisher"``: modified normal quantile with sample skew and excess kurtosis.
        - ``"historical"``: empirical quantile (inverted CDF), tail mean; overlapping
          compounded returns for ``horizon > 1``.
        - ``"age_weighted"``: BRW weights ``lam**age`` (option ``lam=0.98``).
        - ``"ewma"``: RiskMetrics EWMA sigma, zero mean, normal (options ``lam=0.94``,
          ``init_obs=30``).
        - ``"monte_carlo"``: multivariate normal/t simulation (options ``n_paths=100_000``,
          ``dist="normal"|"t"``, ``df``, ``cov="sample"|"ewma"``, ``mean="sample"|"zero"``,
          ``lam``).
        - ``"fhs"``: filtered historical simulation (options ``n_paths=100_000``,
          ``filter="garch"|"ewma"``, ``mean="constant"|"zero"``, ``lam``).
    horizon : int
        Horizon in bars; how it is handled is reported in ``VaRResult.scaling``.
    weights : mapping or sequence, optional
        Portfolio weights by column (mapping/Series) or in column order; must sum to 1.
    seed : int or numpy Generator, optional
        Random seed for ``monte_carlo`` and ``fhs`` (same seed, same figures).
    **kw
        Method options listed above.

    Returns
    -------
    VaRResult or VaRComparison
        ``VaRResult`` for one method name; ``VaRComparison`` for ``"all"`` or a list of names.
        Cornish–Fisher outside its domain of validity sets ``params["cf_valid"] = False`` and
        warns (:class:`~quantlab.risk.parametric.CornishFisherDomainWarning`).

    Raises
    ------
    ParameterError
        Bad level/horizon/method/weights/option.
    DataError
        NaN/inf returns or too few observations for the method.
    """
    if isinstance(method, list | tuple):
        if not method:
            raise ParameterError("method=[] names no method")
        names = list(dict.fromkeys(check_method(m) for m in method))
        return _compare(names, returns, level, horizon, weights, seed, kw, label=list(method))
    name = check_method(method, allow_all=True)
    if name == "all":
        return _compare(list(METHODS), returns, level, horizon, weights, seed, kw, label="all")
    level = check_level(level)
    horizon = check_horizon(horizon)
    check_options(name, kw)
    prepared = prepare(returns, weights, min_obs(name, horizon))
    return _run(name, prepared, level, horizon, seed, kw)


def _compare(names: list[str], returns: Any, level: float, horizon: int, weights: Any,
             seed: Any, kw: Mapping[str, Any], label: Any) -> VaRComparison:
    """Every method in ``names`` on the same prepared returns (options go where they apply)."""
    level = check_level(level)
    horizon = check_horizon(horizon)
    unknown = sorted(set(kw) - set().union(*(method_options(m) for m in names)))
    if unknown:
        raise ParameterError(f"unknown option {unknown[0]!r} for method={label!r}")
    prepared = prepare(returns, weights, max(min_obs(m, horizon) for m in names))
    out = {}
    for m in names:
        opts = {k: v for k, v in kw.items() if k in method_options(m)}
        out[m] = _run(m, prepared, level, horizon, seed, opts)
    return VaRComparison(out)


def _run(method: str, p: Prepared, level: float, horizon: int, seed: Any,
         kw: Mapping[str, Any]) -> VaRResult:
    var, es, scaling, params = _IMPL[method](p, level, horizon, seed, **kw)
    idx = p.series.index
    dated = isinstance(idx, pd.DatetimeIndex) and len(idx)
    return VaRResult(var=float(var), es=float(es), method=method, level=level, horizon=horizon,
                     scaling=scaling, n_obs=len(p.series), start=idx[0] if dated else None,
                     end=idx[-1] if dated else None, params=params, returns=p.series,
                     weights=p.weight_series)
