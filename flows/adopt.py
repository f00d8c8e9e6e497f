"""A day-one model: the loop starts from a champion the lab chose instead of waiting for its first promotion.

``adopt_model`` registers a grainloop checkpoint (a model file written by `grainloop train`, or the one a training
run logged in MLflow) as a version of the loop's model and makes it the champion. ``seed_labeled`` (flows/seed.py) makes an
existing labelled set the loop's dataset-v1, trains the first model on it, evaluates it on the version's test split
and makes it the champion. Both are the lab's choice, not the promotion rule's verdict: the rule's absolute
minimums do not apply, and the version's promotion tag says ``chosen`` (TAG_SOURCE says what was chosen) where a
judged version says promoted or refused; the choice is recorded like a promotion decision (a run with its reasons).
Past that a chosen champion is a champion like any other: the next challenger must beat it by the rule, and
``rollback`` knows the champion it replaced.

Both are safe to run again. The same weights (ml.checkpoint.weights_sha256, tagged on the version) register no
second version, a version chosen once is never crowned again (a champion promoted since stays), and a choice that
died part-way is completed from its recorded decision. Both hold the cycle's lock, so no cycle judges meanwhile.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

from flows.cycle import cycle_lock
from flows.loop_config import LoopConfig
from flows.promotion import Decision, crown, mark, record_decision
from flows.registry import CHECKPOINT, log_checkpoint, log_model, numeric, safe_params
from flows.tracking import (CHAMPION, CHOSEN, KIND_ADOPTION, KIND_PROMOTION, LINEAGE_TAGS, SOURCE_PREFIX,
                            TAG_CHAMPION_BEFORE, TAG_EVAL_DATASET, TAG_KIND, TAG_MODEL, TAG_OUTCOME, TAG_PROMOTION,
                            TAG_SCHEMA_HASH, TAG_SOURCE, TAG_SOURCE_PREFIX, TAG_VERSION, TAG_WEIGHTS_SHA256,
                            TrackingConfig, alias_version, client as make_client, lib, tracked_run)
from foundation.schema import LabelSchema
from ml.checkpoint import load_model, read_artifact, save_model, weights_sha256
from ml.config import flatten, to_dict

URI_FORMS = "models:/NAME/VERSION, models:/NAME@ALIAS or runs:/RUN_ID/PATH"
ADOPTED_TAGS = (TAG_KIND, TAG_SOURCE, TAG_WEIGHTS_SHA256, TAG_SCHEMA_HASH)  # an adoption run's, copied to its version


class AdoptError(ValueError):
    """The source cannot become the loop's champion; the message says why."""


class SchemaMismatch(AdoptError):
    """The model's label schema is not the loop's; the message names the classes that differ."""


@dataclass(frozen=True)
class Source:
    """A model to adopt, resolved: its checkpoint on disk and what is known of where it came from."""

    label: str  # the source as TAG_SOURCE records it: the model file's absolute path, or the MLflow URI
    checkpoint: Path
    version: Optional[str] = None  # already a version of the loop's own model: nothing to register
    lineage: dict[str, str] = field(default_factory=dict)  # the source run's lineage, under TAG_SOURCE_PREFIX


# ---- the label schema -----------------------------------------------------------------------------------------


def schema_differences(model: LabelSchema, loop: LabelSchema) -> list[str]:
    """What keeps a model's outputs from meaning the loop's classes: names only in one of them, or another order
    (the boundary class counts as a class). Empty when they agree; colours and the schema's name do not matter."""
    mine, theirs = model.output_names, loop.output_names
    only_model, only_loop = [n for n in mine if n not in theirs], [n for n in theirs if n not in mine]
    found = [f"only in the model: {', '.join(only_model)}"] if only_model else []
    found += [f"only in the loop: {', '.join(only_loop)}"] if only_loop else []
    if not found and mine != theirs:
        found.append(f"another order: the model has {', '.join(mine)}, the loop {', '.join(theirs)}")
    return found


def check_schema(model: LabelSchema, loop: LabelSchema, source: str) -> None:
    if differences := schema_differences(model, loop):
        raise SchemaMismatch(f"{source}: the model's label schema {model.name!r} is not the loop's {loop.name!r} ("
                             + "; ".join(differences) + "): train a model with the loop's schema "
                             "(`grainloop train --schema FILE`) or start the loop with the model's")


def _with_loop_schema(checkpoint: Path, schema: LabelSchema, dest: Path) -> Path:
    """The checkpoint as is when it carries the loop's schema; else the same weights and preprocessing saved with
    the loop's schema (only colours or names differed), so the version's schema hash is the loop's."""
    model, artifact = load_model(checkpoint)
    if artifact.schema.hash == schema.hash:
        return checkpoint
    return save_model(dest / "model.pt", model, replace(artifact, schema=schema))


