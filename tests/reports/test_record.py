"""record(): in memory when interactive, merged into the runner's metrics.json otherwise."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quantlab.errors import ParameterError
from quantlab.reports import record, recorded
from quantlab.reports.metrics import METRICS_ENV
from quantlab.reports.runner import parse_parameter


def test_interactive_keeps_values_in_memory_and_writes_nothing(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    value = np.float64(0.25)
    assert record("var_99_hist", value) is value
    assert recorded()["var_99_hist"] == 0.25 and type(recorded()["var_99_hist"]) is float
    assert list(tmp_path.iterdir()) == []


def test_under_the_runner_merges_json_safe_values(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out" / "metrics.json"
    monkeypatch.setenv(METRICS_ENV, str(target))
    record("a", np.int64(3))
    record("b", float("nan"))
    record("c", pd.Series({"x": np.float32(1.5), "y": np.inf}))
    record("a", 4)                       # the latest value wins
    record("when", pd.Timestamp("2024-01-02", tz="UTC"))
    assert json.loads(target.read_text()) == {"a": 4, "b": None, "c": {"x": 1.5, "y": None},
                                              "when": "2024-01-02T00:00:00+00:00"}
    assert not [p for p in target.parent.iterdir() if p.name.endswith(".tmp")]


def test_rejects_bad_names_and_values() -> None:
    with pytest.raises(ParameterError, match="non-empty string"):
        record("", 1)
    with pytest.raises(ParameterError, match="not JSON-safe"):
        record("obj", object())


@pytest.mark.parametrize(("text", "expected"), [
    ("n=3", ("n", 3)), ("x=0.5", ("x", 0.5)), ("flag=True", ("flag", True)),
    ("flag=false", ("flag", False)), ("e=None", ("e", None)), ("s=BTC/USDT,ETH/USDT", ("s", "BTC/USDT,ETH/USDT")),
    ("l=[1, 2]", ("l", [1, 2])), ("d={a: 1}", ("d", {"a": 1})), ("s=a=b", ("s", "a=b")),
])
def test_parse_parameter_like_papermill(text: str, expected: tuple) -> None:
    assert parse_parameter(text) == expected


def test_parse_parameter_rejects_malformed() -> None:
    with pytest.raises(ParameterError):
        parse_parameter("novalue")
    with pytest.raises(ParameterError):
        parse_parameter("1x=2")
