"""Parity of the model-driven ``regime`` strategy: ``quantlab live --mode replay`` over the last
500 days of BTC trades exactly like ``ql.backtest`` of the same period, and both refit the model
at the same bars on the same data.

The runner calls the strategy every bar on a rolling window of ``2 x warmup()`` bars; the backtest
runs it once on the whole history. The fit cache is cleared before each run so the replay fits
its own models instead of reusing the backtest's.
"""

from __future__ import annotations

import pandas as pd

import quantlab as ql
from quantlab.cli import main
from quantlab.strategies import MarkovRegime
from tests.live.helpers import backtest_fills, promote_builtin, store_fills
from tests.live.test_replay_parity import _compare

PARAMS = {"train": 365, "every": 30, "threshold": 0.5}
OPTIONS = {"fees_bps": 10.0, "slippage_bps": 5.0}


def _fitted_at(keys: list) -> dict[pd.Timestamp, bytes]:
    """Retraining bar -> digest of its training data, from the fit cache's keys."""
    return {pd.Timestamp(ms, unit="ms", tz="UTC"): dig for ms, dig in keys}


def test_replay_of_regime_equals_backtest(tmp_path) -> None:
    btc = ql.load_sample("BTC/USDT")
    start = btc.index[-500]
    strat = MarkovRegime(**PARAMS)
    assert strat.warmup() == 395

    MarkovRegime.clear_cache()
    res = ql.backtest("regime", btc, params=PARAMS, start=start, **OPTIONS)
    backtest_fits = _fitted_at(MarkovRegime._fits.keys())

    MarkovRegime.clear_cache()
    root = tmp_path / "strategies"
    promote_builtin(root, "btc_regime", "regime", PARAMS, ["BTC/USDT"], OPTIONS,
                    warmup=strat.warmup())
    state = tmp_path / "regime.sqlite"
    assert main(["live", "btc_regime", "--mode", "replay", "--root", str(root), "--state",
                 str(state), "--start", str(start.date())]) == 0
    replay_fits = _fitted_at(MarkovRegime._fits.keys())

    live, bt = store_fills(state), backtest_fills(res)
    assert len(bt) >= 20  # the regime turns often enough to test something
    _compare(live, bt)

    # the same retraining bars, fitted on the same data: every retraining bar the replay
    # decided with (from one window before the start to the end) is one of the backtest's
    first_window = btc.index[btc.index.get_loc(start) - 2 * strat.warmup()]
    expected = strat.retrain_times(btc.loc[first_window:].iloc[PARAMS["train"]:])
    assert set(replay_fits) == set(expected)
    assert {t: backtest_fits[t] for t in replay_fits} == replay_fits
    during = expected[expected >= start]
    days = during.as_unit("ms").asi8 // 86_400_000
    assert len(during) == 17 and (days % 30 == 0).all()
    assert days[0] - 30 < start.value // 86_400_000_000_000 <= days[0]
