"""Listing the store: one row per promoted version, read from the manifests (no hashing)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pandas as pd

from quantlab.errors import ArtifactError
from quantlab.promote.artifact.hashing import _read_manifest
from quantlab.promote.artifact.layout import (
    _NAME_RE,
    DEFAULT_ROOT,
    PARAMS_FILE,
    _versions,
    check_name,
)

__all__ = ["list_promoted"]


_LIST_COLUMNS = ["name", "version", "created", "strategy_ref", "params", "path"]


def _short_params(params: Any, width: int = 60) -> str | None:
    if not isinstance(params, dict):
        return None
    text = ", ".join(f"{k}={v}" for k, v in params.items())
    return text if len(text) <= width else text[: width - 1] + "…"


def list_promoted(root: Path | str = DEFAULT_ROOT, name: str | None = None) -> pd.DataFrame:
    """One row per promoted version under ``root`` (no hashing: see :func:`verify`).

    Parameters
    ----------
    root : Path or str
        Artifact root (default ``strategies``).
    name : str, optional
        Only this strategy's versions.

    Returns
    -------
    pandas.DataFrame
        Columns ``name, version, created, strategy_ref, params, path`` plus any scalar figures
        from ``manifest["validation"]["summary"]``; sorted by name and version. A version whose
        manifest cannot be read keeps its row with empty fields.

    Raises
    ------
    ArtifactError
        ``name`` is given but has no promoted version.
    """
    root = Path(root)
    if name is not None:
        check_name(name)
        names = [name]
    else:
        try:
            names = sorted(p.name for p in root.iterdir()
                           if p.is_dir() and _NAME_RE.fullmatch(p.name))
        except (FileNotFoundError, NotADirectoryError):
            names = []
    rows: list[dict[str, Any]] = []
    extra_cols: list[str] = []
    for n in names:
        versions = _versions(root / n)
        if name is not None and not versions:
            raise ArtifactError(f"no promoted strategy {name!r} under {root}/")
        for v in versions:
            path = root / n / str(v)
            row: dict[str, Any] = {"name": n, "version": v, "created": pd.NaT,
                                   "strategy_ref": None, "params": None, "path": str(path)}
            try:
                manifest = _read_manifest(path)
            except ArtifactError:
                rows.append(row)
                continue
            with contextlib.suppress(ValueError, TypeError):
                row["created"] = pd.Timestamp(manifest.get("created"))
            row["strategy_ref"] = manifest.get("strategy_ref")
            with contextlib.suppress(OSError, ValueError):
                row["params"] = _short_params(json.loads((path / PARAMS_FILE).read_bytes()))
            validation = manifest.get("validation")
            summary = validation.get("summary") if isinstance(validation, dict) else None
            if isinstance(summary, dict):
                for key, value in summary.items():
                    key = str(key)
                    if key in _LIST_COLUMNS or not (value is None or isinstance(
                            value, str | int | float | bool)):
                        continue
                    if key not in extra_cols:
                        extra_cols.append(key)
                    row[key] = value
            rows.append(row)
    frame = pd.DataFrame(rows, columns=_LIST_COLUMNS + extra_cols, dtype=object)
    if frame.empty:
        return frame
    frame["version"] = frame["version"].astype(int)
    frame["created"] = pd.to_datetime(frame["created"], utc=True)
    return frame.sort_values(["name", "version"], kind="stable").reset_index(drop=True)
