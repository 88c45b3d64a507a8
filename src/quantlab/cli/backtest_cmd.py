"""``quantlab backtest`` and ``quantlab sweep``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from quantlab._validate import check_range
from quantlab.cli._args import parse_symbols, positive_int
from quantlab.cli._output import print_json, print_table
from quantlab.errors import ParameterError

__all__ = ["load_bars", "parse_grid", "parse_params", "register"]


def parse_params(items: list[str] | None) -> dict[str, str]:
    """``["fast=10", "slow=50"]`` -> ``{"fast": "10", "slow": "50"}`` (the strategy converts types)."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ParameterError(f"--param {item!r} must look like NAME=VALUE")
        out[key.strip()] = value.strip()
    return out


def _number(text: str, where: str) -> int | float:
    try:
        value = float(text)
    except ValueError:
        raise ParameterError(f"{where}: {text!r} is not a number") from None
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


def parse_grid(items: list[str] | None) -> dict[str, list[Any]]:
    """Parse ``--grid`` values.

    ``fast=2:100`` is the inclusive range 2..100, ``fast=2:100:2`` steps by 2, and
    ``fast=5,10,20`` is a list. Non-numeric list items are kept as strings.
    """
    grid: dict[str, list[Any]] = {}
    for item in items or []:
        key, sep, spec = item.partition("=")
        key, spec = key.strip(), spec.strip()
        if not sep or not key or not spec:
            raise ParameterError(f"--grid {item!r} must look like NAME=START:STOP[:STEP] or NAME=A,B,C")
        where = f"--grid {key}"
        if ":" in spec:
            parts = spec.split(":")
            if len(parts) not in (2, 3):
                raise ParameterError(f"{where}: range {spec!r} must be START:STOP[:STEP]")
            lo, hi = _number(parts[0], where), _number(parts[1], where)
            step = _number(parts[2], where) if len(parts) == 3 else 1
            check_range(step, f"{where}: step", 0, open_low=True)
            if hi < lo:
                raise ParameterError(f"{where}: stop {hi} is below start {lo}")
            if all(isinstance(v, int) for v in (lo, hi, step)):
                values: list[Any] = list(range(int(lo), int(hi) + 1, int(step)))
            else:
                n = int(np.floor((hi - lo) / step + 1e-9)) + 1
                values = [round(lo + i * step, 12) for i in range(n)]
            if len(values) > 100_000:
                raise ParameterError(f"{where}: {len(values)} values is too many")
        else:
            values = []
            for v in spec.split(","):
                v = v.strip()
                try:
                    values.append(_number(v, where))
                except ParameterError:
                    values.append(v)
        grid[key] = values
    return grid


def load_bars(args: argparse.Namespace) -> Any:
    """Load the bars a command asked for: bundled sample by default, else the parquet cache."""
    from quantlab.data import load

    symbols = parse_symbols(args.symbols)
    target: Any = symbols[0] if len(symbols) == 1 else symbols
    return load(target, exchange=args.exchange, timeframe=args.timeframe, data_dir=args.data_dir)


def _add_data_args(p: argparse.ArgumentParser, default_symbols: str = "BTC/USDT") -> None:
    g = p.add_argument_group("data (default: the bundled Binance daily sample)")
    g.add_argument("--symbols", default=default_symbols,
                   help=f"comma-separated ccxt symbols (default {default_symbols})")
    g.add_argument("--exchange", default=None, help="read the cache of this exchange instead of the sample")
    g.add_argument("--timeframe", default="1d", help="bar timeframe of the cached data (default 1d)")
    g.add_argument("--data-dir", default="data", help="cache folder (default data/)")
    g.add_argument("--from", dest="start", default=None, metavar="DATE",
                   help="first bar to trade (earlier bars still warm up indicators)")
    g.add_argument("--to", dest="end", default=None, metavar="DATE", help="last bar to trade")


