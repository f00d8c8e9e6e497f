"""A day-one champion from a set the lab has already labelled: it becomes the loop's dataset-v1, the first model
is trained on it, evaluated on its test split and made champion as the lab's choice (flows/adopt.py records it).
Safe to run again: ``seed.json`` in the state folder records the set, so a rerun makes no second version or model.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from dataset.lock import workspace_lock
from dataset.spec import dataset_spec
from dataset.store import AddReport, Incoming, add_items
from dataset.versioning import Version, versions
from flows.adopt import crown_chosen
from flows.cycle import cycle_lock, version_dataset
from flows.evaluation import EvalTarget, evaluate_version
from flows.loop_config import LoopConfig
from flows.preannotate import champion
from flows.promotion import Decision, decide
from flows.train import dataset_folder, train
from foundation.atomic import write_atomic
from ml.data import check_mask_kind, find_samples
from ml.runs import split_files

SEED_FILE = "seed.json"  # in the state folder: the labelled set that seeded the loop (its dataset-v1)


class SeedError(ValueError):
    """The labelled set cannot seed this loop; the message says why."""


@dataclass(frozen=True)
class SeedReport:
    dataset: str  # the dataset version made from the labelled set (dataset-v1)
    new_version: bool  # False on a rerun: the version was there already
    added: int  # images added to data/ by this call
    skipped: tuple[tuple[str, str], ...]  # (image id, why) of pairs that could not be added
    model_version: str  # the registered version trained on it
    metrics: dict[str, float]  # its metrics on the version's test split ({} when the split is empty)
    champion: Optional[str]  # the champion now: the seeded model, unless another was promoted since


def _claim(cfg: LoopConfig, record: dict) -> bool:
    """True while the loop has no dataset version yet (the seed's record is written then); False on a rerun of the
    same seed. A loop with versions of another origin, or seeded from another set, is refused."""
    path, made = cfg.state_dir / SEED_FILE, versions(cfg.versions)
    if not made:
        write_atomic(path, json.dumps(record, sort_keys=True))
        return True
    claimed = json.loads(path.read_text()) if path.is_file() else None
    if claimed != record:
        origin = f"was seeded from {claimed['images']}" if claimed else \
            f"has dataset versions already ({', '.join(v.tag for v in made)})"
        raise SeedError(f"{cfg.workspace} {origin}: a labelled set seeds only a new loop; add more labelled images "
                        "with `grainloop dataset import` and let the cycle judge the next model")
    return False


def _import(cfg: LoopConfig, images: Path, masks: Path, mask_kind: str) -> AddReport:
    """The pairs into data/ with frozen splits, as `grainloop dataset import` adds them."""
    instance = mask_kind == "instance"
    items = [Incoming(f.id, f.images[0], None if instance else f.mask, f.mask if instance else None,
                      provenance={"source": str(images)}) for f in find_samples([images], masks)]
    with workspace_lock(cfg.workspace):
        return add_items(cfg.versions.data_dir, items, cfg.schema, cfg.splits)


def metrics_on_test(cfg: LoopConfig, model_version: str, version: Version) -> dict[str, float]:
    """A registered version's metrics on a dataset version's test split, as the cycle evaluates ({} if empty)."""
    folder = dataset_folder(cfg, version)
    if not split_files(dataset_spec(folder), ("test",)):
        return {}
    return evaluate_version(cfg.tracking, model_version, EvalTarget(folder, version.tag))


def seed_labeled(cfg: LoopConfig, images: Path, masks: Path, mask_kind: str = "class",
                 wait: bool = False) -> SeedReport:
    """An existing labelled set (images and class or instance maps) becomes the loop's dataset-v1; the first
    model is trained on it (flows.train.train), evaluated on its test split and made the champion as the lab's
    choice, even below the rule's minimums (the recorded decision says how it fared against them). A rerun makes
    no second version or model. ``wait``: for a running cycle."""
    images, masks = Path(images).resolve(), Path(masks).resolve()
    check_mask_kind(mask_kind)
    with cycle_lock(cfg, wait):
        fresh = _claim(cfg, {"images": str(images), "masks": str(masks), "mask_kind": mask_kind})
        added = _import(cfg, images, masks, mask_kind) if fresh else AddReport()
        committed = version_dataset(cfg) if fresh else None
        first = next(iter(versions(cfg.versions)), None)
        if first is None:
            why = "; ".join(f"{i}: {r}" for i, r in added.skipped[:5])
            raise SeedError(f"{images}: nothing to version ({committed.message}){'; skipped ' + why if why else ''}")
        model_version = train(cfg, first)
        metrics = metrics_on_test(cfg, model_version, first)
        judged = decide(metrics, None, cfg.rule)
        label = f"{first.tag} seeded from {images}"
        reasons = (f"chosen by the lab: the first model, trained on {label}; the promotion rule's minimums do not "
                   "apply to a chosen model", *(f"the rule alone: {r}" for r in judged.reasons))
        crown_chosen(cfg.tracking, model_version, label, Decision(True, reasons, judged.rows))
        return SeedReport(first.tag, bool(committed and committed.version), len(added.added), tuple(added.skipped),
                          model_version, metrics, champion(cfg))
