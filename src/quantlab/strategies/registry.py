"""Strategy registry: names -> classes, and resolution of user strategy specs.

A *spec* is what users type (``quantlab backtest --strategy SPEC``, ``get_strategy(SPEC)``):

- a registered name: ``"sma_cross"``;
- a file and class: ``"path/to/my_strat.py:MyStrategy"`` (the class may be omitted when the
  file defines exactly one Strategy subclass);
- a module and class: ``"mypackage.strategies:MyStrategy"``;
- any of the above with an overlay suffix: ``"sma_cross+vol_target"``;
- or a :class:`~quantlab.strategies.base.Strategy` subclass (or instance), returned as is.
"""

from __future__ import annotations

import difflib
from typing import Any, overload

import pandas as pd

from quantlab.errors import StrategyError, UnknownStrategyError
from quantlab.strategies import loader
from quantlab.strategies.base import Strategy

__all__ = ["get_strategy", "list_strategies", "register", "strategy_classes", "strategy_info"]

_REGISTRY: dict[str, type[Strategy]] = {}

#: Overlay suffixes understood by :func:`get_strategy`.
OVERLAY_SUFFIXES = ("+vol_target",)


@overload
def register(cls: type[Strategy], *, name: str | None = None) -> type[Strategy]: ...
@overload
def register(cls: None = None, *, name: str | None = None) -> Any: ...
def register(cls: type[Strategy] | None = None, *, name: str | None = None) -> Any:
    """Register a Strategy subclass under its ``name`` (class decorator).

    Parameters
    ----------
    cls : type[Strategy]
        The class to register. ``@register`` and ``@register(name="x")`` both work.
    name : str, optional
        Registry key; defaults to ``cls.name``. When given and ``cls.name`` is empty, it is
        also set as ``cls.name``.

    Returns
    -------
    type[Strategy]
        ``cls`` unchanged, so it can be used as a decorator.

    Raises
    ------
    StrategyError
        If ``cls`` is not a Strategy subclass, has no name, or the name is taken by a class
        from another module (re-registering the same class, e.g. re-running a notebook
        cell, replaces the entry).
    """
    if cls is None:
        return lambda c: register(c, name=name)
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise StrategyError(f"register() needs a Strategy subclass, got {cls!r}")
    key = name or cls.name
    if not key:
        raise StrategyError(f"{cls.__qualname__} has no `name`; set name = '...' to register it")
    if any(key.endswith(s) for s in OVERLAY_SUFFIXES) or ":" in key or key.strip() != key:
        raise StrategyError(f"invalid strategy name {key!r}")
    if not cls.name:
        cls.name = key
    old = _REGISTRY.get(key)
    if (
        old is not None
        and old is not cls
        and ((old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__))
    ):
        raise StrategyError(
            f"strategy name {key!r} is already registered by {old.__module__}.{old.__qualname__}"
        )
    _REGISTRY[key] = cls
    return cls


def _registered() -> dict[str, type[Strategy]]:
    import quantlab.strategies  # noqa: F401  (registers the built-ins)

    return _REGISTRY


def strategy_classes() -> dict[str, type[Strategy]]:
    """Registered strategy classes by name, sorted by name (built-ins included)."""
    return dict(sorted(_registered().items()))


def _unknown(name: str) -> UnknownStrategyError:
    names = sorted(_registered())
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return UnknownStrategyError(
        f"unknown strategy {name!r}.{hint} Available: {', '.join(names)} "
        "(or path/to/file.py:ClassName, package.module:ClassName)"
    )


def _is_file_spec(target: str) -> bool:
    return target.endswith(".py") or "/" in target or "\\" in target


