"""Semi-supervised training (ml/semi.py, ml/self_training.py): pseudo-labels, the teacher, determinism for a seed,
resume, the CLI."""
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from foundation.schema import binary_schema
from ml.data import find_samples, load_samples
from ml.patches import PatchConfig
from ml.augment import AugmentConfig
from ml.synthetic import SyntheticConfig, write_dataset
from ml.predict import PredictConfig, predict_image
from ml.self_training import self_train
from ml.semi import MeanTeacher, SemiConfig, UnlabeledPatches, balanced, pseudo_label_loss, pseudo_labelled
from ml.targets import IGNORE_INDEX
from ml.train import train
from ml.train_options import train_config

TINY = dict(decoder_channels=(32, 16, 16, 8, 8), patch=64, patches_per_epoch=16, batch_size=4, threads=2)
SEMI = dict(semi="mean_teacher", semi_threshold=0.5)
ROOT = Path(__file__).resolve().parents[2]


def _split(dataset, labelled: int = 4):
    samples = load_samples(find_samples([dataset / "images"], dataset / "masks"), binary_schema())
    unlabeled = load_samples(find_samples([dataset / "images"]), binary_schema())[labelled:]
    assert all(s.target is None for s in unlabeled)
    return samples[:labelled], unlabeled


def test_the_pseudo_label_loss_counts_only_confident_pixels():
    teacher = torch.zeros(1, 2, 2, 2)
    teacher[0, 1, 0, 0] = 10.0  # confident grain at one pixel; the others are 50/50
    student = torch.zeros(1, 2, 2, 2, requires_grad=True)
    loss = pseudo_label_loss(student, teacher, threshold=0.9)
    assert loss.item() == pytest.approx(np.log(2) / 4)  # one pixel of four, CE of a uniform prediction
    assert pseudo_label_loss(student, teacher, threshold=1.0).item() == 0.0
    loss.backward()
    assert student.grad[0, :, 0, 1].abs().sum() == 0  # an unconfident pixel pulls nothing


def test_weight_ramps_after_the_start_epoch():
    cfg = SemiConfig(method="mean_teacher", weight=2.0, start_epoch=2, ramp_epochs=2)
    assert [cfg.weight_at(e) for e in range(1, 6)] == [0.0, 0.0, 1.0, 2.0, 2.0]
    with pytest.raises(ValueError, match="mean_teacher"):
        SemiConfig(method="fixmatch")


def test_unlabeled_patches_keep_geometry_and_repeat_per_epoch(synthetic_dataset):
    _, unlabeled = _split(synthetic_dataset)
    data = UnlabeledPatches(unlabeled, PatchConfig(size=48, per_epoch=6), AugmentConfig(), seed=3)
    data.set_epoch(2)
    first = [data[k] for k in range(len(data))]
    data.set_epoch(5)
    data.set_epoch(2)
    for k, (clean, strong) in enumerate(first):
        again = data[k]
        assert torch.equal(clean, again[0]) and torch.equal(strong, again[1])
        assert clean.shape == strong.shape == (1, 48, 48)
    # photometric only: the perturbed patch still correlates with its clean patch pixel by pixel
    corr = [np.corrcoef(c.ravel(), s.ravel())[0, 1] for c, s in first if c.std() > 0.01]
    assert corr and np.median(corr) > 0.5


def test_the_teacher_follows_the_model_by_its_ema(synthetic_dataset):
    _, unlabeled = _split(synthetic_dataset)
    model = torch.nn.Conv2d(1, 2, 1)
    torch.nn.init.zeros_(model.weight)
    teacher = MeanTeacher(SemiConfig(method="mean_teacher", ema=0.75), model, unlabeled, PatchConfig(size=32),
                          AugmentConfig(), 2, 0)
    torch.nn.init.ones_(model.weight)
    teacher.update(model)
    assert torch.allclose(teacher.teacher.weight, torch.full_like(model.weight, 0.25))
    assert not teacher.teacher.weight.requires_grad
    with pytest.raises(ValueError, match="unlabeled"):
        MeanTeacher(SemiConfig(method="mean_teacher"), model, [], PatchConfig(), AugmentConfig(), 2, 0)


