"""Schedule the nightly set: a systemd user service + timer, or a tagged crontab line.

``install_systemd`` writes ``quantlab-nightly.service`` (``Type=oneshot``, run from the project
folder with the interpreter running quantlab now) and ``quantlab-nightly.timer``
(``OnCalendar=*-*-* HH:MM:00``, ``Persistent=true``: a night missed while the machine was off
runs at the next boot) into the user unit folder, then enables the timer through
``systemctl --user``. ``install_cron`` manages one line of the user's crontab, tagged
``# quantlab-nightly``; other lines are never touched.

Environment overrides (used by the tests, never the real crontab):

``QUANTLAB_SYSTEMD_DIR``  unit folder (default ``$XDG_CONFIG_HOME/systemd/user``)
``QUANTLAB_CRONTAB``      the ``crontab`` command (a command line; default ``crontab``)
``QUANTLAB_SYSTEMCTL``    the ``systemctl`` command (a command line; default ``systemctl``)
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from quantlab._util import write_text_atomic
from quantlab.errors import DataError, ParameterError, QuantlabError

__all__ = [
    "CRON_TAG",
    "SERVICE",
    "TIMER",
    "ScheduleError",
    "SchedulePlan",
    "cron_entries",
    "crontab_line",
    "install_cron",
    "install_systemd",
    "nightly_command",
    "plan",
    "read_crontab",
    "remove_cron",
    "remove_systemd",
    "systemctl",
    "systemd_escape",
    "systemd_units",
    "unit_dir",
]

SERVICE = "quantlab-nightly.service"
TIMER = "quantlab-nightly.timer"
CRON_TAG = "# quantlab-nightly"
UNIT_DIR_ENV = "QUANTLAB_SYSTEMD_DIR"
CRONTAB_ENV = "QUANTLAB_CRONTAB"
SYSTEMCTL_ENV = "QUANTLAB_SYSTEMCTL"
#: environment variables copied into the unit / cron line when set (so the scheduled run finds
#: the same notebooks and imports the same quantlab as the command that installed it)
PASS_ENV = ("QUANTLAB_NOTEBOOKS", "PYTHONPATH")
ENABLE_CMD = f"systemctl --user daemon-reload && systemctl --user enable --now {TIMER}"


class ScheduleError(QuantlabError):
    """``crontab``/``systemctl`` failed or is missing (exit code 1)."""


def _hhmm(at: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", str(at).strip())
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise ParameterError(f"--at must be HH:MM between 00:00 and 23:59, got {at!r}")
    return int(m.group(1)), int(m.group(2))


def _abs(path: str | os.PathLike[str]) -> Path:
    p = Path(path).expanduser().absolute()
    if "\n" in str(p) or "\r" in str(p):
        raise ParameterError(f"a scheduled path cannot contain a newline: {str(p)!r}")
    return Path(os.path.normpath(p))


@dataclass(frozen=True)
class SchedulePlan:
    """What runs when: time of day, project folder, the command and its environment."""

    hour: int
    minute: int
    project: Path
    out: Path
    command: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)

    @property
    def at(self) -> str:
        return f"{self.hour:02d}:{self.minute:02d}"


def nightly_command(*, config: str | os.PathLike[str] | None = None,
                    out: str | os.PathLike[str] = "reports", workers: int = 2,
                    keep: int | None = None) -> list[str]:
    """``<python> -m quantlab report nightly ...`` with absolute paths (for cron/systemd)."""
    cmd = [sys.executable, "-m", "quantlab", "report", "nightly", "--out", str(_abs(out)),
           "--workers", str(int(workers))]
    if config:
        cmd += ["--config", str(_abs(config))]
    if keep is not None:
        cmd += ["--keep", str(int(keep))]
    return cmd


def plan(at: str = "02:30", *, project: str | os.PathLike[str] = ".",
         config: str | os.PathLike[str] | None = None, out: str | os.PathLike[str] | None = None,
         workers: int = 2, keep: int | None = None,
         env: dict[str, str] | None = None) -> SchedulePlan:
    """Validate the options and resolve every path (``out`` defaults to ``<project>/reports``).

    ``env`` defaults to the variables of :data:`PASS_ENV` set in this process.
    """
    hour, minute = _hhmm(at)
    if int(workers) < 1:
        raise ParameterError(f"--workers must be >= 1, got {workers}")
    if keep is not None and int(keep) < 1:
        raise ParameterError(f"--keep must be >= 1, got {keep}")
    proj = _abs(project)
    if not proj.is_dir():
        raise ParameterError(f"--project is not a folder: {proj}")
    out_dir = _abs(out) if out is not None else proj / "reports"
    if config is not None and not Path(config).is_file():
        raise DataError(f"config not found: {config}")
    if env is None:
        env = {k: os.environ[k] for k in PASS_ENV if os.environ.get(k)}
        if "PYTHONPATH" in env:  # relative entries would move with the working folder
            env["PYTHONPATH"] = os.pathsep.join(
                str(_abs(e)) for e in env["PYTHONPATH"].split(os.pathsep) if e)
    for key, value in env.items():
        if "\n" in value or "\r" in value:
            raise ParameterError(f"{key} cannot contain a newline")
    cmd = nightly_command(config=config, out=out_dir, workers=workers, keep=keep)
    return SchedulePlan(hour=hour, minute=minute, project=proj, out=out_dir, command=tuple(cmd),
                        env=dict(env))


# ---------------------------------------------------------------------------- systemd
def _spec(text: str) -> str:
    return text.replace("%", "%%")


def systemd_escape(arg: str) -> str:
    """One ``ExecStart=`` word: ``%`` → ``%%``, ``$`` → ``$$``; double-quoted (with ``\\\\`` and
    ``\\"`` escapes) when it holds whitespace, quotes, backslashes or ``;``."""
    word = _spec(arg).replace("$", "$$")
    if word and not re.search(r"[\s\"'\\;]", word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _env_line(env: dict[str, str]) -> str:
    words = []
    for key, value in env.items():
        words.append('"' + _spec(f"{key}={value}").replace("\\", "\\\\").replace('"', '\\"') + '"')
    return "Environment=" + " ".join(words) + "\n"


def systemd_units(at: str | SchedulePlan = "02:30", **kw: object) -> dict[str, str]:
    """The text of ``quantlab-nightly.service`` and ``.timer`` (keyword arguments as :func:`plan`)."""
    p = at if isinstance(at, SchedulePlan) else plan(at, **kw)  # type: ignore[arg-type]
    service = (
        "# written by `quantlab schedule install`; remove with `quantlab schedule remove`\n"
        "[Unit]\nDescription=quantlab nightly reports\n\n"
        "[Service]\nType=oneshot\n"
        f"WorkingDirectory={_spec(str(p.project))}\n"
        + (_env_line(p.env) if p.env else "")
        + "ExecStart=" + " ".join(systemd_escape(a) for a in p.command) + "\n")
    timer = (
        "# written by `quantlab schedule install`; remove with `quantlab schedule remove`\n"
        "[Unit]\nDescription=Run quantlab nightly reports daily\n\n"
        f"[Timer]\nOnCalendar=*-*-* {p.hour:02d}:{p.minute:02d}:00\nPersistent=true\n"
        f"Unit={SERVICE}\n\n"
        "[Install]\nWantedBy=timers.target\n")
    return {SERVICE: service, TIMER: timer}


def unit_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """The user unit folder: ``path``, else ``$QUANTLAB_SYSTEMD_DIR``, else
    ``$XDG_CONFIG_HOME/systemd/user`` (``~/.config/systemd/user``)."""
    if path:
        return _abs(path)
    if os.environ.get(UNIT_DIR_ENV):
        return _abs(os.environ[UNIT_DIR_ENV])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return _abs(Path(base) / "systemd" / "user")


def _tool(env_var: str, name: str) -> list[str] | None:
    if os.environ.get(env_var):
        return shlex.split(os.environ[env_var])
    found = shutil.which(name)
    return [found] if found else None


def systemctl(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``systemctl --user ARGS``; :class:`ScheduleError` (one line) if missing or failing."""
    base = _tool(SYSTEMCTL_ENV, "systemctl")
    if base is None:
        raise ScheduleError("systemctl not found")
    try:
        done = subprocess.run([*base, "--user", *args], capture_output=True, text=True,
                              timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ScheduleError(f"systemctl --user {' '.join(args)}: {exc}") from None
    if check and done.returncode != 0:
        reason = (done.stderr.strip() or done.stdout.strip() or f"exit {done.returncode}")
        raise ScheduleError(f"systemctl --user {' '.join(args)} failed: {reason.splitlines()[0]}")
    return done


def install_systemd(p: SchedulePlan, *, directory: str | os.PathLike[str] | None = None,
                    enable: bool = True) -> list[Path]:
    """Write both units atomically into :func:`unit_dir`; with ``enable``, reload systemd and
    enable + start the timer (:class:`ScheduleError` if that fails — the files stay written)."""
    folder = unit_dir(directory)
    written = [write_text_atomic(folder / name, text) for name, text in systemd_units(p).items()]
    p.out.mkdir(parents=True, exist_ok=True)
    if enable:
        systemctl("daemon-reload")
        systemctl("enable", "--now", TIMER)
    return written


def remove_systemd(*, directory: str | os.PathLike[str] | None = None,
                   disable: bool = True) -> list[Path]:
    """Disable the timer (best effort) and delete the unit files; returns the files deleted."""
    folder = unit_dir(directory)
    present = [folder / n for n in (TIMER, SERVICE) if (folder / n).exists()]
    if not present:
        return []
    if disable:
        systemctl("disable", "--now", TIMER)
    for path in present:
        try:
            path.unlink()
        except OSError as exc:
            raise DataError(f"cannot delete {path}: {exc.strerror or exc}") from None
    if disable:
        systemctl("daemon-reload")
    return present


# ---------------------------------------------------------------------------- cron
def crontab_line(at: str | SchedulePlan = "02:30", **kw: object) -> str:
    """The tagged crontab line: every day at ``at``, from the project folder, appending stdout
    and stderr to ``<out>/nightly.log`` (keyword arguments as :func:`plan`)."""
    p = at if isinstance(at, SchedulePlan) else plan(at, **kw)  # type: ignore[arg-type]
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in p.env.items())
    cmd = (f"mkdir -p {shlex.quote(str(p.out))} && cd {shlex.quote(str(p.project))} && "
           f"{env + ' ' if env else ''}{shlex.join(p.command)} "
           f">> {shlex.quote(str(p.out / 'nightly.log'))} 2>&1")
    # cron turns an unescaped % into a newline
    return f"{p.minute} {p.hour} * * * {cmd.replace('%', chr(92) + '%')} {CRON_TAG}"


def _is_ours(line: str) -> bool:
    return line.rstrip().endswith(CRON_TAG) and not line.lstrip().startswith("#")


def _crontab(args: Sequence[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    base = _tool(CRONTAB_ENV, "crontab")
    if base is None:
        raise ScheduleError("crontab not found (install cron, or use the systemd timer: "
                            "`quantlab schedule install` without --cron)")
    try:
        return subprocess.run([*base, *args], input=stdin, capture_output=True, text=True,
                              timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ScheduleError(f"crontab {' '.join(args)}: {exc}") from None


def read_crontab() -> list[str]:
    """The user's crontab lines (empty when there is none)."""
    done = _crontab(["-l"])
    if done.returncode != 0:
        if "no crontab" in (done.stderr + done.stdout).lower():
            return []
        reason = done.stderr.strip() or f"exit {done.returncode}"
        raise ScheduleError(f"crontab -l failed: {reason.splitlines()[0]}")
    return done.stdout.splitlines()


def _write_crontab(lines: list[str]) -> None:
    text = "".join(line + "\n" for line in lines)
    done = _crontab(["-"], stdin=text)
    if done.returncode != 0:
        reason = done.stderr.strip() or f"exit {done.returncode}"
        raise ScheduleError(f"crontab - failed: {reason.splitlines()[0]}")


def cron_entries() -> list[str]:
    """The tagged line(s) in the user's crontab."""
    return [line for line in read_crontab() if _is_ours(line)]


def install_cron(p: SchedulePlan) -> tuple[str, bool]:
    """Install the tagged line, replacing an earlier one in place (other lines kept).

    Returns ``(line, replaced)``.
    """
    line = crontab_line(p)
    lines = read_crontab()
    ours = [i for i, old in enumerate(lines) if _is_ours(old)]
    if ours:
        lines[ours[0]] = line
        lines = [old for i, old in enumerate(lines) if i not in ours[1:]]
    else:
        lines.append(line)
    p.out.mkdir(parents=True, exist_ok=True)
    _write_crontab(lines)
    return line, bool(ours)


def remove_cron() -> list[str]:
    """Delete the tagged line(s); returns them (nothing is written when there is none)."""
    lines = read_crontab()
    ours = [line for line in lines if _is_ours(line)]
    if ours:
        _write_crontab([line for line in lines if not _is_ours(line)])
    return ours
