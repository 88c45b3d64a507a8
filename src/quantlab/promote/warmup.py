"""Warm-up gate: does a window of ``warmup()`` bars of history reproduce the full-history signals?

The live runner calls ``signals`` on a rolling window of recent bars and acts on the last ones,
so the strategy's declared :meth:`~quantlab.strategies.Strategy.warmup` must be enough history
for the window's output to equal the full-history (backtest) output. Finite-window indicators
(SMA, rolling max/min, rolling std) need exactly their window; recursive ones (EMA, Wilder's
RSI/ATR) never forget their start and agree only once the effect of the seed has decayed, which
can take many times their nominal period.

How ``needed`` is measured
--------------------------
An *evaluated window* is ``K`` consecutive bars ``t0 .. t0+K-1``; the strategy is run on the
bars from ``t0 - h`` to the window's end (``h`` bars of history before ``t0``) and its output on
the evaluated bars is compared with a run on all the bars up to the window's end: booleans
exactly, floats with ``numpy.isclose(rtol=tol, atol=tol)`` (NaN == NaN). For each evaluated
window and each array, ``needed`` is one more than the longest history that still disagrees:
the search tries the declared warm-up, doubles the history (``h -> 2h``) until the array agrees,
checks that :data:`CONFIRM` (2) further doublings agree as well -- call the last one ``top`` --
and then tries *every* length from ``top`` down to the first disagreement. No bisection:
agreement is not monotone in ``h``. On the bundled BTC sample rsi_reversion's entries agreed with
15 bars of history and disagreed with 25 (a Wilder RSI seeded on too little data lands on the
other side of the threshold by chance), and a size clipped at ``max_leverage`` agrees wherever
both runs hit the cap. The figure is exact on ``[0, top]``; a disagreement beyond ``top``
(4 times the first agreeing doubling) would be missed. The gate's ``needed`` is the largest
figure over windows and arrays; it passes when ``needed <= declared``.

Which windows are evaluated matters: for a finite-window indicator a window in which no signal
fires agrees with *any* history (no crossover is seen with too little data either), so it
measures nothing. The gate
evaluates the last ``last_k`` bars of the data, plus windows *starting* at the most recent bars
where an event array says something (an entry/exit that is True, a limit/stop price or a
target-weight row), taken in turn from each array; an event at the window's first bar is the one
that needs the most history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from quantlab._result import Result
from quantlab._validate import check_range
from quantlab.errors import QuantlabError, StrategyError
from quantlab.promote._common import (
    CONTINUOUS,
    active_bars,
    as_strategy,
    block,
    check_bars,
    columns,
    same,
)

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go

    from quantlab.strategies.base import Strategy

__all__ = ["WarmupResult", "warmup_check"]

#: Doublings of the history that must agree beyond the first agreeing length; every length
#: below the last of them (``2**CONFIRM`` times the first agreeing one) is then tried.
CONFIRM = 2

DETAIL_COLUMNS = ["end", "first_bar", "bars_evaluated", "array", "needed", "ok_at_declared",
                  "first_mismatch", "column", "full_value", "window_value"]


@dataclass(repr=False)
class WarmupResult(Result):
    """Outcome of :func:`warmup_check`.

    Attributes
    ----------
    strategy : str
        The strategy's label.
    params : dict
        Its parameter values.
    declared : int
        ``strategy.warmup()``.
    needed : int or None
        Bars of history before an evaluated window that make every array agree with the
        full-history run on every evaluated window (a live runner acting on the last bar must
        feed ``needed + 1`` bars). None when not reached within ``declared + max_extra``.
    passed : bool
        ``needed <= declared``.
    details : DataFrame
        One row per (evaluated window, array): ``end`` (last evaluated bar), ``first_bar``,
        ``bars_evaluated``, ``array``, ``needed``, ``ok_at_declared`` and, when the declared
        warm-up is not enough, the first disagreeing bar (``first_mismatch``, ``column``) with
        the full-history and windowed values there.
    last_k, tol, max_extra : int, float, int or None
        The settings used.
    runs : int
        Strategy runs made (windows tried).
    n_bars : int
        Length of the full history.
    """

    strategy: str
    params: dict[str, Any]
    declared: int
    needed: int | None
    passed: bool
    details: pd.DataFrame
    last_k: int = 5
    tol: float = 1e-9
    max_extra: int | None = None
    runs: int = 0
    n_bars: int = 0
    arrays: list[str] = field(default_factory=list)

    def stats(self) -> pd.Series:
        """Headline figures: declared, needed, extra (needed - declared), passed, windows,
        arrays, failing rows, runs, last_k, tol."""
        d = self.details
        extra = None if self.needed is None else self.needed - self.declared
        return pd.Series({
            "declared": self.declared,
            "needed": self.needed,
            "extra": extra,
            "passed": self.passed,
            "windows": int(d["end"].nunique()) if len(d) else 0,
            "arrays": len(self.arrays),
            "failing": int((~d["ok_at_declared"].astype(bool)).sum()) if len(d) else 0,
            "runs": self.runs,
            "last_k": self.last_k,
            "tol": self.tol,
            "n_bars": self.n_bars,
        }, name=self.strategy, dtype=object)

    def _summary_table(self) -> pd.DataFrame:
        """The details table (one row per evaluated window and array)."""
        return self.details

    def title(self) -> str:
        """``Warm-up check of sma_cross: needed 50 <= declared 50, passed``."""
        head = f"Warm-up check of {self.strategy}"
        if self.needed is None:
            bound = "the full history" if self.max_extra is None else \
                f"declared + max_extra = {self.declared + self.max_extra}"
            return f"{head}: FAILED, no agreement within {bound} (declared {self.declared})"
        verdict = "passed" if self.passed else "FAILED"
        sign = "<=" if self.passed else ">"
        return f"{head}: needed {self.needed} {sign} declared {self.declared}, {verdict}"

    def _figure(self, **kwargs: Any) -> go.Figure:
        import plotly.graph_objects as go

        d = self.details
        x = [f"{a} @ {pd.Timestamp(e).date()}" for a, e in zip(d["array"], d["end"], strict=True)]
        y = [np.nan if v is None else float(v) for v in d["needed"]]
        fig = go.Figure(go.Bar(x=x, y=y, name="needed history (bars)"))
        fig.add_hline(y=self.declared, line_dash="dash",
                      annotation_text=f"declared warmup() = {self.declared}")
        fig.update_layout(title=self.title(), yaxis_title="bars of history", **kwargs)
        return fig

    def _extra_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "params": self.params, "declared": self.declared,
                "needed": self.needed, "passed": self.passed,
                "details": self.details.to_dict(orient="records")}


class _Window:
    """One evaluated window ``t0 .. end-1`` with its reference output and memoized probes."""

    def __init__(self, strat: Strategy, bars: pd.DataFrame, t0: int, end: int, tol: float):
        self.strat, self.bars, self.t0, self.end, self.tol = strat, bars, t0, end, tol
        ref = strat.run(bars.iloc[:end]).arrays()
        self.ref = {k: block(v)[t0:] for k, v in ref.items()}
        self.cols = {k: columns(v, bars) for k, v in ref.items()}
        self.cache: dict[int, dict[str, tuple[bool, Any]]] = {}

    def probe(self, h: int) -> dict[str, tuple[bool, Any]]:
        """Per array: (agrees, first mismatch ``(row, col, full, window)`` or None) at ``h``."""
        if h in self.cache:
            return self.cache[h]
        out: dict[str, tuple[bool, Any]] = {}
        try:
            got = self.strat.run(self.bars.iloc[self.t0 - h: self.end]).arrays()
        except QuantlabError:  # too little data for the strategy: no agreement
            got = {}
        for name, ref in self.ref.items():
            if name not in got:
                out[name] = (False, (0, 0, ref[0, 0], None))
                continue
            win = block(got[name])[h:]
            if win.shape != ref.shape:
                out[name] = (False, (0, 0, ref[0, 0], None))
                continue
            bad = ~same(ref, win, self.tol)
            if bad.any():
                i, j = np.argwhere(bad)[0]
                out[name] = (False, (int(i), int(j), ref[i, j], win[i, j]))
            else:
                out[name] = (True, None)
        self.cache[h] = out
        return out

    def needed(self, name: str, start: int, hi: int) -> int | None:
        """Smallest ``h`` from which ``name`` agrees on every length up to ``top``, or None.

        Grow from ``start`` by doubling until the array agrees, then keep doubling until
        :data:`CONFIRM` further doublings agree too (``top``, at most ``hi``); then try every
        length from ``top`` down and return one more than the longest that disagrees.
        Agreement is not monotone in the history length, so no bisection: a threshold on an
        infinite-memory indicator (rsi_reversion's Wilder RSI) can agree by luck at one length
        and disagree at a longer one, and a clipped float (a size capped at ``max_leverage``)
        agrees wherever both runs hit the cap.
        """
        def ok(h: int) -> bool:
            return self.probe(h)[name][0]

        def grow(h: int) -> int | None:
            while not ok(h):
                if h >= hi:
                    return None
                h = _double(h, hi)
            return h

        top = grow(start)
        confirmed = 0
        while top is not None and confirmed < CONFIRM and top < hi:
            nxt = _double(top, hi)
            confirmed = confirmed + 1 if ok(nxt) else 0
            top = nxt if confirmed else grow(nxt)
        if top is None:
            return None
        for h in range(top - 1, -1, -1):
            if not ok(h):
                return h + 1
        return 0


def _double(h: int, hi: int) -> int:
    return min(max(2 * h, h + 1), hi)


def _value(x: Any) -> Any:
    if x is None:
        return None
    return bool(x) if isinstance(x, bool | np.bool_) else float(x)


def _anchors(full: dict[str, pd.Series | pd.DataFrame], n: int, lowest: int, last_k: int,
             ends: int) -> list[int]:
    """First bars of the evaluated windows: the last ``last_k`` bars, then (round robin over the
    event arrays) the most recent bars where each says something."""
    starts = [n - last_k]
    queues = [list(active_bars(a)[::-1]) for k, a in full.items() if k not in CONTINUOUS]
    queues = [[int(p) for p in q if lowest <= p < n - last_k] for q in queues]
    while len(starts) < ends and any(queues):
        for q in queues:
            while q and q[0] in starts:
                q.pop(0)
            if q and len(starts) < ends:
                starts.append(q.pop(0))
    return starts


def warmup_check(
    strategy: Strategy | type[Strategy] | str,
    bars: pd.DataFrame,
    *,
    last_k: int = 5,
    tol: float = 1e-9,
    max_extra: int | None = None,
    ends: int = 3,
) -> WarmupResult:
    """Measure how much history the strategy needs to reproduce its full-history output, and
    check that its declared ``warmup()`` is enough.

    Parameters
    ----------
    strategy : Strategy, Strategy subclass or str
        An instance, a class (default parameters) or a registered name.
    bars : DataFrame
        One OHLCV frame or a ``(field, symbol)`` panel; needs at least
        ``warmup() + last_k + 1`` bars.
    last_k : int, default 5
        Bars per evaluated window (the window at the end of the data; windows starting at an
        event are cut at the end of the data).
    tol : float, default 1e-9
        Relative and absolute tolerance for float arrays (sizes, prices, weights); booleans
        must agree exactly.
    max_extra : int, optional
        Search at most ``warmup() + max_extra`` bars of history (default: the whole history
        before each window). When not enough, ``needed`` is None and the gate fails.
    ends : int, default 3
        Number of evaluated windows: the end of the data plus ``ends - 1`` windows starting at
        the most recent events (see the module docstring).

    Returns
    -------
    WarmupResult
        ``declared``, ``needed``, ``passed`` and ``details`` (per window and array).

    Raises
    ------
    ParameterError
        A bad argument.
    DataError
        ``bars`` is not an OHLCV frame or is shorter than ``warmup() + last_k + 1``.
    StrategyError
        The strategy fails on the history up to an evaluated window's end.

    Examples
    --------
    >>> import quantlab
    >>> from quantlab.promote import warmup_check
    >>> res = warmup_check("sma_cross", quantlab.load_sample("BTC/USDT"))
    >>> res.declared, res.needed, res.passed
    (50, 50, True)
    """
    where = "warmup_check"
    strat = as_strategy(strategy, where)
    last_k = check_range(last_k, "last_k", 1, integer=True)
    tol = check_range(tol, "tol", 0.0)
    max_extra = check_range(max_extra, "max_extra", 0, integer=True, allow_none=True)
    ends = check_range(ends, "ends", 1, integer=True)
    declared = int(strat.warmup())
    bars = check_bars(bars, where, declared + last_k + 1,
                      f"{strat.label()}.warmup() = {declared}, last_k = {last_k}, and one more "
                      "bar to try a shorter history")
    n = len(bars)

    full = strat.run(bars).arrays()
    rows: list[dict[str, Any]] = []
    runs = 1
    for t0 in _anchors(full, n, declared + 1, last_k, ends):
        end = min(t0 + last_k, n)
        try:
            win = _Window(strat, bars, t0, end, tol)
        except StrategyError as exc:
            raise StrategyError(f"{exc} ({where}, on the bars up to {bars.index[end - 1]})") \
                from exc
        # every window starts after the declared warm-up, so ``declared <= hi``
        hi = t0 if max_extra is None else min(t0, declared + max_extra)
        for name in win.ref:
            need = win.needed(name, declared, hi)
            ok, miss = win.probe(declared)[name]
            i, j, ref_v, win_v = miss if miss is not None else (0, 0, None, None)
            rows.append({
                "end": bars.index[end - 1], "first_bar": bars.index[t0],
                "bars_evaluated": end - t0, "array": name, "needed": need,
                "ok_at_declared": bool(ok),
                "first_mismatch": None if ok else bars.index[t0 + i],
                "column": None if ok else win.cols[name][j],
                "full_value": None if ok else _value(ref_v),
                "window_value": None if ok else _value(win_v),
            })
        runs += 1 + len(win.cache)

    details = pd.DataFrame(rows, columns=DETAIL_COLUMNS)
    needs = [r["needed"] for r in rows]
    details["needed"] = pd.Series(needs, index=details.index, dtype=object)  # None stays None
    needed = None if any(v is None for v in needs) else int(max(needs, default=0))
    return WarmupResult(
        strategy=strat.label(), params=strat.values, declared=declared, needed=needed,
        passed=needed is not None and needed <= declared, details=details, last_k=last_k,
        tol=float(tol), max_extra=max_extra, runs=runs, n_bars=n, arrays=list(full),
    )
