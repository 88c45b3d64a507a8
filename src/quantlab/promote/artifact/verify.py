"""Verifying an artifact: re-hash every file against ``manifest.json``.

:func:`verify_artifact` checks a version folder (a changed, missing or extra file fails),
:func:`verify` a version by ``NAME[@VERSION]``; both return a :class:`VerifyResult` with each
file's status.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import pandas as pd

from quantlab._result import Result
from quantlab.errors import ArtifactError
from quantlab.promote.artifact.hashing import _read_manifest, _sha256_file
from quantlab.promote.artifact.layout import (
    _PART_RE,
    DEFAULT_ROOT,
    MANIFEST,
    STRATEGY_FILE,
    _display_path,
    _resolve,
)

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go

__all__ = ["VerifyResult", "verify", "verify_artifact"]


@dataclass(repr=False)
class VerifyResult(Result):
    """Outcome of :func:`verify_artifact`: every file's status against ``manifest.json``.

    Attributes
    ----------
    path : pathlib.Path
        The version folder checked.
    passed : bool
        True when every listed file is present and unchanged, no extra file exists and the
        manifest is valid JSON.
    files : pandas.DataFrame
        One row per file (index ``file``): ``status`` (``ok``, ``changed``, ``missing``,
        ``extra``, ``invalid``), ``expected`` and ``actual`` sha256 (None when unknown).
    error : str or None
        One line naming the first bad file (None when passed).
    """

    path: Path
    passed: bool
    files: pd.DataFrame
    error: str | None = None

    def title(self) -> str:
        """``strategies/trend/3: intact (4 files)`` or the error line."""
        if self.passed:
            return f"{_display_path(self.path)}: intact ({len(self.files)} files)"
        return f"{self.error}"

    def bad_files(self) -> list[str]:
        """Files whose status is not ``ok``, in table order."""
        return [str(f) for f in self.files.index[self.files["status"] != "ok"]]

    def stats(self) -> pd.Series:
        """Headline figures: passed, files, ok, changed, missing, extra, invalid."""
        counts = self.files["status"].value_counts()
        return pd.Series({"passed": bool(self.passed), "files": len(self.files),
                          **{s: int(counts.get(s, 0))
                             for s in ("ok", "changed", "missing", "extra", "invalid")}},
                         dtype=object)

    def _summary_table(self) -> pd.DataFrame:
        return self.files

    def _figure(self, **kwargs: Any) -> go.Figure:
        import plotly.graph_objects as go

        counts = self.files["status"].value_counts()
        colors = {"ok": "seagreen"}
        fig = go.Figure(go.Bar(x=list(counts.index), y=[int(v) for v in counts.to_numpy()],
                               marker_color=[colors.get(s, "firebrick") for s in counts.index]))
        fig.update_layout(title=self.title(), xaxis_title="status", yaxis_title="files", **kwargs)
        return fig

    def _extra_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "passed": bool(self.passed), "error": self.error,
                "bad_files": self.bad_files()}


def _files_on_disk(path: Path) -> list[str]:
    """Every file (or symlink) under ``path``, relative, except the top-level manifest."""
    found = (p.relative_to(path).as_posix() for p in path.rglob("*")
             if p.is_symlink() or not p.is_dir())
    return sorted(rel for rel in found if rel != MANIFEST)


def _safe_rel(rel: Any) -> bool:
    if not isinstance(rel, str) or rel == MANIFEST:
        return False
    pure = PurePosixPath(rel)
    return (not pure.is_absolute() and str(pure) == rel
            and all(_PART_RE.fullmatch(part) for part in pure.parts))


def verify_artifact(path: Path | str) -> VerifyResult:
    """Re-hash every file of an artifact version folder against its ``manifest.json``.

    Parameters
    ----------
    path : Path or str
        A version folder ``<root>/NAME/VERSION``.

    Returns
    -------
    VerifyResult
        ``passed`` is False when a listed file is changed or missing, a file not listed is
        present, or ``manifest.json`` is missing or not valid JSON; ``files`` holds each file's
        status and ``error`` names the first bad one.

    Raises
    ------
    ArtifactError
        ``path`` is not a folder.
    """
    path = Path(path)
    if not path.is_dir():
        raise ArtifactError(f"artifact folder not found: {path}")
    where = _display_path(path)
    rows: list[dict[str, Any]] = []
    errors: list[str] = []
    try:
        manifest = _read_manifest(path)
    except ArtifactError as exc:
        manifest = None
        status = "missing" if not (path / MANIFEST).exists() else "invalid"
        rows.append({"file": MANIFEST, "status": status, "expected": None, "actual": None})
        errors.append(str(exc))
    listed: dict[str, Any] = {} if manifest is None else manifest["files"]
    if manifest is not None:
        consistent = manifest.get("strategy_sha256") == listed.get(STRATEGY_FILE)
        rows.append({"file": MANIFEST, "status": "ok" if consistent else "invalid",
                     "expected": None, "actual": None})
        if not consistent:
            errors.append(f"{where}: {MANIFEST} is inconsistent (strategy_sha256 does not match "
                          f"files[{STRATEGY_FILE!r}])")
    for rel, expected in listed.items():
        if not _safe_rel(rel):
            rows.append({"file": str(rel), "status": "invalid", "expected": expected,
                         "actual": None})
            errors.append(f"{where}: {MANIFEST} lists an invalid file name {rel!r}")
            continue
        target = path / rel
        if not target.is_file():
            rows.append({"file": rel, "status": "missing", "expected": expected, "actual": None})
            errors.append(f"{where}: {rel} missing")
            continue
        try:
            actual, _ = _sha256_file(target)
        except OSError as exc:
            rows.append({"file": rel, "status": "missing", "expected": expected, "actual": None})
            errors.append(f"{where}: {rel} unreadable ({exc.strerror or exc})")
            continue
        ok = actual == expected
        rows.append({"file": rel, "status": "ok" if ok else "changed", "expected": expected,
                     "actual": actual})
        if not ok:
            errors.append(f"{where}: {rel} changed (sha256 differs from {MANIFEST})")
    if manifest is not None:
        for rel in _files_on_disk(path):
            if rel not in listed:
                actual = None
                with contextlib.suppress(OSError):
                    actual = _sha256_file(path / rel)[0]
                rows.append({"file": rel, "status": "extra", "expected": None, "actual": actual})
                errors.append(f"{where}: {rel} is an extra file not listed in {MANIFEST}")
    table = pd.DataFrame(rows, columns=["file", "status", "expected", "actual"]).set_index("file")
    table = table.astype(object)
    return VerifyResult(path=path, passed=not errors, files=table,
                        error=errors[0] if errors else None)


def verify(name: str, version: int | str | None = None,
           root: Path | str = DEFAULT_ROOT) -> VerifyResult:
    """Verify a promoted strategy by name: :func:`verify_artifact` of ``NAME[@VERSION]``.

    Parameters
    ----------
    name : str
        ``NAME`` or ``NAME@VERSION``.
    version : int, optional
        Version (default: the latest).
    root : Path or str
        Artifact root.

    Returns
    -------
    VerifyResult

    Raises
    ------
    ArtifactError
        No such strategy or version.
    """
    path, _ = _resolve(name, version, root)
    return verify_artifact(path)
