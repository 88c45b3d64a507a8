"""What a notebook declares for promotion, and the gate thresholds file."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from quantlab.errors import ParameterError
from quantlab.promote.config import GateConfig
from quantlab.promote.declaration import DeclarationError, read_declaration

ROOT = Path(__file__).resolve().parents[2]

CELL_STRATEGY = '''from quantlab.strategies import Param, Signals, Strategy


class Breakout(Strategy):
    """Close above the highest close of the previous `window` bars."""

    window = Param(20, low=2)

    def warmup(self):
        return self.window + 1

    def signals(self, bars):
        close = bars["close"]
        hi = close.rolling(self.window).max().shift(1)
        lo = close.rolling(self.window).min().shift(1)
        return Signals(entries=close > hi, exits=close < lo)
'''


def notebook(tmp_path: Path, params: str, *cells: tuple[str, list[str]]) -> Path:
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    nb.cells.append(nbformat.v4.new_markdown_cell("# research"))
    nb.cells.append(p)
    for source, tags in cells:
        c = nbformat.v4.new_code_cell(source)
        c.metadata["tags"] = tags
        nb.cells.append(c)
    path = tmp_path / "research.ipynb"
    nbformat.write(nb, path)
    return path


def test_the_shipped_research_notebook_declares_sma_cross() -> None:
    d = read_declaration(ROOT / "notebooks" / "research.ipynb")
    assert d.origin == "registry:sma_cross" and d.strategy_cls.__name__ == "SmaCross"
    assert d.strategy_ref == "strategy.py:SmaCross"
    assert d.params == {"fast": 10, "slow": 50}
    assert d.options == {"fees_bps": 10.0, "slippage_bps": 5.0}
    assert d.symbols == ["BTC/USDT"] and d.timeframe == "1d" and d.exchange is None
    assert "class SmaCross(Strategy)" in d.strategy_source
    assert len(d.source_sha256) == 64
    over = read_declaration(ROOT / "notebooks" / "research.ipynb", {"fast": 20, "symbol": "ETH/USDT"})
    assert over.params == {"fast": 20, "slow": 50} and over.symbols == ["ETH/USDT"]


def test_a_strategy_defined_in_a_tagged_cell(tmp_path: Path) -> None:
    path = notebook(tmp_path, 'symbols = ["BTC/USDT", "ETH/USDT"]\nwindow = 30\nfees_bps = 5.0\nnote = "x"',
                    ("print('other cells are the notebook business')", []),
                    (CELL_STRATEGY, ["strategy"]))
    d = read_declaration(path)
    assert d.origin == "cell 4" and d.strategy_ref == "strategy.py:Breakout"
    assert d.params == {"window": 30} and d.options == {"fees_bps": 5.0}
    assert d.symbols == ["BTC/USDT", "ETH/USDT"]
    assert d.strategy_source == CELL_STRATEGY
    assert d.strategy().warmup() == 31


def test_a_strategy_cell_with_other_code_is_refused(tmp_path: Path) -> None:
    path = notebook(tmp_path, 'symbol = "BTC/USDT"',
                    (CELL_STRATEGY + "\nbars = 1\n", ["strategy"]))
    with pytest.raises(DeclarationError, match=r"research.ipynb cell 3 \(tagged 'strategy'\) must hold "
                                               r"one Strategy subclass .*line 18 is neither"):
        read_declaration(path)


@pytest.mark.parametrize(("params", "cells", "message"), [
    ('symbol = "BTC/USDT"', [], "research.ipynb declares no strategy"),
    ('strategy = "sma_cross"', [], "must set symbol"),
    ('symbol = "BTC/USDT"\nstrategy = "no_such"', [], "unknown strategy 'no_such'"),
    ('symbol = "BTC/USDT"\nstrategy = "sma_cross"\nfast = 60', [], "fast .60. must be smaller"),
    ('symbol = "BTC/USDT"', [(CELL_STRATEGY, ["strategy"]), (CELL_STRATEGY, ["strategy"])],
     "cells 3, 4 are all tagged 'strategy'"),
    ('symbol = "BTC/USDT"', [("import math\n\nclass NotAStrategy:\n    pass\n", ["strategy"])],
     "NotAStrategy is not a quantlab Strategy subclass"),
])
def test_declaration_errors_name_the_notebook(tmp_path: Path, params: str, cells: list, message: str) -> None:
    path = notebook(tmp_path, params, *cells)
    with pytest.raises(DeclarationError, match=message):
        read_declaration(path)


def test_a_notebook_without_a_parameters_cell(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("x = 1"))
    path = tmp_path / "bare.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(DeclarationError, match=r"bare\.ipynb has no cell tagged 'parameters'"):
        read_declaration(path)


def test_gate_config_from_toml(tmp_path: Path) -> None:
    f = tmp_path / "gates.toml"
    f.write_text('[walk_forward]\ntrain = 200\nmin_oos_sharpe = 0.5\n[walk_forward.grid]\n'
                 'fast = [5, 10]\n[risk]\nmax_zone = "green"\n[overfit]\nmax_pbo = 0.4\n')
    cfg = GateConfig.from_toml(f)
    assert (cfg.wf_train, cfg.min_oos_sharpe, cfg.max_zone, cfg.max_pbo) == (200, 0.5, "green", 0.4)
    assert cfg.wf_grid == {"fast": [5, 10]} and cfg.wf_test == "180D"   # default kept
    assert cfg.to_dict()["max_pbo"] == 0.4 and "source" not in cfg.to_dict()
    for text, message in [("[walk]\nx = 1\n", r"unknown section \[walk\]"),
                          ("[risk]\nzone = 1\n", "unknown key 'zone' in \\[risk\\]"),
                          ("[risk]\nmax_zone = 'red'\n", "max_zone"),
                          ("[overfit]\npbo_splits = 5\n", "even"),
                          ("[risk\n", "not valid TOML")]:
        f.write_text(text)
        with pytest.raises(ParameterError, match=message):
            GateConfig.from_toml(f)
