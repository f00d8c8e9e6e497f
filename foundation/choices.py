"""A named choice checked against its valid values: the error lists them."""
from __future__ import annotations

from collections.abc import Sequence


def check_choice(value: str, choices: Sequence[str], what: str) -> str:
    """``value`` when it is one of ``choices``; else ValueError "unknown WHAT 'value'; valid: a, b"."""
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; valid: {', '.join(choices)}")
    return value
