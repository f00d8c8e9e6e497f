"""`grainloop dataset commit` and reading a version back: the all-or-nothing steps over dataset.versioning."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from foundation.schema import LabelSchema
from dataset.lock import workspace_lock
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


def version_summary(cfg: VersionConfig, tag: str) -> dict:
    """What a version's tag message says of it ({} when it says nothing): images, images per split, md5."""
    message = git(cfg, "tag", "-l", "--format=%(contents)", tag, check=False)
    return next((json.loads(line) for line in message.splitlines() if line.startswith("{")), {})


def _snapshot(cfg: VersionConfig) -> dict[Path, Optional[bytes]]:
    paths = (cfg.dvc_file, cfg.root / ".gitignore")
    return {p: p.read_bytes() if p.exists() else None for p in paths}


def _restore(cfg: VersionConfig, head: Optional[str], tag: str, before: dict[Path, Optional[bytes]],
             ours: Optional[str] = None) -> None:
    """Put git back as it was: no new tag or commit, data.dvc and .gitignore as before; data/ is left alone. Only
    what this attempt made is undone: the tag if it names ``ours`` (the commit this attempt made), that commit."""
    if ours and git(cfg, "rev-list", "-n", "1", tag, check=False) == ours:
        git(cfg, "tag", "-d", tag, check=False)
    if head and ours and git(cfg, "rev-parse", "HEAD", check=False) == ours:
        git(cfg, "reset", "-q", "--soft", head)
    git(cfg, "reset", "-q", "--", *(p.name for p in before), check=False)
    for path, content in before.items():
        if content is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(content)


def _push(cfg: VersionConfig, remote: Optional[str]) -> None:
    dvc(cfg, "push", "-q", *(("-r", remote) if remote else ()), cfg.dvc_file.name)


def _steps(cfg: VersionConfig, tag: str, summary: str, remote: Optional[str], made: dict) -> None:
    _push(cfg, remote)
    git(cfg, "add", cfg.dvc_file.name, ".gitignore")
    git(cfg, *identity(cfg), "commit", "-q", "-m", f"Dataset {tag}", "-m", summary)
    made["commit"] = git(cfg, "rev-parse", "HEAD")
    if git(cfg, "tag", "-l", tag):
        raise VersioningError(f"{tag} already exists (made by another writer); left as it is")
    tag_version(cfg, tag, summary)


def tag_version(cfg: VersionConfig, tag: str, summary: str) -> None:
    """The last step: an annotated tag naming the version (a separate function so tests can make it fail)."""
    git(cfg, *identity(cfg), "tag", "-a", tag, "-m", f"Dataset {tag}\n\n{summary}")


def recover(cfg: VersionConfig, remote: Optional[str] = None) -> Optional[str]:
    """Finish or undo the version a killed writer left half-made (under the workspace lock); what it did, if any.
    HEAD a "Dataset dataset-vN" commit without its tag: the data is pushed again (a no-op when the remote has it)
    and the tag made; if the push fails, the commit is undone instead. data.dvc staged but not committed: unstaged
    (the next commit_version adds it again)."""
    match = re.fullmatch(rf"Dataset ({TAG_PREFIX}\d+)", git(cfg, "log", "-1", "--format=%s", check=False))
    if match and not git(cfg, "tag", "-l", match[1]):
        tag, names = match[1], (cfg.dvc_file.name, ".gitignore")
        git(cfg, "checkout", "-q", "HEAD", "--", cfg.dvc_file.name)  # push what the commit records
        try:
            _push(cfg, remote)
        except VersioningError as exc:
            git(cfg, "reset", "-q", "--soft", "HEAD~1")
            git(cfg, "reset", "-q", "--", *names, check=False)
            return f"undid the untagged commit of {tag}: its data could not be pushed ({exc})"
        tag_version(cfg, tag, git(cfg, "log", "-1", "--format=%b"))
        return f"completed {tag}: tagged after checking its data is in the remote"
    if git(cfg, "diff", "--cached", "--name-only", "--", cfg.dvc_file.name, ".gitignore"):
        git(cfg, "reset", "-q", "--", cfg.dvc_file.name, ".gitignore")
        return "unstaged a data.dvc that no version committed"
    return None


def commit_version(cfg: VersionConfig, remote: Optional[str] = None, progress: bool = False) -> CommitResult:
    """Validate, then version data/ as dataset-vN; nothing new gives no version; a failure leaves none behind.
    Holds the workspace's writer lock, and first finishes or undoes a version a killed writer left half-made."""
    with workspace_lock(cfg.root):
        recover(cfg, remote)
        return _commit_version(cfg, remote, progress)


def _commit_version(cfg: VersionConfig, remote: Optional[str], progress: bool) -> CommitResult:
    schema = LabelSchema.load(cfg.data_dir / SCHEMA) if (cfg.data_dir / SCHEMA).exists() else None
    if schema is None:
        return CommitResult(None, 0, f"{cfg.data_dir} holds no dataset (no {SCHEMA}); nothing to version")
    rows = validate(cfg.data_dir, schema, progress)
    if not rows:
        return CommitResult(None, 0, "the dataset is empty; nothing to version")
    head, last, before = git(cfg, "rev-parse", "HEAD", check=False) or None, latest(cfg), _snapshot(cfg)
    tag, made = f"{TAG_PREFIX}{(last.number if last else 0) + 1}", {}
    try:
        dvc(cfg, "add", "-q", cfg.data)
        md5 = md5_of(cfg.dvc_file.read_text())
        if last and md5 == last.md5:
            _restore(cfg, head, tag, before)
            return CommitResult(None, len(rows), f"no change since {last.tag}; no new version")
        _steps(cfg, tag, _summary(cfg, rows, md5), remote, made)
    except BaseException as exc:
        _restore(cfg, head, tag, before, made.get("commit"))
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
