"""An axis-aligned pixel box, the one geometry type shared across ml/."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Box:
    """Half-open pixel box: rows ``y0:y1``, columns ``x0:x1``."""

    y0: int
    y1: int
    x0: int
    x1: int

    def __post_init__(self) -> None:
        if self.y1 < self.y0 or self.x1 < self.x0:
            raise ValueError(f"empty or inverted box: {self}")

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    def to_dict(self) -> dict[str, int]:
        return {"y0": self.y0, "y1": self.y1, "x0": self.x0, "x1": self.x1}

    @classmethod
    def from_dict(cls, d: dict[str, int]) -> "Box":
        return cls(int(d["y0"]), int(d["y1"]), int(d["x0"]), int(d["x1"]))
