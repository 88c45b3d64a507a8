"""Deflated Sharpe ratio: is the best of a parameter sweep still significant?

:func:`deflated_sharpe` asks whether a strategy's Sharpe ratio is still significant once we
account for the number of configurations tried (selection bias), the length of the sample and
the non-normality of its returns. Bailey, D. H. and López de Prado, M. (2014), "The Deflated
Sharpe Ratio: Correcting for Selection Bias, Backtest Overfitting and Non-Normality", *Journal
of Portfolio Management* 40(5), pp. 94-107. Its building blocks are
:func:`probabilistic_sharpe` and :func:`expected_max_sharpe`. The probability of backtest
overfitting, the other overfitting statistic of the promotion gates, is in :mod:`.pbo`.

Conventions
-----------
Sharpe ratios inside the formulas are **per period** (per bar, risk-free rate 0), never
annualized: ``SR = mean / std`` of the bar returns, ``std`` with ``ddof=1``. Annualized figures
(``SR * sqrt(periods_per_year)``) are reported alongside for reading only. Skewness and kurtosis
are the sample moment ratios ``m3 / m2**1.5`` and ``m4 / m2**2`` (biased, as in the paper);
kurtosis is **not** excess kurtosis (3 for a normal distribution).

Everything here is a pure function of numpy/pandas inputs; nothing is fetched or cached.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from quantlab._result import Result
from quantlab._validate import check_range
from quantlab.data.timeframes import DAYS_PER_YEAR
from quantlab.data.timeframes import periods_per_year as _infer_ppy
from quantlab.errors import DataError, ParameterError

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go

__all__ = [
    "DeflatedSharpeResult",
    "deflated_sharpe",
    "expected_max_sharpe",
    "probabilistic_sharpe",
]


def probabilistic_sharpe(sr: float, sr_benchmark: float, n: int, skew: float,
                         kurtosis: float) -> float:
    """Probabilistic Sharpe ratio: probability that the true Sharpe ratio exceeds a benchmark.

    .. math::

        PSR(SR^*) = \\Phi\\left( \\frac{(\\widehat{SR} - SR^*)\\sqrt{n - 1}}
        {\\sqrt{1 - \\gamma_3 \\widehat{SR} + \\frac{\\gamma_4 - 1}{4}\\widehat{SR}^2}} \\right)

    (Bailey and López de Prado 2014, eq. 2; first in Bailey and López de Prado 2012, "The Sharpe
    Ratio Efficient Frontier", *Journal of Risk* 15(2)).

    Parameters
    ----------
    sr : float
        Observed Sharpe ratio **per period** (not annualized): mean / std of the bar returns.
    sr_benchmark : float
        Benchmark Sharpe ratio ``SR*``, per period as well.
    n : int
        Number of return observations (>= 2).
    skew : float
        Skewness ``γ3`` of the returns (0 for a normal distribution).
    kurtosis : float
        Kurtosis ``γ4`` of the returns, **not** excess kurtosis (3 for a normal distribution).

    Returns
    -------
    float
        PSR in [0, 1].

    Raises
    ------
    ParameterError
        A non-finite input, ``n < 2``, or moments for which the variance term
        ``1 - γ3 SR + (γ4 - 1)/4 SR²`` is not positive (impossible for real data: ``γ4 >= 1 + γ3²``).
    """
    sr = check_range(sr, "sr")
    sr_benchmark = check_range(sr_benchmark, "sr_benchmark")
    n = check_range(n, "n", 2, integer=True)
    skew = check_range(skew, "skew")
    kurtosis = check_range(kurtosis, "kurtosis")
    var_term = 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr * sr
    if not var_term > 0:
        raise ParameterError(f"skew={skew:g}, kurtosis={kurtosis:g} and sr={sr:g} give a "
                             f"non-positive variance term {var_term:g} (kurtosis is not excess "
                             "kurtosis: 3 for a normal distribution)")
    return float(norm.cdf((sr - sr_benchmark) * math.sqrt(n - 1) / math.sqrt(var_term)))


def expected_max_sharpe(trials: int, sharpe_variance: float) -> float:
    """Expected maximum Sharpe ratio of ``trials`` independent trials whose true Sharpe is zero.

    .. math::

        SR_0 = \\sqrt{V[\\widehat{SR}_n]} \\left( (1 - \\gamma)\\,\\Phi^{-1}(1 - 1/N)
        + \\gamma\\,\\Phi^{-1}(1 - 1/(N e)) \\right)

    with ``γ`` the Euler–Mascheroni constant (Bailey and López de Prado 2014, eq. 4; the false
    strategy theorem). One trial gives ``SR0 = 0`` (no selection: ``Φ⁻¹(0)`` is not finite, the
    expected value of a single zero-mean draw is 0).

    Parameters
    ----------
    trials : int
        Number of independent trials ``N`` (>= 1).
    sharpe_variance : float
        Variance of the trials' Sharpe ratios ``V[SR_n]`` (>= 0), in the units of the returned
        figure (per-period variance gives a per-period ``SR0``).

    Returns
    -------
    float
    """
    trials = check_range(trials, "trials", 1, integer=True)
    sharpe_variance = check_range(sharpe_variance, "sharpe_variance", 0)
    if trials == 1:
        return 0.0
    g = np.euler_gamma
    z = (1 - g) * norm.ppf(1 - 1 / trials) + g * norm.ppf(1 - 1 / (trials * math.e))
    return float(math.sqrt(sharpe_variance) * z)


def _returns_array(returns: Any) -> tuple[np.ndarray, pd.Index | None]:
    if isinstance(returns, pd.DataFrame):
        if returns.shape[1] != 1:
            raise DataError(f"returns must be one series, got a frame of {returns.shape[1]} "
                            "columns")
        returns = returns.iloc[:, 0]
    index = returns.index if isinstance(returns, pd.Series) else None
    try:
        arr = np.asarray(returns, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"returns must be numbers ({exc})") from None
    if arr.ndim != 1:
        raise DataError(f"returns must be one-dimensional, got shape {arr.shape}")
    if arr.size < 2:
        raise DataError(f"returns need at least 2 observations, got {arr.size}")
    bad = ~np.isfinite(arr)
    if bad.any():
        where = index[int(np.argmax(bad))] if index is not None else int(np.argmax(bad))
        raise DataError(f"returns hold {int(bad.sum())} NaN/inf values (first at {where}); "
                        "drop or fill them first")
    return arr, index


@dataclass(frozen=True, repr=False)
class DeflatedSharpeResult(Result):
    """Deflated Sharpe ratio of a strategy selected among ``trials`` configurations.

    Every Sharpe figure is per period unless its name ends in ``_annualized``
    (``x_annualized = x * sqrt(periods_per_year)``).

    Attributes
    ----------
    sharpe, sharpe_annualized : float
        Observed Sharpe ratio of the selected strategy (mean / std with ddof=1, risk-free 0).
    n_obs : int
        Number of returns.
    skew, kurtosis : float
        Sample skewness and kurtosis (not excess) of the returns.
    trials : int
        Number of configurations tried ``N``.
    sharpe_variance : float
        Per-period variance of the trials' Sharpe ratios ``V[SR_n]``.
    sr0, sr0_annualized : float
        Expected maximum Sharpe ratio of ``trials`` zero-skill trials (:func:`expected_max_sharpe`).
    dsr : float
        Deflated Sharpe ratio: PSR with benchmark ``sr0`` — the probability that the true Sharpe
        ratio is above what the best of ``trials`` zero-skill configurations would show.
    psr : float
        PSR against a zero benchmark (no correction for selection), for comparison.
    periods_per_year : float
        Bars per year used to annualize.
    trial_sharpes : ndarray or None
        Per-period Sharpe ratios of the trials when they were given (finite values only; left
        out of :meth:`to_dict`).
    """

    sharpe: float
    sharpe_annualized: float
    n_obs: int
    skew: float
    kurtosis: float
    trials: int
    sharpe_variance: float
    sr0: float
    sr0_annualized: float
    dsr: float
    psr: float
    periods_per_year: float
    trial_sharpes: np.ndarray | None = field(default=None, compare=False)

    _percent = frozenset({"dsr", "psr"})

    def passed(self, threshold: float = 0.95) -> bool:
        """True when the DSR reaches ``threshold`` (0.95: significant at the 5 % level)."""
        threshold = check_range(threshold, "threshold", 0, 1)
        return bool(self.dsr >= threshold)

    def title(self) -> str:
        return (f"Deflated Sharpe {self.dsr:.2%}: annualized Sharpe {self.sharpe_annualized:.2f} "
                f"vs {self.sr0_annualized:.2f} expected from the best of {self.trials:,} "
                f"zero-skill trials ({self.n_obs:,} returns)")

    def stats(self) -> pd.Series:
        """dsr, psr, the Sharpe figures, sr0, trials, sharpe_variance, n_obs, skew, kurtosis."""
        return pd.Series({
            "dsr": self.dsr, "psr": self.psr, "passed_95": self.passed(0.95),
            "sharpe": self.sharpe, "sharpe_annualized": self.sharpe_annualized,
            "sr0": self.sr0, "sr0_annualized": self.sr0_annualized, "trials": self.trials,
            "sharpe_variance": self.sharpe_variance, "n_obs": self.n_obs, "skew": self.skew,
            "kurtosis": self.kurtosis, "periods_per_year": self.periods_per_year,
        }, dtype=object, name="deflated_sharpe")

    def _figure(self, **kwargs: Any) -> go.Figure:
        """Bars of the observed annualized Sharpe ratio and the expected maximum under the null."""
        import plotly.graph_objects as go

        labels = ["observed Sharpe", f"SR0: expected max of {self.trials:,} null trials"]
        values = [self.sharpe_annualized, self.sr0_annualized]
        fig = go.Figure(go.Bar(x=labels, y=values, marker_color=["#1f77b4", "#7f7f7f"],
                               text=[f"{v:.2f}" for v in values], textposition="auto"))
        fig.update_layout(title=f"Deflated Sharpe ratio {self.dsr:.2%} "
                                f"({'passes' if self.passed() else 'fails'} 95 %)",
                          yaxis_title="annualized Sharpe ratio", template="plotly_white",
                          **kwargs)
        return fig


def deflated_sharpe(
    returns: pd.Series | np.ndarray | Sequence[float],
    *,
    trials: int | Sequence[float] | np.ndarray | pd.Series,
    sharpe_variance: float | None = None,
    periods_per_year: float | None = None,
    annualized: bool = True,
) -> DeflatedSharpeResult:
    """Deflated Sharpe ratio (DSR) of the strategy selected among ``trials`` configurations.

    The DSR is the probabilistic Sharpe ratio (:func:`probabilistic_sharpe`) of the selected
    strategy's returns against the benchmark ``SR0`` = the expected maximum Sharpe ratio of
    ``N`` trials whose true Sharpe ratio is zero (:func:`expected_max_sharpe`). It corrects for
    selection bias (many trials), short samples and non-normal returns (Bailey and López de
    Prado 2014, eq. 5). A DSR of 0.95 or more is the usual bar (:meth:`DeflatedSharpeResult.passed`).

    ``SR0`` assumes ``N`` *independent* trials and is an approximation for ``N >> 1``. The
    configurations of a parameter sweep are strongly correlated, so ``len(trials)`` overstates
    the effective number of independent trials and the DSR errs on the conservative side; pass
    an estimate of the effective number as an int ``trials`` (with ``sharpe_variance``) to
    correct for that.

    Parameters
    ----------
    returns : Series or array-like
        Per-period (bar) returns of the selected strategy; no NaN, at least 2 values.
    trials : int or array-like
        Either the Sharpe ratios of **every** configuration tried (e.g. a sweep's
        ``result.table["sharpe"]``): ``N = len(trials)`` and ``V[SR_n]`` is their variance
        (ddof=1, computed over the finite values only; a NaN/inf Sharpe — a configuration that
        never traded — still counts as a trial). Or the number of trials ``N`` as an int, with
        ``sharpe_variance`` given (not needed for ``N = 1``, where ``SR0 = 0`` and the DSR is the
        PSR against 0).
    sharpe_variance : float, optional
        Variance of the trials' Sharpe ratios; overrides the variance of ``trials`` when both
        are given.
    periods_per_year : float, optional
        Bars per year, for annualizing and for converting annualized trial figures; inferred
        from a DatetimeIndex of ``returns`` (365-day year), else 365 (daily crypto bars).
    annualized : bool, default True
        ``trials`` Sharpe ratios and ``sharpe_variance`` are annualized (as quantlab's sweep
        tables report them): they are converted to per period by dividing Sharpe ratios by
        ``sqrt(periods_per_year)`` and the variance by ``periods_per_year``. Pass False for
        per-period figures.

    Returns
    -------
    DeflatedSharpeResult

    Raises
    ------
    DataError
        Fewer than 2 returns, NaN/inf returns, constant returns, or fewer than 2 finite trial
        Sharpe ratios to take a variance of.
    ParameterError
        ``trials < 1``, no ``sharpe_variance`` for an int ``trials > 1``, a negative variance or
        a non-positive ``periods_per_year``.

    Examples
    --------
    >>> res = deflated_sharpe(strategy_returns, trials=sweep_result.table["sharpe"])
    >>> res.dsr, res.passed(0.95)
    """
    arr, index = _returns_array(returns)
    if periods_per_year is None:
        ppy = _infer_ppy(index) if isinstance(index, pd.DatetimeIndex) else DAYS_PER_YEAR
    else:
        ppy = check_range(periods_per_year, "periods_per_year", 0, open_low=True)
    if not isinstance(annualized, bool | np.bool_):
        raise ParameterError(f"annualized={annualized!r} must be True or False")
    unit = float(ppy) if annualized else 1.0

    trial_sharpes: np.ndarray | None = None
    if np.ndim(trials) == 0:
        n_trials = check_range(trials, "trials", 1, integer=True, hint="(the number of "
                               "configurations tried, or an array of their Sharpe ratios)")
        if sharpe_variance is None and n_trials > 1:
            raise ParameterError(f"trials={n_trials} needs sharpe_variance (the variance of the "
                                 "trials' Sharpe ratios), or pass the Sharpe ratios as trials")
        variance = 0.0 if sharpe_variance is None else check_range(sharpe_variance,
                                                                   "sharpe_variance", 0) / unit
    else:
        try:
            all_sr = np.asarray(trials, dtype=float).ravel()
        except (TypeError, ValueError) as exc:
            raise DataError(f"trials must be numbers ({exc})") from None
        n_trials = int(all_sr.size)
        if n_trials < 1:
            raise ParameterError("trials is empty: pass the Sharpe ratios of at least one trial")
        finite = all_sr[np.isfinite(all_sr)] / math.sqrt(unit)
        trial_sharpes = finite
        if sharpe_variance is not None:
            variance = check_range(sharpe_variance, "sharpe_variance", 0) / unit
        elif n_trials == 1:
            variance = 0.0
        elif finite.size < 2:
            raise DataError(f"trials holds {finite.size} finite Sharpe ratio(s) out of "
                            f"{n_trials}: at least 2 are needed for their variance")
        else:
            variance = float(np.var(finite, ddof=1))

    sd = float(np.std(arr, ddof=1))
    if not sd > 0:
        raise DataError("returns are constant: their Sharpe ratio is undefined")
    sr = float(np.mean(arr)) / sd
    centred = arr - arr.mean()
    m2 = float(np.mean(centred ** 2))
    skew = float(np.mean(centred ** 3)) / m2 ** 1.5
    kurt = float(np.mean(centred ** 4)) / m2 ** 2
    n = int(arr.size)
    sr0 = expected_max_sharpe(n_trials, variance)
    root = math.sqrt(float(ppy))
    return DeflatedSharpeResult(
        sharpe=sr, sharpe_annualized=sr * root, n_obs=n, skew=skew, kurtosis=kurt,
        trials=n_trials, sharpe_variance=variance, sr0=sr0, sr0_annualized=sr0 * root,
        dsr=probabilistic_sharpe(sr, sr0, n, skew, kurt),
        psr=probabilistic_sharpe(sr, 0.0, n, skew, kurt),
        periods_per_year=float(ppy), trial_sharpes=trial_sharpes)
