"""A day-one champion (flows/adopt.py) in a real workspace (git + DVC) and MLflow store, without Label Studio: a
model file or an MLflow URI adopted as the chosen champion once, a label schema that differs named class by class,
a labelled set seeded as dataset-v1 with its model crowned below the rule's minimums, and later challengers judged
against the chosen champion by the rule."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from flows.adopt import AdoptError, SchemaMismatch, adopt_model, schema_differences
from flows.seed import SeedError, seed_labeled
from flows.cycle import evaluate_and_promote
from dataset.versioning import latest
from flows.initialize import make_workspace
from flows.evaluation import EvalTarget, checkpoint
from flows.loop_config import LabelingTarget, LoopConfig
from flows.promotion import PromotionRule, promote, rollback
from flows.registry import log_checkpoint, log_trained, signature
from flows.train import dataset_folder
from flows.tracking import (CHAMPION, CHOSEN, KIND_PROMOTION, PREVIOUS, SCORE, TAG_KIND, TAG_OUTCOME, TAG_PROMOTION,
                            TAG_SCHEMA_HASH, TAG_SOURCE, TAG_WEIGHTS_SHA256, TrackingConfig, alias_version,
                            client as make_client, configure)
from foundation.schema import LabelClass, LabelSchema, binary_schema
from ml.checkpoint import load_model, read_artifact, weights_sha256
from ml.runs import TrainSpec, run_training
from ml.train_options import train_config
from tests.helpers import random_model_file

pytestmark = pytest.mark.slow

TINY = dict(decoder_channels=(16, 16, 16, 16, 16), epochs=2, restart_epochs=2, patch=64, patches_per_epoch=8,
            batch_size=4, lr=3e-3, patience=10, seed=0, threads=2, augment=False)
NO_FIRST_MODEL = PromotionRule(minimums={SCORE: 0.99})  # no tiny model meets it: only a choice crowns one
ANY = PromotionRule(margin=-1.0, class_drop_tolerance=1.0, size_error_tolerance=1e9)  # any challenger wins
NONE = PromotionRule(margin=1.0)  # no challenger wins


def make_loop(base: Path, schema: LabelSchema = binary_schema(), rule: PromotionRule = NO_FIRST_MODEL) -> LoopConfig:
    """A loop's workspace (git + DVC + pipeline, as `grainloop init` makes it) and configuration; no Label Studio."""
    train = train_config(**TINY)
    root = make_workspace(base / "workspace", train).root
    target = LabelingTarget(base / "labelstudio.json", "adopt", base / "images", base)
    return LoopConfig(root, target, schema, TrackingConfig.for_project(root, env={}), train, rule)


@pytest.fixture(scope="module")
def starter(tmp_path_factory, synthetic_dataset) -> Path:
    """A tiny model trained with `grainloop train`'s function: the lab's starter model file."""
    out = tmp_path_factory.mktemp("starter")
    spec = TrainSpec([synthetic_dataset / "images"], synthetic_dataset / "masks", "class", binary_schema())
    return run_training(spec, train_config(**{**TINY, "epochs": 1}), out).model_path


def versions_of(loop: LoopConfig) -> list[str]:
    return sorted(str(v.version) for v in make_client(loop.tracking).search_model_versions(
        f"name='{loop.tracking.model_name}'"))


def champion_of(loop: LoopConfig):
    return alias_version(make_client(loop.tracking), loop.tracking.model_name, CHAMPION)


def choices(loop: LoopConfig) -> list:
    client = make_client(loop.tracking)
    experiment = client.get_experiment_by_name(loop.tracking.experiment)
    return client.search_runs([experiment.experiment_id],
                              f"tags.`{TAG_KIND}` = '{KIND_PROMOTION}' and tags.`{TAG_OUTCOME}` = '{CHOSEN}'")


