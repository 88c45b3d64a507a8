"""Writing an artifact: the next version number, taken under a lock, filled atomically.

VERSION is 1, 2, 3... per NAME: taken under an exclusive :func:`fcntl.flock` on the ``NAME``
folder, so two concurrent promotions get different versions, and never reused (the highest
version issued is also kept in ``NAME/.last-version``, so deleting a version does not free its
number). An artifact is written into a temporary folder ``NAME/.NAME-VERSION.tmp-XXXX``, every
file fsynced, then renamed into place in one step: a reader sees a whole version or none, and
a failed write leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import platform
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from quantlab._util import to_jsonable
from quantlab.errors import DataError, ParameterError
from quantlab.promote.artifact.hashing import _sha256, _sha256_file
from quantlab.promote.artifact.layout import (
    _PART_RE,
    DEFAULT_ROOT,
    MANIFEST,
    PARAMS_FILE,
    STRATEGY_FILE,
    _display_path,
    _versions,
    check_name,
)
from quantlab.promote.artifact.result import Artifact

__all__ = ["write_artifact"]

_RESERVED = {MANIFEST, STRATEGY_FILE, PARAMS_FILE}
_COUNTER = ".last-version"
_FORMAT = 1


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
