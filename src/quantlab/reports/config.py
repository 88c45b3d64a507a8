"""The nightly report configuration (TOML).

Format (every key optional except ``[[reports]]`` entries' ``notebook``)::

    title = "quantlab nightly"
    notebooks = "../notebooks"     # folder report notebooks are relative to (default: this file's)
    workdir = ".."                 # kernel working folder (default: each notebook's own folder)
    timeout = 900                  # per-cell timeout, seconds
    no_code = true                 # hide code in the HTML exports
    trend_nights = 14              # previous nights shown in the trend strip

    [refresh]                      # optional: fetch fresh candles before the reports run
    exchange = "binance"
    symbols = ["BTC/USDT", "ETH/USDT"]
    timeframe = "1d"
    days = 400                     # or since = "2024-01-01"
    data_dir = "../data"           # relative to this file
    max_retries = 2

    [[reports]]
    name = "research"              # folder/file stem (default: the notebook's stem)
    notebook = "research.ipynb"
    title = "Strategy research"
    headline = ["sharpe", "total_return"]   # metrics shown in the index + trend (default: all)
    parameters = { max_window = 20 }

Relative paths are resolved against the config file's folder. The packaged default config
(``quantlab/reports/nightly.toml``) has no folder of its own: its notebooks are found by
:func:`find_notebooks_dir`.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from quantlab.errors import DataError, ParameterError

__all__ = ["NightlyConfig", "RefreshSpec", "ReportSpec", "default_config_path",
           "find_notebooks_dir", "load_config"]

NOTEBOOKS_ENV = "QUANTLAB_NOTEBOOKS"


@dataclass(frozen=True)
class ReportSpec:
    """One report of the nightly set."""

    name: str
    notebook: Path
    title: str
    parameters: dict[str, Any] = field(default_factory=dict)
    headline: tuple[str, ...] | None = None


@dataclass(frozen=True)
class RefreshSpec:
    """The data refresh step: candles fetched through ccxt into the local cache."""

    exchange: str
    symbols: tuple[str, ...]
    timeframe: str = "1d"
    since: str | None = None
    days: int = 400
    data_dir: Path = Path("data")
    max_retries: int = 2

    def start(self, today: pd.Timestamp) -> pd.Timestamp:
        if self.since:
            return pd.Timestamp(self.since, tz="UTC")
        return today.normalize() - pd.Timedelta(days=self.days)


@dataclass(frozen=True)
class NightlyConfig:
    """A parsed nightly configuration."""

    path: Path | None
    reports: tuple[ReportSpec, ...]
    refresh: RefreshSpec | None = None
    title: str = "quantlab nightly"
    workdir: Path | None = None
    timeout: float | None = None
    no_code: bool = True
    trend_nights: int = 14


def default_config_path() -> Path:
    """The packaged default configuration (research, risk_report, rebalance on the sample)."""
    return Path(str(resources.files("quantlab.reports") / "nightly.toml"))


def find_notebooks_dir() -> Path:
    """Where the packaged default config finds its notebooks.

    In order: ``$QUANTLAB_NOTEBOOKS``; ``./notebooks`` of the current folder (run from the
    project folder); the ``notebooks/`` folder of the source checkout quantlab is imported from
    (an editable install). A pip-installed package without a project folder must set
    ``QUANTLAB_NOTEBOOKS`` or pass its own ``--config``.
    """
    candidates = []
    if os.environ.get(NOTEBOOKS_ENV):
        candidates.append(Path(os.environ[NOTEBOOKS_ENV]))
    candidates.append(Path.cwd() / "notebooks")
    candidates.append(Path(__file__).resolve().parents[3] / "notebooks")
    for folder in candidates:
        if (folder / "research.ipynb").is_file():
            return folder
    raise DataError("cannot find the report notebooks (looked in "
                    + ", ".join(str(c) for c in candidates)
                    + f"); run from the project folder, set {NOTEBOOKS_ENV}, or pass --config")


def _str_list(value: Any, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(s.strip() for s in value.split(",") if s.strip())
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ParameterError(f"config: {key} must be a list of strings")


def load_config(path: str | os.PathLike[str] | None = None) -> NightlyConfig:
    """Read a nightly TOML config (the packaged default when ``path`` is None).

    Raises
    ------
    DataError
        The file is missing or not valid TOML.
    ParameterError
        A key has the wrong type, a report has no notebook, or two reports share a name.
    """
    default = path is None
    cfg_path = default_config_path() if default else Path(path)  # type: ignore[arg-type]
    try:
        raw = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"config not found: {cfg_path}") from None
    except OSError as exc:
        raise DataError(f"cannot read config {cfg_path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"config {cfg_path} is not valid TOML: {exc}") from None
    base = cfg_path.resolve().parent
    nb_dir = find_notebooks_dir() if default else base / raw.get("notebooks", ".")

    entries = raw.get("reports", [])
    if not isinstance(entries, list) or not entries:
        raise ParameterError(f"config {cfg_path}: no [[reports]] entries")
    reports: list[ReportSpec] = []
    for i, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or not isinstance(entry.get("notebook"), str):
            raise ParameterError(f"config {cfg_path}: report #{i} needs notebook = \"...\"")
        notebook = nb_dir / entry["notebook"]
        name = str(entry.get("name") or Path(entry["notebook"]).stem)
        if not name.replace("-", "_").isidentifier():
            raise ParameterError(f"config {cfg_path}: report name {name!r} must be a simple name")
        params = entry.get("parameters", {})
        if not isinstance(params, dict):
            raise ParameterError(f"config {cfg_path}: report {name}: parameters must be a table")
        headline = entry.get("headline")
        reports.append(ReportSpec(name=name, notebook=notebook, title=str(entry.get("title", name)),
                                  parameters=dict(params),
                                  headline=None if headline is None
                                  else _str_list(headline, f"report {name}: headline")))
    names = [r.name for r in reports]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ParameterError(f"config {cfg_path}: report names must be unique: {', '.join(dupes)}")

    refresh = None
    if "refresh" in raw:
        r = raw["refresh"]
        if not isinstance(r, dict) or not isinstance(r.get("exchange"), str):
            raise ParameterError(f"config {cfg_path}: [refresh] needs exchange = \"...\"")
        refresh = RefreshSpec(exchange=r["exchange"],
                              symbols=_str_list(r.get("symbols", []), "refresh.symbols"),
                              timeframe=str(r.get("timeframe", "1d")),
                              since=None if r.get("since") is None else str(r["since"]),
                              days=int(r.get("days", 400)),
                              data_dir=base / r.get("data_dir", "data"),
                              max_retries=int(r.get("max_retries", 2)))
        if not refresh.symbols:
            raise ParameterError(f"config {cfg_path}: [refresh] needs symbols")
    timeout = raw.get("timeout")
    return NightlyConfig(
        path=None if default else cfg_path, reports=tuple(reports), refresh=refresh,
        title=str(raw.get("title", "quantlab nightly")),
        workdir=None if raw.get("workdir") is None else base / raw["workdir"],
        timeout=None if timeout is None else float(timeout),
        no_code=bool(raw.get("no_code", True)), trend_nights=int(raw.get("trend_nights", 14)),
    )
