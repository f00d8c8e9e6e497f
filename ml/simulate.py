"""Replay labeling campaigns on a dataset with ground truth, to compare sampling strategies.

Every strategy starts from the same seeded ``initial`` images (round 0 is trained once and shared), then each
round scores the unlabeled pool with the current model, adds ``batch`` images and trains again (warm-started
from the previous round), evaluating on a fixed test split (``ml.data.split_of``) that is never labeled.
A ``full`` reference trains on every pool image with a whole campaign's epochs and time, so the report can
say how many labeled images each strategy needs to reach a fraction of the full-data IoU. With no strategies the
run is the reference alone, so that it can train in a process of its own beside the campaigns (whose CSVs then
concatenate). simulate.csv is rewritten after every round: a run stopped part way keeps the rounds it finished.
"""
from __future__ import annotations

import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch

from foundation.schema import LabelSchema
from ml.checkpoint import load_model
from ml.data import Sample, split_samples
from ml.evaluate import evaluate
from ml.report import write_rows
from ml.sampling import STRATEGIES, Strategy, get_strategy
from ml.sampling.features import candidates
from ml.simulate_report import FULL, images_to_reach, plot_campaigns
from ml.train import SCORE, TrainConfig, resolve_device, train

__all__ = ["FULL", "SimulateConfig", "SimulationResult", "images_to_reach", "simulate"]


@dataclass(frozen=True)
class SimulateConfig:
    strategies: tuple[str, ...] = ("random", "entropy")  # () with full: the reference alone
    initial: int = 8  # labeled images before the first selection, the same seeded choice for every strategy
    batch: int = 8  # images labeled per round
    rounds: int = 4  # selection rounds after round 0
    seed: int = 0
    test_fraction: float = 0.2  # held out by split_of(id): never labeled
    full: bool = True  # also train on every pool image: the reference for images_to_reach
    warm_start: bool = True  # each round starts from the previous round's model
    keep_models: bool = False  # keep each round's model.pt in out/models/ (else deleted after the round)
    train: TrainConfig = field(default_factory=TrainConfig)  # one round's training (epochs, max_minutes)

    def __post_init__(self) -> None:
        unknown = [s for s in self.strategies if s not in STRATEGIES]
        if unknown or not (self.strategies or self.full):
            raise ValueError(f"unknown sampling strategies {unknown} (none is allowed only with the full reference); "
                             f"choose from: {', '.join(STRATEGIES)}")
        if min(self.initial, self.batch) < 1 or self.rounds < 0 or not 0 < self.test_fraction < 1:
            raise ValueError(f"need initial >= 1, batch >= 1, rounds >= 0 and 0 < test_fraction < 1, got {self}")


@dataclass
class SimulationResult:
    rows: list[dict]  # strategy, round, n_labeled, iou, mean_iou, seconds
    selected: dict[str, list[list[str]]]  # per strategy, the ids labeled in each round (round 0: initial)
    test_ids: list[str]
    csv: Path
    plot: Path


@dataclass
class _Run:
    cfg: SimulateConfig
    schema: LabelSchema
    pool: dict[str, Sample]
    test: list[Sample]
    out: Path
    log: Callable[[str], None]
    rows: list[dict] = field(default_factory=list)  # every finished round so far, in simulate.csv

    def record(self, row: dict) -> None:
        self.rows.append(row)
        self.out.mkdir(parents=True, exist_ok=True)
        write_rows(self.out / "simulate.csv", self.rows)


@dataclass
class _Round:
    ids: list[str]
    model: torch.nn.Module
    row: dict


def initial_ids(pool_ids: Sequence[str], n: int, seed: int) -> list[str]:
    ids = sorted(pool_ids)
    return sorted(ids[i] for i in np.random.default_rng([seed, 0]).choice(len(ids), n, replace=False))


def _round_config(cfg: SimulateConfig, samples: Sequence[Sample], schema: LabelSchema, progress: bool) -> TrainConfig:
    t = cfg.train
    device = resolve_device(t.device)
    model = replace(t.model, in_channels=samples[0].image.shape[0], classes=schema.num_outputs)
    return replace(t, model=model, device=device, predict=replace(t.predict, device=device), progress=progress)


@contextmanager
def _round_folder(run: _Run, name: str) -> Iterator[Path]:
    """models/NAME kept with keep_models, else a temporary folder in out removed after the round."""
    if run.cfg.keep_models:
        yield run.out / "models" / name
        return
    run.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".round-", dir=run.out) as folder:
        yield Path(folder)


def _train_round(run: _Run, ids: list[str], init: dict | None, name: str) -> torch.nn.Module:
    """Train on the labeled ids; returns the trained model."""
    tcfg = run.cfg.train
    with _round_folder(run, name) as folder:
        result = train(tcfg, run.schema, [run.pool[i] for i in ids], [], folder, resume=False, init_weights=init)
        (folder / "last.pt").unlink(missing_ok=True)
        model, _ = load_model(result.model_path, tcfg.device)
    return model


