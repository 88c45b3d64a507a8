"""``quantlab serve``: run the promoted strategies, the data engine and the nightly reports
under one supervisor with a REST API."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(sub: Any) -> argparse.ArgumentParser:
    """Add the ``serve`` command to a subparsers object.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        From ``parser.add_subparsers()``.

    Returns
    -------
    argparse.ArgumentParser
        The ``serve`` parser.
    """
    p = sub.add_parser(
        "serve",
        help="supervise live runners, the data engine and nightly reports; REST API on :4000",
        usage="%(prog)s [--config serve.toml] [--json]",
        description="Starts one `quantlab live` runner per [[runner]] of the configuration "
        "(paper or live), the data engine and the nightly reports when enabled, as child "
        "processes; checks each one's health, restarts what fails with exponential backoff "
        "and marks a component critical after max_restarts within restart_window_s. REST API "
        "on 127.0.0.1:4000 (/api/status, /api/health, /api/metrics, /api/components, "
        "POST .../restart, /api/system/restart, /api/system/shutdown; write endpoints need "
        "the bearer token from QUANTLAB_API_TOKEN). Logs in <state_dir>/logs/, audit in "
        "<state_dir>/serve.sqlite. Runs until SIGTERM/SIGINT, which stop the children in "
        "reverse start order. Environment overrides: MODE, MAX_DRAWDOWN, RISK_PER_TRADE, "
        "QUANTLAB_SERVE_PORT, ENABLE_<COMPONENT> (see serve.example.toml).",
    )
    p.add_argument("--config", metavar="FILE",
                   help="serve configuration (default: serve.toml when it exists, else the "
                        "defaults and the environment)")
    p.add_argument("--json", action="store_true",
                   help="print each event (API up, component start/exit/restart/critical, "
                        "shutdown) as one JSON object per line")
    p.set_defaults(func=_handler)
    return p


def _line(event: dict[str, Any]) -> str:
    kind = event["event"]
    name = event.get("component", "")
    if kind == "api":
        return f"serve API on {event['url']}"
    if kind == "component_start":
        return f"{name}: started (pid {event['pid']})"
    if kind == "component_exit":
        return f"{name}: exited with code {event['exit_code']} ({event['reason']})"
    if kind == "component_restart":
        return f"{name}: restarting in {event['delay_s']:g} s ({event['reason']})"
    if kind == "component_critical":
        return f"{name}: CRITICAL, not restarted ({event['reason']})"
    if kind == "shutdown":
        return f"stopped ({event['reason']})"
    return json.dumps(event)


def _handler(args: argparse.Namespace) -> int:
    from quantlab.serve.supervisor import run_serve

    config = args.config
    if config is None and Path("serve.toml").is_file():
        config = "serve.toml"

    def show(event: dict[str, Any]) -> None:
        print(json.dumps(event, default=str) if args.json else _line(event), flush=True)

    if not args.json:
        print(f"quantlab serve: configuration {config or 'defaults'}", file=sys.stderr,
              flush=True)
    return run_serve(config, on_event=show)
