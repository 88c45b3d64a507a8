"""`quantlab strategies --promoted` and `quantlab promote verify` run in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quantlab.cli import main
from quantlab.promote import write_artifact

SOURCE = "from quantlab.strategies.base import Strategy\n\n\nclass Flat(Strategy):\n    pass\n"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def promote(root: Path, name: str = "flat", **summary: float) -> Path:
    return write_artifact(name, strategy_source=SOURCE, strategy_ref="flat.py:Flat", params={},
                          manifest={"summary": summary}, data_files=[],
                          extra_files={"report.html": b"<p>ok</p>"}, root=root).path


def test_strategies_promoted_lists_versions(capsys: pytest.CaptureFixture[str],
                                            tmp_path: Path) -> None:
    code, out, _ = run(capsys, "strategies", "--promoted", "--root", str(tmp_path))
    assert code == 0 and "no promoted strategies" in out
    promote(tmp_path, sharpe=1.5)
    promote(tmp_path, sharpe=0.75)
    promote(tmp_path, "other")
    code, out, _ = run(capsys, "strategies", "--promoted", "--root", str(tmp_path))
    assert code == 0
    assert "flat" in out and "other" in out and "flat.py:Flat" in out and "1.5" in out
    code, out, _ = run(capsys, "strategies", "--promoted", "flat", "--root", str(tmp_path),
                       "--json")
    assert code == 0
    rows = json.loads(out)["promoted"]
    assert [(r["name"], r["version"], r["sharpe"]) for r in rows] == [
        ("flat", 1, 1.5), ("flat", 2, 0.75)]


def test_strategies_promoted_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "strategies", "--promoted", "nope", "--root", str(tmp_path))
    assert code == 1 and err.count("\n") == 1 and "no promoted strategy 'nope'" in err
    code, _, err = run(capsys, "strategies", "sma_cross", "--promoted", "--root", str(tmp_path))
    assert code == 2 and err.count("\n") == 1


def test_promote_verify(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = promote(tmp_path)
    promote(tmp_path)
    code, out, err = run(capsys, "promote", "verify", "flat@1", "--root", str(tmp_path))
    assert code == 0 and "intact" in out and err == ""
    code, out, _ = run(capsys, "promote", "verify", "flat", "--root", str(tmp_path), "--json")
    assert code == 0 and json.loads(out)["passed"] is True

    (path / "strategy.py").write_text(SOURCE.replace("pass", "pass  "))
    code, out, err = run(capsys, "promote", "verify", "flat@1", "--root", str(tmp_path))
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "strategy.py changed" in err
    code, out, err = run(capsys, "promote", "verify", "flat@1", "--root", str(tmp_path), "--json")
    d = json.loads(out)
    assert code == 1 and d["passed"] is False and d["bad_files"] == ["strategy.py"]
    assert err.count("\n") == 1 and "strategy.py" in err
    assert run(capsys, "promote", "verify", "flat", "--root", str(tmp_path))[0] == 0  # v2 intact


def test_promote_verify_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    promote(tmp_path)
    code, _, err = run(capsys, "promote", "verify", "flat@3", "--root", str(tmp_path))
    assert code == 1 and err.count("\n") == 1 and "no version 3" in err
    code, _, err = run(capsys, "promote", "verify", "bad name", "--root", str(tmp_path))
    assert code == 2 and "invalid strategy name" in err
    with pytest.raises(SystemExit) as exc:   # argparse: usage line, exit 2
        main(["promote"])
    assert exc.value.code == 2 and "NOTEBOOK|verify" in capsys.readouterr().err
    code, _, err = run(capsys, "promote", "verify", "--root", str(tmp_path))
    assert code == 2 and "promote verify needs NAME[@VERSION]" in err
    code, _, err = run(capsys, "promote", "verify", "flat", "--name", "x", "--root", str(tmp_path))
    assert code == 2 and "--name only applies to promote NOTEBOOK" in err


def test_help_lists_promote(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "promote" in capsys.readouterr().out
