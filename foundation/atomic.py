"""Atomic file writes: write beside the target, then rename over it, so a crash (even SIGKILL) leaves either
the old file or the new one, never half of one. The one helper every layer uses."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional


@contextmanager
def atomic_path(path: Path | str, mode: Optional[int] = None) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed over ``path`` when the block ends without error,
    removed otherwise. ``mode`` (e.g. 0o600 for a file holding a secret) is set before any byte is written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    if mode is not None:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode))
        os.chmod(tmp, mode)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: Path | str, data: bytes | str, mode: Optional[int] = None) -> Path:
    """Write ``data`` (text is UTF-8) to ``path`` atomically; return the path."""
    with atomic_path(path, mode) as tmp:
        with open(tmp, "wb") as f:  # opened after atomic_path set the mode, so a secret is never world-readable
            f.write(data.encode() if isinstance(data, str) else data)
    return Path(path)


def copy_atomic(src: Path | str, dst: Path | str) -> Path:
    """Copy ``src`` to ``dst`` atomically (a killed copy leaves the old ``dst``, or none); return ``dst``."""
    import shutil

    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)
    return Path(dst)
