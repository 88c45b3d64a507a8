"""The nightly history: every dated folder's status and recorded figures as one table."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from quantlab.reports.index import dated_folders, night_status
from quantlab.reports.metrics import read_metrics

__all__ = ["nightly_history"]


def nightly_history(out: str | os.PathLike[str] = "reports") -> pd.DataFrame:
    """One row per night under ``out`` (oldest first): ``status``, ``failed``, ``data`` and one
    column per numeric recorded figure, named ``"<report>.<metric>"``.

    Parameters
    ----------
    out : path
        The root folder of ``quantlab report nightly`` (default ``reports``).

    Returns
    -------
    pandas.DataFrame
        Indexed by the night's date (``DatetimeIndex`` named ``date``); empty when there is
        no dated folder yet.
    """
    root = Path(out)
    rows: dict[pd.Timestamp, dict[str, object]] = {}
    for date in dated_folders(root):
        night = night_status(root, date)
        row: dict[str, object] = {k: night[k] for k in ("status", "failed", "data")}
        for sub in sorted(p for p in (root / date).iterdir() if p.is_dir()):
            for key, value in read_metrics(sub / "metrics.json").items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    row[f"{sub.name}.{key}"] = float(value)
        rows[pd.Timestamp(date)] = row
    frame = pd.DataFrame.from_dict(rows, orient="index")
    if frame.empty:
        frame = pd.DataFrame(columns=["status", "failed", "data"])
    frame.index = pd.DatetimeIndex(frame.index, name="date")
    return frame
