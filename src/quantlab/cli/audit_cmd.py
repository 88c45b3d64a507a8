"""``quantlab audit``: verify and export a live runner's hash-chained audit log.

``audit verify STATE_FILE`` re-walks the chain (exit 1 and the first bad record when it was
edited, cut, extended or reordered); ``audit export STATE_FILE --format jsonl|csv [--out FILE]``
writes every record.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from quantlab.cli._output import print_json

__all__ = ["export_handler", "register", "verify_handler"]


def register(sub: Any) -> argparse.ArgumentParser:
    """Add the ``audit`` command (``verify``, ``export``) to a subparsers object.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        From ``parser.add_subparsers()``.

    Returns
    -------
    argparse.ArgumentParser
        The ``audit`` parser.
    """
    p = sub.add_parser(
        "audit", help="verify or export a live runner's hash-chained audit log",
        description="Every decision, order, fill, risk event, breaker change and operator "
        "action of `quantlab live` is an audit record holding the previous record's hash, in "
        "the runner's state file. verify detects any edit, deletion, insertion or reordering "
        "and names the first bad record (exit 1); export writes the records as JSON lines or "
        "CSV.",
    )
    asub = p.add_subparsers(dest="audit_command", metavar="SUBCOMMAND")
    asub.required = True

    v = asub.add_parser("verify", help="check the audit chain (exit 1 when tampered with)")
    v.add_argument("state_file", metavar="STATE_FILE", help="the runner's SQLite state file")
    v.add_argument("--json", action="store_true", help="print machine-readable JSON")
    v.set_defaults(func=verify_handler)

    e = asub.add_parser("export", help="write the audit records as JSON lines or CSV")
    e.add_argument("state_file", metavar="STATE_FILE", help="the runner's SQLite state file")
    e.add_argument("--format", dest="fmt", choices=("jsonl", "csv"), default="jsonl",
                   help="jsonl (default) or csv")
    e.add_argument("--out", metavar="FILE", help="write to FILE (default: standard output)")
    e.set_defaults(func=export_handler)
    return p


def verify_handler(args: argparse.Namespace) -> int:
    """``audit verify``: print the verification; 0 when intact, 1 when the chain is broken."""
    from quantlab.live.audit import verify_audit

    result = verify_audit(args.state_file)
    if args.json:
        print_json(result.to_dict())
    else:
        print(result.title())
        if len(result.kinds):
            print(result.summary(formatted=True).to_string())
    if result.ok:
        return 0
    print(f"quantlab: error: audit chain of {args.state_file} broken: {result.reason}",
          file=sys.stderr)
    return 1


def export_handler(args: argparse.Namespace) -> int:
    """``audit export``: the records on stdout, or in ``--out`` (written atomically)."""
    from quantlab.live.audit import export_audit

    text = export_audit(args.state_file, fmt=args.fmt, out=args.out)
    if text is not None:
        sys.stdout.write(text)
    else:
        print(f"written: {args.out}", file=sys.stderr)
    return 0
