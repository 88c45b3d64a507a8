"""`quantlab report run`: executed notebook + offline HTML + metrics.json; failures are one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.reports.conftest import NB, cli


def test_run_writes_notebook_html_and_metrics_equal_to_the_library(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from quantlab import risk
    from quantlab.data import load_sample

    out = tmp_path / "tiny"
    assert cli("report", "run", str(NB / "tiny.ipynb"), "-p", "level=0.95", "-p", "label=BTC run",
               "--out", str(out), "--no-progress") == 0
    assert "tiny.ipynb: ok" in capsys.readouterr().out
    executed = json.loads((out / "tiny.ipynb").read_text())
    assert executed["metadata"]["papermill"]["parameters"] == {"level": 0.95, "label": "BTC run"}
    assert executed["metadata"]["kernelspec"]["name"] == "quantlab"
    # the library's own result for the same inputs
    v = risk.value_at_risk(risk.returns_from_prices(load_sample("BTC/USDT")["close"]), level=0.95,
                           method="historical").stats()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics == {"var_hist": pytest.approx(v["var"], rel=1e-12),
                       "es_hist": pytest.approx(v["es"], rel=1e-12), "n_obs": int(v["n_obs"]),
                       "label": "BTC run", "missing": None}
    html = (out / "tiny.html").read_text()
    assert html.count("Plotly.newPlot(") == 2             # both figures, with their data
    assert html.count("* plotly.js v") == 1               # plotly.js embedded once: works offline
    assert "not able to be represented" not in html
    assert "returns_from_prices" in html                  # code shown by default


def test_no_code_hides_inputs(tmp_path: Path) -> None:
    assert cli("report", "run", str(NB / "tiny.ipynb"), "--out", str(tmp_path), "--no-code",
               "--no-progress") == 0
    html = (tmp_path / "tiny.html").read_text()
    assert "returns_from_prices" not in html and "Plotly.newPlot(" in html


def test_undeclared_parameter_is_an_error_before_running(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "never"
    assert cli("report", "run", str(NB / "tiny.ipynb"), "-p", "levle=0.9", "--out", str(out)) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "levle" in err and "symbol, level, label" in err
    assert not out.exists()


def test_failing_notebook_exits_nonzero_with_one_line_and_keeps_the_notebook(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("report", "run", str(NB / "failing.ipynb"), "--out", str(tmp_path),
               "--no-progress") == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    assert err.startswith("quantlab: error: failing.ipynb: cell 4 (In [3]) raised ZeroDivisionError")
    executed = json.loads((tmp_path / "failing.ipynb").read_text())
    outputs = [o for c in executed["cells"] for o in c.get("outputs", [])]
    assert any(o.get("ename") == "ZeroDivisionError" for o in outputs)
    assert any("papermill-error-cell-tag" in c["metadata"].get("tags", []) for c in executed["cells"])
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"before": 1}
    assert (tmp_path / "failing.html").is_file()


def test_missing_notebook(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("report", "run", str(tmp_path / "nope.ipynb")) == 2
    assert "notebook not found" in capsys.readouterr().err


def test_declared_parameters_include_untyped_defaults() -> None:
    from quantlab.reports.runner import declared_parameters

    research = Path(__file__).resolve().parents[2] / "notebooks" / "research.ipynb"
    declared = declared_parameters(research)
    assert {"exchange", "start", "max_window", "symbol"} <= set(declared)
    assert declared["exchange"] == "None"


def test_without_the_quantlab_kernel_runs_on_this_interpreter(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from jupyter_client.kernelspec import KernelSpecManager

    from quantlab.reports.runner import kernel_name, run_notebook

    real = KernelSpecManager.find_kernel_specs
    monkeypatch.setattr(KernelSpecManager, "find_kernel_specs",
                        lambda self: {k: v for k, v in real(self).items() if k != "quantlab"})
    monkeypatch.setenv("JUPYTER_PATH", "")
    name = kernel_name()
    assert name == "quantlab-python"
    spec = KernelSpecManager().get_kernel_spec(name)
    assert spec.argv[0] == sys.executable
    run = run_notebook(NB / "sleepy.ipynb", {"value": 7}, tmp_path, kernel=name)
    assert run.ok and run.kernel == name and run.metrics == {"value": 7, "slept": 0.0}
