"""`grainloop dataset commit` and reading a version back: the all-or-nothing steps over dataset.versioning."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from foundation.schema import LabelSchema
from dataset.manifest import SCHEMA, by_split
from dataset.validate import validate
from dataset.versioning import (TAG_PREFIX, Version, VersionConfig, VersioningError, identity, dvc, git, latest,
                              md5_of, versions)


@dataclass(frozen=True)
class CommitResult:
    version: Optional[Version]  # None: nothing new since the last version
    images: int
    message: str


def _summary(cfg: VersionConfig, rows, md5: str) -> str:
    counts = {k: len(v) for k, v in by_split(rows).items()}
    return json.dumps({"images": len(rows), "splits": counts, "md5": md5, "data": cfg.data}, sort_keys=True)


def _snapshot(cfg: VersionConfig) -> dict[Path, Optional[bytes]]:
    paths = (cfg.dvc_file, cfg.root / ".gitignore")
    return {p: p.read_bytes() if p.exists() else None for p in paths}


def _restore(cfg: VersionConfig, head: Optional[str], tag: str, before: dict[Path, Optional[bytes]]) -> None:
    """Put git back as it was: no new tag or commit, data.dvc and .gitignore as before; data/ is left alone."""
    git(cfg, "tag", "-d", tag, check=False)
    if head and git(cfg, "rev-parse", "HEAD", check=False) != head:
        git(cfg, "reset", "-q", "--soft", head)
    git(cfg, "reset", "-q", "--", *(p.name for p in before), check=False)
    for path, content in before.items():
        if content is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(content)


def _steps(cfg: VersionConfig, tag: str, summary: str, remote: Optional[str]) -> None:
    dvc(cfg, "push", "-q", *(("-r", remote) if remote else ()), cfg.dvc_file.name)
    git(cfg, "add", cfg.dvc_file.name, ".gitignore")
    git(cfg, *identity(cfg), "commit", "-q", "-m", f"Dataset {tag}", "-m", summary)
    tag_version(cfg, tag, summary)


def tag_version(cfg: VersionConfig, tag: str, summary: str) -> None:
    """The last step: an annotated tag naming the version (a separate function so tests can make it fail)."""
    git(cfg, *identity(cfg), "tag", "-a", tag, "-m", f"Dataset {tag}\n\n{summary}")


def commit_version(cfg: VersionConfig, remote: Optional[str] = None, progress: bool = False) -> CommitResult:
    """Validate, then version data/ as dataset-vN; nothing new gives no version; a failure leaves none behind."""
    schema = LabelSchema.load(cfg.data_dir / SCHEMA) if (cfg.data_dir / SCHEMA).exists() else None
    if schema is None:
        return CommitResult(None, 0, f"{cfg.data_dir} holds no dataset (no {SCHEMA}); nothing to version")
    rows = validate(cfg.data_dir, schema, progress)
    if not rows:
        return CommitResult(None, 0, "the dataset is empty; nothing to version")
    head, last, before = git(cfg, "rev-parse", "HEAD", check=False) or None, latest(cfg), _snapshot(cfg)
    tag = f"{TAG_PREFIX}{(last.number if last else 0) + 1}"
    try:
        dvc(cfg, "add", "-q", cfg.data)
        md5 = md5_of(cfg.dvc_file.read_text())
        if last and md5 == last.md5:
            _restore(cfg, head, tag, before)
            return CommitResult(None, len(rows), f"no change since {last.tag}; no new version")
        _steps(cfg, tag, _summary(cfg, rows, md5), remote)
    except BaseException as exc:
        _restore(cfg, head, tag, before)
        raise VersioningError(f"versioning stopped, nothing was versioned ({exc}); fix the cause and run again") from exc
    version = Version(tag, int(tag.removeprefix(TAG_PREFIX)), git(cfg, "rev-parse", "HEAD"), md5)
    return CommitResult(version, len(rows), f"{tag}: {len(rows)} images")


def checkout_version(cfg: VersionConfig, tag: str, dest: Path) -> Path:
    """The data folder of a version, materialised at dest (from the local cache, else the DVC remote)."""
    from dvc.api import DVCFileSystem

    if tag not in git(cfg, "tag", "-l", tag).split():
        known = ", ".join(v.tag for v in versions(cfg)) or "none"
        raise VersioningError(f"unknown dataset version {tag!r}; versions: {known}")
    fs = DVCFileSystem(str(cfg.root), rev=tag)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fs.get(f"/{cfg.data}", str(dest), recursive=True)
    return dest
