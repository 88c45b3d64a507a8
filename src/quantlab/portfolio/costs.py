"""Transaction cost model for rebalance planning.

The estimated cost of trading a notional ``N`` (quote currency, ``N >= 0``) of one asset is::

    cost(N) = N * fee_bps / 1e4                 exchange fee (charged by the exchange)
            + N * spread_bps / 1e4              half the bid-ask spread (paid crossing from mid)
            + N * impact_bps(N) / 1e4           market impact

with the impact in basis points

* ``impact="sqrt"`` (square-root law): ``impact_bps(N) = impact_coef_bps * sqrt(N / ADV)``
* ``impact="linear"``: ``impact_bps(N) = impact_coef_bps * N / ADV``
* ``impact=None``: no impact term.

``ADV`` is the average daily traded *notional* (quote currency) of the asset, given in ``adv``;
``impact_coef_bps`` is the impact, in bps, of trading one full ADV. ``spread_bps`` is the
**half**-spread. The cost is convex and increasing in ``N``, so a marginal cost
:meth:`CostModel.marginal_rate` exists for the cost-aware planner.

Only the fee is an actual charge; spread and impact are estimates of the price moving against
the trader. The planner charges all three to cash (buys spend ``N + cost(N)``, sells receive
``N - cost(N)``), so the post-trade cash stays >= 0 even when fills are that much worse.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from quantlab._validate import check_choice, check_range
from quantlab.data.symbols import normalize_symbol
from quantlab.errors import ParameterError

__all__ = ["CostModel", "as_cost_model"]

IMPACT_MODELS = (None, "sqrt", "linear")


def _bps(value: Any, name: str) -> float:
    return check_range(value, f"costs {name}", 0, hint="(basis points)", coerce=True)


@dataclass(frozen=True)
class CostModel:
    """Fee + half-spread + impact cost model (all in basis points of traded notional).

    Parameters
    ----------
    fee_bps : float
        Exchange fee (default 10 bps = 0.1 %, Binance spot taker).
    spread_bps : float
        Half of the bid-ask spread, in bps.
    impact : {None, "sqrt", "linear"}
        Market impact model on ``notional / ADV``.
    impact_coef_bps : float
        Impact in bps of trading one full ADV (default 100 bps).
    adv : Mapping symbol -> float
        Average daily traded notional in quote currency; required for every traded symbol when
        ``impact`` is set.
    """

    fee_bps: float = 10.0
    spread_bps: float = 0.0
    impact: str | None = None
    impact_coef_bps: float = 100.0
    adv: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fee_bps", _bps(self.fee_bps, "fee_bps"))
        object.__setattr__(self, "spread_bps", _bps(self.spread_bps, "spread_bps"))
        object.__setattr__(self, "impact_coef_bps", _bps(self.impact_coef_bps, "impact_coef_bps"))
        check_choice(self.impact, "costs impact", IMPACT_MODELS)
        adv: dict[str, float] = {}
        for sym, value in dict(self.adv or {}).items():
            try:
                v = float("nan") if isinstance(value, bool) else float(value)
            except (TypeError, ValueError):
                v = float("nan")
            if not math.isfinite(v) or v <= 0:
                raise ParameterError(f"costs adv for {sym} must be a positive notional, got {value!r}")
            try:
                key = normalize_symbol(sym)
            except ParameterError:
                raise ParameterError(f"costs adv: key {sym!r} is not a symbol like BTC/USDT"
                                     ) from None
            if key in adv:
                raise ParameterError(f"costs adv lists {key} twice")
            adv[key] = v
        object.__setattr__(self, "adv", adv)

    @property
    def linear_rate(self) -> float:
        """Fee + half-spread as a fraction of notional (cost of the first unit traded)."""
        return (self.fee_bps + self.spread_bps) / 1e4

    def _adv(self, symbol: str) -> float:
        try:
            return self.adv[normalize_symbol(symbol)]
        except KeyError:
            raise ParameterError(
                f"costs impact={self.impact!r} needs adv for {symbol} (average daily notional)"
            ) from None

    def fee(self, notional: float) -> float:
        """Exchange fee on ``notional``."""
        return abs(notional) * self.fee_bps / 1e4

    def impact_cost(self, symbol: str, notional: float) -> float:
        """Market-impact part of the cost."""
        n = abs(notional)
        if self.impact is None or n == 0:
            return 0.0
        adv = self._adv(symbol)
        if self.impact == "sqrt":
            return n * self.impact_coef_bps / 1e4 * math.sqrt(n / adv)
        return n * self.impact_coef_bps / 1e4 * (n / adv)

    def cost(self, symbol: str, notional: float) -> float:
        """Total estimated cost (fee + half-spread + impact) of trading ``notional``."""
        n = abs(notional)
        return n * self.linear_rate + self.impact_cost(symbol, n)

    def marginal_rate(self, symbol: str, notional: float) -> float:
        """d cost / d notional at ``notional`` (>= :attr:`linear_rate`)."""
        n = abs(notional)
        rate = self.linear_rate
        if self.impact is None or n == 0:
            return rate
        adv = self._adv(symbol)
        k = self.impact_coef_bps / 1e4
        if self.impact == "sqrt":
            return rate + 1.5 * k * math.sqrt(n / adv)
        return rate + 2.0 * k * n / adv

    def to_dict(self) -> dict[str, Any]:
        return {"fee_bps": self.fee_bps, "spread_bps": self.spread_bps, "impact": self.impact,
                "impact_coef_bps": self.impact_coef_bps, "adv": dict(self.adv)}


def as_cost_model(costs: Any) -> CostModel:
    """None (10 bps fee only), a :class:`CostModel` or a dict of its fields."""
    if costs is None:
        return CostModel()
    if isinstance(costs, CostModel):
        return costs
    if isinstance(costs, Mapping):
        unknown = set(costs) - {"fee_bps", "spread_bps", "impact", "impact_coef_bps", "adv"}
        if unknown:
            raise ParameterError(
                f"costs has unknown keys {sorted(unknown)} (use fee_bps, spread_bps, impact, "
                "impact_coef_bps, adv)"
            )
        return CostModel(**dict(costs))
    raise ParameterError(f"costs={costs!r} must be None, a CostModel or a dict")
