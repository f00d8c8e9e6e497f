"""Paths built from data another system sent (a Label Studio task's ``source``, ``sha256``, image URL): checked
to stay inside their root before anything is read or written there.

Label Studio stores whatever an account imports, so such a value is untrusted input, never a path as given.
"""
from __future__ import annotations

from pathlib import Path, PurePath, PurePosixPath
from urllib.parse import unquote


class PathEscape(ValueError):
    """A path from untrusted data that would leave its root, or is no path at all: the message says why."""


def _parts(text: str) -> tuple[str, ...]:
    if "\x00" in text:
        raise PathEscape(f"path {text!r} holds a NUL byte")
    path = PurePosixPath(text.replace("\\", "/"))  # a backslash is a separator somewhere else
    if path.is_absolute():
        raise PathEscape(f"path {text!r} is absolute")
    if ".." in path.parts:
        raise PathEscape(f"path {text!r} climbs out with '..'")
    return path.parts


def inside(root: Path | str, relative: object) -> Path:
    """``root / relative`` if it stays inside ``root``; PathEscape (a ValueError) otherwise.

    Refused: anything but a non-empty string, NUL bytes, absolute paths, '..' components (also once
    URL-decoded, e.g. '%2e%2e%2f'), and paths that resolve outside ``root`` through a symbolic link.
    The path returned is not resolved (so it stays relative to ``root`` as given).
    """
    if isinstance(relative, PurePath):
        relative = str(relative)
    if not isinstance(relative, str) or not relative.strip():
        raise PathEscape(f"not a relative path: {relative!r}"[:300])
    if not _parts(relative):
        raise PathEscape(f"path {relative!r} names the root itself")
    if unquote(relative) != relative:
        try:
            _parts(unquote(relative))
        except PathEscape as e:
            raise PathEscape(f"path {relative!r}, URL-decoded: {e}") from None
    base = Path(root).resolve()
    path = Path(root) / relative
    if not path.resolve().is_relative_to(base):
        raise PathEscape(f"path {relative!r} resolves outside {root} (a symbolic link?)")
    return path


def component(value: object) -> str:
    """``value`` if it is one plain file or folder name (no separator, not '.' or '..'); else PathEscape."""
    text = value if isinstance(value, str) else ""
    if not text or "/" in text or "\\" in text or "/" in unquote(text) or text in (".", "..") \
            or unquote(text) in (".", ".."):
        raise PathEscape(f"not a plain file name: {value!r}"[:300])
    _parts(text)
    return text