# ---- where the model comes from -----------------------------------------------------------------------------


def _versions(client, name: str) -> list:
    """Every version of a registered model ([] before its first registration)."""
    from mlflow.exceptions import MlflowException

    try:
        return client.search_model_versions(f"name='{name}'")
    except MlflowException:
        return []


def _source_run(client, source: str) -> tuple[str, dict[str, str]]:
    """(run id, the run's tags overlaid with the version's) of an MLflow model URI."""
    from mlflow.exceptions import MlflowException

    try:
        if source.startswith("runs:/"):
            run_id = source.removeprefix("runs:/").split("/")[0]
            return run_id, dict(client.get_run(run_id).data.tags)
        ref = source.removeprefix("models:/").rstrip("/")
        if "@" in ref:
            mv = client.get_model_version_by_alias(*ref.split("@", 1))
        else:
            name, _, number = ref.rpartition("/")
            if not name or not number.isdigit():
                raise AdoptError(f"{source}: not a model URI this loop can adopt; give {URI_FORMS}")
            mv = client.get_model_version(name, number)
        return mv.run_id, {**client.get_run(mv.run_id).data.tags, **mv.tags}
    except MlflowException as exc:
        raise AdoptError(f"{source}: not found in the loop's MLflow store ({exc.message})") from None


def _download(client, run_id: str, source: str, dest: Path) -> Path:
    from mlflow.exceptions import MlflowException

    try:
        return Path(client.download_artifacts(run_id, CHECKPOINT, str(dest)))
    except (MlflowException, OSError):
        raise AdoptError(f"{source}: its run {run_id} holds no grainloop checkpoint ({CHECKPOINT}); only a model "
                         "trained by grainloop (`grainloop train`, or the loop) can be adopted") from None


def source_tag(key: str) -> str:
    """The tag holding an adopted model's own lineage value: grainloop.dataset -> grainloop.source.dataset."""
    return f"{TAG_SOURCE_PREFIX}{key.split('.', 1)[-1]}"


def resolve(cfg: LoopConfig, source: str, dest: Path) -> Source:
    """A model file, or the checkpoint that the training run behind an MLflow URI logged (downloaded into dest).
    Its lineage is kept under source tags: its dataset tags name another loop's versions, never this one's."""
    if not source.startswith(("models:/", "runs:/")):
        path = Path(source).expanduser()
        if not path.is_file():
            raise AdoptError(f"{source}: no such model file, and not an MLflow model URI ({URI_FORMS})")
        return Source(str(path.resolve()), path)
    client = make_client(cfg.tracking)
    run_id, tags = _source_run(client, source)
    own = sorted(int(v.version) for v in client.search_model_versions(f"run_id='{run_id}'")
                 if v.name == cfg.tracking.model_name)
    lineage = {source_tag(k): tags[k] for k in (*LINEAGE_TAGS, TAG_EVAL_DATASET) if tags.get(k)}
    return Source(source, _download(client, run_id, source, dest), str(own[0]) if own else None,
                  {**lineage, source_tag("run_id"): run_id})


# ---- the registry -----------------------------------------------------------------------------------------


def adopted_version(tracking: TrackingConfig, sha: str) -> Optional[str]:
    """The version registered for these weights: by its own tag or, when the registration died before the
    version was tagged, by its adoption run's tag (set before the model is logged)."""
    client = make_client(tracking)
    found = _versions(client, tracking.model_name)
    experiment = client.get_experiment_by_name(tracking.experiment) if found else None
    runs = client.search_runs([experiment.experiment_id], f"tags.`{TAG_WEIGHTS_SHA256}` = '{sha}'") \
        if experiment else []
    runs = {r.info.run_id for r in runs}
    mine = [int(v.version) for v in found if v.tags.get(TAG_WEIGHTS_SHA256) == sha or v.run_id in runs]
    return str(min(mine)) if mine else None


def _register(cfg: LoopConfig, found: Source, checkpoint: Path, sha: str) -> str:
    """A run holding the checkpoint (CHECKPOINT, as a training run's), the model's config as params and its
    recorded metrics under SOURCE_PREFIX; the model registered as a new version with the dynamic signature."""
    mlflow = lib()
    artifact, _ = read_artifact(checkpoint)
    tags = {TAG_KIND: KIND_ADOPTION, TAG_SOURCE: found.label, TAG_WEIGHTS_SHA256: sha,
            TAG_SCHEMA_HASH: artifact.schema.hash, **found.lineage}
    with tracked_run(cfg.tracking, f"adopt {found.label}", tags):
        log_checkpoint(checkpoint)
        mlflow.log_params(safe_params(flatten({"model": to_dict(artifact.model_config),
                                               "preprocess": to_dict(artifact.preprocess)})))
        mlflow.log_metrics(numeric(artifact.metrics, SOURCE_PREFIX))
        mlflow.log_dict(artifact.provenance, "source_provenance.json")
        return str(log_model(checkpoint, cfg.tracking.model_name).registered_model_version)


