"""Binance error answers: ``{"code": -2010, "msg": "..."}`` with the HTTP status Binance uses."""

from __future__ import annotations

from typing import Any

__all__ = ["ApiError", "duplicate_order", "insufficient_balance", "mandatory"]


class ApiError(Exception):
    """An error the fake exchange answers with (not a quantlab user mistake).

    Parameters
    ----------
    code : int
        Binance error code, e.g. ``-2010``.
    msg : str
        Binance's message text (ccxt maps some messages and codes to its exceptions).
    status : int
        HTTP status (400 for most request errors, 401 for a rejected API key).
    """

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg
        self.status = status

    def body(self) -> dict[str, Any]:
        """The JSON body Binance sends."""
        return {"code": self.code, "msg": self.msg}


def mandatory(name: str) -> ApiError:
    """-1102: a required parameter is missing."""
    return ApiError(
        -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def insufficient_balance() -> ApiError:
    """-2010: the account cannot pay for the order (ccxt: ``InsufficientFunds``)."""
    return ApiError(-2010, "Account has insufficient balance for requested action.")


def duplicate_order() -> ApiError:
    """-2010: a client order id already used by an open order (ccxt: ``InvalidOrder``)."""
    return ApiError(-2010, "Duplicate order sent.")
