"""Self-training (``--semi self_training``): two training runs, the second on the first model's confident maps.

1. Train on the labelled images alone, into ``<out>/teacher`` (resumed like any run).
2. Predict every unlabeled image with that run's best model, averaged over flips, on the fastest inference
   engine here (``ml.engine``), keeping the pixels whose top class reaches ``cfg.semi.threshold``
   (``ml.semi.pseudo_labelled``; the rest are ignored by the loss).
3. Train a new model, from the same initial weights and for the same epochs, on the labelled images and those
   maps, the labelled ones holding about half the pixels (``ml.semi.balanced``), into ``out``.

A rerun resumes whichever run was cut short; step 2 is deterministic for the teacher's weights, so a resumed
second run sees the same maps. The provenance of the final model records the teacher's weights.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable, Sequence

import torch

from foundation.schema import LabelSchema
from ml.checkpoint import load_model, weights_sha256
from ml.data import Sample
from ml.engine import accelerate
from ml.semi import SemiConfig, balanced, pseudo_labelled
from ml.targets import IGNORE_INDEX
from ml.train import TrainConfig, TrainResult, train

TEACHER = "teacher"  # the first run's folder inside the run's out folder


def self_train(cfg: TrainConfig, schema: LabelSchema, train_s: Sequence[Sample], val_s: Sequence[Sample],
               unlabeled: Sequence[Sample], out: Path, callbacks: Sequence[Callable] = (), resume: bool = True,
               init_weights: dict[str, torch.Tensor] | None = None, provenance: dict | None = None,
               log: Callable[[str], None] = lambda s: None) -> TrainResult:
    """Train ``out/teacher`` on the labels alone, then the model in ``out`` on the labels and its confident maps of
    ``unlabeled``."""
    if not unlabeled:
        raise ValueError("semi-supervised training needs unlabeled images; none were given")
    first = train(replace(cfg, semi=SemiConfig()), schema, train_s, val_s, Path(out) / TEACHER, callbacks, resume,
                  init_weights, provenance)
    log(f"self-training: the labels-alone model (best {first.state.best_score:.4f}) labels "
        f"{len(unlabeled)} unlabeled images")
    return train_student(cfg, schema, first.model_path, train_s, val_s, unlabeled, out, callbacks, resume,
                         init_weights, provenance, log)


def train_student(cfg: TrainConfig, schema: LabelSchema, teacher_file: Path, train_s: Sequence[Sample],
                  val_s: Sequence[Sample], unlabeled: Sequence[Sample], out: Path, callbacks: Sequence[Callable] = (),
                  resume: bool = True, init_weights: dict[str, torch.Tensor] | None = None,
                  provenance: dict | None = None, log: Callable[[str], None] = lambda s: None) -> TrainResult:
    """Steps 2 and 3: the model in ``teacher_file`` labels ``unlabeled`` (its confident pixels), then a new model
    trains in ``out`` on those maps and ``train_s``."""
    teacher = accelerate(load_model(teacher_file)[0], teacher_file)
    pseudo = pseudo_labelled(teacher, unlabeled, cfg.predict, cfg.semi.threshold)
    known = sum(int((s.target != IGNORE_INDEX).sum()) for s in pseudo) / max(sum(s.target.size for s in pseudo), 1)
    log(f"self-training: {100 * known:.1f}% of their pixels reach confidence {cfg.semi.threshold}")
    tagged = {**(provenance or {}), "teacher_weights_sha256": weights_sha256(teacher_file)}
    return train(replace(cfg, semi=SemiConfig()), schema, balanced(train_s, pseudo), val_s, out, callbacks, resume,
                 init_weights, tagged)
