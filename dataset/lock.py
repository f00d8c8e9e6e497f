"""One writer at a time per workspace: an fcntl lock on ``.grainloop/workspace.lock`` in the git + DVC repository.

Every writer of a workspace's git history takes it: ``commit_version`` (the CLI's ``grainloop dataset commit`` and
the cycle's version step alike) and ``record_training``. The kernel drops the lock when its holder dies, even by
SIGKILL, so a killed writer never blocks the next one. The lock is re-entrant within one thread (a writer that
calls another writer does not wait for itself); other threads and processes wait for it, up to a timeout.
"""
from __future__ import annotations

import fcntl
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

from dataset.versioning import VersioningError

LOCK_DIR = ".grainloop"
LOCK_FILE = "workspace.lock"
WAIT_SECONDS = 600.0

_held = threading.local()  # path -> depth, for the current thread


class WorkspaceBusy(VersioningError):
    """Another writer held the workspace for longer than the wait allowed."""


def lock_path(root: Path) -> Path:
    return Path(root) / LOCK_DIR / LOCK_FILE


def _prepare(path: Path) -> None:
    """The lock's folder, with a .gitignore that keeps the lock file (and itself) out of `git status`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ignore = path.parent / ".gitignore"
    if not ignore.exists():
        ignore.write_text(f"/{LOCK_FILE}\n/.gitignore\n")


@contextmanager
def workspace_lock(root: Path, wait: Optional[float] = WAIT_SECONDS) -> Iterator[None]:
    """Hold the workspace's writer lock. ``wait``: seconds to wait for another holder (None: forever, 0: not at
    all); past it, WorkspaceBusy names the holder's pid."""
    path = lock_path(root).resolve()
    depths = _held.__dict__.setdefault("depths", {})
    if depths.get(path):
        depths[path] += 1
        try:
            yield
        finally:
            depths[path] -= 1
        return
    _prepare(path)
    with open(path, "a+") as f:
        deadline = None if wait is None else time.monotonic() + wait
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if deadline is not None and time.monotonic() >= deadline:
                    f.seek(0)
                    raise WorkspaceBusy(f"another writer holds {root} (pid {f.read().strip() or '?'}); "
                                        "wait for it to finish and run again") from None
                time.sleep(0.05)
        f.truncate(0)
        f.write(str(os.getpid()))
        f.flush()
        depths[path] = 1
        try:
            yield
        finally:
            depths[path] = 0
            f.truncate(0)
            f.flush()
            fcntl.flock(f, fcntl.LOCK_UN)
