"""The runner's model: the backtest simulator's state, stepped one closed bar at a time.

A signal strategy on several symbols with ``allocation="sleeves"`` trades one account per
asset (capital split equally), exactly as :func:`quantlab.backtest` does; everything else is one
account. :class:`LiveModel` hides that: it steps every account by one bar with one row of the
signal block, numbers the records by asset, projects the positions its pending orders lead to
(the *target*), and serializes to bytes for the store.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import numpy as np

from quantlab.backtesting.sim import kernel
from quantlab.backtesting.sim.state import SimState
from quantlab.errors import StateError

__all__ = ["LiveModel", "no_signal_row"]


def no_signal_row(n: int) -> np.ndarray:
    """A signal block row that decides nothing (no entries/exits, no rebalance)."""
    row = np.zeros((n, kernel.N_SIG))
    row[:, kernel.SIG_SIZE] = 1.0
    for f in (kernel.SIG_EXIT_SIZE, kernel.SIG_LIMIT, kernel.SIG_STOP, kernel.SIG_WEIGHT):
        row[:, f] = np.nan
    return row


@dataclass
class LiveModel:
    """One or several simulator accounts over ``n`` assets.

    Attributes
    ----------
    states : list[SimState]
        One state over all assets, or one single-asset state per sleeve.
    """

    states: list[SimState]

    @classmethod
    def new(cls, n_assets: int, init_cash: float, params: np.ndarray, sleeves: bool) -> LiveModel:
        """A flat model with ``init_cash`` (split equally between sleeves)."""
        if sleeves and n_assets > 1:
            return cls([SimState.new(1, init_cash / n_assets, params) for _ in range(n_assets)])
        return cls([SimState.new(n_assets, init_cash, params)])

    @property
    def sleeves(self) -> bool:
        """True when every asset has its own account."""
        return len(self.states) > 1

    @property
    def n_assets(self) -> int:
        """Number of assets."""
        return sum(s.assets.shape[0] for s in self.states)

    @property
    def bar(self) -> int:
        """Bars stepped so far."""
        return self.states[0].bar

    @property
    def equity(self) -> float:
        """Equity after the last close (all accounts)."""
        return float(sum(s.equity for s in self.states))

    @property
    def cash(self) -> float:
        """Cash after the last bar (all accounts)."""
        return float(sum(s.cash for s in self.states))

    @property
    def positions(self) -> np.ndarray:
        """Signed units per asset."""
        return np.concatenate([s.positions for s in self.states])

    def _split(self, values: np.ndarray) -> list[np.ndarray]:
        if not self.sleeves:
            return [values]
        return [values[j:j + 1] for j in range(len(self.states))]

    def step(self, open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray,
             row: np.ndarray) -> np.ndarray:
        """Advance every account by one bar; records with ``REC_COL`` = asset index."""
        parts = []
        for j, (state, o, h, lo, c, r) in enumerate(zip(
                self.states, self._split(open_), self._split(high), self._split(low),
                self._split(close), self._split(row), strict=True)):
            rec = state.step_block(o, h, lo, c, r)
            if self.sleeves:
                rec[:, kernel.REC_COL] = j
            parts.append(rec)
        return np.concatenate(parts) if parts else np.empty((0, kernel.N_REC))

    def projected(self, price: np.ndarray) -> np.ndarray:
        """Units per asset once the pending orders fill at ``price`` (the target after the
        next open, estimated at the last close). The model itself is not changed."""
        out = []
        for state, px in zip(self.states, self._split(np.asarray(price, dtype=float)), strict=True):
            trial = state.copy()
            n = trial.assets.shape[0]
            trial.step_block(px, px, px, px, no_signal_row(n))
            out.append(trial.positions)
        return np.concatenate(out)

    def pending(self) -> np.ndarray:
        """Pending action per asset (``kernel.ACT_*``)."""
        return np.concatenate([s.assets[:, kernel.X_PEND] for s in self.states]).astype(int)

    def _locate(self, j: int) -> tuple[SimState, int]:
        if self.sleeves:
            return self.states[j], 0
        return self.states[0], j

    def cancel_pending(self, j: int) -> None:
        """Drop asset ``j``'s pending order (refused by the risk guard or the breaker)."""
        state, i = self._locate(j)
        state.assets[i, kernel.X_PEND] = kernel.ACT_NONE
        state.assets[i, kernel.X_PEND_SIZE] = np.nan
        state.assets[i, kernel.X_PEND_LEVEL] = np.nan
        state.assets[i, kernel.X_PEND_AGE] = 0.0
        state.assets[i, kernel.X_PEND_KIND] = kernel.KIND_MARKET

    def close_pending(self, j: int) -> None:
        """Replace asset ``j``'s pending order by closing its whole position at the next open."""
        state, i = self._locate(j)
        self.cancel_pending(j)
        if state.assets[i, kernel.X_POS] != 0.0:
            state.assets[i, kernel.X_PEND] = kernel.ACT_CLOSE
            state.assets[i, kernel.X_PEND_SIZE] = 1.0

    def to_bytes(self) -> bytes:
        """All accounts as bytes (a JSON header + each state's ``.npz``)."""
        blobs = [s.to_bytes() for s in self.states]
        header = json.dumps({"sizes": [len(b) for b in blobs]}).encode()
        buf = io.BytesIO()
        buf.write(len(header).to_bytes(4, "big"))
        buf.write(header)
        for b in blobs:
            buf.write(b)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> LiveModel:
        """Restore a model written by :meth:`to_bytes`."""
        try:
            size = int.from_bytes(data[:4], "big")
            sizes = json.loads(data[4:4 + size])["sizes"]
        except (ValueError, KeyError, TypeError) as exc:
            raise StateError(f"saved model state is damaged: {exc}") from None
        pos, states = 4 + size, []
        for n in sizes:
            states.append(SimState.from_bytes(data[pos:pos + n]))
            pos += n
        if not states or pos != len(data):
            raise StateError("saved model state is damaged: sizes do not add up")
        return cls(states)
