"""Loading an artifact: verify it, import the verified ``strategy.py``, instantiate the class.

:func:`load_promoted` refuses an artifact that fails :func:`~.verify.verify_artifact`, executes
exactly the bytes it hashed (as a module under ``quantlab_promoted``, kept out of the strategy
registry) and builds the class named by ``strategy_ref`` with ``params.json``: a
:class:`PromotedStrategy`.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from quantlab.errors import ArtifactError, StrategyError
from quantlab.promote.artifact.hashing import _read_manifest, _sha256
from quantlab.promote.artifact.layout import (
    DEFAULT_ROOT,
    MANIFEST,
    PARAMS_FILE,
    STRATEGY_FILE,
    _display_path,
    _resolve,
    parse_spec,
)
from quantlab.promote.artifact.verify import verify_artifact

if TYPE_CHECKING:  # pragma: no cover
    from quantlab.strategies.base import Strategy

__all__ = ["PromotedStrategy", "load_promoted"]

_MODULE_PACKAGE = "quantlab_promoted"


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
