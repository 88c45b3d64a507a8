"""The model behind the ``regime`` strategy: a two-regime Markov-switching model of returns.

Three small pieces, each usable on its own:

- :func:`retrain_mask` -- the retraining schedule, anchored to absolute bar times (epoch), so a
  backtest over the whole history and a live runner's rolling window agree on which bars refit;
- :func:`fit_regimes` -- a deterministic maximum-likelihood fit of statsmodels'
  ``MarkovRegression`` (2 regimes, switching variance, one constant mean) to returns in percent;
  ``None`` when the fit fails or does not converge;
- :func:`calm_probability` -- Hamilton-filtered (not smoothed) probabilities of the calm
  (lower-variance) regime with fitted parameters: the value at ``t`` uses returns up to ``t``.

:class:`LruCache` is the bounded, thread-safe memo the strategy keeps at class level, keyed by
the exact bytes of the inputs, so a live runner that calls the strategy every bar on a rolling
window refits only when a new retraining bar arrives.

statsmodels is imported on first use (the live runner does not pay for it unless it runs this
strategy).
"""

from __future__ import annotations

import hashlib
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

__all__ = [
    "SCALE",
    "LruCache",
    "RegimeFit",
    "bar_duration_ms",
    "calm_probability",
    "digest",
    "fit_regimes",
    "retrain_mask",
]

#: Returns are modelled in percent (simple return x 100): variances of order 1-100 keep the
#: optimizer well scaled.
SCALE = 100.0

#: Optimizer settings of :func:`fit_regimes` (fixed: the fit must be reproducible bit for bit).
FIT_OPTIONS: dict[str, object] = {"method": "bfgs", "maxiter": 200, "em_iter": 5,
                                  "search_reps": 0, "cov_type": "none", "disp": False}

V = TypeVar("V")


@dataclass(frozen=True)
class RegimeFit:
    """A converged two-regime fit.

    Attributes
    ----------
    params : tuple of float
        statsmodels parameters in the model's order
        (``p[0->0], p[1->0], const, sigma2[0], sigma2[1]``).
    calm : int
        Index (0 or 1) of the regime with the lower variance.
    sigma2 : tuple of float
        Variance of each regime's returns, in percent squared.
    llf : float
        Log-likelihood at the optimum.
    """

    params: tuple[float, ...]
    calm: int
    sigma2: tuple[float, float]
    llf: float


def _model(y: np.ndarray) -> object:
    from statsmodels.tsa.regime_switching.markov_regression import MarkovRegression

    return MarkovRegression(np.ascontiguousarray(y, dtype=np.float64), k_regimes=2, trend="c",
                            switching_trend=False, switching_variance=True)


def fit_regimes(returns: np.ndarray) -> RegimeFit | None:
    """Fit the two-regime switching-variance model to ``returns`` by maximum likelihood.

    The fit is deterministic: statsmodels' default start parameters (from the data's moments),
    5 EM steps, then BFGS, no random search (``search_reps=0``).

    Parameters
    ----------
    returns : ndarray
        Simple returns **in percent** (``SCALE`` x the fraction), all finite.

    Returns
    -------
    RegimeFit or None
        None when the data cannot be fitted (non-finite values, too few or constant returns),
        the optimizer raises, or it reports no convergence, or the parameters are not finite.
    """
    y = np.asarray(returns, dtype=np.float64)
    if y.ndim != 1 or len(y) < 10 or not np.isfinite(y).all() or np.ptp(y) == 0.0:
        return None
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            mod = _model(y)
            res = mod.fit(**FIT_OPTIONS)  # type: ignore[attr-defined]
    except (ValueError, ArithmeticError, np.linalg.LinAlgError):
        return None
    params = np.asarray(res.params, dtype=np.float64)
    if not bool(res.mle_retvals.get("converged", False)) or not np.isfinite(params).all():
        return None
    names = list(mod.param_names)  # type: ignore[attr-defined]
    sigma2 = (float(params[names.index("sigma2[0]")]), float(params[names.index("sigma2[1]")]))
    if min(sigma2) <= 0.0:
        return None
    return RegimeFit(params=tuple(float(p) for p in params), calm=int(np.argmin(sigma2)),
                     sigma2=sigma2, llf=float(res.llf))


