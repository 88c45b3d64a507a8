"""An exclusive, inter-process lock per cached dataset (``flock`` on the dataset itself).

Writers of one cached symbol (``data fetch``, ``data import``) hold the lock for the whole
operation, so two of them queue instead of overwriting each other. The lock is taken on the
dataset folder (or the single file of an older cache) itself, so no lock file is left behind;
the kernel drops it when its holder dies, even by SIGKILL, so a crashed fetch never leaves the
cache locked. Readers do not lock: every file of the cache is replaced atomically, so they
always see whole files.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from quantlab.errors import DataError

__all__ = ["DatasetLock", "LockTimeout", "cache_lock", "extend_lock"]

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

_HELD: dict[str, DatasetLock] = {}


class LockTimeout(DataError):
    """Another process kept a dataset locked longer than the caller would wait."""


def _holder(fd: int) -> str:
    """``pid N`` of the process holding a flock on ``fd``'s inode (Linux ``/proc/locks``)."""
    try:
        inode = os.fstat(fd).st_ino
        with open("/proc/locks", encoding="ascii") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5].rsplit(":", 1)[-1] == str(inode):
                    if parts[4].isdigit() and int(parts[4]) != os.getpid():
                        return f"pid {parts[4]}"
    except (OSError, ValueError):
        pass
    return "another process"


class DatasetLock:
    """Exclusive lock of one dataset path; use through :func:`cache_lock`.

    Parameters
    ----------
    dataset : str or PathLike
        Dataset folder (created if missing) or single file.
    timeout : float, optional
        Seconds to wait for another holder (None: as long as it takes; 0: refuse at once).
    on_wait : callable, optional
        Called once with a message when the lock is busy (e.g. to tell the user why nothing
        happens).
    poll : float
        Seconds between attempts while waiting.
    """

    def __init__(
        self,
        dataset: str | os.PathLike[str],
        *,
        timeout: float | None = None,
        on_wait: Callable[[str], None] | None = None,
        poll: float = 0.05,
    ) -> None:
        self.path = Path(dataset)
        self.timeout = timeout
        self.on_wait = on_wait
        self.poll = poll
        self._fds: list[int] = []
        self._created = False

    def _open(self) -> int:
        try:
            if not self.path.exists():
                self.path.mkdir(parents=True, exist_ok=True)
                self._created = True
            return os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return -1  # replaced between exists() and open(): try again
        except OSError as exc:
            raise DataError(f"cannot lock {self.path}: {exc.strerror or exc}") from None

    def acquire(self) -> DatasetLock:
        """Block until the lock is held (or raise :class:`LockTimeout`)."""
        if fcntl is None:  # pragma: no cover - no flock on this platform
            return self
        deadline = None if self.timeout is None else time.monotonic() + max(self.timeout, 0.0)
        told = False
        while True:
            fd = self._open()
            if fd < 0:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise DataError(f"cannot lock {self.path}: {exc.strerror or exc}") from None
                holder = _holder(fd)
                os.close(fd)
                if deadline is not None and time.monotonic() >= deadline:
                    waited = f" after waiting {self.timeout:g} s" if self.timeout else ""
                    raise LockTimeout(
                        f"{self.path} is being written by {holder} (another fetch or import of "
                        f"the same symbol){waited}; try again when it has finished"
                    ) from None
                if self.on_wait is not None and not told:
                    self.on_wait(f"waiting for {holder}, which is writing {self.path}")
                    told = True
                time.sleep(self.poll)
                continue
            try:  # the path may have been replaced (e.g. a file converted to a folder) meanwhile
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                self._fds.append(fd)
                _HELD[str(self.path.resolve())] = self
                return self
            os.close(fd)

    def also(self, other: str | os.PathLike[str]) -> None:
        """Also hold ``other`` (a folder about to be renamed onto the dataset path)."""
        if fcntl is None:  # pragma: no cover
            return
        fd = os.open(other, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise DataError(f"cannot lock {other}: held by {_holder(fd)}") from None
        self._fds.append(fd)

    def release(self) -> None:
        """Drop the lock (idempotent); a folder it created and nobody filled is removed."""
        _HELD.pop(str(self.path.resolve()), None)
        if self._fds and self._created:
            with contextlib.suppress(OSError):
                self.path.rmdir()  # only succeeds when empty
        while self._fds:
            os.close(self._fds.pop())

    def __enter__(self) -> DatasetLock:
        return self.acquire()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def cache_lock(
    dataset: str | os.PathLike[str],
    *,
    timeout: float | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> DatasetLock:
    """The exclusive lock of a cached dataset, as a context manager.

    >>> with cache_lock("data/binance/1h/BTC_USDT.parquet", timeout=60):  # doctest: +SKIP
    ...     ...  # read, merge, write partitions

    Raises
    ------
    LockTimeout
        The lock stayed busy for ``timeout`` seconds; nothing was read or written.
    DataError
        The dataset cannot be opened for locking (permissions, read-only disk).
    """
    return DatasetLock(dataset, timeout=timeout, on_wait=on_wait)


def extend_lock(dataset: str | os.PathLike[str], other: str | os.PathLike[str]) -> None:
    """If this process holds ``dataset``'s lock, also lock ``other`` (no-op otherwise)."""
    held = _HELD.get(str(Path(dataset).resolve()))
    if held is not None:
        held.also(other)
