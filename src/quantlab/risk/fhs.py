"""Filtered historical simulation (Barone-Adesi, Giannopoulos & Vosper 1999; Hull & White 1998).

Filter (``filter="garch"``, default): GARCH(1,1) fitted by Gaussian quasi-maximum likelihood with
the ``arch`` package on ``100 * r`` (rescaled back), constant mean (``mean="constant"``) or zero
mean (``mean="zero"``)::

    eps_t     = r_t - mu
    sigma2_1  = omega + (alpha + beta) * backcast     (arch's backcast: 0.94-weighted mean of
                                                       squared residuals about the sample mean,
                                                       or 0 for mean="zero", over the first
                                                       min(75, n) bars)
    sigma2_t  = omega + alpha eps_{t-1}^2 + beta sigma2_{t-1}

(``filter="ewma"``: ``sigma2_1 = mean(eps^2)`` of the first 30 bars and
``sigma2_t = lam sigma2_{t-1} + (1 - lam) eps_{t-1}^2``, ``lam = 0.94``). The filter is run by
this module (vectorized across windows), so rolling forecasts can keep parameters fixed between
refits; it reproduces arch's ``conditional_volatility``.

Standardized residuals ``z_t = eps_t / sigma_t`` are bootstrapped (uniform draws with replacement,
``n_paths`` = 100,000 by default) and rescaled by the one-step-ahead forecast
``sigma_{n+1}``: ``r* = mu + sigma_{n+1} z*``. For ``h > 1`` each path runs the variance recursion
on its own simulated shocks and the ``h`` returns are compounded ("aggregation"). VaR/ES come from
the simulated returns with the historical convention (inverted-CDF quantile, mean of the ``k``
worst paths).

For several assets the *portfolio* return series is filtered (constant weights), not each asset.

Random numbers: the bootstrap indices (shape ``(n_paths, h)``) are the first draw from
``numpy.random.default_rng(seed)``; rolling forecasts reuse the same index draws every day (common
random numbers), so a rolling forecast equals :func:`value_at_risk` on its window with the same
seed (and ``refit_every=1``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from quantlab._validate import check_choice
from quantlab.risk.ewma import INIT_OBS, LAMBDA
from quantlab.risk.historical import tail_count

__all__ = ["GarchParams", "fhs_tail_from_counts", "filter_windows", "fit_garch", "simulate_fhs"]

N_PATHS = 100_000
FILTERS = ("garch", "ewma")
MEANS = ("constant", "zero")


@dataclass(frozen=True)
class GarchParams:
    """GARCH(1,1) parameters in return units (``omega`` in return^2)."""

    mu: float
    omega: float
    alpha: float
    beta: float


def check_filter(filter: str, mean: str) -> None:
    check_choice(filter, "filter", FILTERS)
    check_choice(mean, "mean", MEANS)


def fit_garch(x: np.ndarray, mean: str = "constant") -> GarchParams:
    """Fit GARCH(1,1) with ``arch`` (normal QMLE on percent returns).

    Filter the data with ``filter_windows(..., backcast_center=backcast_center(x, mean))`` to
    reproduce arch's conditional volatility.
    """
    from arch import arch_model

    x = np.asarray(x, dtype="float64")
    model = arch_model(100.0 * x, mean="Constant" if mean == "constant" else "Zero",
                       vol="GARCH", p=1, q=1, dist="normal", rescale=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = model.fit(disp="off", show_warning=False)
    p = res.params
    mu = float(p["mu"]) / 100.0 if mean == "constant" else 0.0
    return GarchParams(mu=mu, omega=float(p["omega"]) / 1e4, alpha=float(p["alpha[1]"]),
                       beta=float(p["beta[1]"]))


def backcast_center(x: np.ndarray, mean: str) -> np.ndarray:
    """Per-row centre of arch's backcast residuals: sample mean or zero."""
    x = np.atleast_2d(np.asarray(x, dtype="float64"))
    return x.mean(axis=1) if mean == "constant" else np.zeros(len(x))


