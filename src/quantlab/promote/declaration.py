"""What a research notebook declares for promotion: its strategy, parameters and data.

A notebook names its strategy in one of two ways:

- a ``strategy`` variable in its ``parameters`` cell: a registered name (``"sma_cross"``,
  ``"sma_cross+vol_target"``) or an importable reference (``"package.module:Class"``,
  ``"path/file.py:Class"``, relative to the notebook's folder);
- a code cell tagged ``strategy`` that holds one :class:`~quantlab.strategies.Strategy`
  subclass and nothing else but imports (so the frozen artifact is exactly that source).

The ``parameters`` cell (after papermill's injected overrides) also gives the data —
``symbol`` or ``symbols``, ``timeframe`` (default ``1d``), ``exchange`` (``None``: the bundled
sample), optional ``start``/``end`` — the strategy's parameters (the names its ``Param``s
declare) and backtest options (names of :class:`~quantlab.backtesting.BacktestOptions`
fields such as ``fees_bps``). Other names are the notebook's own and are ignored here.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import types
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from quantlab.backtesting.options import BacktestOptions
from quantlab.errors import ParameterError, QuantlabError, StrategyError, UsageError
from quantlab.strategies.base import Strategy

__all__ = ["Declaration", "DeclarationError", "read_declaration"]

STRATEGY_TAG = "strategy"
_OPTION_NAMES = frozenset(f.name for f in fields(BacktestOptions))


class DeclarationError(QuantlabError):
    """A notebook does not declare a promotable strategy (message names notebook and cell)."""


@dataclass(frozen=True)
class Declaration:
    """A notebook's declared strategy, parameters, options and data.

    Attributes
    ----------
    notebook : Path
        The notebook read.
    strategy_cls : type[Strategy]
        The strategy class.
    strategy_ref : str
        How the live runner finds the class in the frozen source: ``"strategy.py:ClassName"``.
    strategy_source : str
        Python source that defines the class (the tagged cell, or the class's module file).
    origin : str
        Where it came from: ``"cell 4"``, ``"registry:sma_cross"``, ``"module:Class"``.
    params : dict
        Strategy parameters from the notebook (others keep their defaults).
    options : dict
        Backtest options from the notebook.
    symbols : list[str]
        Symbols of the data.
    timeframe, exchange, start, end
        Data source and range (``exchange=None``: the bundled sample).
    """

    notebook: Path
    strategy_cls: type[Strategy]
    strategy_ref: str
    strategy_source: str
    origin: str
    params: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    symbols: list[str] = field(default_factory=list)
    timeframe: str = "1d"
    exchange: str | None = None
    start: Any = None
    end: Any = None

    @property
    def source_sha256(self) -> str:
        """sha256 of :attr:`strategy_source` (UTF-8)."""
        return hashlib.sha256(self.strategy_source.encode("utf-8")).hexdigest()

    def strategy(self) -> Strategy:
        """An instance with the declared parameters."""
        return self.strategy_cls(**self.params)


def _cells(path: Path) -> list[dict[str, Any]]:
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read notebook {path}: {exc}") from None
    return list(nb.get("cells", []))


def _tags(cell: dict[str, Any]) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _literal_assignments(source: str, where: str) -> dict[str, Any]:
    """``name = literal`` statements of a parameters cell (other statements are ignored)."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise DeclarationError(f"{where} is not valid Python: {exc.msg} (line {exc.lineno})") from None
    out: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            try:
                value = ast.literal_eval(node.value)
            except (ValueError, SyntaxError):
                continue  # computed defaults are the notebook's business
            for t in targets:
                if isinstance(t, ast.Name):
                    out[t.id] = value
    return out


def _parameters(cells: list[dict[str, Any]], path: Path) -> dict[str, Any]:
    values: dict[str, Any] = {}
    found = False
    for i, cell in enumerate(cells, start=1):
        tags = _tags(cell)
        if cell.get("cell_type") == "code" and ("parameters" in tags or "injected-parameters" in tags):
            found = True
            values.update(_literal_assignments("".join(cell.get("source", "")),
                                               f"{path.name} cell {i}"))
    if not found:
        raise DeclarationError(f"{path.name} has no cell tagged 'parameters' (symbols, timeframe, "
                               "strategy parameters) to promote")
    return values


def _cell_class(cells: list[dict[str, Any]], path: Path) -> tuple[type[Strategy], str, str] | None:
    tagged = [(i, c) for i, c in enumerate(cells, start=1)
              if c.get("cell_type") == "code" and STRATEGY_TAG in _tags(c)]
    if not tagged:
        return None
    if len(tagged) > 1:
        raise DeclarationError(f"{path.name}: cells {', '.join(str(i) for i, _ in tagged)} are all "
                               f"tagged '{STRATEGY_TAG}'; tag exactly one")
    i, cell = tagged[0]
    where = f"{path.name} cell {i} (tagged '{STRATEGY_TAG}')"
    source = "".join(cell.get("source", ""))
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise DeclarationError(f"{where} is not valid Python: {exc.msg} (line {exc.lineno})") from None
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    other = [n for n in tree.body if not isinstance(n, ast.ClassDef | ast.Import | ast.ImportFrom)
             and not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
    if other or len(classes) != 1:
        what = (f"line {other[0].lineno} is neither an import nor the class" if other
                else f"{len(classes)} classes")
        raise DeclarationError(f"{where} must hold one Strategy subclass and nothing else but "
                               f"imports ({what})")
    module = types.ModuleType(f"quantlab_promoted_cell_{i}")
    module.__file__ = f"<{path.name} cell {i}>"
    try:
        exec(compile(source, module.__file__, "exec"), module.__dict__)
    except Exception as exc:
        raise DeclarationError(f"{where} raised {type(exc).__name__}: {exc}") from None
    cls = module.__dict__.get(classes[0].name)
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise DeclarationError(f"{where}: class {classes[0].name} is not a quantlab Strategy subclass")
    return cls, source, f"cell {i}"


def _referenced_class(ref: str, path: Path) -> tuple[type[Strategy], str, str]:
    from quantlab.strategies import get_strategy
    from quantlab.strategies.vol_target import VolTargetMixin

    spec = ref
    if ":" in ref and ref.split(":", 1)[0].endswith(".py") and not Path(ref.split(":", 1)[0]).is_absolute():
        spec = f"{path.resolve().parent / ref.split(':', 1)[0]}:{ref.split(':', 1)[1]}"
    try:
        cls = get_strategy(spec)
    except QuantlabError as exc:
        raise DeclarationError(f"{path.name}: strategy = {ref!r}: {exc}") from None
    if issubclass(cls, VolTargetMixin):
        raise DeclarationError(
            f"{path.name}: strategy = {ref!r} is a generated overlay class; promote its inner "
            "strategy, or define the overlay in a cell tagged 'strategy'")
    try:
        source = inspect.getsource(inspect.getmodule(cls))  # type: ignore[arg-type]
    except (OSError, TypeError) as exc:
        raise DeclarationError(f"{path.name}: cannot read the source of {ref!r}: {exc}") from None
    return cls, source, ref if ":" in ref else f"registry:{ref}"


def read_declaration(notebook: str | Path, overrides: dict[str, Any] | None = None) -> Declaration:
    """Read what ``notebook`` declares for promotion.

    Parameters
    ----------
    notebook : path
        A source or executed (papermill) notebook.
    overrides : dict, optional
        Parameter values that win over the notebook's (``quantlab promote -p key=value``).

    Returns
    -------
    Declaration

    Raises
    ------
    DeclarationError
        No ``parameters`` cell, no strategy declared, a ``strategy`` cell holding other code,
        unknown strategy, or a parameter the strategy rejects — one line naming the notebook
        (and cell).
    """
    path = Path(notebook)
    if not path.is_file():
        raise UsageError(f"notebook not found: {path}")
    cells = _cells(path)
    values = _parameters(cells, path)
    values.update(overrides or {})
    in_cell = _cell_class(cells, path)
    ref = values.get("strategy")
    if in_cell is not None:
        cls, source, origin = in_cell
    elif isinstance(ref, str) and ref:
        cls, source, origin = _referenced_class(ref, path)
    else:
        raise DeclarationError(
            f"{path.name} declares no strategy: set strategy = \"name\" (or \"module:Class\") in "
            f"its parameters cell, or tag one cell '{STRATEGY_TAG}' holding a Strategy subclass")
    params = {k: v for k, v in values.items() if k in cls.params}
    options = {k: v for k, v in values.items() if k in _OPTION_NAMES and k not in cls.params}
    symbols = values.get("symbols", values.get("symbol"))
    if isinstance(symbols, str):
        symbols = [s.strip() for s in symbols.split(",") if s.strip()]
    if not symbols or not all(isinstance(s, str) for s in symbols):
        raise DeclarationError(f"{path.name}: the parameters cell must set symbol = \"BTC/USDT\" "
                               "(or symbols = [...]) with the data the strategy was validated on")
    try:
        cls(**params)
        BacktestOptions.from_kwargs(**options)
    except (ParameterError, StrategyError) as exc:
        raise DeclarationError(f"{path.name}: {exc}") from None
    return Declaration(
        notebook=path, strategy_cls=cls, strategy_ref=f"strategy.py:{cls.__name__}",
        strategy_source=source, origin=origin, params=params, options=options,
        symbols=list(symbols), timeframe=str(values.get("timeframe") or "1d"),
        exchange=values.get("exchange"), start=values.get("start"), end=values.get("end"))
