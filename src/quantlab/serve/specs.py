"""What the supervisor starts: a :class:`ComponentSpec` per enabled component, in start order.

:func:`build_specs` turns a :class:`~quantlab.serve.config.ServeConfig` into command lines:

* a runner is ``python -m quantlab live STRATEGY --mode M --root <strategies_dir> --state
  <state_dir>/NAME-M.sqlite [--version V] [--config live.toml]`` with its control API on the
  configured port (or a free one chosen here, kept across restarts) through
  ``QUANTLAB_API_PORT``, the supervisor's token in the variable its live config names, and the
  inline ``[live.*]`` keys as ``QUANTLAB_<SECTION>_<KEY>`` where the environment does not set
  them; its health URL is ``http://127.0.0.1:PORT/health``;
* an extra component is its ``command`` (a first word ``quantlab`` or ``python`` runs this
  interpreter) with its ``env``.

Start order: ``data_engine``, the runners (file order), the other components (file order),
``nightly``. Shutdown goes the other way.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from quantlab.errors import ArtifactError, UsageError
from quantlab.live.config import LiveConfig
from quantlab.serve.config import ComponentEntry, RunnerEntry, ServeConfig

__all__ = ["ComponentSpec", "build_specs", "free_port", "prometheus_targets"]

_FIRST = ("data_engine",)
_LAST = ("nightly",)
_WILDCARD = ("0.0.0.0", "::", "")


@dataclass(frozen=True)
class ComponentSpec:
    """One child process to supervise.

    Attributes
    ----------
    name : str
        Component name (unique).
    kind : str
        ``runner`` or ``command``.
    argv : tuple of str
        Program and arguments.
    env : Mapping
        Its complete environment (never shown by the API).
    cwd : str or None
        Working directory (None: the supervisor's).
    health_url, metrics_url : str or None
        Polled for liveness; scraped by Prometheus.
    restart : str
        ``always`` or ``on-failure`` (replay runners and scheduled jobs end on their own).
    at : str or None
        ``"HH:MM"`` UTC of a daily job.
    info : dict
        JSON-safe description for the API (runner: strategy, version, mode, port, state file,
        effective live configuration).
    """

    name: str
    kind: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(repr=False)
    cwd: str | None = None
    health_url: str | None = None
    metrics_url: str | None = None
    restart: str = "always"
    at: str | None = None
    info: dict[str, Any] = field(default_factory=dict)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _command(words: tuple[str, ...], python: str) -> tuple[str, ...]:
    if words and words[0] == "quantlab":
        return (python, "-m", "quantlab", *words[1:])
    if words and words[0] == "python":
        return (python, *words[1:])
    return words


def _runner(cfg: ServeConfig, entry: RunnerEntry, env: Mapping[str, str], token: str | None,
            python: str, port: int | None) -> ComponentSpec:
    s = cfg.serve
    mode = cfg.runner_mode(entry)
    folder = Path(s.strategies_dir) / str(entry.strategy)
    if not folder.is_dir():
        raise ArtifactError(f"runner {entry.name!r}: no promoted strategy {folder} "
                            f"(run quantlab promote, or set [serve] strategies_dir)")
    port = entry.port or port or free_port()
    live_path = entry.config or cfg.live_config
    child = {**env, **cfg.live_env(env), "QUANTLAB_API_PORT": str(port),
             "PYTHONUNBUFFERED": "1"}
    live = LiveConfig.load(live_path, child)
    if token:
        child[live.api.token_env] = token
    if mode == "live" and not all(live.api_credentials(child)):
        raise UsageError(f"runner {entry.name!r} runs in live mode but the exchange "
                         f"credentials {live.exchange.api_key_env} / "
                         f"{live.exchange.secret_env} are not set")
    host = "127.0.0.1" if live.api.host in _WILDCARD else live.api.host
    state = Path(s.state_dir) / f"{entry.name}-{mode}.sqlite"
    argv = [python, "-m", "quantlab", "live", str(entry.strategy), "--mode", mode,
            "--root", s.strategies_dir, "--state", str(state), "--data-dir", s.data_dir]
    if entry.version is not None:
        argv += ["--version", str(entry.version)]
    if live_path is not None:
        argv += ["--config", str(live_path)]
    base = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    info = {"strategy": entry.strategy, "version": entry.version, "mode": mode, "port": port,
            "state_file": str(state), "live_config": live_path, "live": live.to_dict()}
    return ComponentSpec(entry.name, "runner", tuple(argv), child, None, f"{base}/health",
                         f"{base}/metrics", "on-failure" if mode == "replay" else "always",
                         None, info)


def _extra(entry: ComponentEntry, env: Mapping[str, str], python: str) -> ComponentSpec:
    child = {**env, **entry.env, "PYTHONUNBUFFERED": "1"}
    restart = "on-failure" if entry.at else entry.restart
    info = {"command": list(entry.command), "at": entry.at}
    return ComponentSpec(entry.name, "command", _command(entry.command, python), child,
                         entry.cwd, entry.health_url, entry.metrics_url, restart, entry.at, info)


def build_specs(cfg: ServeConfig, env: Mapping[str, str], token: str | None = None, *,
                python: str | None = None, ports: Mapping[str, int] | None = None
                ) -> list[ComponentSpec]:
    """The enabled components of ``cfg`` as specs, in start order.

    Parameters
    ----------
    cfg : ServeConfig
    env : Mapping
        The supervisor's environment (inherited by every child).
    token : str, optional
        The API token handed to the runners.
    python : str, optional
        Interpreter of the runners and of ``quantlab``/``python`` commands (default: this one).
    ports : Mapping, optional
        Ports already assigned to runners without a configured port (kept across a reload).

    Raises
    ------
    ArtifactError
        A runner's promoted strategy folder does not exist.
    UsageError
        A live-mode runner has no exchange credentials in the environment.
    ParameterError, DataError
        A runner's live configuration is invalid or missing.
    """
    python = python or sys.executable
    ports = ports or {}
    extras = {c.name: c for c in cfg.components if c.enabled}
    first = [_extra(extras[n], env, python) for n in _FIRST if n in extras]
    runners = [_runner(cfg, r, env, token, python, ports.get(r.name))
               for r in cfg.runners if r.enabled]
    middle = [_extra(c, env, python) for n, c in extras.items()
              if n not in _FIRST and n not in _LAST]
    last = [_extra(extras[n], env, python) for n in _LAST if n in extras]
    return [*first, *runners, *middle, *last]


def prometheus_targets(specs: list[ComponentSpec]) -> list[dict[str, Any]]:
    """Prometheus ``file_sd`` entries of the components with a metrics URL:
    ``{"targets": ["127.0.0.1:PORT"], "labels": {"component": NAME}}`` (plus
    ``__metrics_path__`` when it is not ``/metrics``)."""
    out = []
    for spec in specs:
        if not spec.metrics_url:
            continue
        url = urlsplit(spec.metrics_url)
        labels = {"component": spec.name}
        if url.path and url.path != "/metrics":
            labels["__metrics_path__"] = url.path
        if url.scheme == "https":
            labels["__scheme__"] = "https"
        out.append({"targets": [url.netloc], "labels": labels})
    return out
