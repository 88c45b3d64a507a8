"""Typed, checked configuration keys: the machinery behind ``live.toml``, ``serve.toml`` and
``engine.toml``.

A configuration section is a frozen dataclass whose fields are made with :func:`config_key`
(a default plus a :class:`KeySpec` saying how the value is checked and how an environment
string is parsed); :func:`validate_fields` checks and normalizes every field in
``__post_init__``; :func:`suggest` names the closest valid key in an error message.
"""

from __future__ import annotations

import difflib
import itertools
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from quantlab._validate import check_choice, check_range
from quantlab.data.timeframes import parse_timeframe
from quantlab.errors import DataError, ParameterError

__all__ = ["OFF", "KeySpec", "Triple", "config_key", "read_toml", "suggest", "validate_fields"]

#: Strings that switch an optional limit off (case-insensitive).
OFF = frozenset({"off", "none"})

Triple = tuple[float | None, float | None, float | None]


# --------------------------------------------------------------------------------------------
# value specifications (one per key; stored in the dataclass field's metadata)


@dataclass(frozen=True)
class KeySpec:
    """How one key is checked (``check``) and read from an environment string (``parse``).

    ``kind``: ``number`` | ``int`` | ``bool`` | ``str`` | ``choice`` | ``timeframe`` |
    ``triple`` (warn/reduce/halt thresholds, entries ``number`` or ``int``).
    """

    kind: str
    optional: bool = False
    lo: float | None = None
    hi: float | None = None
    open_low: bool = False
    open_high: bool = False
    integer: bool = False
    choices: tuple[str, ...] = ()

    def _is_off(self, value: Any) -> bool:
        return value is None or (isinstance(value, str) and value.strip().lower() in OFF)

    def _number(self, value: Any, name: str) -> float | int:
        return check_range(value, name, self.lo, self.hi, open_low=self.open_low,
                           open_high=self.open_high, integer=self.integer)

    def check(self, value: Any, name: str) -> Any:
        """The normalized value, or a ParameterError naming ``name`` and ``value``."""
        if self.kind == "triple":
            return self._triple(value, name)
        if self.optional and self._is_off(value):
            return None
        if self.kind in ("number", "int"):
            return self._number(value, name)
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ParameterError(f"{name}={value!r} must be true or false")
            return value
        if self.kind == "choice":
            return check_choice(value, name, self.choices)
        if not isinstance(value, str) or not value.strip():
            raise ParameterError(f"{name}={value!r} must be a non-empty string")
        if self.kind == "timeframe":
            try:
                parse_timeframe(value)
            except ParameterError as exc:
                raise ParameterError(f"{name}={value!r}: {exc}") from None
        return value

    def _triple(self, value: Any, name: str) -> Triple:
        if self._is_off(value):
            return (None, None, None)
        if isinstance(value, str) or not isinstance(value, list | tuple) or len(value) != 3:
            raise ParameterError(f"{name}={value!r} must be [warn, reduce, halt] "
                                 f"(numbers or \"off\"), or \"off\"")
        out: list[Any] = []
        for label, item in zip(("warn", "reduce", "halt"), value, strict=True):
            out.append(None if self._is_off(item) else self._number(item, f"{name} {label}"))
        on = [v for v in out if v is not None]
        if any(b < a for a, b in itertools.pairwise(on)):
            raise ParameterError(f"{name}={value!r} must be non-decreasing "
                                 f"(warn <= reduce <= halt)")
        return (out[0], out[1], out[2])

    def parse(self, text: str, name: str) -> Any:
        """The value written in an environment variable (checked afterwards by :meth:`check`)."""
        raw = text.strip()
        if self.kind == "triple":
            if raw.lower() in OFF:
                return None
            return [self._scalar(part.strip(), name) for part in raw.split(",")]
        if self.kind == "bool":
            low = raw.lower()
            if low in ("true", "1", "yes", "on"):
                return True
            if low in ("false", "0", "no"):
                return False
            raise ParameterError(f"{name}={text!r} must be true or false")
        if self.kind in ("number", "int"):
            return self._scalar(raw, name)
        return raw

    def _scalar(self, raw: str, name: str) -> Any:
        if raw.lower() in OFF:
            return None if (self.optional or self.kind == "triple") else raw
        try:
            number = float(raw)
        except ValueError:
            raise ParameterError(f"{name}={raw!r} must be a number or off") from None
        return int(number) if number.is_integer() and self.integer else number


def config_key(default: Any, spec: KeySpec) -> Any:
    """A dataclass field with its checking spec."""
    return field(default=default, metadata={"spec": spec})


def validate_fields(obj: Any) -> None:
    """Check and normalize every field of a config dataclass by its spec."""
    for f in fields(obj):
        spec: KeySpec = f.metadata["spec"]
        object.__setattr__(obj, f.name, spec.check(getattr(obj, f.name), f.name))


def suggest(name: str, options: list[str]) -> str:
    """``did you mean 'x'?`` for the closest of ``options``, else the list of valid ones."""
    close = difflib.get_close_matches(name, options, n=1)
    return f"did you mean {close[0]!r}?" if close else f"valid: {', '.join(options)}"


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """The parsed TOML file ``path``; one-line :class:`DataError` naming ``what`` (``"live
    config file"``) when it is missing, unreadable or not TOML."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{what} {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {what} {path}: "
                        f"{getattr(exc, 'strerror', None) or exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"{path}: not valid TOML: {exc}") from None
