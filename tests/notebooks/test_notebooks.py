"""Every notebook runs top to bottom through the report runner (papermill on the `quantlab`
kernel, small parameters); the figures it records equal the library's own results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"

SMALL = {
    "research.ipynb": {"max_window": 12, "fast": 5, "slow": 10},
    "risk_report.ipynb": {"symbols": "BTC/USDT,ETH/USDT", "weights": "0.6,0.4", "window": 500},
    "rebalance.ipynb": {"symbols": "BTC/USDT,ETH/USDT,BNB/USDT", "policies": "monthly,threshold",
                        "holdings_file": str(NOTEBOOKS.parent / "examples" / "holdings.csv")},
    "nightly.ipynb": {"symbols": "BTC/USDT,ETH/USDT", "weights": "0.6,0.4", "oos_days": 60,
                      "strategies": "sma_cross:fast=5,slow=20", "reports_dir": "reports"},
    # ^ no nights yet: the empty history renders
}


NEEDLE = {"research.ipynb": "total_return", "risk_report.ipynb": "p_value",
          "rebalance.ipynb": "turnover_annual", "nightly.ipynb": "status"}


@pytest.mark.parametrize("name", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")))
def test_notebook_is_committed_without_outputs(name: str) -> None:
    nb = json.loads((NOTEBOOKS / name).read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert not cell.get("outputs") and cell.get("execution_count") is None, name


def _expected(name: str) -> dict[str, float]:
    """The figures each notebook records, computed directly with the library (same inputs)."""
    import quantlab as ql
    from quantlab import risk

    if name == "research.ipynb":
        p = SMALL[name]
        res = ql.backtest("sma_cross", ql.load_sample("BTC/USDT"), params={"fast": p["fast"], "slow": p["slow"]},
                          fees_bps=10.0, slippage_bps=5.0)
        s = res.stats()
        return {"sharpe": s["sharpe"], "total_return": s["total_return"], "max_drawdown": s["max_drawdown"]}
    if name == "risk_report.ipynb":
        rets = risk.returns_from_prices(ql.load_sample(["BTC/USDT", "ETH/USDT"])["close"])
        v = risk.value_at_risk(rets, level=0.99, method="historical", weights={"BTC/USDT": 0.6, "ETH/USDT": 0.4})
        return {"var_99_hist": v.var, "es_99_hist": v.es}
    if name == "rebalance.ipynb":
        from quantlab import portfolio as pf
        from quantlab.data import sample_symbols

        p = SMALL[name]
        closes = ql.load_sample(p["symbols"].split(","))["close"]
        window = risk.returns_from_prices(closes).iloc[-90:]
        target = pf.optimize(window, "erc", cov="ledoit_wolf")
        last = ql.load_sample(sample_symbols())["close"].iloc[-1]
        plan = pf.plan_rebalance(p["holdings_file"], last, target, markets="binance", bands=0.05,
                                 lot_method="hifo", costs={"fee_bps": 10.0, "spread_bps": 2},
                                 as_of=closes.index[-1])
        bt = pf.backtest_rebalancing(closes.loc[closes.dropna().index[0]:], "monthly", target="erc",
                                     lookback=90, cov="ledoit_wolf", fees_bps=10.0).stats()
        return {"orders": len(plan.orders), "sharpe": bt["sharpe"], "turnover_annual": bt["turnover_annual"]}
    return {}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_notebook_executes(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from jupyter_client.kernelspec import KernelSpecManager

    from quantlab.reports import run_notebook

    if "quantlab" not in KernelSpecManager().find_kernel_specs():
        pytest.fail("the 'quantlab' Jupyter kernel is not registered; run `make test` (it installs it)")
    src = str(NOTEBOOKS.parent / "src")  # the kernel imports quantlab from this checkout
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([src, *filter(None, [os.environ.get("PYTHONPATH")])]))
    run = run_notebook(NOTEBOOKS / name, SMALL[name], tmp_path / "out", cwd=tmp_path, kernel="quantlab")
    assert run.status == "ok", run.error
    nb = json.loads(run.executed.read_text())
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    html = "".join("".join(o.get("data", {}).get("text/html", "")) for o in outputs)
    assert "plotly" in html.lower()           # figures rendered with the offline renderer
    assert NEEDLE[name] in html               # the notebook's key result table rendered
    page = run.html.read_text()
    assert "Plotly.newPlot" in page and "not able to be represented" not in page
    metrics = json.loads(run.metrics_path.read_text())
    assert metrics, "the notebook recorded no headline figures"
    for key, value in _expected(name).items():    # metrics.json == the library's own results
        assert metrics[key] == pytest.approx(value, rel=1e-12), key
