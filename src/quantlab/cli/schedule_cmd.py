"""``quantlab schedule install|show|remove``: run the nightly set every day (systemd or cron)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from quantlab.cli._args import positive_int as _positive

__all__ = ["add_install_arguments", "install", "register"]


def _warn(msg: str) -> None:
    print(f"quantlab: warning: {msg}", file=sys.stderr)


def install(args: argparse.Namespace) -> int:
    from quantlab.reports import schedule as sch

    p = sch.plan(args.at, project=args.project, config=args.config, out=args.out,
                 workers=args.workers, keep=args.keep)
    if args.cron:
        line = sch.crontab_line(p)
        if args.dry_run:
            print(f"# would install in the user's crontab (replacing any line tagged "
                  f"'{sch.CRON_TAG}'):\n{line}")
            return 0
        line, replaced = sch.install_cron(p)
        print(f"{'replaced' if replaced else 'installed'} crontab line ({p.at} daily):\n{line}")
        print(f"logs: {p.out / 'nightly.log'}")
        if any((sch.unit_dir(args.unit_dir) / n).exists() for n in (sch.SERVICE, sch.TIMER)):
            _warn(f"systemd units are installed too ({sch.unit_dir(args.unit_dir)}); "
                  "`quantlab schedule remove` removes both")
        return 0

    folder = sch.unit_dir(args.unit_dir)
    units = sch.systemd_units(p)
    if args.dry_run:
        for name, text in units.items():
            print(f"# would write {folder / name}\n{text}")
        print(f"# then run: {sch.ENABLE_CMD}" if not args.no_enable
              else f"# enable later with: {sch.ENABLE_CMD}")
        return 0
    written = sch.install_systemd(p, directory=folder, enable=False)
    for path in written:
        print(f"wrote {path}")
    if args.no_enable:
        print(f"not enabled (--no-enable); enable with: {sch.ENABLE_CMD}")
    else:
        try:
            sch.systemctl("daemon-reload")
            sch.systemctl("enable", "--now", sch.TIMER)
        except sch.ScheduleError as exc:
            raise sch.ScheduleError(f"{exc}; the units are written — enable them with: "
                                    f"{sch.ENABLE_CMD}") from None
        print(f"enabled {sch.TIMER}: daily at {p.at} (a missed night runs at the next boot)")
    print(f"logs: journalctl --user -u {sch.SERVICE}")
    try:
        if sch.cron_entries():
            _warn(f"a crontab line tagged '{sch.CRON_TAG}' is installed too; "
                  "`quantlab schedule remove --cron` removes it")
    except sch.ScheduleError:
        pass
    return 0


def _show(args: argparse.Namespace) -> int:
    from quantlab.reports import schedule as sch

    found = False
    folder = sch.unit_dir(args.unit_dir)
    for name in (sch.SERVICE, sch.TIMER):
        path = folder / name
        if path.is_file():
            found = True
            print(f"# {path}\n{path.read_text(encoding='utf-8')}")
    if found:
        try:
            done = sch.systemctl("list-timers", "--all", "--no-pager", sch.TIMER)
            print(done.stdout.rstrip())
        except sch.ScheduleError as exc:
            print(f"# next run unknown ({exc})")
        print(f"# logs: journalctl --user -u {sch.SERVICE}")
    try:
        lines = sch.cron_entries()
    except sch.ScheduleError as exc:
        lines = []
        if not found:
            print(f"# crontab not read: {exc}")
    for line in lines:
        found = True
        print(f"# crontab\n{line}")
    if not found:
        print("no nightly schedule installed (see `quantlab schedule install --help`)")
    return 0


def _remove(args: argparse.Namespace) -> int:
    from quantlab.reports import schedule as sch

    removed = False
    if not args.cron:
        try:
            deleted = sch.remove_systemd(directory=args.unit_dir, disable=not args.no_disable)
        except sch.ScheduleError as exc:
            raise sch.ScheduleError(
                f"{exc}; disable by hand with: systemctl --user disable --now {sch.TIMER}, then "
                f"delete {sch.unit_dir(args.unit_dir) / sch.SERVICE} and .timer") from None
        for path in deleted:
            print(f"deleted {path}")
        removed = bool(deleted)
    if not args.systemd:
        try:
            lines = sch.remove_cron()
        except sch.ScheduleError as exc:
            if args.cron:
                raise
            lines = []
            if not removed:
                _warn(f"crontab not checked: {exc}")
        for line in lines:
            print(f"removed crontab line: {line}")
        removed = removed or bool(lines)
    if not removed:
        print("no nightly schedule installed; nothing removed")
    return 0


def add_install_arguments(s: argparse.ArgumentParser, *, dry_run: bool = True) -> None:
    """The options of ``schedule install`` (shared with ``report schedule``)."""
    s.add_argument("--at", default="02:30", help="time of day HH:MM, 00:00-23:59 (default 02:30)")
    s.add_argument("--cron", action="store_true",
                   help="install a tagged line in the user's crontab instead of a systemd timer")
    s.add_argument("--project", default=".",
                   help="project folder the run starts in (default: the current folder)")
    s.add_argument("--config", help="nightly TOML config (default: the packaged set)")
    s.add_argument("--out", default=None, help="report root folder (default <project>/reports)")
    s.add_argument("--workers", type=_positive, default=2, help="notebooks in parallel (default 2)")
    s.add_argument("--keep", type=_positive, default=None, help="keep only the newest N nights")
    s.add_argument("--unit-dir", default=None,
                   help="systemd user unit folder (default $QUANTLAB_SYSTEMD_DIR, else "
                        "$XDG_CONFIG_HOME/systemd/user)")
    s.add_argument("--no-enable", action="store_true",
                   help="write the units but do not run systemctl")
    if dry_run:
        s.add_argument("--dry-run", action="store_true",
                       help="print what would be written, change nothing")


def register(sub: Any) -> None:
    """Add the ``schedule`` command group (``install``, ``show``, ``remove``)."""
    p = sub.add_parser("schedule", help="run the nightly reports every day (systemd timer or cron)")
    ssub = p.add_subparsers(dest="schedule_command", metavar="SUBCOMMAND")
    ssub.required = True

    i = ssub.add_parser("install", help="write + enable a systemd user timer (or --cron a crontab "
                                        "line) running `report nightly` daily")
    add_install_arguments(i)
    i.set_defaults(func=install)

    s = ssub.add_parser("show", help="print the installed units / crontab line and the next run")
    s.add_argument("--unit-dir", default=None, help="systemd user unit folder")
    s.set_defaults(func=_show)

    r = ssub.add_parser("remove", help="disable + delete the units and/or the crontab line")
    g = r.add_mutually_exclusive_group()
    g.add_argument("--cron", action="store_true", help="only the crontab line")
    g.add_argument("--systemd", action="store_true", help="only the systemd units")
    r.add_argument("--unit-dir", default=None, help="systemd user unit folder")
    r.add_argument("--no-disable", action="store_true",
                   help="delete the unit files without running systemctl")
    r.set_defaults(func=_remove)
