"""Crash safety with real kills: a child process (tests/integration/crash_child.py) runs a writer and SIGKILLs
itself right after one named step; then the step is rerun and the state must be whole again.

Dataset versions (real git + DVC, local remote): exactly one new tag per version, its data readable from the
remote by a fresh clone, no version doubled, and the next version is not blocked. Registration and promotion (real
MLflow on SQLite): exactly one registered version per dataset version, and the right champion.
Set CRASH_REPORT=path to get the measured table as JSON.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import mlflow
import pytest

from dataset.commit import checkout_version, commit_version
from dataset.lock import workspace_lock
from dataset.manifest import read_manifest
from dataset.store import add_items
from dataset.versioning import VersionConfig, versions
from foundation.schema import binary_schema
from tests.helpers import random_model_file, synthetic_items
from tests.integration.crash_child import KILL_STEPS, forked

SCHEMA = binary_schema()
REPORT: list[dict] = []


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


def _child(*args: str) -> int:
    """Run the crash child in a new (forked) process; its exit code (-9: killed by SIGKILL at the step)."""
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "stderr.log"
        code = forked(args, str(log))
        assert code is not None, "the crash child ran past its time limit"
        assert code in (0, -signal.SIGKILL), log.read_text()[-3000:] if log.exists() else f"exit code {code}"
    return code


def _report(row: dict) -> None:
    REPORT.append(row)
    if os.environ.get("CRASH_REPORT"):
        Path(os.environ["CRASH_REPORT"]).write_text(json.dumps(REPORT, indent=1))


@pytest.mark.slow
def test_a_version_killed_after_any_step_is_completed_by_the_rerun(repo, tmp_path, synthetic_dataset):
    items = synthetic_items(synthetic_dataset, {"source": "synthetic"})
    clone = VersionConfig(tmp_path / "clone")
    _git(tmp_path, "clone", "-q", str(repo.root), str(clone.root))
    for i, step in enumerate(KILL_STEPS["commit"]):
        add_items(repo.data_dir, items[:2 + i], SCHEMA)  # one image more than the last version
        before = versions(repo)
        code = _child("commit", str(repo.root), step)
        commit_version(repo)  # the rerun
        after = versions(repo)
        new = after[len(before):]
        _git(clone.root, "fetch", "-q", "--tags", "origin")
        rows = read_manifest(checkout_version(clone, new[0].tag, tmp_path / new[0].tag)) if len(new) == 1 else []
        _report({"kill": f"dataset: after {step}", "exit": code, "new_tags": len(new),
                 "rows_lost": 2 + i - len(rows), "versions_doubled": len(after) - len({v.md5 for v in after}),
                 "rerun_completes": len(new) == 1 and _git(repo.root, "status", "--porcelain") == ""})
        assert code == -signal.SIGKILL
        assert after[:len(before)] == before and [v.tag for v in new] == [f"dataset-v{i + 1}"]
        assert len(rows) == 2 + i  # the data is in the remote: a fresh clone reads every row back
        assert len({v.md5 for v in after}) == len(after)  # no version doubled
        assert _git(repo.root, "status", "--porcelain") == ""
    add_items(repo.data_dir, items, SCHEMA)
    assert commit_version(repo).version.tag == f"dataset-v{len(KILL_STEPS['commit']) + 1}"  # nothing blocked


def test_a_failed_commit_never_deletes_a_tag_it_did_not_make(repo, synthetic_dataset, monkeypatch):
    import dataset.commit as dataset_commit

    add_items(repo.data_dir, synthetic_items(synthetic_dataset, {"source": "s"})[:3], SCHEMA)
    original, foreign = dataset_commit.tag_version, {}

    def raced(cfg, tag, summary):  # another writer tags the same name first (on the commit before ours)
        _git(cfg.root, "tag", "-a", tag, "-m", "theirs", "HEAD~1")
        foreign["commit"] = _git(cfg.root, "rev-list", "-n", "1", tag)
        original(cfg, tag, summary)  # fails: the tag exists

    monkeypatch.setattr(dataset_commit, "tag_version", raced)
    head = _git(repo.root, "rev-parse", "HEAD")
    with pytest.raises(Exception, match="nothing was versioned"):
        commit_version(repo)
    assert _git(repo.root, "rev-list", "-n", "1", "dataset-v1") == foreign["commit"]  # theirs, still there
    assert _git(repo.root, "rev-parse", "HEAD") == head  # our own commit is undone


def test_every_writer_waits_for_the_workspace_lock(repo, synthetic_dataset, tmp_path):
    from dataset.pipeline import TrainingRecord, record_training
    from ml.train_options import train_config

    add_items(repo.data_dir, synthetic_items(synthetic_dataset, {"source": "s"})[:3], SCHEMA)
    record = TrainingRecord("dataset-v1", 1, "epochs", 1, None, threads=1, device="cpu")
    done: dict = {}
    writers = [threading.Thread(target=lambda: done.setdefault("commit", commit_version(repo))),
               threading.Thread(target=lambda: done.setdefault("record", record_training(repo, train_config(),
                                                                                         record)))]
    with workspace_lock(repo.root):  # e.g. a cycle's version step; `grainloop dataset commit` calls the same
        writers[0].start()
        time.sleep(1.5)
        assert writers[0].is_alive() and versions(repo) == []
    writers[0].join(120)
    assert done["commit"].version.tag == "dataset-v1"
    with workspace_lock(repo.root):
        writers[1].start()
        time.sleep(0.5)
        assert writers[1].is_alive() and "record" not in done
    writers[1].join(120)
    assert done["record"] and _git(repo.root, "status", "--porcelain") == ""


# ---- MLflow ------------------------------------------------------------------------------------------------


def _tracking(project: Path, name: str):
    from dataclasses import replace

    from flows.tracking import TrackingConfig

    return replace(TrackingConfig.for_project(project, env={}), model_name=name)


def _client(tracking):
    return mlflow.MlflowClient(tracking.tracking_uri, tracking.tracking_uri)


def _per_dataset(client, tracking) -> dict[str, list[str]]:
    """dataset tag -> registered versions, by the training run's tag (also finds untagged versions)."""
    out: dict[str, list[str]] = {}
    for v in client.search_model_versions(f"name='{tracking.model_name}'"):
        out.setdefault(client.get_run(v.run_id).data.tags["grainloop.dataset"], []).append(str(v.version))
    return out


