"""Markov-switching regime filter: long in the calm regime, refitted on a fixed schedule."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd

from quantlab.errors import ParameterError
from quantlab.strategies.base import Param, Signals, Strategy
from quantlab.strategies.regime_model import (
    SCALE,
    LruCache,
    RegimeFit,
    calm_probability,
    digest,
    fit_regimes,
    retrain_mask,
)
from quantlab.strategies.registry import register

__all__ = ["MarkovRegime"]


@register
class MarkovRegime(Strategy):
    """Two-regime Markov-switching model of returns: long while the calm regime is likely.

    Model: statsmodels' ``MarkovRegression`` on simple returns in percent, two regimes with
    their own variance and one common mean; *calm* is the regime with the lower fitted variance
    (see :mod:`quantlab.strategies.regime_model`).

    Schedule (strictly causal, the same in a backtest and in a live window): the model is
    refitted at every *retraining bar*, the first bar of each block of ``every`` bars counted
    from the Unix epoch (``(open_time_ms // bar_ms) % every == 0`` on a gap-free grid; the bar
    length is the index's most frequent spacing). The fit at retraining bar ``r`` uses the
    ``train`` returns ending at ``r``'s close (closes ``r-train .. r``) and serves the bars
    ``r .. r'-1`` up to the next retraining bar ``r'``: the decision at the close of bar ``t``
    uses parameters fitted on closes up to ``r <= t`` only. The probability at ``t`` is the
    Hamilton *filtered* probability of the calm regime, running those parameters forward over
    the returns from ``r-train+1`` to ``t`` (never the smoothed one, which reads the future).

    Signals are regime changes: an entry on the bar where the calm probability rises above
    ``threshold``, an exit where it falls to or below it. Bars without a model -- fewer than
    ``train`` returns before the first retraining bar, or a fit that fails or does not converge
    (e.g. constant prices) -- count as not calm, so an open position is exited and no entry is
    made until the next retraining bar fits: a deterministic fallback, never a random restart.

    Warm-up: the value at bar ``t`` needs closes from ``r - train`` with ``t - r <= every - 1``,
    and an event compares with bar ``t - 1``, which may belong to the previous retraining bar
    ``t - every``; so ``warmup() == train + every`` on a gap-free grid.

    Fits and filtered segments are memoized at class level (an LRU keyed by the retraining
    bar's time and the exact bytes of its data), so a live runner calling :meth:`signals` every
    bar on a rolling window refits once per retraining bar, and the promote gates' prefix runs
    reuse the fits of the full run.
    """

    name = "regime"
    warmup_doc: ClassVar[str] = "train + every"

    train = Param(365, low=50, high=5000, doc="returns in each (rolling) training window",
                  grid=(180, 730, 90))
    every = Param(30, low=1, high=1000, doc="bars between refits (anchored to the epoch)",
                  grid=(10, 90, 10))
    threshold = Param(0.5, low=0.0, high=1.0, doc="calm probability above which to be long",
                      grid=(0.5, 0.9, 0.1))

    #: Fitted models by (retraining bar time, data digest): a few hundred tiny entries.
    _fits: ClassVar[LruCache[RegimeFit | None]] = LruCache(4096)
    #: Filtered calm probabilities by (fit key, segment digest): one segment of
    #: ``train + every`` floats each.
    _probs: ClassVar[LruCache[np.ndarray]] = LruCache(1024)

    def validate(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ParameterError(
                f"{self.label()}: threshold ({self.threshold:g}) must be strictly between 0 and 1"
            )

    def warmup(self) -> int:
        return int(self.train) + int(self.every)

    @classmethod
    def clear_cache(cls) -> None:
        """Forget every memoized fit and filtered segment (the next run refits)."""
        cls._fits.clear()
        cls._probs.clear()

    # -- schedule ----------------------------------------------------------------------
    def retrain_times(self, index: pd.DatetimeIndex | pd.DataFrame) -> pd.DatetimeIndex:
        """The bars of ``index`` (or of a bars frame) at which the model is refitted.

        Parameters
        ----------
        index : DatetimeIndex or DataFrame
            Bar open times, or bars whose index they are.

        Returns
        -------
        DatetimeIndex
            The retraining bars, whatever has enough history to be fitted or not.
        """
        idx = index.index if isinstance(index, pd.DataFrame) else index
        return idx[retrain_mask(_times_ms(idx), self.every)]

    # -- model -------------------------------------------------------------------------
    def calm_probability(self, bars: pd.DataFrame) -> pd.Series | pd.DataFrame:
        """Filtered probability of the calm regime at each bar (NaN where no model applies).

        Parameters
        ----------
        bars : DataFrame
            OHLCV bars of one asset, or a ``(field, symbol)`` panel.

        Returns
        -------
        Series or DataFrame
            Aligned to ``bars.index`` (one column per symbol for a panel); the value at ``t``
            uses closes up to ``t`` only.
        """
        close = bars["close"]
        times = _times_ms(bars.index)
        mask = retrain_mask(times, self.every)
        if isinstance(close, pd.DataFrame):
            cols = {c: self._probability(close[c].to_numpy(dtype=np.float64), times, mask)
                    for c in close.columns}
            return pd.DataFrame(cols, index=bars.index, columns=close.columns)
        return pd.Series(self._probability(close.to_numpy(dtype=np.float64), times, mask),
                         index=bars.index, name="calm_probability")

    def _probability(self, close: np.ndarray, times: np.ndarray, mask: np.ndarray) -> np.ndarray:
        n, train = len(close), int(self.train)
        out = np.full(n, np.nan)
        if n < 2:
            return out
        ret = np.full(n, np.nan)  # ret[i]: return of bar i in percent (bar i-1 close -> i close)
        with np.errstate(all="ignore"):
            ret[1:] = (close[1:] / close[:-1] - 1.0) * SCALE
        starts = np.flatnonzero(mask)
        if not len(starts):
            return out
        ends = np.append(starts[1:], n)
        for r, end in zip(starts, ends, strict=True):
            first = r - train + 1  # first training return (needs close r - train)
            if first < 1:
                continue
            y = ret[first: r + 1]
            key = (int(times[r]), digest(y))
            fit = self._fits.get(key, lambda y=y: fit_regimes(y))
            if fit is None:
                continue
            seg = ret[first:end]
            bad = np.flatnonzero(~np.isfinite(seg))
            if len(bad):  # a missing close ends the segment: no probability after it
                seg = seg[: bad[0]]
            if len(seg) < train:
                continue
            pkey = (key, digest(seg))
            probs = self._probs.get(pkey, lambda fit=fit, seg=seg: calm_probability(fit, seg))
            out[r: first + len(seg)] = probs[train - 1:]
        return out

    def signals(self, bars: pd.DataFrame) -> Signals:
        calm = self.calm_probability(bars) > self.threshold  # NaN (no model): not calm
        prev = calm.shift(1, fill_value=False).astype(bool)
        return Signals(entries=calm & ~prev, exits=~calm & prev)


def _times_ms(index: pd.Index) -> np.ndarray:
    """Bar open times in milliseconds since the epoch."""
    return np.asarray(pd.DatetimeIndex(index).as_unit("ns").asi8 // 1_000_000, dtype=np.int64)
