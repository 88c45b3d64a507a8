"""Where each asset of a rebalance plan trades to: drift bands and the cost-aware no-trade region.

Bands (``width`` per asset): an asset trades only when ``|w - t| > width``, to the band edge
(``band_mode="edge"``) or to the target (``"target"``). A **zero target is not a band**: an asset
whose target is 0 (or that is not in the targets) is sold completely whatever its weight.
"""

from __future__ import annotations

import math

import numpy as np

from quantlab.portfolio.plan_orders import PlanContext

__all__ = ["band_targets", "cost_aware_weights", "exit_reasons"]


def band_targets(w: np.ndarray, t: np.ndarray, width: np.ndarray | None, band_mode: str
                 ) -> tuple[np.ndarray, list[str]]:
    """Post-trade weights wanted before rounding, and the reason of each asset's trade."""
    n = len(t)
    if width is None:
        return t.copy(), ["rebalance to target"] * n
    dev = w - t
    outside = np.abs(dev) > width + 1e-12
    if band_mode == "edge":
        edge = t + np.sign(dev) * np.minimum(width, np.abs(dev))
        w_star = np.where(outside, np.maximum(edge, 0.0), w)
        reasons = ["outside band: to band edge"] * n
    else:
        w_star = np.where(outside, t, w)
        reasons = ["outside band: to target"] * n
    return np.where(t == 0, 0.0, w_star), reasons


def exit_reasons(reasons: list[str], w: np.ndarray, t: np.ndarray, w_star: np.ndarray,
                 universe: list[str], listed: set[str]) -> list[str]:
    """``"not in targets: sell"`` / ``"target 0: sell"`` for the assets sold completely."""
    out = list(reasons)
    for i, sym in enumerate(universe):
        if t[i] == 0 and w_star[i] == 0 and w[i] > 0:
            out[i] = "not in targets: sell" if sym not in listed else "target 0: sell"
    return out


def cost_aware_weights(ctx: PlanContext, w_star: np.ndarray, aversion: float,
                       scale: np.ndarray) -> np.ndarray:
    """Per asset, the weight minimising ``aversion/2 * s_i * (w' - w*)^2 + cost_i(|w' - w| V)/V``.

    The marginal benefit ``aversion * s_i * (|d| - y)`` of trading ``y`` (weight units) toward
    ``w*`` is set equal to the marginal cost rate by bisection; no trade when the first unit
    already costs more than it gains.
    """
    out = ctx.w.copy()
    v = ctx.value
    for i, sym in enumerate(ctx.universe):
        d = w_star[i] - ctx.w[i]
        a = abs(d)
        if a <= 0:
            continue
        lam = aversion * scale[i]

        def g(y: float, a: float = a, lam: float = lam, sym: str = sym) -> float:
            # marginal benefit - marginal cost of trading y (weight units)
            return lam * (a - y) - ctx.model.marginal_rate(sym, y * v)

        if g(0.0) <= 0:
            continue
        if g(a) >= 0:
            y = a
        else:
            lo, hi = 0.0, a
            for _ in range(100):
                mid = (lo + hi) / 2
                if g(mid) > 0:
                    lo = mid
                else:
                    hi = mid
            y = lo
        out[i] = ctx.w[i] + math.copysign(y, d)
    return out
