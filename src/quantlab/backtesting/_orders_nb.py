"""Signals -> orders for the fast simulation path (numba, cached on disk).

vectorbt's ``Portfolio.from_signals`` simulator takes function arguments, so numba cannot cache
it and every new process pays its JIT (~6 s). For long-only signal strategies without stops or
shared cash, the same fills come from ``Portfolio.from_orders`` (cached) once the entry/exit
events are resolved into orders the way ``from_signals`` resolves them:

- an entry while flat buys (size from the sizing rule), an exit while long sells everything;
- entries while long, exits while flat, and bars with both an entry and an exit are ignored
  (vectorbt's defaults: no accumulation, ``upon_long_conflict="ignore"``);
- an order on a bar whose price is NaN, or an entry of size 0/NaN, does not fill, so the
  position does not change.

The test suite checks that both routes give identical orders and equity.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["signal_orders_nb"]


@njit(cache=True)
def signal_orders_nb(entries: np.ndarray, exits: np.ndarray, price: np.ndarray,
                     size: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """Order sizes (NaN = no order, +size = buy, -inf = sell all) for each bar and column.

    All inputs are 2-D (bars x columns) and may be broadcast views.
    """
    rows, cols = entries.shape
    out = np.full((rows, cols), np.nan)
    for c in range(cols):
        long = False
        for i in range(rows):
            e = entries[i, c]
            x = exits[i, c]
            if e and x:
                continue
            if np.isnan(price[i, c]):
                continue
            if not long and e:
                s = size[i, c]
                if np.isnan(s) or s <= 0.0:
                    continue
                out[i, c] = s
                long = True
            elif long and x:
                out[i, c] = -np.inf
                long = False
    return out
