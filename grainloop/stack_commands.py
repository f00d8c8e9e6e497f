"""`grainloop stack synth | prepare | predict`: serial-section stacks, one per detector, with 2.5D context.

``prepare`` turns stacks into an ordinary dataset (one folder per input channel: every detector's slice k, k-1,
k+1), so `grainloop train`, `predict`, `evaluate` and `init` work on them unchanged; ``predict`` writes the class
maps of every slice of whole stacks as one multi-page TIFF.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

console = Console(stderr=True)
app = typer.Typer(no_args_is_help=True, help="Serial-section stacks (FIB-SEM): 2.5D datasets and whole-stack "
                                             "prediction.")
Detectors = Annotated[list[Path], typer.Option("--detector", help="one detector's stack: a multi-page TIFF or a "
                                                                   "folder of slices; repeat for more detectors")]


@app.command()
def synth(
    out: Annotated[Path, typer.Argument(help="folder for <detector>.tif stacks, labels.tif and stack.json")],
    slices: int = 24, size: int = 192, seed: int = 0,
) -> None:
    """Write a seeded synthetic two-detector PFIB-SEM stack (cement-like phases, curtaining, charging, noise)."""
    from ml.synthetic_stack import StackConfig, generate_stack, write_stack

    paths = write_stack(out, generate_stack(StackConfig(slices=slices, height=size, width=size), seed))
    console.print(json.dumps({k: str(v) for k, v in paths.items()}))


@app.command()
def prepare(
    detector: Detectors,
    out: Annotated[Path, typer.Option(help="dataset folder: one subfolder per input channel (+ masks/)")],
    slices: Annotated[int, typer.Option(help="context depth: 1, 3 (k-1, k, k+1), 5, ...")] = 3,
    labels: Annotated[Optional[Path], typer.Option(help="a label stack (class maps), for training")] = None,
    only: Annotated[Optional[str], typer.Option(help="slices to write, e.g. 0,12,23 or 4-8 (default all)")] = None,
) -> None:
    """Write a stack's slices as a 2.5D dataset; prints the `grainloop train` options that use it."""
    from foundation.slicestack import read_stack
    from ml.stack_prepare import parse_slices, prepare_stack

    try:
        pick = parse_slices(only, read_stack(detector[0]).shape[0])
        done = prepare_stack(detector, out, slices, labels, pick)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    console.print(f"wrote {len(done.slice_ids)} slice(s) x {len(done.channels)} channel(s) to {out}")
    typer.echo(" ".join(["grainloop", "train", *done.train_args()]))


@app.command()
def predict(
    model: Annotated[Path, typer.Option(help="model.pt trained on a prepared stack (same detectors, same order)")],
    detector: Detectors,
    out: Annotated[Path, typer.Option(help="multi-page TIFF of class maps, one page a slice")],
    tile: int = 512, overlap: int = 128, batch_size: int = 4,
) -> None:
    """Predict every slice of whole stacks (tiled); the model's channels say how many neighbours it sees."""
    import tifffile

    from foundation.slicestack import read_stacks
    from ml.checkpoint import load_model
    from ml.predict import PredictConfig
    from ml.stack_prepare import predict_stack

    net, artifact = load_model(model)
    try:
        labels = predict_stack(net, artifact, read_stacks(detector), PredictConfig(tile=tile, overlap=overlap,
                                                                                   batch_size=batch_size), True)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(out, labels, photometric="minisblack", compression="zlib")
    console.print(f"wrote {labels.shape[0]} slice class maps to {out}")
