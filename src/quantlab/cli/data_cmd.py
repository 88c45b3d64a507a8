"""``quantlab data``: fetch, import, check and list market data."""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from quantlab._validate import check_range
from quantlab.cli._output import print_json, print_table
from quantlab.errors import ParameterError

__all__ = ["register"]


def _symbols(values: list[str] | str | None) -> list[str]:
    if not values:
        return []
    items = [values] if isinstance(values, str) else values
    return [s.strip() for v in items for s in v.split(",") if s.strip()]


@contextmanager
def _warnings_to_stderr() -> Iterator[None]:
    """Print DataQualityWarnings as one ``quantlab: warning: ...`` line each."""
    from quantlab.data import DataQualityWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataQualityWarning)
        yield
    for w in caught:
        if issubclass(w.category, DataQualityWarning):
            print(f"quantlab: warning: {w.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _short_times(df: pd.DataFrame, columns: tuple[str, ...] = ("start", "end")) -> pd.DataFrame:
    """Show timestamps as dates when every one is at midnight, else as ``YYYY-MM-DD HH:MM``."""
    out = df.copy()
    for col in columns:
        if col not in out:
            continue
        values = pd.to_datetime(out[col], utc=True)
        daily = bool((values.dropna() == values.dropna().dt.normalize()).all())
        fmt = "%Y-%m-%d" if daily else "%Y-%m-%d %H:%M"
        out[col] = values.dt.strftime(fmt).fillna("-")
    return out


# --------------------------------------------------------------------------- handlers
def _fetch(args: argparse.Namespace) -> int:
    from quantlab.data import fetch_ohlcv

    symbols = _symbols(args.symbols)
    if not symbols:
        raise ParameterError("--symbols: give at least one symbol, e.g. BTC/USDT,ETH/USDT")
    check_range(args.lock_timeout, "--lock-timeout", 0, allow_none=True, hint="(seconds)")
    with _warnings_to_stderr():
        reports = fetch_ohlcv(
            args.exchange, symbols, args.timeframe, args.since, until=args.until,
            data_dir=args.data_dir, progress=not args.no_progress, limit=args.limit,
            max_retries=args.max_retries, on_bad="skip" if args.skip_bad else "error",
            lock_timeout=args.lock_timeout,
        )
    if args.json:
        print_json({"reports": [r.to_dict() for r in reports.values()]})
        return 0
    table = pd.DataFrame([r.to_dict() for r in reports.values()]).set_index("symbol")
    print_table(_short_times(table[["new_bars", "total_bars", "start", "end", "missing_bars", "requests", "path"]]))
    return 0


def _import(args: argparse.Namespace) -> int:
    from quantlab.data import import_file, load
    from quantlab.errors import DataQualityError

    try:
        with _warnings_to_stderr():
            path = import_file(args.file, args.symbol, args.timeframe, exchange=args.exchange,
                               data_dir=args.data_dir)
    except DataQualityError as exc:
        report = getattr(exc, "report", None)
        if report is None or len(report.errors) < 2 or getattr(args, "debug", False):
            raise
        # several defects: the one-line summary, then every kind with its count and first rows
        print(f"quantlab: error: {exc}", file=sys.stderr)
        print(report.listing(max_rows=args.max_issues), file=sys.stderr)
        return exc.exit_code
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = load(args.symbol, exchange=args.exchange, timeframe=args.timeframe, data_dir=args.data_dir)
    info = {
        "symbol": args.symbol, "timeframe": args.timeframe, "path": str(path), "bars": len(df),
        "start": df.index[0], "end": df.index[-1],
    }
    if args.json:
        print_json(info)
    else:
        print(f"imported {args.file} -> {path}: {len(df)} {args.symbol} {args.timeframe} bars "
              f"{df.index[0].isoformat()} to {df.index[-1].isoformat()}")
    return 0


def _check_frames(
    args: argparse.Namespace,
) -> Iterator[tuple[str, str, Callable[[], tuple[pd.DataFrame, np.ndarray]]]]:
    from quantlab.data.sample import load_sample, sample_path, sample_symbols
    from quantlab.data.store import cached_symbols, read_cache_raw, require_cache_file

    symbols = _symbols(args.symbols)
    if args.exchange is None:
        if args.timeframe not in (None, "1d"):
            raise ParameterError(
                f"--timeframe {args.timeframe}: the bundled sample is daily (1d); add --exchange"
            )

        def sample(sym: str) -> tuple[pd.DataFrame, np.ndarray]:
            df = load_sample(sym)
            return df, np.arange(len(df)) + 2  # bundled CSV: row = line number (header is line 1)

        for sym in symbols or sample_symbols():
            yield sym, str(sample_path(sym)), lambda sym=sym: sample(sym)
        return
    tf = args.timeframe or "1d"
    if not symbols:
        symbols = cached_symbols(args.exchange, tf, args.data_dir)
        if not symbols:
            raise ParameterError(f"nothing cached for {args.exchange} {tf} under {args.data_dir}")
    for sym in symbols:
        path = require_cache_file(args.exchange, sym, tf, args.data_dir)
        # read the file as stored: a sorting reader would hide an unsorted cache
        yield sym, str(path), lambda path=path: read_cache_raw(path)


def _check(args: argparse.Namespace) -> int:
    from quantlab.data import check_quality
    from quantlab.data.frame import to_utc

    as_of = None if args.as_of is None else to_utc(args.as_of, "--as-of")
    reports = []
    for sym, source, read in _check_frames(args):
        df, rows = read()
        rep = check_quality(df, timeframe=args.timeframe, symbol=sym, source=source,
                            outlier_threshold=args.outlier_z, stale_bars=args.stale_bars,
                            spike_threshold=args.spike_z, as_of=as_of, row_numbers=rows)
        reports.append(rep)
    ok = all(r.ok for r in reports)
    if args.json:
        print_json({"ok": ok, "reports": [r.to_dict() for r in reports]})
        return 0 if ok else 1
    summary = pd.DataFrame(
        [
            {
                "symbol": r.symbol, "bars": r.bars, "start": r.start, "end": r.end,
                "errors": len(r.errors), "warnings": len(r.warnings), "info": len(r.infos),
                "status": "ok" if r.ok else "FAILED",
            }
            for r in reports
        ]
    ).set_index("symbol")
    print_table(_short_times(summary))
    shown_any = False
    severity_rank = {"error": 0, "warning": 1, "info": 2}
    for r in reports:
        issues = r.issues if args.all else r.issues[r.issues["severity"] != "info"]
        if issues.empty:
            continue
        # errors first, then warnings, then info; by row within a severity
        key = issues["severity"].map(severity_rank)
        issues = issues.assign(_k=key).sort_values("_k", kind="stable").drop(columns="_k")
        if not shown_any:
            print()
        shown_any = True
        print(f"{r.symbol} ({r.where}):")
        for _, issue in issues.head(args.max_issues).iterrows():
            text = r.message(issue).removeprefix(f"{r.where} ")
            print(f"  {issue['severity']:<7} {issue['check']:<18} {text}")
        if len(issues) > args.max_issues:
            print(f"  ... {len(issues) - args.max_issues} more (use --json for all)")
    infos = sum(len(r.infos) for r in reports)
    if infos and not args.all:
        print(f"\n{infos} informational finding(s) (outlier returns) not shown; use --all to list them")
    return 0 if ok else 1


def _list(args: argparse.Namespace) -> int:
    from quantlab.data import list_datasets

    table = list_datasets(args.data_dir)
    if args.json:
        print_json({"datasets": table.to_dict(orient="records")})
        return 0
    shown = table.drop(columns="path") if not args.paths else table
    print_table(_short_times(shown).set_index(["source", "exchange", "timeframe", "symbol"]))
    return 0


# --------------------------------------------------------------------------- parser
def _markets(args: argparse.Namespace) -> int:
    from quantlab.data.markets import fetch_markets
    from quantlab.portfolio.markets import load_markets

    path = fetch_markets(args.exchange, symbols=args.symbols, data_dir=args.data_dir)
    rules = load_markets(path)
    if args.json:
        print_json({"path": str(path), "markets": len(rules)})
    else:
        print(f"wrote {len(rules)} market rules to {path}")
    return 0


def register(sub: Any) -> None:
    """Add the ``data`` command and its subcommands to the ``quantlab`` subparsers."""
    data = sub.add_parser("data", help="fetch, import, check and list market data",
                          description="Market data: ccxt downloads, file imports, quality checks.")
    dsub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    dsub.required = True

    def common(p: argparse.ArgumentParser, json_flag: bool = True) -> None:
        p.add_argument("--data-dir", default="data", help="cache root (default: data)")
        if json_flag:
            p.add_argument("--json", action="store_true", help="print JSON")

    p = dsub.add_parser("fetch", help="download candles with ccxt into the cache (resumable)")
    p.add_argument("--exchange", required=True, help="ccxt exchange id, e.g. binance")
    p.add_argument("--symbols", required=True, help="comma-separated, e.g. BTC/USDT,ETH/USDT")
    p.add_argument("--timeframe", default="1d", help="ccxt timeframe (default 1d)")
    p.add_argument("--since", help="first candle (UTC date); optional when resuming")
    p.add_argument("--until", help="last candle open time (UTC date)")
    p.add_argument("--limit", type=int, help="candles per request (default: exchange maximum)")
    p.add_argument("--max-retries", type=int, default=5, help="retries per request (default 5)")
    p.add_argument("--skip-bad", action="store_true",
                   help="skip bad candles from the exchange (quarantined to a side file) instead of stopping")
    p.add_argument("--lock-timeout", type=float, default=None, metavar="SECONDS",
                   help="give up if another fetch/import of the symbol runs longer (default: wait)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    common(p)
    p.set_defaults(func=_fetch)

    p = dsub.add_parser("import", help="import a CSV/parquet OHLCV file into the cache")
    p.add_argument("file", help="CSV or parquet file")
    p.add_argument("--symbol", required=True, help="symbol it holds, e.g. BTC/USDT")
    p.add_argument("--timeframe", required=True, help="bar length, e.g. 1d")
    p.add_argument("--exchange", default="local", help="cache folder (default: local)")
    p.add_argument("--max-issues", type=int, default=5,
                   help="rows listed per kind of defect when the file is refused (default 5)")
    common(p)
    p.set_defaults(func=_import)

    p = dsub.add_parser("check", help="quality-check bundled or cached data (exit 1 on errors)")
    p.add_argument("symbols", nargs="*", help="symbols (space or comma separated; default all)")
    p.add_argument("--exchange", help="check the cache of this exchange (default: bundled sample)")
    p.add_argument("--timeframe", help="timeframe of cached data (default 1d)")
    p.add_argument("--outlier-z", type=float, default=10.0, help="robust z threshold (default 10)")
    p.add_argument("--stale-bars", type=int, default=5, help="repeated closes flagged (default 5)")
    p.add_argument("--spike-z", type=float, default=10.0,
                   help="robust z of a one-bar spike that reverts (default 10)")
    p.add_argument("--as-of", default=None,
                   help="fetch/check time (UTC): a last bar not closed by then is a partial candle "
                        "(default: flag a last bar with < 25%% of the median volume)")
    p.add_argument("--max-issues", type=int, default=20, help="issues shown per symbol")
    p.add_argument("--all", action="store_true", help="also list informational findings")
    common(p)
    p.set_defaults(func=_check)

    p = dsub.add_parser("markets", help="download exchange trading rules (steps, minimums) with ccxt")
    p.add_argument("--exchange", required=True, help="ccxt exchange id, e.g. binance")
    p.add_argument("--symbols", default=None, help="keep only these (comma-separated; default all spot)")
    common(p)
    p.set_defaults(func=_markets)

    p = dsub.add_parser("list", help="list bundled and cached datasets")
    p.add_argument("--paths", action="store_true", help="show file paths")
    common(p)
    p.set_defaults(func=_list)
