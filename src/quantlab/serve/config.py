"""Configuration of ``quantlab serve``: a TOML file with environment overrides.

Four sections, every key optional (``serve.example.toml`` at the repository root documents each
one)::

    [serve]             the supervisor: API port and token, state folder, default mode,
                        restart policy, health checks, rate limit, log rotation
    [live]              the live.toml shared by every runner (``config = "live.toml"``) and/or
                        inline ``[live.<section>]`` tables of that file's keys
    [[runner]]          one entry per promoted strategy run by ``quantlab live``
    [components.NAME]   extra components: a command line with an optional health URL
                        (``data_engine``, ``nightly`` and any of your own)

Environment overrides
---------------------
Precedence: environment > file > defaults.

* every ``[serve]`` key is ``QUANTLAB_SERVE_<KEY>`` (``QUANTLAB_SERVE_PORT=4100``); the mode
  is also ``MODE`` (``MODE=simulation|backtest|live``; the ``QUANTLAB_`` spelling wins);
* ``ENABLE_<COMPONENT>`` switches a component on or off: ``ENABLE_DATA_ENGINE=1``,
  ``ENABLE_NIGHTLY=0``, ``ENABLE_RUNNER_BTC_SMA=0`` (a runner's id is ``RUNNER_<NAME>``,
  upper case, other characters than letters and digits as ``_``);
* ``RUNNER_<NAME>_PORT`` sets a runner's control API port;
* the runners inherit the supervisor's environment, so ``MAX_DRAWDOWN``, ``RISK_PER_TRADE``
  and every other override of :class:`~quantlab.live.config.LiveConfig` reach them and beat
  both the shared live.toml and the inline ``[live.<section>]`` keys.

Errors
------
An unknown section or key raises :class:`~quantlab.errors.ParameterError` naming the file,
the table and the key, with the closest valid key as a suggestion; a wrong value names the key
(and the environment variable when it came from one). A missing or malformed file raises
:class:`~quantlab.errors.DataError`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from quantlab.errors import ParameterError
from quantlab.live.audit import REDACTED
from quantlab.live.audit import SECRET_KEY as _SECRET_KEY
from quantlab.live.config import SECTIONS
from quantlab.live.config import env_names as _env_names
from quantlab.live.config import section_keys as _keys
from quantlab.live.config_keys import KeySpec as _Spec
from quantlab.live.config_keys import read_toml
from quantlab.live.config_keys import suggest as _suggest
from quantlab.serve.entries import (
    BUILTIN_COMPONENTS,
    RESTART_POLICIES,
    ComponentEntry,
    RunnerEntry,
    ServeSettings,
    _off,
)

__all__ = ["RESTART_POLICIES", "ComponentEntry", "RunnerEntry", "ServeConfig",
           "ServeSettings", "component_id", "mask"]

_TOP = ("serve", "live", "runner", "components")
_STR = _Spec("str")


def component_id(name: str, runner: bool = False) -> str:
    """Environment id of a component: ``data_engine`` -> ``DATA_ENGINE``, runner ``btc-sma``
    -> ``RUNNER_BTC_SMA`` (used by ``ENABLE_<ID>`` and ``<ID>_PORT``)."""
    ident = re.sub(r"[^A-Z0-9]", "_", name.upper())
    return f"RUNNER_{ident}" if runner else ident


def mask(value: Any, secrets: tuple[str, ...] | list[str] = ()) -> Any:
    """``value`` with the value of every secret-looking key (token, secret, api_key,
    password...; not ``*_env``, which names a variable) and every occurrence of one of
    ``secrets`` replaced by ``"***"`` (JSON-like input: dicts, lists, strings)."""
    known = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))
    return _mask(value, known)


def _mask(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        return {_mask(str(k), secrets): REDACTED if _secret_key(str(k)) and value[k] is not None
                else _mask(value[k], secrets) for k in value}
    if isinstance(value, list | tuple):
        return [_mask(v, secrets) for v in value]
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
    return value


def _secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(key)) and not key.lower().endswith("_env")


@dataclass(frozen=True)
class ServeConfig:
    """Everything ``quantlab serve`` is configured with (see the module docstring).

    Attributes
    ----------
    serve : ServeSettings
    live_config : str or None
        The live.toml shared by the runners (``[live] config``).
    live_inline : dict
        Inline ``[live.<section>]`` keys, checked, by section.
    runners : tuple of RunnerEntry
    components : tuple of ComponentEntry
        Extra components, ``data_engine`` and ``nightly`` included (maybe disabled).
    source : str
        Where the values came from (file and environment variables used).
    """

    serve: ServeSettings = field(default_factory=ServeSettings)
    live_config: str | None = None
    live_inline: dict[str, dict[str, Any]] = field(default_factory=dict)
    runners: tuple[RunnerEntry, ...] = ()
    components: tuple[ComponentEntry, ...] = ()
    source: str = field(default="defaults", compare=False)

    @classmethod
    def load(cls, path: str | Path | None = None,
             env: Mapping[str, str] | None = None) -> ServeConfig:
        """Defaults, overridden by the TOML file ``path``, overridden by the environment.

        Parameters
        ----------
        path : str or Path, optional
            TOML file (``[serve] [live] [[runner]] [components.NAME]``).
        env : Mapping, optional
            Environment variables; default ``os.environ``.

        Returns
        -------
        ServeConfig

        Raises
        ------
        DataError
            The file is missing, unreadable or not valid TOML.
        ParameterError
            Unknown table or key, bad value, duplicate component name (naming the file,
            table and key, or the environment variable).
        """
        import os

        env = os.environ if env is None else env
        data = _read(Path(path)) if path is not None else {}
        where = str(path) if path is not None else "defaults"
        used: list[str] = []
        serve = _settings(data.get("serve", {}), where, env, used)
        live_config, inline = _live(data.get("live", {}), where)
        runners = tuple(_runner(item, i, where, env, used)
                        for i, item in enumerate(_runner_list(data.get("runner", []), where)))
        comps = _components(data.get("components", {}), where, env, used)
        names = [r.name for r in runners] + [c.name for c in comps]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ParameterError(f"{where}: component name {dup[0]!r} is used twice "
                                 f"(runner and component names must be unique)")
        sources = [str(path)] if path is not None else []
        if used:
            sources.append("env " + ",".join(used))
        return cls(serve, live_config, inline, runners, comps,
                   source=" + ".join(sources) or "defaults")

    def runner_mode(self, runner: RunnerEntry) -> str:
        """The mode ``runner`` runs in (its own, else ``[serve] mode``)."""
        return runner.mode or self.serve.mode

    def to_dict(self, secrets: tuple[str, ...] | list[str] = ()) -> dict[str, Any]:
        """The effective configuration, JSON-safe, secrets masked (see :func:`mask`)."""
        out = {
            "serve": {f.name: getattr(self.serve, f.name) for f in fields(ServeSettings)},
            "live": {"config": self.live_config,
                     **{s: dict(v) for s, v in self.live_inline.items()}},
            "runners": [{**{f.name: getattr(r, f.name) for f in fields(RunnerEntry)},
                         "mode": self.runner_mode(r)} for r in self.runners],
            "components": [{f.name: (list(v) if isinstance(v := getattr(c, f.name), tuple)
                                     else v) for f in fields(ComponentEntry)}
                           for c in self.components],
        }
        return mask(json.loads(json.dumps(out)), secrets)

    def digest(self) -> str:
        """SHA-256 (hex) of the canonical JSON of :meth:`to_dict` (audited as ``config``)."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def api_token(self, env: Mapping[str, str] | None = None) -> str | None:
        """The bearer token from ``env[serve.token_env]`` (None when unset or empty)."""
        import os

        env = os.environ if env is None else env
        return env.get(self.serve.token_env) or None

    def live_env(self, env: Mapping[str, str]) -> dict[str, str]:
        """Environment variables carrying the inline ``[live.*]`` keys to a runner: each as
        ``QUANTLAB_<SECTION>_<KEY>``, left out where ``env`` already sets that key."""
        out: dict[str, str] = {}
        for section, items in self.live_inline.items():
            for key, value in items.items():
                names = _env_names(section, key)
                if not any(n in env for n in names):
                    out[names[-1]] = _env_text(value)
        return out