@pytest.mark.slow
def test_a_registration_killed_after_any_step_registers_one_version(tmp_path):
    from flows.registry import RunTags, log_trained
    from flows.tracking import CHALLENGER, TAG_DATASET
    from flows.train import registered_for
    from ml.train_options import train_config
    from types import SimpleNamespace

    project, model = tmp_path / "project", random_model_file(tmp_path / "m.pt", 3)
    tracking = _tracking(project, "crash-register")
    client, cfg = _client(tracking), SimpleNamespace(tracking=tracking)
    for i, step in enumerate(KILL_STEPS["register"]):
        dataset = f"dataset-v{i + 1}"
        code = _child("register", str(project), tracking.model_name, dataset, str(model), step)
        version = registered_for(cfg, dataset) or log_trained(  # the rerun: the train flow's decision
            tracking, model, train_config(epochs=1), {"mean_fg_iou": 0.7}, tags=RunTags(dataset, git_sha="x")).version
        found = _per_dataset(client, tracking)
        mv = client.get_model_version(tracking.model_name, version)
        _report({"kill": f"register: after {step}", "exit": code, "registered": len(found.get(dataset, [])),
                 "registered_doubled": sum(len(v) - 1 for v in found.values()),
                 "rerun_completes": mv.tags.get(TAG_DATASET) == dataset})
        assert code == -signal.SIGKILL
        assert found[dataset] == [version] and all(len(v) == 1 for v in found.values())
        assert mv.tags.get(TAG_DATASET) == dataset and mv.tags.get("grainloop.git_sha") == "x"
        assert str(client.get_model_version_by_alias(tracking.model_name, CHALLENGER).version) == version
        assert registered_for(cfg, dataset) == version  # and again: the same one


@pytest.mark.slow
def test_a_promotion_killed_after_any_step_ends_with_the_right_champion(tmp_path):
    from flows.promotion import PromotionRule, promote
    from flows.registry import RunTags, log_trained
    from flows.tracking import CHAMPION, PREVIOUS, TAG_CHAMPION_HISTORY, TAG_PROMOTION, TAG_PROMOTION_RUN
    from ml.train_options import train_config

    project, rule = tmp_path / "project", PromotionRule(minimums={"mean_fg_iou": 0.5})
    tracking = _tracking(project, "crash-promote")
    client, name = _client(tracking), tracking.model_name

    def register(score: float) -> str:
        return log_trained(tracking, random_model_file(tmp_path / f"{score}.pt"), train_config(epochs=1),
                           {"mean_fg_iou": score}, tags=RunTags("dataset-v1", git_sha="x")).version

    champion = register(0.6)
    assert promote(tracking, champion, rule).promote
    cases = [(step, 0.7 + 0.05 * i) for i, step in enumerate(KILL_STEPS["promote"])] + [("decision record", 0.1)]
    for step, score in cases:
        version, history = register(score), client.get_registered_model(name).tags[TAG_CHAMPION_HISTORY]
        code = _child("promote", str(project), name, version, step)
        if not client.get_model_version(name, version).tags.get(TAG_PROMOTION):  # the rerun, as the cycle decides
            promote(tracking, version, rule)
        wins = score > 0.5
        expected = (version, champion) if wins else (champion, client.get_registered_model(name).aliases[PREVIOUS])
        aliases = {k: str(v) for k, v in client.get_registered_model(name).aliases.items()}
        tags = client.get_model_version(name, version).tags
        decisions = client.search_runs([client.get_experiment_by_name(tracking.experiment).experiment_id],
                                       f"tags.`grainloop.kind` = 'promotion' and tags.`grainloop.version` = '{version}'"
                                       f" and tags.`grainloop.model` = '{name}'")
        _report({"kill": f"promote ({'better' if wins else 'worse'}): after {step}", "exit": code,
                 "decision_runs": len(decisions),
                 "right_champion": (aliases[CHAMPION], aliases.get(PREVIOUS)) == tuple(map(str, expected)),
                 "rerun_completes": tags.get(TAG_PROMOTION) == ("promoted" if wins else "refused")})
        assert code == -signal.SIGKILL
        assert (aliases[CHAMPION], aliases.get(PREVIOUS)) == tuple(map(str, expected))
        assert tags[TAG_PROMOTION] == ("promoted" if wins else "refused")
        assert [r.info.run_id for r in decisions] == [tags[TAG_PROMOTION_RUN]]  # recorded once
        assert client.get_registered_model(name).tags[TAG_CHAMPION_HISTORY] == \
            (f"{history},{version}" if wins else history)
        champion = aliases[CHAMPION]
