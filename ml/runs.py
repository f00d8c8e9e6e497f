"""Runs on folders: training, evaluation and prediction over files on disk, for the CLI, the flows and dvc.yaml."""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence

import numpy as np
import torch

from foundation.digest import sha256_file
from foundation.schema import LabelSchema
from ml.checkpoint import ModelArtifact, load_model, read_artifact, save_model
from ml.config import to_dict
from ml.data import find_samples, load_samples, split_samples, with_instance_files
from ml.decoding import decoding_config, tune_decoding
from ml.evaluate import evaluate
from ml.grain_eval import grain_metrics
from ml.io import TIFF_SUFFIXES, ImageSource, as_source, list_images, open_source, read_mask, write_mask
from ml.predict import PredictConfig, Prediction, predict_image, predict_tiff
from ml.preprocess import PreprocessState, apply, fit
from ml.report import plot_confusion, plot_learning_curve, save_overlay, write_json, write_rows
from ml.pretrain import pretrain
from ml.self_training import self_train
from ml.semi import PRETRAIN, SemiConfig
from ml.targets import class_map_from_prediction
from ml.train import SCORE, EpochRecord, TrainConfig, TrainResult, train

HUGE_PIXELS = 4096 * 4096  # TIFFs above this are predicted tile by tile into a tiled TIFF


@dataclass(frozen=True)
class TrainSpec:
    images: Sequence[Path]
    masks: Path
    mask_kind: str
    schema: LabelSchema
    val_fraction: float = 0.2
    warm_start: Optional[Path] = None
    resume: bool = True
    splits: Optional[Mapping[str, str]] = None  # id -> train/val/test (a dataset version's frozen splits)
    unlabeled: Sequence[Path] = ()  # image folders (one per channel) for semi-supervised training
    instances: Optional[Path] = None  # instance maps by id beside class masks (a dataset version's instances/):
    # the validation images' grains the decoding is tuned on and, with a boundary class, every image's boundary


def unlabeled_samples(spec: TrainSpec, cfg: TrainConfig, progress: bool = False) -> list:
    """The spec's unlabeled images when ``cfg.semi`` is on, leaving out every image the labelled data has, by id
    or by content, in any split (a test image's pixels never reach training)."""
    if not cfg.semi.enabled or not spec.unlabeled:
        return []
    labelled = find_samples(spec.images, spec.masks)
    ids, digests = {f.id for f in labelled}, {sha256_file(f.images[0]) for f in labelled}
    files = [f for f in find_samples(spec.unlabeled) if f.id not in ids and sha256_file(f.images[0]) not in digests]
    return load_samples(files, spec.schema, cfg.preprocess, progress=progress)


def _split(spec: TrainSpec, samples):
    if spec.splits is None:
        return split_samples(samples, spec.val_fraction)
    return tuple([s for s in samples if spec.splits.get(s.id) == name] for name in ("train", "val"))


def split_files(spec: TrainSpec, names: Sequence[str] = ("train", "val")):
    """The spec's files, restricted to the named splits when the spec has frozen splits. With a boundary class
    and instance maps beside the class maps, each image's boundary comes from its own grains (else from its class
    map's connected components, which cannot part touching grains)."""
    files = find_samples(spec.images, spec.masks)
    if spec.schema.boundary:
        files = with_instance_files(files, spec.instances)
    return files if spec.splits is None else [f for f in files if spec.splits.get(f.id) in names]


def _epoch_logger(log: Callable[[str], None]) -> Callable[[EpochRecord], None]:
    def on_epoch(r: EpochRecord) -> None:
        log(f"epoch {r.epoch}: loss {r.train_loss:.4f}  val {SCORE} {r.metrics.get(SCORE, float('nan')):.4f}  "
            f"lr {r.lr:.2e}  {r.seconds:.0f}s{'  (best)' if r.best else ''}")
    return on_epoch