def _row(run: _Run, strategy: str, r: int, n: int, model: torch.nn.Module, t0: float) -> dict:
    metrics = evaluate(model, run.test, run.schema, run.cfg.train.predict, progress=run.cfg.train.progress).metrics
    row = {"strategy": strategy, "round": r, "n_labeled": n, "iou": metrics[SCORE],
           "mean_iou": metrics["mean_iou"], "seconds": time.perf_counter() - t0}
    run.log(f"{strategy} round {r}/{run.cfg.rounds}: {n} labeled, test IoU {row['iou']:.4f} ({row['seconds']:.0f}s)")
    return row


def _train_and_evaluate(run: _Run, strategy: str, r: int, ids: list[str], init: dict | None,
                        t0: float | None = None) -> _Round:
    """Train on ids and evaluate on the test split; the row's seconds count from t0 (default: now)."""
    t0 = time.perf_counter() if t0 is None else t0
    model = _train_round(run, ids, init, f"{strategy}_round{r}")
    return _Round(list(ids), model, _row(run, strategy, r, len(ids), model, t0))


def _pick(run: _Run, strategy: Strategy, state: _Round, r: int) -> list[str]:
    """The next batch: the strategy scores the unlabeled pool with the current model."""
    labeled = set(state.ids)
    unlabeled = [s for i, s in sorted(run.pool.items()) if i not in labeled]
    cands = candidates(state.model, unlabeled, [strategy], run.cfg.train.predict, run.cfg.train.progress)
    known = [run.pool[i] for i in state.ids] if "embedding" in strategy.needs else []
    known_cands = candidates(state.model, known, [strategy], run.cfg.train.predict)
    rng = np.random.default_rng([run.cfg.seed, r])
    return strategy.select(cands, run.cfg.batch, rng, known_cands)


def _campaign(run: _Run, name: str, start: _Round) -> list[list[str]]:
    """One strategy's rounds after the shared round 0; returns the ids labeled in each round."""
    strategy, state = get_strategy(name, run.cfg.seed), start
    run.record({**start.row, "strategy": name})
    picked = [list(start.ids)]
    for r in range(1, run.cfg.rounds + 1):
        t0 = time.perf_counter()
        batch = _pick(run, strategy, state, r)
        init = state.model.state_dict() if run.cfg.warm_start else None
        state = _train_and_evaluate(run, name, r, state.ids + batch, init, t0)
        run.record(state.row)
        picked.append(batch)
    return picked


def _full_reference(run: _Run) -> None:
    """Every pool image, trained as long as a whole campaign: rounds + 1 times the epochs, cosine cycle and
    minutes of a round."""
    t, n = run.cfg.train, run.cfg.rounds + 1
    minutes = t.max_minutes * n if t.max_minutes is not None else None
    longer = replace(t, epochs=t.epochs * n, restart_epochs=t.restart_epochs * n, max_minutes=minutes)
    full_run = replace(run, cfg=replace(run.cfg, train=longer))
    run.record(_train_and_evaluate(full_run, FULL, 0, sorted(run.pool), None).row)


def _check_sizes(cfg: SimulateConfig, pool: list[Sample], test: list[Sample]) -> None:
    need = cfg.initial + cfg.batch * cfg.rounds if cfg.strategies else 1
    if need > len(pool) or not test:
        raise ValueError(f"{len(pool)} pool and {len(test)} test images: need at least {need} pool images "
                         f"(initial + batch x rounds) and one test image; lower them or add images")


def simulate(samples: Sequence[Sample], schema: LabelSchema, cfg: SimulateConfig, out: Path, progress: bool = False,
             log: Callable[[str], None] = lambda s: None) -> SimulationResult:
    """Run every strategy's campaign and the full reference; write simulate.csv, selected.csv and
    learning_curve.png to out."""
    pool, test = split_samples(samples, cfg.test_fraction)  # test: the "val" side of split_of
    _check_sizes(cfg, pool, test)
    cfg = replace(cfg, train=_round_config(cfg, samples, schema, progress))
    run = _Run(cfg, schema, {s.id: s for s in pool}, test, Path(out), log)
    names = ", ".join(cfg.strategies) or "none, the reference alone"
    log(f"{len(pool)} pool and {len(test)} test images; strategies: {names}")
    selected = {}
    if cfg.strategies:
        start = _train_and_evaluate(run, "initial", 0, initial_ids(list(run.pool), cfg.initial, cfg.seed), None)
        for name in cfg.strategies:
            selected[name] = _campaign(run, name, start)
    if cfg.full:
        _full_reference(run)
    return _write(run, selected)


def _write(run: _Run, selected: dict[str, list[list[str]]]) -> SimulationResult:
    rows, csv = run.rows, run.out / "simulate.csv"  # written after every round (_Run.record)
    write_rows(run.out / "selected.csv", [{"strategy": s, "round": r, "image_id": i}
                                          for s, batches in selected.items() for r, b in enumerate(batches) for i in b])
    plot = plot_campaigns(run.out / "learning_curve.png", rows)
    return SimulationResult(rows, selected, sorted(s.id for s in run.test), csv, plot)