def _env_text(value: Any) -> str:
    if value is None:
        return "off"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(_env_text(v) for v in value)
    return str(value)


# ------------------------------------------------------------------------------ parsing


def _read(p: Path) -> dict[str, Any]:
    data = read_toml(p, "serve config file")
    for section in data:
        if section not in _TOP:
            raise ParameterError(f"{p}: unknown section [{section}] "
                                 f"({_suggest(section, list(_TOP))})")
    for section in ("serve", "live", "components"):
        if not isinstance(data.get(section, {}), dict):
            raise ParameterError(f"{p}: {section} must be a table [{section}], not a value")
    return data


def _unknown(items: Mapping[str, Any], valid: list[str], where: str, table: str) -> None:
    for key in items:
        if key not in valid:
            raise ParameterError(f"{where}: unknown key {key!r} in {table} "
                                 f"({_suggest(key, valid)})")


def _from_env(spec: _Spec, names: list[str], env: Mapping[str, str], used: list[str]
              ) -> tuple[bool, Any]:
    """``(found, value)`` of the strongest of ``names`` set in ``env`` (checked by ``spec``)."""
    for var in reversed(names):
        if var in env:
            try:
                value = spec.check(spec.parse(env[var], var), var)
            except ParameterError as exc:
                raise ParameterError(f"environment variable {var}={env[var]!r}: {exc}"
                                     ) from None
            used.append(var)
            return True, value
    return False, None


