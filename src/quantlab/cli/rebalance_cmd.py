"""``quantlab rebalance plan | backtest``: target weights to orders, and rebalancing over history."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import pandas as pd

from quantlab.cli._args import parse_symbols
from quantlab.cli._output import print_json, print_table
from quantlab.errors import ParameterError

__all__ = ["register"]


def _fixed_weights(spec: str, n: int) -> list[float] | None:
    """``--target 0.6,0.4`` -> numbers (one per symbol); None for an optimizer name."""
    from quantlab.portfolio import METHODS

    if spec in METHODS:
        return None
    try:
        values = [float(v) for v in spec.split(",")]
    except ValueError:
        raise ParameterError(
            f"--target {spec!r} must be a method ({', '.join(METHODS)}) or comma-separated weights"
        ) from None
    if len(values) != n:
        raise ParameterError(f"--target has {len(values)} weights for {n} symbols")
    return values


def _check_estimation_options(args: argparse.Namespace, fixed: bool) -> None:
    """--lookback and --cov only shape an optimizer's estimate; refuse them with fixed weights."""
    if fixed:
        for flag, value in (("--lookback", args.lookback), ("--cov", args.cov)):
            if value is not None:
                raise ParameterError(f"{flag} only applies when --target is an optimizer "
                                     f"(--target {args.target} is fixed weights)")
    args.lookback = 90 if args.lookback is None else args.lookback
    args.cov = "ledoit_wolf" if args.cov is None else args.cov


def _load_closes(args: argparse.Namespace, symbols: list[str]) -> pd.DataFrame:
    from quantlab.data import load

    return load(symbols, exchange=args.exchange, timeframe=args.timeframe, data_dir=args.data_dir,
                start=args.start, end=args.end)["close"]


def _markets(args: argparse.Namespace) -> Any:
    """``auto``: rules cached by ``quantlab data markets`` if present, else the bundled fixture."""
    from quantlab.data.markets import markets_path

    if args.markets == "none":
        return None
    if args.markets == "auto":
        cached = markets_path(args.exchange or "binance", args.data_dir)
        return str(cached) if cached.is_file() else "binance"
    return args.markets


def run_plan(args: argparse.Namespace) -> int:
    """Handler of ``quantlab rebalance plan``."""
    from quantlab.portfolio import plan_rebalance, read_holdings, target_weights
    from quantlab.risk import returns_from_prices

    holdings = read_holdings(args.holdings)
    lots = isinstance(holdings, pd.DataFrame)
    if args.lot_method is not None and not lots:
        raise ParameterError(f"--lot-method only applies to a lots holdings file "
                             f"(symbol,quantity,unit_cost,acquired); {args.holdings} lists positions")
    if args.band_mode is not None and args.bands is None:
        raise ParameterError("--band-mode only applies with --bands")
    held = sorted(set(holdings["symbol"]) if lots else set(holdings.index))
    symbols = parse_symbols(args.symbols, required=False) or held
    _check_estimation_options(args, _fixed_weights(args.target, len(symbols)) is not None)
    universe = symbols + [s for s in held if s not in symbols]    # held but not targeted: sold
    closes = _load_closes(args, universe)
    as_of = closes.index[-1]
    prices = closes.ffill().iloc[-1]
    rets = returns_from_prices(closes[symbols])
    values = _fixed_weights(args.target, len(symbols))
    if values is not None:        # fixed weights may sum to < 1: the rest is the cash target
        targets = pd.Series(values, index=symbols)
    elif len(rets) < args.lookback:
        raise ParameterError(f"--lookback {args.lookback} needs {args.lookback} returns; "
                             f"only {len(rets)} before the plan date")
    else:
        targets = target_weights(args.target, rets, lookback=args.lookback, cov=args.cov)
    targets = targets.reindex(universe, fill_value=0.0)
    costs = {"fee_bps": args.fee_bps, "spread_bps": args.spread_bps}
    plan = plan_rebalance(
        holdings, prices, targets, cash=args.cash, markets=_markets(args),
        costs=costs, bands=args.bands, band_mode=args.band_mode or "edge",
        cost_aware=args.cost_aware, lot_method=args.lot_method or "fifo", as_of=as_of,
    )
    head = (f"plan as of {as_of.date()} (last close), target {args.target}"
            + (f" on {args.lookback} days, cov {args.cov}" if "," not in args.target else "")
            + (f", lots {args.lot_method or 'fifo'}" if lots else "")
            + (f", bands {args.bands:g}" if args.bands else "")
            + (", cost-aware" if args.cost_aware else ""))
    sections = plan.sections()
    if args.html:
        from quantlab.reports import write_report

        blocks: list[Any] = [plan.stats(), plan.plot()]
        for title, table in sections.items():
            blocks += [("heading", title.capitalize()), table]
        path = write_report(args.html, "Rebalance plan", blocks, subtitle=head)
        print(f"wrote {path}", file=sys.stderr)
    if args.json:
        out = plan.to_dict()
        out.update({"as_of": as_of, "target_spec": args.target, "targets": targets.to_dict()})
        print_json(out)
        return 0
    print(head)
    for warning in plan.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if "orders" not in sections:
        print("\nno orders: every asset is within its band")
    for title, table in sections.items():
        print(f"\n{title}:")
        print_table(table)
    print()
    print_table(plan.stats())
    return 0


