"""Export a model to ONNX once per weights, and quantise it to int8 once per weights and calibration windows.

The files are cached in a folder beside the model file (``<model file>.engines/``), or under the user's cache
(``~/.cache/grainloop/engines``, ``$XDG_CACHE_HOME`` honoured) for a model without a file or beside an unwritable
one. Their names carry the weights' sha256 (``ml.checkpoint.state_sha256``, equal to ``weights_sha256`` of the
file), so a changed model is exported again and an unchanged one never is. Files are written atomically.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from foundation.atomic import atomic_path
from ml.checkpoint import state_sha256
from ml.io import open_source
from ml.predict import PredictConfig, window_batches
from ml.preprocess import PreprocessConfig, fit

__all__ = ["INT8_SCOPES", "ONNX_OPSET", "cache_dir", "calibration_windows", "export_onnx", "input_channels",
           "quantize_int8"]

ONNX_OPSET = 17
INPUT, OUTPUT = "image", "logits"  # the exported graph's tensor names
DYNAMIC_AXES = {INPUT: {0: "batch", 2: "height", 3: "width"}, OUTPUT: {0: "batch", 2: "height", 3: "width"}}
EXPORT_SIZE = 256  # the example input's height and width (any multiple of 32; the axes stay dynamic)


def cache_dir(model_file: Path | None) -> Path:
    """Where the engine files of this model live: beside its file when that folder is writable, else the user's
    cache."""
    if model_file is not None and os.access(Path(model_file).parent, os.W_OK):
        folder = Path(f"{model_file}.engines")
    else:
        folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "grainloop" / "engines"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def input_channels(model: torch.nn.Module) -> int:
    """The input channels of the model's first convolution."""
    conv = next((m for m in model.modules() if isinstance(m, torch.nn.Conv2d)), None)
    if conv is None:
        raise ValueError(f"{type(model).__name__} has no Conv2d: cannot tell its input channels for the export")
    return conv.in_channels


def _weights_key(model: torch.nn.Module) -> str:
    return state_sha256(model.state_dict())[:20]


def export_onnx(model: torch.nn.Module, model_file: Path | None = None) -> Path:
    """The model's fp32 ONNX graph (dynamic batch, height and width), exported on the first call for these
    weights and read from the cache afterwards. The model is left as it was (eval mode is restored after)."""
    path = cache_dir(model_file) / f"{_weights_key(model)}-fp32.onnx"
    if path.exists():
        return path
    was_training = model.training
    example = torch.zeros(1, input_channels(model), EXPORT_SIZE, EXPORT_SIZE,
                          device=next(model.parameters()).device)
    try:
        model.eval()
        with torch.no_grad(), atomic_path(path) as tmp:
            torch.onnx.export(model, (example,), str(tmp), dynamo=False, opset_version=ONNX_OPSET,
                              input_names=[INPUT], output_names=[OUTPUT], dynamic_axes=DYNAMIC_AXES)
    finally:
        model.train(was_training)
    return path


def _calibration_key(windows: Sequence[np.ndarray]) -> str:
    digest = hashlib.sha256()
    for w in windows:
        digest.update(f"{w.shape}|".encode())
        digest.update(np.ascontiguousarray(w, dtype=np.float32).tobytes())
    return digest.hexdigest()[:12]


class _Windows:
    """onnxruntime's CalibrationDataReader protocol over a list of (B, C, H, W) float32 batches."""

    def __init__(self, windows: Sequence[np.ndarray]):
        self._it = iter([{INPUT: np.ascontiguousarray(w, dtype=np.float32)} for w in windows])

    def get_next(self) -> dict | None:
        return next(self._it, None)


def calibration_windows(images: Sequence[Path | np.ndarray], preprocess: PreprocessConfig,
                        cfg: PredictConfig = PredictConfig(), first: int = 4, per_image: int = 2) -> list[np.ndarray]:
    """Model inputs to calibrate int8 on: the first ``per_image`` window batches of the ``first`` images (files or
    arrays), preprocessed as predict preprocesses them."""
    windows: list[np.ndarray] = []
    for image in list(images)[:first]:
        source = image if isinstance(image, np.ndarray) else open_source(image)
        try:
            batches = window_batches(source, fit(source, preprocess), cfg)
            windows += [b.numpy() for _, b in zip(range(per_image), batches)]
        finally:
            getattr(source, "close", lambda: None)()
    return windows


INT8_SCOPES = ("all", "encoder")  # what quantize_int8 quantises: every convolution, or the encoder's alone


def quantize_int8(model: torch.nn.Module, windows: Sequence[np.ndarray], model_file: Path | None = None,
                  scope: str = "encoder") -> Path:
    """A static int8 QDQ graph (per-channel int8 weights, uint8 activations calibrated by min/max on ``windows``,
    model inputs as predict feeds them) of every convolution (``scope`` "all") or of the encoder's alone
    ("encoder": decoder and head stay fp32), cached by weights, scope and calibration windows."""
    if not windows:
        raise ValueError("int8 needs calibration windows (model inputs of a few images: calibration_windows)")
    if scope not in INT8_SCOPES:
        raise ValueError(f"unknown int8 scope {scope!r}; choose one of: {', '.join(INT8_SCOPES)}")
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    fp32 = export_onnx(model, model_file)
    path = fp32.with_name(f"{_weights_key(model)}-int8-{scope}-{_calibration_key(windows)}.onnx")
    if path.exists():
        return path
    with tempfile.TemporaryDirectory() as tmp, atomic_path(path) as out:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
        excluded = _outside_encoder(prepared) if scope == "encoder" else []
        quantize_static(str(prepared), str(out), _Windows(windows), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=excluded)
    return path


def _outside_encoder(graph: Path) -> list[str]:
    """The convolutions after a segmentation-models-pytorch encoder (decoder and head), left in fp32 by the
    "encoder" scope: quantising them too ran 1.5x faster on EMPS but changed 7% of a weak model's pixels, against
    1.4% for the encoder alone (docs/benchmarks.md). A graph without an encoder is quantised whole."""
    import onnx

    convs = [n.name for n in onnx.load(str(graph)).graph.node if n.op_type == "Conv"]
    return [c for c in convs if not c.startswith("/encoder/")] if any(c.startswith("/encoder/") for c in convs) else []
