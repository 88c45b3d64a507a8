"""quantlab promote end to end: gates on the bundled data, artifacts written only on a pass."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

import quantlab as ql
from quantlab.cli import main
from quantlab.promote import load_promoted, verify
from quantlab.promote.config import GateConfig
from quantlab.promote.gates import run_gates
from quantlab.promote.promote import promote

ROOT = Path(__file__).resolve().parents[2]
RESEARCH = ROOT / "notebooks" / "research.ipynb"

PEEKING = '''from quantlab.strategies import Param, Signals, Strategy


class Peek(Strategy):
    """Buys when tomorrow's close is higher: lookahead."""

    lag = Param(1, low=1)

    def signals(self, bars):
        close = bars["close"]
        up = close.shift(-self.lag) > close
        return Signals(entries=up.fillna(False), exits=(~up).fillna(False))
'''


def cell_notebook(tmp_path: Path, source: str, params: str = 'symbol = "ETH/USDT"') -> Path:
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    s = nbformat.v4.new_code_cell(source)
    s.metadata["tags"] = ["strategy"]
    nb.cells += [p, s]
    path = tmp_path / "peek.ipynb"
    nbformat.write(nb, path)
    return path


def test_research_notebook_promotes_twice_into_versions_1_and_2(tmp_path: Path) -> None:
    root = tmp_path / "strategies"
    first = promote(RESEARCH, "btc_sma", root=root, execute=False)
    assert first.passed, first.failed()
    assert first.artifact == str(root / "btc_sma" / "1")
    s = first.stats()
    assert all(s[g] in ("pass", "n/a") for g in ("walk_forward", "lookahead", "warmup", "risk",
                                                  "reproducibility", "overfit"))
    t = first.table.set_index(["gate", "figure"])
    # the figures are the library's own: same walk-forward and backtest as a direct call
    wf = ql.walk_forward("sma_cross", ql.load_sample("BTC/USDT"), {"fast": [10], "slow": [50]},
                         train="365D", test="180D", fees_bps=10.0, slippage_bps=5.0)
    assert t.loc[("walk_forward", "oos_sharpe"), "value"] == pytest.approx(wf.stats()["oos_sharpe"])
    assert t.loc[("reproducibility", "identical_equity"), "value"] is True
    manifest = json.loads((root / "btc_sma" / "1" / "manifest.json").read_text())
    v = manifest["validation"]
    assert v["params"] == {"fast": 10, "slow": 50} and v["data"]["symbols"] == ["BTC/USDT"]
    assert v["warmup_bars"] == first.warmup_bars and v["gate_config"]["min_oos_sharpe"] == 0.0
    assert {g["gate"] for g in v["gates"]} >= {"walk_forward", "lookahead", "warmup", "risk"}
    assert verify("btc_sma", root=root).passed
    second = promote(RESEARCH, "btc_sma", root=root, execute=False, parameters={"fast": 12})
    assert second.artifact == str(root / "btc_sma" / "2")
    loaded = load_promoted("btc_sma", root=root)
    assert loaded.version == 2 and loaded.strategy.values == {"fast": 12, "slow": 50}


def test_a_failed_gate_writes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "strategies"
    report = promote(RESEARCH, "btc_sma", root=root, execute=False,
                     gates=GateConfig(min_oos_sharpe=5.0))
    assert not report.passed and report.artifact is None
    failed = report.failed()
    assert failed[["gate", "figure"]].values.tolist() == [["walk_forward", "oos_sharpe"]]
    assert not root.exists() or not any(root.iterdir())


def test_a_peeking_strategy_fails_the_lookahead_gate(tmp_path: Path) -> None:
    report = promote(cell_notebook(tmp_path, PEEKING), "peek", root=tmp_path / "s", execute=False,
                     gates=GateConfig(lookahead_changes=10, lookahead_random=5))
    assert not report.passed and report.artifact is None
    row = report.table.set_index(["gate", "figure"]).loc[("lookahead", "violations")]
    assert row["passed"] is False and row["value"] > 0
    assert report.stats()["lookahead"] == "FAIL"


def test_gates_on_a_grid_record_dsr_and_pbo() -> None:
    btc = ql.load_sample("BTC/USDT")
    cfg = GateConfig(wf_grid={"fast": [5, 10, 20], "slow": [50, 100]}, lookahead_changes=5,
                     lookahead_random=5, pbo_splits=8, max_pbo=0.99)
    report, extra = run_gates(ql.get_strategy("sma_cross")(fast=10, slow=50), btc, config=cfg,
                              symbols=["BTC/USDT"])
    t = report.table.set_index(["gate", "figure"])
    assert t.loc[("overfit", "trials"), "value"] == 6 == t.loc[("overfit", "grid_combinations"), "value"]
    assert extra["dsr"].trials == 6 and extra["pbo"].n_configs == 6 and 0.0 <= t.loc[("overfit", "pbo"), "value"] <= 1.0
    assert t.loc[("overfit", "pbo"), "passed"] == (extra["pbo"].pbo <= 0.99)
    assert 0.0 <= t.loc[("overfit", "deflated_sharpe"), "value"] <= 1.0
    assert pd_isna(t.loc[("overfit", "deflated_sharpe"), "passed"])   # recorded, not gated


def pd_isna(x: object) -> bool:
    import pandas as pd

    return bool(pd.isna(x))


def test_cli_promote_executes_the_notebook_and_verifies(tmp_path: Path, capsys) -> None:
    root = tmp_path / "strategies"
    code = main(["promote", str(RESEARCH), "--name", "btc_sma", "--root", str(root),
                 "-p", "max_window=12", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["passed"] is True and out["artifact"] == str(root / "btc_sma" / "1")
    files = {p.name for p in (root / "btc_sma" / "1").iterdir()}
    assert {"strategy.py", "params.json", "manifest.json", "notebook.ipynb", "report.html"} <= files
    assert main(["promote", "verify", "btc_sma", "--root", str(root)]) == 0
    (root / "btc_sma" / "1" / "strategy.py").write_text("tampered\n")
    assert main(["promote", "verify", "btc_sma@1", "--root", str(root)]) == 1
    assert "strategy.py" in capsys.readouterr().err


def test_cli_promote_usage_errors(tmp_path: Path, capsys) -> None:
    assert main(["promote", str(RESEARCH)]) == 2
    assert "needs --name" in capsys.readouterr().err
    bare = tmp_path / "bare.ipynb"
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell('symbol = "BTC/USDT"')
    p.metadata["tags"] = ["parameters"]
    nb.cells.append(p)
    nbformat.write(nb, bare)
    assert main(["promote", str(bare), "--name", "x", "--root", str(tmp_path / "s")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bare.ipynb declares no strategy" in err[0]
    assert not (tmp_path / "s").exists()


class Coin(ql.Strategy):
    """Unseeded random entries: not reproducible."""

    def signals(self, bars):
        import numpy as np
        import pandas as pd

        r = np.random.default_rng().random(len(bars))
        return ql.Signals(entries=pd.Series(r < 0.1, bars.index), exits=pd.Series(r > 0.9, bars.index))


class ShortRsi(ql.get_strategy("rsi_reversion")):
    """rsi_reversion declaring only its nominal window + 1."""

    def warmup(self) -> int:
        return int(self.window) + 1


FAST = {"lookahead_changes": 3, "lookahead_random": 3}


@pytest.mark.parametrize(("strategy", "config", "gate", "figure"), [
    (ql.get_strategy("sma_cross")(), GateConfig(max_drawdown=0.3, **FAST), "risk", "max_drawdown"),
    (ql.get_strategy("sma_cross")(), GateConfig(min_trades=100, **FAST), "walk_forward", "oos_trades"),
    (ShortRsi(), GateConfig(**FAST), "warmup", "needed_bars"),
    (ql.get_strategy("sma_cross")(), GateConfig(min_dsr=0.9999, **FAST), "overfit", "deflated_sharpe"),
    (ql.get_strategy("sma_cross")(), GateConfig(wf_grid={"fast": [5, 10, 20], "slow": [30, 50, 100]},
                                                max_pbo=0.0, pbo_splits=8, **FAST), "overfit", "pbo"),
])
def test_each_gate_fails_on_its_threshold(strategy, config, gate, figure) -> None:
    report, _ = run_gates(strategy, ql.load_sample("BTC/USDT"), config=config)
    assert not report.passed
    failed = report.failed()
    assert (gate, figure) in set(zip(failed["gate"], failed["figure"], strict=True))
    assert report.stats()[gate] == "FAIL"


def test_an_unseeded_random_strategy_fails_reproducibility() -> None:
    report, _ = run_gates(Coin(), ql.load_sample("BTC/USDT"), config=GateConfig(**FAST))
    t = report.table.set_index(["gate", "figure"])
    assert t.loc[("reproducibility", "identical_equity"), "passed"] is False
    assert report.stats()["reproducibility"] == "FAIL"
    assert report.stats()["lookahead"] == "FAIL"   # different on every run, truncated or not


def test_trials_from_research_deflate_the_sharpe_more() -> None:
    btc = ql.load_sample("BTC/USDT")
    grid = {"fast": [5, 10, 20], "slow": [50, 100]}
    base, _ = run_gates(ql.get_strategy("sma_cross")(), btc, config=GateConfig(wf_grid=grid, **FAST))
    more, extra = run_gates(ql.get_strategy("sma_cross")(), btc,
                            config=GateConfig(wf_grid=grid, trials=4851, **FAST))
    d0 = base.table.set_index(["gate", "figure"]).loc[("overfit", "deflated_sharpe"), "value"]
    d1 = more.table.set_index(["gate", "figure"]).loc[("overfit", "deflated_sharpe"), "value"]
    assert extra["dsr"].trials == 4851 and d1 < d0