def run_backtest(args: argparse.Namespace) -> int:
    """Handler of ``quantlab rebalance backtest``."""
    from quantlab.portfolio import backtest_rebalancing

    symbols = parse_symbols(args.symbols)
    if len(symbols) < 2:
        raise ParameterError("--symbols needs at least two symbols to rebalance between")
    values = _fixed_weights(args.target, len(symbols)) if "," in args.target else None
    _check_estimation_options(args, values is not None)
    closes = _load_closes(args, symbols)
    first_full = closes.dropna().index[0]
    target: Any = args.target if values is None else dict(zip(symbols, values, strict=True))
    res = backtest_rebalancing(closes.loc[first_full:], args.policy, target=target,
                               lookback=args.lookback, cov=args.cov, bands=args.bands,
                               cost_aware=args.cost_aware, fees_bps=args.fee_bps,
                               spread_bps=args.spread_bps)
    head = (f"{args.policy} rebalancing to {args.target} ({', '.join(symbols)}), "
            f"{res.equity.index[0].date()} → {res.equity.index[-1].date()}")
    if args.html:
        from quantlab.reports import write_report

        path = write_report(args.html, "Rebalancing backtest", [res.stats(), res.plot()],
                            subtitle=head)
        print(f"wrote {path}", file=sys.stderr)
    if args.json:
        print_json(res.to_dict())
    else:
        print(head)
        print_table(res.summary(formatted=True))
    return 0


def _add_data(p: argparse.ArgumentParser) -> None:
    p.add_argument("--exchange", default=None, help="use cached data of this exchange (default: bundled sample)")
    p.add_argument("--timeframe", default="1d", help="bar timeframe (default 1d)")
    p.add_argument("--data-dir", default="data", help="cache folder (default data/)")
    p.add_argument("--from", dest="start", default=None, metavar="DATE", help="first date of the history")
    p.add_argument("--to", dest="end", default=None, metavar="DATE",
                   help="last date of the history (the plan uses its close)")
    p.add_argument("--lookback", type=int, default=None,
                   help="optimizer targets only: returns used to estimate the target (default 90)")
    p.add_argument("--cov", default=None,
                   help="optimizer targets only: covariance sample, ledoit_wolf (default), ewma")
    p.add_argument("--bands", type=float, default=None, help="absolute drift band, e.g. 0.05")
    p.add_argument("--cost-aware", action="store_true", help="trade only where it beats its cost")
    p.add_argument("--fee-bps", type=float, default=10.0, help="fee in bps of notional (default 10)")
    p.add_argument("--spread-bps", type=float, default=2.0, help="bid-ask spread in bps (default 2)")
    p.add_argument("--html", metavar="OUT", help="write an HTML report")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def register(sub: Any) -> None:
    """Add the ``rebalance`` command group."""
    p = sub.add_parser("rebalance", help="rebalance plans (orders, lots) and rebalancing backtests")
    rs = p.add_subparsers(dest="rebalance_command", metavar="SUBCOMMAND")
    rs.required = True
    pl = rs.add_parser("plan", help="orders that take holdings to target weights",
                       description="Turn holdings (positions or tax lots CSV) into an exchange-valid "
                       "order list at the last close, with lots consumed and dust reported.")
    pl.add_argument("--holdings", required=True, help="holdings CSV (see README; examples/holdings.csv)")
    pl.add_argument("--target", default="erc",
                    help="optimizer (equal, inverse_vol, min_variance, max_sharpe, erc, hrp, min_cvar) "
                         "or comma-separated weights in --symbols order (default erc)")
    pl.add_argument("--symbols", default=None,
                    help="target universe, comma-separated (default: the held symbols); "
                         "held symbols outside it are sold")
    pl.add_argument("--cash", type=float, default=0.0, help="cash in quote currency (default 0)")
    pl.add_argument("--lot-method", default=None, choices=["fifo", "lifo", "hifo", "min_tax"],
                    help="lots holdings only: which lots sells consume (default fifo)")
    pl.add_argument("--band-mode", default=None, choices=["edge", "target"],
                    help="with --bands: trade drifted assets back to the band edge (default) "
                         "or to target")
    pl.add_argument("--markets", default="auto",
                    help="exchange rules: auto (default: data/<exchange>/markets.json from "
                         "`quantlab data markets`, else the bundled Binance fixture), binance "
                         "(bundled fixture), a JSON file, or none")
    _add_data(pl)
    pl.set_defaults(func=run_plan)

    bt = rs.add_parser("backtest", help="rebalancing policy over history",
                       description="Rebalance to a target re-estimated on a rolling window (no lookahead) "
                       "under a calendar, threshold or cost-aware policy.")
    bt.add_argument("--symbols", default="BTC/USDT,ETH/USDT,SOL/USDT,BNB/USDT",
                    help="comma-separated (default BTC/USDT,ETH/USDT,SOL/USDT,BNB/USDT)")
    bt.add_argument("--policy", default="monthly",
                    help="monthly (default), weekly, daily, threshold or cost_aware")
    bt.add_argument("--target", default="erc", help="optimizer name or comma-separated fixed weights")
    _add_data(bt)
    bt.set_defaults(func=run_backtest)
