"""Parity: ``quantlab live --mode replay`` of the bundled history trades exactly like
``ql.backtest`` of the same artifact and data, for every built-in strategy.

Both runs use the same simulator kernel; the runner steps it one closed bar at a time with the
last row of the strategy's signals on a rolling window, the backtest loops over the whole
history. Bar, symbol, side and price must be identical; sizes and fees agree to 1e-9 relative
(volatility-targeted sizing recomputes a rolling standard deviation over the window, which
differs from the full-history one in the last bits).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import quantlab as ql
from quantlab.cli import main
from tests.live.helpers import backtest_fills, promote_builtin, store_fills

PANEL = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]

CASES = [
    # (name, strategy, params, symbols, options, warmup, start)
    ("sma", "sma_cross", {"fast": 10, "slow": 50}, ["BTC/USDT"],
     {"fees_bps": 10.0, "slippage_bps": 5.0}, 50, None),
    ("sma_vol", "sma_cross", {"fast": 5, "slow": 30}, ["ETH/USDT"],
     {"sizing": "vol_target", "target_vol": 0.5, "stop_loss": 0.08}, 30, None),
    ("donchian", "donchian_breakout", {"entry": 20, "exit": 10, "shorts": True}, ["SOL/USDT"],
     {"direction": "long_short", "take_profit": 0.2}, 20, "2023-06-01"),
    ("rsi", "rsi_reversion", {"window": 14, "lower": 30.0, "upper": 70.0}, ["BNB/USDT"],
     {"trailing_stop": 0.1}, 295, "2024-06-01"),
    ("mom", "momentum_rotation", {"lookback": 30, "top_k": 2, "rebalance": 7}, PANEL,
     {"fees_bps": 10.0}, 30, "2024-01-01"),
    ("sma_panel", "sma_cross", {"fast": 10, "slow": 40}, PANEL, {}, 40, "2023-01-01"),
]


def _data(symbols: list[str]) -> pd.DataFrame:
    return ql.load_sample(symbols[0] if len(symbols) == 1 else symbols)


def _compare(live: pd.DataFrame, bt: pd.DataFrame) -> None:
    assert len(live) == len(bt) > 0
    live = live.sort_values(["ts_ms", "symbol"], kind="stable").reset_index(drop=True)
    bt = bt.sort_values(["ts_ms", "symbol"], kind="stable").reset_index(drop=True)
    assert list(live["ts_ms"]) == list(bt["ts_ms"])
    assert list(live["symbol"]) == list(bt["symbol"])
    assert list(live["side"]) == list(bt["side"])
    np.testing.assert_array_equal(live["price"].to_numpy(), bt["price"].to_numpy())
    np.testing.assert_allclose(live["amount"].to_numpy(), bt["amount"].to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(live["fee"].to_numpy(), bt["fee"].to_numpy(), rtol=1e-9)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_replay_trades_equal_backtest(tmp_path, case):
    name, strategy, params, symbols, options, warmup, start = case
    root = tmp_path / "strategies"
    promote_builtin(root, name, strategy, params, symbols, options, warmup)
    state = tmp_path / f"{name}.sqlite"
    args = ["live", name, "--mode", "replay", "--root", str(root), "--state", str(state)]
    if start:
        args += ["--start", start]
    assert main(args) == 0
    res = ql.backtest(strategy, _data(symbols), params=params, start=start, **options)
    _compare(store_fills(state), backtest_fills(res))


def test_replay_cli_subprocess_and_alias(tmp_path):
    """The documented command, as a user runs it (alias ``backtest`` = replay)."""
    root = tmp_path / "strategies"
    promote_builtin(root, "btc_sma", "sma_cross", {"fast": 10, "slow": 50}, ["BTC/USDT"],
                    {"fees_bps": 10.0, "slippage_bps": 5.0}, 50)
    out = subprocess.run([sys.executable, "-m", "quantlab", "live", "btc_sma", "--mode",
                          "backtest", "--root", str(root), "--json"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr
    state = tmp_path / "state" / "btc_sma-replay.sqlite"
    assert state.exists()
    res = ql.backtest("sma_cross", ql.load_sample("BTC/USDT"), params={"fast": 10, "slow": 50},
                      fees_bps=10.0, slippage_bps=5.0)
    _compare(store_fills(state), backtest_fills(res))
    import json

    summary = json.loads(out.stdout)
    assert summary["mode"] == "replay"
    assert summary["fills"] == len(backtest_fills(res))
    assert summary["equity"] == pytest.approx(float(res.equity.iloc[-1]), rel=1e-12)