def calm_probability(fit: RegimeFit, returns: np.ndarray) -> np.ndarray:
    """Filtered probability of the calm regime at each return, with ``fit``'s parameters.

    The Hamilton filter runs forward from the first return (started at the chain's stationary
    distribution), so the value at ``t`` depends on ``returns[:t+1]`` only and is bit-identical
    whatever follows.

    Parameters
    ----------
    fit : RegimeFit
        A fit from :func:`fit_regimes`.
    returns : ndarray
        Returns in percent, all finite.

    Returns
    -------
    ndarray
        float64, same length as ``returns``.
    """
    y = np.asarray(returns, dtype=np.float64)
    if len(y) == 0:
        return np.empty(0)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        res = _model(y).filter(np.asarray(fit.params))  # type: ignore[attr-defined]
    probs = np.asarray(res.filtered_marginal_probabilities, dtype=np.float64)
    return np.ascontiguousarray(probs[:, fit.calm])


def bar_duration_ms(times_ms: np.ndarray) -> int | None:
    """The bar length of a time index: its most frequent positive spacing (ties: the
    shortest). None for fewer than two bars."""
    diffs = np.diff(np.asarray(times_ms, dtype=np.int64))
    diffs = diffs[diffs > 0]
    if not len(diffs):
        return None
    values, counts = np.unique(diffs, return_counts=True)
    return int(values[np.argmax(counts)])


def retrain_mask(times_ms: np.ndarray, every: int, bar_ms: int | None = None) -> np.ndarray:
    """Bars at which the model is refitted: the first bar of each block of ``every`` bars
    counted from the Unix epoch.

    Block ``b`` holds the bars whose absolute index ``k = open_time_ms // bar_ms`` satisfies
    ``k // every == b``; on a gap-free grid the retraining bars are those with
    ``k % every == 0``. A bar is a retraining bar when its block differs from the previous
    bar's (the first bar of the frame: when ``k % every == 0``), so the schedule does not depend
    on where the frame starts.

    Parameters
    ----------
    times_ms : ndarray
        Bar open times in milliseconds since the epoch, increasing.
    every : int
        Bars between refits.
    bar_ms : int, optional
        Bar length; default :func:`bar_duration_ms` of ``times_ms``.

    Returns
    -------
    ndarray of bool
    """
    t = np.asarray(times_ms, dtype=np.int64)
    bar = bar_duration_ms(t) if bar_ms is None else int(bar_ms)
    if bar is None or not len(t):
        return np.zeros(len(t), dtype=bool)
    k = t // bar
    block = k // int(every)
    out = np.empty(len(t), dtype=bool)
    out[0] = k[0] % int(every) == 0
    out[1:] = block[1:] != block[:-1]
    return out


def digest(array: np.ndarray) -> bytes:
    """A content hash of a float array (its length and exact bytes)."""
    a = np.ascontiguousarray(array, dtype=np.float64)
    return hashlib.blake2b(a.tobytes(), digest_size=16, person=b"ql-regime").digest() \
        + len(a).to_bytes(8, "little")


class LruCache(Generic[V]):
    """A bounded least-recently-used memo, safe to share between threads.

    Parameters
    ----------
    maxsize : int
        Entries kept; the least recently used one is dropped beyond that.
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = int(maxsize)
        self._data: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, compute: Callable[[], V]) -> V:
        """The cached value of ``key``, computing (and storing) it on a miss."""
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                self.hits += 1
                return self._data[key]
            self.misses += 1
        value = compute()  # outside the lock: a duplicate computation gives the same value
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)
        return value

    def keys(self) -> list[Hashable]:
        """The cached keys, least recently used first."""
        with self._lock:
            return list(self._data)

    def clear(self) -> None:
        """Drop every entry and reset the counters."""
        with self._lock:
            self._data.clear()
            self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._data)
