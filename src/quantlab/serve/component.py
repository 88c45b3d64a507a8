"""One supervised component (:class:`Component`): start, health checks, restarts, critical.

A component runs a loop (one asyncio task) over its child process:

1. start the process (state ``starting``; ``running`` at once when it has no health URL);
2. poll its health URL every ``health_interval_s``: the first live answer makes it
   ``running``; a failed check makes it ``unhealthy``, ``unhealthy_after`` failures in a row
   (or no live answer within ``start_timeout_s`` of the start) stop it (SIGTERM, then
   SIGKILL after ``stop_timeout_s``) and count as a failure;
3. on a failure — the process exited (any exit code, unless its restart policy is
   ``on-failure`` and the code is 0) or became unhealthy — restart it after
   ``restart_backoff_s * 2**k`` seconds (``k`` the restarts already made within
   ``restart_window_s``, at most ``max_backoff_s``; state ``restarting``); once
   ``max_restarts`` restarts within the window are used up it is ``critical`` and stays
   stopped until an operator restarts it.

A component whose process ended normally under ``on-failure`` is ``stopped``; a daily job
(``at = "HH:MM"``) is ``waiting`` between runs. An operator restart starts it again at once and
forgets the restarts counted so far.

A live answer from a health URL is any HTTP status below 500, or 503 carrying a JSON
``status`` (a runner that is halted answers 503 "critical": alive, and its own report is kept
in :attr:`Component.health`, but restarting it would not lift the halt).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from quantlab.serve.config import ServeSettings
from quantlab.serve.metrics import STATES
from quantlab.serve.process import Child, RotatingLog
from quantlab.serve.specs import ComponentSpec

log = logging.getLogger(__name__)

__all__ = ["STATES", "Component", "next_run_at"]

#: ``notify(component, kind, payload)``: kinds ``state`` (not audited) and ``component_start``,
#: ``component_exit``, ``component_restart``, ``component_critical``.
Notify = Callable[["Component", str, dict[str, Any]], None]


def next_run_at(at: str, now: dt.datetime | None = None) -> dt.datetime:
    """The next UTC time ``"HH:MM"`` strictly after ``now`` (default: now)."""
    now = now or dt.datetime.now(dt.UTC)
    hh, mm = (int(x) for x in at.split(":"))
    run = now.replace(hour=hh, minute=mm, second=0, microsecond=0)
    return run if run > now else run + dt.timedelta(days=1)


class Component:
    """The runtime state and supervision loop of one component.

    Parameters
    ----------
    spec : ComponentSpec
        What to run.
    settings : ServeSettings
        Restart, health and log settings.
    log_dir : Path
        Folder of ``<name>.log``.
    http : aiohttp.ClientSession
        Session of the health checks.
    notify : callable
        ``notify(component, kind, payload)`` on every state change and lifecycle event.

    Attributes
    ----------
    state : str
        One of :data:`STATES`.
    pid : int or None
        Process id while a process runs.
    restarts : int
        Automatic restarts so far.
    exit_code : int or None
        Exit code of the last process (negative: killed by that signal).
    reason : str
        Why it was last restarted, stopped or marked critical.
    health : dict or None
        Last health answer: ``status``, ``reasons``, ``http``, ``checked_at``, ``failures``.
    """

    def __init__(self, spec: ComponentSpec, settings: ServeSettings, log_dir: Path,
                 http: aiohttp.ClientSession, notify: Notify) -> None:
        self.spec = spec
        self.name = spec.name
        self.settings = settings
        self.log_path = Path(log_dir) / f"{spec.name}.log"
        self._http = http
        self._notify = notify
        self.state = "stopped"
        self.pid: int | None = None
        self.restarts = 0
        self.exit_code: int | None = None
        self.reason = ""
        self.health: dict[str, Any] | None = None
        self.next_run: dt.datetime | None = None
        self.started_at: dt.datetime | None = None
        self._started_mono: float | None = None
        self._recent: deque[float] = deque()
        self._child: Child | None = None  # the process while it runs
        self._tail: list[str] = []
        self._log: RotatingLog | None = None
        self._task: asyncio.Task[None] | None = None
        self._reaper: asyncio.Future[int] | None = None
        self._wake = asyncio.Event()
        self._command: str | None = None
        self._stopping = False
        #: Set once the first start was attempted (or the job is waiting for its time).
        self.launched = asyncio.Event()

    # ------------------------------------------------------------------ control
    def start(self) -> None:
        """Start the supervision loop (the process starts in it)."""
        if self._task is None:
            self._task = asyncio.ensure_future(self._loop())
            self._task.add_done_callback(self._loop_ended)

    def _loop_ended(self, task: asyncio.Task[None]) -> None:
        """A supervision loop that died of an error leaves the component critical."""
        if task.cancelled() or task.exception() is None:
            return
        exc = task.exception()
        log.error("supervision of %s failed: %s: %s", self.name, type(exc).__name__, exc)
        self.reason = f"supervision failed: {type(exc).__name__}: {exc}"
        child, self._child = self._child, None
        if child is not None:  # no process left unsupervised
            self._reaper = asyncio.ensure_future(child.terminate(self.settings.stop_timeout_s))
            self.pid = None
        self._set_state("critical")
        self._notify(self, "component_critical", {"reason": self.reason,
                                                  "restarts": self.restarts})

    def request_restart(self) -> None:
        """Operator restart: stop the process if it runs and start it again at once, forgetting
        the restarts counted so far (lifts ``critical``)."""
        if self._stopping:
            return
        if self._task is not None and self._task.done():  # the loop died (_loop_ended)
            self._task = None
            self.start()
            return
        self._command = "restart"
        self._wake.set()

    def freeze(self) -> None:
        """Stop supervising: no restart from now on; the process is left to :meth:`stop`."""
        self._stopping = True
        self._command = "stop"
        self._wake.set()

    async def stop(self) -> int | None:
        """Freeze, then SIGTERM the process (SIGKILL after ``stop_timeout_s``); its exit code."""
        self.freeze()
        if self._task is not None:
            # an error of the loop was reported by _loop_ended; the process still goes
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        code = None
        child = self._child
        if child is not None:
            code = await child.terminate(self.settings.stop_timeout_s)
            self._ended(child, code, "stopped by the supervisor")
        if self._log is not None:
            self._log.close()
            self._log = None
        self.reason = self.reason if self.state == "critical" else "stopped by the supervisor"
        self._set_state("stopped")
        return code

    # ------------------------------------------------------------------ views
    @property
    def uptime_s(self) -> float:
        """Seconds since the current process started (0 without one)."""
        return 0.0 if self._started_mono is None else time.monotonic() - self._started_mono

    @property
    def tail(self) -> list[str]:
        """The last lines the current (or last) process printed."""
        return list(self._child.tail) if self._child is not None else list(self._tail)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe view for the API (no environment, so no secret)."""
        return {"name": self.name, "kind": self.spec.kind, "state": self.state, "pid": self.pid,
                "restarts": self.restarts, "uptime_s": round(self.uptime_s, 3),
                "started_at": self.started_at.isoformat() if self.started_at else None,
                "exit_code": self.exit_code, "reason": self.reason, "health": self.health,
                "health_url": self.spec.health_url, "metrics_url": self.spec.metrics_url,
                "restart": self.spec.restart, "at": self.spec.at,
                "next_run": self.next_run.isoformat() if self.next_run else None,
                "log": str(self.log_path), **self.spec.info}

    # ------------------------------------------------------------------ loop
    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self._notify(self, "state", {"state": state})

    async def _pause(self, seconds: float | None) -> str | None:
        """Sleep ``seconds`` (None: until woken); the operator command that woke it, if any."""
        if self._command is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), seconds)
        command, self._command = self._command, None
        self._wake.clear()
        return "stop" if self._stopping else command

    async def _loop(self) -> None:
        run_now = self.spec.at is None
        while not self._stopping:
            if not run_now:
                self.next_run = next_run_at(str(self.spec.at))
                self._set_state("waiting")
                self.launched.set()
                wait = (self.next_run - dt.datetime.now(dt.UTC)).total_seconds()
                if await self._pause(wait) == "stop":
                    break
                self.next_run = None
            outcome, detail = await self._run_once()
            if outcome == "stop":
                break
            if outcome == "restart":
                self._recent.clear()
                run_now = True
                continue
            if outcome == "exit" and detail == "0" and self.spec.restart == "on-failure":
                self._recent.clear()
                self.reason = "ended normally (exit code 0)"
                if self.spec.at:
                    run_now = False
                    continue
                self._set_state("stopped")
                if await self._pause(None) == "stop":
                    break
                run_now = True
                continue
            command = await self._failed(outcome, detail)
            if command == "stop":
                break
            run_now = True

    async def _failed(self, outcome: str, detail: str) -> str | None:
        """Restart after the backoff, or mark critical; the operator command that ended it."""
        s = self.settings
        now = time.monotonic()
        while self._recent and now - self._recent[0] >= s.restart_window_s:
            self._recent.popleft()
        self.reason = f"exited with code {detail}" if outcome == "exit" else detail
        if len(self._recent) >= s.max_restarts:
            self.reason = (f"{self.reason}; {len(self._recent)} restarts within "
                           f"{s.restart_window_s:g} s (max_restarts {s.max_restarts})")
            self._set_state("critical")
            self._notify(self, "component_critical", {"reason": self.reason,
                                                      "restarts": self.restarts})
            command = await self._pause(None)
            self._recent.clear()
            return command
        delay = min(s.restart_backoff_s * 2 ** len(self._recent), s.max_backoff_s)
        self._recent.append(now)
        self.restarts += 1
        self._set_state("restarting")
        self._notify(self, "component_restart", {"reason": self.reason, "delay_s": delay,
                                                 "restarts": self.restarts,
                                                 "in_window": len(self._recent)})
        command = await self._pause(delay)
        if command == "restart":
            self._recent.clear()
        return command

    async def _spawn(self) -> Child | str:
        try:
            if self._log is None:
                self._log = RotatingLog(self.log_path, self.settings.log_max_bytes,
                                        self.settings.log_backups)
            child = await Child.spawn(self.spec.argv, self.spec.env, self.spec.cwd, self._log)
        except OSError as exc:
            return f"cannot start {self.spec.argv[0]}: {exc}"
        finally:
            self.launched.set()
        self._child = child
        self.pid = child.pid
        self.health = None
        self.started_at = dt.datetime.now(dt.UTC)
        self._started_mono = time.monotonic()
        self._notify(self, "component_start", {"pid": child.pid, "restarts": self.restarts})
        return child

    def _ended(self, child: Child, code: int, reason: str) -> None:
        child.kill_group()
        self._child = None
        self._tail = list(child.tail)
        self.exit_code = code
        self.pid = None
        self._started_mono = None
        self._notify(self, "component_exit", {"pid": child.pid, "exit_code": code,
                                              "reason": reason, "tail": list(child.tail)[-5:]})

    async def _run_once(self) -> tuple[str, str]:
        """Run one process until it ends, turns unhealthy, or an operator command arrives:
        ``("exit", code)``, ``("unhealthy", reason)``, ``("restart", "")``, ``("stop", "")``."""
        child = await self._spawn()
        if isinstance(child, str):
            return "unhealthy", child
        s = self.settings
        self._set_state("starting" if self.spec.health_url else "running")
        failures = 0
        exited = child.exited()
        try:
            while True:
                starting = self.state == "starting"
                interval = min(s.health_interval_s, 0.25) if starting else s.health_interval_s
                woke = asyncio.ensure_future(self._wake.wait())
                done, _ = await asyncio.wait({exited, woke}, timeout=interval,
                                             return_when=asyncio.FIRST_COMPLETED)
                woke.cancel()
                if exited in done:
                    code = exited.result()
                    self._ended(child, code, "exited")
                    return "exit", str(code)
                if self._stopping:
                    return "stop", ""
                if self._command == "restart":
                    self._command = None
                    self._wake.clear()
                    self.reason = "restarted by an operator"
                    code = await child.terminate(s.stop_timeout_s)
                    self._ended(child, code, self.reason)
                    return "restart", ""
                if not self.spec.health_url:
                    continue
                ok = await self._check(failures)
                if ok:
                    failures = 0
                    self._set_state("running")
                    continue
                if starting:
                    if self.uptime_s < s.start_timeout_s:
                        continue
                    reason = f"no healthy answer within {s.start_timeout_s:g} s of the start"
                else:
                    failures += 1
                    self._set_state("unhealthy")
                    if failures < s.unhealthy_after:
                        continue
                    reason = f"failed {failures} health checks in a row"
                code = await child.terminate(s.stop_timeout_s)
                self._ended(child, code, reason)
                return "unhealthy", reason
        finally:
            exited.cancel()

    async def _check(self, failures: int) -> bool:
        """Poll the health URL once; True for a live answer (module docstring)."""
        url = str(self.spec.health_url)
        timeout = aiohttp.ClientTimeout(total=self.settings.health_timeout_s)
        now = dt.datetime.now(dt.UTC).isoformat()
        try:
            async with self._http.get(url, timeout=timeout) as resp:
                status, text = resp.status, await resp.text()
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            self.health = {"status": "unreachable", "reasons": [type(exc).__name__],
                           "http": None, "checked_at": now, "failures": failures + 1}
            return False
        body: Any = None
        with contextlib.suppress(ValueError):
            body = json.loads(text)
        reported = body.get("status") if isinstance(body, dict) else None
        alive = status < 500 or (status == 503 and isinstance(reported, str))
        reasons = body.get("reasons", []) if isinstance(body, dict) else []
        self.health = {"status": (reported or "healthy") if alive else "failing",
                       "reasons": [str(r) for r in reasons] if isinstance(reasons, list) else [],
                       "http": status, "checked_at": now,
                       "failures": 0 if alive else failures + 1}
        return alive
