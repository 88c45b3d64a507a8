"""``quantlab report run|nightly``: notebooks as reports (parse, call the library, print)."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

from quantlab.cli._args import positive_int as _positive

__all__ = ["register"]


def _echo(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _show_warning(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
    _echo(f"quantlab: warning: {message}")


def _run(args: argparse.Namespace) -> int:
    from quantlab.reports.runner import ReportError, parse_parameter, run_notebook

    params: dict[str, Any] = {}
    for item in args.param or []:
        key, value = parse_parameter(item)
        params[key] = value
    nb = Path(args.notebook)
    out = Path(args.out) if args.out else Path("reports") / nb.stem
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    run = run_notebook(nb, params, out, no_code=args.no_code, progress=progress,
                       timeout=args.timeout)
    if not run.ok:
        kept = f"; executed notebook kept at {run.executed}" if run.executed else ""
        raise ReportError(f"{run.error}{kept}")
    print(f"{nb.name}: ok in {run.elapsed:.1f} s on kernel {run.kernel}")
    for key, value in run.summary(formatted=True)["value"].items():
        print(f"  {key} = {value}")
    print(f"wrote {run.executed}\nwrote {run.html}\nwrote {run.metrics_path}")
    return 0


def _nightly(args: argparse.Namespace) -> int:
    from quantlab.reports.nightly import run_nightly

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = _show_warning
        night = run_nightly(args.config, date=args.date, out=args.out, workers=args.workers,
                            keep=args.keep, echo=_echo)
    print(night.title())
    for run in night.runs:
        print(f"  {run.name:<16} {run.status:<7} {run.elapsed:6.1f} s")
    for run in night.failed:
        _echo(f"quantlab: error: {run.error}")
    if night.data.get("status") == "stale":
        _echo(f"quantlab: warning: data are stale — {night.data.get('detail')}")
    print(f"wrote {night.out_dir / 'index.html'}")
    return 1 if night.failed else 0


def _schedule(args: argparse.Namespace) -> int:
    from quantlab.cli.schedule_cmd import install

    args.dry_run = True
    return install(args)


def register(sub: Any) -> None:
    """Add the ``report`` command group (``run``, ``nightly``, ``schedule``)."""
    p = sub.add_parser("report", help="run notebooks as reports (HTML + metrics.json), nightly sets")
    rsub = p.add_subparsers(dest="report_command", metavar="SUBCOMMAND")
    rsub.required = True

    r = rsub.add_parser("run", help="execute one notebook with papermill, export HTML + metrics.json")
    r.add_argument("notebook", help="the .ipynb to run (needs a cell tagged 'parameters' to take -p)")
    r.add_argument("-p", "--param", action="append", metavar="KEY=VALUE",
                   help="set a parameter (int/float/bool/None/string; [..]/{..} as YAML); repeatable")
    r.add_argument("--out", help="output folder (default reports/<notebook name>)")
    r.add_argument("--no-code", action="store_true", help="hide code cells in the HTML")
    r.add_argument("--timeout", type=float, default=None, help="per-cell timeout in seconds")
    g = r.add_mutually_exclusive_group()
    g.add_argument("--progress", dest="progress", action="store_true", default=None,
                   help="show the progress bar (default: when stderr is a terminal)")
    g.add_argument("--no-progress", dest="progress", action="store_false")
    r.set_defaults(func=_run)

    n = rsub.add_parser("nightly", help="run the configured report set into reports/<date>/ + index")
    n.add_argument("--config", help="TOML config (default: the packaged set on the bundled sample)")
    n.add_argument("--date", help="YYYY-MM-DD of the night (default today)")
    n.add_argument("--out", default="reports", help="root folder (default reports/)")
    n.add_argument("--workers", type=_positive, default=2, help="notebooks run in parallel (default 2)")
    n.add_argument("--keep", type=_positive, default=None,
                   help="keep only the newest N dated folders (default: keep all)")
    n.set_defaults(func=_nightly)

    from quantlab.cli.schedule_cmd import add_install_arguments

    s = rsub.add_parser("schedule", help="print what `quantlab schedule install` would write "
                                         "(= schedule install --dry-run)")
    add_install_arguments(s, dry_run=False)
    s.set_defaults(func=_schedule)
