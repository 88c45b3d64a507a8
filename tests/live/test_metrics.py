"""LiveMetrics: values as Prometheus scrapes them (parsed back with prometheus_client's parser)."""

from __future__ import annotations

import math

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from quantlab.errors import ParameterError, QuantlabError
from quantlab.live.metrics import LATENCY_BUCKETS, LiveMetrics


def samples(m: LiveMetrics) -> dict[tuple[str, frozenset], float]:
    """{(sample name, frozenset(labels.items())): value} of one exposition."""
    out = {}
    for family in text_string_to_metric_families(m.exposition().decode()):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(m: LiveMetrics, name: str, **labels: str) -> float:
    labels.setdefault("strategy", m.strategy)
    return samples(m)[(name, frozenset(labels.items()))]


def names(m: LiveMetrics, name: str) -> list[dict[str, str]]:
    return [dict(lbl) for (n, lbl) in samples(m) if n == name]


def test_identity_series():
    m = LiveMetrics("btc_sma", "paper", version="3")
    assert value(m, "quantlab_up") == 1.0
    assert value(m, "quantlab_info", mode="paper", version="3") == 1.0
    assert value(m, "quantlab_breaker_level") == 0.0
    assert value(m, "quantlab_fills_total") == 0.0
    assert math.isnan(value(m, "quantlab_last_bar_timestamp_seconds"))


def test_equity_drawdown_peak():
    m = LiveMetrics("btc_sma", "live")
    m.set_equity(9_500.0, drawdown=0.05, peak=10_000.0)
    assert value(m, "quantlab_equity") == 9_500.0
    assert value(m, "quantlab_drawdown") == 0.05
    assert value(m, "quantlab_peak_equity") == 10_000.0
    m.set_equity(10_200.0, drawdown=0.0, peak=10_200.0)
    assert value(m, "quantlab_equity") == 10_200.0
    assert value(m, "quantlab_drawdown") == 0.0


def test_positions_per_symbol_and_removal():
    m = LiveMetrics("pair", "paper")
    m.set_positions({"BTC/USDT": 1234.5, "ETH/USDT": -300.25})
    assert value(m, "quantlab_position_notional", symbol="BTC/USDT") == 1234.5
    assert value(m, "quantlab_position_notional", symbol="ETH/USDT") == -300.25
    m.set_positions({"ETH/USDT": -100.0})
    assert names(m, "quantlab_position_notional") == [{"strategy": "pair", "symbol": "ETH/USDT"}]
    assert value(m, "quantlab_position_notional", symbol="ETH/USDT") == -100.0
    m.set_positions({})
    assert names(m, "quantlab_position_notional") == []


def test_orders_by_status():
    m = LiveMetrics("s", "live")
    m.set_orders({"open": 2, "closed": 7, "weird": 1})
    assert value(m, "quantlab_orders", status="open") == 2
    assert value(m, "quantlab_orders", status="closed") == 7
    assert value(m, "quantlab_orders", status="weird") == 1
    assert value(m, "quantlab_orders", status="rejected") == 0
    m.set_orders({"closed": 9})
    # standard statuses drop to 0, unknown ones disappear
    assert value(m, "quantlab_orders", status="open") == 0
    assert value(m, "quantlab_orders", status="closed") == 9
    statuses = {lbl["status"] for lbl in names(m, "quantlab_orders")}
    assert "weird" not in statuses
    assert {"intent", "open", "closed", "canceled", "rejected", "expired"} <= statuses


def test_fills_and_rejects_counters():
    m = LiveMetrics("s", "paper")
    m.inc_fills()
    m.inc_fills(3)
    assert value(m, "quantlab_fills_total") == 4
    m.inc_rejects("max_order_notional")
    m.inc_rejects("max_order_notional")
    m.inc_rejects("daily_loss")
    assert value(m, "quantlab_rejects_total", rule="max_order_notional") == 2
    assert value(m, "quantlab_rejects_total", rule="daily_loss") == 1
    with pytest.raises(ParameterError, match="n must be >= 0"):
        m.inc_fills(-1)


def test_latency_histograms():
    m = LiveMetrics("s", "paper")
    for sec in (0.0005, 0.003, 0.003, 0.2, 20.0):
        m.observe_decision(sec)
    m.observe_submit(0.04)
    h = "quantlab_decision_latency_seconds"
    assert value(m, f"{h}_count") == 5
    assert value(m, f"{h}_sum") == pytest.approx(20.2065)
    assert value(m, f"{h}_bucket", le="0.001") == 1
    assert value(m, f"{h}_bucket", le="0.005") == 3
    assert value(m, f"{h}_bucket", le="0.25") == 4
    assert value(m, f"{h}_bucket", le="10.0") == 4
    assert value(m, f"{h}_bucket", le="+Inf") == 5
    les = [lbl["le"] for lbl in names(m, f"{h}_bucket")]
    assert les == [*(repr(float(b)) for b in LATENCY_BUCKETS), "+Inf"]
    assert value(m, "quantlab_bar_to_submit_seconds_count") == 1
    assert value(m, "quantlab_bar_to_submit_seconds_bucket", le="0.025") == 0
    assert value(m, "quantlab_bar_to_submit_seconds_bucket", le="0.05") == 1


def test_breaker_and_data():
    m = LiveMetrics("s", "live")
    m.set_breaker(2)
    assert value(m, "quantlab_breaker_level") == 2
    with pytest.raises(ParameterError, match="level must be 0, 1, 2 or 3"):
        m.set_breaker(4)
    assert value(m, "quantlab_breaker_level") == 2
    m.set_data(staleness_bars=3, latency_s=1.25, last_bar_ms=1_700_000_040_000)
    assert value(m, "quantlab_data_staleness_bars") == 3
    assert value(m, "quantlab_data_latency_seconds") == 1.25
    assert value(m, "quantlab_last_bar_timestamp_seconds") == 1_700_000_040.0
    m.set_data(0, 0.0, None)
    assert math.isnan(value(m, "quantlab_last_bar_timestamp_seconds"))


def test_two_runners_do_not_share_values():
    a = LiveMetrics("alpha", "paper")
    b = LiveMetrics("beta", "live")
    a.set_equity(100.0, 0.1, 111.0)
    a.inc_fills(5)
    b.set_equity(200.0, 0.0, 200.0)
    assert a.registry is not b.registry
    assert value(a, "quantlab_equity") == 100.0
    assert value(b, "quantlab_equity") == 200.0
    assert value(a, "quantlab_fills_total") == 5
    assert value(b, "quantlab_fills_total") == 0
    assert {dict(lbl)["strategy"] for (_, lbl) in samples(b)} == {"beta"}
    # the same name twice in one process is fine as well (own registries), and nothing global
    LiveMetrics("alpha", "paper")
    assert REGISTRY.get_sample_value("quantlab_equity", {"strategy": "alpha"}) is None


def test_bad_strategy_name():
    with pytest.raises(QuantlabError, match="strategy must be a non-empty string"):
        LiveMetrics("", "paper")


def test_reconcile_mismatch_gauge() -> None:
    m = LiveMetrics("recon", "live")
    text = m.exposition().decode()
    assert 'quantlab_reconcile_mismatch{strategy="recon"} 0.0' in text
    m.set_reconcile(True)
    assert 'quantlab_reconcile_mismatch{strategy="recon"} 1.0' in m.exposition().decode()
    m.set_reconcile(False)
    assert 'quantlab_reconcile_mismatch{strategy="recon"} 0.0' in m.exposition().decode()
