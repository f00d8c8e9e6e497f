"""`grainloop train | predict | evaluate | synth`: folders in, files out, no service needed."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from grainloop.options import Opt, load_schema, parse_floats, parse_ints

console = Console(stderr=True)
app = typer.Typer(no_args_is_help=True)

Images = Annotated[list[Path], typer.Option("--images", help="image folder; repeat for channels of the same field")]
Masks = Annotated[Path, typer.Option(help="folder of masks with the images' file names")]
OptImages = Annotated[Optional[list[Path]], typer.Option("--images", help="image folder; repeat for channels of the same field")]
OptMasks = Annotated[Optional[Path], typer.Option(help="folder of masks with the images' file names")]
Dataset = Annotated[Optional[Path], typer.Option(help="a dataset version folder (data/): its manifest's frozen splits "
                                                      "replace --images/--masks")]
MaskKind = Annotated[str, typer.Option(help="'class' maps or 'instance' maps (grain k > 0)")]
SchemaOpt = Annotated[Optional[Path], typer.Option("--schema", help="label schema YAML (default: grain/background)")]
TrainSchema = Annotated[Optional[Path], typer.Option("--schema", help="label schema YAML (default: grain/background, "
                                                                     "with a grain boundary class for instance maps)")]


def _spec(images, masks, dataset, mask_kind, schema, splits=None, **kw):
    from dataset.spec import dataset_spec
    from ml import runs

    if dataset:
        return dataset_spec(dataset, schema, splits, **kw)
    if not images or not masks:
        raise typer.BadParameter("give --dataset, or both --images and --masks")
    return runs.TrainSpec(images, masks, mask_kind, load_schema(schema, mask_kind), **kw)


@app.command()
def train(
    out: Annotated[Path, typer.Option(help="run folder (checkpoints, plots, metrics)")],
    images: OptImages = None, masks: OptMasks = None, dataset: Dataset = None,
    splits: Annotated[Optional[Path], typer.Option(help="splits.json of `grainloop dataset prepare`")] = None,
    mask_kind: MaskKind = "class", schema: TrainSchema = None,
    params: Annotated[Optional[Path], typer.Option(help="a params.yaml whose 'train' section is a TrainConfig")] = None,
    arch: Opt[str] = None, encoder: Opt[str] = None,
    decoder_channels: Annotated[Optional[str], typer.Option(help="e.g. 128,64,32,16,8")] = None,
    encoder_weights: Annotated[Optional[str], typer.Option(help="e.g. imagenet (needs the hub or its cache)")] = None,
    epochs: Opt[int] = None, minutes: Annotated[Optional[float], typer.Option(help="time budget")] = None,
    patch: Opt[int] = None, patches_per_epoch: Opt[int] = None, batch_size: Opt[int] = None, lr: Opt[float] = None,
    warm_lr: Annotated[Optional[float], typer.Option(help="lr with --warm-start (default: --lr)")] = None,
    restart_epochs: Annotated[Optional[int], typer.Option(help="epochs of the first cosine cycle")] = None,
    loss: Opt[str] = None, class_weights: Annotated[Optional[str], typer.Option(help="e.g. 1,2")] = None,
    downsample: Annotated[Optional[int], typer.Option(help="model pixels = means of k x k image pixels")] = None,
    balanced: Opt[bool] = None, augment: Opt[bool] = None, val_fraction: float = 0.2, patience: Opt[int] = None,
    seed: Opt[int] = None, threads: Opt[int] = None, device: Opt[str] = None,
    precision: Annotated[Optional[str], typer.Option(help="auto (bf16 where the CPU or GPU computes it natively, "
                                                          "else fp32), fp32 or bf16")] = None,
    workers: Annotated[Optional[int], typer.Option(help="processes making the training patches (a GPU outpaces "
                                                        "one core; 0: the training process)")] = None,
    resume: bool = True,
    warm_start: Annotated[Optional[Path], typer.Option(help="a model.pt to start from")] = None,
    unlabeled: Annotated[Optional[list[Path]], typer.Option(help="folder of unlabeled images for --semi (repeat "
                                                                  "for channels)")] = None,
    semi: Annotated[Optional[str], typer.Option(help="none, mean_teacher (also learn the teacher's confident "
                                                     "pseudo-labels on --unlabeled images) or self_training (train "
                                                     "on the labels, then again on them and that model's confident "
                                                     "maps of --unlabeled) or pretrain (first learn to fill in hidden "
                                                     "blocks of every image, labelled and --unlabeled)")] = None,
    semi_weight: Opt[float] = None, semi_threshold: Opt[float] = None,
    semi_cutmix: Annotated[Optional[bool], typer.Option(help="--semi mean_teacher: paste a box of another unlabeled "
                                                             "patch and its pseudo-label into the student's view")
                           ] = None,
    pretrain_steps: Annotated[Optional[int], typer.Option(help="--semi pretrain's steps before training")] = None,
    trainer: Annotated[Optional[str], typer.Option(help="supervised, or gan: a PatchGAN discriminator on (image, "
                                                        "class probabilities) adds an adversarial loss "
                                                        "(pix2pix)")] = None,
    gan_weight: Annotated[Optional[float], typer.Option(help="the adversarial loss's weight (--trainer gan)")] = None,
) -> None:
    """Train a segmentation model on folders of images and masks; resumes an interrupted run in OUT.

    Settings: TrainConfig's defaults (ml/train.py), then --params' 'train' section, then the options given here."""
    from ml import runs
    from ml.train_options import DEFAULTS, load_params, with_options

    spec = _spec(images, masks, dataset, mask_kind, schema, splits, val_fraction=val_fraction, warm_start=warm_start,
                 resume=resume, unlabeled=tuple(unlabeled or ()))
    base = load_params(params) if params else DEFAULTS
    try:
        cfg = with_options(base, arch=arch, encoder=encoder, decoder_channels=parse_ints(decoder_channels),
                           encoder_weights=encoder_weights, epochs=epochs, minutes=minutes, patch=patch,
                           patches_per_epoch=patches_per_epoch, batch_size=batch_size, lr=lr, warm_lr=warm_lr,
                           restart_epochs=restart_epochs, loss=loss, class_weights=parse_floats(class_weights),
                           downsample=downsample, balanced=balanced, augment=augment, patience=patience, seed=seed,
                           threads=threads, device=device, precision=precision, workers=workers, semi=semi,
                           semi_weight=semi_weight, semi_threshold=semi_threshold, semi_cutmix=semi_cutmix,
                           pretrain_steps=pretrain_steps,
                           trainer=trainer, gan_weight=gan_weight)
    except ValueError as exc:  # a setting out of its range or choices: the message says which
        raise typer.BadParameter(str(exc)) from exc
    if cfg.semi.enabled and not unlabeled:
        raise typer.BadParameter(f"--semi {cfg.semi.method} needs --unlabeled")
    result = runs.run_training(spec, cfg, out, progress=True, log=console.print)
    console.print(f"[bold]best {runs.SCORE} {result.state.best_score:.4f}[/] at epoch {result.state.best_epoch} "
                  f"({result.stopped}); model: {result.model_path}")


@app.command()
def evaluate(
    model: Annotated[Path, typer.Option(help="model.pt")],
    out: Annotated[Path, typer.Option(help="folder for metrics.json, per_image.csv, confusion_matrix.png, overlays/")],
    images: OptImages = None, masks: OptMasks = None, dataset: Dataset = None,
    split: Annotated[str, typer.Option(help="with --dataset: the frozen split to evaluate")] = "test",
    mask_kind: MaskKind = "class", overlays: int = 8, tile: int = 512, overlap: int = 128,
) -> None:
    """Evaluate a model on images with masks (or a dataset version's split): metrics, rows, plots, overlays."""
    from ml import runs
    from ml.checkpoint import load_model
    from ml.predict import PredictConfig

    net, artifact = load_model(model)
    spec = _spec(images, masks, dataset, mask_kind, None)
    metrics = runs.run_evaluation(net, artifact, spec, out, PredictConfig(tile=tile, overlap=overlap), overlays, split)
    console.print_json(json.dumps({k: v for k, v in metrics.items() if not k.startswith("boundary_f1/")}, default=str))


@app.command()
def predict(
    model: Annotated[Path, typer.Option(help="model.pt")], images: Images,
    out: Annotated[Path, typer.Option(help="output folder")],
    tile: int = 512, overlap: int = 128, window: str = "hann", batch_size: int = 4, tta: bool = False,
    probabilities: bool = False, uncertainty: bool = False,
    engine: Annotated[str, typer.Option(help="auto (the fastest this CPU offers), torch, onnxruntime or "
                                             "openvino")] = "auto",
    precision: Annotated[str, typer.Option(help="auto (int8 where the CPU has int8 dot products and the class "
                                                "maps stay within 0.5% of fp32's, else bf16 where native, else "
                                                "fp32), fp32, bf16 or int8 (static quantisation calibrated on the "
                                                "first images)")] = "auto",
) -> None:
    """Predict class maps (PNG, or tiled TIFF for huge TIFFs), overlays and optional uncertainty maps."""
    from ml import runs
    from ml.checkpoint import load_model
    from ml.engine import EngineConfig, accelerate, choose
    from ml.engine_export import calibration_windows
    from ml.io import list_images
    from ml.predict import PredictConfig

    try:
        engine_cfg = EngineConfig(engine=engine, precision=precision)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    net, artifact = load_model(model)
    cfg = PredictConfig(tile=tile, overlap=overlap, window=window, batch_size=batch_size, tta=tta,
                        probabilities=probabilities, uncertainty=uncertainty)
    calibration = calibration_windows([p for d in images for p in list_images(d)], artifact.preprocess, cfg) \
        if choose(engine_cfg, int8=True)[1] == "int8" else None  # read the images only where int8 may run
    net = accelerate(net, model, engine_cfg, calibration)
    note = f" ({net.note})" if getattr(net, "note", "") else ""
    console.print(f"inference engine: {getattr(net, 'engine', 'torch')} {getattr(net, 'precision', 'fp32')}{note}")
    written = runs.run_prediction(net, artifact, images, out, cfg, progress=True)
    console.print(f"wrote predictions for {len(written)} image(s) to {out}")


@app.command()
def synth(
    out: Annotated[Path, typer.Argument(help="folder for images/, masks/, instances/, manifest.json")],
    n: int = 24, size: int = 256, seed: int = 0, classes: int = 1, banner: bool = True, bit_depth: int = 8,
    mode: Annotated[str, typer.Option(help="grains, or phases: 4 rock phases (schemas/phases.yaml) with "
                                           "overlapping grey levels and mineral textures")] = "grains",
) -> None:
    """Write a seeded synthetic SEM grain dataset with exact class and instance masks."""
    from ml.config import to_dict
    from ml.synthetic import SyntheticConfig, write_dataset
    from ml.synthetic_phases import PhasesConfig, check_mode, write_phases_dataset

    try:
        check_mode(mode)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if mode == "phases":
        paths = write_phases_dataset(out, n, PhasesConfig(size=size), seed)
        console.print(f"wrote {len(paths)} synthetic phase images to {out} (masks: schemas/phases.yaml's values)")
        return
    cfg = SyntheticConfig(height=size, width=size, n_classes=classes, banner=banner, bit_depth=bit_depth)
    paths = write_dataset(out, n, cfg, seed)
    console.print(f"wrote {len(paths)} synthetic images to {out} ({json.dumps(to_dict(replace(cfg)))})")
