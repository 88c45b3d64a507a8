"""The disk-cached `from_orders` route gives exactly the fills of vectorbt's `from_signals`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantlab.backtesting.engine import prepare_data, resolve_strategy, simulate_signals
from quantlab.backtesting.options import BacktestOptions
from quantlab.errors import ParameterError


def _both(strategy: str, data: pd.DataFrame, params: dict, sleeves: bool = False, **options):
    opts = BacktestOptions(**options)
    pdata = prepare_data(data)
    sig = resolve_strategy(strategy, params).run(pdata.bars)
    kw = {}
    if sleeves:
        kw = {"group_by": True, "init_cash": opts.init_cash / len(pdata.symbols)}
    return (simulate_signals(sig, pdata, opts, route="signals", **kw),
            simulate_signals(sig, pdata, opts, route="orders", **kw))


def _same(a, b) -> None:
    ra, rb = a.orders.values, b.orders.values
    assert len(ra) == len(rb) > 0
    for field in ("col", "idx", "size", "price", "fees", "side"):
        np.testing.assert_allclose(ra[field], rb[field], rtol=1e-12, err_msg=field)
    np.testing.assert_allclose(np.asarray(a.value()), np.asarray(b.value()), rtol=1e-12)


@pytest.mark.parametrize("options", [
    {},
    {"fees_bps": 25, "slippage_bps": 15},
    {"fill": "close"},
    {"sizing": "fixed_fraction", "fraction": 0.4},
    {"sizing": "vol_target", "target_vol": 0.3},
])
@pytest.mark.parametrize(("strategy", "params"), [
    ("sma_cross", {"fast": 5, "slow": 30}),
    ("rsi_reversion", {}),
    ("donchian_breakout", {}),
    ("sma_cross+vol_target", {"target_vol": 0.4}),
])
def test_single_asset_routes_agree(btc: pd.DataFrame, strategy: str, params: dict,
                                   options: dict) -> None:
    if strategy.endswith("+vol_target") and "sizing" in options:
        # the overlay sizes its own entries: another sizing would be silently ignored
        with pytest.raises(ParameterError, match="sizes its own entries"):
            _both(strategy, btc, params, **options)
        return
    _same(*_both(strategy, btc, params, **options))


def test_panel_sleeves_routes_agree(panel: pd.DataFrame) -> None:
    # includes SOL's NaN prices before listing: signals there must not fill on either route
    _same(*_both("sma_cross", panel, {"fast": 10, "slow": 40}, sleeves=True))
    _same(*_both("donchian_breakout", panel, {}, sleeves=True, sizing="fixed_fraction", fraction=0.5))


def test_orders_route_refuses_what_it_cannot_do(btc: pd.DataFrame) -> None:
    opts = BacktestOptions(stop_loss=0.05)
    pdata = prepare_data(btc)
    sig = resolve_strategy("sma_cross", {}).run(pdata.bars)
    with pytest.raises(ParameterError, match="route='orders'"):
        simulate_signals(sig, pdata, opts, route="orders")
