"""Market data: bundled sample, CSV/parquet import, ccxt downloads, parquet cache, quality checks.

>>> from quantlab.data import load_sample, load, check_quality
>>> btc = load_sample("BTC/USDT")                       # offline, daily, 2020-01-01 .. 2026-02-21
>>> panel = load_sample(["BTC/USDT", "SOL/USDT"])       # (field, symbol) columns
>>> check_quality(btc).ok
True
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from quantlab.data.catalog import list_datasets
from quantlab.data.fetch_report import FetchReport
from quantlab.data.frame import FIELDS
from quantlab.data.io import read_ohlcv_file
from quantlab.data.loader import load
from quantlab.data.quality import CHECKS, DataQualityWarning, QualityReport, check_quality
from quantlab.data.sample import load_sample, sample_symbols
from quantlab.data.store import cache_path, import_file
from quantlab.data.timeframes import infer_timeframe, parse_timeframe

__all__ = [
    "CHECKS",
    "FIELDS",
    "DataQualityWarning",
    "FetchReport",
    "QualityReport",
    "cache_path",
    "check_quality",
    "fetch_ohlcv",
    "import_file",
    "infer_timeframe",
    "list_datasets",
    "load",
    "load_sample",
    "parse_timeframe",
    "read_ohlcv_file",
    "sample_symbols",
]

# ccxt takes ~0.5 s to import: load the downloader on first use.
_LAZY = {"fetch_ohlcv": "quantlab.data.ccxt_source"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'quantlab.data' has no attribute {name!r}")
