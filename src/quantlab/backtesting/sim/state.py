"""A saved simulator state that advances one bar at a time: the paper broker's and replay's engine.

:class:`SimState` wraps the kernel's state arrays (account, assets, parameters) with the bar
counter, steps them through :func:`~.kernel.step` — the very function a backtest loops over —
and serializes them to bytes (``.npz``) so a runner can persist its state after every bar and
resume after a restart with identical fills.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np

from quantlab.backtesting.sim import kernel
from quantlab.backtesting.sim.kernel import init_account, init_assets, step
from quantlab.errors import DataError

__all__ = ["SimState"]

_SIGNALS = {"entries": kernel.SIG_ENTRY, "exits": kernel.SIG_EXIT,
            "short_entries": kernel.SIG_SHORT_ENTRY, "short_exits": kernel.SIG_SHORT_EXIT,
            "size": kernel.SIG_SIZE, "exit_size": kernel.SIG_EXIT_SIZE, "limit": kernel.SIG_LIMIT,
            "stop": kernel.SIG_STOP, "weight": kernel.SIG_WEIGHT}


def _row(value: Any, n: int, name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise DataError(f"{name} needs {n} value(s) (one per asset), got shape {arr.shape}")
    return np.ascontiguousarray(arr)


@dataclass
class SimState:
    """One account's simulator state between bars.

    Attributes
    ----------
    account : ndarray
        float64[N_ACCT]: cash and equity.
    assets : ndarray
        float64[n, N_ASSET]: position, entry, trailing extreme, pending order, last close, ...
    params : ndarray
        float64[N_PARAM] from :func:`quantlab.backtesting.sim.make_params`.
    bar : int
        Number of bars stepped so far (the next bar's number in the records).
    """

    account: np.ndarray
    assets: np.ndarray
    params: np.ndarray
    bar: int = 0

    @classmethod
    def new(cls, n_assets: int, init_cash: float, params: np.ndarray) -> SimState:
        """A flat account with ``init_cash`` and ``n_assets`` assets."""
        return cls(init_account(float(init_cash)), init_assets(int(n_assets)),
                   np.ascontiguousarray(params, dtype=np.float64))

    @property
    def cash(self) -> float:
        """Cash after the last bar."""
        return float(self.account[kernel.A_CASH])

    @property
    def equity(self) -> float:
        """Equity after the last bar's close."""
        return float(self.account[kernel.A_EQUITY])

    @property
    def positions(self) -> np.ndarray:
        """Signed units held per asset."""
        return self.assets[:, kernel.X_POS].copy()

    def step(self, open_: Any, high: Any, low: Any, close: Any, **signals: Any) -> np.ndarray:
        """Advance by one bar and return its order records (``kernel.REC_*`` columns).

        Prices are one value per asset (NaN: no price on this bar). ``signals`` are this bar's
        close decisions per asset, by name: ``entries, exits, short_entries, short_exits``
        (booleans), ``size`` (fraction of equity, default 1), ``exit_size``, ``limit``,
        ``stop``, ``weight`` (see :class:`quantlab.strategies.Signals`).
        """
        n = self.assets.shape[0]
        unknown = sorted(set(signals) - set(_SIGNALS))
        if unknown:
            raise DataError(f"unknown signal {unknown[0]!r} (signals: {', '.join(_SIGNALS)})")
        sig = np.zeros((n, kernel.N_SIG))
        sig[:, kernel.SIG_SIZE] = 1.0
        for name in ("exit_size", "limit", "stop", "weight"):
            sig[:, _SIGNALS[name]] = np.nan
        for name, value in signals.items():
            if value is not None:
                sig[:, _SIGNALS[name]] = _row(value, n, name)
        return self.step_block(open_, high, low, close, sig)

    def step_block(self, open_: Any, high: Any, low: Any, close: Any, sig: np.ndarray) -> np.ndarray:
        """Like :meth:`step` with the signals as the kernel's raw block ``float64[n, N_SIG]``
        (one row of :func:`quantlab.backtesting.simulation.signal_block`)."""
        n = self.assets.shape[0]
        sig = np.ascontiguousarray(sig, dtype=np.float64)
        if sig.shape != (n, kernel.N_SIG):
            raise DataError(f"signal block needs shape {(n, kernel.N_SIG)}, got {sig.shape}")
        out = np.empty((n * kernel.MAX_REC_PER_ASSET, kernel.N_REC))
        k = step(self.account, self.assets, sig, _row(open_, n, "open"), _row(high, n, "high"),
                 _row(low, n, "low"), _row(close, n, "close"), self.bar, self.params, out)
        self.bar += 1
        return out[:k].copy()

    def copy(self) -> SimState:
        """An independent copy (for what-if steps that must not touch this state)."""
        return SimState(self.account.copy(), self.assets.copy(), self.params.copy(), self.bar)

    def to_bytes(self) -> bytes:
        """The state as ``.npz`` bytes (exact: float64 arrays, NaN kept)."""
        buf = io.BytesIO()
        np.savez(buf, account=self.account, assets=self.assets, params=self.params,
                 bar=np.array([self.bar], dtype=np.int64))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> SimState:
        """Restore a state written by :meth:`to_bytes`."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                account, assets, params = z["account"], z["assets"], z["params"]
                bar = int(z["bar"][0])
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(f"not a saved simulator state: {exc}") from None
        if (account.shape != (kernel.N_ACCT,) or assets.ndim != 2
                or assets.shape[1] != kernel.N_ASSET or params.shape != (kernel.N_PARAM,)):
            raise DataError("saved simulator state has the wrong layout (another quantlab version?)")
        return cls(np.ascontiguousarray(account), np.ascontiguousarray(assets),
                   np.ascontiguousarray(params), bar)
