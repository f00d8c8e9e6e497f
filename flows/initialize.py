"""`grainloop init`: a lab's own loop on its own images (`grainloop add` brings more later: flows/add.py).

``init`` makes (or, run again, reuses) everything a loop needs: a git + DVC workspace with its remote and pipeline,
the Label Studio project generated from the label schema, the images imported as tasks (tiles for large ones), and
the loop's configuration file. A day-one champion comes from ``--start-model`` (a model the lab chose) or from
``--labeled`` (an existing labelled set as dataset-v1, trained once); its pre-annotations go out at once.
Every service defaults to the embedded local one; the options point at existing servers.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from dataset.pipeline import PIPELINE, init_pipeline
from dataset.samples import SampleConfig
from dataset.versioning import RemoteConfig, VersionConfig, init as init_versions
from flows.loop_config import LOOP_FILE, LabelingTarget, LoopConfig, load_loop_config, save_loop_config
from flows.preannotate import PreannotateReport, champion, preannotate
from flows.promotion import PromotionRule
from flows.scale import scan_new_images
from flows.tracking import TrackingConfig
from foundation.atomic import write_atomic
from foundation.schema import LabelSchema
from labeling.api import Connection
from labeling.importer import ImportConfig, ImportReport, import_folder
from labeling.projects import ProjectSpec, ensure_project
from labeling.settings import LabelStudioSettings, load_settings, settings_path
from labeling.tiles import TilingConfig
from ml.train import TrainConfig

WORKSPACE = "workspace"  # the loop folder's git + DVC repository
REMOTE_SETTINGS = "labelstudio.json"  # written by init for --labelstudio-url: the URL only, the token from the env


class InitError(ValueError):
    """The loop cannot be set up as asked; the message says what to change."""


@dataclass(frozen=True)
class Services:
    """Where the loop's services are; None everywhere: the embedded local ones."""

    labelstudio_settings: Optional[Path] = None  # None: what `grainloop labelstudio up` wrote (GRAINLOOP_LS_SETTINGS)
    labelstudio_url: Optional[str] = None  # an existing Label Studio (token from GRAINLOOP_LS_TOKEN)
    document_root: Optional[Path] = None  # the folder that server serves local files from
    tracking_uri: Optional[str] = None  # an MLflow tracking server; None: SQLite in the workspace
    dvc_remote: RemoteConfig = field(default_factory=RemoteConfig)
    prefect_api_url: Optional[str] = None  # a Prefect server; None: no-server mode


