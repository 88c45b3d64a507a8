"""Reading request parameters the way Binance validates them (error codes and messages)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal

from quantlab.live.fake_exchange.errors import ApiError, mandatory

__all__ = ["client_id", "decimal", "integer", "required"]

_DECIMAL = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
_CLIENT_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")


def required(params: Mapping[str, str], name: str) -> str:
    """The parameter's value (-1102 when missing or empty)."""
    value = params.get(name, "")
    if value == "":
        raise mandatory(name)
    return value


def decimal(params: Mapping[str, str], name: str) -> Decimal | None:
    """A non-negative decimal parameter, None when absent (-1100 when malformed)."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if not _DECIMAL.match(value):
        raise ApiError(
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is "
            "'^([0-9]{1,20})(\\.[0-9]{1,20})?$'.",
        )
    return Decimal(value)


def integer(params: Mapping[str, str], name: str) -> int | None:
    """An integer parameter, None when absent (-1100 when malformed)."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if not value.lstrip("-").isdigit():
        raise ApiError(-1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.")
    return int(value)


def client_id(params: Mapping[str, str], name: str) -> str | None:
    """A client order id parameter (Binance's pattern), None when absent."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if not _CLIENT_ID.match(value):
        raise ApiError(
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is "
            "'^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.",
        )
    return value
