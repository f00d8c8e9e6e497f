"""Predict source images and build each Label Studio task's prediction: the one code path of the batch
``preannotate`` and the ML backend (flows/backend_model.py).

A source image is predicted whole (its detector channels stacked) and its class map (and grains, for a model that
learned their boundaries) is cut to each of its tasks: one task per image, or one per tile of a large image. Task
data comes from the server and is untrusted: a source is predicted only when it names a file inside the imported
folder that has a file in every channel folder.
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Optional, Sequence

import numpy as np

from dataset.samples import channel_files
from flows.loop_config import LoopConfig
from foundation.paths import PathEscape, inside
from labeling.push import MaskPrediction, image_predictions
from ml.checkpoint import load_model
from ml.engine import EngineConfig, accelerate
from ml.decoding import decoding_config
from ml.instances import instances_from_probabilities
from ml.io import read_channels
from ml.predict import PredictConfig
from ml.preprocess import fit
from ml.sampling import get_strategy, rank, summarize
from ml.sampling.features import candidate
from ml.targets import class_map_from_prediction


class Predicted(NamedTuple):
    image_id: str
    labels: np.ndarray  # the class map pushed to Label Studio
    summary: object  # the candidate summary, with the strategy's score (ml.sampling)
    grains: Optional[np.ndarray] = None  # the model's instances, where its schema has a boundary class


def load_predictor(model_file: Path, engine: EngineConfig = EngineConfig()):
    """(model, artifact) of a grainloop checkpoint as both paths predict with it: the one place that decides how
    the model runs (batch pre-annotation per worker thread, the ML backend once per champion): by the fastest CPU
    engine ``engine`` chooses (ml.engine; strategies that hook into the network run it in torch)."""
    model, artifact = load_model(model_file)
    return accelerate(model, model_file, engine), artifact


def predict_sources(model, artifact, paths: Sequence[Path | Sequence[Path]], ids: Sequence[str],
                    strategy_name: str) -> list[Predicted]:
    """The class map, candidate summary (with the strategy's score) and, for a model that learned the grains'
    boundaries, its grains of each image (a path, or its channels' paths): touching grains then reach the
    annotators as separate regions. The model is used by one caller at a time (strategies hook into it)."""
    strategy = get_strategy(strategy_name)
    out = []
    for path, image_id in zip(paths, ids):
        image = read_channels([path] if isinstance(path, (str, Path)) else list(path))
        c = candidate(model, image, fit(image, artifact.preprocess), image_id, PredictConfig(),
                      tta="tta" in strategy.needs, embed="embedding" in strategy.needs)
        labels = class_map_from_prediction(np.argmax(c.probs, axis=0).astype(np.uint8), artifact.schema)
        grains = instances_from_probabilities(c.probs, artifact.schema, decoding_config(artifact.decoding)).labels \
            if artifact.schema.boundary else None
        out.append(Predicted(image_id, labels, summarize(c, [strategy]), grains))
    return out


def task_items(groups: dict[str, list[dict]], results: Sequence[Predicted],
               strategy_name: str) -> tuple[list[MaskPrediction], list[tuple[str, float]]]:
    """Each task's mask (its tile's crop of its source's prediction) with the source's active-learning score,
    and the ranking of the sources (highest score first)."""
    ranking = rank(strategy_name, [r.summary for r in results])
    scores = dict(ranking)
    items = [p for r in results for p in image_predictions(groups[r.image_id], r.labels, scores[r.image_id],
                                                           r.grains)]
    return items, ranking


def inputs(cfg: LoopConfig, source: str) -> tuple[Path, ...]:
    """The image and its further detector channels (the loop's channel folders)."""
    image = cfg.labeling.images / source
    return (image, *(channel_files(image, cfg.labeling.images, cfg.labeling.channels) or ()))


def with_channels(cfg: LoopConfig, groups: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """The groups whose image has a file in every channel folder (the others cannot be predicted)."""
    lab = cfg.labeling
    return {s: ts for s, ts in groups.items() if channel_files(lab.images / s, lab.images, lab.channels) is not None}


def inside_images(images: Path, groups: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """The task groups whose ``source`` (server data, untrusted) names a file inside the imported folder."""
    kept = {}
    for source, tasks in groups.items():
        try:
            inside(images, source)
        except PathEscape:
            continue  # the pull quarantines such a task; it gets no prediction either
        kept[source] = tasks
    return kept


def predictable(cfg: LoopConfig, groups: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """The task groups whose source passes the path checks (inside the imported folder, every channel there)."""
    return with_channels(cfg, inside_images(cfg.labeling.images, groups))
