"""Configuration of ``quantlab data-engine``: a TOML file with environment overrides.

One ``[engine]`` section (the exchange group: symbols, timeframe, bar store, thresholds,
metrics port) and one ``[[source]]`` table per exchange, in priority order — the first is the
primary, the others are fallbacks (``engine.example.toml`` at the repository root documents
every key)::

    [engine]
    group = "spot"
    symbols = ["BTC/USDT", "ETH/USDT"]
    timeframe = "1m"

    [[source]]
    name = "binance"
    exchange = "binance"

    [[source]]
    name = "okx"
    exchange = "okx"

Environment overrides
---------------------
Precedence: environment > file > defaults. Every ``[engine]`` key is
``QUANTLAB_ENGINE_<KEY>`` (``QUANTLAB_ENGINE_PORT=9108``, ``QUANTLAB_ENGINE_SYMBOLS=BTC/USDT,
ETH/USDT``); a source's key is ``QUANTLAB_SOURCE_<NAME>_<KEY>`` with the source's name in upper
case, other characters than letters and digits as ``_`` (``QUANTLAB_SOURCE_BINANCE_URL``).
Values are written as in TOML without quotes; ``off``/``none`` switches an optional key off.

Errors
------
An unknown key raises :class:`~quantlab.errors.ParameterError` naming the file, the table and
the key with the closest valid key as a suggestion; a bad value names the key and value (and
the environment variable when it came from one). A missing or malformed file raises
:class:`~quantlab.errors.DataError`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from quantlab._validate import normalize_symbol
from quantlab.errors import ParameterError
from quantlab.live.config_keys import KeySpec as _Spec
from quantlab.live.config_keys import config_key as _key
from quantlab.live.config_keys import read_toml
from quantlab.live.config_keys import suggest as _suggest
from quantlab.live.config_keys import validate_fields as _validate

__all__ = ["EngineConfig", "EngineSettings", "SourceSpec", "source_env_id"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_POS = _Spec("number", lo=0, open_low=True)
_STR = _Spec("str")
_STR_OPT = _Spec("str", optional=True)
_INT1 = _Spec("int", lo=1, integer=True)


def _check_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ParameterError(f"{what}={name!r} must be letters, digits, '_', '.' or '-' "
                             f"(starting with a letter or digit)")
    return name


def _symbols(value: Any) -> tuple[str, ...]:
    items = [s.strip() for s in value.split(",")] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items or not all(
            isinstance(s, str) and s for s in items):
        raise ParameterError(f"symbols={value!r} must be a non-empty list of symbols "
                             f"(\"BTC/USDT\")")
    out = tuple(normalize_symbol(s) for s in items)
    dup = sorted({s for s in out if out.count(s) > 1})
    if dup:
        raise ParameterError(f"symbols: {dup[0]} is listed twice")
    return out


@dataclass(frozen=True)
class EngineSettings:
    """The ``[engine]`` section: what is served, where, and when to switch sources.

    Attributes
    ----------
    group : str
        Name of the exchange group (file names, the ``group`` label of every metric).
    symbols : tuple of str
        Unified symbols served (every source must list them).
    timeframe : str
        Bar length (``"1m"``, ``"1h"``...).
    store : str or None
        The bar store (SQLite); default ``<state_dir>/bars-<group>.sqlite``.
    state_dir : str
        Folder of the default bar store.
    backfill_bars : int
        Closed bars fetched when the store is empty, and most bars caught up after a pause.
    poll_interval_s : float
        Longest wait between two polls of the active source's clock (the websocket wakes the
        engine earlier at a bar close).
    stall_s : float
        A websocket without an update for this long is stalled: serve from REST polling.
    stale_s : float
        A closed bar the active source has not delivered this long after its close (or after
        the switch to that source) makes the engine fail over to the next source.
    recover_s : float
        A better source (the primary, or a websocket) must be healthy this long before the
        engine switches back to it.
    probe_interval_s : float
        How often the sources not in use are probed (clock and latest closed candle).
    heartbeat_s : float
        How often the heartbeat row of the bar store is written.
    max_retries : int
        Attempts of one REST request before the source counts as failed.
    retry_backoff_s : float
        First retry delay (doubled at each retry).
    reconnect_backoff_s, max_reconnect_backoff_s : float
        First and longest wait before a websocket is subscribed again after an error.
    quality_window : int
        Served bars checked together with each new one by the quality checks.
    host : str
        Address of the metrics and health endpoints (loopback only).
    port : int or None
        Their port (``0``: any free one, printed at start; ``"off"``: no endpoint).
    """

    group: str = _key("default", _STR)
    symbols: tuple[str, ...] = field(default=("BTC/USDT",), metadata={"spec": None})
    timeframe: str = _key("1m", _Spec("timeframe"))
    store: str | None = _key(None, _STR_OPT)
    state_dir: str = _key("state", _STR)
    backfill_bars: int = _key(500, _INT1)
    poll_interval_s: float = _key(1.0, _POS)
    stall_s: float = _key(10.0, _POS)
    stale_s: float = _key(30.0, _POS)
    recover_s: float = _key(60.0, _POS)
    probe_interval_s: float = _key(5.0, _POS)
    heartbeat_s: float = _key(1.0, _POS)
    max_retries: int = _key(2, _INT1)
    retry_backoff_s: float = _key(0.25, _Spec("number", lo=0))
    reconnect_backoff_s: float = _key(1.0, _POS)
    max_reconnect_backoff_s: float = _key(30.0, _POS)
    quality_window: int = _key(50, _Spec("int", lo=2, integer=True))
    host: str = _key("127.0.0.1", _STR)
    port: int | None = _key(0, _Spec("int", optional=True, lo=0, hi=65535, integer=True))

    def __post_init__(self) -> None:
        for f in fields(self):
            spec = f.metadata["spec"]
            if spec is not None:
                object.__setattr__(self, f.name, spec.check(getattr(self, f.name), f.name))
        object.__setattr__(self, "symbols", _symbols(self.symbols))
        _check_name(self.group, "group")
        from quantlab.live.api import is_loopback

        if not is_loopback(self.host):
            raise ParameterError(f"host={self.host!r}: the data engine serves its metrics on a "
                                 f"loopback address only (127.0.0.1)")

    @property
    def store_path(self) -> Path:
        """The bar store file."""
        return Path(self.store) if self.store else Path(self.state_dir) / f"bars-{self.group}.sqlite"


@dataclass(frozen=True)
class SourceSpec:
    """One ``[[source]]``: an exchange the engine can take bars from.

    Attributes
    ----------
    name : str
        Source name (the ``source`` column of the bar store, metrics and audit).
    exchange : str
        ccxt exchange id (default: ``name``).
    url : str or None
        REST base URL override (a gateway, the local fake exchange); the websocket endpoints
        move along unless ``ws_url`` says otherwise.
    ws_url : str or None
        Websocket base URL override (``ws://host:port``), paths kept.
    websocket : bool
        Subscribe to the kline stream (``watch_ohlcv``) where the exchange has one.
    sandbox : bool
        The exchange's testnet (ccxt ``set_sandbox_mode``).
    timeout_ms : int
        ccxt request timeout.
    rate_limit_ms : int or None
        Milliseconds between requests (None: ccxt's own limit).
    """

    name: str = _key("", _STR)
    exchange: str | None = _key(None, _STR_OPT)
    url: str | None = _key(None, _STR_OPT)
    ws_url: str | None = _key(None, _STR_OPT)
    websocket: bool = _key(True, _Spec("bool"))
    sandbox: bool = _key(False, _Spec("bool"))
    timeout_ms: int = _key(10_000, _INT1)
    rate_limit_ms: int | None = _key(None, _Spec("int", optional=True, lo=0, integer=True))

    def __post_init__(self) -> None:
        _check_name(self.name, "name")
        _validate(self)
        exchange = (self.exchange or self.name).lower()
        import ccxt

        if exchange not in ccxt.exchanges:
            raise ParameterError(f"source {self.name!r}: ccxt has no exchange {exchange!r}")
        object.__setattr__(self, "exchange", exchange)
        for key, schemes in (("url", ("http://", "https://")), ("ws_url", ("ws://", "wss://"))):
            value = getattr(self, key)
            if value is not None and not value.startswith(schemes):
                raise ParameterError(f"source {self.name!r}: {key}={value!r} must start with "
                                     f"{' or '.join(schemes)}")


def source_env_id(name: str) -> str:
    """Environment id of a source: ``okx-backup`` -> ``OKX_BACKUP``."""
    return re.sub(r"[^A-Z0-9]", "_", name.upper())


def _spec_of(cls: type, key: str) -> _Spec:
    return {f.name: f.metadata["spec"] for f in fields(cls)}[key]


def _env_value(cls: type, key: str, text: str, var: str) -> Any:
    if cls is EngineSettings and key == "symbols":
        return text
    try:
        return _spec_of(cls, key).parse(text, key)
    except ParameterError as exc:
        raise ParameterError(f"environment variable {var}={text!r}: {exc}") from None


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    try:
        return cls(**values)
    except ParameterError as exc:
        raise ParameterError(f"{where}: {exc}") from None


@dataclass(frozen=True)
class EngineConfig:
    """Everything ``quantlab data-engine`` is configured with (see the module docstring).

    Attributes
    ----------
    engine : EngineSettings
    sources : tuple of SourceSpec
        In priority order (the first is the primary).
    source : str
        Where the values came from (file and environment variables used).
    """

    engine: EngineSettings = field(default_factory=EngineSettings)
    sources: tuple[SourceSpec, ...] = ()
    source: str = field(default="defaults", compare=False)

    @classmethod
    def load(cls, path: str | Path, env: Mapping[str, str] | None = None) -> EngineConfig:
        """The configuration of the TOML file ``path`` with environment overrides.

        Raises
        ------
        DataError
            The file is missing, unreadable or not valid TOML.
        ParameterError
            Unknown table or key, a bad value, no ``[[source]]``, or two sources of one name.
        """
        import os

        env = os.environ if env is None else env
        p = Path(path)
        data = _read_toml(p)
        engine_keys = [f.name for f in fields(EngineSettings)]
        source_keys = [f.name for f in fields(SourceSpec)]
        engine = dict(data.get("engine", {}))
        _unknown(engine, engine_keys, f"{p}: [engine]")
        raw_sources = data.get("source", [])
        if not isinstance(raw_sources, list) or not all(isinstance(s, dict) for s in raw_sources):
            raise ParameterError(f"{p}: source must be an array of tables [[source]]")
        if not raw_sources:
            raise ParameterError(f"{p}: no [[source]]: list the exchanges, primary first")
        used: list[str] = []
        for key in engine_keys:
            var = f"QUANTLAB_ENGINE_{key.upper()}"
            if var in env:
                engine[key] = _env_value(EngineSettings, key, env[var], var)
                used.append(var)
        settings = _build(EngineSettings, engine, f"{p}: [engine]")
        sources: list[SourceSpec] = []
        for i, raw in enumerate(raw_sources, 1):
            values = dict(raw)
            _unknown(values, source_keys, f"{p}: [[source]] #{i}")
            name = values.get("name")
            if not isinstance(name, str) or not name:
                raise ParameterError(f"{p}: [[source]] #{i} has no name")
            for key in source_keys:
                var = f"QUANTLAB_SOURCE_{source_env_id(name)}_{key.upper()}"
                if key != "name" and var in env:
                    values[key] = _env_value(SourceSpec, key, env[var], var)
                    used.append(var)
            sources.append(_build(SourceSpec, values, f"{p}: [[source]] {name!r}"))
        names = [s.name for s in sources]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ParameterError(f"{p}: two [[source]] tables are named {dup[0]!r}")
        origin = str(p) + (" + env " + ",".join(used) if used else "")
        return cls(settings, tuple(sources), origin)

    def to_dict(self) -> dict[str, Any]:
        """Every setting (JSON-safe; the engine's "config" audit record)."""
        def plain(obj: Any) -> dict[str, Any]:
            return {f.name: list(v) if isinstance(v := getattr(obj, f.name), tuple) else v
                    for f in fields(obj)}

        return {"engine": plain(self.engine), "sources": [plain(s) for s in self.sources]}


def _unknown(values: Mapping[str, Any], keys: list[str], where: str) -> None:
    for key in values:
        if key not in keys:
            raise ParameterError(f"{where}: unknown key {key!r} ({_suggest(key, keys)})")


def _read_toml(p: Path) -> dict[str, Any]:
    data = read_toml(p, "data engine config file")
    for table in data:
        if table not in ("engine", "source"):
            raise ParameterError(f"{p}: unknown table [{table}] "
                                 f"({_suggest(table, ['engine', 'source'])})")
    if "engine" in data and not isinstance(data["engine"], dict):
        raise ParameterError(f"{p}: engine must be a table [engine], not a value")
    return data
