"""Probability of backtest overfitting (PBO) by combinatorially symmetric cross-validation.

:func:`pbo` asks how often the configuration that is best in-sample lands in the bottom half
out-of-sample. Combinatorially symmetric cross-validation (CSCV) of Bailey, D. H., Borwein, J.,
López de Prado, M. and Zhu, Q. J. (2017), "The Probability of Backtest Overfitting", *Journal
of Computational Finance* 20(4), pp. 39-69. The deflated Sharpe ratio, the other overfitting
statistic of the promotion gates, is in :mod:`.dsr`.

The Sharpe ratio used as a metric is **per period** (per bar, risk-free rate 0), never
annualized: ``SR = mean / std`` of the returns, ``std`` with ``ddof=1``.

Everything here is a pure function of numpy/pandas inputs; nothing is fetched or cached.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from quantlab._result import Result
from quantlab._validate import check_choice, check_range
from quantlab.errors import DataError, ParameterError

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go

__all__ = [
    "PBO_METRICS",
    "PBOResult",
    "pbo",
]

#: Performance metrics :func:`pbo` ranks configurations by.
PBO_METRICS = ("sharpe", "mean")


@dataclass(frozen=True, repr=False)
class PBOResult(Result):
    """Probability of backtest overfitting estimated by CSCV (:func:`pbo`).

    Attributes
    ----------
    pbo : float
        Share of the ``C(S, S/2)`` splits where the configuration best in-sample ranks at or
        below the out-of-sample median (logit ``λ <= 0``).
    prob_loss : float
        Share of splits where the selected configuration's out-of-sample metric is negative.
    degradation_slope, degradation_intercept : float
        Least-squares line ``oos = intercept + slope * is`` through the selected configuration's
        (in-sample, out-of-sample) metric pairs; a slope below 0 means in-sample performance
        does not carry over (NaN when the in-sample metric never varies).
    metric : {"sharpe", "mean"}
        Performance metric (per-period Sharpe, or mean return).
    n_splits : int
        Number of blocks ``S``.
    n_configs : int
        Number of configurations ``N`` (columns).
    n_obs : int
        Rows used (``S`` times the block size).
    dropped_rows : int
        Rows dropped at the start so the blocks have equal size.
    splits : DataFrame
        One row per split: ``is_blocks`` (the in-sample block numbers, ``"0,3,..."``),
        ``selected`` (column label), ``is_metric``, ``oos_metric``, ``oos_rank`` (1 = worst,
        ``N`` = best, ties averaged), ``omega`` (``rank / (N + 1)``) and ``logit``.
    """

    pbo: float
    prob_loss: float
    degradation_slope: float
    degradation_intercept: float
    metric: str
    n_splits: int
    n_configs: int
    n_obs: int
    dropped_rows: int
    splits: pd.DataFrame = field(compare=False)

    _percent = frozenset({"pbo", "prob_loss", "median_omega"})

    @property
    def logits(self) -> pd.Series:
        """The logit ``λ`` of every split."""
        return self.splits["logit"]

    @property
    def n_combinations(self) -> int:
        """Number of splits ``C(S, S/2)``."""
        return len(self.splits)

    def title(self) -> str:
        return (f"PBO {self.pbo:.1%} over {self.n_combinations:,} CSCV splits (S={self.n_splits}) "
                f"of {self.n_configs:,} configurations, metric {self.metric}; "
                f"P(OOS loss) {self.prob_loss:.1%}")

    def stats(self) -> pd.Series:
        """pbo, prob_loss, the degradation line, logit mean/median, and the sizes."""
        lam = self.splits["logit"]
        return pd.Series({
            "pbo": self.pbo, "prob_loss": self.prob_loss,
            "degradation_slope": self.degradation_slope,
            "degradation_intercept": self.degradation_intercept,
            "logit_mean": float(lam.mean()), "logit_median": float(lam.median()),
            "median_omega": float(self.splits["omega"].median()),
            "mean_is_metric": float(self.splits["is_metric"].mean()),
            "mean_oos_metric": float(self.splits["oos_metric"].mean()),
            "n_combinations": self.n_combinations, "n_splits": self.n_splits,
            "n_configs": self.n_configs, "n_obs": self.n_obs, "dropped_rows": self.dropped_rows,
            "metric": self.metric,
        }, dtype=object, name="pbo")

    def _extra_dict(self) -> dict[str, Any]:
        counts = np.histogram(self.splits["logit"].to_numpy(), bins=20)
        return {"logit_histogram": {"counts": counts[0], "edges": counts[1]}}

    def _figure(self, **kwargs: Any) -> go.Figure:
        """Histogram of the logits ``λ`` with the overfitting region ``λ <= 0`` marked."""
        import plotly.graph_objects as go

        fig = go.Figure(go.Histogram(x=self.splits["logit"].to_numpy(), nbinsx=40,
                                     marker_color="#1f77b4", name="λ"))
        fig.add_vline(x=0, line_dash="dash", line_color="#d62728")
        fig.update_layout(title=f"CSCV logits: PBO {self.pbo:.1%} (share at or left of 0)",
                          xaxis_title="λ = logit of the OOS relative rank of the IS best",
                          yaxis_title="splits", template="plotly_white", **kwargs)
        return fig


def _performance_matrix(performance: Any) -> tuple[np.ndarray, list[Any]]:
    if isinstance(performance, pd.DataFrame):
        labels = list(performance.columns)
        values = performance.to_numpy()
    else:
        values = np.asarray(performance)
        if values.ndim != 2:
            raise DataError(f"performance must be a 2-D table (rows = periods, columns = "
                            f"configurations), got shape {values.shape}")
        labels = list(range(values.shape[1]))
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"performance must hold numbers ({exc})") from None
    if arr.shape[1] < 2:
        raise DataError(f"performance needs at least 2 configurations (columns), got "
                        f"{arr.shape[1]}")
    bad = ~np.isfinite(arr)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataError(f"performance holds {int(bad.sum())} NaN/inf values (first at row "
                        f"{row}, column {labels[col]!r}); drop or fill them first")
    return arr, labels


def _metric(total: np.ndarray, total_sq: np.ndarray, count: int, shift: np.ndarray,
            metric: str) -> np.ndarray:
    """Metric of every (split, column) from sums of shifted returns ``r - shift``."""
    mean_c = total / count
    mean = mean_c + shift
    if metric == "mean":
        return mean
    var = np.maximum(total_sq - count * mean_c ** 2, 0.0) / (count - 1)
    sd = np.sqrt(var)
    scale = np.maximum(np.abs(shift), 1.0) * 1e-12  # rounding noise of a constant column
    flat = sd <= scale
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(flat, np.sign(mean) * np.inf, mean / sd)
    return np.where(flat & (mean == 0), 0.0, out)


def pbo(performance: pd.DataFrame | np.ndarray, *, n_splits: int = 16,
        metric: str = "sharpe") -> PBOResult:
    """Probability of backtest overfitting by combinatorially symmetric cross-validation.

    CSCV (Bailey, Borwein, López de Prado and Zhu 2017, section 2): split the ``T`` rows of the
    performance matrix into ``S`` contiguous blocks of equal size; for each of the
    ``C(S, S/2)`` ways of choosing ``S/2`` blocks as the in-sample (IS) set, the other blocks
    being the out-of-sample (OOS) set,

    1. pick the configuration ``n*`` with the best IS metric;
    2. rank every configuration by its OOS metric, ``1`` (worst) to ``N`` (best), and take the
       relative rank ``ω = rank(n*) / (N + 1)``;
    3. take the logit ``λ = ln(ω / (1 - ω))`` (``λ > 0``: ``n*`` beat the OOS median).

    ``PBO`` is the share of splits with ``λ <= 0``.

    Parameters
    ----------
    performance : DataFrame or 2-D array
        Rows = time periods (in order), columns = configurations (the trials of a sweep),
        values = per-period returns. No NaN.
    n_splits : int, default 16
        Number of blocks ``S`` (even, >= 2). ``T mod S`` rows are dropped **at the start** so
        every block has ``T // S`` rows (the most recent data are kept).
    metric : {"sharpe", "mean"}, default "sharpe"
        Per-period Sharpe ratio (mean / std with ddof=1 over the concatenated rows of the set;
        a constant column scores 0 when its mean is 0, else ±inf) or mean return.

    Returns
    -------
    PBOResult

    Notes
    -----
    Ties: when several configurations share the best IS metric, the first column among them is
    selected; OOS ranks of tied metrics are averaged (``scipy.stats.rankdata(method="average")``).
    A logit of exactly 0 (the selected configuration at the OOS median, possible for odd ``N``
    or with ties) counts as overfit, following ``PBO = ∫_{-∞}^{0} f(λ) dλ``.
    The result does not depend on the order of the columns when the IS best is unique.
    Cost: ``C(16, 8) = 12,870`` splits use block sums, not the raw rows, so ``S = 16`` on a
    ``1000 x 50`` matrix takes milliseconds.

    Raises
    ------
    ParameterError
        ``n_splits`` odd or < 2, unknown ``metric``.
    DataError
        Fewer than 2 configurations, fewer rows than ``n_splits``, NaN/inf values, or (for the
        Sharpe ratio) in-sample sets of a single row.
    """
    s = check_range(n_splits, "n_splits", 2, integer=True)
    if s % 2:
        raise ParameterError(f"n_splits={s} must be even (half the blocks are in-sample)")
    metric = check_choice(metric, "metric", PBO_METRICS)
    arr, labels = _performance_matrix(performance)
    t, n = arr.shape
    if t < s:
        raise DataError(f"performance has {t} rows, fewer than n_splits={s} blocks")
    size = t // s
    dropped = t - size * s
    arr = arr[dropped:]
    half = size * (s // 2)
    if metric == "sharpe" and half < 2:
        raise DataError(f"in-sample sets of {half} row cannot give a Sharpe ratio: use fewer "
                        f"n_splits or more rows (T={t}, n_splits={s})")

    shift = arr.mean(axis=0)
    centred = (arr - shift).reshape(s, size, n)
    block_sum = centred.sum(axis=1)              # S x N
    block_sq = (centred ** 2).sum(axis=1)        # S x N
    combos = list(itertools.combinations(range(s), s // 2))
    member = np.zeros((len(combos), s))
    for i, c in enumerate(combos):
        member[i, list(c)] = 1.0
    is_sum, is_sq = member @ block_sum, member @ block_sq
    oos_sum, oos_sq = block_sum.sum(axis=0) - is_sum, block_sq.sum(axis=0) - is_sq
    is_m = _metric(is_sum, is_sq, half, shift, metric)
    oos_m = _metric(oos_sum, oos_sq, half, shift, metric)

    rows = np.arange(len(combos))
    best = np.argmax(is_m, axis=1)
    sel_is, sel_oos = is_m[rows, best], oos_m[rows, best]
    below = (oos_m < sel_oos[:, None]).sum(axis=1)
    equal = (oos_m == sel_oos[:, None]).sum(axis=1)
    rank = below + (equal + 1) / 2.0
    omega = rank / (n + 1)
    logit = np.log(omega / (1 - omega))

    finite = np.isfinite(sel_is) & np.isfinite(sel_oos)
    if finite.sum() >= 2 and np.ptp(sel_is[finite]) > 0:
        slope, intercept = np.polyfit(sel_is[finite], sel_oos[finite], 1)
    else:
        slope = intercept = np.nan
    splits = pd.DataFrame({
        "is_blocks": [",".join(map(str, c)) for c in combos],
        "selected": [labels[j] for j in best],
        "is_metric": sel_is, "oos_metric": sel_oos, "oos_rank": rank, "omega": omega,
        "logit": logit,
    })
    splits.index.name = "split"
    return PBOResult(
        pbo=float(np.mean(logit <= 0)), prob_loss=float(np.mean(sel_oos < 0)),
        degradation_slope=float(slope), degradation_intercept=float(intercept), metric=metric,
        n_splits=s, n_configs=n, n_obs=size * s, dropped_rows=dropped, splits=splits)