def filter_windows(x: np.ndarray, mu: np.ndarray, omega: np.ndarray, alpha: np.ndarray,
                   beta: np.ndarray, filter: str = "garch", lam: float = LAMBDA,
                   backcast_center: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Run the variance filter over each row of ``x`` (shape ``(m, n)``).

    Parameters are arrays of shape ``(m,)`` (one set per row; ignored except ``mu`` for EWMA).
    ``backcast_center`` (per row) is the mean removed before the GARCH backcast; arch uses the
    residuals at its starting values, i.e. the sample mean (constant mean) or 0 (zero mean).
    Default: ``mu``.

    Returns
    -------
    (z, sigma2_next)
        Standardized residuals ``(m, n)`` and the one-step-ahead variance ``(m,)``.
    """
    x = np.atleast_2d(np.asarray(x, dtype="float64"))
    m, n = x.shape
    eps = x - np.asarray(mu, dtype="float64").reshape(-1, 1)
    e2 = eps * eps
    s2 = np.empty((m, n))
    if filter == "garch":
        omega, alpha, beta = (np.broadcast_to(np.asarray(v, dtype="float64"), (m,))
                              for v in (omega, alpha, beta))
        tau = min(75, n)
        bw = 0.94 ** np.arange(tau)
        bw /= bw.sum()
        if backcast_center is None:
            backcast = e2[:, :tau] @ bw
        else:
            c = np.asarray(backcast_center, dtype="float64").reshape(-1, 1)
            backcast = (x[:, :tau] - c) ** 2 @ bw
        s2[:, 0] = omega + (alpha + beta) * backcast
        for t in range(1, n):
            s2[:, t] = omega + alpha * e2[:, t - 1] + beta * s2[:, t - 1]
        nxt = omega + alpha * e2[:, -1] + beta * s2[:, -1]
    else:
        s2[:, 0] = e2[:, : min(INIT_OBS, n)].mean(axis=1)
        for t in range(1, n):
            s2[:, t] = lam * s2[:, t - 1] + (1 - lam) * e2[:, t - 1]
        nxt = lam * s2[:, -1] + (1 - lam) * e2[:, -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(s2 > 0, eps / np.sqrt(np.where(s2 > 0, s2, 1.0)), 0.0)
    return z, nxt


def simulate_fhs(z: np.ndarray, idx: np.ndarray, mu: float, sigma2_next: float,
                 params: GarchParams | None, lam: float = LAMBDA) -> np.ndarray:
    """Simulated ``h``-bar returns for one window: ``idx`` has shape ``(n_paths, h)``.

    ``params`` drives the GARCH recursion along each path (``None`` = EWMA with ``lam``).
    """
    h = idx.shape[1]
    s2 = np.full(idx.shape[0], sigma2_next)
    growth = np.ones(idx.shape[0])
    for s in range(h):
        eps = np.sqrt(s2) * z[idx[:, s]]
        if h == 1:
            return mu + eps
        growth *= 1.0 + mu + eps
        if params is None:
            s2 = lam * s2 + (1 - lam) * eps * eps
        else:
            s2 = params.omega + params.alpha * eps * eps + params.beta * s2
    return growth - 1.0


def fhs_tail_from_counts(z: np.ndarray, counts: np.ndarray, mu: np.ndarray, sigma_next: np.ndarray,
                         level: float) -> tuple[np.ndarray, np.ndarray]:
    """One-bar FHS VaR/ES of many windows that share the same bootstrap indices.

    With indices ``idx`` reused across windows, the simulated sample of window ``i`` is the
    multiset ``mu_i + sigma_i z_i[idx]``; ``counts = bincount(idx)`` gives each residual's
    multiplicity, so the order statistics follow from sorting the ``n`` residuals instead of the
    ``n_paths`` simulations (same figures as :func:`simulate_fhs` + the historical tail).
    """
    n_paths = int(counts.sum())
    k = tail_count(n_paths, level)
    order = np.argsort(z, axis=1, kind="stable")
    zs = np.take_along_axis(z, order, axis=1)
    cs = counts[order]
    cum = np.cumsum(cs, axis=1)
    j = (cum < k).sum(axis=1)
    rows = np.arange(len(z))
    q = zs[rows, j]
    before = np.cumsum(cs * zs, axis=1)
    below = np.where(j > 0, before[rows, np.maximum(j - 1, 0)], 0.0)
    n_below = np.where(j > 0, cum[rows, np.maximum(j - 1, 0)], 0)
    tail_sum = below + (k - n_below) * q
    var = -(mu + sigma_next * q)
    es = -(mu + sigma_next * tail_sum / k)
    return var, np.maximum(es, var)
