"""Checkpoints and model artifacts: written atomically, carrying what produced them.

``last.pt`` holds everything needed to resume training after a crash; ``model.pt`` is the portable model
artifact (weights, model and preprocessing config, label schema, metrics, provenance) that predict loads.
"""
from __future__ import annotations

import hashlib
import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from foundation.atomic import atomic_path
from foundation.schema import LabelSchema
from ml.config import from_dict, to_dict
from ml.models import ModelConfig, build_model
from ml.preprocess import PreprocessConfig

FORMAT_VERSION = 1


def atomic_save(obj: Any, path: Path) -> Path:
    """torch.save to a temporary file, then rename: a crash never leaves a half-written checkpoint."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return path


def _plain(d: dict) -> dict:
    """Only plain Python values, so the file loads with torch.load(weights_only=True)."""
    return json.loads(json.dumps(d, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


@dataclass
class ModelArtifact:
    model_config: ModelConfig
    schema: LabelSchema
    preprocess: PreprocessConfig
    metrics: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)
    decoding: dict = field(default_factory=dict)  # the InstanceConfig tuned on validation (ml.decoding); {}: none


def save_model(path: Path, model: torch.nn.Module, artifact: ModelArtifact) -> Path:
    provenance = {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "torch": str(torch.__version__),
                  "python": platform.python_version(), **artifact.provenance}
    return atomic_save({
        "format": FORMAT_VERSION,
        "model_config": to_dict(artifact.model_config),
        "schema": artifact.schema.to_dict(),
        "preprocess": to_dict(artifact.preprocess),
        "metrics": _plain(artifact.metrics),
        "provenance": _plain(provenance),
        "decoding": _plain(artifact.decoding),
        "state_dict": model.state_dict(),
    }, path)


def read_artifact(path: Path) -> tuple[ModelArtifact, dict[str, torch.Tensor]]:
    """The artifact's description and its weights, without building the model."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path} is not a grainloop model file: {exc}") from exc
    if blob.get("format") != FORMAT_VERSION:
        raise ValueError(f"{path}: unsupported model format {blob.get('format')!r} (expected {FORMAT_VERSION})")
    artifact = ModelArtifact(from_dict(ModelConfig, blob["model_config"]), LabelSchema.from_dict(blob["schema"]),
                             from_dict(PreprocessConfig, blob["preprocess"]), blob["metrics"], blob["provenance"],
                             blob.get("decoding", {}))  # files written before decodings were tuned have none
    return artifact, blob["state_dict"]


def load_model(path: Path, device: str = "cpu") -> tuple[torch.nn.Module, ModelArtifact]:
    artifact, state = read_artifact(Path(path))
    model = build_model(artifact.model_config)
    model.load_state_dict(state)
    return model.to(device).eval(), artifact


def weights_sha256(path: Path) -> str:
    """A digest of the weights alone (names, dtypes, shapes and bytes, in name order): two checkpoints with equal
    digests hold the same model, whatever metadata or timestamps they carry."""
    return state_sha256(read_artifact(path)[1])


def state_sha256(state: dict[str, torch.Tensor]) -> str:
    """``weights_sha256`` of a state dict in memory (``model.state_dict()``): equal to the file's digest."""
    digest = hashlib.sha256()
    for name, tensor in sorted(state.items()):
        value = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{value.dtype}|{tuple(value.shape)}|".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
