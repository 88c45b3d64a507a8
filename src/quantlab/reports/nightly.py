"""The nightly report set: refresh data, run every configured notebook, index the results.

Output under ``out`` (default ``reports/``)::

    reports/index.html                 every date with its status
    reports/<date>/index.html          each report: status, run time, headline figures, link;
                                       data status; trend strip over the previous nights
    reports/<date>/nightly.json        the run as JSON (what the indexes read)
    reports/<date>/<report>/           <report>.ipynb, <report>.html, metrics.json

A night is built in a hidden temporary folder ``reports/.build-<date>-<pid>`` and renamed into
place when complete, so a killed run never leaves a half-written dated folder (the next run
removes its leftovers). A lock file ``reports/.nightly.lock`` holding the PID prevents two runs
at once; a lock whose process is dead is taken over with a :class:`StaleLockWarning`. Folders of
other dates are only ever read (for the trend strip and the root index) — except by ``keep``,
which deletes the oldest dated folders beyond the newest ``keep``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from quantlab._result import Result
from quantlab._util import to_jsonable, write_text_atomic
from quantlab.errors import DataError, ParameterError, QuantlabError
from quantlab.reports.config import NightlyConfig, RefreshSpec, ReportSpec, load_config
from quantlab.reports.index import (
    DATE_RE,
    dated_folders,
    read_trend,
    render_date_index,
    render_root_index,
)
from quantlab.reports.runner import ReportError, ReportRun, run_notebook

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go

__all__ = ["NightlyLock", "NightlyRun", "StaleLockWarning", "run_nightly"]

LOCK_NAME = ".nightly.lock"


class StaleLockWarning(UserWarning):
    """A lock left by a dead process was taken over."""


# ---------------------------------------------------------------------------- lock
def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


class NightlyLock:
    """An exclusive lock file holding ``{"pid", "host", "started"}`` (context manager)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.taken_over: int | None = None
        self._held = False

    def acquire(self) -> NightlyLock:
        payload = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                              "started": pd.Timestamp.now(tz="UTC").isoformat()})
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                info = self._read()
                pid = int(info.get("pid") or 0)
                same_host = info.get("host", socket.gethostname()) == socket.gethostname()
                if not info and self._young():
                    time.sleep(0.2)          # being written by another process right now
                    continue
                if pid == os.getpid() or not same_host or _pid_alive(pid):
                    raise ReportError(
                        f"another nightly run is in progress (pid {pid or '?'}"
                        f"{'' if same_host else ' on ' + str(info.get('host'))}, started "
                        f"{info.get('started', '?')}); lock file {self.path}") from None
                warnings.warn(f"taking over the stale lock {self.path} of dead process {pid}",
                              StaleLockWarning, stacklevel=3)
                self.taken_over = pid
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path)
                continue
            except OSError as exc:
                raise DataError(f"cannot create lock {self.path}: {exc.strerror or exc}") from None
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(payload)
            self._held = True
            return self
        raise ReportError(f"could not take the lock {self.path}")

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _young(self) -> bool:
        try:
            return time.time() - self.path.stat().st_mtime < 5
        except OSError:
            return False

    def release(self) -> None:
        if self._held and int(self._read().get("pid") or 0) == os.getpid():
            with contextlib.suppress(OSError):
                os.unlink(self.path)
        self._held = False

    def __enter__(self) -> NightlyLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


# ---------------------------------------------------------------------------- result
@dataclass(repr=False)
class NightlyRun(Result):
    """One night of reports: every :class:`ReportRun`, the data status and the output folder."""

    date: str
    out_dir: Path
    runs: list[ReportRun] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    elapsed: float = 0.0
    workers: int = 1
    pruned: list[str] = field(default_factory=list)
    title_text: str = "quantlab nightly"

    @property
    def failed(self) -> list[ReportRun]:
        return [r for r in self.runs if not r.ok]

    @property
    def ok(self) -> bool:
        return not self.failed

    def title(self) -> str:
        return (f"Nightly {self.date}: {len(self.runs) - len(self.failed)}/{len(self.runs)} ok, "
                f"data {self.data.get('status', '?')}, {self.elapsed:.1f} s")

    def stats(self) -> pd.Series:
        return pd.Series({"date": self.date, "reports": len(self.runs),
                          "ok": len(self.runs) - len(self.failed), "failed": len(self.failed),
                          "data_status": self.data.get("status"), "elapsed": float(self.elapsed),
                          "workers": self.workers, "pruned": len(self.pruned)}, dtype=object)

    def _summary_table(self) -> pd.DataFrame:
        rows = {r.name: {"status": r.status, "elapsed": float(r.elapsed), "metrics": len(r.metrics),
                         "error": r.error or ""} for r in self.runs}
        table = pd.DataFrame.from_dict(rows, orient="index",
                                       columns=["status", "elapsed", "metrics", "error"])
        return table.rename_axis("report")

    def _figure(self, **kwargs: Any) -> go.Figure:
        import plotly.graph_objects as go

        colors = ["#2ca02c" if r.ok else "#d62728" for r in self.runs]
        fig = go.Figure(go.Bar(x=[r.name for r in self.runs], y=[r.elapsed for r in self.runs],
                               marker_color=colors))
        fig.update_layout(title=f"Nightly {self.date}: run time by report (s)", **kwargs)
        return fig

    def _extra_dict(self) -> dict[str, Any]:
        return {"date": self.date, "out_dir": str(self.out_dir), "data": self.data,
                "elapsed": self.elapsed, "workers": self.workers, "pruned": self.pruned,
                "report_title": self.title_text, "runs": [r.to_dict() for r in self.runs]}