def run_training(spec: TrainSpec, cfg: TrainConfig, out: Path, progress: bool = False,
                 log: Callable[[str], None] = lambda s: None,
                 callbacks: Sequence[Callable[[EpochRecord], None]] = ()) -> TrainResult:
    """Load, split, train, and write the run's files: config, split, history, learning curve, metrics."""
    samples = load_samples(split_files(spec), spec.schema, cfg.preprocess, spec.mask_kind, progress=progress)
    train_s, val_s = _split(spec, samples)
    model_cfg = replace(cfg.model, in_channels=samples[0].image.shape[0], classes=spec.schema.num_outputs)
    cfg = replace(cfg, model=model_cfg, progress=progress)
    init = read_artifact(spec.warm_start)[1] if spec.warm_start else None
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", {"train": to_dict(cfg), "schema": spec.schema.to_dict(),
                                     "schema_hash": spec.schema.hash, "images": [str(p) for p in spec.images]})
    write_rows(out / "split.csv", [{"id": s.id, "split": "train"} for s in train_s] + [{"id": s.id, "split": "val"} for s in val_s])
    log(f"{len(train_s)} training and {len(val_s)} validation images; model {model_cfg.arch}-{model_cfg.encoder}")
    unlabeled = unlabeled_samples(spec, cfg, progress)
    if unlabeled:
        log(f"{len(unlabeled)} unlabeled images for {cfg.semi.method}")
    provenance = {"schema_hash": spec.schema.hash, "train_images": len(train_s), "val_images": len(val_s),
                  "unlabeled_images": len(unlabeled)}
    epoch_callbacks = [_epoch_logger(log), *callbacks]
    if cfg.semi.method == PRETRAIN:  # learn from every image first, then from the labels
        result = pretrained_run(cfg, spec, train_s, val_s, unlabeled, out, epoch_callbacks, init, provenance, log)
    elif cfg.semi.enabled and not cfg.semi.online:  # self-training: two runs
        result = self_train(cfg, spec.schema, train_s, val_s, unlabeled, out, epoch_callbacks, spec.resume, init,
                            provenance, log)
    else:
        result = train(cfg, spec.schema, train_s, val_s, out, epoch_callbacks, spec.resume, init, provenance,
                       unlabeled)
    write_rows(out / "history.csv", result.state.history)
    plot_learning_curve(out / "learning_curve.png", result.state.history)
    best = next((h for h in result.state.history if h["epoch"] == result.state.best_epoch), {})
    decoding = record_decoding(result.model_path, val_s, spec.instances, out, log)
    tuned = {"decoding": decoding} if decoding else {}
    write_json(out / "metrics.json", {**best, "stopped": result.stopped, **tuned})
    return result


def pretrained_run(cfg: TrainConfig, spec: TrainSpec, train_s, val_s, unlabeled, out: Path, callbacks, init,
                   provenance: dict, log: Callable[[str], None]) -> TrainResult:
    """``--semi pretrain``: masked-block filling on the labelled and unlabeled images (``ml.pretrain``, in
    ``out/pretrain``), then training on the labels from those weights at the full learning rate."""
    if init is not None:
        raise ValueError("--semi pretrain starts from its own pretraining; leave out the warm start")
    steps = cfg.semi.pretrain.steps
    log(f"pretraining: {steps} steps of filling in hidden blocks of {len(train_s) + len(unlabeled)} images")
    weights = pretrain(cfg, cfg.semi.pretrain, [*train_s, *unlabeled], out / "pretrain", log)
    tagged = {**provenance, "pretrain_steps": steps, "pretrain_images": len(train_s) + len(unlabeled)}
    return train(replace(cfg, semi=SemiConfig(), warm_lr=None), spec.schema, train_s, val_s, out, callbacks,
                 spec.resume, weights, tagged)


def with_instances(samples: Sequence, folder: Optional[Path]) -> list:
    """The samples with their instance maps from ``folder`` (named by id) where they have none, unchanged when the
    folder lacks one of them or a map's size is not its image's (nothing half-tuned on)."""
    if folder is None or not Path(folder).is_dir() or all(s.instances is not None for s in samples):
        return list(samples)
    found = {p.stem: p for p in Path(folder).iterdir() if p.is_file()}
    if not all(s.id in found for s in samples):
        return list(samples)
    maps = {s.id: read_mask(found[s.id]) for s in samples}
    if any(maps[s.id].shape != s.image.shape[-2:] for s in samples):
        return list(samples)
    return [s if s.instances is not None else replace(s, instances=maps[s.id]) for s in samples]


