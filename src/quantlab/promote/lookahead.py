"""Lookahead gate: does the value a strategy gives bar ``t`` change when the future is cut off?

A causal strategy's output at bar ``t`` uses only bars ``<= t``, so running it on
``bars.iloc[:t+1]`` must give, at bar ``t``, exactly what the full-history run gives. This gate
re-runs the strategy on such prefixes for a sample of bars -- the bars where a signal changes
(where a leak is most likely to show: a crossover seen one bar early) plus seeded random bars
after the warm-up -- and compares the value at ``t`` of every array the strategy exposes.

Comparison is exact (NaN equals NaN), for booleans and floats alike: pandas' rolling, expanding
and exponentially weighted windows are computed by one pass from the first bar, so the value at
``t`` of a prefix run is bit-identical to the full run's (the built-ins are checked this way in
the test suite). Any difference therefore means the value at ``t`` read a later bar: a
``shift(-1)``, a centred window, a statistic of the whole sample, a backward fill.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from quantlab._result import Result
from quantlab._validate import check_range
from quantlab.errors import ParameterError, StrategyError
from quantlab.promote._common import as_strategy, block, change_bars, check_bars, columns, same

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go

    from quantlab.strategies.base import Strategy

__all__ = ["LookaheadResult", "lookahead_check"]

OFFENDING_COLUMNS = ["time", "array", "column", "full_value", "truncated_value"]


@dataclass(repr=False)
class LookaheadResult(Result):
    """Outcome of :func:`lookahead_check`.

    Attributes
    ----------
    strategy : str
        The strategy's label (registry name or class name).
    params : dict
        Its parameter values.
    passed : bool
        True when no checked bar differs between the truncated and the full-history run.
    checked : int
        Number of bars checked (each one a run on the bars up to it).
    offending : DataFrame
        One row per disagreement (columns ``time, array, column, full_value,
        truncated_value``), sorted by time; empty when ``passed``.
    first : dict or None
        The first row of ``offending`` as a dict, None when passed.
    checked_times : DatetimeIndex
        The bars checked, in time order.
    change_bars : int
        How many of them were picked because a signal changes there (the others are random).
    arrays : list of str
        The arrays compared (``Signals.arrays()`` / ``TargetWeights.arrays()`` names).
    n_bars : int
        Length of the full history.
    """

    strategy: str
    params: dict[str, Any]
    passed: bool
    checked: int
    offending: pd.DataFrame
    first: dict[str, Any] | None
    checked_times: pd.Index = field(default_factory=lambda: pd.DatetimeIndex([]))
    change_bars: int = 0
    arrays: list[str] = field(default_factory=list)
    n_bars: int = 0

    def stats(self) -> pd.Series:
        """Headline figures: passed, checked (change/random), violations, bars and arrays
        with violations, the first offending time/array/column, n_bars."""
        off = self.offending
        first = self.first or {}
        return pd.Series({
            "passed": self.passed,
            "checked": self.checked,
            "change_bars": self.change_bars,
            "random_bars": self.checked - self.change_bars,
            "violations": len(off),
            "bars_with_violations": int(off["time"].nunique()) if len(off) else 0,
            "arrays_with_violations": int(off["array"].nunique()) if len(off) else 0,
            "first_time": first.get("time"),
            "first_array": first.get("array"),
            "first_column": None if first.get("column") is None else str(first["column"]),
            "n_bars": self.n_bars,
        }, name=self.strategy, dtype=object)

    def _summary_table(self) -> pd.DataFrame:
        """One row per array: bars checked, violations, first offending time and column."""
        rows = []
        for name in self.arrays:
            hits = self.offending[self.offending["array"] == name]
            rows.append({
                "checked": self.checked,
                "violations": len(hits),
                "first_time": hits["time"].iloc[0] if len(hits) else None,
                "first_column": str(hits["column"].iloc[0]) if len(hits) else None,
            })
        return pd.DataFrame(rows, index=pd.Index(self.arrays, name="array"),
                            columns=["checked", "violations", "first_time", "first_column"])

    def title(self) -> str:
        """``Lookahead check of sma_cross: passed (100 bars checked)`` or the first violation."""
        head = f"Lookahead check of {self.strategy}"
        if self.passed:
            return f"{head}: passed ({self.checked:,} bars checked)"
        first = self.first or {}
        when = pd.Timestamp(first["time"]).isoformat()
        return (f"{head}: FAILED, {len(self.offending):,} violation(s) on {self.checked:,} bars "
                f"checked; first {first['array']}[{first['column']}] at {when}")

    def _figure(self, **kwargs: Any) -> go.Figure:
        import plotly.graph_objects as go

        counts = (self.offending.groupby("time").size() if len(self.offending)
                  else pd.Series(dtype="int64"))
        y = counts.reindex(self.checked_times, fill_value=0)
        fig = go.Figure(go.Bar(x=list(self.checked_times), y=y.to_numpy(),
                               name="violations per checked bar"))
        fig.update_layout(title=self.title(), xaxis_title="bar checked",
                          yaxis_title="values differing from the full-history run", **kwargs)
        return fig

    def _extra_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "params": self.params, "first": self.first,
                "offending": self.offending.to_dict(orient="records"),
                "checked_times": list(self.checked_times)}


def _value(x: Any) -> Any:
    return bool(x) if isinstance(x, bool | np.bool_) else float(x)


def _start_position(bars: pd.DataFrame, start: Any) -> int:
    if start is None:
        return 0
    try:
        ts = pd.Timestamp(start)
    except (TypeError, ValueError):
        raise ParameterError(f"lookahead_check: start={start!r} is not a date") from None
    tz = getattr(bars.index, "tz", None)
    if tz is not None:
        ts = ts.tz_localize(tz) if ts.tzinfo is None else ts.tz_convert(tz)
    pos = int(bars.index.searchsorted(ts))
    if pos >= len(bars) - 1:
        raise ParameterError(f"lookahead_check: start={start!r} leaves no bar to check "
                             f"(bars end {bars.index[-1]})")
    return pos


def lookahead_check(
    strategy: Strategy | type[Strategy] | str,
    bars: pd.DataFrame,
    *,
    n_changes: int = 50,
    n_random: int = 50,
    seed: int = 0,
    start: Any = None,
) -> LookaheadResult:
    """Check that the strategy's output at bar ``t`` does not change when bars after ``t`` are
    removed.

    For each checked bar ``t`` the strategy is run on ``bars.iloc[:t+1]`` and the value at ``t``
    of every array it exposes is compared with the full-history run (exactly; NaN == NaN).

    Parameters
    ----------
    strategy : Strategy, Strategy subclass or str
        An instance, a class (default parameters) or a registered name
        (e.g. ``"sma_cross+vol_target"``).
    bars : DataFrame
        One OHLCV frame or a ``(field, symbol)`` panel.
    n_changes : int, default 50
        At most this many bars where an event array changes value (entries/exits turning on or
        off, a limit/stop/exit size or a target-weight row appearing or changing; the
        continuous ``size`` is not an event), spread evenly over the changes and always
        including the first one.
    n_random : int, default 50
        Further bars drawn at random (``numpy.random.default_rng(seed)``, without replacement)
        from the bars at or after position ``strategy.warmup()``.
    seed : int, default 0
        Seed of the random draw.
    start : date-like, optional
        Check only bars at or after this time (the prefix runs still start at the first bar).

    Returns
    -------
    LookaheadResult
        ``passed``, ``checked``, ``offending`` (every disagreement, by time) and ``first``.

    Raises
    ------
    ParameterError
        A bad argument (negative counts, both zero, ``start`` after the data).
    DataError
        ``bars`` is not an OHLCV frame or has no bar after the warm-up to check.
    StrategyError
        The strategy fails on the full history or on a prefix (the message names the prefix).

    Examples
    --------
    >>> import quantlab
    >>> from quantlab.promote import lookahead_check
    >>> lookahead_check("sma_cross", quantlab.load_sample("BTC/USDT"), n_changes=5,
    ...                 n_random=5).passed
    True
    """
    where = "lookahead_check"
    strat = as_strategy(strategy, where)
    n_changes = check_range(n_changes, "n_changes", 0, integer=True)
    n_random = check_range(n_random, "n_random", 0, integer=True)
    seed = check_range(seed, "seed", 0, integer=True)
    if n_changes == 0 and n_random == 0:
        raise ParameterError(f"{where}: n_changes and n_random are both 0, nothing to check")
    warm = int(strat.warmup())
    bars = check_bars(bars, where, warm + 2,
                      f"{strat.label()}.warmup() = {warm} bars, then a bar to check and one after")
    n = len(bars)
    lo = _start_position(bars, start)

    full = strat.run(bars)
    arrays = full.arrays()
    blocks = {k: block(v) for k, v in arrays.items()}
    labels = {k: columns(v, bars) for k, v in arrays.items()}

    # the last bar is never checked: its prefix is the full history
    changes = change_bars(full)
    changes = changes[(changes >= lo) & (changes <= n - 2)]
    if len(changes) > n_changes:
        pick = np.unique(np.round(np.linspace(0, len(changes) - 1, n_changes)).astype(int))
        changes = changes[pick] if n_changes else changes[:0]
    pool = np.setdiff1d(np.arange(max(lo, warm), n - 1), changes)
    rng = np.random.default_rng(seed)
    drawn = rng.choice(pool, size=min(n_random, len(pool)), replace=False) if len(pool) else pool
    todo = np.union1d(changes, drawn).astype(np.int64)

    rows: list[dict[str, Any]] = []
    for t in todo:
        t = int(t)
        try:
            part = strat.run(bars.iloc[: t + 1]).arrays()
        except StrategyError as exc:
            raise StrategyError(f"{exc} (lookahead_check, on the first {t + 1} bars up to "
                                f"{bars.index[t]})") from exc
        when = bars.index[t]
        for name in dict.fromkeys([*arrays, *part]):
            ref = blocks[name][t] if name in blocks else None
            got = block(part[name])[-1] if name in part else None
            cols = labels[name] if name in labels else columns(part[name], bars)
            if ref is None or got is None or ref.shape != got.shape:
                for j, col in enumerate(cols):
                    rows.append({"time": when, "array": name, "column": col,
                                 "full_value": None if ref is None or j >= len(ref)
                                 else _value(ref[j]),
                                 "truncated_value": None if got is None or j >= len(got)
                                 else _value(got[j])})
                continue
            for j in np.flatnonzero(~same(ref, got)):
                rows.append({"time": when, "array": name, "column": cols[j],
                             "full_value": _value(ref[j]), "truncated_value": _value(got[j])})

    offending = pd.DataFrame(rows, columns=OFFENDING_COLUMNS)
    if len(offending):
        offending = offending.sort_values("time", kind="stable").reset_index(drop=True)
    first = offending.iloc[0].to_dict() if len(offending) else None
    return LookaheadResult(
        strategy=strat.label(), params=strat.values, passed=not len(offending),
        checked=len(todo), offending=offending, first=first,
        checked_times=bars.index[todo], change_bars=len(changes), arrays=list(arrays),
        n_bars=n,
    )
