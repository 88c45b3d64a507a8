"""``quantlab`` command line: a thin shell over the library.

Each command group lives in its own module with a ``register(subparsers)`` function that adds
its parser and sets ``func`` to a handler ``(args) -> int``. User mistakes raise
:class:`~quantlab.errors.QuantlabError`; :func:`main` prints them on one line and exits with
the error's code (2 for usage errors). ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from quantlab.errors import QuantlabError

__all__ = ["build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line and exit 2, like QuantlabError usage errors."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The full ``quantlab`` argument parser."""
    from quantlab import __version__
    from quantlab.cli import (
        alerts_cmd,
        audit_cmd,
        backtest_cmd,
        data_cmd,
        demo_cmd,
        engine_cmd,
        live_cmd,
        promote_cmd,
        rebalance_cmd,
        report_cmd,
        risk_cmd,
        schedule_cmd,
        serve_cmd,
        strategies_cmd,
    )

    parser = _Parser(
        prog="quantlab",
        description="Research, backtest and risk toolkit for crypto markets.",
    )
    parser.add_argument("--version", action="version", version=f"quantlab {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks instead of one-line errors"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for module in (data_cmd, strategies_cmd, promote_cmd, backtest_cmd, risk_cmd, rebalance_cmd,
                   report_cmd, schedule_cmd, live_cmd, serve_cmd, engine_cmd, audit_cmd,
                   alerts_cmd, demo_cmd):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``quantlab`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except QuantlabError as exc:
        if args.debug:
            raise
        print(f"quantlab: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("quantlab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
