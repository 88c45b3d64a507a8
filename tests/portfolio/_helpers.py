"""Small inputs shared by the optimiser tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def dummy_returns(n: int, rows: int = 40, seed: int = 0) -> pd.DataFrame:
    """Random returns (only their shape matters when a covariance matrix is given)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(0, 0.01, (rows, n)), columns=[f"A{i}" for i in range(n)])


def rc(w: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Risk contributions ``w_i (Sw)_i / w'Sw`` computed directly."""
    return w * (s @ w) / (w @ s @ w)
