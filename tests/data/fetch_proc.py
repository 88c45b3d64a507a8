"""Run ``quantlab data fetch`` in a separate process against a local fake Binance.

Usage: ``python -m tests.data.fetch_proc URL ARGS...`` — ``ccxt.binance`` is pointed at URL
(127.0.0.1 only), then ``quantlab.cli.main(ARGS)`` runs as the command line would.
"""

from __future__ import annotations

import sys

import ccxt

from quantlab.cli import main

_REAL = ccxt.binance


def _exchange(url: str):
    def make(config=None):
        ex = _REAL({**(config or {}), "timeout": 5_000,
                    "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False}})
        ex.rateLimit = 1
        for key, value in list(ex.urls["api"].items()):
            if isinstance(value, str):
                ex.urls["api"][key] = url + "/" + value.split("/", 3)[3]
        return ex

    return make


if __name__ == "__main__":
    assert sys.argv[1].startswith("http://127.0.0.1:")
    ccxt.binance = _exchange(sys.argv[1])
    sys.exit(main(sys.argv[2:]))
