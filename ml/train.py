"""Training: patches from large images, AdamW with cosine warm restarts, early stopping on validation IoU,
a checkpoint every epoch, resume after a crash, seeded determinism, and epoch-end callbacks.

Each epoch's randomness is derived from (seed, epoch) alone, so resuming from the checkpoint of epoch e
replays epochs e+1... exactly as an uninterrupted run would.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import torch

from foundation.schema import LabelSchema
from ml.augment import AugmentConfig, Augmenter
from ml.checkpoint import ModelArtifact, atomic_save, save_model
from ml.config import to_dict
from ml.data import Sample
from ml.evaluate import evaluate
from ml.gan import Adversary, GanConfig, build_adversary, check_trainer
from ml.losses import LossConfig, build_loss
from ml.metrics import MEAN_FG_IOU
from ml.models import ModelConfig, build_model, warm_start
from ml.patches import PatchConfig, PatchDataset, epoch_loader, run_seed
from ml.precision import Precision, check_precision, resolve_precision
from ml.predict import PredictConfig
from ml.preprocess import PreprocessConfig
from ml.progress import epoch_progress
from ml.semi import MeanTeacher, SemiConfig


@dataclass(frozen=True)
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    patches: PatchConfig = field(default_factory=PatchConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    predict: PredictConfig = field(default_factory=PredictConfig)
    semi: SemiConfig = field(default_factory=SemiConfig)  # learning from unlabeled images too (ml/semi.py)
    trainer: str = "supervised"  # "gan": also an adversarial loss from a PatchGAN discriminator (ml/gan.py)
    gan: GanConfig = field(default_factory=GanConfig)
    batch_size: int = 8
    epochs: int = 30
    lr: float = 1e-3
    warm_lr: float | None = None  # the learning rate when training starts from another model's weights (None: lr)
    weight_decay: float = 1e-4
    restart_epochs: int = 10  # length of the first cosine cycle (then doubled)
    patience: int = 8  # early stopping: epochs without a better validation score
    min_delta: float = 1e-4
    max_minutes: float | None = None  # stop before an epoch that would overrun this budget
    seed: int = 0
    threads: int | None = None
    progress: bool = False
    device: str = "cpu"  # torch device for training and validation; "auto": cuda when available
    precision: str = "auto"  # "auto": bf16 where the device computes it natively, else fp32 (ml/precision.py)
    workers: int = 0  # forked processes making the patches (0: the training process); for `grainloop train`

    def __post_init__(self) -> None:
        check_precision(self.precision)
        check_trainer(self.trainer)
        if self.workers < 0:
            raise ValueError(f"workers must be 0 or more, got {self.workers}")


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    metrics: dict
    lr: float
    seconds: float
    best: bool
    losses: dict = field(default_factory=dict)  # training losses besides train_loss (the GAN's)


@dataclass
class TrainState:
    epoch: int = 0
    best_score: float = -math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    elapsed: float = 0.0
    history: list[dict] = field(default_factory=list)


@dataclass
class TrainResult:
    state: TrainState
    model_path: Path
    stopped: str  # "epochs", "early_stopping" or "time_budget"
    threads: int = 0  # torch's intra-op threads during the run (results depend on it)
    device: str = "cpu"
    precision: str = "fp32"  # what "auto" resolved to


Callback = Callable[[EpochRecord], None]
SCORE = MEAN_FG_IOU


def resolve_device(name: str) -> str:
    """A torch device name; "auto" is cuda when a GPU is visible, else cpu."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(torch.device(name))


def _components(cfg: TrainConfig, steps_per_epoch: int):
    torch.manual_seed(cfg.seed)  # initial weights depend on the seed alone
    model = build_model(cfg.model).to(cfg.predict.device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=cfg.restart_epochs * steps_per_epoch, T_mult=2)
    return model, opt, sched


def _resume(path: Path, model, opt, sched) -> tuple[TrainState, dict]:
    """The state, and the whole checkpoint (with the mean teacher's and the discriminator's states if any)."""
    blob = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(blob["model"])
    opt.load_state_dict(blob["optimizer"])
    sched.load_state_dict(blob["scheduler"])
    return TrainState(**blob["state"]), blob


def _train_epoch(model, loader, loss_fn, opt, sched, bar, device: str, precision: Precision,
                 teacher: MeanTeacher | None = None, adversary: Adversary | None = None) -> float:
    model.train()
    total, n = 0.0, 0
    unlabeled = teacher.batches() if teacher else None
    for x, y in loader:
        x, y = precision.batch(x.to(device)), y.to(device)
        opt.zero_grad(set_to_none=True)
        with precision.autocast():
            logits = model(x)
            loss = loss_fn(logits, y)
            if unlabeled is not None:
                clean, strong = (precision.batch(t.to(device)) for t in next(unlabeled))
                loss = loss + teacher.loss(model, clean, strong)
            if adversary:
                loss = loss + adversary.generator_loss(x, logits)
        loss.backward()
        opt.step()
        sched.step()
        if adversary:
            adversary.step(x, logits, y)
        if teacher:
            teacher.update(model)
        total, n = total + loss.item(), n + 1
        bar.advance()
    return total / max(n, 1)


