"""The README's Python examples run as written (so the README stays true)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_starts_with_the_two_commands() -> None:
    text = README.read_text()
    first_block = re.search(r"```\n(.*?)```", text, flags=re.S)
    assert first_block is not None
    assert first_block.group(1).split() == ["make", "demo", "make", "test"]


def test_readme_python_blocks_run_in_order() -> None:
    import quantlab as ql

    assert len(BLOCKS) >= 3
    namespace = {"ql": ql, "__name__": "readme"}   # later blocks use names from earlier ones
    for i, block in enumerate(BLOCKS):
        exec(compile(block, f"README python block {i}", "exec"), namespace)
    strategy = namespace["Breakout"](window=30)    # the user-strategy example really works
    res = ql.backtest(strategy, ql.load_sample("BTC/USDT"))
    assert res.stats()["trades"] > 0
