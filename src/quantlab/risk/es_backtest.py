"""Expected-shortfall backtest: the unconditional test of Acerbi & Szekely (2014), statistic Z2.

For returns ``X_t`` with VaR and ES forecasts ``VaR_t``, ``ES_t`` (positive loss fractions) at
confidence ``level`` (tail probability ``alpha = 1 - level``) and failures
``I_t = 1{X_t < -VaR_t}``::

    Z2 = 1 + sum_t X_t I_t / (N alpha ES_t)

Under a correct model ``E[Z2] = 0``; an underestimated ES (or too many failures) makes ``Z2``
negative, so the test is one-sided: reject when ``Z2`` is below the ``1 - test_level``
quantile of its distribution under the null. That distribution is obtained

* ``critical="simulation"`` — by Monte Carlo: i.i.d. returns from the null distribution
  (standard normal, or Student t with ``df`` degrees of freedom) with that distribution's own VaR
  and ES. Z2 is scale-free, so the standardised distribution suffices. The p-value is the
  fraction of simulated ``Z2`` at or below the observed one. This is how MATLAB's
  ``esbacktest`` tabulates the critical values of ``unconditionalNormal`` / ``unconditionalT``
  (t with 3 degrees of freedom), which ``method="unconditional_normal"`` / ``"unconditional_t"``
  reproduce.
* ``critical="normal_approx"`` — by a normal approximation: ``Z2`` has mean 0 and variance
  ``(E[X^2 1{X<q}] / ES^2 - alpha^2) / (N alpha^2)`` under the null distribution.

References
----------
Acerbi, C. and Szekely, B. (2014). Backtesting expected shortfall. *Risk*, December 2014 / MSCI.
MathWorks Risk Management Toolbox: ``esbacktest``, ``unconditionalNormal``, ``unconditionalT``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import integrate, stats

from quantlab._result import Result
from quantlab._validate import as_returns, check_choice, check_level, check_range
from quantlab.errors import DataError, ParameterError
from quantlab.risk.backtesting import _align_forecasts

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go

__all__ = ["ESBacktestResult", "es_backtest"]

_METHODS = ("acerbi_szekely_z2", "unconditional_normal", "unconditional_t")
_CRITICAL = ("simulation", "normal_approx")
# simulated draws per chunk (bounds memory: chunk of sims x n_obs float64)
_CHUNK_ELEMENTS = 4_000_000


@dataclass(frozen=True, repr=False)
class ESBacktestResult(Result):
    """Outcome of :func:`es_backtest`.

    Attributes
    ----------
    statistic : float
        Acerbi-Szekely ``Z2`` (0 expected under a correct model; negative = risk underestimated).
    p_value : float
        Probability under the null of a ``Z2`` at or below the observed one.
    critical_value : float
        ``1 - test_level`` quantile of ``Z2`` under the null; reject below it.
    result : str
        ``"accept"`` or ``"reject"``.
    n_obs, n_failures : int
        Observations and VaR failures.
    level, test_level : float
        ES/VaR confidence level and the test's confidence level.
    method, critical, dist : str
        Test variant, how the critical value was obtained, null distribution.
    df : float or None
        Degrees of freedom of the Student-t null.
    n_sims : int or None
        Number of simulated samples (simulation only).
    seed : int or None
        Seed of the simulation.
    returns, var, es : Series or None
        The inputs tested (for :meth:`plot`).
    """

    statistic: float
    p_value: float
    critical_value: float
    result: str
    n_obs: int
    n_failures: int
    level: float
    test_level: float
    method: str
    critical: str
    dist: str
    df: float | None
    n_sims: int | None
    seed: int | None
    returns: pd.Series | None = field(default=None, compare=False)
    var: pd.Series | None = field(default=None, compare=False)
    es: pd.Series | None = field(default=None, compare=False)

    _percent = frozenset({"level", "test_level"})
    _FIELDS = ("statistic", "p_value", "critical_value", "result", "n_obs", "n_failures",
               "level", "test_level", "method", "critical", "dist", "df", "n_sims", "seed")

    @property
    def expected_failures(self) -> float:
        """``N * (1 - level)``."""
        return self.n_obs * (1.0 - self.level)

    def title(self) -> str:
        return (f"ES backtest ({self.method}): Z2 = {self.statistic:.4f}, {self.result} at "
                f"{self.test_level:.4g} ({self.n_failures} failures in {self.n_obs:,} obs)")

    def stats(self) -> pd.Series:
        """Z2, p-value, critical value, counts, levels, df and number of simulations."""
        out = {"statistic": self.statistic, "p_value": self.p_value,
               "critical_value": self.critical_value, "reject": self.result == "reject",
               "n_obs": self.n_obs, "n_failures": self.n_failures,
               "expected_failures": self.expected_failures, "level": self.level,
               "test_level": self.test_level, "df": self.df, "n_sims": self.n_sims}
        return pd.Series(out, dtype=object, name=self.method)

    def _summary_table(self) -> pd.DataFrame:
        """One-row table indexed by the method name."""
        row = {
            "statistic": self.statistic,
            "p_value": self.p_value,
            "critical_value": self.critical_value,
            "result": self.result,
            "n_obs": self.n_obs,
            "n_failures": self.n_failures,
            "expected_failures": self.expected_failures,
            "level": self.level,
            "test_level": self.test_level,
            "critical": self.critical,
            "dist": self.dist if self.dist == "normal" else f"t({self.df:g})",
            "n_sims": self.n_sims,
        }
        return pd.DataFrame([row], index=pd.Index([self.method], name="test"))

    def _extra_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self._FIELDS}
        d["expected_failures"] = self.expected_failures
        return d

    def _figure(self, **kwargs: Any) -> go.Figure:
        """Returns against the -VaR and -ES forecasts, failures marked, Z2 in the title."""
        from quantlab.charts.risk import var_backtest_figure

        if self.returns is None or self.var is None:
            raise ParameterError("this ESBacktestResult has no forecasts to plot")
        kwargs.setdefault("title", self.title())
        return var_backtest_figure(self.returns, self.var, es=self.es, level=self.level,
                                   **kwargs)


# --------------------------------------------------------------------------------------------
# null distribution
# --------------------------------------------------------------------------------------------
def _tail_es(dist: str, df: float | None, alpha: float) -> tuple[float, float]:
    """(q, ES): the alpha-quantile ``q`` (< 0) and ES ``-E[X | X < q]`` (> 0)."""
    if dist == "normal":
        q = float(stats.norm.ppf(alpha))
        return q, float(stats.norm.pdf(q) / alpha)
    assert df is not None
    q = float(stats.t.ppf(alpha, df))
    return q, float((df + q * q) / (df - 1) * stats.t.pdf(q, df) / alpha)


def _z2_null_sd(dist: str, df: float | None, alpha: float, n: int) -> float:
    """Standard deviation of Z2 under the i.i.d. null with ``n`` observations."""
    q, es = _tail_es(dist, df, alpha)
    if dist == "normal":
        # int_{-inf}^{q} x^2 phi(x) dx = Phi(q) - q phi(q)
        m2 = alpha - q * float(stats.norm.pdf(q))
    else:
        m2 = integrate.quad(lambda x: x * x * stats.t.pdf(x, df), -np.inf, q)[0]
    var_term = m2 / es**2 - alpha**2
    return float(np.sqrt(var_term / (n * alpha**2)))


def _simulate_z2(
    dist: str, df: float | None, alpha: float, n: int, n_sims: int, rng: np.random.Generator
) -> np.ndarray:
    q, es = _tail_es(dist, df, alpha)
    out = np.empty(n_sims)
    chunk = max(1, _CHUNK_ELEMENTS // n)
    for start in range(0, n_sims, chunk):
        m = min(chunk, n_sims - start)
        x = rng.standard_normal((m, n)) if dist == "normal" else rng.standard_t(df, (m, n))
        out[start : start + m] = 1.0 + np.where(x < q, x, 0.0).sum(axis=1) / (n * alpha * es)
    return out


# --------------------------------------------------------------------------------------------
# public
# --------------------------------------------------------------------------------------------
def es_backtest(
    returns: Any,
    var: Any,
    es: Any,
    level: float,
    *,
    test_level: float = 0.95,
    method: str = "acerbi_szekely_z2",
    critical: str = "simulation",
    dist: str = "normal",
    df: float | None = None,
    n_sims: int = 10_000,
    seed: int | None = None,
) -> ESBacktestResult:
    """Unconditional expected-shortfall backtest of Acerbi & Szekely (2014), statistic Z2.

    Parameters
    ----------
    returns : Series or array-like
        Realised simple returns.
    var, es : Series or array-like
        VaR and ES forecasts for each bar as positive loss fractions; a Series is aligned with
        ``returns`` by index. ``es >= var > = 0`` is required, and ``es > 0``.
    level : float
        Confidence level of the VaR/ES forecasts, e.g. 0.975.
    test_level : float, default 0.95
        Confidence level of the test; reject when ``Z2 < critical_value``.
    method : {"acerbi_szekely_z2", "unconditional_normal", "unconditional_t"}
        ``"acerbi_szekely_z2"`` uses ``dist``/``df``; ``"unconditional_normal"`` and
        ``"unconditional_t"`` are MATLAB ``esbacktest``'s tests: Z2 with critical values under a
        standard normal or a t with 3 degrees of freedom (``df`` overrides 3).
    critical : {"simulation", "normal_approx"}
        How the null distribution of Z2 is obtained (see the module docstring).
    dist : {"normal", "t"}
        Null distribution of the returns for ``method="acerbi_szekely_z2"``.
    df : float, optional
        Degrees of freedom of the t null (> 1; > 2 for ``normal_approx``). Required for
        ``dist="t"`` unless ``method="unconditional_t"``.
    n_sims : int, default 10000
        Simulated samples for ``critical="simulation"``.
    seed : int, optional
        Seed of the simulation; the same seed gives the same result.

    Returns
    -------
    ESBacktestResult

    Raises
    ------
    ParameterError
        Bad level, method, critical, dist, df or n_sims.
    DataError
        NaN/inf or negative forecasts, ES below VaR, misaligned inputs.
    """
    level = check_level(level, "level")
    test_level = check_level(test_level, "test_level")
    method = check_choice(str(method).lower(), "method", _METHODS)
    critical = check_choice(str(critical).lower(), "critical", _CRITICAL)
    if method == "unconditional_normal":
        dist = "normal"
    elif method == "unconditional_t":
        dist = "t"
        df = 3.0 if df is None else df
    dist = str(dist).lower()
    check_choice(dist, "dist", ("normal", "t"))
    if dist == "t":
        if df is None:
            raise ParameterError("df is required with dist='t' (degrees of freedom > 1)")
        df = check_range(df, "df", 2.0 if critical == "normal_approx" else 1.0, open_low=True,
                         hint="(ES of a t needs df > 1, its tail variance df > 2)", coerce=True)
    else:
        df = None
    if critical == "simulation":
        n_sims = check_range(n_sims, "n_sims", 100, integer=True, coerce=True)
        n_sims = int(n_sims)

    ret = as_returns(returns, min_obs=1, name="returns", allow_frame=False)
    assert isinstance(ret, pd.Series)
    var_s = _align_forecasts(ret, var)
    es_s = _align_forecasts(ret, es, "es")
    v, e, x = var_s.to_numpy(), es_s.to_numpy(), ret.to_numpy()
    zero = e <= 0
    if zero.any():
        row = int(np.argmax(zero))
        raise DataError(f"es is zero at row {row} ({ret.index[row]}); ES must be positive")
    low = e < v * (1 - 1e-12)
    if low.any():
        row = int(np.argmax(low))
        raise DataError(
            f"es is below var at row {row} ({ret.index[row]}: es={e[row]:.6g}, "
            f"var={v[row]:.6g}); ES must be >= VaR"
        )

    n = x.size
    alpha = 1.0 - level
    fail = x < -v
    z2 = float(1.0 + np.sum(np.where(fail, x / e, 0.0)) / (n * alpha))

    if critical == "simulation":
        rng = np.random.default_rng(seed)
        sims = _simulate_z2(dist, df, alpha, n, n_sims, rng)
        crit = float(np.quantile(sims, 1.0 - test_level))
        p_value = float(np.mean(sims <= z2))
    else:
        sd = _z2_null_sd(dist, df, alpha, n)
        crit = float(stats.norm.ppf(1.0 - test_level) * sd)
        p_value = float(stats.norm.cdf(z2 / sd))

    return ESBacktestResult(
        statistic=z2,
        p_value=p_value,
        critical_value=crit,
        result="reject" if z2 < crit else "accept",
        n_obs=int(n),
        n_failures=int(fail.sum()),
        level=level,
        test_level=test_level,
        method=method,
        critical=critical,
        dist=dist,
        df=df,
        n_sims=n_sims if critical == "simulation" else None,
        seed=seed if critical == "simulation" else None,
        returns=ret.rename("returns"),
        var=var_s,
        es=es_s,
    )