@pytest.mark.slow
def test_semi_training_is_deterministic_for_a_seed_and_learns_from_the_pool(synthetic_dataset, tmp_path):
    labelled, unlabeled = _split(synthetic_dataset)
    cfg = train_config(epochs=3, restart_epochs=3, **TINY, **SEMI)
    cfg = replace(cfg, semi=replace(cfg.semi, start_epoch=1))
    runs = [train(cfg, binary_schema(), labelled, [], tmp_path / str(i), unlabeled=unlabeled) for i in range(2)]
    a, b = (torch.load(r.model_path.parent / "last.pt", weights_only=False) for r in runs)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert all(torch.equal(a["teacher"][k], b["teacher"][k]) for k in a["teacher"])
    plain = train(train_config(epochs=3, restart_epochs=3, **TINY), binary_schema(), labelled, [], tmp_path / "plain")
    c = torch.load(plain.model_path.parent / "last.pt", weights_only=False)
    assert c["teacher"] is None
    assert any(not torch.equal(a["model"][k], c["model"][k]) for k in a["model"])  # the pool changed the model


@pytest.mark.slow
def test_a_resumed_semi_run_replays_the_uninterrupted_one(synthetic_dataset, tmp_path):
    labelled, unlabeled = _split(synthetic_dataset)
    cfg = train_config(epochs=4, restart_epochs=4, patience=99, **TINY, **SEMI)
    whole = train(cfg, binary_schema(), labelled, [], tmp_path / "whole", unlabeled=unlabeled)
    train(train_config(epochs=3, restart_epochs=4, patience=99, **TINY, **SEMI), binary_schema(), labelled, [],
          tmp_path / "parts", unlabeled=unlabeled)
    parts = train(cfg, binary_schema(), labelled, [], tmp_path / "parts", unlabeled=unlabeled)
    a, b = (torch.load(r.model_path.parent / "last.pt", weights_only=False) for r in (whole, parts))
    assert [h["train_loss"] for h in a["state"]["history"]] == pytest.approx(
        [h["train_loss"] for h in b["state"]["history"]], rel=1e-6)
    assert all(torch.allclose(a["teacher"][k].float(), b["teacher"][k].float(), atol=1e-6) for k in a["teacher"])


def test_balanced_gives_the_labelled_images_about_half_the_pixels(synthetic_dataset):
    labelled, unlabeled = _split(synthetic_dataset, labelled=2)
    mixed = balanced(labelled, unlabeled)
    assert mixed[-len(unlabeled):] == unlabeled and mixed[:2] == labelled
    area = lambda xs: sum(s.image.size for s in xs)
    assert area(mixed[:-len(unlabeled)]) == pytest.approx(area(unlabeled), rel=0.25)
    assert balanced(unlabeled, labelled) == [*unlabeled, *labelled]  # never fewer than once


@pytest.fixture(scope="module")
def teacher(synthetic_dataset, tmp_path_factory):
    labelled, _ = _split(synthetic_dataset)
    return train(train_config(epochs=2, **TINY), binary_schema(), labelled, [], tmp_path_factory.mktemp("t")).model_path


def test_pseudo_labels_are_the_confident_classes_averaged_over_flips(synthetic_dataset, teacher):
    from ml.checkpoint import load_model

    _, unlabeled = _split(synthetic_dataset)
    model, _ = load_model(teacher)
    cfg = PredictConfig(tile=128, overlap=32)
    pseudo = pseudo_labelled(model, unlabeled[:2], cfg, threshold=0.8)
    for s, p in zip(unlabeled[:2], pseudo):
        assert s.target is None and p.image is s.image and p.target.shape == s.image.shape[-2:]
        pred = predict_image(model, s.image, replace(cfg, tta=True, probabilities=True), state=s.state)
        confident = pred.probabilities.max(0) >= 0.8
        if pred.banner is not None:
            confident[pred.banner.slices] = False
        assert np.array_equal(p.target == IGNORE_INDEX, ~confident)
        assert np.array_equal(p.target[confident], pred.labels[confident])
    assert all((p.target == IGNORE_INDEX).all() for p in pseudo_labelled(model, unlabeled[:1], cfg, 1.01))


@pytest.mark.slow
def test_self_training_is_deterministic_for_a_seed_and_records_its_teacher(synthetic_dataset, tmp_path):
    from ml.checkpoint import read_artifact, weights_sha256

    labelled, unlabeled = _split(synthetic_dataset)
    cfg = train_config(epochs=1, **TINY, semi="self_training", semi_threshold=0.6)
    runs = [self_train(cfg, binary_schema(), labelled, [], unlabeled[:4], tmp_path / str(i)) for i in range(2)]
    a, b = (torch.load(r.model_path.parent / "last.pt", weights_only=False) for r in runs)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    teacher = tmp_path / "0" / "teacher" / "model.pt"
    assert read_artifact(runs[0].model_path)[0].provenance["teacher_weights_sha256"] == weights_sha256(teacher)
    assert weights_sha256(teacher) != weights_sha256(runs[0].model_path)
    with pytest.raises(ValueError, match="unlabeled"):
        self_train(cfg, binary_schema(), labelled, [], [], tmp_path / "none")


