"""The registered model as MLflow serves it: a pyfunc whose input is images and whose output is class maps.

``mlflow.pyfunc.load_model("models:/grainloop-segmentation@champion").predict(x)`` and ``mlflow models serve``
take a float32 array (N, C, H, W): N images of any size with the model's C input channels (raw intensities: the
SEM banner, the intensity normalisation, downsampling and tiling happen inside, as in ``grainloop predict``). The
output is the class maps (N, H, W) uint8, each exactly what ``grainloop predict`` writes for that image
(``ml.runs.predict_class_map``, the one code path). With the params ``probabilities`` or ``uncertainty`` the output
is a dict holding ``labels`` and the asked (N, K, H, W) class probabilities or (N, H, W) entropy (natural log).
``tile``, ``overlap`` and ``tta`` set the sliding window; ``engine`` and ``precision`` the CPU inference engine
(``ml.engine``; "auto" by default, as in ``grainloop predict``, so both give the same maps). The grainloop checkpoint travels as the model's artifact
CHECKPOINT_KEY, and the code of ``ml``, ``foundation`` and ``flows`` goes with the model, so an environment with the
pip requirements alone can load it.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import mlflow
import numpy as np
import torch

from ml.engine import EngineConfig, accelerate
from ml.predict import PredictConfig

CHECKPOINT_KEY = "checkpoint"  # the pyfunc artifact holding the grainloop checkpoint (weights, schema, preprocessing)
OUTPUT_KEYS = ("labels", "probabilities", "uncertainty")
PACKAGES = ("ml", "foundation", "flows")  # the code shipped with the model (code_paths)
ROOT = Path(__file__).resolve().parents[1]


def params_schema():
    """The inference params a caller may pass, with their defaults (those of ml.predict.PredictConfig)."""
    from mlflow.types import ParamSchema, ParamSpec

    d = PredictConfig()
    return ParamSchema([ParamSpec("probabilities", "boolean", False), ParamSpec("uncertainty", "boolean", False),
                        ParamSpec("tta", "boolean", d.tta), ParamSpec("tile", "integer", d.tile),
                        ParamSpec("overlap", "integer", d.overlap), ParamSpec("engine", "string", "auto"),
                        ParamSpec("precision", "string", "auto")])


def served_signature(in_channels: int):
    """Images (N, C, H, W) float32 of any N, H and W in; class maps (N, H, W) uint8 out."""
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    # unnamed: MLflow hands a named tensor input to predict as a dict, an unnamed one as the array itself
    return ModelSignature(inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, in_channels, -1, -1))]),
                          outputs=Schema([TensorSpec(np.dtype(np.uint8), (-1, -1, -1), "labels")]),
                          params=params_schema())


def predict_config(params: dict | None) -> PredictConfig:
    """The sliding-window settings of one request: PredictConfig's defaults overridden by the params given."""
    p = params or {}
    cfg = replace(PredictConfig(), probabilities=bool(p.get("probabilities", False)),
                  uncertainty=bool(p.get("uncertainty", False)), tta=bool(p.get("tta", False)))
    tile = int(p.get("tile", cfg.tile))
    return replace(cfg, tile=tile, overlap=int(p.get("overlap", min(cfg.overlap, tile // 4))))


def as_images(model_input, channels: int) -> np.ndarray:
    """(N, C, H, W) float32 from what the caller sent: (N, C, H, W), or one image (C, H, W) or (H, W)."""
    x = np.asarray(model_input.to_numpy() if hasattr(model_input, "to_numpy") else model_input, np.float32)
    if x.ndim == 2:
        x = x[None, None]
    elif x.ndim == 3:
        x = x[None] if x.shape[0] == channels else x[:, None]
    if x.ndim != 4 or x.shape[1] != channels:
        raise ValueError(f"expected images (N, {channels}, H, W) float32, got an array of shape {x.shape}")
    return x


class SegmentationModel(mlflow.pyfunc.PythonModel):
    """grainloop's preprocessing, sliding windows and class map around the network of a grainloop checkpoint."""

    def load_context(self, context) -> None:
        from ml.checkpoint import load_model

        self.checkpoint = Path(context.artifacts[CHECKPOINT_KEY])
        self.model, self.artifact = load_model(self.checkpoint)
        self.engines: dict[EngineConfig, torch.nn.Module] = {}

    def engine(self, params: dict | None) -> torch.nn.Module:
        """The network run by the engine the params ask for (made once per engine and precision)."""
        p = params or {}
        cfg = EngineConfig(engine=str(p.get("engine", "auto")), precision=str(p.get("precision", "auto")))
        if cfg not in self.engines:
            self.engines[cfg] = accelerate(self.model, self.checkpoint, cfg)
        return self.engines[cfg]

    def predict(self, context, model_input, params=None):
        from ml.runs import predict_class_map

        cfg, net = predict_config(params), self.engine(params)
        images = as_images(model_input, self.artifact.model_config.in_channels)
        results = [predict_class_map(net, self.artifact, image, cfg)[:2] for image in images]
        labels = np.stack([labels for labels, _ in results]).astype(np.uint8)
        if not (cfg.probabilities or cfg.uncertainty):
            return labels
        out = {"labels": labels}
        if cfg.probabilities:
            out["probabilities"] = np.stack([pred.probabilities for _, pred in results]).astype(np.float32)
        if cfg.uncertainty:
            out["uncertainty"] = np.stack([pred.entropy for _, pred in results]).astype(np.float32)
        return out


def log_served_model(checkpoint: Path, in_channels: int, model_name: str, requirements: list[str]):
    """The pyfunc into the active run as the artifact ``model``, registered as a new version of model_name."""
    return mlflow.pyfunc.log_model(name="model", python_model=SegmentationModel(),
                                   artifacts={CHECKPOINT_KEY: str(checkpoint)},
                                   code_paths=[str(ROOT / p) for p in PACKAGES],
                                   signature=served_signature(in_channels), registered_model_name=model_name,
                                   pip_requirements=requirements)
