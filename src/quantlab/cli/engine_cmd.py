"""``quantlab data-engine``: serve validated closed bars of one exchange group to the runners."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["register"]


def register(sub: Any) -> argparse.ArgumentParser:
    """Add the ``data-engine`` command to a subparsers object.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        From ``parser.add_subparsers()``.

    Returns
    -------
    argparse.ArgumentParser
        The ``data-engine`` parser.
    """
    p = sub.add_parser(
        "data-engine",
        help="real-time closed bars for the runners (websocket, REST, second exchange)",
        usage="%(prog)s --config FILE",
        description="Takes the closed bars of one exchange group (the symbols and timeframe of "
        "[engine]) from its sources in priority order ([[source]]: e.g. binance then okx), "
        "woken at each bar close by the kline websocket, validates them (the quality checks "
        "of quantlab.data) and writes them to a SQLite bar store (default "
        "state/bars-GROUP.sqlite) that runners read with [runner] feed = \"engine:PATH\". On "
        "a websocket error or stall it polls REST; on REST failure or late bars it fails over "
        "to the next source, and returns once the better one has been healthy for recover_s; "
        "every switch and every refused candle is audited in the store. Metrics and health on "
        "127.0.0.1 ([engine] port). Runs until SIGTERM or SIGINT (exit 0).",
    )
    p.add_argument("--config", required=True, metavar="FILE",
                   help="TOML configuration (see engine.example.toml)")
    p.set_defaults(func=_handler)
    return p


def _handler(args: argparse.Namespace) -> int:
    from quantlab.serve.engine import run_engine

    def say(msg: str) -> None:
        print(f"... {msg}", file=sys.stderr, flush=True)

    def ready(url: str) -> None:
        print(f"data engine metrics on {url}", file=sys.stderr, flush=True)

    run_engine(args.config, on_ready=ready, say=say)
    return 0
