"""Training precision: bf16 autocast (and channels_last) where the processor computes bf16 natively, fp32 elsewhere.

On a CPU with AMX or AVX512-BF16, a Unet step under ``torch.autocast("cpu", dtype=torch.bfloat16)`` with
channels_last tensors takes a third of the fp32 time; on an AVX2-only CPU (AMD EPYC before Zen 4, most laptops)
bf16 is emulated and slower than fp32, so "auto" keeps fp32 there. On a GPU "auto" is bf16 mixed precision when
the GPU supports it. The weights stay fp32 in every mode (autocast only lowers the matmuls and convolutions), so a
checkpoint does not depend on the precision it was trained with.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

PRECISIONS = ("auto", "fp32", "bf16")
CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo flags of native bf16 arithmetic
CPU_INT8_FLAGS = ("amx_int8", "avx512_vnni", "avx_vnni")  # int8 dot products in one instruction (VNNI or AMX)
CPUINFO = Path("/proc/cpuinfo")


@dataclass(frozen=True)
class Precision:
    """What a training run computes in: ``dtype`` None is plain fp32."""

    name: str  # "fp32" or "bf16", after "auto" is resolved
    device_type: str  # "cpu" or "cuda"
    dtype: Optional[torch.dtype] = None
    channels_last: bool = False

    def autocast(self):
        """The context the forward pass and the loss run in."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def model(self, model: torch.nn.Module) -> torch.nn.Module:
        return model.to(memory_format=torch.channels_last) if self.channels_last else model

    def batch(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


def _cpuinfo(name: str, cpuinfo: Path) -> list[str]:
    """The values of a /proc/cpuinfo field, one per processor (none where the file is not there, as on macOS and
    Windows)."""
    try:
        lines = cpuinfo.read_text().splitlines()
    except OSError:
        return []
    return [line.split(":", 1)[1].strip() for line in lines if line.split(":", 1)[0].strip() == name]


def cpu_flags(cpuinfo: Path = CPUINFO) -> frozenset[str]:
    """The CPU's feature flags (empty where /proc/cpuinfo is not there)."""
    return frozenset(f for value in _cpuinfo("flags", cpuinfo) for f in value.split())


def cpu_model(cpuinfo: Path = CPUINFO) -> str:
    """The CPU's model name, for reports ("unknown CPU" where /proc/cpuinfo is not there)."""
    return next(iter(_cpuinfo("model name", cpuinfo)), "unknown CPU")


def native_cpu_bf16(flags: Optional[frozenset[str]] = None) -> bool:
    """Whether this CPU computes bf16 in hardware (AMX or AVX512-BF16)."""
    flags = cpu_flags() if flags is None else flags
    return any(f in flags for f in CPU_BF16_FLAGS)


def native_cpu_int8(flags: Optional[frozenset[str]] = None) -> bool:
    """Whether this CPU has int8 dot-product instructions (AMX, AVX512-VNNI or AVX-VNNI)."""
    flags = cpu_flags() if flags is None else flags
    return any(f in flags for f in CPU_INT8_FLAGS)


def check_precision(name: str) -> str:
    if name not in PRECISIONS:
        raise ValueError(f"unknown precision {name!r}; valid: {', '.join(PRECISIONS)}")
    return name


def resolve_precision(name: str, device: str, flags: Optional[frozenset[str]] = None) -> Precision:
    """The precision a run on ``device`` uses: "auto" is bf16 where it is native (CPU with AMX/AVX512-BF16, GPU
    with bf16 support), fp32 elsewhere; "bf16" and "fp32" force it."""
    device_type = torch.device(device).type
    if check_precision(name) == "auto":
        native = torch.cuda.is_bf16_supported() if device_type == "cuda" else native_cpu_bf16(flags)
        name = "bf16" if native else "fp32"
    if name == "fp32":
        return Precision("fp32", device_type)
    return Precision("bf16", device_type, torch.bfloat16, channels_last=True)