def _build(cls: type, values: dict[str, Any], where: str, table: str) -> Any:
    try:
        return cls(**values)
    except ParameterError as exc:
        raise ParameterError(f"{where}: {table} {exc}") from None


def _settings(items: dict[str, Any], where: str, env: Mapping[str, str],
              used: list[str]) -> ServeSettings:
    specs = {f.name: f.metadata["spec"] for f in fields(ServeSettings)}
    _unknown(items, list(specs), where, "[serve]")
    values = dict(items)
    for key, spec in specs.items():
        names = (["MODE"] if key == "mode" else []) + [f"QUANTLAB_SERVE_{key.upper()}"]
        found, value = _from_env(spec, names, env, used)
        if found:
            values[key] = value
    return _build(ServeSettings, values, where, "[serve]")


def _live(items: dict[str, Any], where: str) -> tuple[str | None, dict[str, dict[str, Any]]]:
    valid = ["config", *SECTIONS]
    _unknown(items, valid, where, "[live]")
    config = _off(items.get("config"))
    if config is not None and (not isinstance(config, str) or not config.strip()):
        raise ParameterError(f"{where}: [live] config={config!r} must be a path to a live.toml")
    inline: dict[str, dict[str, Any]] = {}
    for section in SECTIONS:
        if section not in items:
            continue
        table = items[section]
        if not isinstance(table, dict):
            raise ParameterError(f"{where}: live.{section} must be a table [live.{section}]")
        specs = _keys(section)
        _unknown(table, list(specs), where, f"[live.{section}]")
        if section == "api" and "port" in table:
            raise ParameterError(f"{where}: [live.api] port is set by the supervisor; give "
                                 f"each [[runner]] its own port instead")
        checked = {}
        for key, value in table.items():
            try:
                checked[key] = specs[key].check(value, key)
            except ParameterError as exc:
                raise ParameterError(f"{where}: [live.{section}] {exc}") from None
        inline[section] = checked
    return config, inline


def _runner_list(value: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ParameterError(f"{where}: runner must be an array of tables [[runner]]")
    return value


def _runner(items: dict[str, Any], i: int, where: str, env: Mapping[str, str],
            used: list[str]) -> RunnerEntry:
    table = f"[[runner]] #{i + 1}"
    _unknown(items, [f.name for f in fields(RunnerEntry)], where, table)
    if "name" not in items:
        raise ParameterError(f"{where}: {table} has no name")
    entry = _build(RunnerEntry, dict(items), where, f"{table} ({items['name']!r})")
    ident = component_id(entry.name, runner=True)
    changes: dict[str, Any] = {}
    found, value = _from_env(_Spec("bool"), [f"ENABLE_{ident}"], env, used)
    if found:
        changes["enabled"] = value
    found, value = _from_env(_Spec("int", lo=0, hi=65535, integer=True), [f"{ident}_PORT"],
                             env, used)
    if found:
        changes["port"] = value or None
    return replace(entry, **changes) if changes else entry


def _components(table: dict[str, Any], where: str, env: Mapping[str, str],
                used: list[str]) -> tuple[ComponentEntry, ...]:
    valid = [f.name for f in fields(ComponentEntry) if f.name != "name"]
    names = list(BUILTIN_COMPONENTS) + [n for n in table if n not in BUILTIN_COMPONENTS]
    out = []
    for name in names:
        items = table.get(name, {})
        if not isinstance(items, dict):
            raise ParameterError(f"{where}: components.{name} must be a table "
                                 f"[components.{name}]")
        _unknown(items, valid, where, f"[components.{name}]")
        values = {**BUILTIN_COMPONENTS.get(name, {}), **items, "name": name}
        found, value = _from_env(_Spec("bool"), [f"ENABLE_{component_id(name)}"], env, used)
        if found:
            values["enabled"] = value
        out.append(_build(ComponentEntry, values, where, f"[components.{name}]"))
    return tuple(out)
