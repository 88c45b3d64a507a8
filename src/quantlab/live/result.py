"""What a ``quantlab live`` run did, as a result object (stats, fills table, equity chart)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from quantlab._result import Result

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go

__all__ = ["LiveRun"]


@dataclass(repr=False)
class LiveRun(Result):
    """One run of a promoted strategy (replay, paper or live), read back from its state file.

    Attributes
    ----------
    name, version, mode : str, int, str
        The strategy version and the mode.
    state : Path
        The state file (SQLite) the run wrote.
    bars : int
        Bars processed in this run.
    equity_curve : DataFrame
        Equity, cash, peak and drawdown per processed bar (all runs on this state file).
    fills : DataFrame
        Every fill in the state file: time, symbol, side, amount, price, fee, reason.
    orders : dict
        Order count by status.
    breaker : str
        Breaker level at the end (``ok``, ``warn``, ``reduce_only``, ``halted``).
    last_bar : str or None
        Open time of the last processed bar (ISO, UTC).
    submit_latency : tuple of float
        Seconds from a closed bar's processing start to its orders being submitted, per bar.
    api_url : str or None
        The control API's address while it ran.
    """

    name: str
    version: int
    mode: str
    state: Path
    bars: int
    equity_curve: pd.DataFrame = field(default_factory=pd.DataFrame)
    fills: pd.DataFrame = field(default_factory=pd.DataFrame)
    orders: dict[str, int] = field(default_factory=dict)
    breaker: str = "ok"
    last_bar: str | None = None
    submit_latency: tuple[float, ...] = ()
    api_url: str | None = None

    _percent: ClassVar[frozenset[str]] = frozenset({"total_return", "max_drawdown", "drawdown"})
    _money: ClassVar[frozenset[str]] = frozenset({"equity", "price", "fee", "start_equity"})

    @property
    def equity(self) -> float | None:
        """Equity after the last bar (None before the first decision)."""
        if self.equity_curve.empty:
            return None
        return float(self.equity_curve["equity"].iloc[-1])

    def title(self) -> str:
        """``btc_sma@1 replay: 2,243 bars, 50 fills, equity 100,497.90, breaker ok``."""
        eq = "—" if self.equity is None else f"{self.equity:,.2f}"
        return (f"{self.name}@{self.version} {self.mode}: {self.bars:,} bar(s), "
                f"{len(self.fills):,} fill(s), equity {eq}, breaker {self.breaker}")

    def __str__(self) -> str:
        return (f"{self.title()}, last bar {self.last_bar or '—'}; "
                f"state {self.state}")

    def stats(self) -> pd.Series:
        """bars, orders, fills, start/end equity, total return, max drawdown, breaker,
        last bar, bar-to-submit latency p50/p99 (ms)."""
        curve = self.equity_curve
        start = float(curve["equity"].iloc[0]) if not curve.empty else math.nan
        end = self.equity if self.equity is not None else math.nan
        lat = np.asarray(self.submit_latency, dtype=float) * 1000.0
        return pd.Series({
            "bars": int(self.bars), "orders": int(sum(self.orders.values())),
            "fills": len(self.fills), "start_equity": start, "equity": end,
            "total_return": end / start - 1.0 if start > 0 else math.nan,
            "max_drawdown": float(curve["drawdown"].max()) if not curve.empty else math.nan,
            "breaker": self.breaker, "last_bar": self.last_bar,
            "latency_p50_ms": float(np.percentile(lat, 50)) if len(lat) else math.nan,
            "latency_p99_ms": float(np.percentile(lat, 99)) if len(lat) else math.nan,
        }, dtype=object)

    def _summary_table(self) -> pd.DataFrame:
        if self.fills.empty:
            return self.stats().to_frame("value")
        return self.fills

    def _figure(self, **kwargs: Any) -> go.Figure:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3],
                            vertical_spacing=0.04)
        curve = self.equity_curve
        if not curve.empty:
            fig.add_trace(go.Scatter(x=curve.index, y=curve["equity"], name="equity"), 1, 1)
            fig.add_trace(go.Scatter(x=curve.index, y=-curve["drawdown"], name="drawdown",
                                     fill="tozeroy", line={"color": "firebrick"}), 2, 1)
        fig.update_layout(title=self.title(), **kwargs)
        fig.update_yaxes(title_text="equity", row=1, col=1)
        fig.update_yaxes(title_text="drawdown", tickformat=".0%", row=2, col=1)
        return fig

    def _extra_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "mode": self.mode,
                "state": str(self.state), "bars": self.bars, "equity": self.equity,
                "fills": len(self.fills), "orders": self.orders, "breaker": self.breaker,
                "last_bar": self.last_bar, "api_url": self.api_url}

    @classmethod
    def from_store(cls, store: Any, *, name: str, version: int, mode: str, bars: int,
                   breaker: str, last_bar: str | None, submit_latency: tuple[float, ...] = (),
                   api_url: str | None = None) -> LiveRun:
        """Read the equity curve, fills and order counts back from an open state store."""
        fills = pd.DataFrame([f.to_dict() for f in store.fills()])
        if not fills.empty:
            fills.insert(0, "time", pd.to_datetime(fills.pop("ts_ms"), unit="ms", utc=True))
            fills = fills.set_index("time")[["symbol", "side", "amount", "price", "fee",
                                             "reason", "client_id", "fill_id"]]
        return cls(name=name, version=version, mode=mode, state=Path(store.path), bars=bars,
                   equity_curve=store.equity_curve(), fills=fills, orders=store.order_counts(),
                   breaker=breaker, last_bar=last_bar, submit_latency=submit_latency,
                   api_url=api_url)
