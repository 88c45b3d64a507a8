"""``record(name, value)``: a notebook's headline figures, written to ``metrics.json``.

When a notebook runs under the report runner (``quantlab report run`` / ``report nightly``), the
runner sets the environment variable :data:`METRICS_ENV` for the kernel to the path of the
``metrics.json`` beside the executed notebook; each :func:`record` merges its value into that
file atomically (temp file + rename). Run interactively (JupyterLab, no runner) the values are
kept in memory only — :func:`recorded` returns them — and no file is written.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from quantlab._util import to_jsonable, write_text_atomic
from quantlab.errors import DataError, ParameterError

__all__ = ["METRICS_ENV", "jsonable_metric", "read_metrics", "record", "recorded"]

#: Environment variable naming the metrics file the runner wants ``record`` to write.
METRICS_ENV = "QUANTLAB_METRICS"

_memory: dict[str, Any] = {}


def jsonable_metric(value: Any) -> Any:
    """Convert ``value`` to plain JSON (numpy → python, NaN/inf → ``None``, Series → dict).

    Raises
    ------
    ParameterError
        If the value cannot be represented as JSON (e.g. an arbitrary object).
    """
    if hasattr(value, "to_dict") and hasattr(value, "stats") and callable(value.stats):
        value = value.stats()          # a Result: its headline figures
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        value = value.item()           # 0-d numpy array / numpy scalar
    out = to_jsonable(value)
    if isinstance(out, float) and not math.isfinite(out):
        out = None
    try:
        json.dumps(out, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"record: value of type {type(value).__name__} is not JSON-safe "
                             f"({exc})") from None
    return out


def read_metrics(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The metrics of a ``metrics.json`` ({} when the file is missing or not a JSON object)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def record(name: str, value: Any) -> Any:
    """Record a headline figure of the notebook under ``name`` and return ``value`` unchanged.

    Parameters
    ----------
    name : str
        Metric name, e.g. ``"var_99_hist"`` (a non-empty string).
    value : Any
        A number, string, bool, None, a numpy scalar, a list/dict/Series of those, or a result
        object (its ``stats()`` are recorded). NaN and inf are stored as ``null``.

    Returns
    -------
    Any
        ``value`` itself, so ``record("sharpe", res.stats()["sharpe"])`` can end a cell.

    Notes
    -----
    Under the report runner (:data:`METRICS_ENV` set) the value is merged into that file;
    otherwise it is only kept in memory (see :func:`recorded`).

    Examples
    --------
    >>> from quantlab.reports import record
    >>> record("answer", 42)
    42
    """
    if not isinstance(name, str) or not name.strip():
        raise ParameterError(f"record: name must be a non-empty string, got {name!r}")
    safe = jsonable_metric(value)
    _memory[name] = safe
    target = os.environ.get(METRICS_ENV)
    if target:
        metrics = read_metrics(target)
        metrics[name] = safe
        try:
            write_text_atomic(target, json.dumps(metrics, indent=2, allow_nan=False) + "\n")
        except DataError as exc:
            raise DataError(f"record: {exc}") from None
    return value


def recorded() -> dict[str, Any]:
    """The values recorded in this process so far (JSON-safe copies)."""
    return dict(_memory)
