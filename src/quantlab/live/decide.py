"""One decision: the strategy's own ``signals()`` on a rolling window, last row as simulator input.

The window holds the last closed bars (at least the warm-up measured at promotion), the
strategy is run on it exactly as a backtest runs it on the whole history, and the last row of
the simulator's signal block — entries, exits, sizes, levels or target weights at the last
close — is what the runner acts on. Causality (checked at promotion) makes that row equal to
the backtest's row for the same bar.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from quantlab.backtesting.options import BacktestOptions
from quantlab.backtesting.prepared import prepare_data
from quantlab.backtesting.simulation import kernel_params, signal_block, weight_block
from quantlab.strategies.base import Strategy, TargetWeights

__all__ = ["Decision", "decide", "window_size"]


@dataclass(frozen=True)
class Decision:
    """What the strategy decided at the close of one bar.

    Attributes
    ----------
    row : ndarray
        float64[n, N_SIG]: one row of the simulator's signal block.
    params : ndarray
        The simulator's parameters for this strategy and options.
    target_mode : bool
        True for target-weight strategies.
    """

    row: np.ndarray
    params: np.ndarray
    target_mode: bool

    def summary(self, symbols: list[str]) -> dict[str, Any]:
        """The non-empty decisions per symbol (for the audit log and ``/status``)."""
        from quantlab.backtesting.sim import kernel

        names = {kernel.SIG_ENTRY: "entry", kernel.SIG_EXIT: "exit",
                 kernel.SIG_SHORT_ENTRY: "short_entry", kernel.SIG_SHORT_EXIT: "short_exit"}
        out: dict[str, Any] = {}
        for j, sym in enumerate(symbols):
            r = self.row[j]
            item: dict[str, Any] = {name: True for f, name in names.items() if r[f]}
            if self.target_mode:
                if np.isfinite(r[kernel.SIG_WEIGHT]):
                    item["weight"] = float(r[kernel.SIG_WEIGHT])
            elif item:
                item["size"] = float(r[kernel.SIG_SIZE])
                for f, name in ((kernel.SIG_LIMIT, "limit"), (kernel.SIG_STOP, "stop"),
                                (kernel.SIG_EXIT_SIZE, "exit_size")):
                    if np.isfinite(r[f]):
                        item[name] = float(r[f])
            if item:
                out[sym] = item
        return out


def window_size(warmup: int, opts: BacktestOptions, requested: int | None = None) -> int:
    """Bars in the decision window: ``requested`` or twice the warm-up, never less than the
    warm-up plus what volatility sizing looks back."""
    need = max(int(warmup), 1) + 1
    if opts.sizing == "vol_target":
        need = max(need, int(opts.vol_lookback) + int(warmup) + 2)
    if requested is not None:
        return max(int(requested), need)
    return max(2 * int(warmup), need, 50)


def decide(strategy: Strategy, window: pd.DataFrame, opts: BacktestOptions,
           symbols: list[str], ppy: float | None = None) -> Decision:
    """Run ``strategy`` on ``window`` and return the last bar's decision.

    Parameters
    ----------
    strategy : Strategy
        The promoted strategy.
    window : DataFrame
        The last closed bars: one OHLCV frame, or a ``(field, symbol)`` panel.
    opts : BacktestOptions
        The options the strategy was promoted with (sizing, fees, stops, direction...).
    symbols : list[str]
        Symbol names (one for a single frame).
    ppy : float, optional
        Bars per year of the timeframe (default: inferred from the window).
    """
    pdata = prepare_data(window, symbols[0] if len(symbols) == 1 else None, allow_unpriced=True)
    if ppy is not None:
        pdata = dataclasses.replace(pdata, ppy=float(ppy), bar_days=365.0 / float(ppy))
    out = strategy.run(pdata.bars)
    if isinstance(out, TargetWeights):
        block = weight_block(out, pdata, opts)
        prm = kernel_params(opts, long_short=opts.direction == "long_short", target_mode=True)
        return Decision(np.ascontiguousarray(block[-1]), prm, True)
    block, long_short = signal_block(out, pdata, opts)
    return Decision(np.ascontiguousarray(block[-1]), kernel_params(opts, long_short=long_short), False)

