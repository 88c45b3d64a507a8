"""Sweeps scored on Dask (backtesting/distributed.py): same table as a local run, CLI, errors.

One LocalCluster of 2 worker processes serves the module; most tests reach it through
``address=``. Starting workers costs seconds (each imports vectorbt), so the grids are small.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import quantlab as ql
from quantlab.backtesting import BacktestOptions
from quantlab.backtesting.distributed import partition, score_on_dask
from quantlab.backtesting.metrics import STAT_NAMES
from quantlab.backtesting.prepared import prepare_data
from quantlab.backtesting.scoring import score_runs
from quantlab.cli import main
from quantlab.errors import ParameterError, QuantlabError, StrategyError

distributed = pytest.importorskip("distributed")

GRID = {"fast": range(5, 30, 5), "slow": range(20, 80, 10)}
SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT"]

FAILING_STRATEGY = '''
from quantlab.strategies import Param, Signals, Strategy


class Boom(Strategy):
    """Buys and holds, but fails inside signals() when n is 3."""

    n = Param(1, low=1, doc="a number")

    def signals(self, bars):
        entries = bars["close"] > 1 / (self.n - 3) - 1e12
        return Signals(entries=entries, exits=~entries)
'''


@pytest.fixture(scope="module")
def cluster() -> Iterator[distributed.LocalCluster]:
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None,
                                  silence_logs=logging.CRITICAL) as c:
        yield c


@pytest.fixture(scope="module")
def btc() -> pd.DataFrame:
    return ql.load_sample("BTC/USDT")


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return ql.load_sample(SYMBOLS)


def test_dask_table_equals_local(btc: pd.DataFrame, cluster: distributed.LocalCluster) -> None:
    local = ql.sweep("sma_cross", btc, fees_bps=10, progress=False, **GRID)
    dask = ql.sweep("sma_cross", btc, fees_bps=10, progress=False, scheduler="dask",
                    address=cluster.scheduler_address, **GRID)
    pd.testing.assert_frame_equal(dask.table, local.table, check_exact=True)
    assert len(dask.table) == 28 and dask.rejected == local.rejected
    assert dask.options == local.options


def test_score_on_dask_reports_progress(btc: pd.DataFrame,
                                        cluster: distributed.LocalCluster) -> None:
    cls = ql.get_strategy("sma_cross")
    runs = [cls(fast=f, slow=s) for f in (5, 10, 15) for s in (20, 40, 60)]
    data = prepare_data(btc)
    opts = BacktestOptions.from_kwargs()
    done: list[int] = []
    got = score_on_dask(runs, data, data, slice(None), opts, 4,
                        address=cluster.scheduler_address, on_progress=done.append)
    want = score_runs(runs, data, data, slice(None), opts, 1000)
    assert sorted(done) == [1, 2, 2, 2, 2]   # ceil(9 runs / (2 workers * 4)) = 2 a partition
    assert got.shape == want.shape == (9, len(STAT_NAMES))
    assert got.dtype == want.dtype and got.tobytes() == want.tobytes()  # bit for bit


def test_dask_panel_and_period_equal_local(panel: pd.DataFrame,
                                           cluster: distributed.LocalCluster) -> None:
    addr = cluster.scheduler_address
    # one signal strategy traded per symbol (sleeves), on a sub-period: warm-up rows stay in
    kw = {"fast": [5, 10], "slow": [20, 50], "start": "2023-01-01", "progress": False}
    local = ql.sweep("sma_cross", panel, **kw)
    dask = ql.sweep("sma_cross", panel, scheduler="dask", address=addr, **kw)
    pd.testing.assert_frame_equal(dask.table, local.table, check_exact=True)
    # a multi-asset target-weights strategy
    kw = {"lookback": [30, 90], "top_k": [1, 2], "progress": False}
    local = ql.sweep("momentum_rotation", panel, **kw)
    dask = ql.sweep("momentum_rotation", panel, scheduler="dask", address=addr, **kw)
    pd.testing.assert_frame_equal(dask.table, local.table, check_exact=True)


def test_worker_errors_keep_their_type(tmp_path: Path, btc: pd.DataFrame,
                                       cluster: distributed.LocalCluster) -> None:
    # a strategy from a .py file (not importable by the workers: shipped by value)
    path = tmp_path / "boom.py"
    path.write_text(FAILING_STRATEGY)
    ok = ql.sweep(f"{path}:Boom", btc, n=[1, 2], scheduler="dask",
                  address=cluster.scheduler_address, progress=False)
    assert list(ok.table.index) == [1, 2]
    with pytest.raises(StrategyError, match="ZeroDivisionError"):
        ql.sweep(f"{path}:Boom", btc, n=[1, 2, 3, 4], scheduler="dask",
                 address=cluster.scheduler_address, progress=False)


def test_partition_sizes() -> None:
    runs = list(range(28))
    parts = partition(runs, 2)
    assert [len(p) for p in parts] == [4] * 7 and [r for p in parts for r in p] == runs
    assert partition([1], 8) == [[1]] and len(partition(runs, 0)) == 4


def test_cli_dask_local_cluster_and_address(capsys: pytest.CaptureFixture[str],
                                            cluster: distributed.LocalCluster) -> None:
    argv = ["sweep", "--strategy", "sma_cross", "--grid", "fast=5:25:5", "--grid", "slow=20,50",
            "--json", "--no-progress"]
    assert main(argv) == 0
    local = json.loads(capsys.readouterr().out)
    # --dask with no address: a LocalCluster of --workers processes, started and closed
    # (one worker: each new worker spends seconds importing vectorbt)
    assert main([*argv, "--dask", "--workers", "1"]) == 0
    out, _ = capsys.readouterr()
    assert json.loads(out)["results"] == local["results"]
    assert main([*argv, "--dask", cluster.scheduler_address]) == 0
    assert json.loads(capsys.readouterr().out)["results"] == local["results"]


@pytest.mark.parametrize(("kwargs", "error", "needle"), [
    ({"scheduler": "ray"}, ParameterError, "scheduler='ray' must be one of: local, dask"),
    ({"address": "tcp://127.0.0.1:8786"}, ParameterError,
     "address only applies with scheduler='dask'"),
    ({"workers": 2}, ParameterError, "workers only applies with scheduler='dask'"),
    ({"scheduler": "dask", "workers": 0}, ParameterError, "workers"),
    ({"scheduler": "dask", "workers": 2, "address": "tcp://127.0.0.1:8786"}, ParameterError,
     "does not apply with an address"),
    ({"scheduler": "dask", "address": "tcp://127.0.0.1:1"}, ParameterError,
     "cannot reach a Dask scheduler at tcp://127.0.0.1:1"),
])
def test_errors(btc: pd.DataFrame, kwargs: dict, error: type, needle: str) -> None:
    t0 = time.perf_counter()
    with pytest.raises(error, match=needle.replace("(", r"\(")) as exc:
        ql.sweep("sma_cross", btc, fast=[5], slow=[20], progress=False, **kwargs)
    assert len(str(exc.value).splitlines()) == 1
    assert time.perf_counter() - t0 < 10


def test_missing_dask_says_how_to_install(btc: pd.DataFrame,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(QuantlabError, match=r'pip install "quantlab\[dask\]"'):
        ql.sweep("sma_cross", btc, fast=[5], slow=[20], scheduler="dask", progress=False)


@pytest.mark.parametrize(("extra", "needle"), [
    (["--workers", "2"], "--workers only applies with --dask"),
    (["--dask", "tcp://127.0.0.1:1"], "cannot reach a Dask scheduler at tcp://127.0.0.1:1"),
    (["--dask", "tcp://127.0.0.1:1", "--workers", "2"], "does not apply with --dask ADDRESS"),
])
def test_cli_errors_are_one_line(capsys: pytest.CaptureFixture[str], extra: list[str],
                                 needle: str) -> None:
    code = main(["sweep", "--strategy", "sma_cross", "--grid", "fast=5,10", "--grid", "slow=20",
                 "--no-progress", *extra])
    err = capsys.readouterr().err
    assert code == 2 and needle in err
    assert len(err.strip().splitlines()) == 1
