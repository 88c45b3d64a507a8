"""Exchange rules: the bundled Binance fixture, ccxt market dicts, rounding and dust."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from quantlab.errors import DataError, ParameterError, UnknownSymbolError
from quantlab.portfolio.markets import (
    MarketRules,
    Markets,
    fixture_metadata,
    floor_to_step,
    load_markets,
    round_order,
)

BUNDLED = ["BTC/USDT", "ETH/USDT", "BNB/USDT", "XRP/USDT", "DOGE/USDT", "ADA/USDT", "SOL/USDT",
           "AVAX/USDT"]


@pytest.fixture(scope="module")
def binance() -> Markets:
    return load_markets("binance")


def test_fixture_lists_the_bundled_pairs_with_sources(binance):
    assert sorted(binance) == sorted(BUNDLED)
    meta = fixture_metadata("binance")
    assert "sources" in meta
    text = str(meta["sources"])
    assert "ccxt/ccxt" in text and "dev.binance.vision" in text and "not found" in text


def test_btc_rules_match_ccxt_static_binance_markets(binance):
    # ccxt/ccxt ts/src/test/static/markets/binance.json @ 4c47e712: LOT_SIZE stepSize/minQty
    # 0.00001, maxQty 9000, PRICE_FILTER tickSize 0.01, NOTIONAL minNotional 5
    r = binance["BTC/USDT"]
    assert r.amount_step == pytest.approx(0.00001)
    assert r.min_amount == pytest.approx(0.00001)
    assert r.max_amount == pytest.approx(9000)
    assert r.price_tick == pytest.approx(0.01)
    assert r.min_notional == pytest.approx(5)
    assert r.known and "ccxt/ccxt" in r.source


@pytest.mark.parametrize(("symbol", "step", "min_notional"), [
    ("ETH/USDT", 0.0001, 5), ("XRP/USDT", 1, 5), ("DOGE/USDT", 1, 5), ("ADA/USDT", 0.1, 5),
    # BNB: dev.binance.vision forum post (older MIN_NOTIONAL filter)
    ("BNB/USDT", 0.01, 10),
])
def test_other_fixture_values(binance, symbol, step, min_notional):
    r = binance[symbol]
    assert r.amount_step == pytest.approx(step)
    assert r.min_notional == pytest.approx(min_notional)


def test_pairs_not_found_are_marked_unknown(binance):
    for sym in ("SOL/USDT", "AVAX/USDT"):
        r = binance[sym]
        assert not r.known
        assert r.amount_step is None and r.min_notional is None


def test_round_order_rounds_down_to_step(binance):
    r = binance.round_order("BTC/USDT", 0.123456789, 68347.36)
    assert r.ok and r.quantity == pytest.approx(0.12345) and r.reason == ""
    # no float drift: 0.3 / 0.1 is exactly 3 steps
    assert floor_to_step(0.3, 0.1) == pytest.approx(0.3)
    assert floor_to_step(0.29999, 0.1) == pytest.approx(0.2)
    assert binance.round_order("XRP_USDT", 7.9, 1.4428).quantity == 7.0


def test_round_order_min_notional_and_min_amount(binance):
    r = binance.round_order("BTC/USDT", 0.00007, 68347.36)  # 4.78 USDT < 5
    assert not r.ok and r.reason == "below min notional 5"
    r = binance.round_order("BTC/USDT", 0.000004, 68347.36)  # rounds to 0 steps
    assert not r.ok and "zero quantity" in r.reason
    assert binance.is_dust("XRP/USDT", 3, 1.4428)  # 4.33 USDT
    assert not binance.is_dust("XRP/USDT", 4, 1.4428)  # 5.77 USDT
    rules = MarketRules("ABC/USDT", amount_step=0.5, min_amount=2.0)
    assert round_order(rules, 1.9, 100.0).reason == "below min amount 2"


def test_round_order_caps_at_max_amount():
    rules = MarketRules("ABC/USDT", amount_step=1.0, max_amount=10.0)
    r = round_order(rules, 25.0, 1.0)
    assert r.ok and r.quantity == 10 and "capped" in r.reason


def test_round_order_without_rules_is_fractional():
    r = round_order(None, 0.123456789, 10.0, symbol="X/USDT")
    assert r.ok and r.quantity == 0.123456789


def test_round_order_rejects_bad_numbers(binance):
    with pytest.raises(ParameterError, match="BTC/USDT"):
        binance.round_order("BTC/USDT", -1.0, 100.0)
    with pytest.raises(ParameterError, match="price"):
        binance.round_order("BTC/USDT", 1.0, float("nan"))
    with pytest.raises(UnknownSymbolError, match="LTC/USDT"):
        binance.round_order("LTC/USDT", 1.0, 100.0)


def test_from_ccxt_decimal_places_and_tick_size():
    market = {"symbol": "BTC/USDT", "precision": {"amount": 5, "price": 2},
              "limits": {"amount": {"min": 0.00001}, "cost": {"min": 5}}}
    r = MarketRules.from_ccxt(market, precision_mode="decimals")
    assert r.amount_step == pytest.approx(1e-5) and r.price_tick == pytest.approx(0.01)
    tick = dict(market, precision={"amount": 0.001, "price": 0.1})
    assert MarketRules.from_ccxt(tick).amount_step == pytest.approx(0.001)
    # Binance filters win over precision
    filt = dict(market, info={"filters": [{"filterType": "LOT_SIZE", "stepSize": "0.01000000",
                                           "minQty": "0.01", "maxQty": "100"}]})
    assert MarketRules.from_ccxt(filt, precision_mode="decimals").amount_step == pytest.approx(0.01)


def test_load_markets_from_exchange_like_object_skips_derivatives():
    ex = SimpleNamespace(id="binance", precisionMode=2, markets={
        "ETH/USDT": {"symbol": "ETH/USDT", "precision": {"amount": 4, "price": 2},
                     "limits": {"cost": {"min": 5}}},
        "ETH/USDT:USDT": {"symbol": "ETH/USDT:USDT", "contract": True},
    })
    m = load_markets(ex)
    assert list(m) == ["ETH/USDT"]
    assert m["eth/usdt"].amount_step == pytest.approx(1e-4)


def test_load_markets_bad_sources(tmp_path):
    with pytest.raises(DataError, match=r"nope\.json"):
        load_markets(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match=r"bad\.json"):
        load_markets(bad)
    with pytest.raises(ParameterError):
        load_markets(42)
