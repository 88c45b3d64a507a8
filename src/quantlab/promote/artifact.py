"""The promoted-strategy artifact store: freeze exactly what was validated, verify it, load it.

``quantlab promote`` validates a research strategy and then calls :func:`write_artifact`, so the
live runner runs that frozen copy and nothing else. Layout::

    <root>/NAME/VERSION/          root defaults to ``strategies/`` (relative to the current dir)
        strategy.py               the strategy source, exactly as validated
        params.json               the parameters it was validated with
        <extra files>             e.g. notebook.ipynb, report.html
        manifest.json             provenance + sha256 of every other file

VERSION is 1, 2, 3... per NAME: taken under an exclusive :func:`fcntl.flock` on the ``NAME``
folder, so two concurrent promotions get different versions, and never reused (the highest
version issued is also kept in ``NAME/.last-version``, so deleting a version does not free its
number). An artifact is written into a temporary folder ``NAME/.NAME-VERSION.tmp-XXXX``, every
file fsynced, then renamed into place in one step: a reader sees a whole version or none, and
a failed write leaves nothing behind.

:func:`verify_artifact` re-hashes every file against ``manifest.json`` (a changed, missing or
extra file fails); :func:`load_promoted` verifies first, then imports the verified bytes of
``strategy.py`` and instantiates the class with ``params.json``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import inspect
import json
import os
import platform
import re
import secrets
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pandas as pd

from quantlab._result import Result
from quantlab._util import to_jsonable
from quantlab.errors import ArtifactError, DataError, ParameterError, StrategyError

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go

    from quantlab.strategies.base import Strategy

__all__ = [
    "DEFAULT_ROOT",
    "Artifact",
    "PromotedStrategy",
    "VerifyResult",
    "check_name",
    "list_promoted",
    "load_promoted",
    "parse_spec",
    "verify",
    "verify_artifact",
    "write_artifact",
]

#: Default artifact root, relative to the current directory.
DEFAULT_ROOT = "strategies"
MANIFEST = "manifest.json"
STRATEGY_FILE = "strategy.py"
PARAMS_FILE = "params.json"
_RESERVED = {MANIFEST, STRATEGY_FILE, PARAMS_FILE}
_COUNTER = ".last-version"
_FORMAT = 1
_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PART_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\- ]*")
_MODULE_PACKAGE = "quantlab_promoted"


# ---------------------------------------------------------------------------- small helpers
def check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ParameterError(
            f"invalid strategy name {name!r}: use 1-64 letters, digits, '_' or '-'"
        )
    return name


def _check_version(version: Any) -> int:
    text = str(version).strip()
    if isinstance(version, bool) or not text.isdigit() or int(text) < 1:
        raise ParameterError(f"invalid version {version!r}: expected a positive integer")
    return int(text)


def parse_spec(spec: str, version: int | str | None = None) -> tuple[str, int | None]:
    """Split ``NAME`` or ``NAME@VERSION`` into ``(name, version)``.

    Parameters
    ----------
    spec : str
        ``"trend"`` or ``"trend@3"``.
    version : int or str, optional
        Explicit version; may not be combined with ``@VERSION`` in ``spec``.

    Returns
    -------
    tuple of (str, int or None)
        ``None`` means "the latest version".

    Raises
    ------
    ParameterError
        Bad name or version, or a version given twice.
    """
    name, sep, tail = str(spec).partition("@")
    if sep:
        if version is not None:
            raise ParameterError(f"version given twice: {spec!r} and version={version!r}")
        version = tail
    return check_name(name), None if version is None else _check_version(version)


def _sha256_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _display_path(path: Path) -> str:
    """``path`` relative to the current directory when it is under it, else absolute."""
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return absolute.as_posix()


def _check_extra_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise ParameterError(f"extra file name {name!r} must be a non-empty string")
    pure = PurePosixPath(name)
    if (pure.is_absolute() or "\\" in name or str(pure) != name
            or not all(_PART_RE.fullmatch(part) for part in pure.parts)):
        raise ParameterError(
            f"extra file name {name!r} must be a relative path of plain names "
            "(letters, digits, '_', '-', '.', no leading dot, no '..')"
        )
    if name in _RESERVED:
        raise ParameterError(f"extra file name {name!r} is reserved for the artifact itself")
    return name


def _json_bytes(obj: Any, what: str) -> bytes:
    try:
        text = json.dumps(to_jsonable(obj), indent=2, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{what} is not JSON-serializable: {exc}") from None
    return (text + "\n").encode("utf-8")


def _git_info() -> dict[str, Any] | None:
    """``{"commit", "dirty"}`` of the working tree around the current directory, or None."""
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=15,
                                 check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if not commit or not commit.strip():
        return None
    status = git("status", "--porcelain")
    return {"commit": commit.strip(), "dirty": None if status is None else bool(status.strip())}


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _versions(name_dir: Path) -> list[int]:
    """Version numbers present under ``name_dir`` (folders named by a positive integer)."""
    try:
        entries = list(name_dir.iterdir())
    except FileNotFoundError:
        return []
    return sorted(int(p.name) for p in entries
                  if p.name.isdigit() and int(p.name) > 0 and p.is_dir())


def _last_issued(name_dir: Path) -> int:
    with contextlib.suppress(OSError, ValueError):
        return int((name_dir / _COUNTER).read_text().strip())
    return 0


@contextlib.contextmanager
def _locked_dir(name_dir: Path) -> Iterator[bool]:
    """Hold an exclusive flock on the folder ``name_dir`` (created when missing).

    Yields True when this call created the folder. After locking, the folder is checked to
    still be the one on disk (a failed first write removes the folder it created).
    """
    while True:
        created = False
        try:
            name_dir.mkdir(parents=True)
            created = True
        except FileExistsError:
            pass
        try:
            fd = os.open(name_dir, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except FileNotFoundError:  # removed between mkdir and open: retry
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(name_dir))
            except FileNotFoundError:
                same = False
            if same:
                yield created
                return
        finally:
            os.close(fd)  # closing the descriptor releases the lock


# ---------------------------------------------------------------------------- results
@dataclass(repr=False)
class Artifact(Result):
    """One written (or resolved) promoted-strategy version.

    Attributes
    ----------
    path : pathlib.Path
        The version folder ``<root>/NAME/VERSION``.
    name : str
        Strategy name.
    version : int
        Version number (1, 2, ...).
    manifest : dict
        The parsed ``manifest.json``.
    """

    path: Path
    name: str
    version: int
    manifest: dict[str, Any] = field(default_factory=dict)

    def __fspath__(self) -> str:
        return str(self.path)

    def title(self) -> str:
        """``Promoted trend v3 (strategy.py:Trend, 4 files)``."""
        return (f"Promoted {self.name} v{self.version} ({self.manifest.get('strategy_ref')}, "
                f"{len(self.manifest.get('files', {}))} files)")

    def stats(self) -> pd.Series:
        """Headline figures: name, version, created, strategy_ref, files, data_files,
        git_commit, git_dirty."""
        git = self.manifest.get("git") or {}
        created = self.manifest.get("created")
        return pd.Series({
            "name": self.name, "version": int(self.version),
            "created": pd.Timestamp(created) if created else None,
            "strategy_ref": self.manifest.get("strategy_ref"),
            "files": len(self.manifest.get("files", {})),
            "data_files": len(self.manifest.get("data_files", [])),
            "git_commit": git.get("commit"), "git_dirty": git.get("dirty"),
        }, name=self.name, dtype=object)

    def _summary_table(self) -> pd.DataFrame:
        files = self.manifest.get("files", {})
        return pd.DataFrame({"sha256": pd.Series(files, dtype=object)}).rename_axis("file")

    def _figure(self, **kwargs: Any) -> go.Figure:
        import plotly.graph_objects as go

        names = list(self.manifest.get("files", {}))
        sizes = [(self.path / n).stat().st_size if (self.path / n).is_file() else 0 for n in names]
        fig = go.Figure(go.Bar(x=sizes, y=names, orientation="h"))
        fig.update_layout(title=f"{self.title()}: file sizes (bytes)",
                          yaxis={"autorange": "reversed"}, **kwargs)
        return fig

    def _extra_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "name": self.name, "version": self.version,
                "manifest": self.manifest}


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


@dataclass(frozen=True)
class PromotedStrategy:
    """A verified promoted strategy, ready to run.

    Attributes
    ----------
    strategy : quantlab.Strategy
        Instance of the class named by ``strategy_ref``, built with ``params.json``.
    manifest : dict
        The parsed ``manifest.json``.
    name : str
        Strategy name.
    version : int
        Version number.
    path : pathlib.Path
        The version folder.
    """

    strategy: Strategy
    manifest: dict[str, Any]
    name: str
    version: int
    path: Path

    @property
    def params(self) -> dict[str, Any]:
        """The strategy's parameter values."""
        return self.strategy.values

    def __repr__(self) -> str:
        return f"PromotedStrategy({self.name}@{self.version}: {self.strategy!r})"


