"""What the live runner relies on: signals on a window that starts later agree with the
full-history signals once the window is past the strategy's warm-up.

(Exact for finite-memory indicators. Wilder's RSI is an exponential smoother with infinite memory,
so rsi_reversion needs a longer window than its warm-up to agree; that is measured by the promote
layer's warm-up gate, not asserted here.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantlab.strategies import get_strategy


@pytest.mark.parametrize(("name", "params"), [
    ("sma_cross", {"fast": 10, "slow": 50}),
    ("donchian_breakout", {"entry": 20, "exit": 10}),
])
@pytest.mark.parametrize("offset", [1, 137, 500])
def test_signal_strategies_window_invariant(btc: pd.DataFrame, name: str, params: dict,
                                            offset: int) -> None:
    strat = get_strategy(name)(**params)
    full = strat.signals(btc)
    part = strat.signals(btc.iloc[offset:])
    after = part.entries.index[strat.warmup() + 1:]
    for key in ("entries", "exits"):
        np.testing.assert_array_equal(getattr(part, key).loc[after].to_numpy(),
                                      getattr(full, key).loc[after].to_numpy())


@pytest.mark.parametrize("offset", [1, 3, 250])
def test_momentum_rotation_rebalances_on_calendar_dates(panel: pd.DataFrame, offset: int) -> None:
    strat = get_strategy("momentum_rotation")(lookback=30, top_k=2, rebalance=7)
    full = strat.signals(panel).weights
    part = strat.signals(panel.iloc[offset:]).weights
    after = part.index[strat.warmup():]
    pd.testing.assert_frame_equal(part.loc[after], full.loc[after])
    rebal = full.dropna(how="all").index
    assert (rebal.day_of_week == 3).all()          # every 7th day since 1970-01-01, a Thursday
    assert (np.diff(rebal.asi8) == np.diff(rebal.asi8)[0]).all()