def _add_option_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("fills, costs and sizing")
    g.add_argument("--init-cash", type=float, default=10_000.0, help="starting capital (default 10000)")
    g.add_argument("--fees-bps", type=float, default=10.0, help="fee in bps of notional (default 10)")
    g.add_argument("--slippage-bps", type=float, default=0.0, help="slippage in bps (default 0)")
    g.add_argument("--fill", choices=["next_open", "close"], default="next_open",
                   help="fill at the next bar's open (default) or the signal bar's close")
    g.add_argument("--direction", choices=["long_only", "long_short"], default="long_only")
    g.add_argument("--sizing", choices=["all_in", "fixed_fraction", "risk_per_trade", "vol_target"],
                   default="all_in")
    g.add_argument("--fraction", type=float, default=None,
                   help="fixed_fraction sizing only: share of equity per entry (default 1)")
    g.add_argument("--risk", type=float, default=None,
                   help="risk_per_trade sizing only: share of equity at risk (default 0.01)")
    g.add_argument("--target-vol", type=float, default=None,
                   help="vol_target sizing only: annualized target (default 0.5)")
    g.add_argument("--stop-loss", type=float, default=None, help="stop-loss distance (0.05 = 5%%)")
    g.add_argument("--take-profit", type=float, default=None, help="take-profit distance")
    g.add_argument("--trailing-stop", type=float, default=None,
                   help="trailing-stop distance (may be combined with --stop-loss)")
    g.add_argument("--allocation", choices=["sleeves", "shared"], default="sleeves",
                   help="multi-asset signal strategies: equal sleeves (default) or one cash pool")
    g.add_argument("--accumulate", action="store_true",
                   help="entry signals while in a position add to it")
    g.add_argument("--leverage", type=float, default=1.0,
                   help="largest gross exposure as a multiple of equity (default 1)")
    g.add_argument("--maintenance-margin", type=float, default=None,
                   help="liquidate when equity falls to this share of exposure (default: never)")
    g.add_argument("--order-ttl", type=int, default=0,
                   help="bars a limit/stop entry order rests (default 0: until cancelled)")
    g.add_argument("--amount-step", type=float, default=0.0,
                   help="exchange rule: order units are rounded down to this step")
    g.add_argument("--min-amount", type=float, default=0.0,
                   help="exchange rule: orders below this many units are rejected")
    g.add_argument("--min-notional", type=float, default=0.0,
                   help="exchange rule: orders below this quote value are rejected")


#: CLI flag of each backtest option that only applies with one ``--sizing``.
_SIZING_FLAGS = {"fraction": ("--fraction", "fixed_fraction"), "risk": ("--risk", "risk_per_trade"),
                 "target_vol": ("--target-vol", "vol_target")}


def _check_option_pairs(args: argparse.Namespace, cls: Any) -> None:
    """Refuse options that mean nothing without another one (they would be silently ignored)."""
    for name, (flag, sizing) in _SIZING_FLAGS.items():
        value = getattr(args, name)
        if value is None:
            continue
        if name in cls.params:
            raise ParameterError(
                f"{flag} is the backtester's {sizing} sizing option, but {cls.label()} has its "
                f"own {name} parameter: use --param {name}={value:g}")
        if args.sizing != sizing:
            raise ParameterError(f"{flag} only applies with --sizing {sizing} "
                                 f"(--sizing is {args.sizing})")
    if args.html is None and getattr(args, "log", False):
        raise ParameterError("--log only applies to the --html report's chart; add --html OUT")


def _options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "init_cash": args.init_cash, "fees_bps": args.fees_bps, "slippage_bps": args.slippage_bps,
        "fill": args.fill, "direction": args.direction, "sizing": args.sizing,
        "fraction": args.fraction, "risk": args.risk, "target_vol": args.target_vol,
        "stop_loss": args.stop_loss, "take_profit": args.take_profit,
        "trailing_stop": args.trailing_stop, "allocation": args.allocation,
        "accumulate": args.accumulate, "leverage": args.leverage,
        "maintenance_margin": args.maintenance_margin, "order_ttl": args.order_ttl,
        "amount_step": args.amount_step, "min_amount": args.min_amount,
        "min_notional": args.min_notional,
    }


def _strategy_class(name: str) -> Any:
    from quantlab.strategies import get_strategy

    return get_strategy(name)


def run_backtest(args: argparse.Namespace) -> int:
    """Handler of ``quantlab backtest``."""
    from quantlab.backtesting import backtest

    cls = _strategy_class(args.strategy)
    _check_option_pairs(args, cls)
    strategy = cls(**parse_params(args.param))
    bars = load_bars(args)
    result = backtest(strategy, bars, start=args.start, end=args.end, **_options(args))
    if args.html:
        from quantlab.reports import write_report

        path = write_report(args.html, f"Backtest: {strategy!r}",
                            [result.summary(formatted=True), result.plot(log=args.log), ("heading", "Trades"),
                             result.trades],
                            subtitle=f"{', '.join(result.symbols)} · {result.stats()['start']} → "
                                     f"{result.stats()['end']}")
        print(f"wrote {path}", file=sys.stderr)
    if args.json:
        print_json(result.to_dict())
    else:
        print(f"{strategy!r} on {', '.join(result.symbols)}")
        print_table(result.summary(formatted=True))
    return 0


