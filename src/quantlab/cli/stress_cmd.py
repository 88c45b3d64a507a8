"""``quantlab risk stress``: scenarios, stressed VaR, reverse stress and drawdowns of a portfolio."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from quantlab.cli._output import print_json, print_table
from quantlab.errors import ParameterError
from quantlab.risk.returns import portfolio_returns

__all__ = ["register_stress", "run_stress"]


def run_stress(args: argparse.Namespace) -> int:
    """Handler of ``quantlab risk stress``."""
    from quantlab.cli.risk_cmd import load_closes, returns_of
    from quantlab.risk.drawdown import drawdown_analysis
    from quantlab.risk.reverse import reverse_beta, reverse_uniform, worst_case_ellipsoid
    from quantlab.risk.stress import stress_test, stressed_var

    if args.seed is not None:
        raise ParameterError("--seed has no effect on risk stress (nothing is simulated)")
    close, weights = load_closes(args)   # scenarios replay episodes from the whole history
    rets = returns_of(close, args)
    names = [s.strip() for s in args.scenarios.split(",")] if args.scenarios else None
    st = stress_test(weights, close, scenarios=names, value=args.value, library=args.library,
                     missing=args.missing)
    svar = stressed_var(rets, weights, level=args.level, vol_multiplier=args.vol_multiplier,
                        correlation=args.correlation, value=args.value)
    rev = [reverse_uniform(weights, args.loss_limit, value=args.value)]
    notes: list[str] = []
    if args.market in rets.columns:
        rev.append(reverse_beta(weights, args.loss_limit, rets, market_asset=args.market,
                                value=args.value))
    else:
        notes.append(f"beta-scaled reverse stress skipped: market asset {args.market} is not in "
                     "the portfolio (choose one with --market)")
    rev.append(worst_case_ellipsoid(weights, rets, probability=args.plausibility, value=args.value))
    dd = drawdown_analysis(portfolio_returns(rets, weights), from_returns=True, top=5)
    head = (f"portfolio {', '.join(f'{s} {w:g}' for s, w in weights.items())}"
            + (f", value {args.value:,.0f}" if args.value else "")
            + f"; history {rets.index[0].date()} → {rets.index[-1].date()}")
    if args.html:
        from quantlab.reports import write_report

        blocks: list[Any] = [("heading", "Scenarios"), st.summary(), st.plot(),
                             ("heading", "Stressed VaR"), svar.summary(),
                             ("heading", "Reverse stress"), *[b for r in rev for b in (f"<p>{_describe(r)}</p>", r.summary())],
                             ("heading", "Drawdowns (constant-weight portfolio)"), dd.stats(), dd.summary(),
                             dd.plot()]
        blocks += [f"<p>note: {n}</p>" for n in notes]
        path = write_report(args.html, "Stress test", blocks, subtitle=head)
        print(f"wrote {path}", file=sys.stderr)
    if args.json:
        print_json({"weights": weights, "value": args.value, "scenarios": st.to_dict(),
                    "stressed_var": svar.to_dict(), "reverse": [r.to_dict() for r in rev],
                    "drawdown": dd.to_dict(), "notes": notes})
        return 0
    print(head)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    print("\nscenarios:")
    print_table(st.summary())
    print(f"\nstressed VaR (vol x{args.vol_multiplier:g}"
          + (f", correlation {args.correlation:g}" if args.correlation is not None else "") + "):")
    print_table(svar.summary())
    print(f"\nreverse stress (loss limit {args.loss_limit:.0%}):")
    for r in rev:
        print(f"- {_describe(r)}")
        print_table(r.summary())
        print()
    print("drawdowns of the constant-weight portfolio:")
    print_table(dd.stats())
    return 0


def _describe(r: Any) -> str:
    if r.method == "uniform":
        return f"uniform: every asset falling {r.shock:.2%} loses {r.loss:.2%}"
    if r.method == "beta":
        return f"beta-scaled: the market asset falling {r.shock:.2%} loses {r.loss:.2%}"
    return (f"worst case in the {r.coverage:.0%} plausibility ellipsoid (k = {r.k:.2f}): "
            f"loses {r.loss:.2%}")


def register_stress(rs: Any, add_common: Callable[[argparse.ArgumentParser], None]) -> None:
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
