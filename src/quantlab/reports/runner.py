"""Run one notebook as a report: papermill (explicit kernel) + nbconvert HTML + ``metrics.json``.

:func:`run_notebook` checks the parameters against the notebook's ``parameters`` cell before
anything runs, executes the notebook with papermill on an explicit kernel (the registered
``quantlab`` kernel, else one for the current interpreter), exports offline HTML with nbconvert
(plotly.js embedded once by the ``notebook`` renderer) and collects the figures the notebook
recorded with :func:`quantlab.reports.record`. A failing cell does not raise: the returned
:class:`ReportRun` has ``status == "failed"`` and a one-line ``error`` naming notebook, cell and
exception; the executed notebook (with papermill's error cell) is kept.
"""

from __future__ import annotations

import ast
import json
import logging
import os
import re
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from quantlab._result import Result
from quantlab._util import write_text_atomic
from quantlab.errors import DataError, ParameterError, QuantlabError, UsageError
from quantlab.reports.metrics import METRICS_ENV, read_metrics

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go

__all__ = [
    "ReportError",
    "ReportRun",
    "declared_parameters",
    "export_html",
    "kernel_name",
    "parse_parameter",
    "run_notebook",
]

KERNEL = "quantlab"
_FALLBACK_KERNEL = "quantlab-python"
METRICS_FILE = "metrics.json"


class ReportError(QuantlabError):
    """A report notebook failed, or a report run could not start."""