def _dask_args(args: argparse.Namespace) -> dict[str, Any]:
    """``scheduler``/``address``/``workers`` of :func:`quantlab.sweep` from ``--dask`` and ``--workers``."""
    if args.dask is None:
        if args.workers is not None:
            raise ParameterError("--workers only applies with --dask")
        return {}
    if args.dask is True:
        return {"scheduler": "dask", "workers": args.workers}
    if args.workers is not None:
        raise ParameterError("--workers sets the size of the local Dask cluster and does not apply "
                             "with --dask ADDRESS (start `dask worker` processes instead)")
    return {"scheduler": "dask", "address": args.dask}


def run_sweep(args: argparse.Namespace) -> int:
    """Handler of ``quantlab sweep``."""
    from quantlab.backtesting import sweep

    cls = _strategy_class(args.strategy)
    _check_option_pairs(args, cls)
    grid = parse_grid(args.grid)
    if not grid:
        raise ParameterError("give at least one --grid NAME=START:STOP")
    fixed = parse_params(args.param)
    overlap = sorted(set(fixed) & set(grid))
    if overlap:
        raise ParameterError(f"{overlap[0]} is given both as --param and --grid")
    base = cls(**fixed) if fixed else cls
    dask = _dask_args(args)
    bars = load_bars(args)
    options = {k: v for k, v in _options(args).items() if k not in cls.params}
    result = sweep(base, bars, start=args.start, end=args.end,
                   progress=not args.json and not args.no_progress, **dask, **grid, **options)
    if args.html:
        from quantlab.reports import write_report

        figs: list[Any] = [result.summary(formatted=True)]
        if len(result.params) >= 1:
            figs += [result.heatmap(metric=args.metric)]
            if args.metric != "total_return":
                figs.append(result.heatmap(metric="total_return"))
        path = write_report(args.html, f"Sweep: {cls.label()}", figs,
                            subtitle=f"{', '.join(result.symbols)} · {len(result.table):,} combinations "
                                     f"in {result.elapsed:.1f} s")
        print(f"wrote {path}", file=sys.stderr)
    if args.json:
        print_json(result.to_dict())
    else:
        print(f"{cls.label()} sweep on {', '.join(result.symbols)}: {len(result.table):,} combinations "
              f"({result.rejected:,} skipped) in {result.elapsed:.1f} s")
        print(f"top {args.top} by {args.metric}:")
        print_table(result.best(args.metric, n=args.top).set_index(result.params))
    return 0


def register(sub: Any) -> None:
    """Add the ``backtest`` and ``sweep`` commands."""
    p = sub.add_parser("backtest", help="backtest one strategy",
                       description="Backtest a strategy on the bundled sample or cached data. "
                       "Signals on bar t's close fill at bar t+1's open by default.")
    p.add_argument("--strategy", required=True,
                   help="registered name (see `quantlab strategies`), NAME+vol_target, "
                        "path/file.py:Class or module:Class")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="strategy parameter (repeatable)")
    _add_data_args(p)
    _add_option_args(p)
    p.add_argument("--html", metavar="OUT", help="write an HTML report (plotly, works offline)")
    p.add_argument("--log", action="store_true", help="log-scale price and equity in the chart")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(func=run_backtest)

    s = sub.add_parser("sweep", help="sweep a strategy's parameters",
                       description="Backtest every combination of a parameter grid through the same "
                       "simulator as backtest (compiled, both cores); combinations the strategy "
                       "rejects (e.g. fast >= slow) are skipped. With --dask, the combinations are "
                       "scored on a Dask cluster.")
    s.add_argument("--strategy", required=True, help="strategy name or path, as for backtest")
    s.add_argument("--grid", action="append", metavar="NAME=SPEC",
                   help="NAME=START:STOP[:STEP] (inclusive) or NAME=A,B,C (repeatable)")
    s.add_argument("--param", action="append", metavar="NAME=VALUE", help="fixed strategy parameter")
    _add_data_args(s)
    _add_option_args(s)
    s.add_argument("--metric", default="sharpe", help="metric to rank and colour by (default sharpe)")
    s.add_argument("--top", type=int, default=10, help="rows of the ranking to print (default 10)")
    s.add_argument("--html", metavar="OUT", help="write an HTML report with heatmaps")
    s.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    s.add_argument("--dask", nargs="?", const=True, metavar="ADDRESS",
                   help="score the combinations on Dask: a local cluster of worker processes "
                        "(no ADDRESS), or the scheduler at ADDRESS (tcp://host:8786) whose workers "
                        "have quantlab installed; needs pip install \"quantlab[dask]\"")
    s.add_argument("--workers", type=positive_int, metavar="N",
                   help="worker processes of the local Dask cluster (with --dask, default 2)")
    s.add_argument("--json", action="store_true", help="print one JSON object with every combination")
    s.set_defaults(func=run_sweep)