@pytest.mark.slow
@pytest.mark.parametrize("method", ["mean_teacher", "self_training", "pretrain"])
def test_cli_semi_takes_unlabeled_images_other_than_the_labelled_ones(synthetic_dataset, tmp_path, method):
    new = write_dataset(tmp_path / "new", 3, SyntheticConfig(height=128, width=160), seed=99)  # unlabeled
    pool = tmp_path / "pool"
    pool.mkdir()
    for k, image in enumerate(new):
        shutil.copy(image, pool / f"new_{k}{image.suffix}")
    labelled = sorted((synthetic_dataset / "images").iterdir())
    shutil.copy(labelled[0], pool / labelled[0].name)  # labelled images, by name or by content: left out
    shutil.copy(labelled[4], pool / f"renamed{labelled[4].suffix}")
    base = [sys.executable, "-m", "grainloop", "train", "--images", str(synthetic_dataset / "images"), "--masks",
            str(synthetic_dataset / "masks"), "--epochs", "1", "--decoder-channels", "32,16,16,8,8", "--patch", "64",
            "--patches-per-epoch", "8", "--batch-size", "4", "--threads", "2", "--semi", method,
            "--pretrain-steps", "3"]
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    refused = subprocess.run([*base, "--out", str(tmp_path / "a")], env=env, capture_output=True, text=True)
    assert refused.returncode != 0 and "--unlabeled" in refused.stderr
    done = subprocess.run([*base, "--out", str(tmp_path / "b"), "--unlabeled", str(pool)], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"3 unlabeled images for {method}" in done.stderr
    assert (tmp_path / "b" / "teacher" / "model.pt").exists() == (method == "self_training")
    assert (tmp_path / "b" / "pretrain" / "pretrained.pt").exists() == (method == "pretrain")
    if method == "pretrain":  # 3 unlabeled and the labelled training images: the model records what it learnt from
        from ml.checkpoint import read_artifact

        provenance = read_artifact(tmp_path / "b" / "model.pt")[0].provenance
        assert provenance["pretrain_steps"] == 3 and provenance["pretrain_images"] > 3


def test_cutmix_pastes_half_a_patch_from_the_next_one_into_the_view_and_its_pseudo_label(synthetic_dataset):
    from ml.semi import box_masks, cut_mixed

    masks = box_masks(6, 40, 60, torch.Generator().manual_seed(3))
    assert masks.shape == (6, 1, 40, 60) and torch.equal(masks, box_masks(6, 40, 60, torch.Generator().manual_seed(3)))
    assert all(abs(m.mean().item() - 0.5) < 0.05 for m in masks)  # each a box of half the area
    batch = torch.arange(3.0).view(3, 1, 1, 1).expand(3, 2, 40, 60)
    mixed = cut_mixed(batch, masks[:3])
    assert torch.equal(mixed, torch.where(masks[:3].bool(), batch.roll(-1, 0), batch))
    with pytest.raises(ValueError, match="mean teacher"):
        SemiConfig(method="self_training", cutmix=True)

    labelled, unlabeled = _split(synthetic_dataset)
    cfg = train_config(epochs=2, restart_epochs=2, **TINY, **SEMI, semi_cutmix=True)
    cfg = replace(cfg, semi=replace(cfg.semi, start_epoch=0))
    model = torch.nn.Conv2d(1, 2, 1)
    losses = []
    for _ in range(2):  # the same boxes for the same epoch: deterministic for a seed, and on resume
        teacher = MeanTeacher(cfg.semi, model, unlabeled, cfg.patches, cfg.augment, cfg.batch_size, cfg.seed)
        teacher.set_epoch(1)
        clean, strong = next(teacher.batches())
        losses.append(teacher.loss(model, clean.float(), strong.float()).item())
    assert losses[0] == losses[1] > 0
    plain = MeanTeacher(replace(cfg.semi, cutmix=False), model, unlabeled, cfg.patches, cfg.augment, cfg.batch_size,
                        cfg.seed)
    plain.set_epoch(1)
    assert plain.loss(model, clean.float(), strong.float()).item() != losses[0]
