"""The supervisor of ``quantlab serve`` (:class:`Supervisor`) and its entry point :func:`run_serve`.

:meth:`Supervisor.run` starts the REST API, then every enabled component in order (one
:class:`~quantlab.serve.component.Component` each: health checks, restarts with backoff,
critical after too many), and waits; :meth:`Supervisor.shutdown` (SIGTERM, SIGINT or
``POST /api/system/shutdown``) stops supervising, SIGTERMs the children in reverse start order
— each one gone (or SIGKILLed after ``stop_timeout_s``) before the next — and returns.

The supervisor keeps its own hash-chained audit log in ``<state_dir>/serve.sqlite`` (a
:class:`~quantlab.live.store.LiveStore`: ``quantlab audit verify state/serve.sqlite`` checks
it). Records: ``start``, ``config`` (digest and the masked effective configuration, whenever it
differs from the one audited last — at a start or at a reload), ``component_start``,
``component_exit``, ``component_restart``, ``component_critical``, ``operator`` (restart,
system restart, shutdown through the API) and ``shutdown``.

Files in ``<state_dir>``: ``serve.sqlite``, ``logs/<component>.log`` and
``prometheus_targets.json`` — the runners' metrics endpoints as a Prometheus ``file_sd``
target list (``{"targets": ["127.0.0.1:PORT"], "labels": {"component": NAME}}``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import signal
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp

from quantlab._util import write_text_atomic
from quantlab.errors import ParameterError
from quantlab.live.audit import SECRET_KEY as _SECRET_KEY
from quantlab.live.store import LiveStore
from quantlab.serve.component import Component
from quantlab.serve.config import ServeConfig, mask
from quantlab.serve.metrics import ServeMetrics
from quantlab.serve.specs import ComponentSpec, build_specs, prometheus_targets

__all__ = ["Supervisor", "UnknownComponentError", "run_serve"]

#: ``on_event(payload)``: ``{"event": "api"|"component_start"|..., ...}`` for the CLI.
OnEvent = Callable[[dict[str, Any]], None]
_TROUBLE = ("starting", "unhealthy", "restarting")


class UnknownComponentError(ParameterError, LookupError):
    """No component of that name is configured (HTTP 404 in the API)."""


class Supervisor:
    """Runs and supervises the components of a :class:`~quantlab.serve.config.ServeConfig`.

    Parameters
    ----------
    config : ServeConfig
        The configuration (see ``serve.example.toml``).
    config_path : str or Path, optional
        Its file, read again by :meth:`restart_all` (a changed configuration is audited).
    env : Mapping, optional
        Environment (default ``os.environ``): API token, overrides, inherited by the children.
    on_event : callable, optional
        Called with one dict per lifecycle event (API up, component start/exit/restart/critical,
        shutdown).

    Attributes
    ----------
    components : dict of str to Component
        In start order.
    metrics : ServeMetrics
    url : str or None
        Base URL of the REST API once it listens.
    """

    def __init__(self, config: ServeConfig, *, config_path: str | Path | None = None,
                 env: Mapping[str, str] | None = None, on_event: OnEvent | None = None) -> None:
        self.config = config
        self.config_path = Path(config_path) if config_path is not None else None
        self.env = dict(os.environ if env is None else env)
        self.token = config.api_token(self.env)
        self.metrics = ServeMetrics()
        self.components: dict[str, Component] = {}
        self.url: str | None = None
        self.started_at = dt.datetime.now(dt.UTC)
        self._on_event = on_event
        self._specs: list[ComponentSpec] = build_specs(config, self.env, self.token)
        self._secrets = self._find_secrets()
        self.state_dir = Path(config.serve.state_dir)
        self.store = LiveStore.open(self.state_dir / "serve.sqlite", secrets=self._secrets)
        self._stop = asyncio.Event()
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._http: aiohttp.ClientSession | None = None
        self._api: Any = None
        #: Set once every component has been launched (after the API listens).
        self.ready = asyncio.Event()
        self.stopped = False

    # ------------------------------------------------------------------ lifecycle
    async def run(self) -> None:
        """Start the API and the components; return after :meth:`shutdown` has stopped them."""
        from quantlab.serve.api import ServeApi

        s = self.config.serve
        try:
            self._api = ServeApi(self, host=s.host, port=s.port, token=self.token,
                                 rate=s.rate_limit_per_s, burst=s.rate_limit_burst)
            self.url = await self._api.start()
            self._http = aiohttp.ClientSession()
            self._audit("start", {"pid": os.getpid(), "api": self.url,
                                  "components": [sp.name for sp in self._specs],
                                  "source": self.config.source})
            self._audit_config()
            self._event("api", url=self.url)
            await self._start_all()
            self.ready.set()
            await self._stop.wait()
            await self._stop_all()
        finally:
            self.metrics.set_serve_up(False)
            with contextlib.suppress(Exception):  # after an error: no orphaned child
                await self._stop_children()
            if self._http is not None:
                await self._http.close()
            if self._api is not None:
                await self._api.stop()
            self.store.close()
            self.stopped = True

    def shutdown(self, reason: str = "shutdown requested") -> None:
        """Ask :meth:`run` to stop every component (reverse start order) and return."""
        if not self._stop.is_set():
            self._shutdown_reason = reason
            self._stop.set()

    async def _start_all(self) -> None:
        assert self._http is not None
        log_dir = self.state_dir / "logs"
        for spec in self._specs:
            comp = Component(spec, self.config.serve, log_dir, self._http, self._notify)
            self.components[spec.name] = comp
            self.metrics.set_state(spec.name, comp.state)
            comp.start()
            await comp.launched.wait()
        write_text_atomic(self.state_dir / "prometheus_targets.json",
                          json.dumps(prometheus_targets(self._specs), indent=2) + "\n")

    async def _stop_children(self) -> None:
        """Freeze every component, then stop them in reverse start order (idempotent)."""
        for comp in self.components.values():
            comp.freeze()
        async with self._lock:
            for comp in reversed(list(self.components.values())):
                await comp.stop()

    async def _stop_all(self) -> None:
        self.metrics.set_serve_up(False)
        await self._stop_children()
        self._audit("shutdown", {"reason": getattr(self, "_shutdown_reason", "shutdown"),
                                 "components": [c.name for c in
                                                reversed(list(self.components.values()))]})
        self._event("shutdown", reason=getattr(self, "_shutdown_reason", "shutdown"))

    # ------------------------------------------------------------------ operator actions
    def restart(self, name: str, source: str = "api") -> dict[str, Any]:
        """Operator restart of one component (lifts ``critical``); audited.

        Raises
        ------
        UnknownComponentError
            No component of that name.
        """
        comp = self._get(name)
        self._audit("operator", {"action": "restart", "component": name, "source": source,
                                 "state": comp.state})
        comp.request_restart()
        return {"restarting": [name], "previous_state": comp.state}

    def restart_all(self, source: str = "api") -> dict[str, Any]:
        """Operator restart of the whole system: read the configuration file again (audited
        when it changed), stop every component in reverse order and start them all in order.

        Raises
        ------
        QuantlabError
            The configuration file (or a runner's live configuration) is now invalid; nothing
            is stopped then.
        """
        config = (ServeConfig.load(self.config_path, self.env) if self.config_path is not None
                  else self.config)
        ports = {sp.name: sp.info["port"] for sp in self._specs if sp.kind == "runner"}
        specs = build_specs(config, self.env, self.token, ports=ports)
        self._audit("operator", {"action": "system_restart", "source": source})
        self._spawn_task(self._restart_all(config, specs))
        return {"restarting": [sp.name for sp in specs]}

    async def _restart_all(self, config: ServeConfig, specs: list[ComponentSpec]) -> None:
        async with self._lock:
            if self._stop.is_set():
                return
            for comp in self.components.values():
                comp.freeze()
            for comp in reversed(list(self.components.values())):
                await comp.stop()
            for name in set(self.components) - {sp.name for sp in specs}:
                self.metrics.remove(name)
            self.components = {}
            self.config, self._specs = config, specs
            self._secrets = self._find_secrets()
            self._audit_config()
            if not self._stop.is_set():
                await self._start_all()

    def request_shutdown(self, source: str = "api") -> dict[str, Any]:
        """Operator shutdown (audited); :meth:`run` returns once every component stopped."""
        self._audit("operator", {"action": "shutdown", "source": source})
        self.shutdown(f"shutdown requested ({source})")
        return {"shutting_down": list(reversed(list(self.components)))}

    def _spawn_task(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ views
    def health(self) -> dict[str, Any]:
        """``{"status": "healthy"|"degraded"|"critical", "reasons": [...], "critical": [names],
        "degraded": [names]}``: critical when a component is critical; degraded when one is
        starting, unhealthy or restarting, stopped although it should run, or reports
        degraded/critical itself (e.g. a halted runner)."""
        critical, degraded, reasons = [], [], []
        for c in self.components.values():
            own = (c.health or {}).get("status")
            if c.state == "critical":
                critical.append(c.name)
                reasons.append(f"{c.name}: critical ({c.reason})")
            elif c.state in _TROUBLE or (c.state == "stopped" and c.spec.restart == "always"):
                degraded.append(c.name)
                reasons.append(f"{c.name}: {c.state}" + (f" ({c.reason})" if c.reason else ""))
            elif c.state == "running" and own in ("degraded", "critical"):
                degraded.append(c.name)
                why = "; ".join(c.health.get("reasons", [])) if c.health else ""
                reasons.append(f"{c.name}: reports {own}" + (f" ({why})" if why else ""))
        status = "critical" if critical else "degraded" if degraded else "healthy"
        return mask({"status": status, "reasons": reasons, "critical": critical,
                     "degraded": degraded}, self._secrets)

    def _get(self, name: str) -> Component:
        comp = self.components.get(name)
        if comp is None:
            raise UnknownComponentError(f"no component {name!r} (components: "
                                        f"{', '.join(self.components) or 'none'})")
        return comp

    def component_view(self, name: str) -> dict[str, Any]:
        """One component as :meth:`components_view` shows it, plus ``tail``: the last lines it
        printed (secrets masked).

        Raises
        ------
        UnknownComponentError
            No component of that name.
        """
        comp = self._get(name)
        return mask({**comp.to_dict(), "tail": comp.tail}, self._secrets)

    def components_view(self) -> list[dict[str, Any]]:
        """Every component as a JSON-safe dict (state, pid, restarts, uptime, health...)."""
        return [mask(c.to_dict(), self._secrets) for c in self.components.values()]

    def status(self) -> dict[str, Any]:
        """Supervisor status: health, effective configuration (secrets masked), components."""
        seq, _ = self.store.audit.head()
        return mask({
            "health": self.health()["status"], "pid": os.getpid(), "api": self.url,
            "started_at": self.started_at.isoformat(),
            "uptime_s": round((dt.datetime.now(dt.UTC) - self.started_at).total_seconds(), 3),
            "config_source": self.config.source, "config_digest": self._digest(),
            "config": self._effective(), "components": self.components_view(),
            "audit": {"path": str(self.store.path), "records": seq},
        }, self._secrets)

    def refresh_metrics(self) -> None:
        """Update the time-dependent series (uptime) before an exposition."""
        for c in self.components.values():
            self.metrics.set_uptime(c.name, c.uptime_s)

    # ------------------------------------------------------------------ internals
    def _find_secrets(self) -> list[str]:
        found = [self.token or ""]
        for sp in self._specs:
            live = sp.info.get("live")
            if live:
                ex = live["exchange"]
                found += [sp.env.get(ex["api_key_env"], ""), sp.env.get(ex["secret_env"], "")]
        found += [v for k, v in self.env.items() if _SECRET_KEY.search(k) and len(v) >= 8]
        return sorted({s for s in found if s})

    def _effective(self) -> dict[str, Any]:
        return {**self.config.to_dict(self._secrets),
                "runner_live": {sp.name: sp.info["live"] for sp in self._specs
                                if sp.kind == "runner"}}

    def _digest(self) -> str:
        import hashlib

        text = json.dumps(self._effective(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def _audit(self, kind: str, payload: dict[str, Any]) -> None:
        self.store.audit.append(kind, mask(payload, self._secrets))

    def _audit_config(self) -> None:
        digest = self._digest()
        previous = self.store.get_meta("config_digest")
        if digest != previous:
            with self.store.transaction():
                self._audit("config", {"digest": digest, "previous": previous,
                                       "source": self.config.source,
                                       "config": self._effective()})
                self.store.set_meta("config_digest", digest)

    def _event(self, event: str, **payload: Any) -> None:
        if self._on_event is not None:
            self._on_event(mask({"event": event, **payload}, self._secrets))

    def _notify(self, comp: Component, kind: str, payload: dict[str, Any]) -> None:
        if kind == "state":
            self.metrics.set_state(comp.name, payload["state"])
            return
        if kind == "component_restart":
            self.metrics.restarted(comp.name)
        self._audit(kind, {"component": comp.name, **payload})
        self._event(kind, component=comp.name, **payload)


async def _serve(config: ServeConfig, config_path: str | Path | None, env: Mapping[str, str],
                 on_event: OnEvent | None) -> None:
    sup = Supervisor(config, config_path=config_path, env=env, on_event=on_event)
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGTERM, sup.shutdown, "SIGTERM received")
        loop.add_signal_handler(signal.SIGINT, sup.shutdown, "SIGINT received")
    await sup.run()


def run_serve(config: str | Path | None = None, *, env: Mapping[str, str] | None = None,
              on_event: OnEvent | None = None) -> int:
    """Run ``quantlab serve`` until SIGTERM/SIGINT or ``POST /api/system/shutdown``.

    Parameters
    ----------
    config : path, optional
        serve.toml (see ``serve.example.toml``); default: defaults and the environment.
    env : Mapping, optional
        Environment (default ``os.environ``).
    on_event : callable, optional
        Called with each lifecycle event (a dict with an ``event`` key).

    Returns
    -------
    int
        0 after a clean shutdown.

    Raises
    ------
    QuantlabError
        Invalid configuration, a missing promoted strategy, an API port in use...
    """
    env = dict(os.environ if env is None else env)
    cfg = ServeConfig.load(config, env)
    asyncio.run(_serve(cfg, config, env, on_event))
    return 0
