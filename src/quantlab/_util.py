"""Small shared helpers used across layers: JSON conversion and atomic text writes."""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quantlab.errors import DataError, ParameterError

__all__ = ["check_number", "format_stat", "to_jsonable", "write_text_atomic"]


def check_number(value: Any, name: str, *, integer: bool = False, allow_none: bool = False
                 ) -> Any:
    """A real number given as an option: refuse booleans, strings and other non-numbers.

    ``True`` is an ``int`` to Python but never a sensible fee, level or window, so it is
    refused instead of silently becoming 1.

    Parameters
    ----------
    value : Any
        The value to check.
    name : str
        Argument name used in the error message (``fees_bps``, ``level``...).
    integer : bool
        Require a whole number (``3`` or ``3.0``); the result is then an ``int``.
    allow_none : bool
        Let ``None`` through unchanged.

    Returns
    -------
    float or int or None
        ``float(value)`` (``int`` with ``integer=True``). Finiteness and ranges are left to the
        caller.

    Raises
    ------
    ParameterError
        ``value`` is a bool, a string or not a real number (the message names ``name``).
    """
    if value is None and allow_none:
        return None
    kind = "a whole number" if integer else "a number"
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.integer
                                                                 | np.floating):
        raise ParameterError(f"{name}={value!r} must be {kind}, not {type(value).__name__}")
    if integer:
        if isinstance(value, float | np.floating) and not float(value).is_integer():
            raise ParameterError(f"{name}={value!r} must be {kind}")
        return int(value)
    return float(value)


def to_jsonable(obj: Any) -> Any:
    """Convert numpy/pandas scalars and containers to plain JSON types (NaN/inf -> None)."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, pd.DataFrame):
        return [to_jsonable(r) for r in obj.reset_index().to_dict(orient="records")]
    if isinstance(obj, pd.Series):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, pd.Timestamp):
        return obj.isoformat()
    if isinstance(obj, pd.Timedelta):
        return obj.total_seconds() / 86400.0
    if isinstance(obj, np.bool_ | bool):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating | float):
        value = float(obj)
        return value if math.isfinite(value) else None
    if obj is pd.NaT or obj is None:
        return None
    if isinstance(obj, np.ndarray):
        return [to_jsonable(v) for v in obj.tolist()]
    return obj



def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` via a temp file and rename (no half-written files)."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except OSError as exc:
        raise DataError(f"cannot write {target}: {exc.strerror or exc}") from None
    return target


def format_stat(key: str, value: Any, pct_keys: set[str] | frozenset[str]) -> str:
    """Display form of one statistic: percentages for ``pct_keys``, days for durations,
    thousands separators for money, dates for day-aligned timestamps."""
    if isinstance(value, pd.Timestamp):
        return str(value.date()) if value == value.normalize() else str(value)
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        if not np.isfinite(value):
            return "—" if np.isnan(value) else "inf"
        if key in pct_keys:
            return f"{value:.2%}"
        if key == "max_drawdown_duration":
            return f"{value:,.0f} days"
        if key in {"init_cash", "final_equity", "fees_paid"}:
            return f"{value:,.2f}"
        return f"{value:.3f}"
    return str(value)
