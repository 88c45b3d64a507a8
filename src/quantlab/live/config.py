"""Configuration of ``quantlab live``: a TOML file with environment overrides.

Seven sections, every key optional (``live.example.toml`` at the repository root documents each
one)::

    [risk]      pre-trade limits of the risk guard (:class:`RiskLimits`)
    [breaker]   warn / reduce-only / halt thresholds of the breaker (:class:`BreakerTriggers`)
    [api]       control and metrics API (:class:`ApiConfig`)
    [exchange]  ccxt exchange and the *names* of the environment variables holding the keys
    [orders]    order type, cancel and retry policy (:class:`OrderPolicy`)
    [runner]    paper cash, window, polling, state directory, reconciliation (:class:`RunnerConfig`)
    [budget]    risk budget shared by the runners of one supervisor (:class:`BudgetConfig`)

Syntax
------
A limit or setting that can be switched off takes the string ``"off"`` (or ``"none"``): TOML
has no null, and ``0`` is never "off" (it would be a limit of zero). A breaker trigger is three
thresholds ``[warn, reduce, halt]``, each a number or ``"off"``, non-decreasing among those that
are on; ``drawdown = "off"`` switches the whole trigger off::

    [risk]
    max_drawdown = 0.25
    max_order_notional = "off"
    [breaker]
    drawdown = [0.10, 0.15, 0.20]
    realized_vol = ["off", "off", 1.5]

Environment overrides
---------------------
Precedence: environment > file > defaults. Every key of every section is
``QUANTLAB_<SECTION>_<KEY>`` (``QUANTLAB_API_PORT=9000``,
``QUANTLAB_BREAKER_DRAWDOWN=0.1,0.15,0.2``, ``QUANTLAB_RISK_MAX_DRAWDOWN=0.2``); every
``[risk]`` key is also its bare upper-case name (``MAX_DRAWDOWN=0.15``,
``RISK_PER_TRADE=0.02``, ``DAILY_LOSS_LIMIT``, ``VAR_LIMIT``, ``MAX_ORDERS_PER_MINUTE``...).
When both spellings are set the ``QUANTLAB_`` one wins. Values are written as in TOML without
quotes; ``off``/``none`` switches a limit off; booleans are ``true``/``false`` (also
``1``/``0``, ``yes``/``no``); a trigger is comma-separated, with ``off`` entries allowed.
Other ``QUANTLAB_*`` variables (the API token, the exchange keys) are
not configuration and are ignored here.

Secrets
-------
The configuration holds only the *names* of the environment variables with the API token and
the exchange credentials; :meth:`LiveConfig.api_token` and :meth:`LiveConfig.api_credentials`
read them when needed. :meth:`LiveConfig.to_dict` (and so :meth:`LiveConfig.digest`, the
"config" record of the audit log) never contains a secret value.

Errors
------
An unknown section or key raises :class:`~quantlab.errors.ParameterError` naming the file,
the section and the key, with the closest valid key as a suggestion; a wrong type or range
names the key and value (and the environment variable when it came from one). A missing or
malformed file raises :class:`~quantlab.errors.DataError`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from quantlab.errors import ParameterError
from quantlab.live.config_keys import KeySpec, read_toml, suggest, validate_fields
from quantlab.live.config_keys import KeySpec as _Spec
from quantlab.live.config_keys import config_key as _key

__all__ = [
    "ApiConfig",
    "BreakerTriggers",
    "BudgetConfig",
    "ExchangeConfig",
    "LiveConfig",
    "OrderPolicy",
    "RiskLimits",
    "RunnerConfig",
    "env_names",
    "section_keys",
]

_FRACTION = _Spec("number", optional=True, lo=0, hi=1, open_low=True)
_POS_OPT = _Spec("number", optional=True, lo=0, open_low=True)
_POS = _Spec("number", lo=0, open_low=True)
_NONNEG = _Spec("number", lo=0)
_BOOL = _Spec("bool")
_STR = _Spec("str")
_STR_OPT = _Spec("str", optional=True)


# --------------------------------------------------------------------------------------------
# sections


@dataclass(frozen=True)
class RiskLimits:
    """Pre-trade limits of :class:`quantlab.live.risk.RiskGuard` (``None`` = off).

    Attributes
    ----------
    max_drawdown : float or None
        Refuse entries once equity is this fraction below its peak.
    risk_per_trade : float or None
        Fraction of equity an entry may put at risk (notional x stop distance, or notional x
        the symbol's one-bar EWMA VaR when the strategy has no stop).
    max_position_notional : float or None
        Quote currency, per symbol, after the order.
    max_order_notional : float or None
        Quote currency, per order.
    daily_loss_limit : float or None
        Fraction of the equity at the start of the UTC day.
    var_limit : float or None
        One-bar EWMA VaR of the positions after the order, as a fraction of equity.
    var_confidence : float
        VaR confidence level in (0, 1).
    ewma_lambda : float
        RiskMetrics decay factor in (0, 1).
    max_orders_per_minute : int or None
        Orders submitted in any sliding 60 s.
    """

    max_drawdown: float | None = _key(0.25, _FRACTION)
    risk_per_trade: float | None = _key(None, _FRACTION)
    max_position_notional: float | None = _key(None, _POS_OPT)
    max_order_notional: float | None = _key(None, _POS_OPT)
    daily_loss_limit: float | None = _key(0.05, _FRACTION)
    var_limit: float | None = _key(None, _FRACTION)
    var_confidence: float = _key(0.99, _Spec("number", lo=0, hi=1, open_low=True,
                                             open_high=True))
    ewma_lambda: float = _key(0.94, _Spec("number", lo=0, hi=1, open_low=True, open_high=True))
    max_orders_per_minute: int | None = _key(30, _Spec("int", optional=True, lo=1,
                                                       integer=True))

    def __post_init__(self) -> None:
        _validate(self)


_FRACTION3 = _Spec("triple", lo=0, hi=1, open_low=True)


@dataclass(frozen=True)
class BreakerTriggers:
    """Thresholds ``(warn, reduce, halt)`` of each circuit-breaker trigger (``None`` = off).

    Attributes
    ----------
    drawdown, daily_loss, var : tuple
        Fractions of equity (from peak, from the UTC day start, one-bar EWMA VaR).
    realized_vol : tuple
        Annualized volatility of the equity curve (``1.5`` = 150 %).
    consecutive_rejects : tuple
        Orders refused in a row (by the risk guard or the exchange).
    staleness_bars : tuple
        Bars the data feed is behind the last closed bar.
    auto_recover : bool
        Warn and reduce-only go back down when the metrics recover; a halt never does.
    """

    drawdown: tuple[float | None, float | None, float | None] = _key(
        (0.10, 0.15, 0.20), _FRACTION3)
    daily_loss: tuple[float | None, float | None, float | None] = _key(
        (0.03, 0.04, 0.05), _FRACTION3)
    var: tuple[float | None, float | None, float | None] = _key(
        (None, None, None), _FRACTION3)
    realized_vol: tuple[float | None, float | None, float | None] = _key(
        (None, None, None), _Spec("triple", lo=0, open_low=True))
    consecutive_rejects: tuple[float | None, float | None, float | None] = _key(
        (2, 3, 5), _Spec("triple", lo=1, integer=True))
    staleness_bars: tuple[float | None, float | None, float | None] = _key(
        (1, 2, 3), _Spec("triple", lo=0, open_low=True))
    auto_recover: bool = _key(True, _BOOL)

    def __post_init__(self) -> None:
        _validate(self)


@dataclass(frozen=True)
class ApiConfig:
    """Control/health/metrics API.

    Attributes
    ----------
    host : str
        Bind address (a non-loopback address needs a token; the API refuses otherwise).
    port : int or None
        ``None``: no API; ``0``: any free port (printed at start).
    token_env : str
        Name of the environment variable holding the bearer token of the write endpoints.
    """

    host: str = _key("127.0.0.1", _STR)
    port: int | None = _key(None, _Spec("int", optional=True, lo=0, hi=65535, integer=True))
    token_env: str = _key("QUANTLAB_API_TOKEN", _STR)

    def __post_init__(self) -> None:
        _validate(self)


@dataclass(frozen=True)
class ExchangeConfig:
    """The ccxt exchange.

    Attributes
    ----------
    name : str
        ccxt exchange id (``binance``).
    api_key_env, secret_env : str
        Names of the environment variables holding the API key and secret.
    url : str or None
        Override of the REST base URL (e.g. the local fake exchange).
    sandbox : bool
        Use the exchange's testnet (ccxt ``set_sandbox_mode``).
    timeout_ms : int
        ccxt request timeout.
    rate_limit_ms : int or None
        Milliseconds between requests (None: ccxt's own limit for the exchange).
    timeframe : str or None
        Bar timeframe; default: the artifact's.
    """

    name: str = _key("binance", _STR)
    api_key_env: str = _key("QUANTLAB_API_KEY", _STR)
    secret_env: str = _key("QUANTLAB_API_SECRET", _STR)
    url: str | None = _key(None, _STR_OPT)
    sandbox: bool = _key(False, _BOOL)
    timeout_ms: int = _key(10000, _Spec("int", lo=1, integer=True))
    rate_limit_ms: int | None = _key(None, _Spec("int", optional=True, lo=0, integer=True))
    timeframe: str | None = _key(None, _Spec("timeframe", optional=True))

    def __post_init__(self) -> None:
        _validate(self)


@dataclass(frozen=True)
class OrderPolicy:
    """How orders are placed, cancelled and retried.

    Attributes
    ----------
    type : str
        ``market`` or ``limit``.
    limit_offset_bps : float
        Limit price offset from the last close, in the trader's favour.
    cancel_after_s : float
        Cancel an order still open after this many seconds.
    on_shutdown : str
        ``cancel`` open orders or ``wait`` for them to settle.
    max_retries : int
        Retries of a request that timed out or failed transiently (orders, and the data
        feed's requests: after them the feed counts as down, the runner keeps polling and the
        breaker's staleness trigger acts).
    retry_backoff_s : float
        First retry delay (doubled at each retry).
    """

    type: str = _key("market", _Spec("choice", choices=("market", "limit")))
    limit_offset_bps: float = _key(5.0, _NONNEG)
    cancel_after_s: float = _key(60.0, _POS)
    on_shutdown: str = _key("cancel", _Spec("choice", choices=("cancel", "wait")))
    max_retries: int = _key(3, _Spec("int", lo=0, integer=True))
    retry_backoff_s: float = _key(0.5, _NONNEG)

    def __post_init__(self) -> None:
        _validate(self)


@dataclass(frozen=True)
class _FeedSpec(_Spec):
    """``[runner] feed``: ``"exchange"`` or ``"engine:<path>"``."""

    def check(self, value: Any, name: str) -> Any:
        value = super().check(value, name)
        if value != "exchange" and not (value.startswith("engine:") and value[7:].strip()):
            raise ParameterError(f"{name}={value!r} must be \"exchange\" or "
                                 f"\"engine:<path to the data engine's bar store>\"")
        return value


@dataclass(frozen=True)
class RunnerConfig:
    """The runner loop.

    Attributes
    ----------
    initial_cash : float
        Starting cash in paper and replay modes.
    window : int or None
        Bars given to ``signals()``; default: the warm-up measured at promotion.
    poll_interval_s : float
        Longest wait between two polls of the exchange.
    state_dir : str
        Directory of the runner's SQLite state file.
    reconcile_tolerance : float
        Relative difference between stored and exchange balances tolerated at start.
    max_backfill_bars : int
        Most missed bars backfilled after a pause or restart.
    websocket : bool
        Wake up at each bar close from the exchange's websocket kline stream (ccxt.pro
        ``watch_ohlcv``) where it has one; REST polling otherwise or when it fails.
    feed : str
        Where closed bars come from: ``"exchange"`` (the ``[exchange]`` through ccxt) or
        ``"engine:<path>"`` (the bar store of ``quantlab data-engine``, read by
        :class:`~quantlab.live.feed_engine.EngineFeed`; paper and live modes).
    """

    initial_cash: float = _key(10_000.0, _POS)
    window: int | None = _key(None, _Spec("int", optional=True, lo=1, integer=True))
    poll_interval_s: float = _key(5.0, _POS)
    state_dir: str = _key("state", _STR)
    reconcile_tolerance: float = _key(1e-6, _NONNEG)
    max_backfill_bars: int = _key(1000, _Spec("int", lo=1, integer=True))
    websocket: bool = _key(True, _BOOL)
    feed: str = _key("exchange", _FeedSpec("str"))

    def __post_init__(self) -> None:
        _validate(self)


@dataclass(frozen=True)
class BudgetConfig:
    """The risk budget shared by several runners (:class:`quantlab.live.budget.SharedBudget`).

    Attributes
    ----------
    path : str or None
        SQLite file shared by the runners of one supervisor (e.g. ``state/budget.sqlite``);
        ``None`` (``"off"``): no shared budget.
    max_gross_exposure : float or None
        Quote currency: sum over every runner of ``|units| x price`` after the order.
    max_gross_leverage : float or None
        Gross exposure divided by the combined equity of the runners.
    var_limit : float or None
        One-bar EWMA VaR of the combined (netted) positions, as a fraction of the combined
        equity.
    max_drawdown : float or None
        Refuse entries once the combined equity is this fraction below its peak.
    stale_s : float
        A runner's book published longer ago than this still counts, but is flagged stale.
    """

    path: str | None = _key(None, _STR_OPT)
    max_gross_exposure: float | None = _key(None, _POS_OPT)
    max_gross_leverage: float | None = _key(None, _POS_OPT)
    var_limit: float | None = _key(None, _FRACTION)
    max_drawdown: float | None = _key(None, _FRACTION)
    stale_s: float = _key(3600.0, _POS)

    def __post_init__(self) -> None:
        _validate(self)


#: Section name -> its dataclass (also the order of :meth:`LiveConfig.to_dict`).
SECTIONS: dict[str, type] = {"risk": RiskLimits, "breaker": BreakerTriggers, "api": ApiConfig,
                             "exchange": ExchangeConfig, "orders": OrderPolicy,
                             "runner": RunnerConfig, "budget": BudgetConfig}


def section_keys(section: str) -> dict[str, KeySpec]:
    """The keys of one section with their specs."""
    return {f.name: f.metadata["spec"] for f in fields(SECTIONS[section])}


_keys = section_keys


_suggest = suggest
_validate = validate_fields


def env_names(section: str, key: str) -> list[str]:
    """Environment variables of one key, weakest first."""
    names = [key.upper()] if section == "risk" else []
    return [*names, f"QUANTLAB_{section.upper()}_{key.upper()}"]


_env_names = env_names


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


# --------------------------------------------------------------------------------------------
# the whole configuration


@dataclass(frozen=True)
class LiveConfig:
    """Everything ``quantlab live`` is configured with (see the module docstring).

    Attributes
    ----------
    risk, breaker, api, exchange, orders, runner, budget
        The seven sections.
    source : str
        Where the values came from (the file and the names of the environment variables
        used); not part of :meth:`to_dict` or :meth:`digest`.
    """

    risk: RiskLimits = field(default_factory=RiskLimits)
    breaker: BreakerTriggers = field(default_factory=BreakerTriggers)
    api: ApiConfig = field(default_factory=ApiConfig)
    exchange: ExchangeConfig = field(default_factory=ExchangeConfig)
    orders: OrderPolicy = field(default_factory=OrderPolicy)
    runner: RunnerConfig = field(default_factory=RunnerConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    source: str = field(default="defaults", compare=False)

    @classmethod
    def load(cls, path: str | Path | None = None,
             env: Mapping[str, str] | None = None) -> LiveConfig:
        """Defaults, overridden by the TOML file ``path``, overridden by the environment.

        Parameters
        ----------
        path : str or Path, optional
            TOML file (sections ``[risk] [breaker] [api] [exchange] [orders] [runner]
            [budget]``).
        env : Mapping, optional
            Environment variables; default ``os.environ``.

        Returns
        -------
        LiveConfig

        Raises
        ------
        DataError
            The file is missing, unreadable or not valid TOML.
        ParameterError
            Unknown section or key (naming the file, section and key), or a bad value (naming
            the key and value, or the environment variable).
        """
        env = os.environ if env is None else env
        values: dict[str, dict[str, Any]] = {s: {} for s in SECTIONS}
        sources: list[str] = []
        if path is not None:
            p = Path(path)
            for section, items in _read_toml(p).items():
                for key, value in items.items():
                    spec = _keys(section)[key]
                    try:
                        values[section][key] = spec.check(value, key)
                    except ParameterError as exc:
                        raise ParameterError(f"{p}: [{section}] {exc}") from None
            sources.append(str(p))
        used: list[str] = []
        for section in SECTIONS:
            for key, spec in _keys(section).items():
                for var in _env_names(section, key):
                    if var in env:
                        try:
                            values[section][key] = spec.check(spec.parse(env[var], key), key)
                        except ParameterError as exc:
                            raise ParameterError(
                                f"environment variable {var}={env[var]!r}: {exc}") from None
                        used.append(var)
        if used:
            sources.append("env " + ",".join(used))
        parts = {s: SECTIONS[s](**values[s]) for s in SECTIONS}
        return cls(**parts, source=" + ".join(sources) or "defaults")

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Every setting by section (JSON-safe; secrets appear only as variable *names*)."""
        return {s: {f.name: _jsonable(getattr(getattr(self, s), f.name))
                    for f in fields(SECTIONS[s])} for s in SECTIONS}

    def digest(self) -> str:
        """SHA-256 (hex) of the canonical JSON of :meth:`to_dict` (audited as "config")."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"),
                          allow_nan=False)
        return hashlib.sha256(text.encode()).hexdigest()

    def api_token(self, env: Mapping[str, str] | None = None) -> str | None:
        """The API bearer token from ``env[api.token_env]`` (None when unset or empty)."""
        env = os.environ if env is None else env
        return env.get(self.api.token_env) or None

    def api_credentials(self, env: Mapping[str, str] | None = None
                        ) -> tuple[str | None, str | None]:
        """``(api_key, secret)`` from the environment variables named in ``[exchange]``."""
        env = os.environ if env is None else env
        return (env.get(self.exchange.api_key_env) or None,
                env.get(self.exchange.secret_env) or None)


def _read_toml(p: Path) -> dict[str, dict[str, Any]]:
    """The file's sections, with unknown sections/keys refused."""
    data = read_toml(p, "live config file")
    for section, items in data.items():
        if section not in SECTIONS:
            raise ParameterError(f"{p}: unknown section [{section}] "
                                 f"({_suggest(section, list(SECTIONS))})")
        if not isinstance(items, dict):
            raise ParameterError(f"{p}: {section} must be a section [{section}], "
                                 f"not a value")
        keys = list(_keys(section))
        for key in items:
            if key not in keys:
                raise ParameterError(f"{p}: unknown key {key!r} in [{section}] "
                                     f"({_suggest(key, keys)})")
    return data

