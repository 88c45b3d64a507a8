"""`quantlab report nightly`: index, trend, failures, atomic dated folders, lock, --keep."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.reports.conftest import CLI_SUBPROCESS, cli, write_config

SET = [
    {"name": "tiny", "notebook": "tiny.ipynb", "title": "Tiny VaR",
     "headline": ["var_hist", "n_obs"], "parameters": {"level": 0.95}},
    {"name": "broken", "notebook": "failing.ipynb"},
    {"name": "sleepy", "notebook": "sleepy.ipynb", "parameters": {"value": 3.0}},
]


def _snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _night(out: Path, date: str, value: float) -> Path:
    folder = out / date
    (folder / "sleepy").mkdir(parents=True)
    (folder / "sleepy" / "metrics.json").write_text(json.dumps({"value": value}))
    (folder / "nightly.json").write_text(json.dumps({"date": date, "runs": [
        {"name": "sleepy", "status": "ok"}], "data": {"status": "cached"}, "elapsed": 1.0}))
    return folder


def test_nightly_index_trend_failures_and_stale_data(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import quantlab.data
    from quantlab.errors import ExchangeError

    def offline(*args: object, **kwargs: object) -> None:
        raise ExchangeError("binance: network unreachable")

    monkeypatch.setattr(quantlab.data, "fetch_ohlcv", offline)
    cfg = write_config(tmp_path / "reports.toml", SET, extra='[refresh]\nexchange = "binance"\n'
                       'symbols = ["BTC/USDT"]\ntimeframe = "1d"\ndays = 30\n')
    out = tmp_path / "reports"
    earlier = [_night(out, "2026-01-01", 1.0), _night(out, "2026-01-02", 2.0)]
    before = {f.name: _snapshot(f) for f in earlier}

    code = cli("report", "nightly", "--config", str(cfg), "--out", str(out), "--date", "2026-01-03",
               "--workers", "2")
    captured = capsys.readouterr()
    assert code == 1                                          # one report failed
    assert "failing.ipynb: cell 4 (In [3]) raised ZeroDivisionError" in captured.err
    assert "data are stale" in captured.err
    night = out / "2026-01-03"
    for name in ("tiny", "broken", "sleepy"):                 # the failure did not stop the others
        assert (night / name / f"{name}.ipynb").is_file() and (night / name / f"{name}.html").is_file()
    assert json.loads((night / "sleepy" / "metrics.json").read_text()) == {"value": 3.0, "slept": 0.0}
    page = (night / "index.html").read_text()
    assert page.count("class='ok'>ok<") == 2 and page.count("class='failed'>failed<") == 1
    assert "tiny/tiny.html" in page and "Tiny VaR" in page and "var_hist" in page
    assert "stale" in page and "network unreachable" in page
    assert "2026-01-01: 1; 2026-01-02: 2; 2026-01-03: 3" in page   # trend over previous nights
    assert "<svg" in page
    summary = json.loads((night / "nightly.json").read_text())
    assert [r["status"] for r in summary["runs"]] == ["ok", "failed", "ok"]
    root = (out / "index.html").read_text()
    assert all(f"{d}/index.html" in root for d in ("2026-01-01", "2026-01-02", "2026-01-03"))
    assert {f.name: _snapshot(f) for f in earlier} == before  # earlier dates untouched
    assert not [p for p in out.iterdir() if p.name.startswith(".")]   # no build dir, lock released

    # --keep prunes the oldest dated folders, tonight's stays
    cfg2 = write_config(tmp_path / "fast.toml", [SET[2]])
    assert cli("report", "nightly", "--config", str(cfg2), "--out", str(out), "--date", "2026-01-04",
               "--keep", "2") == 0
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "2026-01-03", "2026-01-04", "index.html"]
    assert "2026-01-01" not in (out / "index.html").read_text()


def test_lock_kill_midway_and_stale_lock_takeover(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "reports"
    slow = write_config(tmp_path / "slow.toml", [
        {"name": "sleepy", "notebook": "sleepy.ipynb", "parameters": {"seconds": 60.0}}])
    proc = subprocess.Popen([*CLI_SUBPROCESS, "report", "nightly", "--config", str(slow), "--out",
                             str(out), "--date", "2026-02-01", "--workers", "1"],
                            start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=dict(os.environ))
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:         # wait until the notebook is being executed
            builds = list(out.glob(".build-*/sleepy/sleepy.ipynb"))
            if builds and (out / ".nightly.lock").exists():
                break
            time.sleep(0.2)
        else:
            pytest.fail("the first nightly did not start")
        # a second, concurrent nightly refuses with a clear message
        fast = write_config(tmp_path / "fast.toml", [
            {"name": "sleepy", "notebook": "sleepy.ipynb"}])
        assert cli("report", "nightly", "--config", str(fast), "--out", str(out),
                   "--date", "2026-02-01") == 1
        err = capsys.readouterr().err
        assert "another nightly run is in progress" in err and f"pid {proc.pid}" in err
    finally:
        os.killpg(proc.pid, signal.SIGKILL)       # the run and its kernel, midway
        proc.wait()
    assert not (out / "2026-02-01").exists()          # no half-written dated folder
    assert list(out.glob(".build-*")) and (out / ".nightly.lock").exists()

    assert cli("report", "nightly", "--config", str(fast), "--out", str(out),
               "--date", "2026-02-01") == 0
    err = capsys.readouterr().err
    assert f"taking over the stale lock {out / '.nightly.lock'} of dead process {proc.pid}" in err
    assert (out / "2026-02-01" / "sleepy" / "sleepy.html").is_file()
    assert not list(out.glob(".build-*")) and not (out / ".nightly.lock").exists()


def test_bad_date_and_missing_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("report", "nightly", "--date", "2026-1-2", "--out", str(tmp_path)) == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err
    assert cli("report", "nightly", "--config", str(tmp_path / "x.toml"), "--out", str(tmp_path)) == 1
    assert "config not found" in capsys.readouterr().err


def test_default_config_finds_the_project_notebooks() -> None:
    from quantlab.reports.config import load_config

    cfg = load_config()
    assert [r.name for r in cfg.reports] == ["research", "risk_report", "rebalance", "nightly"]
    assert all(r.notebook.is_file() for r in cfg.reports)


def test_example_config_refreshes_from_an_exchange() -> None:
    from quantlab.reports.config import load_config
    from quantlab.reports.runner import declared_parameters

    cfg = load_config(Path(__file__).resolve().parents[2] / "examples" / "reports.toml")
    assert cfg.refresh is not None and cfg.refresh.exchange == "binance"
    for r in cfg.reports:     # every configured parameter is declared by its notebook
        assert set(r.parameters) <= set(declared_parameters(r.notebook))


def test_nightly_history_reads_every_night(tmp_path: Path) -> None:
    from quantlab.reports import nightly_history

    assert nightly_history(tmp_path / "none").empty
    _night(tmp_path, "2026-01-01", 1.0)
    _night(tmp_path, "2026-01-02", 2.5)
    hist = nightly_history(tmp_path)
    assert list(hist.index.strftime("%Y-%m-%d")) == ["2026-01-01", "2026-01-02"]
    assert hist["sleepy.value"].tolist() == [1.0, 2.5] and set(hist["status"]) == {"ok"}
