"""Shared CLI output helpers: JSON that survives numpy/pandas values, tables, HTML files."""

from __future__ import annotations

import json
import sys
from typing import Any

import pandas as pd

from quantlab._util import to_jsonable, write_text_atomic

__all__ = ["print_json", "print_table", "to_jsonable", "write_text_atomic"]


def print_json(obj: Any) -> None:
    """Print ``obj`` as one JSON document on stdout."""
    json.dump(to_jsonable(obj), sys.stdout, indent=2, allow_nan=False)
    sys.stdout.write("\n")


def print_table(df: pd.DataFrame | pd.Series, floatfmt: str = "{:,.4f}") -> None:
    """Print a small table in plain text."""
    with pd.option_context(
        "display.max_rows", 200, "display.max_columns", 50, "display.width", 160,
        "display.float_format", floatfmt.format,
    ):
        print(df.to_string())


