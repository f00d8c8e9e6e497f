"""Self-supervised pretraining on the project's own images: before it sees a label, the U-Net learns to fill in
hidden blocks of patches from every image it has, labelled or not (a context encoder, Pathak et al., 2016; the
masked-image modelling of MAE and SparK, for a CNN). Segmentation training then starts from its encoder and
decoder, and only the segmentation head starts random.

No ImageNet weights can be fetched here, so without this the encoder starts random and 25 labelled images are all
it learns from; the unlabeled pool teaches it what grains, edges and SEM noise look like.

The patches come from the training's own sampling and preprocessing (``ml.patches.PatchDataset``, uniform
placement), seeded per epoch; the hidden blocks come from a generator seeded by (seed, step). A checkpoint every
``CHECKPOINT_STEPS`` lets a killed run go on from there, and a finished run's weights are read back, not redone.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from ml.checkpoint import atomic_save
from ml.config import to_dict
from ml.data import Sample
from ml.models import build_model
from ml.patches import PatchDataset, run_seed
from ml.precision import resolve_precision

CHECKPOINT_STEPS = 100
HEAD = "segmentation_head."  # smp's output layer: the part of the pretrained model training does not keep
FILE = "pretrained.pt"


@dataclass(frozen=True)
class PretrainConfig:
    steps: int = 0  # optimizer steps of masked-block filling (0: no pretraining)
    mask_ratio: float = 0.5  # share of blocks hidden in each patch
    block: int = 16  # a hidden block's side, in model pixels
    lr: float = 1e-3

    def __post_init__(self) -> None:
        if self.steps < 0 or not 0.0 < self.mask_ratio < 1.0 or self.block < 1 or self.lr <= 0:
            raise ValueError(f"pretraining settings out of range: {self}")


class Patches(Dataset):
    """The preprocessed image patches of a PatchDataset, targets left out (unlabeled samples have none)."""

    def __init__(self, patches: PatchDataset):
        self.patches = patches

    def set_epoch(self, epoch: int) -> None:
        self.patches.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.patches)

    def __getitem__(self, k: int) -> torch.Tensor:
        return torch.from_numpy(self.patches.image(k))


def hide_blocks(x: torch.Tensor, cfg: PretrainConfig, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(x with hidden blocks set to 0, the hidden pixels as a (N, 1, H, W) 0/1 mask)."""
    n, _, h, w = x.shape
    grid = (math.ceil(h / cfg.block), math.ceil(w / cfg.block))
    blocks = (torch.rand((n, 1, *grid), generator=generator) < cfg.mask_ratio).to(x.device, x.dtype)
    hidden = blocks.repeat_interleave(cfg.block, 2).repeat_interleave(cfg.block, 3)[:, :, :h, :w]
    return x * (1 - hidden), hidden


def filling_loss(pred: torch.Tensor, x: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the hidden pixels of every channel."""
    err = (pred.float() - x.float()) ** 2 * hidden
    return err.sum() / (hidden.sum() * x.shape[1]).clamp(min=1)


def pretrain(train_cfg, cfg: PretrainConfig, samples: Sequence[Sample], out: Path,
             log: Callable[[str], None] = lambda s: None) -> dict[str, torch.Tensor]:
    """Pretrain a model of ``train_cfg.model``'s architecture (a ``ml.train.TrainConfig``) on ``samples`` (targets
    ignored) in ``out``; the weights for ``ml.train.train``'s ``init_weights``, without the segmentation head."""
    out, path = Path(out), Path(out) / FILE
    done = torch.load(path, map_location="cpu", weights_only=False) if path.exists() else None
    if done and done["config"] == to_dict(cfg) and done["step"] >= cfg.steps:
        return done["weights"]
    device = train_cfg.predict.device
    torch.manual_seed(train_cfg.seed)
    channels = train_cfg.model.in_channels
    model = build_model(replace(train_cfg.model, classes=channels)).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=train_cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(cfg.steps, 1))
    step = 0
    if done and done["config"] == to_dict(cfg):  # a killed run goes on from its last checkpoint
        model.load_state_dict(done["model"])
        opt.load_state_dict(done["optimizer"])
        sched.load_state_dict(done["scheduler"])
        step = done["step"]
    precision = resolve_precision(train_cfg.precision, device)
    model = precision.model(model)
    data = Patches(PatchDataset(samples, replace(train_cfg.patches, class_balanced=False), None, train_cfg.seed + 2))
    per_epoch = max(train_cfg.patches.per_epoch // train_cfg.batch_size, 1)
    model.train()
    while step < cfg.steps:
        data.set_epoch(step // per_epoch + 1)
        loader = DataLoader(data, batch_size=train_cfg.batch_size, shuffle=False, drop_last=True, num_workers=0)
        for k, x in enumerate(loader):
            if k < step % per_epoch:  # a resumed epoch: the batches already learnt
                continue
            x = precision.batch(x.to(device))
            corrupted, hidden = hide_blocks(x, cfg, torch.Generator().manual_seed(run_seed(train_cfg.seed, step)))
            opt.zero_grad(set_to_none=True)
            with precision.autocast():
                loss = filling_loss(model(corrupted), x, hidden)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if step % CHECKPOINT_STEPS == 0 or step == cfg.steps:
                _save(path, model, opt, sched, cfg, step)
                log(f"pretraining: step {step}/{cfg.steps}, filling loss {loss.item():.4f}")
            if step >= cfg.steps:
                break
    return torch.load(path, map_location="cpu", weights_only=False)["weights"]


def _save(path: Path, model, opt, sched, cfg: PretrainConfig, step: int) -> None:
    weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items() if not k.startswith(HEAD)}
    atomic_save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                 "config": to_dict(cfg), "step": step, "weights": weights}, path)
