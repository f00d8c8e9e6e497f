"""Tests for ml.losses."""
from __future__ import annotations

import pytest
import torch

from ml.losses import LOSS_NAMES, LossConfig, build_loss

K = 3
IGNORE = 255


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, K, 8, 8, generator=g)
    target = torch.randint(0, K, (2, 8, 8), generator=g)
    return logits, target


def _with_banner(target: torch.Tensor) -> torch.Tensor:
    target = target.clone()
    target[:, 6:] = IGNORE
    return target


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_perfect_confident_logits_give_near_zero_loss(name: str) -> None:
    _, target = _batch()
    logits = 30.0 * torch.nn.functional.one_hot(target, K).permute(0, 3, 1, 2).float()
    assert build_loss(LossConfig(name=name), K)(logits, target).item() < 1e-4


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_random_logits_give_positive_loss_and_finite_gradients(name: str) -> None:
    logits, target = _batch()
    logits.requires_grad_(True)
    loss = build_loss(LossConfig(name=name, class_weights=(0.5, 1.0, 2.0)), K)(logits, _with_banner(target))
    loss.backward()
    assert loss.item() > 0.1 and loss.ndim == 0
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_logits_under_ignored_pixels_change_nothing(name: str) -> None:
    logits, target = _batch()
    target = _with_banner(target)
    loss_fn = build_loss(LossConfig(name=name, class_weights=(0.5, 1.0, 2.0)), K)
    garbage = logits.clone()
    garbage[:, :, 6:] = 1e4 * torch.randn(2, K, 2, 8, generator=torch.Generator().manual_seed(1))
    assert loss_fn(garbage, target).item() == pytest.approx(loss_fn(logits, target).item(), rel=1e-6)


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_ignored_pixels_get_no_gradient(name: str) -> None:
    logits, target = _batch()
    logits.requires_grad_(True)
    build_loss(LossConfig(name=name), K)(logits, _with_banner(target)).backward()
    assert logits.grad[:, :, 6:].abs().max().item() == 0.0


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_class_weights_change_loss(name: str) -> None:
    logits, target = _batch()
    plain = build_loss(LossConfig(name=name), K)(logits, target)
    weighted = build_loss(LossConfig(name=name, class_weights=(0.1, 1.0, 5.0)), K)(logits, target)
    assert abs(plain.item() - weighted.item()) > 1e-3


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_all_ignored_batch_is_finite_zero(name: str) -> None:
    logits, _ = _batch()
    logits.requires_grad_(True)
    loss = build_loss(LossConfig(name=name), K)(logits, torch.full((2, 8, 8), IGNORE))
    loss.backward()
    assert loss.item() == 0.0
    assert torch.isfinite(logits.grad).all()


def test_ce_matches_pytorch_weighted_mean() -> None:
    logits, target = _batch()
    target = _with_banner(target)
    weights = (0.5, 1.0, 2.0)
    ours = build_loss(LossConfig(name="ce", class_weights=weights), K)(logits, target)
    ref = torch.nn.functional.cross_entropy(logits, target, weight=torch.tensor(weights), ignore_index=IGNORE)
    assert ours.item() == pytest.approx(ref.item(), rel=1e-5)


def test_focal_with_gamma_zero_is_unweighted_ce() -> None:
    logits, target = _batch()
    focal = build_loss(LossConfig(name="dice_focal", focal_gamma=0.0, dice_weight=0.0), K)(logits, target)
    ce = build_loss(LossConfig(name="ce"), K)(logits, target)
    assert focal.item() == pytest.approx(ce.item(), rel=1e-5)


def test_dice_weight_scales_dice_term() -> None:
    logits, target = _batch()
    no_dice = build_loss(LossConfig(name="dice_ce", dice_weight=0.0), K)(logits, target)
    ce = build_loss(LossConfig(name="ce"), K)(logits, target)
    with_dice = build_loss(LossConfig(name="dice_ce", dice_weight=2.0), K)(logits, target)
    assert no_dice.item() == pytest.approx(ce.item(), rel=1e-6)
    assert with_dice.item() > ce.item()


def test_unknown_name_lists_choices() -> None:
    with pytest.raises(ValueError, match="dice_focal, ce, dice_ce"):
        build_loss(LossConfig(name="lovasz"), K)


def test_wrong_number_of_class_weights_is_clear() -> None:
    with pytest.raises(ValueError, match="class_weights has 2 values but num_classes=3"):
        build_loss(LossConfig(class_weights=(1.0, 2.0)), K)


def test_negative_gamma_rejected() -> None:
    with pytest.raises(ValueError, match="focal_gamma"):
        build_loss(LossConfig(focal_gamma=-1.0), K)
