"""``quantlab alerts``: the Alertmanager webhook sink (``serve``) and its record (``list``).

``alerts serve`` receives Alertmanager's notifications on ``POST /webhook``, records every alert
in SQLite, lists them at ``GET /alerts`` and forwards each notification to ``--forward-url``
and/or by email (``--smtp``). ``alerts list`` prints what a sink recorded.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from quantlab.cli._output import print_json

__all__ = ["list_handler", "register", "serve_handler"]

SMTP_USER_ENV = "QUANTLAB_SMTP_USER"
SMTP_PASSWORD_ENV = "QUANTLAB_SMTP_PASSWORD"


def register(sub: Any) -> argparse.ArgumentParser:
    """Add the ``alerts`` command (``serve``, ``list``) to a subparsers object.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        From ``parser.add_subparsers()``.

    Returns
    -------
    argparse.ArgumentParser
        The ``alerts`` parser.
    """
    p = sub.add_parser(
        "alerts", help="Alertmanager webhook sink: record alerts, forward them to a URL or email",
        description="serve runs the webhook receiver Alertmanager sends to "
        "(deploy/alertmanager/alertmanager.yml): every alert is recorded in SQLite "
        "(idempotent), listed at GET /alerts, and each notification is forwarded to "
        "--forward-url (POST JSON) and/or by email through --smtp, retried with backoff. "
        "list prints the recorded alerts.",
    )
    asub = p.add_subparsers(dest="alerts_command", metavar="SUBCOMMAND")
    asub.required = True

    s = asub.add_parser(
        "serve", help="run the webhook sink until SIGTERM/SIGINT",
        usage="%(prog)s [--host 127.0.0.1] [--port 9095] [--store alerts.sqlite] "
              "[--forward-url URL] [--smtp HOST:PORT --smtp-from ADDR --smtp-to ADDR]",
        description="Binds 127.0.0.1 by default; a non-loopback --host needs a token in "
        "QUANTLAB_ALERTS_TOKEN, which POST /webhook then requires as 'Authorization: Bearer'. "
        "SMTP login, when needed, from QUANTLAB_SMTP_USER and QUANTLAB_SMTP_PASSWORD.",
    )
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=9095, help="port (default 9095; 0: any free)")
    s.add_argument("--store", default="alerts.sqlite", metavar="FILE",
                   help="SQLite file of recorded alerts (default alerts.sqlite)")
    s.add_argument("--forward-url", metavar="URL", help="POST each notification (JSON) there")
    s.add_argument("--smtp", metavar="HOST:PORT", help="email each notification via this server")
    s.add_argument("--smtp-from", metavar="ADDR", help="sender address of the emails")
    s.add_argument("--smtp-to", metavar="ADDR", action="append", default=[],
                   help="recipient (repeat, or comma-separate, for several)")
    s.add_argument("--retries", type=int, default=4,
                   help="retries of a failed forward (default 4)")
    s.add_argument("--backoff", type=float, default=0.5, metavar="SECONDS",
                   help="first retry delay, doubled each retry (default 0.5)")
    s.set_defaults(func=serve_handler)

    ls = asub.add_parser("list", help="print the alerts a sink recorded, newest first")
    ls.add_argument("--store", default="alerts.sqlite", metavar="FILE",
                    help="SQLite file of recorded alerts (default alerts.sqlite)")
    ls.add_argument("--status", choices=("firing", "resolved"), help="only this state")
    ls.add_argument("--alertname", metavar="NAME", help="only this alert")
    ls.add_argument("--limit", type=int, default=20, help="at most N alerts (default 20)")
    ls.add_argument("--json", action="store_true", help="print machine-readable JSON")
    ls.set_defaults(func=list_handler)
    return p


def serve_handler(args: argparse.Namespace) -> int:
    """``alerts serve``: run the sink; prints its URL on stderr once it listens."""
    import logging

    from quantlab.serve.alerts import TOKEN_ENV, build_forwarders, serve_alerts

    forwarders = build_forwarders(
        args.forward_url, args.smtp, args.smtp_from, args.smtp_to,
        smtp_username=os.environ.get(SMTP_USER_ENV) or None,
        smtp_password=os.environ.get(SMTP_PASSWORD_ENV) or None)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def ready(url: str) -> None:
        targets = ", ".join(f.target for f in forwarders) or "none"
        print(f"... alert sink on {url} (store {args.store}, forwarding to {targets})",
              file=sys.stderr, flush=True)

    serve_alerts(args.store, host=args.host, port=args.port,
                 token=os.environ.get(TOKEN_ENV) or None, forwarders=forwarders,
                 retries=args.retries, backoff_s=args.backoff, on_ready=ready)
    return 0


def list_handler(args: argparse.Namespace) -> int:
    """``alerts list``: one line per recorded alert (or JSON)."""
    from pathlib import Path

    from quantlab.errors import DataError
    from quantlab.serve.alert_store import AlertStore

    if not Path(args.store).is_file():
        raise DataError(f"alert store {args.store} does not exist (run quantlab alerts serve)")
    with AlertStore(args.store) as store:
        alerts = store.alerts(status=args.status, alertname=args.alertname, limit=args.limit)
    if args.json:
        print_json(alerts)
        return 0
    if not alerts:
        print(f"{args.store}: no alerts recorded")
        return 0
    for a in alerts:
        where = ", ".join(f"{k}={v}" for k, v in sorted(a["labels"].items())
                          if k not in ("alertname", "severity"))
        summary = a["annotations"].get("summary", "")
        print(f"{a['startsAt']}  {a['status']:<8} {a['severity'] or '-':<8} {a['alertname']}"
              f"  {where}" + (f"  -- {summary}" if summary else ""))
    return 0
