"""`quantlab audit verify|export` run in-process on real state files."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest

from quantlab.cli import main
from quantlab.live.store import LiveStore


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture()
def state(tmp_path: Path) -> Path:
    path = tmp_path / "state" / "btc_sma.sqlite"
    with LiveStore.open(path) as store:
        store.audit.append("start", {"mode": "replay"}, ts_ms=1_700_000_000_000)
        for i in range(1, 11):
            store.audit.append("decision", {"bar": i, "target": 0.5}, ts_ms=1_700_000_000_000 + i)
        store.audit.append("stop", {"reason": "end of data"}, ts_ms=1_700_000_000_100)
    return path


def test_verify_ok(capsys: pytest.CaptureFixture[str], state: Path) -> None:
    code, out, err = run(capsys, "audit", "verify", str(state))
    assert code == 0 and err == ""
    assert out.splitlines()[0] == f"{state}: audit chain intact (12 records)"
    assert "decision" in out and "10" in out
    code, out, _ = run(capsys, "audit", "verify", str(state), "--json")
    data = json.loads(out)
    assert code == 0 and data["ok"] is True and data["n_records"] == 12
    assert data["first_bad"] is None and data["stats"]["records"] == 12


def test_verify_tampered(capsys: pytest.CaptureFixture[str], state: Path) -> None:
    conn = sqlite3.connect(state)
    conn.execute("UPDATE audit SET payload = '{\"bar\":7,\"target\":1.0}' WHERE seq = 8")
    conn.commit()
    conn.close()
    code, out, err = run(capsys, "audit", "verify", str(state))
    assert code == 1
    assert out.splitlines()[0] == f"{state}: audit chain broken: record 8: hash mismatch (edited)"
    assert err == (f"quantlab: error: audit chain of {state} broken: "
                   f"record 8: hash mismatch (edited)\n")
    code, out, err = run(capsys, "audit", "verify", str(state), "--json")
    data = json.loads(out)
    assert code == 1 and data["ok"] is False and data["first_bad"] == 8
    assert err.count("\n") == 1 and "record 8" in err


def test_export_both_formats(capsys: pytest.CaptureFixture[str], state: Path,
                             tmp_path: Path) -> None:
    code, out, err = run(capsys, "audit", "export", str(state), "--format", "jsonl")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and err == "" and len(lines) == 12
    assert lines[0]["kind"] == "start" and lines[0]["payload"] == {"mode": "replay"}
    assert lines[5]["payload"] == {"bar": 5, "target": 0.5} and lines[5]["seq"] == 6
    assert lines[-1]["ts"] == "2023-11-14T22:13:20.100000+00:00"

    target = tmp_path / "out" / "audit.csv"
    code, out, err = run(capsys, "audit", "export", str(state), "--format", "csv",
                         "--out", str(target))
    assert code == 0 and out == "" and err == f"written: {target}\n"
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert len(rows) == 12 and rows[11]["kind"] == "stop"
    assert json.loads(rows[11]["payload"]) == {"reason": "end of data"}
    assert [r["hash"] for r in rows] == [x["hash"] for x in lines]


def test_errors_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "missing.sqlite"
    code, out, err = run(capsys, "audit", "verify", str(missing))
    assert code == 1 and out == ""
    assert err == f"quantlab: error: state file not found: {missing}\n"
    code, _, err = run(capsys, "audit", "export", str(missing), "--format", "csv")
    assert code == 1 and err.count("\n") == 1 and "state file not found" in err
    junk = tmp_path / "junk.sqlite"
    junk.write_text("not sqlite\n" * 100)
    code, _, err = run(capsys, "audit", "verify", str(junk))
    assert code == 1 and err.count("\n") == 1 and "is not a quantlab state file" in err
    with pytest.raises(SystemExit) as info:
        main(["audit", "export", str(junk), "--format", "xml"])
    assert info.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1
