"""The whole stack as the issue's "done when" describes it: ``quantlab serve`` starting the data
engine and two paper runners that take their bars from it, with the REST API and metrics.

Everything is real and local: the fake Binance (REST + websocket) on 127.0.0.1, ``quantlab serve``
as a subprocess, which starts ``quantlab data-engine`` and two ``quantlab live --mode paper``
children (``[runner] feed = "engine:..."``). The test checks that every component comes up
healthy, that the runners decide on exactly the bars the engine served, and that the supervisor's
metrics and the engine's own health are served; then a SIGTERM stops everything cleanly.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from quantlab.live.audit import verify_audit
from quantlab.live.fake_exchange import T0, FakeBinance, SyntheticCandles
from tests.live.helpers import live_config, promote_flip
from tests.serve.test_supervisor import Serve, call, child_env, until


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _decided_bars(state: Path) -> list[str]:
    con = sqlite3.connect(state)
    try:
        rows = con.execute("SELECT payload FROM audit WHERE kind = 'decision'").fetchall()
    finally:
        con.close()
    import json

    return [json.loads(r[0])["bar"] for r in rows]


def _served_bars(store: Path, symbol: str) -> set[str]:
    import pandas as pd

    con = sqlite3.connect(store)
    try:
        rows = con.execute("SELECT open_ms FROM bars WHERE symbol = ?", (symbol,)).fetchall()
    finally:
        con.close()
    return {pd.Timestamp(r[0], unit="ms", tz="UTC").isoformat() for r in rows}


def test_serve_starts_engine_and_two_paper_runners_fed_by_it(tmp_path) -> None:
    fake = FakeBinance(SyntheticCandles("1m"), now_ms=T0 + 200 * 60_000 + 5_000,
                       speed=60).start()
    serve = None
    engine_port = _free_port()
    try:
        promote_flip(tmp_path / "strategies", name="flip_btc", period=2)
        promote_flip(tmp_path / "strategies", name="flip_eth", period=3, symbols=["ETH/USDT"])
        live = live_config(tmp_path / "live.toml", fake.url,
                           runner={"feed": "engine:state/bars-spot.sqlite"})
        (tmp_path / "engine.toml").write_text(
            "[engine]\ngroup = \"spot\"\nsymbols = [\"BTC/USDT\", \"ETH/USDT\"]\n"
            "timeframe = \"1m\"\nstate_dir = \"state\"\nbackfill_bars = 30\n"
            f"poll_interval_s = 0.1\nport = {engine_port}\n"
            f"[[source]]\nname = \"binance\"\nexchange = \"binance\"\nurl = \"{fake.url}\"\n"
            "rate_limit_ms = 0\n")
        (tmp_path / "serve.toml").write_text(
            "[serve]\nport = 0\nhealth_interval_s = 0.3\nrestart_backoff_s = 0.2\n"
            "stop_timeout_s = 30\n"
            f"[live]\nconfig = \"{live.name}\"\n"
            "[components.data_engine]\nenabled = true\n"
            "command = [\"quantlab\", \"data-engine\", \"--config\", \"engine.toml\"]\n"
            f"health_url = \"http://127.0.0.1:{engine_port}/health\"\n"
            "[[runner]]\nname = \"flip_btc\"\n[[runner]]\nname = \"flip_eth\"\n")
        token = "tok-" + os.urandom(12).hex()
        serve = Serve([], child_env({"QUANTLAB_API_TOKEN": token}), tmp_path)
        url = serve.url()

        def comps() -> dict[str, dict]:
            return {c["name"]: c for c in call(url + "/api/components").json()["components"]}

        until("engine and runners running and healthy",
              lambda: call(url + "/api/health").json()["status"] == "healthy"
              and {n: c["state"] for n, c in comps().items()}
              == {"data_engine": "running", "flip_btc": "running", "flip_eth": "running"},
              timeout=120)
        by_name = comps()
        ports = {n: by_name[n]["port"] for n in ("flip_btc", "flip_eth")}
        until("both runners processed bars from the engine",
              lambda: all(call(f"http://127.0.0.1:{p}/status").json()["bars_processed"] >= 3
                          for p in ports.values()), timeout=120)
        engine = call(f"http://127.0.0.1:{engine_port}/health").json()
        assert engine["status"] == "healthy"
        metrics = call(url + "/api/metrics").body.decode()
        for name in ("data_engine", "flip_btc", "flip_eth"):
            assert f'quantlab_component_up{{component="{name}"}} 1.0' in metrics
        status = call(url + "/api/status").json()
        assert token not in str(status)
        assert serve.stop() == 0
    finally:
        if serve is not None:
            serve.kill()
        fake.stop()
    store = tmp_path / "state" / "bars-spot.sqlite"
    for name, symbol in (("flip_btc", "BTC/USDT"), ("flip_eth", "ETH/USDT")):
        state = tmp_path / "state" / f"{name}-paper.sqlite"
        decided = _decided_bars(state)
        assert len(decided) >= 3
        assert set(decided) <= _served_bars(store, symbol)  # every decision on a served bar
        assert verify_audit(state).ok
    assert verify_audit(tmp_path / "state" / "serve.sqlite").ok
