"""``quantlab promote``: gate a notebook's strategy and freeze it; verify frozen versions.

``promote NOTEBOOK --name NAME`` runs :func:`quantlab.promote.promote.promote`;
``promote verify NAME[@VERSION]`` re-hashes ``strategies/NAME/VERSION/`` against its manifest.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from quantlab.cli._output import print_json

__all__ = ["promote_handler", "register", "verify_handler"]


def register(sub: Any) -> argparse.ArgumentParser:
    """Add the ``promote`` command to a subparsers object.

    Two forms: ``promote NOTEBOOK --name NAME ...`` gates and freezes a notebook's strategy;
    ``promote verify NAME[@VERSION]`` re-hashes a frozen version.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        From ``parser.add_subparsers()``.

    Returns
    -------
    argparse.ArgumentParser
        The ``promote`` parser.
    """
    p = sub.add_parser(
        "promote",
        help="gate a research notebook's strategy and freeze it; verify frozen versions",
        usage="%(prog)s NOTEBOOK --name NAME [-p KEY=VALUE ...] [--gates FILE] [--root DIR] [--json]\n"
              "       %(prog)s verify NAME[@VERSION] [--root DIR] [--json]",
        description="promote NOTEBOOK executes the notebook (papermill), loads the strategy and data "
        "it declares, and runs six gates (walk-forward out of sample, lookahead, warm-up, risk, "
        "reproducibility, overfitting); when all pass it writes strategies/NAME/VERSION/ "
        "(strategy.py, params.json, the executed notebook, its HTML report and a manifest.json "
        "with the sha256 of every file and every gate's figures). On a failed gate it prints the "
        "gate table, writes nothing and exits 1. promote verify re-hashes a version against its "
        "manifest.",
    )
    p.add_argument("target", metavar="NOTEBOOK|verify", help="the research notebook, or 'verify'")
    p.add_argument("spec", nargs="?", metavar="NAME[@VERSION]",
                   help="with verify: strategy name, optionally @version (default: the latest)")
    p.add_argument("--name", help="name of the promoted strategy (letters, digits, _ and -)")
    p.add_argument("-p", "--param", action="append", metavar="KEY=VALUE",
                   help="override a notebook parameter (as for `report run`); repeatable")
    p.add_argument("--gates", metavar="FILE", help="TOML file of gate thresholds (see README)")
    p.add_argument("--root", default="strategies", metavar="DIR",
                   help="folder of promoted strategies (default: strategies)")
    p.add_argument("--data-dir", default="data", help="cache folder (default data/)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(func=_dispatch)
    return p


def _dispatch(args: argparse.Namespace) -> int:
    from quantlab.errors import UsageError

    if args.target == "verify":
        if args.spec is None:
            raise UsageError("promote verify needs NAME[@VERSION]")
        for flag, value in (("--name", args.name), ("--param", args.param), ("--gates", args.gates)):
            if value:
                raise UsageError(f"{flag} only applies to promote NOTEBOOK, not to verify")
        return verify_handler(args)
    if args.spec is not None:
        raise UsageError(f"unexpected argument {args.spec!r} (promote NOTEBOOK --name NAME)")
    if not args.name:
        raise UsageError("promote NOTEBOOK needs --name NAME")
    return promote_handler(args)


def promote_handler(args: argparse.Namespace) -> int:
    """``promote NOTEBOOK``: 0 when every gate passed and the version was written, else 1."""
    from quantlab.promote.promote import promote
    from quantlab.reports.runner import parse_parameter

    params = dict(parse_parameter(item) for item in args.param or [])

    def say(message: str) -> None:
        if not args.json:
            print(f"... {message}", file=sys.stderr, flush=True)

    report = promote(args.target, args.name, parameters=params or None, gates=args.gates,
                     root=args.root, data_dir=args.data_dir, progress=say)
    if args.json:
        print_json(report.to_dict())
    else:
        print(report.title())
        print(report.summary(formatted=True).to_string())
        if report.artifact:
            print(f"written: {report.artifact}")
    return 0 if report.passed else 1


def verify_handler(args: argparse.Namespace) -> int:
    """``promote verify``: returns 0 when the artifact is intact."""
    from quantlab.errors import ArtifactError
    from quantlab.promote.artifact import verify

    result = verify(args.spec, root=args.root)
    if args.json:
        print_json(result.to_dict())
        if not result.passed:
            print(f"quantlab: error: {result.error}", file=sys.stderr)
            return ArtifactError.exit_code
        return 0
    if not result.passed:
        raise ArtifactError(str(result.error))
    print(result.title())
    return 0