# ---------------------------------------------------------------------------- write
def write_artifact(
    name: str,
    *,
    strategy_source: str,
    strategy_ref: str,
    params: dict[str, Any],
    manifest: dict[str, Any],
    data_files: list[Path] | tuple[Path, ...] = (),
    extra_files: dict[str, bytes | Path] | None = None,
    root: Path | str = DEFAULT_ROOT,
) -> Artifact:
    """Freeze a validated strategy as the next version ``<root>/NAME/VERSION``.

    Parameters
    ----------
    name : str
        Strategy name: 1-64 letters, digits, ``_`` or ``-``.
    strategy_source : str
        Python source defining the strategy class (written as ``strategy.py``).
    strategy_ref : str
        Where the class came from, ending in ``:ClassName`` (``"module:Class"``,
        ``"strategy.py:Class"``); the class name is what :func:`load_promoted` instantiates.
    params : dict
        Parameter values (written as ``params.json``).
    manifest : dict
        The caller's JSON-safe record (gates, metrics, data range, warm-up...), stored under
        ``manifest.json["validation"]``; scalar figures in ``manifest["summary"]`` show in
        :func:`list_promoted`.
    data_files : list of Path
        Data the strategy was validated on: hashed (sha256 + size), not copied.
    extra_files : dict of str to bytes or Path
        More files to store, by relative name (e.g. ``"notebook.ipynb"``, ``"report.html"``):
        contents, or a file to copy.
    root : Path or str
        Artifact root (default ``strategies``, relative to the current directory).

    Returns
    -------
    Artifact

    Raises
    ------
    ParameterError
        Invalid name, extra-file name, or a params/manifest that is not JSON-safe.
    DataError
        A data or extra file cannot be read, or the artifact cannot be written. Nothing is
        left behind in either case.
    """
    check_name(name)
    if not isinstance(strategy_source, str):
        raise ParameterError("strategy_source must be the strategy's Python source (a str)")
    if not isinstance(strategy_ref, str) or not strategy_ref.strip():
        raise ParameterError("strategy_ref must be a non-empty string such as 'module:Class'")
    if not isinstance(params, dict) or not isinstance(manifest, dict):
        raise ParameterError("params and manifest must be dicts")
    params_bytes = _json_bytes(params, "params")
    _json_bytes(manifest, "manifest")
    source_bytes = strategy_source.encode("utf-8")

    # Everything read and hashed before a version number is taken.
    contents: dict[str, bytes] = {STRATEGY_FILE: source_bytes, PARAMS_FILE: params_bytes}
    for extra, value in (extra_files or {}).items():
        _check_extra_name(extra)
        if isinstance(value, bytes | bytearray | memoryview):
            contents[extra] = bytes(value)
        elif isinstance(value, str | os.PathLike):
            try:
                contents[extra] = Path(value).read_bytes()
            except OSError as exc:
                raise DataError(f"cannot read extra file {value}: {exc.strerror or exc}") from None
        else:
            raise ParameterError(f"extra file {extra!r} must be bytes or a path, "
                                 f"not {type(value).__name__}")
    data = []
    for item in data_files:
        try:
            digest, size = _sha256_file(Path(item))
        except OSError as exc:
            raise DataError(f"cannot hash data file {item}: {exc.strerror or exc}") from None
        data.append({"path": _display_path(Path(item)), "sha256": digest, "size": size})
    git = _git_info()

    name_dir = Path(root) / name
    try:
        with _locked_dir(name_dir) as created:
            version = max([_last_issued(name_dir), *_versions(name_dir)], default=0) + 1
            final = name_dir / str(version)
            tmp = name_dir / f".{name}-{version}.tmp-{secrets.token_hex(4)}"
            try:
                record = {
                    "format": _FORMAT,
                    "name": name,
                    "version": version,
                    "created": datetime.now(UTC).isoformat(timespec="seconds")
                    .replace("+00:00", "Z"),
                    "quantlab_version": _quantlab_version(),
                    "python_version": platform.python_version(),
                    "git": git,
                    "strategy_ref": strategy_ref,
                    "strategy_sha256": _sha256(source_bytes),
                    "data_files": data,
                    "validation": to_jsonable(manifest),
                    "files": {k: _sha256(v) for k, v in sorted(contents.items())},
                }
                tmp.mkdir()
                for rel, blob in contents.items():
                    _write_file(tmp / rel, blob)
                _write_file(tmp / MANIFEST, _json_bytes(record, "manifest"))
                for sub in sorted({p.parent for p in tmp.rglob("*")}, key=lambda p: -len(p.parts)):
                    _fsync_dir(sub)
                os.rename(tmp, final)  # the commit point: after it the version exists
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                if created:
                    with contextlib.suppress(OSError):
                        name_dir.rmdir()  # only when empty: our folder and nothing else
                raise
            with contextlib.suppress(OSError):  # best effort: the artifact is already in place
                _fsync_dir(name_dir)
                _write_counter(name_dir, version)
    except OSError as exc:
        raise DataError(f"cannot write artifact {name_dir}: {exc.strerror or exc}") from None
    return Artifact(path=final, name=name, version=version, manifest=record)


