"""The README's "try paper mode" commands work as written (fake exchange + paper runner)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.live.helpers import promote_builtin

README = Path(__file__).resolve().parents[2] / "README.md"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_readme_paper_mode_against_the_fake_exchange(tmp_path):
    text = README.read_text()
    block = re.search(r"\*\*Try paper mode on this machine\*\*.*?```\n(.*?)```", text, re.S)
    assert block is not None
    fake_line, live_line = [ln for ln in block.group(1).splitlines() if ln.strip()]
    port = str(_free_port())
    fake_args = fake_line.rstrip(" &").replace("8765", port).split()
    assert fake_args[:3] == ["python", "-m", "quantlab.live.fake_exchange"]
    fake = subprocess.Popen([sys.executable, *fake_args[1:]], stdout=subprocess.PIPE, text=True)
    try:
        assert f"http://127.0.0.1:{port}" in fake.stdout.readline()
        promote_builtin(tmp_path / "strategies", "btc_sma", "sma_cross", {"fast": 10, "slow": 50},
                        ["BTC/USDT"], {"fees_bps": 10.0, "slippage_bps": 5.0})
        *assignments, cmd = re.split(r"\s+(?=quantlab live)", live_line.replace("8765", port))
        env = dict(os.environ)
        for a in assignments[0].split():
            k, v = a.split("=", 1)
            env[k] = v
        args = [*cmd.split()[1:], "--max-bars", "3", "--json"]
        t0 = time.monotonic()
        out = subprocess.run([sys.executable, "-m", "quantlab", *args], capture_output=True,
                             text=True, env=env, cwd=tmp_path, timeout=120)
        assert out.returncode == 0, out.stderr
        assert '"bars": 3' in out.stdout and '"mode": "paper"' in out.stdout
        assert (tmp_path / "state" / "btc_sma-paper.sqlite").exists()
        assert time.monotonic() - t0 < 60
    finally:
        fake.send_signal(signal.SIGTERM)
        assert fake.wait(10) == 0
