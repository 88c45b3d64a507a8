"""Schedule the nightly set: the crontab line / systemd units that run it (printed, not installed)."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

from quantlab.errors import ParameterError

__all__ = ["crontab_line", "nightly_command", "systemd_units"]


def _hhmm(at: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", at)
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise ParameterError(f"--at must be HH:MM (24 h), got {at!r}")
    return int(m.group(1)), int(m.group(2))


def nightly_command(*, config: str | None = None, out: str = "reports", workers: int = 2,
                    keep: int | None = None) -> list[str]:
    """The ``quantlab report nightly`` command line with absolute paths (for cron/systemd)."""
    script = Path(sys.executable).with_name("quantlab")
    cmd = [str(script)] if script.is_file() else [sys.executable, "-m", "quantlab.cli"]
    cmd += ["report", "nightly", "--out", str(Path(out).resolve()), "--workers", str(workers)]
    if config:
        cmd += ["--config", str(Path(config).resolve())]
    if keep is not None:
        cmd += ["--keep", str(keep)]
    return cmd


def crontab_line(at: str = "02:30", *, project: str | Path = ".", **kw: object) -> str:
    """A crontab line running the nightly set at ``at`` every day from the project folder,
    appending its output to ``<out>/nightly.log``."""
    hour, minute = _hhmm(at)
    cmd = nightly_command(**kw)  # type: ignore[arg-type]
    out = cmd[cmd.index("--out") + 1]
    return (f"{minute} {hour} * * * cd {shlex.quote(str(Path(project).resolve()))} && "
            f"{shlex.join(cmd)} >> {shlex.quote(out + '/nightly.log')} 2>&1")


def systemd_units(at: str = "02:30", *, project: str | Path = ".", **kw: object) -> dict[str, str]:
    """``quantlab-nightly.service`` and ``.timer`` (user units) running the set at ``at``."""
    hour, minute = _hhmm(at)
    cmd = nightly_command(**kw)  # type: ignore[arg-type]
    service = ("[Unit]\nDescription=quantlab nightly reports\n\n[Service]\nType=oneshot\n"
               f"WorkingDirectory={Path(project).resolve()}\nExecStart={shlex.join(cmd)}\n")
    timer = ("[Unit]\nDescription=Run quantlab nightly reports daily\n\n[Timer]\n"
             f"OnCalendar=*-*-* {hour:02d}:{minute:02d}:00\nPersistent=true\n\n"
             "[Install]\nWantedBy=timers.target\n")
    return {"quantlab-nightly.service": service, "quantlab-nightly.timer": timer}
