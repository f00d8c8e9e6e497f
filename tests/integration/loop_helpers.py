"""Set-up shared by the loop and trigger tests: the demo's own steps on the session's Label Studio."""
from __future__ import annotations

import sys
import uuid
from dataclasses import replace
from pathlib import Path

from flows.demo import DemoConfig, import_images, loop_config, settings_file, workspace
from flows.tracking import client as mlflow_client
from ml.train_options import train_config
from foundation.schema import binary_schema
from labeling.settings import save_settings

TINY = dict(decoder_channels=(16, 16, 16, 16, 16), epochs=3, restart_epochs=3, patch=64, patches_per_epoch=16,
            batch_size=4, lr=3e-3, patience=10, seed=0)


def demo_setup(out: Path, sample: Path, server, per_cycle: int = 6):
    """Workspace, loop configuration and import as the demo makes them; the images go under the session
    server's document root. Returns (demo config, loop config, project id)."""
    cfg = DemoConfig(out, sample / "images", sample / "masks", train_config(**TINY), cycles=2,
                     per_cycle=per_cycle, project_title=f"loop {uuid.uuid4().hex[:8]}", min_iou=0.0,
                     preannotate_batch=4)
    save_settings(server.settings, settings_file(cfg))
    workspace(cfg)
    loop = loop_config(cfg, binary_schema())
    root = server.config.document_root
    loop = replace(loop, labeling=replace(loop.labeling, images=root / out.name / "images", document_root=root))
    return cfg, loop, import_images(cfg, loop, server.settings)


def replayed_weights(loop, tag: str, tmp_path) -> tuple[dict, str, str]:
    """`git checkout TAG && dvc pull && dvc repro` in a clone of the loop's workspace: (training record, digest of
    the replayed weights, digest of the registered model's weights for that tag)."""
    import json
    import os
    import subprocess
    from pathlib import Path

    from flows.evaluation import checkpoint
    from ml.checkpoint import weights_sha256

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PATH": f"{root / 'bin'}{os.pathsep}{os.environ['PATH']}"}

    def sh(cwd, *args):
        done = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]

    clone = tmp_path / "clone"
    sh(tmp_path, "git", "clone", "-q", str(loop.workspace), str(clone))
    sh(clone, "git", "checkout", "-q", tag)
    sh(clone, sys.executable, "-m", "dvc", "remote", "modify", "--local", "storage", "url",
       str(loop.workspace / ".grainloop" / "dvc-remote"))
    sh(clone, sys.executable, "-m", "dvc", "pull", "-q")
    record = json.loads((clone / "training.json").read_text())
    record["has_warm_start_file"] = (clone / "models" / "warm-start.pt.dvc").exists()
    sh(clone, sys.executable, "-m", "dvc", "repro")
    client = mlflow_client(loop.tracking)
    registered = next(v for v in client.search_model_versions(f"name='{loop.tracking.model_name}'")
                      if v.tags["grainloop.dataset"] == tag)
    logged = checkpoint(loop.tracking, registered.version, tmp_path / "registered")
    return record, weights_sha256(clone / "artifacts" / "model" / "model.pt"), weights_sha256(logged)