def test_a_model_file_becomes_the_chosen_champion_once(tmp_path, starter):
    loop = make_loop(tmp_path)
    version = adopt_model(loop, str(starter))
    mv = champion_of(loop)
    assert str(mv.version) == version == "1"
    assert mv.tags[TAG_PROMOTION] == CHOSEN and mv.tags[TAG_SOURCE] == str(starter.resolve())
    assert mv.tags[TAG_WEIGHTS_SHA256] == weights_sha256(starter) and mv.tags[TAG_SCHEMA_HASH] == loop.schema.hash
    registered = checkpoint(loop.tracking, version, tmp_path / "download")  # the run holds the grainloop checkpoint
    assert weights_sha256(registered) == weights_sha256(starter)

    assert adopt_model(loop, str(starter)) == version  # again: nothing new registered, one recorded choice
    assert versions_of(loop) == ["1"] and len(choices(loop)) == 1

    other = adopt_model(loop, str(random_model_file(tmp_path / "other.pt", seed=1)))  # the lab changes its mind
    assert other == "2" and str(champion_of(loop).version) == "2"
    assert adopt_model(loop, str(starter)) == "1" and str(champion_of(loop).version) == "2"  # no move back
    assert rollback(loop.tracking) == ("2", "1")  # a chosen champion is remembered like a promoted one


def test_a_label_schema_that_differs_is_refused_naming_the_classes(tmp_path, starter):
    pores = LabelSchema("grains and pores", (LabelClass("grain"), LabelClass("pore")))
    loop = make_loop(tmp_path, pores)
    with pytest.raises(SchemaMismatch, match="only in the loop: pore"):
        adopt_model(loop, str(starter))
    assert versions_of(loop) == [] and champion_of(loop) is None
    swapped = LabelSchema("pores and grains", (LabelClass("pore"), LabelClass("grain")))
    assert schema_differences(pores, swapped) == ["another order: the model has background, grain, pore, the loop "
                                                  "background, pore, grain"]
    assert schema_differences(binary_schema(boundary=True), binary_schema()) == ["only in the model: boundary"]
    recoloured = LabelSchema("mine", (LabelClass("grain", "#000000"),))
    assert schema_differences(recoloured, binary_schema()) == []  # colours and names of schemas do not matter


def test_an_adoption_that_died_part_way_is_completed_by_the_rerun(tmp_path):
    recoloured = LabelSchema("our grains", (LabelClass("grain", "#00ff00"),))  # the model's classes, other colours
    loop = make_loop(tmp_path, recoloured)
    model = random_model_file(tmp_path / "model.pt")
    version = adopt_model(loop, str(model))
    registered = read_artifact(checkpoint(loop.tracking, version, tmp_path / "download"))[0]
    assert registered.schema == recoloured and champion_of(loop).tags[TAG_SCHEMA_HASH] == recoloured.hash

    client, name = make_client(loop.tracking), loop.tracking.model_name
    for key in (TAG_WEIGHTS_SHA256, TAG_PROMOTION):  # as if it died after registering and recording the choice
        client.delete_model_version_tag(name, version, key)
    client.delete_registered_model_alias(name, CHAMPION)
    assert adopt_model(loop, str(model)) == version
    mv = champion_of(loop)
    assert str(mv.version) == version and mv.tags[TAG_PROMOTION] == CHOSEN and TAG_WEIGHTS_SHA256 in mv.tags
    assert versions_of(loop) == [version] and len(choices(loop)) == 1
    with pytest.raises(AdoptError, match="holds no grainloop checkpoint"):
        adopt_model(loop, f"runs:/{choices(loop)[0].info.run_id}/model")


