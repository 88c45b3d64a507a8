"""``quantlab risk var | backtest | stress``: the risk toolkit on bundled or cached data."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

import pandas as pd

from quantlab.cli._args import parse_symbols
from quantlab.cli._output import print_json, print_table
from quantlab.errors import ParameterError
from quantlab.risk.returns import portfolio_returns

__all__ = ["load_returns", "register"]


def _weights(text: str | None, symbols: list[str]) -> dict[str, float]:
    if text is None:
        return {s: 1.0 / len(symbols) for s in symbols}
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ParameterError(f"--weights {text!r} must be comma-separated numbers") from None
    if not all(math.isfinite(v) for v in values):
        raise ParameterError(f"--weights {text!r} must be finite numbers")
    if len(values) != len(symbols):
        raise ParameterError(f"--weights has {len(values)} values for {len(symbols)} symbols")
    if abs(sum(values) - 1.0) > 1e-6:
        raise ParameterError(f"--weights sum to {sum(values):.6g}; they must sum to 1")
    return dict(zip(symbols, values, strict=True))


#: VaR methods that draw random numbers (the only ones --seed affects).
SIMULATION_METHODS = ("monte_carlo", "fhs")


def seed_for(args: argparse.Namespace, methods: list[str]) -> int:
    """``--seed`` (default 42); refused when no chosen method simulates (it would be ignored)."""
    if args.seed is None:
        return 42
    if not any(m in SIMULATION_METHODS for m in methods):
        raise ParameterError(f"--seed only applies to the simulation methods "
                             f"{' and '.join(SIMULATION_METHODS)} (--method is {', '.join(methods)})")
    return int(args.seed)


def load_closes(args: argparse.Namespace) -> tuple[pd.DataFrame, dict[str, float]]:
    """Close prices of the requested symbols over their whole history, and the weights."""
    from quantlab.data import load

    symbols = parse_symbols(args.symbols)
    weights = _weights(args.weights, symbols)
    close = load(symbols, exchange=args.exchange, timeframe=args.timeframe,
                 data_dir=args.data_dir)["close"]
    return close, weights


def returns_of(close: pd.DataFrame, args: argparse.Namespace) -> pd.DataFrame:
    """Daily simple returns within ``--from``/``--to`` on the days every asset trades."""
    from quantlab.data.frame import slice_range
    from quantlab.risk import returns_from_prices

    rets = returns_from_prices(slice_range(close, args.start, args.end, what="prices"))
    if len(rets) < 2:
        raise ParameterError("fewer than 2 days where every symbol has a price")
    return rets


def load_returns(args: argparse.Namespace) -> tuple[pd.DataFrame, dict[str, float]]:
    """Returns (see :func:`returns_of`) and weights of the requested portfolio."""
    close, weights = load_closes(args)
    return returns_of(close, args), weights


def _add_common(p: argparse.ArgumentParser, default_symbols: str = "BTC/USDT,ETH/USDT") -> None:
    p.add_argument("--symbols", default=default_symbols, help=f"comma-separated (default {default_symbols})")
    p.add_argument("--weights", default=None, help="comma-separated weights summing to 1 (default equal)")
    p.add_argument("--level", type=float, default=0.99, help="VaR confidence level (default 0.99)")
    p.add_argument("--exchange", default=None, help="use cached data of this exchange (default: bundled sample)")
    p.add_argument("--timeframe", default="1d", help="bar timeframe (default 1d)")
    p.add_argument("--data-dir", default="data", help="cache folder (default data/)")
    p.add_argument("--from", dest="start", default=None, metavar="DATE", help="first date of the history")
    p.add_argument("--to", dest="end", default=None, metavar="DATE", help="last date of the history")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the simulation methods monte_carlo and fhs (default 42)")
    p.add_argument("--html", metavar="OUT", help="write an HTML report with the risk charts")
    p.add_argument("--json", action="store_true", help="print one JSON object")


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
    results = [value_at_risk(rets, level=args.level, method=m, horizon=args.horizon,
                             weights=weights, seed=seed) for m in methods]
    table = pd.DataFrame({
        "var": [r.var for r in results], "es": [r.es for r in results],
        "scaling": [r.scaling for r in results],
    }, index=pd.Index(methods, name="method"))
    decomp = var_decomposition(rets, weights, level=args.level) if rets.shape[1] > 1 else None
    head = (f"{args.level:.2%} VaR/ES, {args.horizon}-day horizon, {', '.join(f'{s} {w:g}' for s, w in weights.items())}; "
            f"{len(rets):,} daily returns {rets.index[0].date()} → {rets.index[-1].date()}")
    if args.html:
        from quantlab.charts.risk import correlation_figure
        from quantlab.reports import write_report

        blocks: list[Any] = [table, results[0].plot() if len(results) == 1 else _hist(rets, weights, results)]
        if decomp is not None:
            blocks += [("heading", "Decomposition (parametric normal)"), decomp.summary(), decomp.plot(),
                       correlation_figure(rets)]
        path = write_report(args.html, "Value at Risk", blocks, subtitle=head)
        print(f"wrote {path}", file=sys.stderr)
    if args.json:
        print_json({
            "level": args.level, "horizon": args.horizon, "weights": weights,
            "start": rets.index[0], "end": rets.index[-1], "n_obs": len(rets),
            "methods": {r.method: r.to_dict() for r in results},
            "decomposition": None if decomp is None else decomp.to_dict(),
        })
    else:
        print(head)
        print_table(table)
        if decomp is not None:
            print("\ndecomposition (parametric normal):")
            print_table(decomp.summary())
    return 0


def _hist(rets: pd.DataFrame, weights: dict[str, float], results: list[Any]) -> Any:
    from quantlab.charts.risk import var_histogram_figure

    return var_histogram_figure(portfolio_returns(rets, weights), results)


def run_backtest(args: argparse.Namespace) -> int:
    """Handler of ``quantlab risk backtest``."""
    from quantlab.risk.backtesting import var_backtest_from_forecasts
    from quantlab.risk.rolling import rolling_var

    seed = seed_for(args, [args.method])
    rets, weights = load_returns(args)
    fc = rolling_var(rets, method=args.method, window=args.window, level=args.level,
                     refit_every=args.refit_every, weights=weights, seed=seed)
    realized = portfolio_returns(rets, weights).reindex(fc.index)
    bt = var_backtest_from_forecasts(realized, fc["var"], level=args.level, test_level=args.test_level)
    head = (f"{args.method} {args.level:.2%} one-step VaR, window {args.window}, "
            f"{len(fc):,} forecasts {fc.index[0].date()} → {fc.index[-1].date()}: "
            f"{bt.n_failures} breaches (expected {bt.expected_failures:.1f}), {bt.traffic_light} zone")
    if args.html:
        from quantlab.reports import write_report

        path = write_report(args.html, "VaR backtest", [bt.summary(), bt.plot()], subtitle=head)
        print(f"wrote {path}", file=sys.stderr)
    if args.json:
        out = bt.to_dict()
        out.update({"method": args.method, "window": args.window, "weights": weights,
                    "refit_every": args.refit_every})
        print_json(out)
    else:
        print(head)
        cols = ["statistic", "p_value", "critical_value", "result"]
        print_table(bt.summary()[cols])
    return 0


def register(sub: Any) -> None:
    """Add the ``risk`` command group."""
    p = sub.add_parser("risk", help="VaR/ES, VaR backtests and stress tests",
                       description="Risk toolkit on the bundled sample (default) or cached data.")
    rs = p.add_subparsers(dest="risk_command", metavar="SUBCOMMAND")
    rs.required = True

    v = rs.add_parser("var", help="VaR and ES by one or all methods, with decomposition")
    _add_common(v)
    v.add_argument("--method", default="all", help="method name, comma list, or 'all' (default)")
    v.add_argument("--horizon", type=int, default=1, help="horizon in days (default 1)")
    v.set_defaults(func=run_var)

    b = rs.add_parser("backtest", help="rolling one-step VaR forecasts and the VaR backtest suite")
    _add_common(b)
    b.add_argument("--method", default="historical", help="VaR method (default historical)")
    b.add_argument("--window", type=int, default=250, help="estimation window in days (default 250)")
    b.add_argument("--refit-every", type=int, default=1, help="refit model parameters every N days")
    b.add_argument("--test-level", type=float, default=0.95, help="confidence of the tests (default 0.95)")
    b.set_defaults(func=run_backtest)

    from quantlab.cli.stress_cmd import register_stress

    register_stress(rs, _add_common)
