"""Package exports that load on first use (PEP 562).

A package whose ``__init__`` imports every submodule makes ``import package.one_module`` pay
for all of them. :func:`lazy_exports` gives a package a module-level ``__getattr__`` and
``__dir__`` that import a name's submodule only when the name is first used, so the live runner
can import ``quantlab.risk.ewma`` or ``quantlab.promote.artifact`` without scipy.stats and the
rest (tens of MiB of resident memory).
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


class _LazyPackage(types.ModuleType):
    """A package module whose exports win over same-named submodules.

    Importing ``pkg.pbo`` makes Python set the attribute ``pkg.pbo`` to the submodule; with
    eager imports the package's own ``from pkg.pbo import pbo`` ran afterwards and the function
    won. Here the export must win too, so setting an export's name to a module is ignored.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and name in self.__dict__.get("_EXPORTS", {}):
            return
        super().__setattr__(name, value)


def lazy_exports(package: str, namespace: dict[str, Any], exports: Mapping[str, str]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package`` exporting ``name -> submodule``.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    namespace : dict
        The package's ``globals()`` (a loaded name is cached there).
    exports : mapping of str to str
        Public name -> the module that defines it (also kept as the package's ``_EXPORTS``).
    """
    namespace["_EXPORTS"] = dict(exports)
    module = sys.modules.get(package)
    if module is not None:
        module.__class__ = _LazyPackage

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
