"""Learning from the unlabeled pool: a mean teacher's confident pseudo-labels on perturbed patches.

Every training step also draws a batch of patches from images nobody has labelled. The teacher, an exponential
moving average of the model's weights (mean teacher; Tarvainen and Valpola, 2017), predicts each clean patch;
the model learns those predictions, on the pixels where the teacher is confident, from a strongly perturbed copy
of the same patch (FixMatch's weak/strong consistency; Sohn et al., 2020). The perturbation is the training
augmentation without its geometry (intensity changes, noise and the SEM artifacts), so a pseudo-label stays
aligned with its patch. With ``cutmix`` the student's view also pastes a box of half the area from the batch's
next patch, and the teacher's predictions are pasted the same way (French et al., 2020, "Semi-supervised semantic
segmentation needs strong, varied perturbations"). The pseudo-label loss is off for the first epochs, then its
weight ramps up linearly.

Unlabeled patches come from the same seeded per-epoch sampling as labelled ones, so a run is deterministic for
its seed and a resumed run (the teacher is in the checkpoint) replays what an uninterrupted one does.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from foundation.choices import check_choice
from ml.augment import AugmentConfig, Augmenter
from ml.data import Sample
from ml.patches import PatchConfig, PatchDataset, run_seed
from ml.predict import PredictConfig, predict_image
from ml.pretrain import PretrainConfig
from ml.targets import IGNORE_INDEX

PRETRAIN = "pretrain"
METHODS = ("none", "mean_teacher", "self_training", PRETRAIN)
PRETRAIN_STEPS = 500  # of masked-block filling before training, for method "pretrain" (ml/pretrain.py)


def check_method(method: str) -> str:
    return check_choice(method, METHODS, "semi-supervised method")


@dataclass(frozen=True)
class SemiConfig:
    method: str = "none"  # "mean_teacher": learn the teacher's confident pseudo-labels on unlabeled images;
    # "self_training": train on the labels alone, then train again on them and that model's confident maps;
    # "pretrain": first learn to fill in hidden blocks of every image, labelled or not (ml/pretrain.py)
    weight: float = 1.0  # of the pseudo-label loss once ramped up (the labelled loss has weight 1)
    threshold: float = 0.9  # the teacher's probability a pixel needs to count
    ema: float = 0.99  # after every step: teacher = ema * teacher + (1 - ema) * model
    start_epoch: int = 2  # epochs on labels alone before the pseudo-label loss starts
    ramp_epochs: int = 3  # epochs over which its weight rises from 0 to ``weight``
    cutmix: bool = False  # mean teacher: paste a box of the next unlabeled patch and its pseudo-label into the view
    pretrain: PretrainConfig = field(default_factory=lambda: PretrainConfig(steps=PRETRAIN_STEPS))

    def __post_init__(self) -> None:
        check_method(self.method)
        if not 0.0 <= self.ema < 1.0 or not 0.0 < self.threshold <= 1.0 or self.weight < 0:
            raise ValueError(f"semi-supervised settings out of range: {self}")
        if self.cutmix and self.method != "mean_teacher":
            raise ValueError(f"cutmix is a mean teacher's perturbation; the method is {self.method}")

    @property
    def enabled(self) -> bool:
        return self.method != "none"

    @property
    def online(self) -> bool:
        """Whether the unlabeled images take part in every step (mean teacher) rather than in a second run."""
        return self.method == "mean_teacher"

    def weight_at(self, epoch: int) -> float:
        """The pseudo-label loss weight in (1-based) ``epoch``."""
        if epoch <= self.start_epoch:
            return 0.0
        return self.weight * min(1.0, (epoch - self.start_epoch) / max(self.ramp_epochs, 1))


def photometric(cfg: AugmentConfig) -> AugmentConfig:
    """The augmentation without anything that moves pixels: the student's strong view of a teacher's patch."""
    return replace(cfg, enabled=True, flips=False, rotate90=False, p_geometric=0.0)


class UnlabeledPatches(Dataset):
    """(clean, perturbed) pairs of patches from unlabeled samples, uniformly placed, the same for an epoch."""

    def __init__(self, samples: Sequence[Sample], cfg: PatchConfig, augment: AugmentConfig, seed: int):
        self.patches = PatchDataset(samples, replace(cfg, class_balanced=False), None, seed)
        self.strong = Augmenter(photometric(augment), seed)
        self.seed = seed

    def set_epoch(self, epoch: int) -> None:
        self.patches.set_epoch(epoch)
        self.strong.reseed(run_seed(self.seed, epoch))

    def __len__(self) -> int:
        return len(self.patches)

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        clean = self.patches.image(k)
        hwc = np.ascontiguousarray(clean.transpose(1, 2, 0))
        strong, _ = self.strong(hwc, np.zeros(hwc.shape[:2], np.uint8))
        return torch.from_numpy(np.ascontiguousarray(clean)), torch.from_numpy(np.ascontiguousarray(strong.transpose(2, 0, 1)))


CUTMIX_AREA = 0.5  # of a patch that the pasted box covers (French et al.'s default)


def box_masks(n: int, height: int, width: int, generator: torch.Generator) -> torch.Tensor:
    """(n, 1, height, width) masks, 1 inside one box of CUTMIX_AREA of the patch each, its aspect ratio and place
    drawn from ``generator``."""
    masks = torch.zeros(n, 1, height, width)
    for i, (u, ty, tx) in enumerate(torch.rand(n, 3, generator=generator).tolist()):
        y_share = CUTMIX_AREA ** u  # from CUTMIX_AREA to 1; the width's share makes up the area
        h, w = round(height * y_share), round(width * CUTMIX_AREA / y_share)
        top, left = int(ty * (height - h + 1)), int(tx * (width - w + 1))
        masks[i, :, top:top + h, left:left + w] = 1.0
    return masks


def cut_mixed(batch: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Each item with its mask's box taken from the batch's next item (the last from the first)."""
    masks = masks.to(device=batch.device, dtype=batch.dtype)
    return batch * (1 - masks) + batch.roll(-1, 0) * masks


