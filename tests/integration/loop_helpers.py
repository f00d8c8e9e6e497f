"""Set-up shared by the loop and trigger tests: the demo's own steps on the session's Label Studio."""
from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

from flows.demo import DemoConfig, import_images, loop_config, settings_file, workspace
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
