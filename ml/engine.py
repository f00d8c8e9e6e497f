"""CPU inference engines for ``ml.predict``: the same logits, from the fastest engine this machine offers.

Contract of ``accelerate(model, model_file, EngineConfig(), calibration=None) -> torch.nn.Module``:

- ``model`` is the fp32 torch model (``ml.checkpoint.load_model``); ``model_file`` the file it came from, or None.
  The engine files (ONNX export, int8 graph) are cached beside it (``<model_file>.engines/``) or in the user's
  cache, keyed by the weights' sha256: the export happens once per weights, never on each call.
- The result is a module to hand to ``predict_image``, ``predict_tiff``, ``ml.sampling.features.candidate``,
  ``run_prediction`` or ``evaluate`` in place of ``model``: ``result(batch)`` maps a float32 (B, C, H, W) CPU batch
  (H and W multiples of 32, any batch size) to float32 logits (B, K, H, W); ``eval()``, ``to("cpu")`` and
  ``segmentation_head`` work as on the model. Calls from several threads are safe (a server's concurrent
  requests). The model itself is never changed. Class maps equal the fp32 eager model's on >= 99.9% of pixels in
  fp32 and >= 99.5% in bf16 and in int8 that passed its check (tests/unit/test_engine.py;
  benchmarks/inference_engines.py on a trained model).
- Falls back to the torch model itself: for engine "torch" with fp32, for a model not on the CPU, and, per forward
  pass, while the model runs in training mode (MC dropout) or carries a forward hook (the embedding of the
  ``kcenter`` strategy, ``ml.sampling.features.pooled_encoder``): those need the torch modules.
- ``EngineConfig()`` is "auto": given ``calibration`` windows on a CPU with int8 dot products
  (``ml.precision.native_cpu_int8``: VNNI or AMX), int8 in OpenVINO (else ONNX Runtime), if a quantised graph's
  class maps pass ``ml.engine_int8``'s check (>= 99.5% of pixels equal fp32 eager's on held-out windows); else bf16
  where the CPU computes it natively (``ml.precision.native_cpu_bf16``: AMX or AVX512-BF16), in OpenVINO if
  installed, else torch bf16 autocast + channels_last; elsewhere fp32 in ONNX Runtime, else OpenVINO, else eager
  torch. ``calibrate=True`` instead times each installed float candidate (and fp32 eager) on one batch and keeps
  the fastest, so it is never slower than fp32 eager. int8 (static QDQ quantisation, ``ml.engine_export``) always
  needs ``calibration``: a few input batches (``calibration_windows``). Forced int8 runs the graph
  ``ml.engine_int8`` picks even if it misses the check; ``Accelerated.check`` says which and how well it agreed.
  OpenVINO and ONNX Runtime run the same QDQ graph differently (on a weakly trained test model 91% and 99.5% of
  check pixels agreed), so the check is per engine, and "auto" takes the first engine whose graph passes.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from ml.engine_export import export_onnx, input_channels
from ml.engine_int8 import Int8Check, checked_int8
from ml.engine_runners import Runner, installed, onnxruntime_runner, openvino_runner, torch_bf16_runner
from ml.precision import native_cpu_bf16, native_cpu_int8

__all__ = ["ENGINES", "PRECISIONS", "Accelerated", "EngineConfig", "accelerate", "choose", "supported"]

ENGINES = ("auto", "torch", "onnxruntime", "openvino")
PRECISIONS = ("auto", "fp32", "bf16", "int8")
SUPPORTED = {"torch": ("fp32", "bf16"), "onnxruntime": ("fp32", "int8"), "openvino": ("fp32", "bf16", "int8")}
PREFERENCE = {"int8": ("openvino", "onnxruntime"), "bf16": ("openvino", "torch"),
              "fp32": ("onnxruntime", "openvino", "torch")}  # fastest first, by the measurements in docs/benchmarks.md
CALIBRATION_SIZE = 256  # the height and width of the batch calibrate times


@dataclass(frozen=True)
class EngineConfig:
    engine: str = "auto"  # one of ENGINES
    precision: str = "auto"  # one of PRECISIONS
    threads: Optional[int] = None  # intra-op threads; None: torch.get_num_threads()
    calibrate: bool = False  # "auto": time the candidates on one batch instead of deciding by the CPU's flags

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"unknown engine {self.engine!r}; choose one of: {', '.join(ENGINES)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; choose one of: {', '.join(PRECISIONS)}")
        if self.engine != "auto" and self.precision != "auto" and self.precision not in SUPPORTED[self.engine]:
            raise ValueError(f"engine {self.engine} has no {self.precision}; choose one of: "
                             f"{', '.join(('auto', *SUPPORTED[self.engine]))}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")


def supported(flags: Optional[frozenset[str]] = None) -> list[tuple[str, str]]:
    """Every (engine, precision) installed here, int8 left out; bf16 only where the CPU computes it natively."""
    native = native_cpu_bf16(flags)
    return [(e, p) for e in ENGINES[1:] if installed(e) for p in SUPPORTED[e]
            if p != "int8" and (p != "bf16" or native)]


def _auto_precision(cfg: EngineConfig, flags: Optional[frozenset[str]], int8: bool) -> str:
    def offered(precision: str) -> bool:
        engines = PREFERENCE[precision] if cfg.engine == "auto" else (cfg.engine,)
        return any(precision in SUPPORTED[e] and installed(e) for e in engines)

    if int8 and native_cpu_int8(flags) and offered("int8"):
        return "int8"
    return "bf16" if native_cpu_bf16(flags) and offered("bf16") else "fp32"


def choose(cfg: EngineConfig, flags: Optional[frozenset[str]] = None, int8: bool = False) -> tuple[str, str]:
    """The (engine, precision) the rule picks: precision "auto" is int8 where ``int8`` is allowed (calibration
    windows were given) and the CPU has int8 dot products, else bf16 where native, else fp32, each only where the
    engine has it; engine "auto" is the fastest installed engine for that precision (PREFERENCE)."""
    precision = _auto_precision(cfg, flags, int8) if cfg.precision == "auto" else cfg.precision
    if cfg.engine != "auto":
        return cfg.engine, precision
    engine = next((e for e in PREFERENCE[precision] if installed(e)), None)
    if engine is None:
        raise ValueError(f"no installed engine runs {precision}; install one of: {', '.join(PREFERENCE[precision])}")
    return engine, precision


class Accelerated(torch.nn.Module):
    """The model's forward run by an engine; the torch model stays inside for hooks, training mode and the class
    count (``segmentation_head``)."""

    def __init__(self, model: torch.nn.Module, runner: Runner, engine: str, precision: str,
                 check: Int8Check | None = None):
        super().__init__()
        self.model, self.runner, self.engine, self.precision, self.check = model, runner, engine, precision, check
        for name in ("segmentation_head", "encoder"):  # plain attributes (not submodules): predict reads the class
            object.__setattr__(self, name, getattr(model, name, None))  # count, pooled_encoder hooks the encoder
        self.train(model.training)

    def needs_torch(self) -> bool:
        """True while the torch model must run: training mode (MC dropout) or a forward hook on any of its modules."""
        return self.training or any(m._forward_hooks or m._forward_pre_hooks for m in self.model.modules())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x) if self.needs_torch() else self.runner(x).to(x.device)

    @property
    def note(self) -> str:
        """What int8 quantised and how well it agreed with fp32 ("" for a float precision)."""
        return self.check.describe() if self.check else ""

    def extra_repr(self) -> str:
        return f"engine={self.engine}, precision={self.precision}"


def _runner(model: torch.nn.Module, model_file: Path | None, engine: str, precision: str,
            threads: int) -> Runner:
    """The runner of a float precision (int8: ``_int8``)."""
    _check_installed(engine)
    if engine == "torch":
        return torch_bf16_runner(model)
    graph = export_onnx(model, model_file)
    if engine == "onnxruntime":
        return onnxruntime_runner(graph, threads)
    return openvino_runner(graph, threads, precision)


def _int8(model: torch.nn.Module, model_file: Path | None, engine: str, threads: int,
          calibration: Sequence[np.ndarray] | None):
    """The runner of ``ml.engine_int8``'s checked graph and its check. OpenVINO runs what the graph leaves
    unquantised in bf16 where the CPU has it."""
    _check_installed(engine)
    if not calibration:
        raise ValueError("int8 needs calibration windows (model inputs of a few images: calibration_windows)")
    rest = "bf16" if native_cpu_bf16() else "fp32"
    make = (lambda g: onnxruntime_runner(g, threads)) if engine == "onnxruntime" else \
        (lambda g: openvino_runner(g, threads, rest))
    return checked_int8(model, model_file, calibration, engine, make)


def _check_installed(engine: str) -> None:
    if not installed(engine):
        raise ValueError(f"engine {engine} is not installed here; installed: "
                         f"{', '.join(e for e in ENGINES[1:] if installed(e))}")


def _seconds(run, x: torch.Tensor) -> float:
    with torch.inference_mode():
        run(x)  # warm-up: first-call allocations and kernel selection
        start = time.perf_counter()
        run(x)
    return time.perf_counter() - start


def _fastest(model: torch.nn.Module, model_file: Path | None, threads: int) -> tuple[str, str, Runner | None]:
    """Time fp32 eager and every supported (engine, precision) on one batch of 2; the fastest (runner None: eager)."""
    x = torch.rand(2, input_channels(model), CALIBRATION_SIZE, CALIBRATION_SIZE)
    best = ("torch", "fp32", None, _seconds(model, x))
    for engine, precision in supported():
        if (engine, precision) != ("torch", "fp32"):
            runner = _runner(model, model_file, engine, precision, threads)
            if (seconds := _seconds(runner, x)) < best[3]:
                best = (engine, precision, runner, seconds)
    return best[:3]


def accelerate(model: torch.nn.Module, model_file: Path | str | None = None, cfg: EngineConfig = EngineConfig(),
               calibration: Sequence[np.ndarray] | None = None) -> torch.nn.Module:
    """The model run by the engine ``cfg`` chooses (see the module docstring for the contract)."""
    model_file = Path(model_file) if model_file is not None else None
    model.eval()
    if next(model.parameters()).device.type != "cpu":
        return model
    threads = cfg.threads or torch.get_num_threads()
    if cfg.calibrate and cfg.engine == "auto" and cfg.precision == "auto":
        engine, precision, runner = _fastest(model, model_file, threads)
        return model if runner is None else Accelerated(model, runner, engine, precision)
    engine, precision = choose(cfg, int8=bool(calibration))
    if precision == "int8":
        engines = [e for e in PREFERENCE["int8"] if installed(e)] if cfg.engine == "auto" else [engine]
        for engine in engines:  # auto: the fastest engine whose graph passes the check
            runner, check = _int8(model, model_file, engine, threads, calibration)
            if check.passed or cfg.precision == "int8":
                return Accelerated(model, runner, engine, precision, check)
        engine, precision = choose(cfg)  # auto, and no int8 graph kept the class maps: the float choice
    if (engine, precision) == ("torch", "fp32"):
        return model
    return Accelerated(model, _runner(model, model_file, engine, precision, threads), engine, precision)
