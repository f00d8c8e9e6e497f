"""The conditional-GAN trainer (pix2pix as a segmenter; Isola et al., 2017): a PatchGAN judges (image, class map).

The generator is the factory's segmentation model itself; it learns the supervised loss (Dice + Focal by default)
plus ``weight`` times an adversarial loss. The discriminator, a PatchGAN, sees the image stacked with a class
probability map: the one-hot labels (real) or the generator's softmax (fake), and scores every patch of its
receptive field real or fake. Pixels the target ignores show the generator's own probabilities in both, so they
tell the discriminator nothing. The multi-mineral rock study (Alekseev et al., Skoltech) trained pix2pix this way
as a segmenter beside U-Net, LinkNet and ResUNet.

Only the generator is the model (model.pt): predict, serve and promotion see a plain segmentation model. The
discriminator and its optimiser are in last.pt, so a resumed run replays what an uninterrupted one does.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from foundation.choices import check_choice

from ml.models import ModelConfig
from ml.targets import IGNORE_INDEX

TRAINERS = ("supervised", "gan")


def check_trainer(name: str) -> str:
    return check_choice(name, TRAINERS, "trainer")


@dataclass(frozen=True)
class GanConfig:
    weight: float = 0.05  # of the adversarial loss (the supervised loss has weight 1)
    lr: float = 2e-4  # the discriminator's Adam learning rate (pix2pix: 2e-4, betas 0.5, 0.999)
    width: int = 64  # channels of the discriminator's first layer (doubled per layer, at most 8x)
    layers: int = 3  # stride-2 layers: 3 gives pix2pix's 70 x 70 receptive field

    def __post_init__(self) -> None:
        if self.weight < 0 or self.lr <= 0 or self.width < 1 or self.layers < 1:
            raise ValueError(f"GAN settings out of range: {self}")


class PatchDiscriminator(nn.Sequential):
    """pix2pix's PatchGAN (instance norm, LeakyReLU 0.2): N x 1 x h x w logits, one per receptive field."""

    def __init__(self, in_channels: int, width: int = 64, layers: int = 3):
        mods: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        ch = width
        for k in range(1, layers + 1):
            out = width * min(2 ** k, 8)
            stride = 2 if k < layers else 1
            mods += [nn.Conv2d(ch, out, 4, stride, 1, bias=False), nn.InstanceNorm2d(out, affine=True),
                     nn.LeakyReLU(0.2, inplace=True)]
            ch = out
        mods.append(nn.Conv2d(ch, 1, 4, 1, 1))
        super().__init__(*mods)


def _bce(logits: torch.Tensor, real: bool) -> torch.Tensor:
    logits = logits.float()
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, float(real)))


class Adversary:
    """The adversarial half of each training step: the generator's loss term, the discriminator's step, and the
    epoch's mean losses (logged as metrics)."""

    def __init__(self, cfg: GanConfig, in_channels: int, classes: int, device: str):
        self.cfg, self.classes = cfg, classes
        self.net = PatchDiscriminator(in_channels + classes, cfg.width, cfg.layers).to(device)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
        self._sums = {"d_loss": 0.0, "g_adv": 0.0}
        self._steps = 0

    def _pair(self, x: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.to(probs.dtype), probs], dim=1)

    def _real(self, target: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        valid = (target != IGNORE_INDEX).unsqueeze(1)
        onehot = F.one_hot(torch.where(valid.squeeze(1), target, 0), self.classes).permute(0, 3, 1, 2)
        return torch.where(valid, onehot.to(fake.dtype), fake)

    def generator_loss(self, x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """``weight`` x the generator's adversarial loss: the discriminator should call its map real."""
        loss = _bce(self.net(self._pair(x, logits.softmax(1))), True)
        self._sums["g_adv"] += float(loss.detach())
        return self.cfg.weight * loss

    def step(self, x: torch.Tensor, logits: torch.Tensor, target: torch.Tensor) -> None:
        """One discriminator update on this batch: labels real, the generator's (detached) map fake."""
        fake = logits.detach().float().softmax(1)
        self.opt.zero_grad(set_to_none=True)
        loss = 0.5 * (_bce(self.net(self._pair(x, self._real(target, fake))), True)
                      + _bce(self.net(self._pair(x, fake)), False))
        loss.backward()
        self.opt.step()
        self._sums["d_loss"] += float(loss.detach())
        self._steps += 1

    def epoch_losses(self) -> dict[str, float]:
        """The mean losses since the last call (``gan_d_loss``, ``gan_g_adv``), then starts a new epoch."""
        out = {f"gan_{k}": v / max(self._steps, 1) for k, v in self._sums.items()}
        self._sums, self._steps = dict.fromkeys(self._sums, 0.0), 0
        return out

    def state_dict(self) -> dict:
        return {"net": self.net.state_dict(), "optimizer": self.opt.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state["net"])
        self.opt.load_state_dict(state["optimizer"])


def build_adversary(trainer: str, cfg: GanConfig, model: ModelConfig, device: str,
                    state: dict | None = None) -> Adversary | None:
    """The trainer's extra component: None for "supervised", a PatchGAN adversary for "gan" (from a checkpoint's
    ``state`` on resume)."""
    if check_trainer(trainer) != "gan":
        return None
    adversary = Adversary(cfg, model.in_channels, model.classes, device)
    if state is not None:
        adversary.load_state_dict(state)
    return adversary