# ---------------------------------------------------------------------------- parameters
def parse_parameter(text: str) -> tuple[str, Any]:
    """Parse one ``key=value`` like papermill's ``-p``: int, float, bool, None, else a string.

    Values starting with ``[`` or ``{`` are read as JSON/YAML lists and dicts.
    """
    if "=" not in text:
        raise ParameterError(f"parameter {text!r} is not of the form key=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key.isidentifier():
        raise ParameterError(f"parameter name {key!r} is not a Python identifier")
    return key, _resolve_type(raw)


def _resolve_type(raw: str) -> Any:
    value = raw.strip()
    if value in ("True", "true"):
        return True
    if value in ("False", "false"):
        return False
    if value in ("None", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    if value[:1] in "[{" and value:
        try:
            import yaml

            return yaml.safe_load(value)
        except Exception:
            try:
                return ast.literal_eval(value)
            except (ValueError, SyntaxError):
                pass
    return raw


def declared_parameters(notebook: str | os.PathLike[str]) -> dict[str, Any]:
    """Names assigned in the notebook's cell tagged ``parameters`` → their default source text.

    Read with :mod:`ast` (papermill's own inspection skips lines it cannot type, such as
    ``exchange = None  # comment``), completed by papermill's for non-Python-parsable cells.
    """
    path = Path(notebook)
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read notebook {path}: {exc}") from None
    out: dict[str, Any] = {}
    for cell in nb.get("cells", []):
        if "parameters" not in cell.get("metadata", {}).get("tags", []):
            continue
        source = "".join(cell.get("source", ""))
        try:
            tree = ast.parse(source)
        except SyntaxError:
            break
        for node in tree.body:
            targets = (node.targets if isinstance(node, ast.Assign)
                       else [node.target] if isinstance(node, ast.AnnAssign) else [])
            for target in targets:
                if isinstance(target, ast.Name):
                    out[target.id] = ast.get_source_segment(source, node.value) if node.value else None
        break
    log = logging.getLogger("papermill")
    level = log.level
    log.setLevel(logging.ERROR)   # "Unable to parse line" for untyped defaults such as None
    try:
        import papermill as pm

        for name, info in pm.inspect_notebook(str(path)).items():
            out.setdefault(name, info.get("default"))
    except Exception:
        pass
    finally:
        log.setLevel(level)
    return out


def _check_parameters(notebook: Path, parameters: dict[str, Any]) -> None:
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    tagged = [c for c in nb.get("cells", [])
              if "parameters" in c.get("metadata", {}).get("tags", [])]
    if parameters and not tagged:
        raise ParameterError(f"{notebook.name} has no cell tagged 'parameters'; "
                             f"cannot set {', '.join(sorted(parameters))}")
    if not parameters:
        return
    declared = declared_parameters(notebook)
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise ParameterError(
            f"{notebook.name} does not declare parameter(s) {', '.join(unknown)}; "
            f"it declares: {', '.join(declared) or '(none)'}")


# ---------------------------------------------------------------------------- kernel
def kernel_name() -> str:
    """The kernel to run reports on: ``quantlab`` if registered, else one for this interpreter.

    The fallback kernel spec (``quantlab-python``, running ``sys.executable``) is written to a
    private folder added to ``JUPYTER_PATH``; nothing is installed into the environment.
    """
    from jupyter_client.kernelspec import KernelSpecManager

    if KERNEL in KernelSpecManager().find_kernel_specs():
        return KERNEL
    root = Path(tempfile.gettempdir()) / f"quantlab-jupyter-{os.getuid() if hasattr(os, 'getuid') else 0}"
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": f"Python ({sys.executable})", "language": "python"}
    write_text_atomic(root / "kernels" / _FALLBACK_KERNEL / "kernel.json", json.dumps(spec))
    paths = os.environ.get("JUPYTER_PATH", "").split(os.pathsep)
    if str(root) not in paths:
        os.environ["JUPYTER_PATH"] = os.pathsep.join([str(root), *[p for p in paths if p]])
    return _FALLBACK_KERNEL


def _engine_name() -> str:
    """Register (once) a papermill engine that passes env/cwd to the kernel and names the cell
    being run in the progress bar."""
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines
    from papermill.utils import merge_kwargs, remove_args

    name = "quantlab"
    if name in papermill_engines._engines:
        return name

    class _Engine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None,
                                     stderr_file=None, start_timeout=60, execution_timeout=None,
                                     **kwargs):
            env = kwargs.pop("kernel_env", None)
            cwd = kwargs.pop("kernel_cwd", None)
            _describe_cells(nb_man)
            kwargs = remove_args(["input_path", "timeout", "startup_timeout"], **kwargs)
            final = merge_kwargs(kwargs, timeout=execution_timeout, startup_timeout=start_timeout,
                                 kernel_name=kernel_name, log=logging.getLogger("papermill"),
                                 log_output=log_output, stdout_file=stdout_file,
                                 stderr_file=stderr_file)
            # the kernel runs on loopback for this one notebook: its startup warning about
            # unencrypted TCP (ipykernel >= 7) is noise on the user's terminal
            final.setdefault("extra_arguments", ["--IPKernelApp.log_level=ERROR"])
            return PapermillNotebookClient(nb_man, **final).execute(env=env, cwd=cwd)

    papermill_engines.register(name, _Engine)
    return name


def _describe_cells(nb_man: Any) -> None:
    """Show ``cell i/n: first line`` of the running cell in papermill's tqdm bar."""
    original = nb_man.cell_start
    total = len(nb_man.nb.cells)

    def cell_start(cell: Any, cell_index: int | None = None, **kwargs: Any) -> None:
        original(cell, cell_index, **kwargs)
        if getattr(nb_man, "pbar", None) is not None and cell_index is not None:
            first = next((ln for ln in str(cell.source).splitlines() if ln.strip()), "")
            nb_man.pbar.set_description(f"cell {cell_index + 1}/{total}: {first[:40]:<40}")

    nb_man.cell_start = cell_start


# ---------------------------------------------------------------------------- HTML
def export_html(executed: str | os.PathLike[str], target: str | os.PathLike[str], *,
                no_code: bool = False, title: str | None = None) -> Path:
    """Export an executed notebook to standalone HTML (nbconvert ``lab`` template).

    Plotly figures rendered with the ``notebook`` renderer carry their data and the single
    plotly.js bundle emitted when the renderer activated, so the page works offline.
    ``no_code`` hides the input cells and prompts.
    """
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(executed), as_version=4)
    if title:
        nb.metadata["title"] = title
    exporter = HTMLExporter(template_name="lab", exclude_input=no_code,
                            exclude_input_prompt=no_code, exclude_output_prompt=no_code)
    body, _ = exporter.from_notebook_node(nb)
    return write_text_atomic(target, offline_html(body))


_EXTERNAL_SCRIPT = re.compile(r"<script\b[^>]*\bsrc=[\"']https?://[^\"']*[\"'][^>]*>\s*</script>", re.I)


