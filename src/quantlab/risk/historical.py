"""Historical-simulation VaR/ES: plain and age-weighted (Boudoukh, Richardson & Whitelaw 1998).

Quantile convention (both methods)
----------------------------------
VaR is minus the empirical ``alpha = 1 - level`` quantile with the *inverted-CDF* rule
(Hyndman & Fan type 1, numpy ``method="inverted_cdf"``): sort the ``n`` returns ascending,
``r_(1) <= ... <= r_(n)``, and take ``VaR = -r_(k)`` with ``k = ceil(n * alpha)`` (at least 1), the
smallest order statistic whose empirical CDF ``k/n`` reaches ``alpha``. A tolerance of 1e-10 on
``alpha`` absorbs floating error (``1 - 0.99`` is ``0.010000000000000009``, so ``n = 100`` gives
``k = 1``, the single worst return). No interpolation.

ES is the tail mean of the ``k`` worst returns, ``ES = -(1/k) * sum_{i<=k} r_(i)``, so ES >= VaR.

Age weighting gives the ``i``-th newest observation (``i = 1`` newest) the probability
``w_i = lambda^(i-1) (1-lambda) / (1-lambda^n)``; VaR is minus the first sorted return at which
the cumulative weight reaches ``alpha`` (no interpolation, the same crossing rule as above, so
``lambda -> 1`` gives the plain historical figure) and ES is the weight-averaged return of the
sorted returns up to and including that crossing one.

Horizon ``h > 1``: overlapping ``h``-bar compounded returns ``prod(1 + r) - 1`` of the sample
(``n - h + 1`` of them; their age is that of their last bar) replace the one-bar returns
("aggregation" scaling).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "age_weighted_var_es",
    "aggregate_returns",
    "historical_var_es",
    "tail_count",
]

_TOL = 1e-10


def tail_count(n: int, level: float) -> int:
    """Number ``k`` of order statistics in the tail: ``ceil(n * (1 - level))``, at least 1."""
    return max(1, min(n, math.ceil(n * ((1.0 - level) - _TOL))))


def aggregate_returns(x: np.ndarray, horizon: int) -> np.ndarray:
    """Overlapping ``horizon``-bar compounded returns along the last axis."""
    x = np.asarray(x, dtype="float64")
    if horizon == 1:
        return x
    logs = np.log1p(x)
    c = np.cumsum(logs, axis=-1)
    zero = np.zeros((*c.shape[:-1], 1))
    c = np.concatenate([zero, c], axis=-1)
    return np.expm1(c[..., horizon:] - c[..., :-horizon])


def historical_var_es(x: np.ndarray, level: float, horizon: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Historical VaR/ES of each row of ``x`` (shape ``(n,)`` or ``(m, n)``).

    Returns
    -------
    (var, es)
        Floats for 1-D input, arrays of shape ``(m,)`` otherwise.
    """
    x = aggregate_returns(x, horizon)
    one = x.ndim == 1
    x2 = np.atleast_2d(x)
    k = tail_count(x2.shape[1], level)
    part = np.partition(x2, k - 1, axis=1)[:, :k]
    var = -part[:, k - 1]
    es = np.maximum(-part.mean(axis=1), var)  # rounding guard: a mean of equal values
    return (float(var[0]), float(es[0])) if one else (var, es)


def age_weights(n: int, lam: float) -> np.ndarray:
    """Probabilities by age, oldest first (so they align with a chronological sample)."""
    if lam == 1.0:
        return np.full(n, 1.0 / n)
    ages = np.arange(n - 1, -1, -1, dtype="float64")  # oldest has age n-1
    w = lam**ages
    return w / w.sum()


def age_weighted_var_es(x: np.ndarray, level: float, horizon: int = 1,
                        lam: float = 0.98) -> tuple[np.ndarray, np.ndarray]:
    """Age-weighted historical VaR/ES (BRW 1998) of each row of ``x`` (chronological order)."""
    x = aggregate_returns(x, horizon)
    one = x.ndim == 1
    x2 = np.atleast_2d(x)
    n = x2.shape[1]
    alpha = 1.0 - level
    w = age_weights(n, lam)
    order = np.argsort(x2, axis=1, kind="stable")
    xs = np.take_along_axis(x2, order, axis=1)
    ws = w[order]
    cw = np.cumsum(ws, axis=1)
    j = np.minimum((cw < alpha - _TOL).sum(axis=1), n - 1)  # first index with cw >= alpha
    rows = np.arange(len(x2))
    var = -xs[rows, j]
    cwx = np.cumsum(ws * xs, axis=1)
    es = -cwx[rows, j] / cw[rows, j]
    es = np.maximum(es, var)  # guard against rounding when all tail returns are equal
    return (float(var[0]), float(es[0])) if one else (var, es)
