"""What a strategy scores, from one model: class probabilities through ``ml.predict`` (the preprocessing and
windows of evaluation), the probabilities of each flip for TTA disagreement, and an embedding (the last
encoder stage of a segmentation-models-pytorch model, global-average-pooled, averaged over the windows)
captured during the same prediction pass."""
from __future__ import annotations

from contextlib import contextmanager, nullcontext
from dataclasses import replace
from typing import Iterator, Sequence

import numpy as np
import torch
from rich.progress import track

from ml.data import Sample
from ml.evaluate import fitting_config
from ml.io import ImageSource
from ml.predict import FLIPS, PredictConfig, predict_image
from ml.preprocess import PreprocessState
from ml.sampling import Candidate, Strategy, summarize


class Flipped(torch.nn.Module):
    """One TTA member as a model: the input flipped, the output flipped back."""

    def __init__(self, model: torch.nn.Module, dims: tuple[int, ...]):
        super().__init__()
        self.model, self.dims = model, dims
        self.segmentation_head = getattr(model, "segmentation_head", None)  # lets predict read the class count

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.flip(self.dims)).flip(self.dims)


@contextmanager
def pooled_encoder(model: torch.nn.Module, sink: list[torch.Tensor]) -> Iterator[None]:
    """While active, each forward pass appends the pooled last encoder stage (B, D) to sink."""
    encoder = getattr(model, "encoder", None)
    if encoder is None:
        raise ValueError(f"{type(model).__name__} has no .encoder: embeddings need a segmentation-models-pytorch model")
    handle = encoder.register_forward_hook(lambda m, i, out: sink.append(out[-1].float().mean((2, 3)).cpu()))
    try:
        yield
    finally:
        handle.remove()


def candidate(model: torch.nn.Module, image: np.ndarray | ImageSource, state: PreprocessState, image_id: str,
              cfg: PredictConfig = PredictConfig(), tta: bool = False, embed: bool = False) -> Candidate:
    """Predict one image: probabilities, and with tta the four flip members, with embed the embedding."""
    window = replace(fitting_config(state.model_shape, cfg), probabilities=True, uncertainty=False, tta=False)
    pooled: list[torch.Tensor] = []
    with pooled_encoder(model, pooled) if embed else nullcontext():
        probs = predict_image(model, image, window, state=state).probabilities
    flipped = (predict_image(Flipped(model, d), image, window, state=state).probabilities for d in FLIPS)
    members = (probs, *flipped) if tta else ()
    embedding = torch.cat(pooled).mean(0).numpy() if embed else None
    return Candidate(image_id, probs, members, embedding)


def candidates(model: torch.nn.Module, samples: Sequence[Sample], strategies: Sequence[Strategy],
               cfg: PredictConfig = PredictConfig(), progress: bool = False) -> list[Candidate]:
    """One summarized candidate per sample (scores for the strategies and the embedding, no maps kept);
    no prediction at all when the strategies need none (random)."""
    needs = {n for s in strategies for n in s.needs}
    if not needs:
        return [summarize(Candidate(s.id), strategies) for s in samples]
    return [summarize(candidate(model, s.image, s.state, s.id, cfg, "tta" in needs, "embedding" in needs), strategies)
            for s in track(samples, description="scoring images", disable=not progress)]
