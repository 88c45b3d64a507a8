"""The runner's ccxt exchange: ``ccxt.async_support``, credentials from the environment.

API keys are read from the environment variables the configuration names (never from the
config file, never logged); ``[exchange] url`` points every REST endpoint of the exchange at
another base URL — the local fake exchange, a proxy or a testnet gateway.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from quantlab.errors import UsageError
from quantlab.live.config import ExchangeConfig

__all__ = ["make_exchange", "point_at"]


def point_at(exchange: Any, url: str) -> None:
    """Send every REST API of ``exchange`` to ``url`` (scheme + host + port), keeping paths."""
    base = url.rstrip("/")

    def rewrite(value: Any) -> Any:
        if isinstance(value, str) and value.startswith("http"):
            parts = value.split("/", 3)
            return base + ("/" + parts[3] if len(parts) > 3 else "")
        if isinstance(value, dict):
            return {k: rewrite(v) for k, v in value.items()}
        return value

    exchange.urls["api"] = rewrite(exchange.urls["api"])


def make_exchange(cfg: ExchangeConfig, name: str | None = None, *,
                  credentials: tuple[str | None, str | None] = (None, None),
                  options: Mapping[str, Any] | None = None) -> Any:
    """An async ccxt exchange from the ``[exchange]`` section.

    Parameters
    ----------
    cfg : ExchangeConfig
        Exchange name, URL override, sandbox flag, timeout.
    name : str, optional
        Overrides ``cfg.name`` (the ``--exchange`` option).
    credentials : (api_key, secret)
        From :meth:`LiveConfig.api_credentials`; None for market data only.
    options : mapping, optional
        Extra ccxt options.

    Raises
    ------
    UsageError
        If ccxt has no exchange of that name.
    """
    import ccxt.async_support as ccxt_async

    exchange_id = (name or cfg.name).lower()
    cls = getattr(ccxt_async, exchange_id, None)
    if cls is None or exchange_id not in ccxt_async.exchanges:
        raise UsageError(f"ccxt has no exchange {exchange_id!r}")
    config: dict[str, Any] = {"enableRateLimit": True, "timeout": int(cfg.timeout_ms),
                              "options": {"defaultType": "spot", **(options or {})}}
    if exchange_id == "binance":
        config["options"].setdefault("fetchMarkets", {"types": ["spot"]})
        config["options"].setdefault("fetchCurrencies", False)
    if cfg.rate_limit_ms is not None:
        config["rateLimit"] = int(cfg.rate_limit_ms)
    key, secret = credentials
    if key and secret:
        config["apiKey"], config["secret"] = key, secret
    exchange = cls(config)
    if cfg.sandbox:
        exchange.set_sandbox_mode(True)
    if cfg.url:
        point_at(exchange, cfg.url)
    return exchange
