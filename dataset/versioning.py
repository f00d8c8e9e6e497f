"""Dataset versions with DVC and git: validate, ``dvc add``, push, commit, tag ``dataset-vN``; all or nothing.

A version is a git tag whose commit holds ``data.dvc``; its files are in the DVC remote before the tag exists.
If any step fails, the repository is put back as it was (the data folder itself is never touched), so no half
version is left behind and the command can simply be run again.
"""
from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import yaml

TAG_PREFIX = "dataset-v"
IDENTITY = ("-c", "user.name=grainloop", "-c", "user.email=grainloop@localhost")


class VersioningError(RuntimeError):
    """A git or DVC step failed; the message says which and what it printed (never a credential)."""


@dataclass(frozen=True)
class RemoteConfig:
    """The DVC remote: a local folder by default, or s3://bucket/path with an endpoint (credentials from env)."""

    url: str = ".grainloop/dvc-remote"
    name: str = "storage"
    endpoint_url: Optional[str] = None


@dataclass(frozen=True)
class VersionConfig:
    root: Path  # the git repository holding data.dvc
    data: str = "data"

    @property
    def data_dir(self) -> Path:
        return self.root / self.data

    @property
    def dvc_file(self) -> Path:
        return self.root / f"{self.data}.dvc"


@dataclass(frozen=True)
class Version:
    tag: str
    number: int
    commit: str
    md5: str


def run(args: Sequence[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True)
    if check and done.returncode:
        raise VersioningError(f"{' '.join(args[:3])} failed in {cwd}: {(done.stderr or done.stdout).strip()[-800:]}")
    return done


def git(cfg: VersionConfig, *args: str, check: bool = True) -> str:
    return run(["git", *args], cfg.root, check).stdout.strip()


def dvc(cfg: VersionConfig, *args: str) -> str:
    return run([sys.executable, "-m", "dvc", *args], cfg.root).stdout.strip()


def identity(cfg: VersionConfig) -> tuple[str, ...]:
    """Use the user's git identity; fall back to a neutral one where none is configured (CI, fresh machines)."""
    return () if git(cfg, "config", "user.email", check=False) else IDENTITY


def init(cfg: VersionConfig, remote: RemoteConfig = RemoteConfig()) -> None:
    """Make root a DVC project with analytics off and a default remote; commit the configuration."""
    if not (cfg.root / ".git").exists():
        git(cfg, "init", "-q")
    if not (cfg.root / ".dvc").exists():
        dvc(cfg, "init", "-q")
    dvc(cfg, "config", "core.analytics", "false")
    dvc(cfg, "remote", "add", "-d", "-f", remote.name, remote.url)  # a relative folder is taken from the root
    if remote.endpoint_url:
        dvc(cfg, "remote", "modify", remote.name, "endpointurl", remote.endpoint_url)
    git(cfg, "add", ".dvc/config", ".dvcignore")
    if git(cfg, "status", "--porcelain", ".dvc/config", ".dvcignore"):
        git(cfg, *identity(cfg), "commit", "-q", "-m", "Initialise DVC for dataset versions")


def md5_of(dvc_text: str) -> str:
    """The md5 of the first output of a .dvc file's text ("" when it has none)."""
    return (((yaml.safe_load(dvc_text) or {}).get("outs") or [{}])[0]).get("md5", "")


def versions(cfg: VersionConfig) -> list[Version]:
    """Every dataset-vN tag, oldest first."""
    tags = [t for t in git(cfg, "tag", "-l", f"{TAG_PREFIX}*").split() if re.fullmatch(rf"{TAG_PREFIX}\d+", t)]
    out = []
    for tag in sorted(tags, key=lambda t: int(t.removeprefix(TAG_PREFIX))):
        commit = git(cfg, "rev-list", "-n", "1", tag)
        text = git(cfg, "show", f"{tag}:{cfg.dvc_file.name}", check=False)
        out.append(Version(tag, int(tag.removeprefix(TAG_PREFIX)), commit, md5_of(text)))
    return out


def latest(cfg: VersionConfig) -> Optional[Version]:
    found = versions(cfg)
    return found[-1] if found else None
