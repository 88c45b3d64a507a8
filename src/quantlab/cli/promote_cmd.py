"""``quantlab promote``: promoted-strategy artifacts (``strategies/NAME/VERSION/``).

``promote`` is a command with subcommands; ``verify`` re-hashes an artifact against its
manifest. More subcommands (e.g. the promotion itself) are added in :func:`register` with
``actions.add_parser(...)``, each setting its own ``func``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from quantlab.cli._output import print_json

__all__ = ["register", "verify_handler"]


def register(sub: Any) -> argparse.ArgumentParser:
    """Add the ``promote`` command (and its subcommands) to a subparsers object.

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
        help="promoted strategies: verify frozen artifacts",
        description="Promoted strategies are frozen under strategies/NAME/VERSION/ (strategy.py, "
        "params.json, extra files and a manifest.json with the sha256 of every file); the live "
        "runner runs exactly those files.",
    )
    p.set_defaults(func=lambda args: _missing_subcommand(p))
    actions = p.add_subparsers(dest="promote_command", metavar="SUBCOMMAND",
                               parser_class=type(p))
    _register_verify(actions)
    return p


def _missing_subcommand(parser: argparse.ArgumentParser) -> int:
    parser.print_usage(sys.stderr)
    print(f"{parser.prog}: error: choose a subcommand (verify)", file=sys.stderr)
    return 2


def _register_verify(actions: Any) -> argparse.ArgumentParser:
    v = actions.add_parser(
        "verify",
        help="re-hash a promoted strategy against its manifest",
        description="Re-hash every file of a promoted strategy version against its "
        "manifest.json. Exit 0 when intact; otherwise exit 1 with one line naming the first "
        "changed, missing or extra file.",
    )
    v.add_argument("spec", metavar="NAME[@VERSION]", help="strategy name, optionally @version "
                   "(default: the latest version)")
    v.add_argument("--root", default="strategies", metavar="DIR",
                   help="folder of promoted strategies (default: strategies)")
    v.add_argument("--json", action="store_true", help="print machine-readable JSON")
    v.set_defaults(func=verify_handler)
    return v


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
