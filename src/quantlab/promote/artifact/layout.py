"""Layout of the artifact store: names, versions, where a version lives.

The store is ``<root>/NAME/VERSION/``; ``root`` defaults to :data:`DEFAULT_ROOT`
(``strategies/``, relative to the current directory), NAME is 1-64 letters, digits, ``_`` or
``-`` (:func:`check_name`) and VERSION a positive integer. A version folder holds
:data:`STRATEGY_FILE`, :data:`PARAMS_FILE`, any extra files and :data:`MANIFEST`.
:func:`parse_spec` reads ``NAME`` or ``NAME@VERSION``; :func:`_resolve` finds the folder of a
version (the latest by default).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from quantlab.errors import ArtifactError, ParameterError

__all__ = ["DEFAULT_ROOT", "MANIFEST", "PARAMS_FILE", "STRATEGY_FILE", "check_name", "parse_spec"]

#: Default artifact root, relative to the current directory.
DEFAULT_ROOT = "strategies"
MANIFEST = "manifest.json"
STRATEGY_FILE = "strategy.py"
PARAMS_FILE = "params.json"
_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PART_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\- ]*")


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


def _display_path(path: Path) -> str:
    """``path`` relative to the current directory when it is under it, else absolute."""
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return absolute.as_posix()


def _versions(name_dir: Path) -> list[int]:
    """Version numbers present under ``name_dir`` (folders named by a positive integer)."""
    try:
        entries = list(name_dir.iterdir())
    except FileNotFoundError:
        return []
    return sorted(int(p.name) for p in entries
                  if p.name.isdigit() and int(p.name) > 0 and p.is_dir())


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
