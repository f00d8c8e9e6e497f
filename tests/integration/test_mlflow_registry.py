"""Real MLflow (SQLite store and artifact folder in a temporary project): a logged training run, a network that
loads back for any batch and tile size, and promotion by rule with a refusal, a promotion and a rollback."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import mlflow
import pytest
import torch
from typer.testing import CliRunner

from flows.promotion import PromotionRule, RollbackError, promote, rollback
from flows.registry import NETWORK, RunTags, log_trained, train_and_log
from flows.tracking import CHAMPION, PREVIOUS, TAG_EVAL_DATASET, TrackingConfig, configure
from grainloop import model_commands
from dataset.spec import dataset_spec
from ml import runs
from ml.train_options import train_config
from foundation.schema import binary_schema
from ml.checkpoint import load_model
from tests.helpers import random_model_file

SECRET = "secret-xyz"
TINY = dict(decoder_channels=(16, 16, 16, 16, 16), patch=64, patches_per_epoch=4, batch_size=2, threads=2)
RULE = PromotionRule(margin=0.01, class_drop_tolerance=0.02, minimums={"mean_fg_iou": 0.5})


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("project")


@pytest.fixture(scope="module")
def tracking(project) -> TrackingConfig:
    return TrackingConfig.for_project(project, env={})


@pytest.fixture(scope="module")
def trained(tracking, project, synthetic_dataset):
    """One tiny epoch through run_training, logged while a Label Studio token sits in the environment."""
    spec = runs.TrainSpec([synthetic_dataset / "images"], synthetic_dataset / "masks", "class", binary_schema())
    cfg = train_config(epochs=1, augment=False, **TINY)
    data_dvc = project / "data.dvc"
    data_dvc.write_text("outs:\n- md5: 0123456789abcdef0123456789abcdef.dir\n  path: data\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRAINLOOP_LS_TOKEN", SECRET)
        logged = train_and_log(tracking, spec, cfg, project / "run1", RunTags("dataset-v1", data_dvc, "abc123"))
    return logged, mlflow.MlflowClient(tracking.tracking_uri, tracking.tracking_uri)


def test_training_run_logs_config_metrics_plots_tags_and_a_challenger(trained, tracking, project):
    logged, client = trained
    run = client.get_run(logged.run_id)
    assert run.data.params["model.arch"] == "unet" and run.data.params["epochs"] == "1"
    assert run.data.params["model.decoder_channels"] == "[16, 16, 16, 16, 16]"
    assert [m.step for m in client.get_metric_history(logged.run_id, "train_loss")] == [1]
    assert "val/mean_fg_iou" in run.data.metrics and "final/iou/grain" in run.data.metrics
    assert run.data.tags["grainloop.dataset"] == "dataset-v1" and run.data.tags["grainloop.git_sha"] == "abc123"
    assert run.data.tags["grainloop.data_dvc_md5"] == "0123456789abcdef0123456789abcdef.dir"
    assert run.data.tags["grainloop.schema_hash"] == binary_schema().hash
    assert "plots/learning_curve.png" in [f.path for f in client.list_artifacts(logged.run_id, "plots")]
    version = client.get_model_version_by_alias(tracking.model_name, "challenger")
    assert str(version.version) == logged.version and version.run_id == logged.run_id
    assert (project / ".grainloop" / "mlflow.db").is_file() and (project / ".grainloop" / "mlartifacts").is_dir()


def test_no_secret_in_params_or_tags(trained):
    logged, client = trained
    run = client.get_run(logged.run_id)
    text = json.dumps([run.data.params, run.data.tags])
    assert SECRET not in text and "GRAINLOOP_LS_TOKEN" not in text


def test_logged_network_accepts_any_batch_and_tile_size(trained, tracking, project):
    """The raw network logged beside the registered (served) model: logits of preprocessed input."""
    logged, _ = trained
    configure(tracking)
    loaded = mlflow.pytorch.load_model(f"runs:/{logged.run_id}/{NETWORK}")
    original, _ = load_model(project / "run1" / "model.pt")
    x = torch.randn(3, 1, 64, 96)
    with torch.no_grad():
        out = loaded.eval()(x)
        assert out.shape == (3, 2, 64, 96)
        assert torch.allclose(out, original(x), atol=1e-5)
        assert loaded(torch.randn(1, 1, 128, 32)).shape == (1, 2, 128, 32)


def _aliases(client, name) -> dict:
    return {k: str(v) for k, v in client.get_registered_model(name).aliases.items()}


def test_promotion_refusal_promotion_and_rollback(tracking, tmp_path):
    cfg = replace(tracking, model_name="promotion-test")
    client = mlflow.MlflowClient(cfg.tracking_uri, cfg.tracking_uri)
    train_cfg = train_config(epochs=1, **TINY)
    finals = [{"mean_fg_iou": 0.60, "iou/grain": 0.60, "iou/background": 0.90},
              {"mean_fg_iou": 0.55, "iou/grain": 0.55, "iou/background": 0.90},  # worse: refused
              {"mean_fg_iou": 0.70, "iou/grain": 0.70, "iou/background": 0.91}]  # better: promoted
    run_tags = RunTags("dataset-v1", git_sha="x")
    versions = [log_trained(cfg, random_model_file(tmp_path / f"m{i}.pt", i), train_cfg, f, tags=run_tags).version
                for i, f in enumerate(finals)]
    assert _aliases(client, cfg.model_name)["challenger"] == versions[2]

    assert promote(cfg, versions[0], RULE).promote  # the first model passes the minimums
    assert _aliases(client, cfg.model_name)[CHAMPION] == versions[0]

    refused = promote(cfg, versions[1], RULE)
    assert not refused.promote and any("margin" in r for r in refused.reasons)
    assert _aliases(client, cfg.model_name)[CHAMPION] == versions[0]
    tags = client.get_model_version(cfg.model_name, versions[1]).tags
    assert tags["grainloop.promotion"] == "refused"
    decision_run = tags["grainloop.promotion_run"]
    assert client.get_run(decision_run).data.tags["grainloop.outcome"] == "refused"
    table = mlflow.artifacts.load_text(f"runs:/{decision_run}/comparison.csv")
    assert table.startswith("check,metric,challenger,champion") and "margin,mean_fg_iou,0.55,0.6" in table
    assert mlflow.artifacts.load_dict(f"runs:/{decision_run}/decision.json")["promote"] is False

    assert promote(cfg, versions[2], RULE).promote
    aliases = _aliases(client, cfg.model_name)
    assert (aliases[CHAMPION], aliases[PREVIOUS]) == (versions[2], versions[0])

    assert rollback(cfg) == (versions[2], versions[0])
    aliases = _aliases(client, cfg.model_name)
    assert aliases[CHAMPION] == versions[0] and PREVIOUS not in aliases
    with pytest.raises(RollbackError):
        rollback(cfg)


def test_metrics_from_another_test_split_are_not_compared(tracking, tmp_path):
    cfg = replace(tracking, model_name="split-test")
    train_cfg = train_config(epochs=1, **TINY)
    a = log_trained(cfg, random_model_file(tmp_path / "a.pt", 0), train_cfg, {"mean_fg_iou": 0.6},
                    tags=RunTags("dataset-v1"))
    b = log_trained(cfg, random_model_file(tmp_path / "b.pt", 1), train_cfg, {"mean_fg_iou": 0.9},
                    tags=RunTags("dataset-v2"))
    assert promote(cfg, a.version, RULE).promote
    decision = promote(cfg, b.version, RULE)
    assert not decision.promote and "not comparable" in decision.reasons[0]


def test_cli_promote_and_rollback(trained, project, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    logged, client = trained
    runner = CliRunner()
    assert "--recorded" in runner.invoke(model_commands.app, ["promote", "--help"]).output
    assert "previous champion" in runner.invoke(model_commands.app, ["rollback", "--help"]).output
    rule = project / "rule.yaml"
    rule.write_text("minimums:\n  mean_fg_iou: 0.0\n")
    result = runner.invoke(model_commands.app, ["promote", "--version", logged.version, "--project", str(project),
                                                "--rule", str(rule), "--recorded"])
    assert result.exit_code == 0, result.output
    assert client.get_model_version_by_alias("grainloop-segmentation", CHAMPION).version == int(logged.version)
    result = runner.invoke(model_commands.app, ["rollback", "--project", str(project)])
    assert result.exit_code == 1 and "no previous champion" in result.output


def test_promotion_evaluates_both_on_the_newest_test_split(tracking, tmp_path, synthetic_dataset):
    """A trained model against a deliberately worse one (random weights), both judged on dataset-v1's test split."""
    from dataset.commit import checkout_version, commit_version
    from flows.evaluation import EvalTarget
    from dataset.versioning import RemoteConfig, VersionConfig, init
    from dataset.store import Incoming, add_items

    repo = VersionConfig(tmp_path / "repo")
    repo.root.mkdir()
    init(repo, RemoteConfig(url=str(tmp_path / "remote")))
    stems = sorted(p.stem for p in (synthetic_dataset / "images").iterdir())
    add_items(repo.data_dir, [Incoming(s, next((synthetic_dataset / "images").glob(f"{s}.*")),
                                       synthetic_dataset / "masks" / f"{s}.png") for s in stems], binary_schema())
    tag = commit_version(repo).version.tag
    target = EvalTarget(checkout_version(repo, tag, tmp_path / "eval"), tag)
    cfg = replace(tracking, model_name="split-eval")
    spec = dataset_spec(repo.data_dir)
    good = train_and_log(cfg, spec, train_config(epochs=3, lr=3e-3, **TINY), tmp_path / "good").version
    bad = log_trained(cfg, random_model_file(tmp_path / "bad.pt", 5), train_config(epochs=1, **TINY), {}).version
    rule = replace(RULE, minimums={"mean_fg_iou": 0.0})
    assert promote(cfg, good, rule, target).promote
    refused = promote(cfg, bad, rule, target)
    assert not refused.promote and any("margin" in r for r in refused.reasons)
    client = mlflow.MlflowClient(cfg.tracking_uri, cfg.tracking_uri)
    evals = client.search_runs([client.get_experiment_by_name(cfg.experiment).experiment_id],
                               "tags.`grainloop.kind` = 'evaluation'")
    assert {r.data.tags["grainloop.version"] for r in evals} >= {good, bad}
    assert all(r.data.tags[TAG_EVAL_DATASET] == tag for r in evals)
    assert "plots/confusion_matrix.png" in [f.path for f in client.list_artifacts(evals[0].info.run_id, "plots")]
    promote(cfg, bad, rule, target)  # asked again: the recorded evaluations are reused
    again = client.search_runs([client.get_experiment_by_name(cfg.experiment).experiment_id],
                               "tags.`grainloop.kind` = 'evaluation'")
    assert len(again) == len(evals)
