"""The archive lock: one run at a time, released by the operating system when the process dies."""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from crawler.errors import ConfigError, RunLockedError

LOCK_NAME = ".crawler.lock"


@contextmanager
def archive_lock(archive_dir: Path, name: str = LOCK_NAME, what: str = "run") -> Iterator[None]:
    """Hold an exclusive flock on archive_dir/.crawler.lock (or name), or raise RunLockedError at once."""
    archive_dir = Path(archive_dir)
    try:
        archive_dir.mkdir(parents=True, exist_ok=True)
        handle = open(archive_dir / name, "a+")
    except OSError as exc:
        raise ConfigError(
            f"cannot use archive folder {archive_dir}: {exc.strerror}; pass a writable --archive DIR"
        ) from exc
    with handle:
        try:
            # flock, not a pid file: the kernel drops the lock when the holder dies, even by SIGKILL.
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise RunLockedError(
                f"another {what} ({holder}) holds the archive lock on {archive_dir}; this {what} was skipped"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)
