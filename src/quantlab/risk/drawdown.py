"""Drawdown analytics: underwater series, drawdown episodes, durations, Ulcer index.

Conventions (the same as :func:`quantlab.backtesting.metrics.drawdown`): the drawdown at bar *t* is
``1 - equity_t / max(equity_0..t)``, a **positive fraction** (0 at a new high, 0.25 = 25 % below
the running peak). All figures are fractions, including the Ulcer index.

An *episode* starts at a peak (the last bar at the running maximum), reaches its trough (the
lowest equity before recovery; the first such bar on ties) and ends at the recovery (the first
later bar whose equity is back at or above the peak), or is still open at the last bar.

* ``duration`` = peak to recovery (open episodes: peak to the last bar), in bars and days;
* ``decline`` = peak to trough; ``recovery`` (recovery time) = trough to recovery;
* ``underwater_bars`` = bars strictly below the peak, i.e. ``duration - 1`` for a recovered
  episode and ``duration`` for an open one; its maximum equals
  :func:`quantlab.backtesting.metrics.max_drawdown_duration`.

With ``from_returns=True`` the equity curve is ``cumprod(1 + r)`` started at 1.0 **one bar
before the first return** (so a loss on the first bar is a drawdown); the underwater series
then has one more point than the returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from quantlab._result import Result
from quantlab._validate import as_returns
from quantlab.errors import DataError, ParameterError

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go

__all__ = [
    "DrawdownResult",
    "drawdown_analysis",
    "drawdown_episodes",
    "ulcer_index",
    "underwater",
]

_EPISODE_COLUMNS = [
    "peak", "trough", "recovery", "depth", "recovered", "decline_bars", "recovery_bars",
    "duration_bars", "underwater_bars", "decline_days", "recovery_days", "duration_days",
]


def _as_series(data: Any, name: str) -> pd.Series:
    if isinstance(data, pd.DataFrame):
        if data.shape[1] != 1:
            raise ParameterError(f"{name} must be one series, got {data.shape[1]} columns")
        data = data.iloc[:, 0]
    if not isinstance(data, pd.Series):
        arr = np.asarray(data, dtype="float64")
        if arr.ndim != 1:
            raise ParameterError(f"{name} must be 1-D, got shape {arr.shape}")
        data = pd.Series(arr)
    try:
        return data.astype("float64")
    except (TypeError, ValueError):
        raise DataError(f"{name} must be numeric") from None


def _base_label(index: pd.Index) -> Any:
    if isinstance(index, pd.DatetimeIndex):
        step = pd.Series(index).diff().median() if len(index) > 1 else pd.Timedelta(days=1)
        return index[0] - step
    if pd.api.types.is_integer_dtype(index.dtype):
        return index[0] - 1
    raise ParameterError("returns need a DatetimeIndex or an integer index to place the "
                         "starting equity of 1.0 one bar before the first return")


def _equity(data: Any, from_returns: bool) -> pd.Series:
    """A validated, strictly positive equity curve."""
    if from_returns:
        r = as_returns(_as_series(data, "returns"), min_obs=1, allow_frame=False)
        if (r < -1.0).any():
            bad = r.index[int(np.argmax((r < -1.0).to_numpy()))]
            raise DataError(f"returns at {bad} are below -100 %")
        if not r.index.is_monotonic_increasing:
            raise DataError("returns must be sorted by time")
        eq = (1.0 + r).cumprod()
        base = pd.Series([1.0], index=pd.Index([_base_label(r.index)]))
        if isinstance(r.index, pd.DatetimeIndex):
            base.index = pd.DatetimeIndex(base.index).as_unit(r.index.unit)
        out = pd.concat([base, eq])
        out.index.name = r.index.name
        out.name = r.name if r.name is not None else "equity"
        return out
    eq = _as_series(data, "equity")
    if eq.empty:
        raise DataError("equity is empty")
    vals = eq.to_numpy()
    bad = ~np.isfinite(vals)
    if bad.any():
        row = int(np.argmax(bad))
        raise DataError(f"equity has NaN/inf at row {row} ({eq.index[row]}); drop or fill it first")
    if (vals <= 0).any():
        row = int(np.argmax(vals <= 0))
        raise DataError(f"equity must be positive; row {row} ({eq.index[row]}) is {vals[row]:g}"
                        " (pass from_returns=True for returns)")
    if not eq.index.is_monotonic_increasing:
        raise DataError("equity must be sorted by time")
    return eq


def _underwater(eq: pd.Series) -> pd.Series:
    v = eq.to_numpy()
    peak = np.maximum.accumulate(v)
    dd = 1.0 - v / peak
    dd[dd < 0] = 0.0
    return pd.Series(dd, index=eq.index, name="drawdown")


def underwater(data: Any, *, from_returns: bool = False) -> pd.Series:
    """Drawdown from the running peak at every bar, as positive fractions.

    Parameters
    ----------
    data : Series or array-like
        Equity or price curve (positive), or simple returns with ``from_returns=True``.
    from_returns : bool
        ``data`` holds simple returns (equity starts at 1.0 one bar before them).

    Returns
    -------
    Series
        ``1 - equity / running max``, in [0, 1], named ``drawdown``.
    """
    return _underwater(_equity(data, from_returns))


def ulcer_index(data: Any, *, from_returns: bool = False) -> float:
    """Ulcer index: root mean square of the drawdown over the whole series, as a fraction.

    Peter G. Martin's definition (Martin & McCann, *The Investor's Guide to Fidelity Funds*,
    1989): ``UI = sqrt(sum_i R_i^2 / N)`` with ``R_i = 100 (P_i / max(P_0..i) - 1)`` the
    percentage drawdown. Here drawdowns are fractions, so this returns Martin's value / 100
    (multiply by 100 for percent). It is computed over the whole series (Martin's chart
    indicator uses a rolling 14-bar window). Always ``<= max drawdown``.

    Parameters
    ----------
    data : Series or array-like
        Equity/prices, or returns with ``from_returns=True``.
    from_returns : bool
        ``data`` holds simple returns.

    Returns
    -------
    float
    """
    dd = underwater(data, from_returns=from_returns).to_numpy()
    return float(np.sqrt(np.mean(dd**2)))


def _days(a: Any, b: Any) -> float:
    if isinstance(a, pd.Timestamp) and isinstance(b, pd.Timestamp):
        return (b - a) / pd.Timedelta(days=1)
    return float("nan")


def _episodes(eq: pd.Series) -> pd.DataFrame:
    v = eq.to_numpy()
    idx = eq.index
    peak = np.maximum.accumulate(v)
    under = v < peak
    n = len(v)
    rows = []
    i = 0
    while i < n:
        if not under[i]:
            i += 1
            continue
        start = i
        while i < n and under[i]:
            i += 1
        end = i - 1  # last underwater bar
        p = start - 1  # bar 0 is never underwater, so p >= 0
        t = start + int(np.argmin(v[start:end + 1]))
        rec = i if i < n else None
        last = rec if rec is not None else n - 1
        rows.append({
            "peak": idx[p], "trough": idx[t], "recovery": idx[rec] if rec is not None else None,
            "depth": float(1.0 - v[t] / v[p]), "recovered": rec is not None,
            "decline_bars": t - p,
            "recovery_bars": (rec - t) if rec is not None else np.nan,
            "duration_bars": last - p,
            "underwater_bars": end - start + 1,
            "decline_days": _days(idx[p], idx[t]),
            "recovery_days": _days(idx[t], idx[rec]) if rec is not None else np.nan,
            "duration_days": _days(idx[p], idx[last]),
        })
    out = pd.DataFrame(rows, columns=_EPISODE_COLUMNS)
    if isinstance(idx, pd.DatetimeIndex):
        for c in ("peak", "trough", "recovery"):
            out[c] = pd.to_datetime(out[c], utc=idx.tz is not None)
            if idx.tz is not None:
                out[c] = out[c].dt.tz_convert(idx.tz)
    for c in ("decline_bars", "duration_bars", "underwater_bars"):
        out[c] = out[c].astype("int64")
    out["recovery_bars"] = out["recovery_bars"].astype("float64")
    out["recovered"] = out["recovered"].astype(bool)
    return out


def _check_top(top: Any) -> int | None:
    if top is None:
        return None
    if isinstance(top, bool) or not isinstance(top, int | np.integer) or top < 1:
        raise ParameterError(f"top={top!r} must be a positive whole number (or None for all)")
    return int(top)


def drawdown_episodes(data: Any, *, from_returns: bool = False, top: int | None = None
                      ) -> pd.DataFrame:
    """Drawdown episodes, deepest first.

    Parameters
    ----------
    data : Series or array-like
        Equity/prices, or returns with ``from_returns=True``.
    from_returns : bool
        ``data`` holds simple returns.
    top : int, optional
        Keep the ``top`` deepest episodes (default all).

    Returns
    -------
    DataFrame
        One row per episode (index ``rank`` from 1): ``peak``, ``trough``, ``recovery`` (NaT if
        still open), ``depth`` (positive fraction), ``recovered``, ``decline_bars``,
        ``recovery_bars``, ``duration_bars``, ``underwater_bars`` and the ``*_days`` twins
        (NaN without a DatetimeIndex).
    """
    top = _check_top(top)
    return _rank(_episodes(_equity(data, from_returns)), top)


def _rank(ep: pd.DataFrame, top: int | None) -> pd.DataFrame:
    out = ep.sort_values(["depth", "peak"], ascending=[False, True], kind="stable")
    if top is not None:
        out = out.head(top)
    out = out.reset_index(drop=True)
    out.index = pd.RangeIndex(1, len(out) + 1, name="rank")
    return out


@dataclass(repr=False)
class DrawdownResult(Result):
    """Drawdown analysis of one equity curve.

    Attributes
    ----------
    equity : Series
        The equity curve analysed (from returns: starts at 1.0 one bar before them).
    drawdown : Series
        Underwater series, positive fractions (``quantlab.backtesting.metrics`` convention).
    episodes : DataFrame
        Every episode in time order (columns as in :func:`drawdown_episodes`).
    top : int or None
        Number of episodes shown by :meth:`summary` (None = all).
    """

    equity: pd.Series
    drawdown: pd.Series
    episodes: pd.DataFrame
    top: int | None = 5

    _percent = frozenset({"max_drawdown", "ulcer_index", "current_drawdown", "depth"})

    def title(self) -> str:
        s = self.stats()
        return (f"Drawdowns: max {s['max_drawdown']:.2%}, Ulcer index {s['ulcer_index']:.2%}, "
                f"longest {s['max_duration_bars']} bars, {s['episodes']} episodes")

    @property
    def max_drawdown(self) -> float:
        """Largest peak-to-trough loss (positive fraction; 0 if never underwater)."""
        return float(self.drawdown.max())

    @property
    def ulcer_index(self) -> float:
        """Ulcer index as a fraction (Martin's percent value / 100); see :func:`ulcer_index`."""
        return float(np.sqrt(np.mean(self.drawdown.to_numpy() ** 2)))

    def _worst(self) -> pd.Series | None:
        if self.episodes.empty:
            return None
        return _rank(self.episodes, 1).iloc[0]

    def _longest(self) -> pd.Series | None:
        if self.episodes.empty:
            return None
        order = self.episodes.sort_values(["duration_bars", "peak"], ascending=[False, True],
                                          kind="stable")
        return order.iloc[0]

    def stats(self) -> pd.Series:
        """Headline numbers: max drawdown with peak/trough/recovery dates, durations, Ulcer."""
        w, lg = self._worst(), self._longest()

        def get(row: pd.Series | None, key: str) -> Any:
            return None if row is None else row[key]

        return pd.Series({
            "max_drawdown": self.max_drawdown,
            "peak": get(w, "peak"),
            "trough": get(w, "trough"),
            "recovery": get(w, "recovery"),
            "recovered": get(w, "recovered"),
            "decline_bars": get(w, "decline_bars"),
            "recovery_bars": get(w, "recovery_bars"),
            "recovery_days": get(w, "recovery_days"),
            "max_duration_bars": get(lg, "duration_bars") if lg is not None else 0,
            "max_duration_days": get(lg, "duration_days") if lg is not None else 0.0,
            "max_duration_peak": get(lg, "peak"),
            "max_underwater_bars": int(self.episodes["underwater_bars"].max())
            if not self.episodes.empty else 0,
            "ulcer_index": self.ulcer_index,
            "episodes": len(self.episodes),
            "current_drawdown": float(self.drawdown.iloc[-1]),
        }, dtype=object, name="drawdown")

    def _summary_table(self) -> pd.DataFrame:
        """The ``top`` deepest episodes (index ``rank``)."""
        return _rank(self.episodes, self.top)

    def _extra_dict(self) -> dict[str, Any]:
        return {"episodes": self.summary()}

    def _figure(self, **kwargs: Any) -> go.Figure:
        """Underwater chart (``quantlab.charts.risk.underwater_figure``)."""
        from quantlab.charts.risk import underwater_figure

        return underwater_figure(self.drawdown, **kwargs)


def drawdown_analysis(data: Any, *, from_returns: bool = False, top: int | None = 5
                      ) -> DrawdownResult:
    """Analyse the drawdowns of an equity/price curve (or of returns).

    Parameters
    ----------
    data : Series or array-like
        Equity or price curve (positive), or simple returns with ``from_returns=True``.
    from_returns : bool
        ``data`` holds simple returns; equity starts at 1.0 one bar before the first.
    top : int or None
        Episodes shown by ``summary()`` (deepest first; None = all).

    Returns
    -------
    DrawdownResult
        ``.stats()`` (max drawdown, its peak/trough/recovery, recovery time, max duration,
        Ulcer index), ``.summary()`` (top episodes), ``.drawdown`` (underwater series),
        ``.plot()``.

    Examples
    --------
    >>> from quantlab.data import load_sample
    >>> res = drawdown_analysis(load_sample("BTC/USDT")["close"])
    >>> res.stats()["max_drawdown"]
    """
    top = _check_top(top)
    eq = _equity(data, from_returns)
    return DrawdownResult(equity=eq, drawdown=_underwater(eq), episodes=_episodes(eq),
                          top=top)
