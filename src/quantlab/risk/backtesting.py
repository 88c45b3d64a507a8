"""VaR backtesting: the standard test suite with the definitions of MATLAB's ``varbacktest``.

A VaR backtest compares a sequence of VaR forecasts with the realised returns. A *failure*
(exception, breach) is a bar whose loss exceeded the VaR forecast for that bar. Under a correct
model at confidence ``level`` the failures are i.i.d. Bernoulli with probability
``p = 1 - level``. The tests below check the number of failures (``tl``, ``bin``, ``pof``), the
time until the first failure (``tuff``), and the independence of failures (``cci``, ``tbfi``)
and combinations (``cc``, ``tbf``).

Definitions follow the MathWorks Risk Management Toolbox documentation of ``varbacktest`` and
its methods ``tl``, ``bin``, ``pof``, ``tuff``, ``cc``, ``cci``, ``tbf``, ``tbfi`` (R2016b+):

=======  ==========================================================  ======================
test     statistic                                                   distribution under H0
=======  ==========================================================  ======================
tl       failures ``x``; zone from the binomial cdf ``F(x | N, p)``   Binomial(N, p)
bin      ``(x - N p) / sqrt(N p (1 - p))``                            N(0, 1), two-sided
pof      Kupiec (1995) proportion-of-failures likelihood ratio        chi2(1)
tuff     Kupiec (1995) time-until-first-failure likelihood ratio      chi2(1)
cci      Christoffersen (1998) independence likelihood ratio          chi2(1)
cc       ``pof + cci``                                                chi2(2)
tbfi     Haas (2001) time-between-failures independence LR            chi2(x)
tbf      ``pof + tbfi``                                               chi2(x + 1)
=======  ==========================================================  ======================

A likelihood-ratio test *accepts* when ``F(LR) < test_level`` (``F`` the chi-square cdf), i.e.
when ``LR`` is below the critical value ``chi2.ppf(test_level, df)``; the p-value is
``1 - F(LR)``.

References
----------
Basel Committee on Banking Supervision (1996). *Supervisory framework for the use of
"backtesting" in conjunction with the internal models approach to market risk capital
requirements.*
Kupiec, P. (1995). Techniques for verifying the accuracy of risk measurement models. *Journal of
Derivatives* 3, 73-84.
Christoffersen, P. (1998). Evaluating interval forecasts. *International Economic Review* 39,
841-862.
Haas, M. (2001). New methods in backtesting. Financial Engineering Research Center caesar, Bonn.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import special, stats

from quantlab._result import Result
from quantlab._validate import as_returns, check_level
from quantlab.errors import DataError, ParameterError, UsageError

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go

__all__ = [
    "BASEL_PLUS_FACTORS_250",
    "TESTS",
    "VaRBacktestResult",
    "var_backtest",
    "var_backtest_from_forecasts",
]

#: Names of the available tests, in the order MATLAB's ``runtests`` reports them.
TESTS: tuple[str, ...] = ("tl", "bin", "pof", "tuff", "cc", "cci", "tbf", "tbfi")

#: Basel (1996), Table 2 ("yellow zone" plus factors for 250 observations at 99 %):
#: number of exceptions -> plus factor added to the multiplication factor of 3.
#: Green zone (0-4 exceptions) adds 0.00; red zone (10 or more) adds 1.00.
BASEL_PLUS_FACTORS_250: dict[int, float] = {5: 0.40, 6: 0.50, 7: 0.65, 8: 0.75, 9: 0.85}

#: Basel multiplication factor before any plus factor.
BASELINE_SCALING_FACTOR = 3.0

# Zone boundaries of the traffic light on the binomial cdf (MATLAB ``tl``; Basel 1996).
_GREEN_MAX = 0.95
_YELLOW_MAX = 0.9999

_SUMMARY_COLUMNS = [
    "statistic",
    "p_value",
    "critical_value",
    "df",
    "result",
    # extra information, as MATLAB's individual test tables give it
    "probability",
    "type_i",
    "increase",
    "scaling_factor",
    "first_failure",
    "n00",
    "n10",
    "n01",
    "n11",
    "tbf_min",
    "tbf_q1",
    "tbf_q2",
    "tbf_q3",
    "tbf_max",
    "note",
]


# --------------------------------------------------------------------------------------------
# input handling
# --------------------------------------------------------------------------------------------
def _as_breaches(breaches: Any, name: str = "breaches") -> pd.Series:
    """A boolean Series of failures: bool dtype (numpy, pandas or Python bools), no missing."""
    if isinstance(breaches, pd.DataFrame):
        raise ParameterError(f"{name} must be one boolean series, got {breaches.shape[1]} columns")
    if isinstance(breaches, pd.Series):
        series = breaches
    else:
        if isinstance(breaches, str | bytes) or np.ndim(breaches) == 0:
            raise ParameterError(
                f"{name} must be a boolean sequence, got {type(breaches).__name__}"
            )
        arr = np.asarray(breaches)
        if arr.ndim != 1:
            raise ParameterError(f"{name} must be 1-D, got shape {arr.shape}")
        series = pd.Series(arr, name=name)
    if len(series) == 0:
        raise DataError(f"{name} is empty; at least one observation is needed")
    missing = series.isna().to_numpy()
    if missing.any():
        row = int(np.argmax(missing))
        raise DataError(f"{name} has a missing value at row {row} ({series.index[row]})")
    if series.dtype == object:
        if not all(isinstance(v, bool | np.bool_) for v in series.to_numpy()):
            raise ParameterError(f"{name} must contain only True/False values")
    elif not (pd.api.types.is_bool_dtype(series.dtype)):
        raise ParameterError(
            f"{name} must be boolean (True = loss exceeded VaR), got dtype {series.dtype}; "
            "use var_backtest_from_forecasts for returns and VaR"
        )
    return series.astype(bool)


def _check_tests(tests: Iterable[str] | str | None) -> tuple[str, ...]:
    if tests is None:
        return TESTS
    names = (tests,) if isinstance(tests, str) else tuple(tests)
    if not names:
        raise ParameterError("tests is empty; give one or more of " + ", ".join(TESTS))
    out = []
    for t in names:
        key = str(t).lower()
        if key not in TESTS:
            raise ParameterError(f"tests: unknown test {t!r}; choose from {', '.join(TESTS)}")
        if key not in out:
            out.append(key)
    return tuple(k for k in TESTS if k in out)


# --------------------------------------------------------------------------------------------
# building blocks (pure functions on counts / 0-1 arrays)
# --------------------------------------------------------------------------------------------
def _xlogy(x: float, y: float) -> float:
    """``x * log(y)`` with ``0 * log(0) = 0`` (a likelihood factor ``y**0`` equals 1)."""
    return 0.0 if x == 0 else float(x * np.log(y))


def _bernoulli_loglik(n_no: float, n_yes: float, prob: float) -> float:
    """Log of ``(1 - prob)**n_no * prob**n_yes`` with the ``0**0 = 1`` convention."""
    return _xlogy(n_no, 1.0 - prob) + _xlogy(n_yes, prob)


def _lr_result(lr: float, df: int, test_level: float) -> dict[str, Any]:
    crit = float(stats.chi2.ppf(test_level, df))
    # numerical noise can make a zero LR a tiny negative number
    lr = max(float(lr), 0.0)
    return {
        "statistic": lr,
        "p_value": float(stats.chi2.sf(lr, df)),
        "critical_value": crit,
        "df": df,
        "result": "accept" if lr < crit else "reject",
    }


def _tl(n: int, x: int, p: float) -> dict[str, Any]:
    """Traffic light (MATLAB ``tl``; Basel 1996)."""
    prob = float(stats.binom.cdf(x, n, p))
    # TypeI = P(X >= x): the probability of wrongly rejecting a correct model
    type_i = float(stats.binom.sf(x - 1, n, p))
    if prob <= _GREEN_MAX:
        zone = "green"
        increase = 0.0
    elif prob <= _YELLOW_MAX:
        zone = "yellow"
        # MATLAB tl: Increase = Baseline * (zAssumed / zObserved - 1), restricted to [0, 1],
        # zAssumed = norminv(VaRLevel), zObserved = norminv(observed level (N - x) / N).
        z_assumed = stats.norm.ppf(1.0 - p)
        z_observed = stats.norm.ppf((n - x) / n)
        if z_observed <= 0:
            increase = 1.0
        else:
            increase = float(np.clip(BASELINE_SCALING_FACTOR * (z_assumed / z_observed - 1), 0, 1))
    else:
        zone = "red"
        increase = 1.0
    # Basel (1996) Table 2 gives rounded plus factors for the standard case (250 days, 99 %);
    # MATLAB applies no ad-hoc rounding, so elsewhere the plus factor is MATLAB's increase.
    plus = increase
    note = ""
    if n == 250 and abs(p - 0.01) < 1e-12 and zone == "yellow":
        plus = BASEL_PLUS_FACTORS_250[x]
        note = "scaling factor from the Basel (1996) table for 250 obs at 99 %"
    return {
        "statistic": float(x),
        "p_value": type_i,
        "critical_value": np.nan,
        "df": np.nan,
        "result": zone,
        "probability": prob,
        "type_i": type_i,
        "increase": increase,
        "scaling_factor": BASELINE_SCALING_FACTOR + plus,
        "note": note,
    }


def _bin(n: int, x: int, p: float, test_level: float) -> dict[str, Any]:
    """Binomial z-test (MATLAB ``bin``): two-sided normal approximation."""
    z = (x - n * p) / np.sqrt(n * p * (1 - p))
    crit = float(stats.norm.ppf(1 - (1 - test_level) / 2))
    return {
        "statistic": float(z),
        "p_value": float(2 * stats.norm.sf(abs(z))),
        "critical_value": crit,
        "df": np.nan,
        "result": "accept" if abs(z) < crit else "reject",
    }


def _pof_lr(n: int, x: int, p: float) -> float:
    """Kupiec POF likelihood ratio (MATLAB ``pof``).

    ``LR = -2 log[(1-p)^(N-x) p^x / ((1-x/N)^(N-x) (x/N)^x)]``; for ``x = 0`` this is
    ``-2 N log(1 - p)`` and for ``x = N`` it is ``-2 N log(p)`` (the ``0**0 = 1`` limits, as the
    MATLAB documentation states them).
    """
    phat = x / n
    return -2.0 * (_bernoulli_loglik(n - x, x, p) - _bernoulli_loglik(n - x, x, phat))


def _interval_lr(k: Any, p: float) -> Any:
    """LR of waiting time(s) ``k`` (geometric): Kupiec's TUFF term, Haas's TBFI terms.

    ``-2 log[p (1-p)^(k-1) / ((1/k) (1 - 1/k)^(k-1))]``; for ``k = 1`` the denominator is 1.
    """
    k = np.asarray(k, dtype="float64")
    null = np.log(p) + (k - 1) * np.log1p(-p)
    # (k - 1) log(1 - 1/k) with the k = 1 term equal to 0
    alt = -np.log(k) + special.xlogy(k - 1, (k - 1) / k)
    out = -2.0 * (null - alt)
    return float(out) if out.ndim == 0 else out


def _transition_counts(fail: np.ndarray) -> tuple[int, int, int, int]:
    """(N00, N10, N01, N11): ``Nij`` = periods with state ``i`` followed by state ``j``.

    The ``N - 1`` consecutive pairs are counted; nothing is assumed before the first bar
    (MATLAB's example: 1043 observations give N00+N10+N01+N11 = 1042).
    """
    prev, nxt = fail[:-1], fail[1:]
    n00 = int(np.sum(~prev & ~nxt))
    n10 = int(np.sum(prev & ~nxt))
    n01 = int(np.sum(~prev & nxt))
    n11 = int(np.sum(prev & nxt))
    return n00, n10, n01, n11


def _cci_lr(n00: int, n10: int, n01: int, n11: int) -> float:
    """Christoffersen independence LR (MATLAB ``cci``).

    ``LR = -2 log[L(pUC; N00+N10, N01+N11) / (L(p01; N00, N01) L(p11; N10, N11))]`` with
    ``L(q; a, b) = (1-q)^a q^b`` and the maximum-likelihood estimates
    ``p01 = N01/(N00+N01)``, ``p11 = N11/(N10+N11)``, ``pUC = (N01+N11)/(N00+N01+N10+N11)``.
    Zero counts: a factor with a zero exponent is 1 (``0**0 = 1``), and a likelihood whose two
    counts are both zero (its estimate undefined) is 1.
    """

    def loglik(a: int, b: int) -> float:
        if a + b == 0:
            return 0.0
        return _bernoulli_loglik(a, b, b / (a + b))

    num = loglik(n00 + n10, n01 + n11)
    den = loglik(n00, n01) + loglik(n10, n11)
    return -2.0 * (num - den)


def _waiting_times(fail: np.ndarray) -> np.ndarray:
    """Times between failures: first failure's position (1-based), then the gaps."""
    pos = np.flatnonzero(fail) + 1
    return np.diff(pos, prepend=0)


def _tbf_tests(
    waits: np.ndarray,
    x: int,
    p: float,
    test_level: float,
    tuff: dict[str, Any],
    pof: dict[str, Any] | None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Haas TBFI (chi2 with x df) and TBF = POF + TBFI (chi2 with x + 1 df)."""
    quart = ("tbf_min", "tbf_q1", "tbf_q2", "tbf_q3", "tbf_max")
    if x:
        tbfi = _lr_result(float(np.sum(_interval_lr(waits, p))), x, test_level)
        q = np.quantile(waits, [0.25, 0.5, 0.75], method="hazen")  # = MATLAB prctile
        tbfi.update(
            zip(quart, (float(waits.min()), *map(float, q), float(waits.max())), strict=True)
        )
    else:
        tbfi = {
            "statistic": np.nan,
            "p_value": np.nan,
            "critical_value": np.nan,
            "df": 0,
            "result": tuff["result"],
            "note": "no failures: no time between failures; decision of tuff",
        }
    if pof is None:
        return tbfi, None
    if x:
        tbf = _lr_result(pof["statistic"] + tbfi["statistic"], x + 1, test_level)
        tbf.update({k: tbfi[k] for k in quart})
    else:
        both = pof["result"] == "accept" and tbfi["result"] == "accept"
        tbf = {
            "statistic": np.nan,
            "p_value": np.nan,
            "critical_value": np.nan,
            "df": 1,
            "result": "accept" if both else "reject",
            "note": "no failures: accept only if pof and tbfi accept",
        }
    return tbfi, tbf


# --------------------------------------------------------------------------------------------
# result
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class VaRBacktestResult(Result):
    """Outcome of :func:`var_backtest` / :func:`var_backtest_from_forecasts`.

    Attributes
    ----------
    level : float
        VaR confidence level (0.99 = 99 % VaR; failure probability ``1 - level``).
    test_level : float
        Confidence level of the tests (accept/reject).
    n_obs : int
        Number of observations ``N``.
    n_failures : int
        Number of failures ``x``.
    tests : dict
        Per test name, a dict with ``statistic``, ``p_value``, ``critical_value``, ``df``,
        ``result`` and extra information (see :meth:`_summary_table`, shown by ``summary()``).
    breaches : Series
        The failure indicator that was tested.
    returns, var : Series or None
        The returns and VaR forecasts, kept when built from forecasts (for :meth:`plot`).
    """

    level: float
    test_level: float
    n_obs: int
    n_failures: int
    tests: dict[str, dict[str, Any]]
    breaches: pd.Series = field(repr=False)
    returns: pd.Series | None = field(default=None, repr=False)
    var: pd.Series | None = field(default=None, repr=False)

    @property
    def expected_failures(self) -> float:
        """``N * (1 - level)``."""
        return self.n_obs * (1.0 - self.level)

    @property
    def failure_rate(self) -> float:
        """Observed failure frequency ``x / N``."""
        return self.n_failures / self.n_obs

    @property
    def traffic_light(self) -> str:
        """Basel zone: ``"green"``, ``"yellow"`` or ``"red"``."""
        if "tl" in self.tests:
            return str(self.tests["tl"]["result"])
        return str(_tl(self.n_obs, self.n_failures, 1.0 - self.level)["result"])

    @property
    def first_failure(self) -> int | None:
        """1-based position of the first failure (None without failures)."""
        pos = np.flatnonzero(self.breaches.to_numpy())
        return int(pos[0]) + 1 if pos.size else None

    _percent = frozenset({"level", "test_level", "failure_rate", "expected_rate"})

    def title(self) -> str:
        return (f"VaR backtest: {self.level:.4g} VaR, {self.n_obs:,} obs, {self.n_failures} "
                f"failures (expected {self.expected_failures:.2f}), traffic light "
                f"{self.traffic_light}")

    def stats(self) -> pd.Series:
        """Counts and rates, the first failure, and each test's p-value (``p_value_<test>``)."""
        out: dict[str, Any] = {
            "level": self.level, "test_level": self.test_level, "n_obs": self.n_obs,
            "n_failures": self.n_failures, "expected_failures": self.expected_failures,
            "failure_rate": self.failure_rate, "expected_rate": 1.0 - self.level,
            "first_failure": self.first_failure,
        }
        if "tl" in self.tests:
            out["scaling_factor"] = self.tests["tl"]["scaling_factor"]
        for name, res in self.tests.items():
            out[f"p_value_{name}"] = res["p_value"]
        for name, res in self.tests.items():
            if name != "tl":
                out[f"reject_{name}"] = res["result"] == "reject"
        return pd.Series(out, dtype=object, name="var_backtest")

    def _summary_table(self) -> pd.DataFrame:
        """One row per test run (index ``tl``, ``bin``, ...).

        Columns: ``statistic`` (LR, z-score, or the failure count for ``tl``), ``p_value``
        (for ``tl`` the type-I error ``P(X >= x)``), ``critical_value`` and ``df`` where
        defined, ``result`` (``accept``/``reject``; ``green``/``yellow``/``red`` for ``tl``),
        then what MATLAB's individual tests report: ``probability`` (``P(X <= x)``),
        ``type_i``, ``increase`` and ``scaling_factor`` (tl), ``first_failure`` (tuff), the
        transition counts ``n00``.. ``n11`` (cc, cci), quartiles of the times between failures
        ``tbf_min``..``tbf_max`` (tbf, tbfi), and a ``note``. Columns empty for every test
        run are left out.
        """
        rows = {
            name: {c: res.get(c, np.nan) for c in _SUMMARY_COLUMNS}
            for name, res in self.tests.items()
        }
        out = pd.DataFrame.from_dict(rows, orient="index", columns=_SUMMARY_COLUMNS)
        out["note"] = out["note"].fillna("").astype(object)
        out.index.name = "test"
        return out.dropna(axis=1, how="all")

    def _extra_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "test_level": self.test_level,
            "n_obs": self.n_obs,
            "n_failures": self.n_failures,
            "expected_failures": self.expected_failures,
            "failure_rate": self.failure_rate,
            "first_failure": self.first_failure,
            "traffic_light": self.traffic_light,
            "tests": {name: dict(res) for name, res in self.tests.items()},
        }

    def _figure(self, **kwargs: Any) -> go.Figure:
        """Plotly figure of returns, the -VaR band and the failures, zone in the title.

        Needs the returns and VaR forecasts (build with :func:`var_backtest_from_forecasts`).
        Keyword arguments (``es``, ``title``, ...) go to
        :func:`quantlab.charts.risk.var_backtest_figure`.
        """
        if self.returns is None or self.var is None:
            raise UsageError(
                "plot() needs returns and VaR forecasts; build the result with "
                "var_backtest_from_forecasts(returns, var, level)"
            )
        from quantlab.charts.risk import var_backtest_figure

        kwargs.setdefault("level", self.level)
        kwargs.setdefault("zone", self.traffic_light)
        return var_backtest_figure(self.returns, self.var, **kwargs)


# --------------------------------------------------------------------------------------------
# public functions
# --------------------------------------------------------------------------------------------
def var_backtest(
    breaches: Any,
    level: float,
    test_level: float = 0.95,
    *,
    tests: Iterable[str] | str | None = None,
) -> VaRBacktestResult:
    """Run the VaR backtests of MATLAB's ``varbacktest`` on a failure sequence.

    Parameters
    ----------
    breaches : boolean Series or sequence
        ``True`` where the loss exceeded the VaR forecast for that bar, in time order.
    level : float
        VaR confidence level in (0, 1), e.g. 0.99. The failure probability is ``1 - level``.
    test_level : float, default 0.95
        Confidence level of the tests; a test rejects when its statistic is beyond the
        ``test_level`` critical value (``p_value < 1 - test_level``).
    tests : str or iterable of str, optional
        Subset of ``"tl", "bin", "pof", "tuff", "cc", "cci", "tbf", "tbfi"``; default all.

    Returns
    -------
    VaRBacktestResult

    Raises
    ------
    ParameterError
        ``level``/``test_level`` outside (0, 1), non-boolean ``breaches``, unknown test name.
    DataError
        Empty ``breaches`` or missing values.

    Notes
    -----
    Edge cases: ``pof`` uses the limits ``-2 N log(1-p)`` for no failures and ``-2 N log p``
    when every bar fails; ``cci`` with fewer than two bars has no transitions and LR 0. Without
    failures the time until the first failure is unobserved: ``tuff`` then uses ``N + 1`` (the
    first failure is right-censored at the end of the sample), ``tbfi`` has no statistic and
    takes the ``tuff`` decision, and ``tbf`` accepts only when both ``pof`` and ``tbfi`` accept
    (the rule in MATLAB's ``tbf`` documentation for an undefined LR).

    Examples
    --------
    >>> import numpy as np
    >>> fails = np.zeros(250, dtype=bool); fails[[20, 90, 91, 200, 230, 240]] = True
    >>> res = var_backtest(fails, 0.99)
    >>> res.traffic_light
    'yellow'
    """
    fail_s = _as_breaches(breaches)
    level = check_level(level, "level")
    test_level = check_level(test_level, "test_level")
    names = _check_tests(tests)

    fail = fail_s.to_numpy()
    n = int(fail.size)
    x = int(fail.sum())
    p = 1.0 - level
    out: dict[str, dict[str, Any]] = {}

    need = set(names)
    if need & {"pof", "cc", "tbf"}:
        pof = _lr_result(_pof_lr(n, x, p), 1, test_level)
    if need & {"cci", "cc"}:
        counts = _transition_counts(fail)
        cci = _lr_result(_cci_lr(*counts), 1, test_level)
        cci.update(dict(zip(("n00", "n10", "n01", "n11"), counts, strict=True)))
    if need & {"tuff", "tbfi", "tbf"}:
        waits = _waiting_times(fail)
        first = int(waits[0]) if x else n + 1
        tuff = _lr_result(_interval_lr(first, p), 1, test_level)
        tuff["first_failure"] = first if x else np.nan
        if not x:
            tuff["note"] = f"no failures: first failure taken as N+1 = {n + 1}"
    if need & {"tbfi", "tbf"}:
        tbfi, tbf = _tbf_tests(waits, x, p, test_level, tuff, pof if "tbf" in need else None)

    for name in names:
        if name == "tl":
            out[name] = _tl(n, x, p)
        elif name == "bin":
            out[name] = _bin(n, x, p, test_level)
        elif name == "pof":
            out[name] = pof
        elif name == "tuff":
            out[name] = tuff
        elif name == "cci":
            out[name] = cci
        elif name == "cc":
            cc = _lr_result(pof["statistic"] + cci["statistic"], 2, test_level)
            cc.update({k: cci[k] for k in ("n00", "n10", "n01", "n11")})
            out[name] = cc
        elif name == "tbfi":
            out[name] = tbfi
        elif name == "tbf":
            out[name] = tbf
    return VaRBacktestResult(
        level=level,
        test_level=test_level,
        n_obs=n,
        n_failures=x,
        tests=out,
        breaches=fail_s.rename("breach"),
    )


def _align_forecasts(returns: pd.Series, var: Any, name: str = "var") -> pd.Series:
    """Forecasts (positive loss fractions) as a float Series on the index of ``returns``."""
    if isinstance(var, pd.DataFrame):
        raise ParameterError(f"{name} must be one series, got {var.shape[1]} columns")
    if isinstance(var, pd.Series):
        var_s = var
        if not var_s.index.equals(returns.index):
            if var_s.index.has_duplicates or returns.index.has_duplicates:
                raise DataError(f"returns and {name} have duplicate index labels; cannot align")
            missing = returns.index.difference(var_s.index)
            extra = var_s.index.difference(returns.index)
            if len(missing) or len(extra):
                first = missing[0] if len(missing) else extra[0]
                raise DataError(
                    f"returns and {name} are misaligned: {len(missing)} return dates without {name}, "
                    f"{len(extra)} {name} dates without a return (first: {first})"
                )
            var_s = var_s.reindex(returns.index)
    else:
        try:
            arr = np.asarray(var, dtype="float64")
        except (TypeError, ValueError):
            raise ParameterError(f"{name} must be numbers (positive loss fractions)") from None
        if arr.ndim != 1:
            raise ParameterError(f"{name} must be 1-D, got shape {arr.shape}")
        if arr.size != len(returns):
            raise DataError(f"{name} has {arr.size} values for {len(returns)} returns")
        var_s = pd.Series(arr, index=returns.index)
    try:
        var_s = var_s.astype("float64")
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be numbers (positive loss fractions)") from None
    values = var_s.to_numpy()
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.argmax(bad))
        raise DataError(f"{name} has NaN/inf at row {row} ({var_s.index[row]})")
    neg = values < 0
    if neg.any():
        row = int(np.argmax(neg))
        raise DataError(
            f"{name} is negative at row {row} ({var_s.index[row]}: {values[row]:.6g}); "
            f"{name} must be a positive loss fraction (0.05 = 5 % loss)"
        )
    return var_s.rename(name)


