"""Options and data loading shared by ``quantlab risk var | backtest | stress``.

Both :mod:`quantlab.cli.risk_cmd` and :mod:`quantlab.cli.stress_cmd` import from here (and
never from each other).
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd

from quantlab.cli._args import parse_symbols
from quantlab.errors import ParameterError

__all__ = ["add_common", "load_closes", "load_returns", "parse_weights", "returns_of",
           "seed_for", "warnings_as_notes"]

#: VaR methods that draw random numbers (the only ones --seed affects).
SIMULATION_METHODS = ("monte_carlo", "fhs")


def parse_weights(text: str | None, symbols: list[str]) -> dict[str, float]:
    """``--weights`` as ``{symbol: weight}`` (default equal weights); they must sum to 1."""
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
    weights = parse_weights(args.weights, symbols)
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


@contextmanager
def warnings_as_notes() -> Iterator[None]:
    """Library warnings (e.g. Cornish–Fisher outside its domain) as one stderr line each."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    seen: set[str] = set()
    for w in caught:
        text = str(w.message)
        if text not in seen:
            seen.add(text)
            print(f"quantlab: warning: {text}", file=sys.stderr)


def add_common(p: argparse.ArgumentParser, default_symbols: str = "BTC/USDT,ETH/USDT") -> None:
    """Options of every ``risk`` subcommand."""
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