def offline_html(body: str) -> str:
    """Drop ``<script src="https://...">`` tags (MathJax, require.js from CDNs).

    The page must open offline: plotly.js is embedded, and the CDN scripts nbconvert's template
    and plotly's renderer add (for LaTeX) would only fail to load and log errors without
    network. Inline scripts are kept.
    """
    return _EXTERNAL_SCRIPT.sub("", body)


# ---------------------------------------------------------------------------- result
@dataclass(repr=False)
class ReportRun(Result):
    """One executed report: status, run time, output files and recorded metrics."""

    name: str
    notebook: Path
    output_dir: Path
    parameters: dict[str, Any] = field(default_factory=dict)
    status: str = "ok"
    elapsed: float = 0.0
    executed: Path | None = None
    html: Path | None = None
    metrics_path: Path | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    error_cell: int | None = None
    kernel: str = ""
    title_text: str = ""
    cell_times: list[tuple[int, str, float]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def title(self) -> str:
        return f"Report {self.name}: {self.status} in {self.elapsed:.1f} s"

    def stats(self) -> pd.Series:
        return pd.Series({"status": self.status, "elapsed": float(self.elapsed),
                          "cells": len(self.cell_times), "metrics": len(self.metrics),
                          "error_cell": self.error_cell, "error": self.error}, dtype=object)

    def _summary_table(self) -> pd.DataFrame:
        if not self.metrics:
            return pd.DataFrame({"value": pd.Series(dtype=object)}).rename_axis("metric")
        return pd.DataFrame({"value": pd.Series(self.metrics, dtype=object)}).rename_axis("metric")

    def _figure(self, **kwargs: Any) -> go.Figure:
        import plotly.graph_objects as go

        labels = [f"{i}: {s[:30]}" for i, s, _ in self.cell_times]
        fig = go.Figure(go.Bar(x=[t for *_, t in self.cell_times], y=labels, orientation="h"))
        fig.update_layout(title=f"{self.name}: run time by cell (s)", yaxis={"autorange": "reversed"},
                          height=max(250, 22 * len(labels) + 80), **kwargs)
        return fig

    def _extra_dict(self) -> dict[str, Any]:
        return {"name": self.name, "notebook": str(self.notebook), "output_dir": str(self.output_dir),
                "parameters": self.parameters, "status": self.status, "elapsed": self.elapsed,
                "executed": _s(self.executed), "html": _s(self.html),
                "metrics_path": _s(self.metrics_path), "metrics": self.metrics,
                "error": self.error, "error_cell": self.error_cell, "kernel": self.kernel,
                "report_title": self.title_text}


def _s(p: Path | None) -> str | None:
    return None if p is None else str(p)


def _cell_times(nb: dict[str, Any]) -> list[tuple[int, str, float]]:
    out = []
    for i, cell in enumerate(nb.get("cells", []), start=1):
        if cell.get("cell_type") != "code":
            continue
        meta = cell.get("metadata", {}).get("papermill", {})
        first = next((ln for ln in "".join(cell.get("source", "")).splitlines() if ln.strip()), "")
        if meta.get("duration") is not None:
            out.append((i, first, float(meta["duration"])))
    return out


# ---------------------------------------------------------------------------- run
def run_notebook(
    notebook: str | os.PathLike[str],
    parameters: dict[str, Any] | None = None,
    out: str | os.PathLike[str] | None = None,
    *,
    no_code: bool = False,
    name: str | None = None,
    title: str | None = None,
    cwd: str | os.PathLike[str] | None = None,
    kernel: str | None = None,
    progress: bool = False,
    timeout: float | None = None,
    env: dict[str, str] | None = None,
) -> ReportRun:
    """Execute ``notebook`` with papermill and write ``out/<name>.ipynb``, ``.html`` and
    ``metrics.json``.

    Parameters
    ----------
    notebook : path
        The source notebook (must have a cell tagged ``parameters`` to take parameters).
    parameters : dict, optional
        Overrides of the parameters cell; names the notebook does not declare are a
        :class:`~quantlab.errors.ParameterError` before anything runs.
    out : path, optional
        Output folder (default ``reports/<notebook stem>``).
    no_code : bool
        Hide code cells in the HTML export.
    name, title : str, optional
        File stem of the outputs (default: the notebook's stem) and HTML title.
    cwd : path, optional
        Working directory of the kernel (default: the notebook's folder, as in Jupyter).
    kernel : str, optional
        Kernel name (default :func:`kernel_name`).
    progress : bool
        Show papermill's progress bar with the cell being run (on stderr).
    timeout : float, optional
        Per-cell execution timeout in seconds.
    env : dict, optional
        Extra environment variables for the kernel.

    Returns
    -------
    ReportRun
        ``status`` ``"ok"`` or ``"failed"`` (with ``error``: one line naming notebook, cell and
        exception). Problems before execution (missing notebook, unknown parameter, output
        folder equal to the notebook's) raise :class:`~quantlab.errors.QuantlabError`.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    src = Path(notebook)
    if not src.is_file():
        raise UsageError(f"notebook not found: {src}")
    if src.suffix != ".ipynb":
        raise UsageError(f"not a notebook (.ipynb): {src}")
    params = dict(parameters or {})
    _check_parameters(src, params)
    stem = name or src.stem
    out_dir = Path(out) if out is not None else Path("reports") / stem
    executed = out_dir / f"{stem}.ipynb"
    if executed.resolve() == src.resolve():
        raise UsageError(f"the output folder {out_dir} would overwrite the notebook itself")
    html = out_dir / f"{stem}.html"
    metrics_path = out_dir / METRICS_FILE
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create {out_dir}: {exc.strerror or exc}") from None
    write_text_atomic(metrics_path, "{}\n")
    kname = kernel or kernel_name()
    kenv = dict(os.environ)
    kenv.setdefault("PLOTLY_RENDERER", "notebook")
    kenv.update(env or {})
    kenv[METRICS_ENV] = str(metrics_path.resolve())
    workdir = Path(cwd) if cwd is not None else src.resolve().parent

    status, error, error_cell = "ok", None, None
    t0 = time.perf_counter()
    pm_log = logging.getLogger("papermill")
    pm_level = pm_log.level
    pm_log.setLevel(logging.ERROR)   # parameters were checked above; papermill's guesses are noise
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Passed unknown parameter")
            pm.execute_notebook(
                str(src), str(executed), parameters=params, kernel_name=kname,
                engine_name=_engine_name(),
                progress_bar=({"file": sys.stderr} if progress else False),
                kernel_env=kenv, kernel_cwd=str(workdir), execution_timeout=timeout,
                report_mode=no_code,
            )
    except PapermillExecutionError as exc:
        status = "failed"
        error_cell = _source_cell_number(executed, exc.cell_index)
        evalue = (str(exc.evalue).strip().splitlines() or [""])[0]
        error = (f"{src.name}: cell {error_cell} (In [{exc.exec_count}]) raised "
                 f"{exc.ename}: {evalue}")
    except Exception as exc:  # kernel died, timeout, ...
        status = "failed"
        msg = (str(exc).strip().splitlines() or [""])[0]
        error = f"{src.name}: {type(exc).__name__}: {msg}"
    finally:
        pm_log.setLevel(pm_level)
    elapsed = time.perf_counter() - t0
    nb_json: dict[str, Any] = {}
    if executed.is_file():
        try:
            nb_json = json.loads(executed.read_text(encoding="utf-8"))
            export_html(executed, html, no_code=no_code, title=title or stem)
        except Exception as exc:  # a broken export must not hide the run's own status
            if status == "ok":
                status, error = "failed", f"{src.name}: HTML export failed: {exc}"
    return ReportRun(
        name=stem, notebook=src, output_dir=out_dir, parameters=params, status=status,
        elapsed=elapsed, executed=executed if executed.is_file() else None,
        html=html if html.is_file() else None, metrics_path=metrics_path,
        metrics=read_metrics(metrics_path), error=error, error_cell=error_cell, kernel=kname,
        title_text=title or stem, cell_times=_cell_times(nb_json),
    )


def _source_cell_number(executed: Path, cell_index: int) -> int:
    """1-based number of the failing cell in the *source* notebook (papermill's injected
    parameters cell and its error banner do not count)."""
    try:
        cells = json.loads(executed.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return cell_index + 1
    skip = {"injected-parameters", "papermill-error-cell-tag"}
    source = [c for c in cells if not skip & set(c.get("metadata", {}).get("tags", []))]
    for number, cell in enumerate(source, start=1):
        if cell.get("metadata", {}).get("papermill", {}).get("exception"):
            return number
    return cell_index + 1
