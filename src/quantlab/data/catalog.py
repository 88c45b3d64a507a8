"""``list_datasets``: what data is available, bundled and cached."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from quantlab.data.sample import (
    SAMPLE_EXCHANGE,
    SAMPLE_TIMEFRAME,
    load_sample,
    sample_path,
    sample_symbols,
)
from quantlab.data.store import cache_times
from quantlab.data.symbols import symbol_from_stem

__all__ = ["list_datasets"]

_COLUMNS = ["source", "exchange", "timeframe", "symbol", "start", "end", "bars", "path"]


def _cache_rows(data_dir: Path) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    if not data_dir.is_dir():
        return rows
    for path in sorted(data_dir.glob("*/*/*.parquet")):
        if path.name.startswith((".", "_")):
            continue
        start = end = pd.NaT
        bars: object = pd.NA
        try:
            idx = cache_times(path)
            bars = len(idx)
            if len(idx):
                start, end = idx.min(), idx.max()
        except Exception:  # unreadable/foreign file: listed without range
            pass
        rows.append(
            {
                "source": "cache",
                "exchange": path.parent.parent.name,
                "timeframe": path.parent.name,
                "symbol": symbol_from_stem(path.stem),
                "start": start,
                "end": end,
                "bars": bars,
                "path": str(path),
            }
        )
    return rows


def list_datasets(data_dir: str | os.PathLike[str] = "data") -> pd.DataFrame:
    """Bundled and cached datasets with their date ranges and bar counts.

    Parameters
    ----------
    data_dir : str or PathLike
        Cache root (``data_dir/<exchange>/<timeframe>/<BASE_QUOTE>.parquet``).

    Returns
    -------
    pandas.DataFrame
        Columns ``source`` (bundled/cache), ``exchange``, ``timeframe``, ``symbol``, ``start``,
        ``end``, ``bars`` and ``path``; bundled rows first.
    """
    rows: list[dict[str, object]] = []
    for sym in sample_symbols():
        df = load_sample(sym)
        rows.append(
            {
                "source": "bundled",
                "exchange": SAMPLE_EXCHANGE,
                "timeframe": SAMPLE_TIMEFRAME,
                "symbol": sym,
                "start": df.index[0],
                "end": df.index[-1],
                "bars": len(df),
                "path": str(sample_path(sym)),
            }
        )
    rows.extend(_cache_rows(Path(data_dir)))
    out = pd.DataFrame(rows, columns=_COLUMNS)
    out["bars"] = out["bars"].astype("Int64")
    out["start"] = pd.to_datetime(out["start"], utc=True)
    out["end"] = pd.to_datetime(out["end"], utc=True)
    return out