@dataclass(frozen=True)
class InitConfig:
    images: Path  # the folder of SEM images annotated in Label Studio (the first detector channel)
    schema: LabelSchema
    out: Path = Path("loop")  # loop.json and the workspace
    project_title: str = "grainloop"
    services: Services = field(default_factory=Services)
    samples: SampleConfig = field(default_factory=SampleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    rule: Optional[PromotionRule] = None  # None: the written rule for the schema (PromotionRule.for_schema)
    strategy: str = "entropy"
    min_new_annotations: int = 1
    tiling: TilingConfig = field(default_factory=TilingConfig)
    start_model: Optional[str] = None  # a grainloop model file or an MLflow model URI: the first champion
    labeled: Optional[tuple[Path, Path]] = None  # (images, masks) of an existing labelled set: dataset-v1
    mask_kind: str = "class"  # of the labelled set's masks
    channels: tuple[Path, ...] = ()  # further detector channels (or slices): the same relative paths in each

    def __post_init__(self) -> None:
        if self.start_model and self.labeled:
            raise InitError("give --start-model or --labeled, not both: each makes the first champion")
        missing = [str(c) for c in self.channels if not Path(c).is_dir()]
        if missing:
            raise InitError(f"channel folder(s) {', '.join(missing)} do not exist")

    @property
    def loop_file(self) -> Path:
        return self.out / LOOP_FILE


@dataclass(frozen=True)
class InitReport:
    loop_file: Path
    project_id: int
    imported: ImportReport
    champion: Optional[str]
    preannotated: Optional[PreannotateReport]


def labelstudio_settings(cfg: InitConfig) -> tuple[Path, LabelStudioSettings]:
    """The settings file the loop reads Label Studio's URL (and token) from, and the settings themselves."""
    path, url = cfg.services.labelstudio_settings or settings_path(), cfg.services.labelstudio_url
    if url:  # an existing server: the loop folder records its URL; the token stays in the environment
        path = cfg.out.resolve() / REMOTE_SETTINGS
        write_atomic(path, json.dumps({"url": url.rstrip("/")}) + "\n", mode=0o600)
    try:
        settings = load_settings(path)
    except RuntimeError as exc:
        raise InitError(f"{exc}. Start the local one with `grainloop labelstudio up --document-root DIR` (DIR "
                        "holding your images), or give --labelstudio-url with the token in GRAINLOOP_LS_TOKEN") from None
    return path.resolve(), settings


def document_root(cfg: InitConfig, settings: LabelStudioSettings) -> Path:
    """The folder Label Studio serves images from; the image folder must lie inside it."""
    root = cfg.services.document_root or settings.document_root
    if root is None:
        raise InitError("Label Studio's document root is not known: give --document-root (the folder the server "
                        "was started to serve local files from)")
    root, images = Path(root).resolve(), cfg.images.resolve()
    if not images.is_dir():
        raise InitError(f"image folder {cfg.images} does not exist")
    if not images.is_relative_to(root):
        raise InitError(f"image folder {images} is outside Label Studio's document root {root}: start Label Studio "
                        f"with `grainloop labelstudio up --document-root DIR` where DIR contains it")
    return root


def make_workspace(root: Path, train: TrainConfig, remote: RemoteConfig = RemoteConfig()) -> VersionConfig:
    """A git + DVC repository of its own for the loop's dataset versions, with its remote and pipeline."""
    versions = VersionConfig(root.resolve())
    versions.root.mkdir(parents=True, exist_ok=True)
    ignore = versions.root / ".gitignore"
    if not ignore.exists():
        ignore.write_text("/.grainloop/\n")
    init_versions(versions, remote)
    if not (versions.root / PIPELINE).exists():  # a rerun keeps the pipeline the versions were recorded with
        init_pipeline(versions, train)
    return versions


def tracking(cfg: InitConfig, workspace: Path) -> TrackingConfig:
    uri = cfg.services.tracking_uri
    return TrackingConfig(uri, None) if uri else TrackingConfig.for_project(workspace)


def loop_config(cfg: InitConfig, settings_file: Path, docroot: Path) -> LoopConfig:
    workspace = (cfg.out / WORKSPACE).resolve()
    target = LabelingTarget(settings_file, cfg.project_title, cfg.images.resolve(), docroot, tiling=cfg.tiling,
                            channels=tuple(c.resolve() for c in cfg.channels))
    rule = cfg.rule or PromotionRule.for_schema(cfg.schema)
    return LoopConfig(workspace, target, cfg.schema, tracking(cfg, workspace), cfg.train, rule, cfg.strategy,
                      cfg.min_new_annotations, samples=cfg.samples, prefect_api_url=cfg.services.prefect_api_url)


def import_images(loop: LoopConfig) -> tuple[int, ImportReport]:
    with Connection.open(load_settings(loop.labeling.settings_file)) as conn:
        project = ensure_project(conn.sdk, ProjectSpec(loop.labeling.project_title, loop.schema))
        report = import_folder(conn, project, ImportConfig(loop.labeling.images, loop.labeling.document_root,
                                                           tiling=loop.labeling.tiling))
        return project.id, report


def first_champion(cfg: InitConfig, loop: LoopConfig) -> Optional[str]:
    """The champion a new lab starts from: a chosen model, or one trained on its labelled set (or none)."""
    if cfg.start_model:
        from flows.adopt import adopt_model

        adopt_model(loop, cfg.start_model)
    elif cfg.labeled:
        from flows.seed import seed_labeled

        seed_labeled(loop, cfg.labeled[0], cfg.labeled[1], cfg.mask_kind)
    return champion(loop)


def init_loop(cfg: InitConfig, log: Callable[[str], None] = print) -> InitReport:
    """Set up (or update) the loop; every step is safe to run again."""
    if cfg.loop_file.exists():  # run again: the saved settings stand (`grainloop config` changes them)
        loop = load_loop_config(cfg.loop_file)
        if loop.labeling.images != cfg.images.resolve():
            raise InitError(f"{cfg.loop_file} is the loop on {loop.labeling.images}; for {cfg.images} start another "
                            "loop with --out DIR, or bring the images in with `grainloop add`")
        log(f"loop configuration: {cfg.loop_file} (kept; change settings with `grainloop config set`)")
    else:
        settings_file, settings = labelstudio_settings(cfg)
        loop = loop_config(cfg, settings_file, document_root(cfg, settings))
        make_workspace(loop.workspace, cfg.train, cfg.services.dvc_remote)
        save_loop_config(loop, cfg.loop_file)  # last: a loop file means its workspace is made
        log(f"loop configuration: {cfg.loop_file}")
    project_id, imported = import_images(loop)
    log(f"Label Studio project {project_id}: {imported.created} new task(s), "
        f"{imported.existing} already there, {len(imported.refused) + len(imported.failed)} refused")
    scan_new_images(loop, log)  # scale bars of images without a metadata pixel size
    version = first_champion(cfg, loop)
    pre = preannotate(loop) if version else None
    return InitReport(cfg.loop_file, project_id, imported, version, pre)
