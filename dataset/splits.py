"""Splits by hashing a group key: frozen once assigned, so adding images never moves an existing one."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Mapping

from dataset.manifest import SPLITS


@dataclass(frozen=True)
class SplitConfig:
    """Fractions of groups per split (they must sum to 1) and the hash salt (change it only for a new benchmark)."""

    train: float = 0.7
    val: float = 0.15
    test: float = 0.15
    salt: str = "grainloop-split"

    def __post_init__(self):
        if min(self.train, self.val, self.test) < 0 or abs(self.train + self.val + self.test - 1) > 1e-6:
            raise ValueError(f"split fractions must be >= 0 and sum to 1, got {self.train}/{self.val}/{self.test}")


def unit_hash(key: str, salt: str) -> float:
    """A uniform number in [0, 1) from a stable key."""
    return int(hashlib.sha256(f"{salt}:{key}".encode()).hexdigest()[:12], 16) / float(1 << 48)


def split_for(group: str, cfg: SplitConfig = SplitConfig()) -> str:
    """The split of a group by its hash alone."""
    h = unit_hash(group, cfg.salt)
    if h < cfg.test:
        return "test"
    return "val" if h < cfg.test + cfg.val else "train"


def assign(group: str, frozen: Mapping[str, str], cfg: SplitConfig = SplitConfig()) -> str:
    """A group already in a split keeps it (``frozen`` maps group -> split); a new group goes by its hash."""
    split = frozen.get(group) or split_for(group, cfg)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r} for group {group!r}; valid: {', '.join(SPLITS)}")
    return split
