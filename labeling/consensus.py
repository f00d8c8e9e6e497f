"""What a task's annotations need before their mask enters the dataset: agreement, or a reviewer's verdict.

Two settings of the loop (``labeling.min_agreement``, ``labeling.require_review``):
- annotators who disagree (mean per-class IoU over annotation pairs below ``min_agreement``) send nothing until a
  reviewer settles it;
- with ``require_review``, a mask enters only when a reviewer accepted an annotation, or when several annotators
  agree (consensus; at or above ``min_agreement`` when it is set).
A reviewed annotation (accepted through labeling/review.py, or marked ground truth) then is the mask. A task that
waits is recorded without a mask and with the reason, which `grainloop status` lists.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labeling.policy import Candidate, check_agreement, latest

HELD = "held for review"  # the reason a task's annotations wait (pull records, status)


@dataclass(frozen=True)
class Consensus:
    min_agreement: float | None = None
    require_review: bool = False

    def __post_init__(self) -> None:
        check_agreement(self.min_agreement)


@dataclass(frozen=True)
class Gate:
    """The gate's ruling when it overrides the policy: the reviewed mask, or none with the reason it waits."""

    mask: np.ndarray | None
    chosen: list[int]
    held: str | None = None


def gate(candidates: list[Candidate], agreement: dict[str, float | None], rule: Consensus) -> Gate | None:
    """None when the policy's mask stands."""
    scores = [v for v in agreement.values() if v is not None]
    several = len(candidates) > 1 and bool(scores)
    mean = float(np.mean(scores)) if scores else 0.0
    disagree = several and rule.min_agreement is not None and mean < rule.min_agreement
    if not disagree and (several or not rule.require_review):
        return None
    reviewed = [c for c in candidates if c.reviewed]
    if reviewed:
        winner = latest(reviewed)
        return Gate(winner.mask, [winner.annotation["id"]])
    if disagree:
        return Gate(None, [], f"{HELD}: agreement {mean:.3f} below {rule.min_agreement:g} ({len(candidates)} annotations)")
    return Gate(None, [], f"{HELD}: waiting for a reviewer's verdict ({len(candidates)} annotation(s))")
