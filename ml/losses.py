"""Segmentation losses: weighted soft Dice + Focal (multi-mineral SEM default), CE, Dice + CE.

Every loss takes logits (N, K, H, W) and a long target (N, H, W) whose
``ignore_index`` pixels contribute nothing, and stays finite (0) on a batch
with no valid pixel.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

LOSS_NAMES = ("dice_focal", "ce", "dice_ce")


@dataclass(frozen=True)
class LossConfig:
    """Which loss to build and its knobs."""

    name: str = "dice_focal"  # one of LOSS_NAMES
    class_weights: tuple[float, ...] | None = None
    focal_gamma: float = 2.0
    dice_weight: float = 1.0
    ignore_index: int = 255


def _split_target(target: torch.Tensor, ignore_index: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Validity mask and a copy of target with ignored pixels set to class 0 (safe to index)."""
    valid = target != ignore_index
    return valid, torch.where(valid, target, torch.zeros_like(target))


class _WeightedLoss(nn.Module):
    """Base holding per-class weights as a buffer (moves with ``.to(device)``)."""

    def __init__(self, weights: torch.Tensor, ignore_index: int) -> None:
        super().__init__()
        self.register_buffer("weights", weights.float())
        self.ignore_index = ignore_index


class DiceLoss(_WeightedLoss):
    """Soft multi-class Dice over the whole batch, weighted mean over classes present in the target."""

    def __init__(self, weights: torch.Tensor, ignore_index: int = 255, eps: float = 1e-6) -> None:
        super().__init__(weights, ignore_index)
        self.eps = eps

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        valid, safe = _split_target(target, self.ignore_index)
        mask = valid.unsqueeze(1)
        probs = torch.where(mask, logits.float().softmax(dim=1), 0.0)
        onehot = F.one_hot(safe, logits.shape[1]).permute(0, 3, 1, 2).float() * mask
        inter = (probs * onehot).sum(dim=(0, 2, 3))
        card = (probs + onehot).sum(dim=(0, 2, 3))
        dice = (2 * inter + self.eps) / (card + self.eps)
        w = self.weights * (onehot.sum(dim=(0, 2, 3)) > 0)
        return ((1 - dice) * w).sum() / w.sum().clamp_min(self.eps)


class FocalLoss(_WeightedLoss):
    """Multi-class focal loss, alpha = per-class weights, mean over valid pixels."""

    def __init__(self, weights: torch.Tensor, gamma: float = 2.0, ignore_index: int = 255) -> None:
        super().__init__(weights, ignore_index)
        self.gamma = gamma

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        valid, safe = _split_target(target, self.ignore_index)
        logp = logits.float().log_softmax(dim=1).gather(1, safe.unsqueeze(1)).squeeze(1)
        focal = -(1 - logp.exp()).pow(self.gamma) * logp * self.weights[safe]
        return torch.where(valid, focal, 0.0).sum() / valid.sum().clamp_min(1)


class CrossEntropyLoss(_WeightedLoss):
    """Class-weighted cross-entropy, weighted mean like PyTorch's, but 0 (not NaN) when all ignored."""

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        valid, safe = _split_target(target, self.ignore_index)
        total = F.cross_entropy(
            logits.float(), target, weight=self.weights, ignore_index=self.ignore_index, reduction="sum"
        )
        return total / torch.where(valid, self.weights[safe], 0.0).sum().clamp_min(1e-12)


class WeightedSum(nn.Module):
    """Weighted sum of loss terms."""

    def __init__(self, terms: list[nn.Module], factors: list[float]) -> None:
        super().__init__()
        self.terms = nn.ModuleList(terms)
        self.factors = factors

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return sum(f * term(logits, target) for term, f in zip(self.terms, self.factors))


def _class_weights(cfg: LossConfig, num_classes: int) -> torch.Tensor:
    """Validated weight tensor (ones when not configured)."""
    if cfg.class_weights is None:
        return torch.ones(num_classes)
    if len(cfg.class_weights) != num_classes:
        raise ValueError(
            f"class_weights has {len(cfg.class_weights)} values but num_classes={num_classes}"
        )
    if any(w < 0 for w in cfg.class_weights):
        raise ValueError(f"class_weights must be non-negative, got {cfg.class_weights}")
    return torch.tensor(cfg.class_weights, dtype=torch.float32)


def build_loss(cfg: LossConfig, num_classes: int) -> nn.Module:
    """Loss module: ``forward(logits (N,K,H,W), target (N,H,W) long) -> scalar``."""
    if cfg.name not in LOSS_NAMES:
        raise ValueError(f"unknown loss {cfg.name!r}; choose one of {', '.join(LOSS_NAMES)}")
    if cfg.focal_gamma < 0:
        raise ValueError(f"focal_gamma must be >= 0, got {cfg.focal_gamma}")
    w, ii = _class_weights(cfg, num_classes), cfg.ignore_index
    if cfg.name == "ce":
        return CrossEntropyLoss(w, ii)
    second = FocalLoss(w, cfg.focal_gamma, ii) if cfg.name == "dice_focal" else CrossEntropyLoss(w, ii)
    return WeightedSum([DiceLoss(w, ii), second], [cfg.dice_weight, 1.0])
