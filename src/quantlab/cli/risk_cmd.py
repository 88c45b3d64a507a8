"""``quantlab risk var | backtest | stress``: the risk toolkit on bundled or cached data.

A thin shell: parse options, load prices, call :mod:`quantlab.risk`, print its result objects
(``summary(formatted=True)`` as text, ``to_dict()`` for ``--json``).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from quantlab.cli._output import print_json
from quantlab.cli._risk_args import add_common, load_returns, seed_for, warnings_as_notes
from quantlab.cli.stress_cmd import register_stress
from quantlab.errors import ParameterError

__all__ = ["register"]


def _print(text: str, table: Any) -> None:
    print(text)
    print(table.to_string())


def run_var(args: argparse.Namespace) -> int:
    """Handler of ``quantlab risk var``."""
    from quantlab.risk.decomposition import var_decomposition
    from quantlab.risk.var import METHODS, value_at_risk

    methods = list(METHODS) if args.method == "all" else [m.strip() for m in args.method.split(",")]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ParameterError(f"unknown method {unknown[0]!r} (methods: all, {', '.join(METHODS)})")
    seed = seed_for(args, methods)
    rets, weights = load_returns(args)
    with warnings_as_notes():
        comp = value_at_risk(rets, level=args.level, method=methods, horizon=args.horizon,
                             weights=weights, seed=seed)
    decomp = var_decomposition(rets, weights, level=args.level) if rets.shape[1] > 1 else None
    if args.html:
        from quantlab.charts.risk import correlation_figure
        from quantlab.reports import write_report

        blocks: list[Any] = [comp.summary(formatted=True), comp.plot()]
        if decomp is not None:
            blocks += [("heading", decomp.title()), decomp.summary(formatted=True),
                       decomp.plot(), correlation_figure(rets)]
        path = write_report(args.html, "Value at Risk", blocks, subtitle=comp.title())
        print(f"wrote {path}", file=sys.stderr)
    if args.json:
        out = comp.to_dict()
        out["decomposition"] = None if decomp is None else decomp.to_dict()
        print_json(out)
        return 0
    _print(comp.title(), comp.summary(formatted=True))
    if decomp is not None:
        _print(f"\n{decomp.title()}", decomp.summary(formatted=True))
    return 0


def run_backtest(args: argparse.Namespace) -> int:
    """Handler of ``quantlab risk backtest``."""
    from quantlab.risk.rolling import rolling_var

    seed = seed_for(args, [args.method])
    rets, weights = load_returns(args)
    with warnings_as_notes():
        fc = rolling_var(rets, method=args.method, window=args.window, level=args.level,
                         refit_every=args.refit_every, weights=weights, seed=seed)
    bt = fc.backtest(test_level=args.test_level)
    if args.html:
        from quantlab.reports import write_report

        path = write_report(args.html, "VaR backtest", [bt.summary(formatted=True), bt.plot()],
                            subtitle=fc.title())
        print(f"wrote {path}", file=sys.stderr)
    if args.json:
        out, settings = bt.to_dict(), fc.to_dict()
        out.update({k: settings[k] for k in ("method", "window", "refit_every")}, weights=weights)
        print_json(out)
        return 0
    print(fc.title())
    _print(bt.title(), bt.summary(formatted=True)[["statistic", "p_value", "critical_value",
                                                   "result"]])
    return 0


def register(sub: Any) -> None:
    """Add the ``risk`` command group."""
    p = sub.add_parser("risk", help="VaR/ES, VaR backtests and stress tests",
                       description="Risk toolkit on the bundled sample (default) or cached data.")
    rs = p.add_subparsers(dest="risk_command", metavar="SUBCOMMAND")
    rs.required = True

    v = rs.add_parser("var", help="VaR and ES by one or all methods, with decomposition")
    add_common(v)
    v.add_argument("--method", default="all", help="method name, comma list, or 'all' (default)")
    v.add_argument("--horizon", type=int, default=1, help="horizon in days (default 1)")
    v.set_defaults(func=run_var)

    b = rs.add_parser("backtest", help="rolling one-step VaR forecasts and the VaR backtest suite")
    add_common(b)
    b.add_argument("--method", default="historical", help="VaR method (default historical)")
    b.add_argument("--window", type=int, default=250, help="estimation window in days (default 250)")
    b.add_argument("--refit-every", type=int, default=1, help="refit model parameters every N days")
    b.add_argument("--test-level", type=float, default=0.95, help="confidence of the tests (default 0.95)")
    b.set_defaults(func=run_backtest)

    register_stress(rs)
