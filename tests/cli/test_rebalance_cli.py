"""`quantlab rebalance plan | backtest` run in-process on the bundled sample and example holdings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quantlab.cli import main
from quantlab.portfolio import load_markets

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "holdings.csv"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_plan_json_orders_are_exchange_valid(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "rebalance", "plan", "--holdings", str(EXAMPLE), "--target", "erc",
                         "--symbols", "BTC/USDT,ETH/USDT,BNB/USDT,XRP/USDT", "--lot-method", "hifo",
                         "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["target_spec"] == "erc"
    assert sum(d["targets"].values()) == pytest.approx(1.0)
    markets = load_markets("binance")
    assert d["orders"], "the example holdings are far from ERC: some orders are expected"
    for order in d["orders"]:
        rules = markets[order["symbol"]]
        assert rules.check(order["quantity"], order["price"]) == ""     # step, min amount, min notional
        assert rules.round_amount(order["quantity"]) == pytest.approx(order["quantity"], abs=1e-12)

def test_plan_fixed_weights_text(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "rebalance", "plan", "--holdings", str(EXAMPLE), "--target", "0.5,0.5",
                         "--symbols", "BTC/USDT,ETH/USDT", "--html", str(tmp_path / "plan.html"))
    assert code == 0, err
    assert "orders:" in out and "tax lots sold:" in out
    assert (tmp_path / "plan.html").exists()


def test_rebalance_backtest_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "rebalance", "backtest", "--symbols", "BTC/USDT,ETH/USDT",
                         "--policy", "monthly", "--target", "erc", "--json")
    assert code == 0, err
    d = json.loads(out)
    stats = d.get("stats", d)
    assert stats["rebalances"] > 50               # ~ one per month since 2020
    assert stats["fees_paid"] > 0


@pytest.mark.parametrize(("argv", "needle"), [
    (["rebalance", "plan", "--holdings", "nope.csv"], "nope.csv"),
    (["rebalance", "plan", "--holdings", str(EXAMPLE), "--target", "magic"], "--target 'magic'"),
    (["rebalance", "plan", "--holdings", str(EXAMPLE), "--target", "0.5,0.5",
      "--symbols", "BTC/USDT"], "2 weights for 1 symbols"),
    (["rebalance", "plan", "--holdings", str(EXAMPLE), "--lookback", "5000"], "--lookback"),
    (["rebalance", "backtest", "--symbols", "BTC/USDT"], "at least two symbols"),
    (["rebalance", "backtest", "--policy", "sometimes"], "sometimes"),
])
def test_rebalance_user_errors(capsys: pytest.CaptureFixture[str], argv: list[str], needle: str) -> None:
    code, _, err = run(capsys, *argv)
    assert code in (1, 2)
    assert needle in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_bad_holdings_row_names_file_and_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "h.csv"
    bad.write_text("symbol,quantity\nBTC/USDT,0.1\nETH/USDT,abc\n")
    code, _, err = run(capsys, "rebalance", "plan", "--holdings", str(bad))
    assert code != 0 and "h.csv" in err and "line 3" in err
