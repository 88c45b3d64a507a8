"""``quantlab risk stress``: scenarios, stressed VaR, reverse stress and drawdowns of a portfolio.

A thin shell over :func:`quantlab.risk.report.stress_report`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from quantlab.cli._output import print_json
from quantlab.cli._risk_args import add_common, load_closes, returns_of
from quantlab.errors import ParameterError

__all__ = ["register_stress", "run_stress"]


def run_stress(args: argparse.Namespace) -> int:
    """Handler of ``quantlab risk stress``."""
    from quantlab.risk.report import stress_report

    if args.seed is not None:
        raise ParameterError("--seed has no effect on risk stress (nothing is simulated)")
    close, weights = load_closes(args)   # scenarios replay episodes from the whole history
    names = [s.strip() for s in args.scenarios.split(",")] if args.scenarios else None
    report = stress_report(weights, close, returns_of(close, args), value=args.value,
                           scenarios=names, library=args.library, missing=args.missing,
                           level=args.level, vol_multiplier=args.vol_multiplier,
                           correlation=args.correlation, loss_limit=args.loss_limit,
                           market_asset=args.market, plausibility=args.plausibility)
    if args.html:
        from quantlab.reports import write_report

        path = write_report(args.html, "Stress test", report.report_blocks(),
                            subtitle=report.title())
        print(f"wrote {path}", file=sys.stderr)
    if args.json:
        print_json(report.to_dict())
        return 0
    print(report.title())
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    for heading, res in report.sections():
        print(f"\n{heading}:")
        print(res)
    return 0


def register_stress(rs: Any) -> None:
    """Add ``risk stress`` to the ``risk`` subparsers."""
    s = rs.add_parser("stress", help="scenario replay, stressed VaR, reverse stress, drawdowns")
    add_common(s)
    s.add_argument("--value", type=float, default=None, help="portfolio value for P&L in quote currency")
    s.add_argument("--scenarios", default=None, help="comma-separated scenario names (default all)")
    s.add_argument("--library", default=None, help="TOML file of extra/overriding scenarios")
    s.add_argument("--missing", default="skip",
                   help="asset without data in a scenario window: 'skip' the scenario (default; "
                        "its row says why), 'error', or 'proxy:SYMBOL' to use SYMBOL's return")
    s.add_argument("--vol-multiplier", type=float, default=2.0, help="volatility stress factor (default 2)")
    s.add_argument("--correlation", type=float, default=1.0,
                   help="stressed pairwise correlation (default 1.0)")
    s.add_argument("--loss-limit", type=float, default=0.2, help="reverse stress loss limit (default 0.2)")
    s.add_argument("--market", default="BTC/USDT", help="market asset for beta shocks (default BTC/USDT)")
    s.add_argument("--plausibility", type=float, default=0.99,
                   help="probability mass of the plausibility ellipsoid (default 0.99)")
    s.set_defaults(func=run_stress)
