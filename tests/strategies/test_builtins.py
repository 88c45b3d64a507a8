"""Built-in strategies on tiny hand-computed fixtures."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from quantlab.strategies import (
    DonchianBreakout,
    MomentumRotation,
    RsiReversion,
    Signals,
    SmaCross,
    TargetWeights,
    VolTarget,
    get_strategy,
    with_vol_target,
)
from quantlab.strategies.vol_target import VolTargetMixin

from .test_indicators import STOCKCHARTS_CLOSES


def make_bars(close, high=None, low=None) -> pd.DataFrame:
    close = np.asarray(close, dtype="float64")
    idx = pd.date_range("2024-01-01", periods=len(close), freq="D", tz="UTC", name="time")
    high = close if high is None else np.asarray(high, dtype="float64")
    low = close if low is None else np.asarray(low, dtype="float64")
    return pd.DataFrame(
        {"open": close, "high": high, "low": low, "close": close, "volume": 1.0}, index=idx
    )


def true_at(s: pd.Series) -> list[int]:
    return [int(i) for i in np.flatnonzero(s.to_numpy())]


# -- sma_cross ----------------------------------------------------------------------------
def test_sma_cross_hand_computed() -> None:
    # bar:   0   1   2   3   4   5   6   7   8   9
    # close 10  10  10  11  12  11   9   8   9  12
    # sma2   .  10  10 10.5 11.5 11.5 10 8.5 8.5 10.5
    # sma3   .   .  10 10.33 11 11.33 10.67 9.33 8.67 9.67
    # f-s    .   .   0  +    +   +    -    -    -   +
    bars = make_bars([10, 10, 10, 11, 12, 11, 9, 8, 9, 12])
    sig = SmaCross(fast=2, slow=3).run(bars)
    assert true_at(sig.entries) == [3, 9]  # 0 -> + at bar 3 (<= then >), - -> + at bar 9
    assert true_at(sig.exits) == [6]
    assert SmaCross(fast=2, slow=3).warmup() == 3


def test_sma_cross_entries_are_events_not_states(btc: pd.DataFrame) -> None:
    sig = SmaCross(fast=10, slow=50).run(btc)
    above = btc["close"].rolling(10).mean() > btc["close"].rolling(50).mean()
    assert sig.entries.sum() < above.sum() / 10  # one bar per crossing, not every bar above
    assert not (sig.entries & sig.exits).any()
    # entries and exits alternate
    events = pd.concat([sig.entries[sig.entries].astype(int), -sig.exits[sig.exits].astype(int)])
    seq = events.sort_index().to_numpy()
    assert (np.diff(seq) != 0).all()


# -- rsi_reversion ------------------------------------------------------------------------
def test_rsi_reversion_on_stockcharts_series() -> None:
    # RSI (see test_indicators): ... 66.48 (bar 16), 69.35 (17), ... 37.32 (30), 33.09 (31),
    # 37.79 (32)
    bars = make_bars(STOCKCHARTS_CLOSES)
    sig = RsiReversion(window=14, lower=35, upper=68).run(bars)
    assert true_at(sig.entries) == [31]  # 37.32 -> 33.09 crosses below 35
    assert true_at(sig.exits) == [17]  # 66.48 -> 69.35 crosses above 68 (bar 14 has no t-1)
    confirm = RsiReversion(window=14, lower=35, upper=68, confirm=True).run(bars)
    assert true_at(confirm.entries) == [32]  # 33.09 -> 37.79 crosses back above 35
    # window + 1 + ceil(ln(1e-9) / ln(13/14)) = 15 + 280: the seed weighs < 1e-9 after that
    assert RsiReversion(window=14).warmup() == 295


# -- donchian_breakout --------------------------------------------------------------------
DON_CLOSE = [10, 11, 10.5, 10.8, 11.6, 11.2, 10.0, 9.5]


def don_bars() -> pd.DataFrame:
    c = np.array(DON_CLOSE)
    return make_bars(c, high=c + 0.2, low=c - 0.2)


def test_donchian_breakout_hand_computed() -> None:
    # bar 4: close 11.6 > max(high[1..3]) = 11.2 -> entry; its own high (11.8) is excluded
    # bar 6: close 10.0 < min(low[4..5]) = 11.0 -> exit; bar 7: 9.5 < min(11.0, 9.8) -> exit
    sig = DonchianBreakout(entry=3, exit=2).run(don_bars())
    assert true_at(sig.entries) == [4]
    assert true_at(sig.exits) == [6, 7]
    assert sig.short_entries is None and sig.short_exits is None
    assert DonchianBreakout(entry=3, exit=2).warmup() == 3


def test_donchian_shorts() -> None:
    # short entry: bar 6 close 10.0 < min(low[3..5]) = 10.6; bar 7 9.5 < min(low[4..6]) = 9.8
    # short exit: bar 4 close 11.6 > max(high[2..3]) = 11.0
    strat = DonchianBreakout(entry=3, exit=2, shorts=True)
    sig = strat.run(don_bars())
    assert true_at(sig.short_entries) == [6, 7]
    assert true_at(sig.short_exits) == [4]
    assert strat.shorts is True and DonchianBreakout().shorts is False
    assert DonchianBreakout.shorts is True  # class-level: can emit shorts


# -- momentum_rotation --------------------------------------------------------------------
def rotation_panel() -> pd.DataFrame:
    i = np.arange(10.0)
    close = pd.DataFrame(
        {
            "A": 1.01**i,
            "B": 1.03**i,
            "C": 0.99**i,
            "D": np.where(i < 4, np.nan, 1.10**i),  # listed at bar 4, strongest
            "E": np.ones(10),  # zero momentum: not > min_momentum
        },
        index=pd.date_range("2024-01-01", periods=10, freq="D", tz="UTC", name="time"),
    )
    fields = {f: close for f in ["open", "high", "low", "close"]}
    fields["volume"] = close * 0 + 1
    return pd.concat(fields, axis=1, names=["field", "symbol"])


def test_momentum_rotation_picks_top_k() -> None:
    out = MomentumRotation(lookback=3, top_k=2, rebalance=2).run(rotation_panel())
    assert isinstance(out, TargetWeights)
    w = out.weights
    assert list(w.columns) == ["A", "B", "C", "D", "E"]
    rebal = [3, 5, 7, 9]  # i >= 3 and (i - 3) % 2 == 0
    assert w.notna().all(axis=1).to_numpy().nonzero()[0].tolist() == rebal
    assert w.drop(w.index[rebal]).isna().all().all()
    # bars 3, 5: D lacks 4 valid closes -> B, A; bars 7, 9: D, B
    expected = {3: {"A": 0.5, "B": 0.5}, 5: {"A": 0.5, "B": 0.5}, 7: {"B": 0.5, "D": 0.5}}
    expected[9] = expected[7]
    for bar, held in expected.items():
        row = w.iloc[bar]
        assert row.to_dict() == {s: held.get(s, 0.0) for s in "ABCDE"}, bar
    assert (w.sum(axis=1).dropna() <= 1.0 + 1e-12).all()


def test_momentum_rotation_unfilled_slots_stay_in_cash() -> None:
    # 3-bar returns: A 3.0 %, B 9.3 %, D 33 % -> with min_momentum 5 % only B (then D) qualify
    w = (
        MomentumRotation(lookback=3, top_k=2, rebalance=2, min_momentum=0.05)
        .run(rotation_panel())
        .weights
    )
    assert w.iloc[3].to_dict() == {"A": 0.0, "B": 0.5, "C": 0.0, "D": 0.0, "E": 0.0}
    assert w.iloc[3].sum() == 0.5


def test_momentum_rotation_on_sample_panel(panel: pd.DataFrame) -> None:
    w = MomentumRotation().run(panel).weights
    assert w.iloc[:90].isna().all().all()
    rows = w.dropna(how="all")
    assert rows.notna().all().all()  # rebalance rows are complete (unlisted assets -> 0)
    assert set(np.unique(rows.to_numpy())) <= {0.0, 1 / 3}
    assert (rows.sum(axis=1) <= 1.0 + 1e-12).all()
    sol_listed = panel["close"]["SOL/USDT"].first_valid_index()
    assert (rows.loc[rows.index < sol_listed, "SOL/USDT"] == 0.0).all()
    assert len(rows) == len(range(90, len(panel), 7))


def test_momentum_rotation_single_asset_frame(btc: pd.DataFrame) -> None:
    w = MomentumRotation(lookback=30, top_k=1, rebalance=10).run(btc).weights
    assert w.shape == (len(btc), 1)
    assert set(np.unique(w.dropna().to_numpy())) <= {0.0, 1.0}


# -- vol-target overlay -------------------------------------------------------------------
def test_vol_target_class_and_params() -> None:
    cls = with_vol_target(SmaCross)
    assert cls is get_strategy("sma_cross+vol_target") is with_vol_target(SmaCross)
    assert cls.name == "sma_cross+vol_target" and issubclass(cls, SmaCross)
    assert list(cls.params) == ["fast", "slow", "target_vol", "vol_lookback", "max_leverage"]
    s = cls()
    assert (s.target_vol, s.vol_lookback, s.max_leverage) == (0.5, 30, 1.0)
    assert cls(slow=20, fast=5, vol_lookback=60).warmup() == 60
    assert cls(slow=100).warmup() == 100
    assert pickle.loads(pickle.dumps(cls(fast=3, slow=7))) == cls(fast=3, slow=7)
    v = VolTarget(SmaCross(fast=5, slow=20), target_vol=0.3)
    assert isinstance(v, cls) and v.values == {
        "fast": 5,
        "slow": 20,
        "target_vol": 0.3,
        "vol_lookback": 30,
        "max_leverage": 1.0,
    }


def test_vol_target_size_values(btc: pd.DataFrame) -> None:
    strat = with_vol_target(SmaCross)(target_vol=0.4, vol_lookback=20, max_leverage=1.5)
    sig = strat.run(btc)
    plain = SmaCross().run(btc)
    pd.testing.assert_series_equal(sig.entries, plain.entries)
    pd.testing.assert_series_equal(sig.exits, plain.exits)
    size = sig.size
    assert np.isfinite(size.to_numpy()).all()
    assert (size.iloc[:20] == 0).all()  # warm-up: no volatility estimate -> size 0
    assert ((size >= 0) & (size <= 1.5)).all()
    close = btc["close"].to_numpy()
    for t in (20, 700, 2000):
        rets = close[t - 19 : t + 1] / close[t - 20 : t] - 1
        vol = np.std(rets, ddof=1) * np.sqrt(365)
        assert size.iloc[t] == pytest.approx(min(0.4 / vol, 1.5), rel=1e-10)


def test_vol_target_flat_prices_give_zero_size() -> None:
    sig = with_vol_target(SmaCross)(fast=2, slow=3, vol_lookback=3).run(make_bars([5.0] * 10))
    assert (sig.size == 0).all()


def test_vol_target_weights_scaled_and_capped(panel: pd.DataFrame) -> None:
    inner = MomentumRotation(lookback=30, top_k=2, rebalance=5)
    base = inner.run(panel).weights
    strat = VolTarget(inner, target_vol=5.0, vol_lookback=20, max_leverage=0.8)
    w = strat.run(panel).weights
    pd.testing.assert_index_equal(w.columns, base.columns)
    assert (w.isna() == base.isna()).all().all()
    gross = w.abs().sum(axis=1)[w.notna().any(axis=1)]
    assert (gross <= 0.8 + 1e-12).all() and gross.max() == pytest.approx(0.8)
    low = VolTarget(inner, target_vol=0.05, vol_lookback=20, max_leverage=0.8).run(panel).weights
    ratio = (low / base).where(base > 0).stack().dropna()
    factor = (0.05 / (panel["close"].pct_change().rolling(20).std() * np.sqrt(365))).reindex_like(
        base
    )
    expect = factor.where(base > 0).stack().dropna()
    np.testing.assert_allclose(ratio.to_numpy(), expect.loc[ratio.index].to_numpy(), rtol=1e-9)


def test_vol_target_rejects_double_wrapping() -> None:
    from quantlab.errors import StrategyError

    with pytest.raises(StrategyError, match="already"):
        with_vol_target(with_vol_target(SmaCross))
    assert issubclass(get_strategy("donchian_breakout+vol_target"), VolTargetMixin)


def test_all_builtins_return_expected_types(btc: pd.DataFrame, panel: pd.DataFrame) -> None:
    for cls in (SmaCross, RsiReversion, DonchianBreakout):
        for bars in (btc, panel):
            out = cls().run(bars)
            assert isinstance(out, Signals)
            expected = pd.Series if bars is btc else pd.DataFrame
            assert isinstance(out.entries, expected)
            if bars is panel:
                assert list(out.entries.columns) == list(panel["close"].columns)
                # SOL is NaN before listing: signals there are False, never NaN
                before = panel["close"]["SOL/USDT"].isna()
                assert not out.entries.loc[before, "SOL/USDT"].any()


@pytest.mark.parametrize(
    "strategy",
    [
        SmaCross(fast=3, slow=9),
        RsiReversion(confirm=True),
        DonchianBreakout(shorts=True),
        MomentumRotation(top_k=2),
        VolTarget(DonchianBreakout(shorts=True), target_vol=0.2),
    ],
    ids=repr,
)
def test_strategies_pickle_round_trip(strategy) -> None:
    # sweeps and Dask workers ship strategy instances between processes
    clone = pickle.loads(pickle.dumps(strategy))
    assert clone == strategy and type(clone) is type(strategy)
    assert getattr(clone, "shorts", False) == getattr(strategy, "shorts", False)
