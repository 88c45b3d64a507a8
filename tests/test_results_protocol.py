"""Every public result class answers the one result protocol (quantlab/_result.py).

The classes are discovered (every subclass of ``Result`` in the package), so a new result class
without a factory here fails ``test_every_result_class_is_covered``. Each factory builds a real
instance from the bundled sample.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

import quantlab
from quantlab._result import Result


def _discover() -> dict[str, type]:
    for mod in pkgutil.walk_packages(quantlab.__path__, "quantlab."):
        if ".cli" not in mod.name and not mod.name.endswith("__main__"):
            importlib.import_module(mod.name)
    found: dict[str, type] = {}
    stack = list(Result.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if not cls.__name__.startswith("_"):
            found[cls.__name__] = cls
    return found


def _btc() -> pd.DataFrame:
    return quantlab.load_sample("BTC/USDT", start="2022-01-01")


def _backtest():
    return quantlab.backtest("sma_cross", _btc(), params={"fast": 10, "slow": 50})


def _sweep():
    return quantlab.sweep("sma_cross", _btc(), fast=[5, 10], slow=[20, 50], progress=False)


def _walk_forward():
    return quantlab.walk_forward("sma_cross", _btc(), {"fast": [5, 10], "slow": [20, 50]},
                                 train=365, test=180)


def _quality():
    df = _btc().copy()
    df.iloc[40, df.columns.get_loc("volume")] = 0.0
    return quantlab.check_quality(df, symbol="BTC/USDT")


def _fetch_report():
    from quantlab.data import FetchReport

    t = pd.Timestamp("2024-01-01", tz="UTC")
    return FetchReport("binance", "BTC/USDT", "1h", Path("data/binance/1h/BTC_USDT.parquet"),
                       new_bars=2497, total_bars=2497, start=t, end=t + pd.Timedelta(hours=2499),
                       requests=3, expected_bars=2500, missing_bars=3,
                       missing_ranges=[(t + pd.Timedelta(hours=5), t + pd.Timedelta(hours=7))])


def _closes() -> pd.DataFrame:
    return quantlab.load_sample(["BTC/USDT", "ETH/USDT", "BNB/USDT", "XRP/USDT"])["close"].dropna()


def _optimize():
    from quantlab import portfolio as pf
    from quantlab.risk import returns_from_prices

    return pf.optimize(returns_from_prices(_closes()).iloc[-90:], "erc", cov="ledoit_wolf")


def _plan():
    from quantlab import portfolio as pf
    from quantlab.data import sample_symbols

    last = quantlab.load_sample(sample_symbols())["close"].iloc[-1]
    holdings = Path(__file__).resolve().parents[1] / "examples" / "holdings.csv"
    return pf.plan_rebalance(holdings, last, _optimize(), markets="binance", bands=0.05,
                             as_of=_closes().index[-1])


def _rebalance_backtest():
    from quantlab import portfolio as pf

    return pf.backtest_rebalancing(_closes().iloc[-300:], "monthly", target="erc", lookback=60)


W = {"BTC/USDT": 0.6, "ETH/USDT": 0.4}


def _rets() -> pd.DataFrame:
    from quantlab import risk

    return risk.returns_from_prices(quantlab.load_sample(list(W))["close"])


def _rolling():
    from quantlab import risk

    return risk.rolling_var(_rets(), method="ewma", window=250, weights=W)


def _risk(build: Callable[..., Result]) -> Callable[[], Result]:
    def make() -> Result:
        from quantlab import risk

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Cornish-Fisher domain warnings on the sample
            return build(risk)
    return make


def _report_run(name: str = "research", status: str = "ok"):
    from quantlab.reports.runner import ReportRun

    out = Path("reports/2026-01-02") / name
    return ReportRun(name=name, notebook=Path(f"notebooks/{name}.ipynb"), output_dir=out,
                     parameters={"max_window": 20}, status=status, elapsed=3.5,
                     executed=out / f"{name}.ipynb", html=out / f"{name}.html",
                     metrics_path=out / "metrics.json",
                     metrics={"sharpe": np.float64(1.2), "trades": 14, "missing": None},
                     error=None if status == "ok" else f"{name}.ipynb: cell 4 (In [3]) raised "
                     "ZeroDivisionError: division by zero", error_cell=None if status == "ok" else 4,
                     kernel="quantlab", title_text=name,
                     cell_times=[(2, "import quantlab", 1.5), (4, "res = backtest(...)", 2.0)])


def _nightly_run():
    from quantlab.reports.nightly import NightlyRun

    return NightlyRun(date="2026-01-02", out_dir=Path("reports/2026-01-02"),
                      runs=[_report_run(), _report_run("risk_report", "failed")],
                      data={"status": "stale", "detail": "refresh failed"}, elapsed=9.0, workers=2)


def _morning_summary():
    from quantlab.reports.summary import morning_summary

    return morning_summary(quantlab.load_sample(list(W)), W, strategies="sma_cross:fast=5,slow=20",
                           as_of="2025-06-10", oos_days=60)


def _deflated_sharpe():
    from quantlab.promote import deflated_sharpe
    from quantlab.risk import returns_from_prices

    rets = returns_from_prices(_closes())  # the sample assets stand in for a sweep's trials
    trials = rets.mean() / rets.std() * np.sqrt(365)
    return deflated_sharpe(rets["BTC/USDT"], trials=trials)


def _pbo():
    from quantlab.promote import pbo
    from quantlab.risk import returns_from_prices

    return pbo(returns_from_prices(_closes()), n_splits=8)


def _artifact():
    import atexit
    import shutil
    import tempfile

    from quantlab.promote import write_artifact

    root = Path(tempfile.mkdtemp(prefix="quantlab-artifact-"))
    atexit.register(shutil.rmtree, root, True)
    return write_artifact("sma", strategy_source="from quantlab.strategies import SmaCross\n",
                          strategy_ref="strategy.py:SmaCross", params={"fast": 10, "slow": 50},
                          manifest={"summary": {"sharpe": 1.1}}, data_files=[],
                          extra_files={"report.html": b"<html></html>"}, root=root)


def _verify_result():
    from quantlab.promote import verify_artifact

    art = _artifact()
    (art.path / "params.json").write_text('{"fast": 5, "slow": 50}')   # one changed file
    return verify_artifact(art.path)


def _lookahead():
    from quantlab.promote import lookahead_check

    return lookahead_check("sma_cross", _btc(), n_changes=5, n_random=5)


def _warmup():
    from quantlab.promote import warmup_check

    return warmup_check("sma_cross", _btc(), ends=2)


def _gate_report():
    from quantlab.promote.config import GateConfig
    from quantlab.promote.gates import run_gates
    from quantlab.strategies import get_strategy

    cfg = GateConfig(lookahead_changes=3, lookahead_random=3, min_oos_sharpe=5.0)  # one FAIL row
    report, _ = run_gates(get_strategy("sma_cross")(fast=10, slow=50),
                          quantlab.load_sample("BTC/USDT"), config=cfg, symbols=["BTC/USDT"])
    return report


def _audit_verification():
    import tempfile

    from quantlab.live.audit import verify_audit
    from quantlab.live.store import LiveStore

    path = Path(tempfile.mkdtemp()) / "state.sqlite"
    with LiveStore.open(path) as s:
        for i in range(5):
            s.audit.append("decision" if i % 2 else "fill", {"i": i},
                           ts_ms=1_700_000_000_000 + i * 60_000)
    return verify_audit(path)


def _live_run():
    import tempfile

    from quantlab.live.session import run_live
    from tests.live.helpers import promote_builtin

    tmp = Path(tempfile.mkdtemp())
    promote_builtin(tmp / "strategies", "sma", "sma_cross", {"fast": 5, "slow": 20},
                    ["BTC/USDT"], warmup=20)
    return run_live("sma", mode="replay", root=tmp / "strategies", state=tmp / "s.sqlite",
                    end="2020-09-01", env={})


FACTORIES: dict[str, Callable[[], Result]] = {
    "VaRResult": _risk(lambda risk: risk.value_at_risk(_rets(), method="historical", weights=W)),
    "VaRComparison": _risk(lambda risk: risk.value_at_risk(_rets(), method="all", weights=W, seed=1,
                                                           n_paths=2000)),
    "RollingVaRResult": _risk(lambda risk: _rolling()),
    "VaRDecomposition": _risk(lambda risk: risk.var_decomposition(_rets(), W)),
    "VaRBacktestResult": _risk(lambda risk: _rolling().backtest()),
    "ESBacktestResult": _risk(lambda risk: risk.es_backtest(
        _rolling().realized, _rolling().var, _rolling().es, 0.99, n_sims=500, seed=1)),
    "StressResult": _risk(lambda risk: risk.stress_test(
        W, quantlab.load_sample(list(W))["close"], value=100_000, missing="skip")),
    "StressedVaRResult": _risk(lambda risk: risk.stressed_var(
        _rets(), W, vol_multiplier=2, correlation=1, value=100_000)),
    "ReverseStressResult": _risk(lambda risk: risk.reverse_beta(W, 0.2, _rets(), value=100_000)),
    "StressReport": _risk(lambda risk: risk.stress_report(
        W, quantlab.load_sample(list(W))["close"], value=100_000)),
    "DrawdownResult": _risk(lambda risk: risk.drawdown_analysis(
        quantlab.load_sample("BTC/USDT")["close"])),
    "OptimizeResult": _optimize,
    "RebalancePlan": _plan,
    "RebalanceBacktestResult": _rebalance_backtest,
    "BacktestResult": _backtest,
    "SweepResult": _sweep,
    "WalkForwardResult": _walk_forward,
    "QualityReport": _quality,
    "FetchReport": _fetch_report,
    "ReportRun": _report_run,
    "NightlyRun": _nightly_run,
    "MorningSummary": _morning_summary,
    "DeflatedSharpeResult": _deflated_sharpe,
    "GateReport": _gate_report,
    "PBOResult": _pbo,
    "Artifact": _artifact,
    "AuditVerification": _audit_verification,
    "LiveRun": _live_run,
    "VerifyResult": _verify_result,
    "LookaheadResult": _lookahead,
    "WarmupResult": _warmup,
}


def test_every_result_class_is_covered() -> None:
    missing = sorted(set(_discover()) - set(FACTORIES))
    assert not missing, f"result classes without a protocol test: {missing}"


def _is_raw(value: object) -> bool:
    if isinstance(value, str):
        return "%" not in value
    return value is None or isinstance(value, int | float | np.number | bool | np.bool_ | pd.Timestamp
                                       | pd.Timedelta) or pd.isna(value)


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_protocol(name: str) -> None:
    obj = FACTORIES[name]()
    assert isinstance(obj, Result)
    stats = obj.stats()
    assert isinstance(stats, pd.Series) and len(stats)
    assert all(_is_raw(v) for v in stats.to_numpy()), stats
    raw = obj.summary()
    shown = obj.summary(formatted=True)
    assert isinstance(raw, pd.DataFrame) and isinstance(shown, pd.DataFrame)
    assert shown.shape == raw.shape
    assert all(isinstance(v, str) for v in shown.to_numpy().ravel())
    text = json.dumps(obj.to_dict())
    assert json.loads(text)["type"] == name
    fig = obj.plot()
    assert isinstance(fig, go.Figure) and len(fig.data) >= 1
    assert any(len(t.x if t.x is not None else t.z) for t in fig.data)
    rep = repr(obj)
    assert rep.startswith(obj.title()) and rep.count("\n") <= 45
    assert "<table" in obj._repr_html_()
