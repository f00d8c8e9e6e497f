"""A dataset version as training input: its images, class maps, schema and frozen splits."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from dataset.manifest import CHANNELS, read_manifest
from foundation.schema import LabelSchema
from ml.runs import TrainSpec


def dataset_spec(data: Path, schema_path: Optional[Path] = None, splits_file: Optional[Path] = None, **kw) -> TrainSpec:
    """A TrainSpec over a dataset version folder: its images, class maps, schema and frozen splits."""
    lists = json.loads(splits_file.read_text()) if splits_file else None
    rows = read_manifest(data)
    splits = {i: s for s, ids in lists.items() for i in ids} if lists else {r.id: r.split for r in rows}
    schema = LabelSchema.load(schema_path or data / "schema.yaml")
    channels = [data / CHANNELS / f"c{k}" for k in range(1, len(rows[0].channels) + 1)] if rows else []
    instances = data / "instances" if (data / "instances").is_dir() else None  # to tune the grain decoding on
    return TrainSpec([data / "images", *channels], data / "masks", "class", schema, splits=splits,
                     instances=instances, **kw)
