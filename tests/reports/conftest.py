"""Fixtures of the report tests: tiny notebooks, a CLI runner, a nightly config writer."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

NB = Path(__file__).resolve().parent / "notebooks"
SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(autouse=True)
def _kernel_sees_this_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Kernels inherit the environment: make them import quantlab from this checkout."""
    paths = [str(SRC), *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(dict.fromkeys(paths)))
    monkeypatch.delenv("QUANTLAB_METRICS", raising=False)


def cli(*argv: str) -> int:
    from quantlab.cli import main

    return main(list(argv))


CLI_SUBPROCESS = [sys.executable, "-c", "import sys; from quantlab.cli import main; sys.exit(main())"]


def write_config(path: Path, reports: list[dict], extra: str = "") -> Path:
    """A nightly TOML config over the fixture notebooks."""
    lines = [f'notebooks = "{NB}"', "trend_nights = 5", extra]
    for r in reports:
        lines.append("[[reports]]")
        for key in ("name", "notebook", "title"):
            if key in r:
                lines.append(f'{key} = "{r[key]}"')
        if "headline" in r:
            lines.append("headline = [" + ", ".join(f'"{h}"' for h in r["headline"]) + "]")
        if "parameters" in r:
            lines.append("parameters = { " + ", ".join(
                f"{k} = {v!r}" if not isinstance(v, str) else f'{k} = "{v}"'
                for k, v in r["parameters"].items()) + " }")
    path.write_text("\n".join(lines) + "\n")
    return path