def _quantlab_version() -> str:
    from quantlab import __version__

    return __version__


def _write_counter(name_dir: Path, version: int) -> None:
    tmp = name_dir / f"{_COUNTER}.tmp-{secrets.token_hex(4)}"
    try:
        _write_file(tmp, f"{version}\n".encode())
        os.replace(tmp, name_dir / _COUNTER)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


# ---------------------------------------------------------------------------- resolve / verify
def _resolve(name: str, version: int | str | None, root: Path | str) -> tuple[Path, int]:
    name, version = parse_spec(name, version)
    name_dir = Path(root) / name
    versions = _versions(name_dir)
    if not versions:
        raise ArtifactError(f"no promoted strategy {name!r} under {Path(root)}/")
    if version is None:
        version = versions[-1]
    elif version not in versions:
        raise ArtifactError(f"{name} has no version {version} under {Path(root)}/ "
                            f"(versions: {', '.join(map(str, versions))})")
    return name_dir / str(version), version


def _read_manifest(path: Path) -> dict[str, Any]:
    """The parsed manifest.json of a version folder (ArtifactError if unreadable/invalid)."""
    where = _display_path(path)
    try:
        data = json.loads((path / MANIFEST).read_bytes())
    except FileNotFoundError:
        raise ArtifactError(f"{where}: {MANIFEST} missing") from None
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{where}: {MANIFEST} is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        raise ArtifactError(f"{where}: {MANIFEST} has no 'files' table")
    return data


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


