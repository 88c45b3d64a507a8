"""``quantlab live``: build a runner from a promoted artifact and run it until told to stop.

:func:`run_live` loads the artifact through the verifying loader (a hash mismatch stops it
before anything else), reads the configuration (TOML + environment), opens the state file
``state/<name>-<mode>.sqlite``, picks the feed (history for replay, the exchange through
``ccxt.async_support`` otherwise) and the broker (paper for replay and paper, ccxt for live),
starts the control/metrics API when a port is configured, and runs the bar loop. SIGTERM and
SIGINT stop it cleanly (no new decisions, in-flight orders settled or cancelled per policy,
state persisted, exit 0); SIGUSR1 halts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from quantlab.backtesting.options import BacktestOptions
from quantlab.errors import ArtifactError, UsageError
from quantlab.live.config import LiveConfig
from quantlab.live.decide import window_size
from quantlab.live.feed import ReplayFeed
from quantlab.live.metrics import LiveMetrics
from quantlab.live.result import LiveRun
from quantlab.live.runner import LiveRunner, RunnerIdentity
from quantlab.live.store import LiveStore

__all__ = ["MODES", "LiveRun", "normalize_mode", "run_live", "state_path"]

MODES = ("replay", "paper", "live")
#: The seed configuration's names for the modes.
ALIASES = {"backtest": "replay", "simulation": "paper"}


def normalize_mode(mode: str) -> str:
    """``replay``, ``paper`` or ``live`` (``backtest`` and ``simulation`` are aliases)."""
    m = ALIASES.get(mode.lower(), mode.lower())
    if m not in MODES:
        raise UsageError(f"unknown mode {mode!r}: use replay, paper or live "
                         "(or the aliases backtest, simulation)")
    return m


def state_path(name: str, mode: str, state_dir: str | Path = "state") -> Path:
    """Default state file of a runner: ``state/<name>-<mode>.sqlite``."""
    return Path(state_dir) / f"{name}-{mode}.sqlite"


def _manifest_info(promoted: Any) -> tuple[list[str], str, str | None, dict[str, Any], int]:
    val = promoted.manifest.get("validation") or {}
    data = val.get("data") or {}
    symbols = data.get("symbols")
    if not symbols:
        raise ArtifactError(f"{promoted.path}: manifest has no data symbols")
    return (list(symbols), str(data.get("timeframe") or "1d"), data.get("exchange"),
            dict(val.get("options") or {}), int(val.get("warmup_bars") or 1))


def _replay_bars(symbols: list[str], exchange: str | None, timeframe: str,
                 data_dir: str | Path) -> pd.DataFrame:
    from quantlab.data import load

    target: str | list[str] = symbols[0] if len(symbols) == 1 else symbols
    return load(target, exchange=exchange, timeframe=timeframe, data_dir=data_dir)


async def _serve(runner: LiveRunner, config: LiveConfig, env: Mapping[str, str],
                 on_ready: Callable[[str], None] | None) -> Any:
    if config.api.port is None:
        return None
    from quantlab.live.api import ControlServer

    server = ControlServer(runner, runner.metrics, host=config.api.host, port=config.api.port,
                           token=config.api_token(env))
    url = await server.start()
    if on_ready is not None:
        on_ready(url)
    return server


def _install_signals(runner: LiveRunner) -> None:
    loop = asyncio.get_running_loop()

    tasks: set[asyncio.Task[Any]] = set()

    def halt() -> None:
        task = asyncio.ensure_future(runner.halt("SIGUSR1 received", "signal"))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGTERM, runner.stop_event.set)
        loop.add_signal_handler(signal.SIGINT, runner.stop_event.set)
        loop.add_signal_handler(signal.SIGUSR1, halt)


def run_live(name: str, version: int | str | None = None, *, mode: str = "paper",
             config: str | Path | None = None, exchange: str | None = None,
             state: str | Path | None = None, root: str | Path = "strategies",
             data_dir: str | Path = "data", start: Any = None, end: Any = None,
             risk_in_replay: bool = False, resume: bool = False,
             max_bars: int | None = None, env: Mapping[str, str] | None = None,
             on_ready: Callable[[str], None] | None = None,
             say: Callable[[str], None] | None = None) -> LiveRun:
    """Run a promoted strategy in replay, paper or live mode until it ends or is stopped.

    Parameters
    ----------
    name, version : str, int or str, optional
        The promoted strategy (default: its latest version).
    mode : {"replay", "paper", "live"}
        Aliases ``backtest`` (replay) and ``simulation`` (paper) are accepted.
    config : path, optional
        TOML configuration (see ``live.example.toml``); environment variables override it.
    exchange : str, optional
        ccxt exchange id (overrides ``[exchange] name``).
    state : path, optional
        State file (default ``<state_dir>/<name>-<mode>.sqlite``).
    root, data_dir : path
        Folder of promoted strategies; data cache (replay of cached exchange data).
    start, end : date-like, optional
        Replay only this period (the bars before ``start`` still fill the decision window).
    risk_in_replay : bool
        Apply the risk guard, circuit breaker and shared budget (``[budget] path``) in replay
        too (off by default, so a replay reproduces the backtest).
    resume : bool
        Replay: continue an existing replay state instead of starting afresh.
    max_bars : int, optional
        Stop after this many processed bars.
    env : mapping, optional
        Environment (default ``os.environ``): overrides, API token, exchange credentials.
    on_ready : callable, optional
        Called with the control API's URL once it listens.
    say : callable, optional
        Progress messages.
    """
    import os

    from quantlab.promote.artifact import load_promoted

    env = os.environ if env is None else env
    mode = normalize_mode(mode)
    promoted = load_promoted(name, version, root=root)
    symbols, timeframe, data_exchange, options, warmup = _manifest_info(promoted)
    opts = BacktestOptions.from_kwargs(**options)
    cfg = LiveConfig.load(config, env)
    win = window_size(warmup, opts, cfg.runner.window)
    path = Path(state) if state is not None else state_path(promoted.name, mode,
                                                            cfg.runner.state_dir)
    if mode == "replay" and not resume:
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    ident = RunnerIdentity(promoted.name, promoted.version, mode, tuple(symbols),
                           cfg.exchange.timeframe or timeframe,
                           promoted.manifest.get("strategy_sha256", ""))
    return asyncio.run(_main(ident, promoted, opts, cfg, path, win, mode=mode,
                             exchange=exchange, data_exchange=data_exchange, data_dir=data_dir,
                             start=start, end=end, risk_in_replay=risk_in_replay,
                             max_bars=max_bars, env=env, on_ready=on_ready, say=say))


async def _main(ident: RunnerIdentity, promoted: Any, opts: BacktestOptions, cfg: LiveConfig,
                path: Path, win: int, *, mode: str, exchange: str | None,
                data_exchange: str | None, data_dir: str | Path, start: Any, end: Any,
                risk_in_replay: bool, max_bars: int | None, env: Mapping[str, str],
                on_ready: Callable[[str], None] | None,
                say: Callable[[str], None] | None) -> LiveRun:
    from quantlab.data.timeframes import timeframe_ms

    symbols = list(ident.symbols)
    ex = None
    feed: Any = None
    broker = None
    secrets = [s for s in (*cfg.api_credentials(env), cfg.api_token(env)) if s]
    store = LiveStore.open(path, secrets=secrets)
    server = None
    budget = None
    try:
        if mode == "replay":
            bars = _replay_bars(symbols, data_exchange, ident.timeframe, data_dir)
            if end is not None:
                bars = bars.loc[:pd.Timestamp(end, tz="UTC") if pd.Timestamp(end).tzinfo is None
                                else pd.Timestamp(end)]
            feed = ReplayFeed(bars, symbols)
            if start is not None:
                ts = pd.Timestamp(start)
                ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts
                before = bars.index[bars.index < ts]
                if len(before):
                    feed.skip_to(int(before[-1].value // 1_000_000))
            from quantlab.data.timeframes import periods_per_year

            ppy = periods_per_year(bars.index)
            init_cash = opts.init_cash
        else:
            from quantlab.live.exchange import make_exchange
            from quantlab.live.feed_ws import make_feed

            creds = cfg.api_credentials(env) if mode == "live" else (None, None)
            if mode == "live" and not all(creds):
                raise UsageError(f"--mode live needs exchange credentials in the environment "
                                 f"variables {cfg.exchange.api_key_env} and "
                                 f"{cfg.exchange.secret_env}")
            ex = make_exchange(cfg.exchange, exchange, credentials=creds)
            if cfg.runner.feed.startswith("engine:"):  # bars from quantlab data-engine
                from quantlab.live.feed_engine import EngineFeed, engine_feed_path

                feed = EngineFeed(engine_feed_path(cfg.runner.feed), symbols, ident.timeframe,
                                  max_backfill=cfg.runner.max_backfill_bars)
            else:
                feed = make_feed(ex, symbols, ident.timeframe, websocket=cfg.runner.websocket,
                                 poll_interval=cfg.runner.poll_interval_s,
                                 max_backfill=cfg.runner.max_backfill_bars,
                                 max_retries=cfg.orders.max_retries + 1,
                                 retry_backoff=max(cfg.orders.retry_backoff_s, 0.01))
            await feed.start()
            ppy = 365 * 86_400_000 / timeframe_ms(ident.timeframe)
            init_cash = cfg.runner.initial_cash
            if mode == "live":
                from quantlab.live.brokers.ccxt_broker import CcxtBroker

                broker = CcxtBroker(ex, symbols, cfg.orders,
                                    tolerance=cfg.runner.reconcile_tolerance)
        metrics = LiveMetrics(ident.name, mode, str(ident.version))
        halt_file = path.with_suffix(".halt")
        guard = mode != "replay" or risk_in_replay
        if cfg.budget.path is not None and guard:
            from quantlab.live.budget import SharedBudget

            budget = SharedBudget(cfg.budget.path, path.stem, cfg.budget,
                                  var_confidence=cfg.risk.var_confidence,
                                  ewma_lambda=cfg.risk.ewma_lambda)
        runner = LiveRunner(ident, promoted.strategy, opts, cfg, store, feed, metrics,
                            window=win, init_cash=init_cash, ppy=ppy, broker=broker,
                            halt_file=halt_file, guard_enabled=guard, budget=budget)
        runner.max_bars = max_bars
        _install_signals(runner)
        await runner.start()
        server = await _serve(runner, cfg, env, on_ready)
        if say is not None:
            say(f"{ident.name}@{ident.version} {mode} on {', '.join(symbols)} "
                f"{ident.timeframe}; state {path}")
        watcher = asyncio.ensure_future(runner.watch_halt_file())
        try:
            await runner.run()
        finally:
            runner.stop_event.set()
            await watcher
        if broker is not None:
            await broker.shutdown(runner)
        with store.transaction():
            store.audit.append("stop", {"bars": runner.bars_done,
                                        "last_bar": runner.status()["last_bar"]})
        st = runner.status()
        return LiveRun.from_store(store, name=ident.name, version=ident.version, mode=mode,
                                  bars=runner.bars_done, breaker=st["breaker"]["name"],
                                  last_bar=st["last_bar"],
                                  submit_latency=tuple(runner.submit_latency),
                                  api_url=server.url if server is not None else None)
    finally:
        if server is not None:
            await server.stop()
        if feed is not None:
            await feed.close()
        if ex is not None:
            await ex.close()
        if budget is not None:
            budget.close()
        store.close()

