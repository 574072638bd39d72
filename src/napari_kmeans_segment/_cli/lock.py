"""One run per output folder: a lock file that names the run holding it.

Two runs writing into one folder at once both passed their plans (no output existed yet) and
then mixed their images and summaries. The lock is an advisory ``flock`` on
``OUTDIR/.napari-kmeans-segment.lock``: the system releases it when the process ends, however
it ends, so a lock file left by a killed run is simply taken over (a stale lock never blocks).
The file holds the pid, host and start time of the run holding it, for the message.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from pathlib import Path

from .console import CliError

LOCK_NAME = ".napari-kmeans-segment.lock"


class FolderLock:
    """Hold the lock of ``folder`` (which exists) until :meth:`release`.

    Raises
    ------
    CliError
        When another run holds it; the message names that run (pid, host, start time).
    """

    def __init__(self, folder: Path):
        self.path = Path(folder) / LOCK_NAME
        self._fd: int | None = None
        self.took_over: dict | None = None  # what a stale lock file said, if there was one
        self._acquire()

    def _acquire(self) -> None:
        for _ in range(10):  # another run may remove the file between our open and our lock
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:  # the plan checked the folder; it changed since
                where = f"-o {self.path.parent}"
                raise CliError(f"{where}: cannot create {self.path.name} ({e.strerror}).") from None
            try:
                if not _try_lock(fd):
                    raise CliError(_held_message(self.path, _read(fd)))
                if _same_file(fd, self.path):
                    before = _read(fd)
                    self.took_over = before or None
                    os.ftruncate(fd, 0)
                    os.lseek(fd, 0, os.SEEK_SET)
                    os.write(fd, json.dumps(_me()).encode())
                    self._fd = fd
                    return
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)  # we locked a file that was removed meanwhile: try the new one
        raise CliError(f"could not lock {self.path}: it keeps changing; is another run starting?")

    def release(self) -> None:
        """Remove the lock file and let go of the lock (the file first, so a run waiting for
        it never locks a file that is about to disappear)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> FolderLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _me() -> dict:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":  # an exclusive lock on the first byte
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _same_file(fd: int, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _read(fd: int) -> dict:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 4096).decode("utf-8", "replace")
        info = json.loads(text) if text.strip() else {}
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _held_message(path: Path, info: dict) -> str:
    who = "another run"
    if info.get("pid"):
        who = f"another run (pid {info.get('pid')} on {info.get('host', 'an unknown host')}"
        who += f", started {info['started']})" if info.get("started") else ")"
    return (
        f"-o {path.parent}: {who} is writing into this folder; wait for it to end or choose "
        f"another -o (the lock is {path}; it goes away when that run ends)."
    )
