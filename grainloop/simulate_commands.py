"""`grainloop simulate`: replay labeling campaigns on a dataset with ground truth to compare sampling strategies."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from grainloop.ml_commands import Images, Masks, MaskKind, SchemaOpt
from grainloop.options import Opt, load_schema, parse_floats, parse_ints

console = Console(stderr=True)
app = typer.Typer(no_args_is_help=True)

# The names of ml.sampling.STRATEGIES, in its order, for the help text: importing ml.sampling here would load
# scipy and scikit-image each time the CLI starts. tests/unit/test_cli.py checks that the two lists agree.
STRATEGY_NAMES = ("random", "entropy", "margin", "tta", "boundary", "kcenter", "typiclust")

Strategies = Annotated[list[str], typer.Option("--strategy", help=f"repeat; one of: {', '.join(STRATEGY_NAMES)}")]
Device = Annotated[str, typer.Option(envvar="GRAINLOOP_DEVICE", help="cpu, cuda, cuda:1 or auto")]


def _report(rows: list[dict], fraction: float) -> None:
    from ml.simulate import images_to_reach

    console.print(f"[bold]labeled images to reach {fraction:.0%} of the full-data IoU[/]")
    for strategy, n in images_to_reach(rows, fraction).items():
        console.print(f"  {strategy}: {'not reached' if n is None else n}")


@app.command()
def simulate(
    images: Images, masks: Masks, out: Annotated[Path, typer.Option(help="folder for simulate.csv, plots")],
    strategy: Strategies = ["random", "entropy"], mask_kind: MaskKind = "class", schema: SchemaOpt = None,
    initial: Annotated[int, typer.Option(help="labeled images before round 1 (same for every strategy)")] = 8,
    batch: Annotated[int, typer.Option(help="images labeled per round")] = 8,
    rounds: int = 4, seed: int = 0, test_fraction: float = 0.2,
    full: Annotated[bool, typer.Option(help="also train on every training image (the 100% reference)")] = True,
    full_only: Annotated[bool, typer.Option(help="only the reference, to train it in a process of its own beside "
                                                 "the campaigns (same options; their simulate.csv rows join)")] = False,
    warm_start: bool = True, keep_models: bool = False, reach: float = 0.95,
    arch: Opt[str] = None, encoder: Opt[str] = None,
    decoder_channels: Annotated[Optional[str], typer.Option(help="e.g. 128,64,32,16,8")] = None,
    encoder_weights: Opt[str] = None, epochs: Annotated[int, typer.Option(help="epochs per round")] = 10,
    minutes_per_round: Annotated[Optional[float], typer.Option(help="training time budget per round")] = None,
    patch: Opt[int] = None, patches_per_epoch: Opt[int] = None, batch_size: Opt[int] = None, lr: Opt[float] = None,
    warm_lr: Annotated[Optional[float], typer.Option(help="lr of a round that starts from the previous round's model, "
                                                          "as the loop's cycles do (default: --lr)")] = None,
    restart_epochs: Annotated[Optional[int], typer.Option(help="cosine cycle (default: --epochs, one a round)")] = None,
    loss: Opt[str] = None, class_weights: Opt[str] = None, downsample: Opt[int] = None, balanced: Opt[bool] = None,
    augment: Opt[bool] = None, patience: Opt[int] = None, threads: Opt[int] = None, device: Device = "cpu",
    workers: Annotated[Optional[int], typer.Option(help="processes making the patches (0: the training "
                                                        "process)")] = None,
) -> None:
    """Train, score the unlabeled pool, label a batch, repeat: one campaign per strategy, same seeds.
    Training options left out keep TrainConfig's defaults (ml/train.py)."""
    from ml.train_options import train_config
    from ml.data import find_samples, load_samples
    from ml.simulate import SimulateConfig, simulate as run_simulation

    tcfg = train_config(arch=arch, encoder=encoder, decoder_channels=parse_ints(decoder_channels),
                             encoder_weights=encoder_weights, epochs=epochs, minutes=minutes_per_round, patch=patch,
                             patches_per_epoch=patches_per_epoch, batch_size=batch_size, lr=lr,
                             warm_lr=warm_lr, restart_epochs=restart_epochs or epochs, loss=loss,
                             downsample=downsample, balanced=balanced, augment=augment, patience=patience, seed=seed,
                             threads=threads, class_weights=parse_floats(class_weights), workers=workers)
    try:
        cfg = SimulateConfig(strategies=() if full_only else tuple(strategy), initial=initial, batch=batch,
                             rounds=rounds, seed=seed, test_fraction=test_fraction, full=full, warm_start=warm_start,
                             keep_models=keep_models, train=replace(tcfg, device=device))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    label_schema = load_schema(schema)
    samples = load_samples(find_samples(images, masks), label_schema, tcfg.preprocess, mask_kind, progress=True)
    result = run_simulation(samples, label_schema, cfg, out, progress=True, log=console.print)
    console.print(f"wrote {result.csv} and {result.plot}")
    if full and not full_only:
        _report(result.rows, reach)
