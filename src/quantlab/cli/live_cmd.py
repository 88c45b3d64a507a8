"""``quantlab live``: run a promoted strategy in replay, on paper or on an exchange."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from quantlab.cli._output import print_json

__all__ = ["register"]


def register(sub: Any) -> argparse.ArgumentParser:
    """Add the ``live`` command to a subparsers object.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        From ``parser.add_subparsers()``.

    Returns
    -------
    argparse.ArgumentParser
        The ``live`` parser.
    """
    p = sub.add_parser(
        "live",
        help="run a promoted strategy: replay history, paper-trade or trade live through ccxt",
        usage="%(prog)s NAME [--version V] --mode replay|paper|live [--exchange ID] "
              "[--config FILE] [--state FILE] [--start DATE] [--end DATE] [--json]",
        description="Runs strategies/NAME/VERSION (verified before it runs) one closed bar at a "
        "time: the strategy's own signals() on a rolling window, orders through the risk guard "
        "and the circuit breaker, state in SQLite (state/NAME-MODE.sqlite) with a hash-chained "
        "audit log. replay feeds the artifact's history through the paper broker as fast as "
        "possible (same trades as quantlab backtest); paper trades the exchange's live bars "
        "on paper; live places real orders (credentials from QUANTLAB_API_KEY / "
        "QUANTLAB_API_SECRET or the variables named in the config). SIGTERM/SIGINT stop it "
        "cleanly, SIGUSR1 or a NAME-MODE.halt file beside the state file halts it.",
    )
    p.add_argument("name", metavar="NAME", help="promoted strategy name (NAME@VERSION accepted)")
    p.add_argument("--version", dest="strategy_version", metavar="V",
                   help="version to run (default: the latest)")
    p.add_argument("--mode", required=True, metavar="MODE",
                   help="replay | paper | live (aliases: backtest = replay, simulation = paper)")
    p.add_argument("--exchange", metavar="ID", help="ccxt exchange id (default from config: binance)")
    p.add_argument("--config", metavar="FILE", help="TOML configuration (see live.example.toml)")
    p.add_argument("--state", metavar="FILE", help="state file (default state/NAME-MODE.sqlite)")
    p.add_argument("--root", default="strategies", metavar="DIR",
                   help="folder of promoted strategies (default: strategies)")
    p.add_argument("--data-dir", default="data", help="cache folder for replay (default data/)")
    p.add_argument("--start", help="replay: first bar to trade (earlier bars fill the window)")
    p.add_argument("--end", help="replay: last bar")
    p.add_argument("--risk", action="store_true",
                   help="replay: apply the risk guard and circuit breaker (off by default so "
                        "that a replay reproduces the backtest)")
    p.add_argument("--resume", action="store_true",
                   help="replay: continue the existing replay state instead of starting afresh")
    p.add_argument("--max-bars", type=int, metavar="N", help="stop after acting on N bars (live: bars caught up after a pause "
                        "only move the model and do not count)")
    p.add_argument("--json", action="store_true", help="print the run summary as JSON")
    p.set_defaults(func=_handler)
    return p


def _handler(args: argparse.Namespace) -> int:
    from quantlab.live.session import run_live
    from quantlab.promote.artifact.layout import parse_spec

    name, version = parse_spec(args.name, args.strategy_version)

    def say(msg: str) -> None:
        print(f"... {msg}", file=sys.stderr, flush=True)

    def ready(url: str) -> None:
        say(f"control API on {url}")

    run = run_live(name, version, mode=args.mode, config=args.config, exchange=args.exchange,
                   state=args.state, root=args.root, data_dir=args.data_dir, start=args.start,
                   end=args.end, risk_in_replay=args.risk, resume=args.resume,
                   max_bars=args.max_bars, on_ready=ready, say=say)
    if args.json:
        print_json(run.to_dict())
    else:
        print(run)
        print(run.stats().to_string())
    return 0
