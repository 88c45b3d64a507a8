"""Hashing of artifact files, and reading the manifest that records the hashes.

Every file of a version folder is listed in its ``manifest.json`` with its sha256;
:func:`_sha256_file` and :func:`_sha256` compute them, :func:`_read_manifest` parses the
manifest (:class:`~quantlab.errors.ArtifactError` when it is missing or invalid).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from quantlab.errors import ArtifactError
from quantlab.promote.artifact.layout import MANIFEST, _display_path

__all__: list[str] = []


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
