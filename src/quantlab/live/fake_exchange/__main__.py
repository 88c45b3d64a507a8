"""``python -m quantlab.live.fake_exchange``: serve a fake Binance on 127.0.0.1 until stopped.

Prints one line, ``fake binance on http://127.0.0.1:8765 (api key fake-key)`` (the websocket
market streams are on ``ws://127.0.0.1:8765/ws``), then serves
until SIGINT or SIGTERM and exits 0. The exchange clock starts at ``--start`` and runs at
``--speed`` times wall time.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

import pandas as pd

from quantlab.errors import QuantlabError, UsageError
from quantlab.live.fake_exchange.candles import SampleCandles, SyntheticCandles
from quantlab.live.fake_exchange.server import FakeBinance

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m quantlab.live.fake_exchange",
                                description="A local fake Binance spot exchange (REST and websocket klines) "
                                            "on 127.0.0.1.")
    p.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (0: any free one)")
    p.add_argument("--sample", action="store_true",
                   help="prices from the bundled daily sample instead of synthetic candles")
    p.add_argument("--start", help="exchange time at start, UTC (default: now; 2025-01-01 with --sample)")
    p.add_argument("--speed", type=float, default=1.0, help="exchange seconds per wall second")
    p.add_argument("--cash", type=float, default=10_000.0, help="initial USDT balance")
    p.add_argument("--timeframe", default="1h", help="pricing timeframe of the synthetic candles")
    p.add_argument("--fee", type=float, default=0.001, help="fee rate in the quote asset (0.001 = 0.1%%)")
    p.add_argument("--slippage-bps", type=float, default=0.0, help="market-order slippage")
    p.add_argument("--api-key", default="fake-key")
    p.add_argument("--secret", default="fake-secret")
    return p


def _start_ms(text: str | None, sample: bool) -> int | None:
    if text is None:
        return None if sample else int(pd.Timestamp.now(tz="UTC").value // 1_000_000)
    try:
        ts = pd.Timestamp(text)
    except (ValueError, TypeError):
        raise UsageError(f"--start: cannot parse {text!r} as a date") from None
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.value // 1_000_000)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        source = SampleCandles() if args.sample else SyntheticCandles(args.timeframe)
        fake = FakeBinance(source, balances={"USDT": args.cash}, now_ms=_start_ms(args.start, args.sample),
                           speed=args.speed, fee_rate=args.fee, slippage_bps=args.slippage_bps,
                           api_key=args.api_key, secret=args.secret, port=args.port)
        fake.start()
    except QuantlabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        print(f"error: cannot listen on 127.0.0.1:{args.port} ({exc.strerror or exc})", file=sys.stderr)
        return 1
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"fake binance on {fake.url} (api key {fake.api_key})", flush=True)
    while not stop.wait(0.2):
        pass
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