def _score(model, val: Sequence[Sample], schema, cfg: TrainConfig, train_loss: float) -> dict:
    if not val:
        return {SCORE: -train_loss}
    return evaluate(model, val, schema, cfg.predict).metrics


def _update(state: TrainState, cfg: TrainConfig, metrics: dict, seconds: float, loss: float, losses: dict) -> bool:
    score = metrics.get(SCORE, float("nan"))
    best = not math.isnan(score) and score > state.best_score + cfg.min_delta
    if best:
        state.best_score, state.best_epoch, state.bad_epochs = float(score), state.epoch, 0
    else:
        state.bad_epochs += 1
    state.elapsed += seconds
    state.history.append({"epoch": state.epoch, "train_loss": loss, "seconds": seconds, **losses, **metrics})
    return best


def _stop_reason(state: TrainState, cfg: TrainConfig) -> str | None:
    if state.epoch >= cfg.epochs:
        return "epochs"
    if state.bad_epochs >= cfg.patience:
        return "early_stopping"
    per_epoch = state.elapsed / max(state.epoch, 1)
    if cfg.max_minutes is not None and state.elapsed + per_epoch > cfg.max_minutes * 60:
        return "time_budget"
    return None


def _teacher(cfg: TrainConfig, model, unlabeled: Sequence[Sample], state: dict | None) -> MeanTeacher | None:
    """The mean teacher of a semi-supervised run (from the checkpoint on resume), else None."""
    if not cfg.semi.enabled:
        return None
    if not cfg.semi.online:
        raise ValueError(f"{cfg.semi.method} is two training runs (ml.runs.run_training), not one")
    teacher = MeanTeacher(cfg.semi, model, unlabeled, cfg.patches, cfg.augment, cfg.batch_size, cfg.seed)
    if state is not None:
        teacher.load_state_dict(state)
    return teacher


def train(cfg: TrainConfig, schema: LabelSchema, train_samples: Sequence[Sample], val_samples: Sequence[Sample],
          out_dir: Path, callbacks: Sequence[Callback] = (), resume: bool = True,
          init_weights: dict[str, torch.Tensor] | None = None, provenance: dict | None = None,
          unlabeled: Sequence[Sample] = ()) -> TrainResult:
    """Train, checkpointing to out_dir/last.pt each epoch and the best model to out_dir/model.pt; with
    ``cfg.semi`` enabled, also learn from the ``unlabeled`` samples (targets None)."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    cfg = replace(cfg, predict=replace(cfg.predict, device=resolve_device(cfg.device)))  # validation on it too
    out_dir = Path(out_dir)
    data = PatchDataset(train_samples, cfg.patches, Augmenter(cfg.augment, cfg.seed), cfg.seed)
    steps = cfg.patches.per_epoch // cfg.batch_size
    if init_weights is not None and cfg.warm_lr is not None:  # fine-tuning: a resume restores this lr too
        cfg = replace(cfg, lr=cfg.warm_lr)
    model, opt, sched = _components(cfg, steps)
    precision = resolve_precision(cfg.precision, cfg.predict.device)
    model = precision.model(model)
    loss_fn = build_loss(cfg.loss, cfg.model.classes).to(cfg.predict.device)
    artifact = ModelArtifact(cfg.model, schema, cfg.preprocess, provenance=provenance or {})
    last = out_dir / "last.pt"
    saved: dict = {}
    if resume and last.exists():
        state, saved = _resume(last, model, opt, sched)
    else:
        state = TrainState()
        if init_weights is not None:
            warm_start(model, init_weights)
    adversary = build_adversary(cfg.trainer, cfg.gan, cfg.model, cfg.predict.device, saved.get("adversary"))
    teacher = _teacher(cfg, model, unlabeled, saved.get("teacher"))
    stopped = _stop_reason(state, cfg) if state.epoch else None
    with epoch_progress(cfg.progress) as progress:
        while stopped is None:
            state.epoch += 1
            torch.manual_seed(run_seed(cfg.seed, state.epoch))
            data.set_epoch(state.epoch)
            if teacher:
                teacher.set_epoch(state.epoch)
            loader = epoch_loader(data, cfg.batch_size, cfg.workers)
            t0 = time.perf_counter()
            with progress.epoch(state.epoch, steps) as bar:
                loss = _train_epoch(model, loader, loss_fn, opt, sched, bar, cfg.predict.device, precision, teacher,
                                    adversary)
            losses = adversary.epoch_losses() if adversary else {}
            metrics = _score(model, val_samples, schema, cfg, loss)
            seconds = time.perf_counter() - t0
            best = _update(state, cfg, metrics, seconds, loss, losses)
            if best:
                save_model(out_dir / "model.pt", model, ModelArtifact(**{**artifact.__dict__, "metrics": metrics}))
            atomic_save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                         "state": state.__dict__, "config": to_dict(cfg),
                         "teacher": teacher.state_dict() if teacher else None,
                         "adversary": adversary.state_dict() if adversary else None}, last)
            record = EpochRecord(state.epoch, loss, metrics, sched.get_last_lr()[0], seconds, best, losses)
            for cb in callbacks:
                cb(record)
            stopped = _stop_reason(state, cfg)
    return TrainResult(state, out_dir / "model.pt", stopped, torch.get_num_threads(), cfg.predict.device,
                       precision.name)
