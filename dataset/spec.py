"""A dataset version as training input: its images, class maps, schema and frozen splits."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from dataset.manifest import read_manifest
from foundation.schema import LabelSchema
from ml.runs import TrainSpec


def dataset_spec(data: Path, schema_path: Optional[Path] = None, splits_file: Optional[Path] = None, **kw) -> TrainSpec:
    """A TrainSpec over a dataset version folder: its images, class maps, schema and frozen splits."""
    lists = json.loads(splits_file.read_text()) if splits_file else None
    splits = {i: s for s, ids in lists.items() for i in ids} if lists else {r.id: r.split for r in read_manifest(data)}
    schema = LabelSchema.load(schema_path or data / "schema.yaml")
    return TrainSpec([data / "images"], data / "masks", "class", schema, splits=splits, **kw)