# ---------------------------------------------------------------------------- load
def _class_name(strategy_ref: Any) -> str | None:
    if not isinstance(strategy_ref, str):
        return None
    _, sep, cls = strategy_ref.rpartition(":")
    return (cls.strip() or None) if sep else None


def _import_verified(path: Path, source: bytes, module_name: str) -> ModuleType:
    """Execute the already-verified ``source`` of ``path`` as module ``module_name``.

    Strategies registered while it runs (``@register``) are not kept in the registry: a
    promoted class is reached through its artifact, and two versions of one strategy would
    otherwise clash on the registry name.
    """
    cached = sys.modules.get(module_name)
    if cached is not None:  # same name => same verified content hash
        return cached
    from quantlab.strategies import registry

    if _MODULE_PACKAGE not in sys.modules:
        parent = ModuleType(_MODULE_PACKAGE)
        parent.__path__ = []
        sys.modules[_MODULE_PACKAGE] = parent
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None:  # pragma: no cover - .py files always have a spec
        raise StrategyError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    with _IMPORT_LOCK:
        saved = dict(registry._REGISTRY)
        registry._REGISTRY.clear()
        try:
            _exec(source, path, module, module_name)
        finally:
            registry._REGISTRY.clear()
            registry._REGISTRY.update(saved)
    return module