# ---------------------------------------------------------------------------- steps
def _refresh(spec: RefreshSpec | None, echo: Callable[[str], None]) -> dict[str, Any]:
    """Fetch fresh candles; on failure the reports run on the cached data (status ``stale``)."""
    if spec is None:
        return {"status": "cached", "detail": "no refresh configured (bundled sample / local cache)"}
    from quantlab.data import fetch_ohlcv

    echo(f"refreshing {', '.join(spec.symbols)} {spec.timeframe} from {spec.exchange} …")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fetched = fetch_ohlcv(spec.exchange, list(spec.symbols), spec.timeframe,
                                  spec.start(pd.Timestamp.now(tz="UTC")), data_dir=spec.data_dir,
                                  progress=False, max_retries=spec.max_retries)
    except Exception as exc:
        reason = (str(exc).strip().splitlines() or [""])[0]
        echo(f"data refresh failed, the reports run on the cached data: {reason}")
        return {"status": "stale", "detail": f"refresh from {spec.exchange} failed: "
                f"{type(exc).__name__}: {reason}"}
    new = sum(int(getattr(r, "new_bars", 0) or 0) for r in fetched.values())
    return {"status": "fresh", "detail": f"{spec.exchange} {spec.timeframe}: {len(fetched)} "
            f"symbol(s) refreshed, {new:,} new bar(s)"}


def _run_one(spec: ReportSpec, out: str, workdir: str | None, no_code: bool,
             timeout: float | None) -> ReportRun:
    """Run one report; any problem becomes a failed :class:`ReportRun` (never raises)."""
    t0 = time.perf_counter()
    try:
        return run_notebook(spec.notebook, spec.parameters, Path(out) / spec.name, name=spec.name,
                            title=spec.title, cwd=workdir, no_code=no_code, timeout=timeout)
    except Exception as exc:
        msg = str(exc) if isinstance(exc, QuantlabError) else f"{type(exc).__name__}: {exc}"
        return ReportRun(name=spec.name, notebook=Path(spec.notebook),
                         output_dir=Path(out) / spec.name, parameters=dict(spec.parameters),
                         status="failed", elapsed=time.perf_counter() - t0,
                         error=f"{Path(spec.notebook).name}: {msg}", title_text=spec.title)


def _rebase(run: ReportRun, old: Path, new: Path) -> ReportRun:
    def mv(p: Path | None) -> Path | None:
        if p is None:
            return None
        try:
            return new / Path(p).relative_to(old)
        except ValueError:
            return p
    return replace(run, output_dir=mv(run.output_dir), executed=mv(run.executed),
                   html=mv(run.html), metrics_path=mv(run.metrics_path))


def _cleanup_leftovers(out: Path) -> None:
    """Remove temporary folders of earlier, killed runs (we hold the lock, so none is live)."""
    for p in out.iterdir():
        if p.is_dir() and (p.name.startswith(".build-") or p.name.startswith(".old-")):
            shutil.rmtree(p, ignore_errors=True)


def _prune(out: Path, keep: int, current: str) -> list[str]:
    dates = dated_folders(out)
    doomed = [d for d in dates[:max(0, len(dates) - keep)] if d != current]
    for d in doomed:
        trash = out / f".old-{d}-{os.getpid()}"
        os.rename(out / d, trash)
        shutil.rmtree(trash, ignore_errors=True)
    return doomed


