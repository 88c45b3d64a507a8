"""risk.report: the stress report (what ``quantlab risk stress`` prints) and its parts."""

from __future__ import annotations

import json

import pytest

import quantlab as ql
from quantlab.risk import StressReport, returns_from_prices, stress_report

W = {"BTC/USDT": 0.5, "ETH/USDT": 0.5}


@pytest.fixture(scope="module")
def closes():
    return ql.load_sample(list(W))["close"]


@pytest.fixture(scope="module")
def report(closes) -> StressReport:
    return stress_report(W, closes, value=1000, scenarios=["covid_crash", "ftx"])


def test_report_has_every_part(report, closes):
    assert list(report.scenarios.table.index) == ["covid_crash", "ftx"]
    assert [r.method for r in report.reverse] == ["uniform", "beta", "ellipsoid"]
    assert report.stressed_var.vol_multiplier == 2.0 and report.stressed_var.rho == 1.0
    rets = returns_from_prices(closes)
    assert report.start == rets.index[0] and report.end == rets.index[-1]
    assert report.drawdown.equity.iloc[0] == 1.0 and report.notes == []
    s = report.stats()
    assert s["worst_scenario_return"] == report.scenarios.table["portfolio_return"].min()
    assert s["reverse_uniform_loss"] == pytest.approx(0.2)


def test_sections_and_blocks(report):
    heads = [h for h, _ in report.sections()]
    assert heads[0] == "scenarios" and heads[1] == "stressed VaR (vol x2, correlation 1)"
    assert heads[2:5] == ["reverse stress (loss limit 20%)"] * 3
    assert heads[-1] == "drawdowns of the constant-weight portfolio"
    blocks = report.report_blocks()
    assert blocks[0] == ("heading", "scenarios")
    assert sum(1 for b in blocks if hasattr(b, "to_plotly_json")) == len(heads)


def test_json_keeps_the_cli_layout(report):
    d = json.loads(json.dumps(report.to_dict()))
    assert {"scenarios", "stressed_var", "reverse", "drawdown", "notes", "weights"} <= set(d)
    rows = d["scenarios"]["scenarios"]
    assert [r["scenario"] for r in rows] == ["covid_crash", "ftx"]
    assert d["reverse"][2]["description"].startswith("worst case in the 99% plausibility")


def test_without_the_market_asset_the_beta_step_is_a_note():
    rep = stress_report({"ETH/USDT": 0.5, "SOL/USDT": 0.5}, scenarios="ftx")
    assert [r.method for r in rep.reverse] == ["uniform", "ellipsoid"]
    assert "market asset BTC/USDT is not in the portfolio" in rep.notes[0]


def test_describe_of_each_reverse_method(closes):
    from quantlab.risk import most_plausible_breach

    rets = returns_from_prices(closes)
    res = most_plausible_breach(W, rets, 0.2)
    assert res.describe().startswith("most plausible breach of a 20.00% loss: k = ")
    assert f"{res.k:.2f}" in res.describe()
