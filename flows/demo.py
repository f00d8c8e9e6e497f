"""`grainloop demo`, the main job: the whole loop on one machine, with a simulated annotator.

Local Label Studio, a project, sample images (generated SEM grains, or --images/--masks), then K cycles: the
simulated annotator submits ground truth for the top-ranked tasks, and the cycle flow syncs, versions (DVC),
trains, evaluates and promotes (MLflow), and pre-annotates. The services stay up until `grainloop down`.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from flows.annotator import SIMULATED, SimulatedAnnotator
from flows.cycle import CycleReport, cycle
from flows.initialize import make_workspace
from flows.loop_config import LOOP_FILE, LabelingTarget, LoopConfig, save_loop_config
from flows.promotion import PromotionRule
from flows.tracking import SCORE, TrackingConfig
from dataset.splits import SplitConfig
from dataset.versioning import VersionConfig
from labeling.api import Connection
from labeling.importer import ImportConfig, import_folder
from labeling.lifecycle import up as labelstudio_up
from labeling.projects import ProjectSpec, ensure_project
from labeling.server import ServerConfig, port_or_free
from labeling.settings import LabelStudioSettings
from ml.train import TrainConfig


@dataclass(frozen=True)
class DemoConfig:
    out: Path
    images: Path  # sample images (copied under the Label Studio document root)
    truth: Path  # their class maps, for the simulated annotator only
    train: TrainConfig
    cycles: int = 3
    per_cycle: int = 8  # tasks the simulated annotator labels before each cycle
    strategy: str = "entropy"
    port: int = 8080
    project_title: str = "grainloop demo"
    min_iou: float = 0.3  # the first champion's absolute minimum (mean foreground IoU on the test split)
    preannotate_batch: int = 16
    mask_kind: str = "class"  # truth holds class maps, or "instance" maps (EMPS segmaps)
    first: Optional[int] = None  # tasks labeled before the first cycle (None: per_cycle), so it can start small
    splits: SplitConfig = SplitConfig()  # the loop's split fractions for new images

    def to_label(self, k: int) -> int:
        """Tasks the simulated annotator labels before cycle k (1-based)."""
        return self.first if k == 1 and self.first is not None else self.per_cycle

    @property
    def workspace(self) -> Path:
        return self.out / "workspace"

    @property
    def document_root(self) -> Path:
        return self.out / "labelstudio-files"


def workspace(cfg: DemoConfig) -> VersionConfig:
    """A git + DVC repository of its own for the demo's dataset versions (the checkout is left alone), made as
    `grainloop init` makes a lab's."""
    return make_workspace(cfg.workspace, cfg.train)


def start_labelstudio(cfg: DemoConfig) -> LabelStudioSettings:
    port = port_or_free(cfg.port)
    server = ServerConfig(data_dir=(cfg.out / "labelstudio").resolve(), document_root=cfg.document_root.resolve(),
                          port=port)
    return labelstudio_up(server, settings_file(cfg))[0]


def settings_file(cfg: DemoConfig) -> Path:
    return cfg.out.resolve() / "labelstudio.json"


def demo_rule(cfg: DemoConfig, schema) -> PromotionRule:
    """The schema's written rule with the demo's first-model minimum."""
    return PromotionRule.for_schema(schema, minimums={SCORE: cfg.min_iou})


def loop_config(cfg: DemoConfig, schema) -> LoopConfig:
    root = cfg.workspace.resolve()
    target = LabelingTarget(settings_file(cfg), cfg.project_title, (cfg.document_root / "images").resolve(),
                            cfg.document_root.resolve())
    return LoopConfig(root, target, schema, TrackingConfig.for_project(root), cfg.train, demo_rule(cfg, schema),
                      cfg.strategy,
                      preannotate_batch=cfg.preannotate_batch, splits=cfg.splits)


def import_images(cfg: DemoConfig, loop: LoopConfig, settings: LabelStudioSettings) -> int:
    dest = loop.labeling.images
    if not dest.exists():
        shutil.copytree(cfg.images, dest)
    with Connection.open(settings) as conn:
        project = ensure_project(conn.sdk, ProjectSpec(loop.labeling.project_title, loop.schema))
        import_folder(conn, project, ImportConfig(dest, loop.labeling.document_root))
        return project.id


def run_cycles(cfg: DemoConfig, loop: LoopConfig, settings: LabelStudioSettings, project_id: int,
               log: Callable[[str], None]) -> list[CycleReport]:
    annotator, reports = SimulatedAnnotator(cfg.truth, loop.schema, cfg.mask_kind == "instance"), []
    for k in range(1, cfg.cycles + 1):
        with Connection.open(settings) as conn:
            labeled = annotator.annotate(conn, project_id, cfg.to_label(k))
        log(f"cycle {k}: the {SIMULATED} labeled {len(labeled)} task(s)")
        reports.append(cycle(loop))
        log(describe(k, reports[-1]))
    return reports


def describe(k: int, r: CycleReport) -> str:
    verdict = "promoted" if r.decision and r.decision.promote else "refused" if r.decision else "not judged"
    dropped = f" (dropped {len(r.sync.dropped)})" if r.sync.dropped else ""
    if r.sync.quarantined:
        dropped += f" ({len(r.sync.quarantined)} quarantined: see {r.sync.report})"
    return (f"cycle {k}: synced {r.sync.added} new{dropped}, dataset {r.dataset}, trained version {r.trained} ({verdict}), "
            f"champion {f'v{r.champion}' if r.champion else 'none yet'}, pre-annotated {r.preannotate.tasks} task(s) "
            f"{r.preannotate.skipped or ''}").rstrip()


def run(cfg: DemoConfig, schema, log: Callable[[str], None] = print) -> tuple[LoopConfig, list[CycleReport], str]:
    """Everything the demo does; returns the loop config, one report per cycle and Label Studio's URL."""
    workspace(cfg)
    settings = start_labelstudio(cfg)
    loop = loop_config(cfg, schema)
    save_loop_config(loop, cfg.out / LOOP_FILE)  # `grainloop cycle` and `grainloop serve` go on from here
    project_id = import_images(cfg, loop, settings)
    log(f"Label Studio at {settings.url} (project {project_id})")
    return loop, run_cycles(cfg, loop, settings, project_id, log), settings.url