def _check_date(date: str | None) -> str:
    if date is None:
        return pd.Timestamp.now().strftime("%Y-%m-%d")
    if not DATE_RE.match(date):
        raise ParameterError(f"--date must be YYYY-MM-DD, got {date!r}")
    try:
        pd.Timestamp(date)
    except ValueError:
        raise ParameterError(f"--date {date!r} is not a valid date") from None
    return date


# ---------------------------------------------------------------------------- run
def run_nightly(
    config: str | os.PathLike[str] | NightlyConfig | None = None,
    *,
    date: str | None = None,
    out: str | os.PathLike[str] = "reports",
    workers: int = 2,
    keep: int | None = None,
    echo: Callable[[str], None] | None = None,
) -> NightlyRun:
    """Run the nightly report set into ``out/<date>/`` (see the module docstring).

    Parameters
    ----------
    config : path or NightlyConfig, optional
        The TOML config (default: the packaged one — research, risk_report and rebalance on
        the bundled sample).
    date : str, optional
        ``YYYY-MM-DD`` of the night (default: today, local time). Re-running a date replaces
        that date's folder as a whole.
    out : path
        Root of the report folders (default ``reports``).
    workers : int
        Notebooks run in parallel (separate processes; default 2).
    keep : int, optional
        Keep only the newest ``keep`` dated folders (tonight's always stays).
    echo : callable, optional
        Receives one progress line per step (the CLI prints them on stderr).

    Returns
    -------
    NightlyRun
        Failed reports do not raise: see ``NightlyRun.failed``.

    Raises
    ------
    ReportError
        Another nightly run holds the lock.
    """
    say = echo or (lambda _msg: None)
    cfg = config if isinstance(config, NightlyConfig) else load_config(config)
    day = _check_date(date)
    if workers < 1:
        raise ParameterError(f"--workers must be >= 1, got {workers}")
    if keep is not None and keep < 1:
        raise ParameterError(f"--keep must be >= 1, got {keep}")
    root = Path(out)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create {root}: {exc.strerror or exc}") from None

    t0 = time.perf_counter()
    with NightlyLock(root / LOCK_NAME):
        _cleanup_leftovers(root)
        build = root / f".build-{day}-{os.getpid()}"
        build.mkdir()
        final = root / day
        data = _refresh(cfg.refresh, say)
        workdir = None if cfg.workdir is None else str(cfg.workdir)
        jobs = [(spec, str(build), workdir, cfg.no_code, cfg.timeout) for spec in cfg.reports]
        say(f"running {len(jobs)} report(s) with {min(workers, len(jobs))} worker(s) …")
        runs: dict[str, ReportRun] = {}
        if workers == 1 or len(jobs) == 1:
            for job in jobs:
                runs[job[0].name] = run = _run_one(*job)
                say(f"  {run.name}: {run.status} in {run.elapsed:.1f} s")
        else:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor, as_completed

            with ProcessPoolExecutor(max_workers=min(workers, len(jobs)),
                                     mp_context=mp.get_context("spawn")) as pool:
                futures = {pool.submit(_run_one, *job): job[0] for job in jobs}
                for fut in as_completed(futures):
                    spec = futures[fut]
                    try:
                        run = fut.result()
                    except Exception as exc:  # a worker died
                        run = ReportRun(name=spec.name, notebook=spec.notebook,
                                        output_dir=build / spec.name, status="failed",
                                        error=f"{spec.notebook.name}: worker failed: {exc}",
                                        title_text=spec.title)
                    runs[spec.name] = run
                    say(f"  {run.name}: {run.status} in {run.elapsed:.1f} s")
        ordered = [_rebase(runs[s.name], build, final) for s in cfg.reports]
        result = NightlyRun(date=day, out_dir=final, runs=ordered, data=data,
                            elapsed=time.perf_counter() - t0, workers=workers,
                            title_text=cfg.title)
        summary = result.to_dict()
        summary["finished"] = pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d %H:%M UTC")
        for run_dict, spec in zip(summary["runs"], cfg.reports, strict=True):
            run_dict["headline"] = None if spec.headline is None else list(spec.headline)
        write_text_atomic(build / "nightly.json", json.dumps(to_jsonable(summary), indent=2))
        trend = read_trend(root, day, summary["runs"], cfg.trend_nights)
        write_text_atomic(build / "index.html", render_date_index(summary, trend))
        # move into place: the dated folder appears complete or not at all
        if final.exists():
            old = root / f".old-{day}-{os.getpid()}"
            os.rename(final, old)
            os.rename(build, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(build, final)
        if keep is not None:
            result.pruned = _prune(root, keep, day)
            for d in result.pruned:
                say(f"pruned {root / d}")
        write_text_atomic(root / "index.html", render_root_index(root, cfg.title))
    return result
