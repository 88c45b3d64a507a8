"""Parametric VaR/ES: normal, Student-t and Cornish–Fisher, from data or from moments.

All VaR/ES figures are positive loss fractions: ``VaR = -q_alpha`` where ``q_alpha`` is the
``alpha = 1 - level`` quantile of the (simple) return distribution, and ES is minus the mean
return in that tail.

Horizon: ``h``-bar figures use square-root-of-time scaling of the one-bar distribution (mean
``mu*h``, std ``sigma*sqrt(h)``; for Cornish–Fisher also skew ``S/sqrt(h)`` and excess kurtosis
``K/h``, the moments of a sum of ``h`` iid returns).

The kernels (``*_var_es``) are vectorized: every argument may be an array (one element per
window), which is how :func:`quantlab.risk.rolling.rolling_var` uses them.

References
----------
Jorion, P. (2007). *Value at Risk*, 3rd ed., ch. 5.
McNeil, Frey & Embrechts (2015). *Quantitative Risk Management*, 2nd ed., example 2.15 / 2.16
(ES of the normal and Student-t distributions).
Cornish, E. A. & Fisher, R. A. (1938). Moments and cumulants in the specification of
distributions. *Revue de l'Institut International de Statistique* 5, 307–320.
Maillard, D. (2012). A user's guide to the Cornish Fisher expansion. SSRN 1997178 (domain of
validity: the skew/kurtosis pairs for which the expansion is a monotone quantile map).
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

import numpy as np
from scipy import special, stats

from quantlab._validate import check_choice, check_horizon, check_level, check_range
from quantlab.errors import ParameterError
from quantlab.risk.var_results import VaRResult

__all__ = [
    "CornishFisherDomainWarning",
    "cornish_fisher_valid",
    "cornish_fisher_var_es",
    "cornish_fisher_z",
    "fit_t_df",
    "moments",
    "normal_var_es",
    "parametric_var",
    "student_t_var_es",
]

#: Bounds of the fitted Student-t degrees of freedom.
DF_MIN = 2.05
DF_MAX = 500.0


def moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean, std (ddof=1), skew and excess kurtosis along the last axis.

    Skew and excess kurtosis are the (biased) sample moment ratios ``g1 = m3/m2**1.5`` and
    ``g2 = m4/m2**2 - 3`` (``scipy.stats.skew``/``kurtosis`` with ``bias=True``).
    """
    x = np.asarray(x, dtype="float64")
    n = x.shape[-1]
    mu = x.mean(axis=-1)
    d = x - mu[..., None]
    d2 = d * d
    m2 = d2.mean(axis=-1)
    m3 = (d2 * d).mean(axis=-1)
    m4 = (d2 * d2).mean(axis=-1)
    std = np.sqrt(m2 * n / max(n - 1, 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        skew = np.where(m2 > 0, m3 / np.where(m2 > 0, m2, 1.0) ** 1.5, 0.0)
        kurt = np.where(m2 > 0, m4 / np.where(m2 > 0, m2, 1.0) ** 2 - 3.0, 0.0)
    return mu, std, skew, kurt


def normal_var_es(mean: Any, std: Any, level: float, horizon: int = 1) -> tuple[Any, Any]:
    """VaR and ES of a normal return distribution.

    ``VaR = -(mu*h + sigma*sqrt(h)*z_alpha)``, ``ES = -(mu*h - sigma*sqrt(h)*phi(z_alpha)/alpha)``
    with ``alpha = 1 - level`` and ``z_alpha = Phi^-1(alpha)`` (negative).

    Parameters
    ----------
    mean, std : float or array
        One-bar mean and standard deviation of simple returns.
    level : float
        Confidence level, e.g. 0.99.
    horizon : int
        Horizon in bars (square-root-of-time).

    Returns
    -------
    (var, es)
        Positive loss fractions, same shape as the broadcast inputs.
    """
    alpha = 1.0 - level
    z = stats.norm.ppf(alpha)
    mu = np.asarray(mean, dtype="float64") * horizon
    s = np.asarray(std, dtype="float64") * np.sqrt(horizon)
    var = -(mu + s * z)
    es = -(mu - s * stats.norm.pdf(z) / alpha)
    return _unwrap(var), _unwrap(es)


def student_t_var_es(mean: Any, std: Any, df: Any, level: float,
                     horizon: int = 1) -> tuple[Any, Any]:
    """VaR and ES of a Student-t return distribution whose standard deviation is ``std``.

    The t scale is ``s = std*sqrt((df-2)/df)`` so the distribution's std equals ``std``;
    ``VaR = -(mu + s*t_alpha)`` and the closed-form ES (McNeil, Frey & Embrechts 2015, ex. 2.16)
    ``ES = -(mu - s * f_t(t_alpha; df)/alpha * (df + t_alpha**2)/(df - 1))``.
    Horizon ``h``: ``mu*h`` and ``std*sqrt(h)`` with the same ``df`` (an approximation: sums of
    t variables are not t).

    Parameters
    ----------
    mean, std, df : float or array
        One-bar mean, standard deviation and degrees of freedom (> 2).
    level : float
        Confidence level.
    horizon : int
        Horizon in bars.
    """
    alpha = 1.0 - level
    df = np.asarray(df, dtype="float64")
    if np.any(df <= 2):
        raise ParameterError(f"df={_unwrap(df)!r} must be > 2 (finite variance)")
    mu = np.asarray(mean, dtype="float64") * horizon
    s = np.asarray(std, dtype="float64") * np.sqrt(horizon) * np.sqrt((df - 2.0) / df)
    t_a = stats.t.ppf(alpha, df)
    var = -(mu + s * t_a)
    es = -(mu - s * stats.t.pdf(t_a, df) / alpha * (df + t_a**2) / (df - 1.0))
    return _unwrap(var), _unwrap(es)


def cornish_fisher_z(z: Any, skew: Any, excess_kurtosis: Any) -> Any:
    """Cornish–Fisher modified quantile of a standardized distribution.

    ``z_cf = z + (z^2-1)S/6 + (z^3-3z)K/24 - (2z^3-5z)S^2/36``.
    """
    z = np.asarray(z, dtype="float64")
    s = np.asarray(skew, dtype="float64")
    k = np.asarray(excess_kurtosis, dtype="float64")
    return _unwrap(z + (z**2 - 1) * s / 6 + (z**3 - 3 * z) * k / 24 - (2 * z**3 - 5 * z) * s**2 / 36)


class CornishFisherDomainWarning(UserWarning):
    """Cornish–Fisher was used with a skew/kurtosis pair outside its domain of validity."""


def cornish_fisher_valid(skew: Any, excess_kurtosis: Any) -> Any:
    """Whether the Cornish–Fisher quantile map is monotone (Maillard 2012's domain of validity).

    ``z_cf(z)`` is increasing in ``z`` for every ``z`` iff its derivative, the quadratic
    ``a z^2 + b z + c`` with ``a = K/8 - S^2/6``, ``b = S/3`` and ``c = 1 - K/8 + 5 S^2/36``,
    is never negative: ``a >= 0`` and ``b^2 - 4 a c <= 0``. With ``S = 0`` this is
    ``0 <= K <= 8``. Outside the domain the "quantile" at the tail can bend back, so the VaR
    is not the quantile of any distribution (it can be several times too large or too small).

    Parameters
    ----------
    skew, excess_kurtosis : float or array
        The skew and excess kurtosis the expansion is evaluated with (for an ``h``-bar horizon
        the scaled ``S/sqrt(h)`` and ``K/h``).

    Returns
    -------
    bool or ndarray of bool
    """
    s = np.asarray(skew, dtype="float64")
    k = np.asarray(excess_kurtosis, dtype="float64")
    a = k / 8 - s**2 / 6
    c = 1 - k / 8 + 5 * s**2 / 36
    ok = (a >= -1e-12) & (s**2 / 9 - 4 * a * c <= 1e-12)
    return bool(ok) if ok.ndim == 0 else ok


def cornish_fisher_domain_message(skew: float, excess_kurtosis: float, horizon: int = 1) -> str:
    """One-line explanation of an out-of-domain Cornish–Fisher figure."""
    bars = "" if horizon == 1 else f" ({horizon}-bar)"
    return (f"Cornish-Fisher VaR is outside the expansion's domain of validity{bars}: skew "
            f"{skew:.3g}, excess kurtosis {excess_kurtosis:.3g} make its quantile map "
            "non-monotone (Maillard 2012), so the VaR/ES are unreliable; prefer historical, "
            "student_t or fhs")


def cornish_fisher_var_es(mean: Any, std: Any, skew: Any, excess_kurtosis: Any, level: float,
                          horizon: int = 1) -> tuple[Any, Any]:
    """VaR and ES from the Cornish–Fisher expansion.

    VaR uses the modified quantile :func:`cornish_fisher_z`. ES is the exact tail average of the
    Cornish–Fisher quantile function, ``ES = -(1/alpha) * int_0^alpha q_cf(p) dp``. Substituting
    ``p = Phi(z)`` the integrand is a cubic in ``z`` times ``phi(z)``, whose integral over
    ``(-inf, a]`` (``a = z_alpha``) is closed-form:

    ``int z_cf(z) phi(z) dz = phi(a) * (-1 - a*S/6 + (1-a^2)*K/24 - (1-2a^2)*S^2/36)``

    (tested against numerical quadrature). Outside the expansion's domain of validity (large
    ``|S|``/``K``) the quantile function is not monotone and this ES can fall below VaR; ES is
    then floored at VaR; :func:`cornish_fisher_valid` tells whether the inputs are in the domain.

    Parameters
    ----------
    mean, std : float or array
        One-bar mean and standard deviation.
    skew, excess_kurtosis : float or array
        One-bar skewness and excess kurtosis (0, 0 gives the normal figures).
    level : float
        Confidence level.
    horizon : int
        Horizon in bars: ``mu*h``, ``sigma*sqrt(h)``, ``S/sqrt(h)``, ``K/h``.
    """
    alpha = 1.0 - level
    a = stats.norm.ppf(alpha)
    h = float(horizon)
    mu = np.asarray(mean, dtype="float64") * h
    s = np.asarray(std, dtype="float64") * np.sqrt(h)
    sk = np.asarray(skew, dtype="float64") / np.sqrt(h)
    ku = np.asarray(excess_kurtosis, dtype="float64") / h
    zcf = cornish_fisher_z(a, sk, ku)
    tail = stats.norm.pdf(a) * (-1 - a * sk / 6 + (1 - a * a) * ku / 24
                                - (1 - 2 * a * a) * sk**2 / 36) / alpha
    var = -(mu + s * zcf)
    es = np.maximum(-(mu + s * tail), var)
    return _unwrap(var), _unwrap(es)


def fit_t_df(x: np.ndarray, *, grid: int = 20, iters: int = 24) -> np.ndarray | float:
    """Degrees of freedom of a Student-t by profile maximum likelihood.

    Location is the sample mean and the scale is tied to the sample std (ddof=1) so that the
    fitted distribution's std matches the data (``s = std*sqrt((df-2)/df)``); the log-likelihood
    is then maximized over ``df`` in [2.05, 500] (a log-spaced grid on ``df - 2`` followed by a
    golden-section search in the bracket around the best grid point). Vectorized over rows.

    Parameters
    ----------
    x : array, shape (n,) or (m, n)
        Returns; one fit per row.

    Returns
    -------
    float or ndarray of shape (m,)
    """
    x = np.asarray(x, dtype="float64")
    one = x.ndim == 1
    x2 = np.atleast_2d(x)
    n = x2.shape[1]
    mu, std, _, _ = moments(x2)
    safe = np.where(std > 0, std, 1.0)
    u2 = ((x2 - mu[:, None]) / safe[:, None]) ** 2
    log_std = np.log(safe)

    def ll(theta: np.ndarray) -> np.ndarray:
        nu = 2.0 + np.exp(theta)
        tail = np.log1p(u2 / (nu - 2.0)[:, None]).sum(axis=1)
        const = (special.gammaln((nu + 1) / 2) - special.gammaln(nu / 2)
                 - 0.5 * np.log(np.pi * (nu - 2)))
        return n * (const - log_std) - (nu + 1) / 2 * tail

    lo, hi = np.log(DF_MIN - 2.0), np.log(DF_MAX - 2.0)
    thetas = np.linspace(lo, hi, grid)
    vals = np.stack([ll(np.full(len(x2), th)) for th in thetas], axis=1)
    best = np.argmax(vals, axis=1)
    a = thetas[np.maximum(best - 1, 0)]
    b = thetas[np.minimum(best + 1, grid - 1)]
    g = (np.sqrt(5.0) - 1) / 2
    c = b - g * (b - a)
    d = a + g * (b - a)
    fc, fd = ll(c), ll(d)
    for _ in range(iters):
        left = fc > fd  # maximum in [a, d]
        b = np.where(left, d, b)
        a = np.where(left, a, c)
        new_c = b - g * (b - a)
        new_d = a + g * (b - a)
        c_next = np.where(left, new_c, d)
        d_next = np.where(left, c, new_d)
        f_new = ll(np.where(left, new_c, new_d))
        fc, fd = np.where(left, f_new, fd), np.where(left, fc, f_new)
        c, d = c_next, d_next
    theta = (a + b) / 2
    df = 2.0 + np.exp(theta)
    df = np.where(std > 0, df, DF_MAX)
    return float(df[0]) if one else df


def parametric_var(
    mean: float,
    std: float,
    level: float = 0.99,
    *,
    skew: float | None = None,
    excess_kurtosis: float | None = None,
    dist: str = "normal",
    df: float | None = None,
    horizon: int = 1,
) -> VaRResult:
    """Textbook VaR/ES from moments (no data).

    Parameters
    ----------
    mean, std : float
        One-bar mean and standard deviation of simple returns.
    level : float
        Confidence level in (0, 1).
    skew, excess_kurtosis : float, optional
        Needed for ``dist="cornish_fisher"`` (default 0).
    dist : {"normal", "t", "cornish_fisher"}
        Distribution.
    df : float, optional
        Degrees of freedom (> 2), required for ``dist="t"``.
    horizon : int
        Horizon in bars (square-root-of-time).

    Returns
    -------
    VaRResult
        ``n_obs=0``, no dates, ``returns=None``. For ``dist="cornish_fisher"``,
        ``params["cf_valid"]`` says whether the skew/kurtosis pair is in the expansion's domain
        of validity; outside it a :class:`CornishFisherDomainWarning` is issued.

    Examples
    --------
    >>> round(parametric_var(0.0, 1.0, 0.99).var, 6)
    2.326348
    """
    level = check_level(level)
    horizon = check_horizon(horizon)
    mean = _finite(mean, "mean")
    std = _finite(std, "std")
    check_range(std, "std", 0)
    params: dict[str, Any] = {"mean": mean, "sigma": std}
    if dist == "normal":
        var, es = normal_var_es(mean, std, level, horizon)
        method = "parametric"
    elif dist == "t":
        if df is None:
            raise ParameterError("df is required for dist='t'")
        df = _finite(df, "df")
        var, es = student_t_var_es(mean, std, df, level, horizon)
        params["df"] = df
        method = "student_t"
    elif dist == "cornish_fisher":
        sk = _finite(skew or 0.0, "skew")
        ku = _finite(excess_kurtosis or 0.0, "excess_kurtosis")
        var, es = cornish_fisher_var_es(mean, std, sk, ku, level, horizon)
        params.update(skew=sk, kurt=ku, cf_valid=check_cornish_fisher(sk, ku, horizon))
        method = "cornish_fisher"
    else:
        check_choice(dist, "dist", ("normal", "t", "cornish_fisher"))
    return VaRResult(var=float(var), es=float(es), method=method, level=level, horizon=horizon,
                     scaling="sqrt_time", n_obs=0, start=None, end=None, params=params)


def check_cornish_fisher(skew: float, excess_kurtosis: float, horizon: int = 1) -> bool:
    """Domain check of one Cornish–Fisher figure: warns (:class:`CornishFisherDomainWarning`)
    and returns False outside the domain, for the ``h``-bar moments ``S/sqrt(h)``, ``K/h``."""
    sk, ku = float(skew) / np.sqrt(horizon), float(excess_kurtosis) / horizon
    ok = bool(cornish_fisher_valid(sk, ku))
    if not ok:
        warnings.warn(cornish_fisher_domain_message(sk, ku, horizon), CornishFisherDomainWarning,
                      stacklevel=user_stacklevel())
    return ok


def user_stacklevel() -> int:
    """``stacklevel`` of a warning issued here that points at the first caller outside
    quantlab (the user's line, not a library frame)."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("quantlab."):
        frame = frame.f_back
        level += 1
    return level


def _finite(value: Any, name: str) -> float:
    return check_range(value, name, coerce=True)


def _unwrap(a: Any) -> Any:
    a = np.asarray(a)
    return float(a) if a.ndim == 0 else a