_IMPORT_LOCK = threading.Lock()


def _exec(source: bytes, path: Path, module: ModuleType, module_name: str) -> None:
    try:
        exec(compile(source, str(path), "exec"), module.__dict__)  # the bytes that were hashed
    except SyntaxError as exc:
        sys.modules.pop(module_name, None)
        raise StrategyError(f"{_display_path(path)}:{exc.lineno}: syntax error: {exc.msg}") from None
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise StrategyError(f"{_display_path(path)}: error while importing: "
                            f"{type(exc).__name__}: {exc}") from exc


def load_promoted(name: str, version: int | str | None = None,
                  root: Path | str = DEFAULT_ROOT) -> PromotedStrategy:
    """Verify a promoted strategy, then import and instantiate it.

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
    PromotedStrategy
        The strategy instance (class from ``strategy.py`` named by ``strategy_ref``, built
        with ``params.json``), the manifest, the version and the folder.

    Raises
    ------
    ArtifactError
        No such strategy/version, or verification fails (the message names the first bad
        file). Nothing from the artifact is executed in that case.
    StrategyError
        ``strategy.py`` fails to import or the class is not a Strategy subclass.
    """
    from quantlab.strategies.base import Strategy

    path, version = _resolve(name, version, root)
    name = parse_spec(name)[0]
    result = verify_artifact(path)
    if not result.passed:
        raise ArtifactError(f"refusing to load: {result.error}")
    manifest = _read_manifest(path)
    # Re-check the bytes actually executed/parsed (the folder could change after verifying).
    source = (path / STRATEGY_FILE).read_bytes()
    params_raw = (path / PARAMS_FILE).read_bytes()
    for rel, blob in ((STRATEGY_FILE, source), (PARAMS_FILE, params_raw)):
        if _sha256(blob) != manifest["files"].get(rel):
            raise ArtifactError(f"refusing to load: {_display_path(path)}: {rel} changed "
                                f"(sha256 differs from {MANIFEST})")
    try:
        params = json.loads(params_raw)
    except ValueError as exc:
        raise ArtifactError(f"{_display_path(path)}: {PARAMS_FILE} is not valid JSON ({exc})") from None
    if not isinstance(params, dict):
        raise ArtifactError(f"{_display_path(path)}: {PARAMS_FILE} is not a JSON object")

    module_name = f"{_MODULE_PACKAGE}.{name.replace('-', '_')}_v{version}_{_sha256(source)[:12]}"
    module = _import_verified(path / STRATEGY_FILE, source, module_name)
    ref = manifest.get("strategy_ref")
    cls_name = _class_name(ref)
    if cls_name is None:
        found = [obj for obj in vars(module).values()
                 if inspect.isclass(obj) and issubclass(obj, Strategy) and obj is not Strategy
                 and obj.__module__ == module.__name__]
        if len(found) != 1:
            raise StrategyError(f"{_display_path(path)}: strategy_ref {ref!r} names no class and "
                                f"{STRATEGY_FILE} defines {len(found)} strategies")
        cls = found[0]
    else:
        cls = getattr(module, cls_name, None)
        if cls is None:
            raise StrategyError(f"{_display_path(path)}/{STRATEGY_FILE} has no class {cls_name!r} "
                                f"(strategy_ref {ref!r})")
    if not (inspect.isclass(cls) and issubclass(cls, Strategy)):
        raise StrategyError(f"{_display_path(path)}/{STRATEGY_FILE}:{cls_name} is not a quantlab "
                            "Strategy subclass")
    strategy = cls(**params)
    return PromotedStrategy(strategy=strategy, manifest=manifest, name=name, version=version,
                            path=path)


# ---------------------------------------------------------------------------- list
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