def record_decoding(model_path: Path, val_s: Sequence, instances: Optional[Path], out: Path,
                    log: Callable[[str], None]) -> dict:
    """Tune the grain decoding of the saved best model on the validation images with instance maps (their own, or
    from ``instances``), store it in model.pt (same weights) and write the grid's scores to decoding.csv; {} when
    there is nothing to tune on. A model that already carries one (a finished run run again) keeps it: every new
    best model.pt is saved without."""
    if not model_path.exists():
        return {}
    net, artifact = load_model(model_path)
    if artifact.decoding:
        return artifact.decoding
    tuning = tune_decoding(net, with_instances(val_s, instances), artifact.schema)
    if tuning is None:
        return {}
    decoding = asdict(tuning.config)
    save_model(model_path, net, replace(artifact, decoding=decoding))
    write_rows(out / "decoding.csv", tuning.rows)
    log(f"grain decoding tuned on {tuning.images} validation images: {decoding}")
    return decoding


def full_resolution(image, state: PreprocessState) -> np.ndarray:
    """The preprocessed image at image (not model) resolution, for overlays."""
    return apply(image, replace(state, downsample=1))


def run_evaluation(model: torch.nn.Module, artifact: ModelArtifact, spec: TrainSpec, out: Path, cfg: PredictConfig,
                   n_overlays: int = 8, split: str = "test") -> dict:
    """metrics.json, per_image.csv, the confusion matrix and side-by-side overlays (truth | prediction) in out.
    With frozen splits (a dataset version) only ``split`` is evaluated; else every image of the spec."""
    files = split_files(spec, (split,))
    samples = load_samples(files, artifact.schema, artifact.preprocess, spec.mask_kind, progress=True)
    ev = evaluate(model, samples, artifact.schema, cfg, keep_predictions=True, progress=True)
    # grains are split on the unfolded maps: a boundary schema's boundary class separates touching grains
    # the prediction's grains with the model's own decoding (tuned on validation), the truth's with the default one
    ev.metrics.update(grain_metrics({s.id: s.target for s in samples}, ev.predictions, artifact.schema,
                                    pred_cfg=decoding_config(artifact.decoding)))
    write_json(out / "metrics.json", ev.metrics)
    write_rows(out / "per_image.csv", ev.rows)
    plot_confusion(out / "confusion_matrix.png", ev.confusion, artifact.schema.class_names)
    for s in samples[:n_overlays]:
        truth = class_map_from_prediction(s.target, artifact.schema)
        save_overlay(out / "overlays" / f"{s.id}.png", full_resolution(s.image, s.state),
                     class_map_from_prediction(ev.predictions[s.id], artifact.schema), artifact.schema,
                     np.where(truth == 255, 0, truth))
    return ev.metrics


def predict_class_map(model, artifact: ModelArtifact, image: np.ndarray | ImageSource, cfg: PredictConfig,
                      ) -> tuple[np.ndarray, Prediction, PreprocessState]:
    """The class map of one image ((H, W) or (C, H, W) array, or an ImageSource) as `grainloop predict` writes it
    (the boundary class folded into grain), with the prediction and the preprocessing measured on the image. The
    one path of `grainloop predict` and of the served MLflow model."""
    source = as_source(image)
    state = fit(source, artifact.preprocess)
    pred = predict_image(model, source, cfg, state=state)
    return class_map_from_prediction(pred.labels, artifact.schema), pred, state


def _predict_one(model, artifact: ModelArtifact, path: Path, out: Path, cfg: PredictConfig) -> Path:
    name = path.stem
    source = open_source(path)
    if path.suffix.lower() in TIFF_SUFFIXES and source.shape[1] * source.shape[2] > HUGE_PIXELS:
        unc = out / f"{name}_uncertainty.tif" if cfg.uncertainty else None
        predict_tiff(model, path, out / f"{name}.tif", cfg, artifact.preprocess, unc, progress=True)
        return out / f"{name}.tif"
    labels, pred, state = predict_class_map(model, artifact, source, cfg)
    write_mask(out / f"{name}.png", labels)
    save_overlay(out / "overlays" / f"{name}.png", full_resolution(source, state), labels, artifact.schema)
    if pred.entropy is not None:
        write_mask(out / f"{name}_uncertainty.png", (pred.entropy / np.log(artifact.model_config.classes) * 255).astype(np.uint8))
    if pred.probabilities is not None:
        np.save(out / f"{name}_probabilities.npy", pred.probabilities.astype(np.float16))
    return out / f"{name}.png"


def run_prediction(model, artifact: ModelArtifact, images: Sequence[Path], out: Path, cfg: PredictConfig,
                   progress: bool = False) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [p for d in images for p in list_images(d)]
    return [_predict_one(model, artifact, p, out, cfg) for p in paths]
