"""The promoted-strategy artifact store: versions, atomic writes, verification, loading."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest

import quantlab
from quantlab.errors import ArtifactError, DataError, ParameterError
from quantlab.promote import (
    Artifact,
    VerifyResult,
    list_promoted,
    load_promoted,
    verify,
    verify_artifact,
    write_artifact,
)
from quantlab.promote.artifact import write as art

SOURCE = '''\
"""A tiny momentum strategy (promoted in tests)."""
from quantlab.strategies.base import Param, Signals, Strategy
from quantlab.strategies.registry import register


@register
class Momentum(Strategy):
    """Long while the close is above its close WINDOW bars ago."""

    name = "sma_cross"          # clashes with the built-in on purpose: must stay isolated
    window = Param(20, low=2, high=500)

    def warmup(self) -> int:
        return self.window

    def signals(self, bars):
        close = bars["close"]
        past = close.shift(self.window)
        return Signals(entries=close > past, exits=close < past)
'''
REPO = Path(__file__).resolve().parents[2]


def write(root: Path, name: str = "mom", **kw) -> Artifact:
    args = {"strategy_source": SOURCE, "strategy_ref": "research.py:Momentum",
            "params": {"window": 30}, "manifest": {"gates": {"oos_sharpe": "pass"},
                                                   "summary": {"sharpe": 1.25, "trades": 14}},
            "data_files": [], "extra_files": {"report.html": b"<html>ok</html>"}, "root": root}
    args.update(kw)
    return write_artifact(name, **args)


def leftovers(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


# ---------------------------------------------------------------------------- write
def test_two_writes_make_versions_1_and_2(tmp_path: Path) -> None:
    a1, a2 = write(tmp_path), write(tmp_path, params={"window": 40})
    assert (a1.version, a2.version) == (1, 2)
    assert a1.path == tmp_path / "mom" / "1" and a2.path == tmp_path / "mom" / "2"
    assert sorted(p.name for p in a1.path.iterdir()) == [
        "manifest.json", "params.json", "report.html", "strategy.py"]
    assert (a1.path / "strategy.py").read_text() == SOURCE
    assert json.loads((a2.path / "params.json").read_text()) == {"window": 40}
    assert not [p for p in (tmp_path / "mom").iterdir() if ".tmp-" in p.name]
    assert os.fspath(a1) == str(a1.path)


def test_manifest_records_provenance_and_every_file(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)                      # not a git repository: git is null
    data = tmp_path / "data" / "BTC_USDT.csv"
    data.parent.mkdir()
    data.write_bytes(b"time,close\n1,2\n")
    nb = tmp_path / "research.ipynb"
    nb.write_text("{}")
    a = write_artifact("mom", strategy_source=SOURCE, strategy_ref="research.py:Momentum",
                       params={"window": 30}, manifest={"warmup": 30}, data_files=[data],
                       extra_files={"notebook.ipynb": nb, "figs/equity.json": b"[]"})
    m = json.loads((Path("strategies/mom/1/manifest.json")).read_text())
    assert m == a.manifest
    assert (m["name"], m["version"], m["strategy_ref"]) == ("mom", 1, "research.py:Momentum")
    assert m["quantlab_version"] == quantlab.__version__
    assert m["python_version"].count(".") == 2 and m["git"] is None
    assert pd.Timestamp(m["created"]).tz is not None
    assert m["validation"] == {"warmup": 30}
    assert m["data_files"] == [{"path": "data/BTC_USDT.csv", "size": 15,
                                "sha256": art._sha256(data.read_bytes())}]
    on_disk = sorted(p.relative_to(a.path).as_posix() for p in a.path.rglob("*") if p.is_file())
    assert sorted(m["files"]) == [f for f in on_disk if f != "manifest.json"]
    assert m["files"]["strategy.py"] == m["strategy_sha256"] == art._sha256(SOURCE.encode())
    assert (a.path / "notebook.ipynb").read_text() == "{}"


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_manifest_records_git_commit_and_dirty(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], check=True)
    Path(".gitignore").write_text("strategies/\n")
    subprocess.run([*git, "add", ".gitignore"], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    assert write(Path("strategies")).manifest["git"] == {"commit": head, "dirty": False}
    Path("notes.txt").write_text("uncommitted")
    assert write(Path("strategies")).manifest["git"] == {"commit": head, "dirty": True}


@pytest.mark.parametrize("bad", ["", "a b", "x" * 65, "../x", "a/b", "naïve", None])
def test_invalid_names_are_refused(tmp_path: Path, bad: object) -> None:
    with pytest.raises(ParameterError, match="invalid strategy name"):
        write(tmp_path, name=bad)  # type: ignore[arg-type]
    assert leftovers(tmp_path) == []


def test_names_of_64_chars_and_dashes_are_fine(tmp_path: Path) -> None:
    assert write(tmp_path, name="A_b-9" + "x" * 59).version == 1


def test_concurrent_writes_in_threads_get_distinct_versions(tmp_path: Path) -> None:
    barrier = threading.Barrier(8)
    got: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            got.append(write(tmp_path).version)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(got) == list(range(1, 9))
    assert all(verify_artifact(tmp_path / "mom" / str(v)).passed for v in got)


def test_concurrent_writes_in_two_processes_get_distinct_versions(tmp_path: Path) -> None:
    script = (
        "import sys, time, json\n"
        "from quantlab.promote import write_artifact\n"
        "go = float(sys.argv[2])\n"
        "while time.time() < go: time.sleep(0.002)\n"
        "vs = [write_artifact('mom', strategy_source='x = 1\\n', strategy_ref='s.py:X',\n"
        "      params={}, manifest={}, data_files=[], extra_files={}, root=sys.argv[1]).version\n"
        "      for _ in range(4)]\n"
        "print(json.dumps(vs))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    start = f"{__import__('time').time() + 1.5}"
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path), start],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        results.extend(json.loads(out))
    assert sorted(results) == list(range(1, 9))


def test_a_deleted_version_number_is_not_reused(tmp_path: Path) -> None:
    write(tmp_path)
    shutil.rmtree(write(tmp_path).path)
    assert write(tmp_path).version == 3


def test_missing_extra_file_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.html"):
        write(tmp_path, extra_files={"report.html": tmp_path / "nope.html"})
    assert leftovers(tmp_path) == []


def test_missing_data_file_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot hash data file"):
        write(tmp_path / "root", data_files=[tmp_path / "missing.parquet"])
    assert not (tmp_path / "root").exists() or leftovers(tmp_path / "root") == []


@pytest.mark.parametrize("target, fail_at", [("fsync", 3), ("rename", 1)])
def test_failure_midway_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       target: str, fail_at: int) -> None:
    write(tmp_path)                                    # version 1 exists already
    before = leftovers(tmp_path)
    calls = {"n": 0}
    real = getattr(os, target)

    def boom(*args: object) -> None:
        calls["n"] += 1
        if calls["n"] >= fail_at:                      # fsync: after some files are written
            raise OSError(5, "Input/output error")
        real(*args)

    monkeypatch.setattr(art.os, target, boom)
    with pytest.raises(DataError, match="Input/output error"):
        write(tmp_path)
    monkeypatch.undo()
    assert leftovers(tmp_path) == before               # no version 2, no temp folder
    assert write(tmp_path).version == 2


def test_failure_of_a_first_write_removes_the_name_folder(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(art.os, "fsync", boom)
    with pytest.raises(DataError, match="No space left"):
        write(tmp_path)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("kw, match", [
    ({"params": {"x": object()}}, "params is not JSON-serializable"),
    ({"manifest": {"x": {1, 2}}}, "manifest is not JSON-serializable"),
    ({"extra_files": {"../evil.txt": b""}}, "relative path of plain names"),
    ({"extra_files": {"manifest.json": b"{}"}}, "reserved"),
    ({"strategy_ref": ""}, "strategy_ref"),
])
def test_bad_arguments_are_refused_before_writing(tmp_path: Path, kw: dict, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        write(tmp_path, **kw)
    assert leftovers(tmp_path) == []


# ---------------------------------------------------------------------------- verify
def test_verify_intact(tmp_path: Path) -> None:
    a = write(tmp_path)
    res = verify("mom", root=tmp_path)
    assert isinstance(res, VerifyResult) and res.passed and res.error is None
    assert set(res.files["status"]) == {"ok"}
    assert list(res.files.index) == ["manifest.json", "params.json", "report.html", "strategy.py"]
    assert res.stats()["ok"] == 4
    assert verify_artifact(a.path).passed


def _flip_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("tamper, bad, status", [
    (lambda p: _flip_one_byte(p / "strategy.py"), "strategy.py", "changed"),
    (lambda p: (p / "params.json").write_text('{"window": 31}\n'), "params.json", "changed"),
    (lambda p: (p / "report.html").unlink(), "report.html", "missing"),
    (lambda p: (p / "extra.py").write_text("import os\n"), "extra.py", "extra"),
    (lambda p: ((p / "sub").mkdir(), (p / "sub" / ".hidden").write_text("x")), "sub/.hidden",
     "extra"),
    (lambda p: (p / "manifest.json").write_text("{not json"), "manifest.json", "invalid"),
    (lambda p: (p / "manifest.json").unlink(), "manifest.json", "missing"),
])
def test_tampering_fails_verification_and_load(tmp_path: Path, tamper, bad: str,
                                               status: str) -> None:
    a = write(tmp_path)
    tamper(a.path)
    res = verify(f"mom@{a.version}", root=tmp_path)
    assert not res.passed
    assert res.files.loc[bad, "status"] == status
    assert res.bad_files()[0] == bad and bad in str(res.error) and "\n" not in str(res.error)
    with pytest.raises(ArtifactError, match=f"refusing to load: .*{bad}"):
        load_promoted("mom", root=tmp_path)


def test_manifest_with_a_path_outside_the_folder_fails(tmp_path: Path) -> None:
    a = write(tmp_path)
    m = json.loads((a.path / "manifest.json").read_text())
    m["files"]["../../secret"] = "0" * 64
    (a.path / "manifest.json").write_text(json.dumps(m))
    res = verify_artifact(a.path)
    assert not res.passed and res.files.loc["../../secret", "status"] == "invalid"


def test_versions_resolve(tmp_path: Path) -> None:
    write(tmp_path)
    write(tmp_path)
    _flip_one_byte(tmp_path / "mom" / "1" / "strategy.py")
    assert verify("mom", root=tmp_path).passed                 # latest = 2
    assert not verify("mom", 1, root=tmp_path).passed
    assert not verify("mom@1", root=tmp_path).passed
    with pytest.raises(ArtifactError, match=r"mom has no version 7 .*\(versions: 1, 2\)"):
        verify("mom@7", root=tmp_path)
    with pytest.raises(ArtifactError, match="no promoted strategy 'other'"):
        verify("other", root=tmp_path)
    with pytest.raises(ParameterError, match="invalid version"):
        verify("mom@x", root=tmp_path)
    with pytest.raises(ArtifactError, match="artifact folder not found"):
        verify_artifact(tmp_path / "mom" / "9")


# ---------------------------------------------------------------------------- load
def test_load_promoted_returns_a_working_strategy(tmp_path: Path) -> None:
    write(tmp_path, params={"window": 10})
    write(tmp_path, params={"window": 30})
    p = load_promoted("mom", root=tmp_path)
    assert (p.name, p.version, p.path) == ("mom", 2, tmp_path / "mom" / "2")
    assert p.params == {"window": 30} and p.manifest["version"] == 2
    assert type(p.strategy).__name__ == "Momentum"
    res = quantlab.backtest(p.strategy, quantlab.load_sample("BTC/USDT"))
    assert res.stats()["trades"] > 0
    p1 = load_promoted("mom@1", root=tmp_path)
    assert p1.params == {"window": 10} and p1.version == 1
    # the promoted class stays out of the registry: the built-in keeps its name
    from quantlab.strategies import SmaCross, get_strategy

    assert get_strategy("sma_cross") is SmaCross
    assert load_promoted("mom", 2, root=tmp_path).strategy == p.strategy   # same class again


def test_load_picks_the_class_from_strategy_ref(tmp_path: Path) -> None:
    from quantlab.errors import StrategyError

    write(tmp_path, name="bad", strategy_ref="research.py:Nope")
    with pytest.raises(StrategyError, match="has no class 'Nope'"):
        load_promoted("bad", root=tmp_path)
    write(tmp_path, name="noref", strategy_ref="research.py")   # one class: found alone
    assert type(load_promoted("noref", root=tmp_path).strategy).__name__ == "Momentum"


# ---------------------------------------------------------------------------- list
def test_list_promoted(tmp_path: Path) -> None:
    assert list_promoted(tmp_path / "none").empty
    write(tmp_path, name="zeta")
    write(tmp_path, name="alpha", params={"window": 40}, manifest={})
    write(tmp_path, name="alpha")
    table = list_promoted(tmp_path)
    assert list(zip(table["name"], table["version"], strict=True)) == [
        ("alpha", 1), ("alpha", 2), ("zeta", 1)]
    assert list(table.columns[:6]) == ["name", "version", "created", "strategy_ref", "params",
                                       "path"]
    assert table["params"].tolist() == ["window=40", "window=30", "window=30"]
    assert table.loc[2, "sharpe"] == 1.25 and table.loc[2, "trades"] == 14
    assert pd.isna(table.loc[0, "sharpe"])
    assert list_promoted(tmp_path, name="zeta")["name"].tolist() == ["zeta"]
    with pytest.raises(ArtifactError, match="no promoted strategy 'beta'"):
        list_promoted(tmp_path, name="beta")
