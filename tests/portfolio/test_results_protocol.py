"""Every public portfolio result follows the quantlab.Result protocol, built from the bundled
sample: raw stats, raw and formatted summaries, JSON, a figure with traces, short reprs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from quantlab import load_sample
from quantlab._result import Result
from quantlab.portfolio import (
    OptimizeResult,
    RebalanceBacktestResult,
    RebalancePlan,
    backtest_rebalancing,
    optimize,
    plan_rebalance,
)
from quantlab.risk import returns_from_prices

HOLDINGS = Path(__file__).resolve().parents[2] / "examples" / "holdings.csv"
SYMBOLS = ["BTC/USDT", "ETH/USDT", "BNB/USDT", "XRP/USDT"]


@pytest.fixture(scope="module")
def closes() -> pd.DataFrame:
    return load_sample(SYMBOLS)["close"].dropna()


def _optimize(closes: pd.DataFrame) -> OptimizeResult:
    return optimize(returns_from_prices(closes).iloc[-90:], "erc", cov="ledoit_wolf")


def _plan(closes: pd.DataFrame) -> RebalancePlan:
    from quantlab.data import sample_symbols

    last = load_sample(sample_symbols())["close"].iloc[-1]
    return plan_rebalance(HOLDINGS, last, _optimize(closes), markets="binance", bands=0.05,
                          lot_method="hifo", as_of=closes.index[-1])


def _backtest(closes: pd.DataFrame) -> RebalanceBacktestResult:
    return backtest_rebalancing(closes.iloc[-400:], "monthly", target="erc", lookback=60)


BUILDERS = {"OptimizeResult": _optimize, "RebalancePlan": _plan,
            "RebalanceBacktestResult": _backtest}


def test_every_public_result_class_is_covered() -> None:
    import quantlab.portfolio as pf

    public = {name for name in pf.__all__
              if isinstance(getattr(pf, name), type) and issubclass(getattr(pf, name), Result)}
    assert public == set(BUILDERS)


def _is_raw(value: object) -> bool:
    if value is None or isinstance(value, bool | np.bool_ | int | float | np.integer |
                                   np.floating | pd.Timestamp | pd.Timedelta):
        return True
    # labels (method, status, policy) are allowed; formatted numbers are not
    if isinstance(value, str):
        try:
            float(value.replace(",", ""))
        except ValueError:
            return "%" not in value
        return False
    return False


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_result_protocol(name: str, closes: pd.DataFrame) -> None:
    res = BUILDERS[name](closes)
    assert type(res).__name__ == name and isinstance(res, Result)
    stats = res.stats()
    assert isinstance(stats, pd.Series) and len(stats)
    bad = {k: v for k, v in stats.items() if not _is_raw(v)}
    assert not bad, f"stats() holds display values: {bad}"
    table = res.summary()
    assert isinstance(table, pd.DataFrame) and len(table)
    shown = res.summary(formatted=True)
    assert shown.shape == table.shape
    assert all(isinstance(v, str) for v in shown.to_numpy().ravel())
    d = res.to_dict()
    json.loads(json.dumps(d, allow_nan=False))
    assert d["type"] == name and d["title"] == res.title()
    fig = res.plot()
    assert isinstance(fig, go.Figure) and len(fig.data) >= 1
    assert all(len(trace.x) for trace in fig.data)
    text = repr(res)
    assert text.startswith(res.title())
    assert len(text.splitlines()) <= 45
    assert "<table" in res._repr_html_()