def var_backtest_from_forecasts(
    returns: Any,
    var: Any,
    level: float,
    test_level: float = 0.95,
    *,
    tests: Iterable[str] | str | None = None,
) -> VaRBacktestResult:
    """Backtest VaR forecasts against realised returns.

    Parameters
    ----------
    returns : Series or array-like
        Realised simple returns, one per bar.
    var : Series or array-like
        VaR forecast *for* each bar (made before it), as a positive loss fraction
        (0.05 = 5 % loss). A Series is aligned with ``returns`` by index; an array by position.
    level : float
        VaR confidence level in (0, 1).
    test_level : float, default 0.95
        Confidence level of the tests.
    tests : str or iterable of str, optional
        Subset of the tests; default all.

    Returns
    -------
    VaRBacktestResult
        With ``returns`` and ``var`` kept, so that :meth:`VaRBacktestResult.plot` works.
        A failure is a bar with ``returns < -var``.

    Raises
    ------
    DataError
        NaN/inf in returns or var, negative VaR, misaligned indexes or lengths.
    ParameterError
        Bad ``level``/``test_level``/``tests``, non-numeric input.
    """
    ret = as_returns(returns, min_obs=1, name="returns", allow_frame=False)
    assert isinstance(ret, pd.Series)
    var_s = _align_forecasts(ret, var)
    breaches = pd.Series(ret.to_numpy() < -var_s.to_numpy(), index=ret.index, name="breach")
    res = var_backtest(breaches, level, test_level, tests=tests)
    return VaRBacktestResult(
        level=res.level,
        test_level=res.test_level,
        n_obs=res.n_obs,
        n_failures=res.n_failures,
        tests=res.tests,
        breaches=res.breaches,
        returns=ret.rename("returns"),
        var=var_s,
    )
