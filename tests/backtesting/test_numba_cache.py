"""numba's compiled simulator lives in a per-user cache folder, not in the working directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from quantlab.backtesting.sim.cache import numba_cache_dir

ROOT = Path(__file__).resolve().parents[2]


def test_cache_dir_defaults_to_the_user_cache(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert numba_cache_dir() == tmp_path / "xdg" / "quantlab" / "numba"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert numba_cache_dir() == tmp_path / "home" / ".cache" / "quantlab" / "numba"
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))  # the override always wins
    assert numba_cache_dir() == tmp_path / "mine"


def test_a_run_in_a_new_folder_uses_the_user_cache(tmp_path) -> None:
    work = tmp_path / "somewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    env["PYTHONPATH"] = str(ROOT / "src")
    code = "from quantlab.backtesting.sim import kernel; print(kernel.init_account(2500.0)[0])"
    out = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True,
                         text=True, timeout=600, check=True)
    assert float(out.stdout) == 2500.0
    assert list(work.iterdir()) == []  # nothing written where quantlab was started
    cached = list((tmp_path / "xdg" / "quantlab" / "numba").rglob("*.nbi"))
    assert any("kernel.init_account" in p.name for p in cached)
