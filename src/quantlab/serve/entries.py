"""The tables of a ``quantlab serve`` configuration, one frozen dataclass each.

:class:`ServeSettings` (``[serve]``), :class:`RunnerEntry` (one ``[[runner]]``) and
:class:`ComponentEntry` (one ``[components.NAME]``); each checks its values when built and
raises :class:`~quantlab.errors.ParameterError` naming the key. Reading the file and the
environment is :class:`quantlab.serve.config.ServeConfig`'s job.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from quantlab.errors import ParameterError, UsageError
from quantlab.live.config_keys import OFF
from quantlab.live.config_keys import KeySpec as _Spec
from quantlab.live.config_keys import config_key as _key
from quantlab.live.config_keys import validate_fields as _validate

__all__ = ["BUILTIN_COMPONENTS", "RESTART_POLICIES", "ComponentEntry", "RunnerEntry",
           "ServeSettings"]

#: What a component does when its process ends with exit code 0.
RESTART_POLICIES = ("always", "on-failure")
#: Extra components every configuration knows (off unless enabled), with their defaults.
BUILTIN_COMPONENTS: dict[str, dict[str, Any]] = {
    "data_engine": {"enabled": False},
    "nightly": {"enabled": False, "command": ["quantlab", "report", "nightly"], "at": "02:00"},
}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_AT = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_POS = _Spec("number", lo=0, open_low=True)
_STR = _Spec("str")


@dataclass(frozen=True)
class ServeSettings:
    """The ``[serve]`` section: the supervisor itself.

    Attributes
    ----------
    host, port : str, int
        Address of the REST API (``port = 0``: any free port). A non-loopback host needs a
        token.
    token_env : str
        Name of the environment variable holding the bearer token (API write endpoints; also
        handed to every runner for its own control API).
    state_dir, strategies_dir, data_dir : str
        Runners' state files, ``serve.sqlite`` (the supervisor's audit), ``logs/`` and
        ``prometheus_targets.json``; promoted strategies; data cache (replay runners).
    mode : str
        Default mode of the runners: ``paper``, ``live`` or ``replay`` (aliases
        ``simulation``, ``backtest``).
    restart_backoff_s, max_backoff_s : float
        Delay before the k-th consecutive restart: ``restart_backoff_s * 2**k``, at most
        ``max_backoff_s``.
    max_restarts, restart_window_s : int, float
        A component needing more than ``max_restarts`` restarts within ``restart_window_s``
        is marked critical and left stopped until an operator restarts it.
    health_interval_s, health_timeout_s, unhealthy_after : float, float, int
        Health polling; ``unhealthy_after`` failed checks in a row restart the component.
    start_timeout_s : float
        A component must answer its health URL within this long after it starts.
    stop_timeout_s : float
        SIGTERM, then SIGKILL after this long.
    rate_limit_per_s, rate_limit_burst : float, int
        Token bucket per client address on the REST API.
    log_max_bytes, log_backups : int
        Size at which ``logs/<component>.log`` rotates, and rotated files kept.
    """

    host: str = _key("127.0.0.1", _STR)
    port: int = _key(4000, _Spec("int", lo=0, hi=65535, integer=True))
    token_env: str = _key("QUANTLAB_API_TOKEN", _STR)
    state_dir: str = _key("state", _STR)
    strategies_dir: str = _key("strategies", _STR)
    data_dir: str = _key("data", _STR)
    mode: str = _key("paper", _STR)
    restart_backoff_s: float = _key(1.0, _POS)
    max_backoff_s: float = _key(60.0, _POS)
    max_restarts: int = _key(5, _Spec("int", lo=0, integer=True))
    restart_window_s: float = _key(300.0, _POS)
    health_interval_s: float = _key(2.0, _POS)
    health_timeout_s: float = _key(2.0, _POS)
    unhealthy_after: int = _key(3, _Spec("int", lo=1, integer=True))
    start_timeout_s: float = _key(60.0, _POS)
    stop_timeout_s: float = _key(20.0, _POS)
    rate_limit_per_s: float = _key(20.0, _POS)
    rate_limit_burst: int = _key(40, _Spec("int", lo=1, integer=True))
    log_max_bytes: int = _key(10_000_000, _Spec("int", lo=1024, integer=True))
    log_backups: int = _key(3, _Spec("int", lo=0, integer=True))

    def __post_init__(self) -> None:
        _validate(self)
        object.__setattr__(self, "mode", _mode(self.mode, "mode"))


def _mode(value: str, name: str) -> str:
    from quantlab.live.session import normalize_mode

    try:
        return normalize_mode(value)
    except UsageError as exc:
        raise ParameterError(f"{name}={value!r}: {exc}") from None


@dataclass(frozen=True)
class RunnerEntry:
    """One ``[[runner]]``: a promoted strategy run by ``quantlab live``.

    Attributes
    ----------
    name : str
        Component name (letters, digits, ``_ . -``); state file ``<state_dir>/NAME-MODE.sqlite``.
    strategy : str
        Promoted strategy (default: ``name``).
    version : int or None
        Artifact version (default: the latest).
    mode : str or None
        ``paper``, ``live`` or ``replay`` (default: ``[serve] mode``).
    enabled : bool
        Start it (``ENABLE_RUNNER_<NAME>`` overrides).
    config : str or None
        Its own live.toml instead of ``[live] config``.
    port : int or None
        Its control API port (None or 0: a free port chosen at start).
    """

    name: str
    strategy: str | None = None
    version: int | None = None
    mode: str | None = None
    enabled: bool = True
    config: str | None = None
    port: int | None = None

    def __post_init__(self) -> None:
        _check_name(self.name)
        if self.strategy is None:
            object.__setattr__(self, "strategy", self.name)
        _STR.check(self.strategy, "strategy")
        version = _Spec("int", optional=True, lo=1, integer=True).check(self.version, "version")
        object.__setattr__(self, "version", version)
        if self.mode is not None:
            object.__setattr__(self, "mode", _mode(self.mode, "mode"))
        _Spec("bool").check(self.enabled, "enabled")
        _Spec("str", optional=True).check(self.config, "config")
        object.__setattr__(self, "config", _off(self.config))
        port = _Spec("int", optional=True, lo=0, hi=65535, integer=True).check(self.port, "port")
        object.__setattr__(self, "port", port or None)


@dataclass(frozen=True)
class ComponentEntry:
    """One ``[components.NAME]``: a command line supervised like a runner.

    Attributes
    ----------
    name : str
        Component name; ``data_engine`` and ``nightly`` are known (off by default).
    enabled : bool
        Start it (``ENABLE_<NAME>`` overrides); default true for your own components.
    command : tuple of str
        Program and arguments; a first word ``quantlab`` or ``python`` runs this
        interpreter (``python -m quantlab ...``).
    health_url : str or None
        Polled like a runner's ``/health`` (any HTTP answer below 500, or 503 with a JSON
        status, counts as alive); None: alive while the process runs.
    metrics_url : str or None
        Prometheus endpoint, written to ``prometheus_targets.json``.
    at : str or None
        ``"HH:MM"`` (UTC): run once a day at that time instead of continuously (``nightly``
        defaults to ``"02:00"``); a failed run is retried with the restart policy.
    restart : str
        ``always`` (an exit with code 0 is restarted too) or ``on-failure``.
    cwd : str or None
        Working directory (default: the supervisor's).
    env : dict
        Extra environment variables of the process.
    """

    name: str
    enabled: bool = True
    command: tuple[str, ...] = ()
    health_url: str | None = None
    metrics_url: str | None = None
    at: str | None = None
    restart: str = "always"
    cwd: str | None = None
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_name(self.name)
        _Spec("bool").check(self.enabled, "enabled")
        cmd = self.command
        if isinstance(cmd, str) or not isinstance(cmd, list | tuple) or not all(
                isinstance(w, str) and w for w in cmd):
            raise ParameterError(f"command={cmd!r} must be a list of non-empty strings")
        object.__setattr__(self, "command", tuple(cmd))
        if self.enabled and not self.command:
            raise ParameterError(f"component {self.name!r} is enabled but has no command")
        for key in ("health_url", "metrics_url", "cwd", "at"):
            value = _off(_Spec("str", optional=True).check(getattr(self, key), key))
            object.__setattr__(self, key, value)
        for key in ("health_url", "metrics_url"):
            url = getattr(self, key)
            if url is not None and not url.startswith(("http://", "https://")):
                raise ParameterError(f"{key}={url!r} must be an http:// or https:// URL")
        if self.at is not None and not _AT.fullmatch(self.at):
            raise ParameterError(f'at={self.at!r} must be a UTC time "HH:MM" (00:00..23:59)')
        _Spec("choice", choices=RESTART_POLICIES).check(self.restart, "restart")
        if not isinstance(self.env, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in self.env.items()):
            raise ParameterError(f"env={self.env!r} must be a table of strings")
        object.__setattr__(self, "env", dict(self.env))


def _off(value: Any) -> Any:
    return None if isinstance(value, str) and value.strip().lower() in OFF else value


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ParameterError(f"name={name!r} must be letters, digits, '_', '.' or '-' "
                             f"(starting with a letter or digit)")
