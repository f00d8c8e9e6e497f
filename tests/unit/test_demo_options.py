"""`grainloop demo`'s options: what the command line may ask for, and the training config they build."""
import dataclasses
import inspect
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grainloop.cli import app, demo
from grainloop.demo import DemoOptions, demo_config


def test_unknown_mask_kind_lists_the_choices():
    with pytest.raises(ValueError, match="class, instance"):
        DemoOptions(mask_kind="polygon")


def test_images_need_masks():
    with pytest.raises(ValueError, match="go together"):
        DemoOptions(images=Path("images"))


def test_cli_turns_bad_options_into_a_usage_error(tmp_path):
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--images", str(tmp_path)])
    assert result.exit_code == 2
    assert not any(tmp_path.iterdir())  # nothing started, nothing written


def test_epochs_and_minimum_reach_the_loop(tmp_path):
    opts = DemoOptions(out=tmp_path, epochs=30, min_iou=0.5, images=tmp_path / "i", masks=tmp_path / "m",
                       mask_kind="instance")
    cfg = demo_config(opts)
    assert (cfg.train.epochs, cfg.min_iou, cfg.mask_kind) == (30, 0.5, "instance")
    assert cfg.images == tmp_path / "i" and cfg.truth == tmp_path / "m"


def test_the_demo_commands_defaults_are_demo_options_defaults():
    """The CLI repeats DemoOptions' defaults (importing it would load the loop at start-up): they must agree."""
    cli = {name: p.default for name, p in inspect.signature(demo).parameters.items()}
    for f in dataclasses.fields(DemoOptions):
        assert cli[f.name] == f.default, f"grainloop demo --{f.name.replace('_', '-')}: {cli[f.name]} != {f.default}"


def test_the_demo_judges_promotion_on_a_larger_test_split_and_fine_tunes_gently(tmp_path):
    opts = DemoOptions(out=tmp_path, images=tmp_path / "i", masks=tmp_path / "m", test_fraction=0.4, warm_lr=1e-4)
    cfg = demo_config(opts)
    assert (cfg.splits.train, cfg.splits.val, cfg.splits.test) == (0.5, 0.1, 0.4)
    assert (cfg.train.lr, cfg.train.warm_lr) == (2e-3, 1e-4)
    with pytest.raises(ValueError, match="test-fraction"):
        DemoOptions(test_fraction=0.95)


def test_the_demo_judges_a_model_without_a_boundary_class_by_iou_alone(tmp_path):
    from flows.demo import demo_rule
    from flows.promotion import PromotionRule, decide
    from foundation.schema import binary_schema

    cfg = demo_config(DemoOptions(out=tmp_path, images=tmp_path / "i", masks=tmp_path / "m"))
    semantic, instance = demo_rule(cfg, binary_schema()), demo_rule(cfg, binary_schema(boundary=True))
    assert instance.size_error == PromotionRule().size_error and semantic.minimums == {"mean_fg_iou": cfg.min_iou}
    champion = {"mean_fg_iou": 0.60, "size_distribution_error": 0.30}
    challenger = {"mean_fg_iou": 0.75, "size_distribution_error": 0.45}  # watershed sizes: noise for this model
    assert decide(challenger, champion, semantic).promote and not decide(challenger, champion, instance).promote
    from flows.initialize import InitConfig, loop_config  # a lab's loop gets the same written rule
    lab = loop_config(InitConfig(tmp_path / "images", binary_schema(), tmp_path / "loop"), tmp_path / "ls.json", tmp_path)
    assert lab.rule == PromotionRule.for_schema(binary_schema()) and lab.rule.size_error == ""


@pytest.mark.parametrize("test_fraction", [0.05, 0.3, 0.7])
def test_the_first_batch_holds_one_test_image(tmp_path, test_fraction):
    import json

    from dataset.manifest import sha256_file
    from dataset.splits import SplitConfig, split_for
    from grainloop.demo import first_batch_split
    from ml.synthetic import sem_field, write_dataset

    splits = SplitConfig(train=round(0.9 - test_fraction, 6), val=0.1, test=test_fraction)
    write_dataset(tmp_path, 24, sem_field(64), seed=5)
    first_batch_split(tmp_path, 4, splits)
    entries = json.loads((tmp_path / "manifest.json").read_text())["images"]
    tests = [split_for(sha256_file(tmp_path / e["image"]), splits) == "test" for e in entries]
    assert sum(tests[:4]) == 1 and len({sha256_file(tmp_path / e["image"]) for e in entries}) == 24
