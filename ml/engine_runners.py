"""Run a batch through one inference engine: the callables ``ml.engine.Accelerated`` wraps.

Each runner maps a float32 (B, C, H, W) CPU tensor to float32 logits (B, K, H, W) and holds its own compiled
model: an ONNX Runtime session, an OpenVINO compiled model, or a copy of the torch model in channels_last under
bf16 autocast (the trainer's bf16 mode, ``ml.precision``). Threads are the engine's intra-op threads.
"""
from __future__ import annotations

import copy
import importlib.util
import threading
from pathlib import Path
from typing import Callable

import torch

from ml.precision import resolve_precision

__all__ = ["Runner", "installed", "onnxruntime_runner", "openvino_runner", "torch_bf16_runner"]

Runner = Callable[[torch.Tensor], torch.Tensor]
ENGINE_PACKAGES = {"torch": "torch", "onnxruntime": "onnxruntime", "openvino": "openvino"}
OPENVINO_PRECISION = {"fp32": "f32", "bf16": "bf16"}


def installed(engine: str) -> bool:
    """Whether the engine's package can be imported here."""
    return importlib.util.find_spec(ENGINE_PACKAGES[engine]) is not None


def _numpy(x: torch.Tensor):
    return x.detach().to("cpu", torch.float32).contiguous().numpy()


def onnxruntime_runner(onnx_file: Path, threads: int) -> Runner:
    """An ONNX Runtime CPU session of the graph (all graph optimisations, one inter-op thread)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only
    session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def run(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run(None, {name: _numpy(x)})[0])

    return run


def openvino_runner(onnx_file: Path, threads: int, precision: str) -> Runner:
    """An OpenVINO CPU compiled model of the graph at the precision hint (fp32 or bf16), latency mode. One infer
    request, reused; concurrent calls take turns."""
    import openvino as ov

    compiled = ov.Core().compile_model(str(onnx_file), "CPU", {
        "INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": OPENVINO_PRECISION[precision],
        "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1})
    request, lock = compiled.create_infer_request(), threading.Lock()  # an infer request serves one call at a time

    def run(x: torch.Tensor) -> torch.Tensor:
        with lock:
            request.infer({0: _numpy(x)})
            return torch.from_numpy(request.get_output_tensor(0).data.copy())

    return run


def torch_bf16_runner(model: torch.nn.Module) -> Runner:
    """A channels_last copy of the model under bf16 autocast (the weights stay fp32); logits back in fp32."""
    precision = resolve_precision("bf16", "cpu")
    with torch.no_grad():
        fast = precision.model(copy.deepcopy(model).eval())

    def run(x: torch.Tensor) -> torch.Tensor:
        with precision.autocast():
            return fast(precision.batch(x)).float().contiguous()

    return run
