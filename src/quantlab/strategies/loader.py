"""Load user strategies from a Python file or an importable module.

Files are imported with :mod:`importlib` under a unique, stable module name derived from the
file's absolute path (``quantlab_user_strategies.<stem>_<hash>``), so two files called
``strategy.py`` in different folders do not clash, and loading an unchanged file twice returns
the same class (instances compare equal). A file edited since the last load is re-imported.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import inspect
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from quantlab.errors import StrategyError, UnknownStrategyError
from quantlab.strategies.base import Strategy

__all__ = ["load_from_file", "load_from_module"]

_PACKAGE = "quantlab_user_strategies"
_CACHE: dict[str, tuple[tuple[int, int], ModuleType]] = {}


def _module_name(path: Path) -> str:
    digest = hashlib.sha1(str(path).encode("utf-8")).hexdigest()[:10]
    stem = re.sub(r"\W", "_", path.stem) or "strategy"
    return f"{_PACKAGE}.{stem}_{digest}"


def import_file(path: str | Path) -> ModuleType:
    """Import a Python file as a module (cached while the file is unchanged).

    Raises
    ------
    UnknownStrategyError
        The file does not exist.
    StrategyError
        The file is not a ``.py`` file, has a syntax error or raises while importing.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise UnknownStrategyError(f"strategy file not found: {path}")
    if p.suffix != ".py":
        raise StrategyError(f"strategy file {path} is not a .py file")
    p = p.resolve()
    st = p.stat()
    stamp = (st.st_mtime_ns, st.st_size)
    key = str(p)
    cached = _CACHE.get(key)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    name = _module_name(p)
    if _PACKAGE not in sys.modules:  # a namespace parent so "pkg.mod" names resolve
        parent = ModuleType(_PACKAGE)
        parent.__path__ = []
        sys.modules[_PACKAGE] = parent
    spec = importlib.util.spec_from_file_location(name, p)
    if spec is None or spec.loader is None:  # pragma: no cover - .py files always have one
        raise StrategyError(f"cannot import strategy file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses/typing look the module up while executing
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        sys.modules.pop(name, None)
        raise StrategyError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None
    except Exception as exc:
        sys.modules.pop(name, None)
        raise StrategyError(f"{path}: error while importing: {type(exc).__name__}: {exc}") from exc
    _CACHE[key] = (stamp, module)
    return module


def load_from_file(path: str | Path, class_name: str | None = None) -> type[Strategy]:
    """The Strategy subclass ``class_name`` defined in the Python file ``path``.

    Parameters
    ----------
    path : str or Path
        A ``.py`` file.
    class_name : str, optional
        Class to load; may be omitted when the file defines exactly one Strategy subclass.

    Returns
    -------
    type[Strategy]

    Raises
    ------
    UnknownStrategyError
        Missing file or class.
    StrategyError
        Syntax/import error, or the object is not a Strategy subclass.
    """
    module = import_file(path)
    return _resolve_class(module, class_name, str(path))


def load_from_module(module_name: str, class_name: str | None = None) -> type[Strategy]:
    """The Strategy subclass ``class_name`` of the importable module ``module_name``.

    Raises
    ------
    UnknownStrategyError
        Module or class not found.
    StrategyError
        The module fails to import or the object is not a Strategy subclass.
    """
    module = _import_module(module_name)
    return _resolve_class(module, class_name, module_name)


def _defined_strategies(module: Any) -> list[type[Strategy]]:
    """Strategy subclasses defined (not just imported) in ``module``."""
    return [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, Strategy)
        and obj is not Strategy
        and obj.__module__ == module.__name__
    ]


def _resolve_class(module: Any, cls_name: str | None, where: str) -> type[Strategy]:
    if cls_name is None:
        found = _defined_strategies(module)
        if len(found) == 1:
            return found[0]
        if not found:
            raise UnknownStrategyError(f"{where} defines no Strategy subclass")
        names = ", ".join(sorted(c.__name__ for c in found))
        raise UnknownStrategyError(
            f"{where} defines several strategies ({names}); pick one with {where}:ClassName"
        )
    obj = getattr(module, cls_name, None)
    if obj is None:
        names = sorted(c.__name__ for c in _defined_strategies(module))
        close = difflib.get_close_matches(cls_name, names, n=3, cutoff=0.6)
        hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
        avail = f" (strategies there: {', '.join(names)})" if names else ""
        raise UnknownStrategyError(f"{where} has no class {cls_name!r}.{hint}{avail}")
    if not (inspect.isclass(obj) and issubclass(obj, Strategy)):
        raise StrategyError(f"{where}:{cls_name} is not a quantlab Strategy subclass")
    return obj


def _import_module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            raise UnknownStrategyError(f"cannot import strategy module {name!r}") from None
        raise StrategyError(f"error importing strategy module {name!r}: {exc}") from None
    except SyntaxError as exc:
        raise StrategyError(
            f"{exc.filename}:{exc.lineno}: syntax error in strategy module {name!r}: {exc.msg}"
        ) from None
    except Exception as exc:
        raise StrategyError(
            f"error importing strategy module {name!r}: {type(exc).__name__}: {exc}"
        ) from exc