def pseudo_label_loss(logits: torch.Tensor, teacher_logits: torch.Tensor, threshold: float) -> torch.Tensor:
    """Cross-entropy to the teacher's argmax on its confident pixels, averaged over all pixels (so a teacher
    confident nowhere adds nothing)."""
    confidence, labels = teacher_logits.float().softmax(1).max(1)
    labels = labels.masked_fill(confidence < threshold, IGNORE_INDEX)
    per_pixel = F.cross_entropy(logits.float(), labels, ignore_index=IGNORE_INDEX, reduction="none")
    return per_pixel.sum() / labels.numel()


class MeanTeacher:
    """The unlabeled half of each training step: batches, the teacher, its loss and its update."""

    def __init__(self, cfg: SemiConfig, model: torch.nn.Module, samples: Sequence[Sample], patches: PatchConfig,
                 augment: AugmentConfig, batch_size: int, seed: int):
        if not samples:
            raise ValueError("semi-supervised training needs unlabeled images; none were given")
        self.cfg, self.batch_size = cfg, batch_size
        self.data = UnlabeledPatches(samples, patches, augment, seed + 1)
        self.teacher = copy.deepcopy(model).eval().requires_grad_(False)
        self.weight = 0.0
        self.seed = seed
        self.boxes = torch.Generator()

    def set_epoch(self, epoch: int) -> None:
        self.data.set_epoch(epoch)
        self.weight = self.cfg.weight_at(epoch)
        self.boxes.manual_seed(run_seed(self.seed, epoch))  # a resumed run draws the boxes an uninterrupted one does

    def batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]] | None:
        """This epoch's unlabeled batches, or None while the pseudo-label loss is off."""
        if self.weight <= 0:
            return None
        return iter(DataLoader(self.data, batch_size=self.batch_size, shuffle=False, drop_last=True, num_workers=0))

    def loss(self, model: torch.nn.Module, clean: torch.Tensor, strong: torch.Tensor) -> torch.Tensor:
        """The weighted pseudo-label loss (call inside the step's autocast)."""
        with torch.no_grad():
            target = self.teacher(clean)
        if self.cfg.cutmix:
            masks = box_masks(len(strong), *strong.shape[-2:], self.boxes)
            strong, target = cut_mixed(strong, masks), cut_mixed(target, masks)
        return self.weight * pseudo_label_loss(model(strong), target, self.cfg.threshold)

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        """Move the teacher towards the model (weights by EMA, batch-norm statistics copied)."""
        for t, s in zip(self.teacher.parameters(), model.parameters()):
            t.lerp_(s, 1.0 - self.cfg.ema)
        for t, s in zip(self.teacher.buffers(), model.buffers()):
            t.copy_(s)

    def state_dict(self) -> dict:
        return self.teacher.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.teacher.load_state_dict(state)


def pseudo_labelled(model: torch.nn.Module, samples: Sequence[Sample], cfg: PredictConfig,
                    threshold: float) -> list[Sample]:
    """Self-training's second run gets these: each unlabeled sample with the model's class map, averaged over
    flips, as its target, IGNORE_INDEX where the top class's probability is below ``threshold`` and in the banner."""
    cfg = replace(cfg, tta=True, probabilities=True, uncertainty=False)
    out = []
    for s in samples:
        pred = predict_image(model, s.image, cfg, state=s.state)
        target = np.where(pred.probabilities.max(0) >= threshold, pred.labels, IGNORE_INDEX).astype(np.uint8)
        if pred.banner is not None:
            target[pred.banner.slices] = IGNORE_INDEX
        out.append(replace(s, target=target))
    return out


def balanced(labelled: Sequence[Sample], pseudo: Sequence[Sample]) -> list[Sample]:
    """Labelled and pseudo-labelled samples, the labelled ones repeated so that they hold about half the pixels
    (patches are drawn by image area): the human labels keep their weight however large the pool."""
    area = lambda xs: sum(s.image.shape[-2] * s.image.shape[-1] for s in xs)
    repeats = max(1, round(area(pseudo) / max(area(labelled), 1)))
    return [*labelled * repeats, *pseudo]
