"""Shared fixtures of the portfolio tests."""

from __future__ import annotations

import pandas as pd
import pytest


@pytest.fixture(scope="session")
def returns() -> pd.DataFrame:
    """Daily simple returns of the eight bundled pairs (rows before AVAX is listed dropped)."""
    from quantlab.data import load_sample, sample_symbols
    from quantlab.risk.returns import returns_from_prices

    return returns_from_prices(load_sample(sample_symbols())["close"])