def _tag_version(tracking: TrackingConfig, version: str, sha: str) -> None:
    """The adoption run's tags onto its version (again after a registration that died before tagging it); a
    version of the loop's own model gets the weights digest, so adopting the same weights again finds it."""
    client, name = make_client(tracking), tracking.model_name
    mv = client.get_model_version(name, version)
    run_tags = client.get_run(mv.run_id).data.tags
    wanted = {k: v for k, v in run_tags.items() if k in ADOPTED_TAGS or k.startswith(TAG_SOURCE_PREFIX)} \
        if run_tags.get(TAG_KIND) == KIND_ADOPTION else {TAG_WEIGHTS_SHA256: sha}
    for key, value in wanted.items():
        if key not in mv.tags:
            client.set_model_version_tag(name, version, key, value)


def _recorded_choice(client, tracking: TrackingConfig, version: str) -> Optional[tuple[str, Optional[str]]]:
    """(run id, champion before) of a choice of this version recorded by a call that died before carrying it out."""
    experiment = client.get_experiment_by_name(tracking.experiment)
    runs = client.search_runs([experiment.experiment_id], f"tags.`{TAG_KIND}` = '{KIND_PROMOTION}' and "
                              f"tags.`{TAG_MODEL}` = '{tracking.model_name}' and tags.`{TAG_VERSION}` = '{version}' "
                              f"and tags.`{TAG_OUTCOME}` = '{CHOSEN}'", order_by=["attributes.start_time ASC"]) \
        if experiment else []
    if not runs:
        return None
    before = runs[0].data.tags.get(TAG_CHAMPION_BEFORE, "none")
    return runs[0].info.run_id, None if before == "none" else before


def crown_chosen(tracking: TrackingConfig, version: str, source: str, decision: Decision) -> bool:
    """Make a version the lab chose the champion, without the rule: the choice is recorded first (a promotion
    run whose outcome is ``chosen``), the aliases move as a promotion moves them (``previous-champion``, the
    champion history), and the version is tagged chosen last. False, and nothing moves, when it was chosen before
    (a champion promoted since stays), when another champion was crowned since a choice that died part-way, or
    when it is the champion already."""
    client, name = make_client(tracking), tracking.model_name
    mv = client.get_model_version(name, version)
    if mv.tags.get(TAG_PROMOTION) == CHOSEN:
        return False
    current = alias_version(client, name, CHAMPION)
    current = None if current is None else str(current.version)
    recorded = _recorded_choice(client, tracking, version)
    if (recorded is None and current == version) or (recorded and current not in (recorded[1], version)):
        return False
    run_id, before = recorded or (record_decision(tracking, KIND_PROMOTION, decision, version, current, CHOSEN),
                                  current)
    crown(client, name, version, before)
    if TAG_SOURCE not in mv.tags:
        client.set_model_version_tag(name, version, TAG_SOURCE, source)
    mark(tracking, KIND_PROMOTION, version, CHOSEN, run_id)
    return True


# ---- the two ways to a day-one champion ------------------------------------------------------------------------


def adopt_model(cfg: LoopConfig, source: str, wait: bool = False) -> str:
    """A model the lab chose becomes the loop's champion; returns its registered version. ``source``: a grainloop
    model file (`grainloop train`'s model.pt) or an MLflow URI (models:/NAME/VERSION, models:/NAME@ALIAS,
    runs:/RUN_ID/...) in the loop's store whose run logged a grainloop checkpoint. Its label schema must be the
    loop's (SchemaMismatch names the classes that differ). A version of the loop's own model is crowned as it is;
    anything else is registered once (found again by its weights' sha256). ``wait``: for a running cycle."""
    with cycle_lock(cfg, wait), tempfile.TemporaryDirectory() as tmp:
        found = resolve(cfg, source, Path(tmp))
        try:
            schema = read_artifact(found.checkpoint)[0].schema
        except ValueError as exc:
            raise AdoptError(str(exc)) from None
        check_schema(schema, cfg.schema, source)
        sha = weights_sha256(found.checkpoint)
        version = found.version or adopted_version(cfg.tracking, sha) or \
            _register(cfg, found, _with_loop_schema(found.checkpoint, cfg.schema, Path(tmp)), sha)
        _tag_version(cfg.tracking, version, sha)
        reason = f"chosen by the lab: {found.label}; the promotion rule's minimums do not apply to a chosen model"
        crown_chosen(cfg.tracking, version, found.label, Decision(True, (reason,), ()))
        return version