def get_strategy(spec: str | type[Strategy] | Strategy) -> type[Strategy]:
    """Resolve a strategy spec to a Strategy class.

    Parameters
    ----------
    spec : str, Strategy subclass or Strategy instance
        Registered name (``"sma_cross"``), ``"path/to/file.py[:Class]"``,
        ``"package.module:Class"``, optionally followed by ``"+vol_target"``.

    Returns
    -------
    type[Strategy]

    Raises
    ------
    UnknownStrategyError
        Unknown name (with close-match suggestions), missing file/module/class.
    StrategyError
        The file cannot be imported or the object is not a Strategy subclass.
    """
    if isinstance(spec, Strategy):
        return type(spec)
    if isinstance(spec, type):
        if issubclass(spec, Strategy):
            return spec
        raise StrategyError(f"{spec.__qualname__} is not a quantlab Strategy subclass")
    if not isinstance(spec, str):
        raise UnknownStrategyError(f"cannot resolve a strategy from {type(spec).__name__}")
    text = spec.strip()
    if not text:
        raise _unknown(text)
    for suffix in OVERLAY_SUFFIXES:
        if text.endswith(suffix) and len(text) > len(suffix):
            from quantlab.strategies.vol_target import with_vol_target

            return with_vol_target(get_strategy(text[: -len(suffix)]))
    registered = _registered()
    if text in registered:
        return registered[text]
    target, sep, cls_name = text.rpartition(":")
    if not sep:
        target, cls_name = text, ""
    if _is_file_spec(target):
        return loader.load_from_file(target, cls_name or None)
    if sep and target:
        return loader.load_from_module(target, cls_name or None)
    raise _unknown(text)


def strategy_info(cls: type[Strategy]) -> dict[str, Any]:
    """Description of a strategy class as plain data (for listings and ``--json``).

    Parameters
    ----------
    cls : type[Strategy]

    Returns
    -------
    dict
        ``name, kind, multi_asset, shorts, description, warmup, parameters`` where
        ``parameters`` is a list of dicts (``name, type, default, low, high, choices, grid,
        doc, describe``).
    """
    params = []
    for key, p in cls.params.items():
        params.append(
            {
                "name": key,
                "type": p.kind.__name__,
                "default": p.default,
                "low": p.low,
                "high": p.high,
                "choices": list(p.choices) if p.choices is not None else None,
                "grid": list(p.grid) if p.grid is not None else None,
                "doc": p.doc,
                "describe": p.describe(),
            }
        )
    return {
        "name": cls.label(),
        "kind": cls.kind,
        "multi_asset": bool(cls.multi_asset),
        "shorts": bool(cls.shorts),
        "description": cls.describe(),
        "warmup": _warmup_text(cls),
        "parameters": params,
    }


def _warmup_text(cls: type[Strategy]) -> str:
    formula = getattr(cls, "warmup_doc", "") or ""
    try:
        bars = cls().warmup()
    except Exception:  # defaults may be invalid for an abstract/user class
        return formula
    at_default = f"{bars} bars at defaults"
    return f"{formula} ({at_default})" if formula else at_default


def list_strategies() -> pd.DataFrame:
    """All registered strategies, one row each.

    Returns
    -------
    DataFrame
        Indexed by ``name`` with columns ``kind, multi_asset, shorts, parameters`` (one string
        built from :meth:`Param.describe`), ``warmup`` (formula and value at the defaults) and
        ``description`` (first docstring line). Append ``+vol_target`` to any name to get the
        volatility-targeting variant (see :func:`~quantlab.strategies.with_vol_target`).
    """
    rows = []
    for key, cls in strategy_classes().items():
        info = strategy_info(cls)
        rows.append(
            {
                "name": key,
                "kind": info["kind"],
                "multi_asset": info["multi_asset"],
                "shorts": info["shorts"],
                "parameters": "; ".join(
                    f"{p['name']}: {p['describe']}" for p in info["parameters"]
                ),
                "warmup": info["warmup"],
                "description": info["description"],
            }
        )
    cols = ["name", "kind", "multi_asset", "shorts", "parameters", "warmup", "description"]
    return pd.DataFrame(rows, columns=cols).set_index("name")
