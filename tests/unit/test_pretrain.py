"""Self-supervised pretraining on the project's own images (issue 14, item 4): masked blocks filled in, the weights
handed to training without the head, deterministic for a seed, and a killed run goes on from its checkpoint."""
from __future__ import annotations

import shutil
from dataclasses import replace

import pytest
import torch

from foundation.schema import binary_schema
from ml import pretrain as pretrain_module
from ml.data import find_samples, load_samples
from ml.models import build_model, warm_start
from ml.pretrain import HEAD, PretrainConfig, filling_loss, hide_blocks, pretrain
from ml.train_options import train_config

TINY = dict(decoder_channels=(32, 16, 16, 8, 8), patch=64, patches_per_epoch=16, batch_size=4, threads=2)


def _images(dataset):
    return load_samples(find_samples([dataset / "images"]), binary_schema())


def test_hidden_blocks_are_whole_blocks_at_the_ratio_and_only_they_count():
    x = torch.ones(4, 2, 64, 64)
    cfg = PretrainConfig(steps=1, mask_ratio=0.5, block=16)
    corrupted, hidden = hide_blocks(x, cfg, torch.Generator().manual_seed(0))
    assert hidden.shape == (4, 1, 64, 64) and torch.equal(corrupted, x * (1 - hidden))
    blocks = hidden[:, :, ::16, ::16]
    assert torch.equal(hidden, blocks.repeat_interleave(16, 2).repeat_interleave(16, 3))  # whole blocks
    assert 0.25 < hidden.mean().item() < 0.75
    pred = x.clone()
    pred[hidden.expand_as(x) == 0] = 5.0  # wrong only where nothing was hidden: no loss
    assert filling_loss(pred, x, hidden).item() == 0.0
    assert filling_loss(torch.zeros_like(x), x, hidden).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="out of range"):
        PretrainConfig(steps=1, mask_ratio=1.0)


def test_pretraining_is_deterministic_and_gives_training_all_but_the_head(synthetic_dataset, tmp_path):
    cfg = train_config(**TINY)
    images = _images(synthetic_dataset)
    pcfg = PretrainConfig(steps=6, block=8)
    a, b = (pretrain(cfg, pcfg, images, tmp_path / name) for name in ("a", "b"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not any(k.startswith(HEAD) for k in a)
    torch.manual_seed(0)
    fresh = build_model(replace(cfg.model, in_channels=images[0].image.shape[0]))
    loaded = warm_start(fresh, a)
    assert loaded["skipped"] and all(k.startswith(HEAD) for k in loaded["skipped"])
    again = pretrain(cfg, pcfg, images, tmp_path / "a")  # finished: read back, not redone
    assert all(torch.equal(a[k], again[k]) for k in a)


def test_a_killed_pretraining_goes_on_from_its_checkpoint(synthetic_dataset, tmp_path, monkeypatch):
    cfg, images, pcfg = train_config(**TINY), _images(synthetic_dataset), PretrainConfig(steps=6, block=8)
    monkeypatch.setattr(pretrain_module, "CHECKPOINT_STEPS", 3)
    real_save = pretrain_module._save

    def keep_step_3(path, model, opt, sched, c, step):
        real_save(path, model, opt, sched, c, step)
        if step == 3:
            shutil.copy(path, tmp_path / "step3.pt")

    monkeypatch.setattr(pretrain_module, "_save", keep_step_3)
    whole = pretrain(cfg, pcfg, images, tmp_path / "whole")
    (tmp_path / "parts").mkdir()
    shutil.copy(tmp_path / "step3.pt", tmp_path / "parts" / pretrain_module.FILE)  # as a kill after step 3 leaves it
    parts = pretrain(cfg, pcfg, images, tmp_path / "parts")
    assert all(torch.allclose(whole[k].float(), parts[k].float(), atol=1e-6) for k in whole)
