"""Fixtures of the data tests: a local fake Binance server (never the internet)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.data.fake_binance import FakeBinance


@pytest.fixture
def fake_binance() -> Iterator[FakeBinance]:
    """A fresh fake Binance spot server on 127.0.0.1 (random port)."""
    server = FakeBinance().start()
    try:
        yield server
    finally:
        server.stop()
