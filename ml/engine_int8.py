"""int8 that is checked before it is used: quantise, run the engine, compare its class maps with fp32 eager's.

Whether int8 keeps a model's class maps depends on the model: a weak model has many pixels near its decision
boundary, a well-trained one few (docs/benchmarks.md: every convolution in int8 changed 7% of a weak model's
pixels and 0.2% of a trained one's). So ``checked_int8`` quantises every convolution first, measures on held-out
windows the share of pixels whose class equals fp32 eager's, and keeps that graph if the share reaches
``INT8_FLOOR``; otherwise it tries the encoder alone. "auto" uses int8 only where a graph passed; an explicit
int8 gets the last graph tried, with its agreement reported either way.

The calibration windows are split in two: the even ones calibrate, the odd ones check (one window does both).
The check's result is cached beside the graph, per engine, so a second start does not run it again.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from foundation.atomic import write_atomic
from ml.engine_export import INT8_SCOPES, quantize_int8
from ml.engine_runners import Runner

__all__ = ["INT8_FLOOR", "Int8Check", "agreement", "checked_int8"]

INT8_FLOOR = 0.995  # the share of pixels whose class must equal fp32 eager's (issue 16's goal for int8)


@dataclass(frozen=True)
class Int8Check:
    scope: str  # one of INT8_SCOPES
    agreement: float  # share of the check windows' pixels whose class equals fp32 eager's

    @property
    def passed(self) -> bool:
        return self.agreement >= INT8_FLOOR

    def describe(self) -> str:
        layers = "every convolution" if self.scope == "all" else "the encoder"
        return f"int8 {layers}; {100 * self.agreement:.2f}% of check pixels equal fp32"


def agreement(model: torch.nn.Module, runner: Runner, windows: Sequence[np.ndarray]) -> float:
    """The share of the windows' pixels whose argmax class is the same from ``runner`` as from ``model``."""
    equal = total = 0
    with torch.inference_mode():
        for w in windows:
            x = torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32))
            same = model(x).argmax(1) == runner(x).argmax(1)
            equal, total = equal + int(same.sum()), total + same.numel()
    return equal / max(total, 1)


def _split(windows: Sequence[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    windows = list(windows)
    return (windows[0::2], windows[1::2]) if len(windows) > 1 else (windows, windows)


def _cached(record: Path, scope: str, measure: Callable[[], float]) -> Int8Check:
    if record.exists():
        return Int8Check(**json.loads(record.read_text()))
    check = Int8Check(scope, measure())
    write_atomic(record, json.dumps(asdict(check)))
    return check


def checked_int8(model: torch.nn.Module, model_file: Path | None, windows: Sequence[np.ndarray], engine: str,
                 make_runner: Callable[[Path], Runner]) -> tuple[Runner, Int8Check]:
    """The runner of the first int8 graph (every convolution, then the encoder alone) whose class maps agree with
    ``model``'s on ``INT8_FLOOR`` of the check windows' pixels; if none does, the last one tried. ``make_runner``
    builds ``engine``'s runner of a graph."""
    calibrate, check = _split(windows)
    for scope in INT8_SCOPES:
        graph = quantize_int8(model, calibrate, model_file, scope)
        runner = make_runner(graph)
        result = _cached(graph.with_suffix(f".{engine}.check.json"), scope, lambda: agreement(model, runner, check))
        if result.passed:
            break
    return runner, result
