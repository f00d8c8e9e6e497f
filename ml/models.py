"""The model factory: segmentation-models-pytorch architectures x encoders, warm starts, optional weights.

Unknown names raise ``ValueError`` listing the valid choices. Pretrained encoder weights are fetched only
when asked for, and fail within a second with a clear message when the hub cannot be reached.
"""
from __future__ import annotations

import os
import socket
from dataclasses import asdict, dataclass
from urllib.parse import urlparse

import segmentation_models_pytorch as smp
import torch

from ml.resunet import ResUnet
from ml.sensor3d import Sensor3D

ARCHITECTURES = {
    "unet": smp.Unet,
    "unetplusplus": smp.UnetPlusPlus,
    "linknet": smp.Linknet,
    "fpn": smp.FPN,
    "deeplabv3plus": smp.DeepLabV3Plus,
    "manet": smp.MAnet,
    "pan": smp.PAN,
    "sensor3d": Sensor3D,  # slices k, k-1, k+1 per detector through a shared encoder, mixed in 3-D (ml/sensor3d.py)
    "resunet": ResUnet,  # a U-Net with residual decoder blocks (ml/resunet.py)
}
_WANTED_ENCODERS = (
    "resnet18", "resnet34", "resnet50",
    "efficientnet-b0", "efficientnet-b1", "efficientnet-b2", "efficientnet-b3", "efficientnet-b4",
    "inceptionv3", "inceptionv4", "vgg16", "vgg19",
)
ENCODERS = tuple(e for e in _WANTED_ENCODERS if e in smp.encoders.get_encoder_names())


class WeightsUnavailable(RuntimeError):
    """Pretrained encoder weights were asked for but cannot be fetched."""


@dataclass(frozen=True)
class ModelConfig:
    arch: str = "unet"
    encoder: str = "resnet18"
    in_channels: int = 1
    classes: int = 2
    encoder_weights: str | None = None  # e.g. "imagenet"; needs the Hugging Face hub or its cache
    decoder_channels: tuple[int, ...] | None = None  # None: the architecture's default

    def to_dict(self) -> dict:
        return asdict(self)


def _choose(name: str, choices, what: str) -> str:
    key = name.lower()
    if key not in choices:
        raise ValueError(f"unknown {what} {name!r}; choose one of: {', '.join(choices)}")
    return key


def _hub_reachable(timeout: float = 0.5) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _load_encoder_weights(model: torch.nn.Module, cfg: ModelConfig) -> None:
    """Fetch smp's pretrained encoder weights (from the cache alone when offline) and load them."""
    from huggingface_hub import hf_hub_download
    from safetensors.torch import load_file

    settings = smp.encoders.encoders[cfg.encoder]["pretrained_settings"]
    if cfg.encoder_weights not in settings:
        raise ValueError(f"no {cfg.encoder_weights!r} weights for {cfg.encoder}; choose one of: {', '.join(settings)}")
    s = settings[cfg.encoder_weights]
    try:
        path = hf_hub_download(s["repo_id"], "model.safetensors", revision=s["revision"],
                               local_files_only=not _hub_reachable())
    except Exception as exc:
        raise WeightsUnavailable(
            f"pretrained {cfg.encoder_weights!r} weights for {cfg.encoder} could not be fetched from the Hugging Face "
            f"hub ({type(exc).__name__}); train with encoder_weights=None or pre-fill the hub cache") from exc
    state = load_file(path, device="cpu")
    if cfg.in_channels != 3:
        state = _adapt_first_conv(model.encoder, state)
    model.encoder.load_state_dict(state, strict=False)


def _adapt_first_conv(encoder: torch.nn.Module, state: dict) -> dict:
    """RGB-trained first convolution to any channel count (mean over RGB, repeated), as smp does."""
    own = encoder.state_dict()
    for key, value in state.items():
        if value.ndim == 4 and key in own and own[key].shape[1] != value.shape[1]:
            c = own[key].shape[1]
            state[key] = value.mean(dim=1, keepdim=True).repeat(1, c, 1, 1) * (3 / c)
    return state


def build_model(cfg: ModelConfig) -> torch.nn.Module:
    """A randomly initialised (or pretrained-encoder) smp model that returns logits N x classes x H x W."""
    arch = ARCHITECTURES[_choose(cfg.arch, ARCHITECTURES, "architecture")]
    encoder = _choose(cfg.encoder, ENCODERS, "encoder")
    extra = {"decoder_channels": cfg.decoder_channels} if cfg.decoder_channels else {}
    model = arch(encoder_name=encoder, encoder_weights=None, in_channels=cfg.in_channels, classes=cfg.classes, **extra)
    if cfg.encoder_weights:
        _load_encoder_weights(model, ModelConfig(**{**cfg.to_dict(), "encoder": encoder}))
    return model


def warm_start(model: torch.nn.Module, state_dict: dict[str, torch.Tensor]) -> dict[str, list[str]]:
    """Load every tensor whose name and shape match (e.g. all but a head for a new class count)."""
    own = model.state_dict()
    loaded = {k: v for k, v in state_dict.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(loaded, strict=False)
    return {"loaded": sorted(loaded), "skipped": sorted(set(own) - set(loaded))}