def test_a_model_uri_is_adopted_from_its_training_run(tmp_path, starter):
    loop = make_loop(tmp_path)
    elsewhere = replace(loop.tracking, model_name="starter")  # another registered model in the same store
    logged = log_trained(elsewhere, starter, loop.train, {"mean_fg_iou": 0.5})
    version = adopt_model(loop, f"models:/starter/{logged.version}")
    mv = champion_of(loop)
    assert str(mv.version) == version and mv.tags[TAG_PROMOTION] == CHOSEN
    assert mv.tags[TAG_SOURCE] == "models:/starter/1" and mv.tags["grainloop.source.run_id"] == logged.run_id
    assert adopt_model(loop, f"runs:/{logged.run_id}/model") == version  # the same weights: the same version
    assert adopt_model(loop, f"models:/{loop.tracking.model_name}@champion") == version  # the loop's own: as it is
    assert versions_of(loop) == [version]
    with pytest.raises(AdoptError, match="not found"):
        adopt_model(loop, "models:/starter/9")
    with pytest.raises(AdoptError, match="no such model file"):
        adopt_model(loop, str(tmp_path / "missing.pt"))


def test_a_seeded_labelled_set_gives_dataset_v1_and_a_chosen_champion_that_challengers_must_beat(
        tmp_path, synthetic_dataset, prefect_api):
    loop = make_loop(tmp_path)
    report = seed_labeled(loop, synthetic_dataset / "images", synthetic_dataset / "masks")
    assert report.dataset == "dataset-v1" and report.new_version and report.added == 12
    assert report.champion == report.model_version  # crowned although no model meets NO_FIRST_MODEL's minimum
    mv = champion_of(loop)
    assert mv.tags[TAG_PROMOTION] == CHOSEN and mv.tags[TAG_SOURCE].startswith("dataset-v1 seeded from")
    (choice,) = choices(loop)
    assert "below the minimum" in choice.data.tags["grainloop.reasons"]  # the record says how the rule saw it

    again = seed_labeled(loop, synthetic_dataset / "images", synthetic_dataset / "masks")
    assert (again.dataset, again.new_version, again.model_version) == ("dataset-v1", False, report.model_version)
    assert versions_of(loop) == [report.model_version] and len(choices(loop)) == 1
    with pytest.raises(SeedError, match="was seeded from"):
        seed_labeled(loop, synthetic_dataset / "images", synthetic_dataset / "instances", "instance")

    # a challenger is judged against the chosen champion by the rule, on the version's test split
    challenger = log_trained(loop.tracking, random_model_file(tmp_path / "challenger.pt"), loop.train, {}).version
    first = latest(loop.versions)
    refused = evaluate_and_promote(replace(loop, rule=NONE), challenger, first)
    assert not refused.promote and refused.rows[0]["check"] == "margin"
    assert refused.rows[0]["champion"] == pytest.approx(report.metrics[SCORE])
    assert champion_of(loop).version == mv.version
    promoted = promote(loop.tracking, challenger, ANY, EvalTarget(dataset_folder(loop, first), first.tag))
    assert promoted.promote and str(champion_of(loop).version) == challenger
    previous = alias_version(make_client(loop.tracking), loop.tracking.model_name, PREVIOUS)
    assert str(previous.version) == report.model_version  # the chosen champion, replaced as any champion is
    assert seed_labeled(loop, synthetic_dataset / "images", synthetic_dataset / "masks").champion == challenger


def test_a_version_registered_before_the_served_pyfunc_still_serves_the_loop(tmp_path, starter):
    """A version logged the old way (the bare network in the PyTorch flavour, beside the checkpoint) is read by
    pre-annotation and evaluation (flows.evaluation.checkpoint) and adopted by --start-model as before."""
    import mlflow

    loop = make_loop(tmp_path)
    old = replace(loop.tracking, model_name="before-pyfunc")
    configure(old)
    model, _ = load_model(starter)
    with mlflow.start_run():
        log_checkpoint(starter)
        info = mlflow.pytorch.log_model(model, name="model", registered_model_name=old.model_name,
                                        signature=signature(1, 2), serialization_format="pickle")
    version = str(info.registered_model_version)
    assert weights_sha256(checkpoint(old, version, tmp_path / "cache")) == weights_sha256(starter)
    adopted = adopt_model(loop, f"models:/{old.model_name}/{version}")
    assert str(champion_of(loop).version) == adopted
