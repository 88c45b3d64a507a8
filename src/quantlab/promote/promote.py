"""``quantlab promote``: execute a research notebook, gate its strategy, freeze what passed.

:func:`promote` reads the notebook's declaration (fails fast, before anything runs), executes
the notebook with papermill through the report runner, loads the declared data, runs the six
gates (:mod:`quantlab.promote.gates`) and — only when every gated figure passes — writes a new
version of ``strategies/NAME/`` (:mod:`quantlab.promote.artifact`): the strategy source,
parameters, manifest with every gate's thresholds and figures, the executed notebook and its
HTML report. On failure nothing is written.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from quantlab.errors import QuantlabError
from quantlab.promote.config import GateConfig
from quantlab.promote.declaration import Declaration, read_declaration
from quantlab.promote.gates import GateReport, run_gates

__all__ = ["PromotionError", "data_files", "promote"]


class PromotionError(QuantlabError):
    """The notebook failed to run, or its data could not be loaded, during a promotion."""


def data_files(decl: Declaration, data_dir: str | os.PathLike[str] = "data") -> list[Path]:
    """The files the declared data is read from (hashed into the manifest)."""
    if decl.exchange is None:
        from quantlab.data.sample import sample_path

        return [Path(sample_path(s)) for s in decl.symbols]
    from quantlab.data.store import cache_path, partition_files

    out: list[Path] = []
    for s in decl.symbols:
        out += partition_files(cache_path(decl.exchange, decl.timeframe, s, data_dir))
    return out


def _load(decl: Declaration, data_dir: str | os.PathLike[str]) -> Any:
    from quantlab.data import load

    symbols: str | list[str] = decl.symbols[0] if len(decl.symbols) == 1 else decl.symbols
    return load(symbols, exchange=decl.exchange, timeframe=decl.timeframe, data_dir=data_dir)


def promote(notebook: str | os.PathLike[str], name: str, *,
            parameters: dict[str, Any] | None = None,
            gates: GateConfig | str | os.PathLike[str] | None = None,
            root: str | os.PathLike[str] = "strategies",
            data_dir: str | os.PathLike[str] = "data",
            execute: bool = True, progress: Any = None) -> GateReport:
    """Gate the strategy a research notebook declares and, if it passes, freeze it.

    Parameters
    ----------
    notebook : path
        The research notebook (see :mod:`quantlab.promote.declaration` for what it declares).
    name : str
        Name of the promoted strategy (``strategies/NAME/VERSION``).
    parameters : dict, optional
        Overrides of the notebook's parameters cell (also passed to papermill).
    gates : GateConfig or path, optional
        Thresholds, or a TOML file of them (:mod:`quantlab.promote.config`).
    root : path
        Where promoted strategies live (default ``strategies``).
    data_dir : path
        Cache root for exchange data.
    execute : bool
        Execute the notebook (default). ``False`` skips papermill (the artifact then holds no
        executed notebook or report) — for tests and quick checks.
    progress : callable, optional
        ``progress(message)`` as each step starts.

    Returns
    -------
    GateReport
        ``passed`` and the table of figures; ``artifact`` is the written version's folder
        (None when a gate failed).
    """
    say = progress or (lambda msg: None)
    config = gates if isinstance(gates, GateConfig) else (
        GateConfig.from_toml(gates) if gates is not None else GateConfig())
    decl = read_declaration(notebook, parameters)  # fail fast, before executing anything
    from quantlab.promote.artifact import check_name

    check_name(name)
    with tempfile.TemporaryDirectory(prefix="quantlab-promote-") as tmp:
        extra_files: dict[str, Path] = {}
        if execute:
            from quantlab.reports.runner import run_notebook

            say(f"executing {Path(notebook).name}")
            run = run_notebook(notebook, parameters, out=tmp, name="notebook")
            if run.status != "ok":
                raise PromotionError(f"promotion stopped: {run.error}")
            decl = read_declaration(run.executed, parameters)  # type: ignore[arg-type]
            extra_files = {"notebook.ipynb": Path(run.executed)}  # type: ignore[arg-type]
            if run.html is not None:
                extra_files["report.html"] = Path(run.html)
        say("loading data")
        try:
            bars = _load(decl, data_dir)
        except QuantlabError as exc:
            raise PromotionError(f"{Path(notebook).name}: {exc}") from None
        strategy = decl.strategy()
        report, extra = run_gates(strategy, bars, options=decl.options, config=config,
                                  symbols=decl.symbols, progress=lambda g: say(f"gate {g}"))
        if not report.passed:
            return report
        res = extra["backtest"]
        manifest = {
            "notebook": str(decl.notebook.name),
            "origin": decl.origin,
            "strategy": strategy.label(),
            "params": strategy.values,
            "options": decl.options,
            "data": {"symbols": decl.symbols, "exchange": decl.exchange,
                     "timeframe": decl.timeframe,
                     "start": str(bars.index[0]), "end": str(bars.index[-1]), "bars": len(bars)},
            "warmup_bars": report.warmup_bars,
            "declared_warmup": int(strategy.warmup()),
            "gate_config": config.to_dict(),
            "gates": report.to_dict()["gates"],
            "summary": {k: v for k, v in res.stats().items()
                        if k in ("total_return", "sharpe", "max_drawdown", "trades")},
        }
        from quantlab.promote.artifact import write_artifact

        say("writing the artifact")
        art = write_artifact(name, strategy_source=decl.strategy_source,
                             strategy_ref=decl.strategy_ref, params=strategy.values,
                             manifest=manifest, data_files=data_files(decl, data_dir),
                             extra_files=extra_files, root=root)
        report.artifact = str(art.path)
    return report
