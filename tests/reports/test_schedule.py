"""`quantlab schedule install|show|remove`: generated systemd units and a tagged crontab line.

Nothing here touches the real user's crontab or systemd: the unit folder, ``crontab`` and
``systemctl`` are redirected to temporary files and fake scripts by an autouse fixture.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from quantlab.reports import schedule as sch
from tests.reports.conftest import SRC, cli

FAKE_CRONTAB = """#!/bin/sh
f='{file}'
case "$1" in
  -l) if [ -f "$f" ]; then cat "$f"; else echo "no crontab for tester" >&2; exit 1; fi ;;
  -) cat > "$f" ;;
  *) echo "fake crontab: unexpected $*" >&2; exit 2 ;;
esac
"""

FAKE_SYSTEMCTL = """#!/bin/sh
echo "$*" >> '{log}'
if [ -f '{fail}' ]; then echo "Failed to connect to bus: No medium found" >&2; exit 1; fi
case "$*" in
  *list-timers*) echo "NEXT                        LEFT  UNIT"
                 echo "Sat 2026-12-05 02:30:00 UTC 9h    quantlab-nightly.timer" ;;
esac
"""


def _script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


class Fakes:
    def __init__(self, root: Path) -> None:
        self.units = root / "units"
        self.crontab = root / "crontab.txt"
        self.systemctl_log = root / "systemctl.log"
        self.systemctl_fail = root / "systemctl.fail"

    def systemctl_calls(self) -> list[str]:
        if not self.systemctl_log.exists():
            return []
        return self.systemctl_log.read_text().splitlines()


@pytest.fixture(autouse=True)
def fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Fakes:
    f = Fakes(tmp_path / "fake")
    (tmp_path / "fake").mkdir()
    crontab = _script(tmp_path / "fake" / "crontab", FAKE_CRONTAB.format(file=f.crontab))
    systemctl = _script(tmp_path / "fake" / "systemctl",
                        FAKE_SYSTEMCTL.format(log=f.systemctl_log, fail=f.systemctl_fail))
    monkeypatch.setenv(sch.UNIT_DIR_ENV, str(f.units))
    monkeypatch.setenv(sch.CRONTAB_ENV, str(crontab))
    monkeypatch.setenv(sch.SYSTEMCTL_ENV, str(systemctl))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("QUANTLAB_NOTEBOOKS", raising=False)
    return f


@pytest.fixture
def project(tmp_path: Path) -> Path:
    p = tmp_path / "my project"          # a space, quoted per systemd / shell rules
    p.mkdir()
    (p / "reports.toml").write_text('[[reports]]\nnotebook = "x.ipynb"\n')
    return p


# ---------------------------------------------------------------------------- unit text
def test_units_run_nightly_from_the_project_with_this_interpreter(project: Path) -> None:
    units = sch.systemd_units("3:05", project=project, config=project / "reports.toml", keep=30,
                              env={})
    service, timer = units[sch.SERVICE], units[sch.TIMER]
    assert "\nOnCalendar=*-*-* 03:05:00\n" in timer
    assert "\nPersistent=true\n" in timer and f"\nUnit={sch.SERVICE}\n" in timer
    assert "\nWantedBy=timers.target\n" in timer
    assert "\nType=oneshot\n" in service
    assert f"\nWorkingDirectory={project}\n" in service
    assert "Environment=" not in service
    exec_line = next(line for line in service.splitlines() if line.startswith("ExecStart="))
    assert exec_line == (
        f"ExecStart={sch.systemd_escape(sys.executable)} -m quantlab report nightly "
        f'--out "{project}/reports" --workers 2 --config "{project}/reports.toml" --keep 30')


def test_systemd_escaping_of_specifiers_variables_quotes() -> None:
    assert sch.systemd_escape("/usr/bin/python3") == "/usr/bin/python3"
    assert sch.systemd_escape("/a b/c") == '"/a b/c"'
    assert sch.systemd_escape("50%") == "50%%"
    assert sch.systemd_escape("$HOME") == "$$HOME"
    assert sch.systemd_escape('say "hi"\\') == '"say \\"hi\\"\\\\"'
    assert sch.systemd_escape(";") == '";"'


def test_environment_carries_notebooks_and_pythonpath(project: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUANTLAB_NOTEBOOKS", str(project / "note books"))
    monkeypatch.setenv("PYTHONPATH", "src")
    p = sch.plan("02:30", project=project)
    assert p.env == {"QUANTLAB_NOTEBOOKS": str(project / "note books"),
                     "PYTHONPATH": str(Path.cwd() / "src")}
    service = sch.systemd_units(p)[sch.SERVICE]
    assert (f'\nEnvironment="QUANTLAB_NOTEBOOKS={project}/note books" '
            f'"PYTHONPATH={Path.cwd() / "src"}"\n') in service
    line = sch.crontab_line(p)
    assert f"QUANTLAB_NOTEBOOKS='{project}/note books' PYTHONPATH=" in line


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed on this machine")
def test_systemd_analyze_verifies_the_generated_units(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "verify"
    written = sch.install_systemd(sch.plan("23:59", project=project, keep=3), directory=out,
                                  enable=False)
    done = subprocess.run(["systemd-analyze", "verify", *map(str, written)], capture_output=True,
                          text=True, cwd=out, timeout=120)
    complaints = [line for line in done.stderr.splitlines() if "quantlab-nightly" in line]
    assert done.returncode == 0 and not complaints, done.stderr


def test_python_dash_m_quantlab_runs_the_cli() -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run([sys.executable, "-m", "quantlab", "schedule", "install", "--help"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0 and "--cron" in done.stdout


# ---------------------------------------------------------------------------- CLI: systemd
def test_dry_run_prints_and_writes_nothing(project: Path, fakes: Fakes,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("schedule", "install", "--dry-run", "--at", "04:00", "--project", str(project)) == 0
    out = capsys.readouterr().out
    assert f"# would write {fakes.units / sch.SERVICE}" in out
    assert "OnCalendar=*-*-* 04:00:00" in out and "Persistent=true" in out
    assert "systemctl --user enable --now quantlab-nightly.timer" in out
    assert cli("schedule", "install", "--dry-run", "--cron", "--project", str(project)) == 0
    assert sch.CRON_TAG in capsys.readouterr().out
    # the old spelling is an alias of `schedule install --dry-run`
    assert cli("report", "schedule", "--at", "04:00", "--project", str(project)) == 0
    assert capsys.readouterr().out == out
    assert not fakes.units.exists() and not fakes.crontab.exists()
    assert not (project / "reports").exists() and fakes.systemctl_calls() == []


def test_install_show_remove_without_systemctl(project: Path, fakes: Fakes, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    units = tmp_path / "other units"
    assert cli("schedule", "install", "--at", "1:15", "--project", str(project), "--unit-dir",
               str(units), "--no-enable") == 0
    out = capsys.readouterr().out
    assert f"wrote {units / sch.SERVICE}" in out and "not enabled (--no-enable)" in out
    assert "journalctl --user -u quantlab-nightly.service" in out
    assert "OnCalendar=*-*-* 01:15:00" in (units / sch.TIMER).read_text()
    assert f"WorkingDirectory={project}" in (units / sch.SERVICE).read_text()
    assert sorted(p.name for p in units.iterdir()) == [sch.SERVICE, sch.TIMER]   # no temp files
    assert (project / "reports").is_dir()
    assert fakes.systemctl_calls() == []

    assert cli("schedule", "show", "--unit-dir", str(units)) == 0
    out = capsys.readouterr().out
    assert f"# {units / sch.TIMER}" in out and "OnCalendar=*-*-* 01:15:00" in out
    assert "2026-12-05 02:30:00" in out                       # next run from list-timers

    assert cli("schedule", "remove", "--unit-dir", str(units), "--no-disable") == 0
    assert f"deleted {units / sch.TIMER}" in capsys.readouterr().out
    assert list(units.iterdir()) == [] and fakes.systemctl_calls() == ["--user list-timers --all "
                                                                      "--no-pager "
                                                                      "quantlab-nightly.timer"]
    assert cli("schedule", "remove", "--unit-dir", str(units)) == 0
    assert "nothing removed" in capsys.readouterr().out
    assert cli("schedule", "show", "--unit-dir", str(units)) == 0
    assert "no nightly schedule installed" in capsys.readouterr().out


def test_install_enables_the_timer_and_remove_disables_it(project: Path, fakes: Fakes) -> None:
    assert cli("schedule", "install", "--project", str(project)) == 0
    assert (fakes.units / sch.SERVICE).is_file()              # QUANTLAB_SYSTEMD_DIR
    assert fakes.systemctl_calls() == ["--user daemon-reload",
                                       "--user enable --now quantlab-nightly.timer"]
    assert cli("schedule", "install", "--at", "05:00", "--project", str(project)) == 0  # rewrite
    assert "05:00:00" in (fakes.units / sch.TIMER).read_text()
    assert cli("schedule", "remove") == 0
    assert fakes.systemctl_calls()[-2:] == ["--user disable --now quantlab-nightly.timer",
                                            "--user daemon-reload"]
    assert not (fakes.units / sch.SERVICE).exists()


def test_systemctl_failing_or_missing_is_one_line_with_the_manual_command(
        project: Path, fakes: Fakes, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    fakes.systemctl_fail.touch()
    assert cli("schedule", "install", "--project", str(project)) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "No medium found" in err and "systemctl --user enable --now quantlab-nightly.timer" in err
    assert (fakes.units / sch.TIMER).is_file()                # the units are kept
    monkeypatch.setenv(sch.SYSTEMCTL_ENV, str(fakes.units / "no-such-systemctl"))
    assert cli("schedule", "install", "--project", str(project)) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "systemctl --user daemon-reload &&" in err
    assert cli("schedule", "show") == 0                       # show degrades to a note
    assert "# next run unknown" in capsys.readouterr().out


def test_systemctl_not_on_path(project: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv(sch.SYSTEMCTL_ENV)
    monkeypatch.setenv("PATH", str(project))                  # no systemctl anywhere
    assert cli("schedule", "install", "--project", str(project)) == 1
    assert "systemctl not found; the units are written" in capsys.readouterr().err


# ---------------------------------------------------------------------------- CLI: cron
def test_cron_install_replace_remove_keeps_other_lines(project: Path, fakes: Fakes,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    others = ["MAILTO=me@example.com", "# my own jobs", "0 1 * * * /usr/bin/backup --all",
              "#0 2 * * * old disabled job # quantlab-nightly"]
    fakes.crontab.write_text("\n".join(others) + "\n")
    assert cli("schedule", "install", "--cron", "--at", "02:30", "--project", str(project),
               "--keep", "7") == 0
    assert "installed crontab line" in capsys.readouterr().out
    lines = fakes.crontab.read_text().splitlines()
    assert lines[:4] == others and len(lines) == 5
    tagged = lines[4]
    assert tagged.startswith("30 2 * * * mkdir -p ") and tagged.endswith(" # quantlab-nightly")
    assert f"cd '{project}' && " in tagged
    assert f" {sys.executable} -m quantlab report nightly --out '{project}/reports'" in tagged
    assert f">> '{project}/reports/nightly.log' 2>&1" in tagged and "--keep 7" in tagged

    assert cli("schedule", "install", "--cron", "--at", "4:15", "--project", str(project)) == 0
    assert "replaced crontab line" in capsys.readouterr().out
    lines = fakes.crontab.read_text().splitlines()
    assert lines[:4] == others and len(lines) == 5 and lines[4].startswith("15 4 * * * ")

    assert cli("schedule", "show") == 0
    assert lines[4] in capsys.readouterr().out
    assert cli("schedule", "install", "--no-enable", "--project", str(project)) == 0
    assert "a crontab line tagged '# quantlab-nightly' is installed too" in capsys.readouterr().err
    assert cli("schedule", "remove", "--systemd", "--no-disable") == 0
    assert fakes.crontab.read_text().splitlines()[4] == lines[4]
    assert cli("schedule", "remove", "--cron") == 0
    assert "removed crontab line" in capsys.readouterr().out
    assert fakes.crontab.read_text().splitlines() == others
    assert fakes.systemctl_calls() == []


def test_cron_from_an_empty_crontab(project: Path, fakes: Fakes) -> None:
    assert not fakes.crontab.exists()                         # `crontab -l`: "no crontab for"
    assert cli("schedule", "install", "--cron", "--project", str(project)) == 0
    assert len(fakes.crontab.read_text().splitlines()) == 1
    assert cli("schedule", "remove") == 0                      # both kinds: only cron present
    assert fakes.crontab.read_text() == ""


def test_cron_escapes_percent(tmp_path: Path) -> None:
    proj = tmp_path / "100%"
    proj.mkdir()
    line = sch.crontab_line("01:00", project=proj, env={})
    assert "100\\%" in line and "100%" not in line.replace("100\\%", "")


# ---------------------------------------------------------------------------- validation
@pytest.mark.parametrize("at", ["24:00", "12:60", "noon", "1230", "", "12:5", "1:2:3"])
def test_bad_at_is_a_one_line_usage_error(at: str, project: Path, fakes: Fakes,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("schedule", "install", "--at", at, "--project", str(project)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--at must be HH:MM" in err
    assert not fakes.units.exists() and fakes.systemctl_calls() == []


@pytest.mark.parametrize("at,expected", [("0:00", "00:00:00"), ("23:59", "23:59:00"),
                                         ("07:05", "07:05:00")])
def test_at_bounds(at: str, expected: str, project: Path) -> None:
    assert f"OnCalendar=*-*-* {expected}\n" in sch.systemd_units(at, project=project)[sch.TIMER]


def test_missing_config_is_an_error_before_anything_is_written(
        project: Path, fakes: Fakes, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("schedule", "install", "--project", str(project), "--config", "nope.toml") == 1
    assert "config not found: nope.toml" in capsys.readouterr().err
    assert not fakes.units.exists()


def test_project_must_be_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("schedule", "install", "--dry-run", "--project", str(tmp_path / "nope")) == 2
    assert "--project is not a folder" in capsys.readouterr().err


def test_the_cron_command_runs_in_the_project_and_appends_to_the_log(project: Path) -> None:
    """The shell quoting of the line, checked by running it (with a stand-in command)."""
    p = sch.plan("01:00", project=project, env={"QUANTLAB_NOTEBOOKS": "nb 100%"})
    probe = "import os, sys; print(os.getcwd(), os.environ['QUANTLAB_NOTEBOOKS'], sys.argv[1:])"
    p = sch.SchedulePlan(hour=p.hour, minute=p.minute, project=p.project, out=p.out / "a b",
                         command=(sys.executable, "-c", probe, "x y"), env=p.env)
    command = sch.crontab_line(p).split(" ", 5)[5].replace("\\%", "%")   # what cron hands to sh
    for _ in range(2):
        subprocess.run(["/bin/sh", "-c", command], check=True, timeout=60)
    log = (project / "reports" / "a b" / "nightly.log").read_text().splitlines()
    assert log == [f"{project} nb 100% ['x y']"] * 2
