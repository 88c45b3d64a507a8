"""One child process of the supervisor (:class:`Child`) and its rotating log (:class:`RotatingLog`).

A child runs in a session (process group) of its own, so a Ctrl-C in the terminal reaches
only the supervisor, which then stops the children in order; :meth:`Child.terminate` signals
the whole group (a nightly report's notebook kernels go with it). Its stdout and stderr are
read by the supervisor and appended to ``logs/<component>.log``, which rotates by size
(``.log.1`` the newest rotated file); the last lines are kept for the status API.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["Child", "RotatingLog"]

log = logging.getLogger(__name__)

_TAIL_LINES = 20


class RotatingLog:
    """Append-only log file rotated by size.

    Parameters
    ----------
    path : Path
        The log file (its folder is created).
    max_bytes : int
        Rotate when a write would take the file past this size.
    backups : int
        Rotated files kept (``path.1`` newest .. ``path.N``); 0 truncates instead.
    """

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        self.path = Path(path)
        self.max_bytes = int(max_bytes)
        self.backups = int(backups)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "ab")
        self._size = self._fh.tell()

    def write(self, data: bytes) -> None:
        """Append ``data`` (rotating first when it would not fit)."""
        if self._size and self._size + len(data) > self.max_bytes:
            self._rotate()
        self._fh.write(data)
        self._fh.flush()
        self._size += len(data)

    def _rotate(self) -> None:
        self._fh.close()
        if self.backups:
            for i in range(self.backups - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{i}")
                if older.exists():
                    os.replace(older, self.path.with_name(f"{self.path.name}.{i + 1}"))
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
            self._fh = open(self.path, "ab")
        else:
            self._fh = open(self.path, "wb")
        self._size = 0

    def close(self) -> None:
        """Close the file (idempotent)."""
        self._fh.close()


class Child:
    """A running child process whose output goes to a :class:`RotatingLog`.

    Create with :meth:`spawn`.

    Attributes
    ----------
    pid : int
    tail : collections.deque of str
        The last lines it printed.
    """

    def __init__(self, proc: asyncio.subprocess.Process, log: RotatingLog) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.log = log
        self.tail: deque[str] = deque(maxlen=_TAIL_LINES)
        self._partial = b""
        self._log_failed = False
        self._pump = asyncio.ensure_future(self._copy())
        self._exit: asyncio.Future[int] = asyncio.ensure_future(self._wait())

    @classmethod
    async def spawn(cls, argv: Sequence[str], env: Mapping[str, str], cwd: str | None,
                    log: RotatingLog) -> Child:
        """Start ``argv`` in a new session with stdout and stderr into ``log``.

        Raises
        ------
        OSError
            The program cannot be started (not found, not executable, bad ``cwd``).
        """
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, env=dict(env), cwd=cwd, start_new_session=True)
        return cls(proc, log)

    async def _copy(self) -> None:
        stream = self.proc.stdout
        assert stream is not None
        while chunk := await stream.read(65536):
            try:
                self.log.write(chunk)
            except (OSError, ValueError) as exc:  # disk full, closed file: keep draining
                if not self._log_failed:
                    log.error("cannot write %s: %s", self.log.path, exc)
                self._log_failed = True
            lines = (self._partial + chunk).split(b"\n")
            self._partial = lines.pop()[-4096:]
            self.tail.extend(line.decode(errors="replace").rstrip("\r") for line in lines)

    async def _wait(self) -> int:
        code = await self.proc.wait()
        with contextlib.suppress(TimeoutError):  # a grandchild may hold the pipe
            await asyncio.wait_for(asyncio.shield(self._pump), 2.0)
        if not self._pump.done():
            self._pump.cancel()
        if self._partial:
            self.tail.append(self._partial.decode(errors="replace"))
            self._partial = b""
        return code

    @property
    def returncode(self) -> int | None:
        """Exit code once it ended (negative: killed by that signal), else None."""
        return self._exit.result() if self._exit.done() else None

    def exited(self) -> asyncio.Future[int]:
        """A future resolved with the exit code (shielded: cancelling a waiter is harmless)."""
        return asyncio.shield(self._exit)

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the child's process group (to the child alone if that fails)."""
        if self.proc.returncode is not None:
            return
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)

    async def terminate(self, timeout: float) -> int:
        """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL; returns the exit code."""
        if not self._exit.done():
            self.signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.exited(), timeout)
            except TimeoutError:
                self.signal(signal.SIGKILL)
        code = await self.exited()
        self.kill_group()
        return code

    def kill_group(self) -> None:
        """SIGKILL what is left of the child's process group once the child has ended (its
        orphaned grandchildren)."""
        if self.proc.returncode is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
