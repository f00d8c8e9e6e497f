"""`grainloop dataset init | import | validate | commit | list | prepare | release`: versions of data/ in DVC."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from grainloop.options import load_schema

console = Console(stderr=True)
app = typer.Typer(no_args_is_help=True, help="Dataset versions: validate, version with DVC, release.")

Repo = Annotated[Path, typer.Option(help="the git repository that holds data.dvc")]
Data = Annotated[str, typer.Option(help="the dataset folder inside the repository")]


def _cfg(repo: Path, data: str):
    from dataset.versioning import VersionConfig

    return VersionConfig(repo.resolve(), data)


def _fail(exc: Exception) -> None:
    console.print(f"[red]{exc}[/]")
    raise typer.Exit(1)


@app.command()
def init(repo: Repo = Path("."), data: Data = "data",
         remote: Annotated[str, typer.Option(help="local folder, or s3://bucket/path")] = ".grainloop/dvc-remote",
         endpoint_url: Annotated[Optional[str], typer.Option(help="S3-compatible endpoint, e.g. MinIO")] = None,
         schema: Annotated[Optional[Path], typer.Option(help="label schema of a new dataset")] = None) -> None:
    """Make the repository a DVC project with a default remote (credentials come from the environment). A
    missing dataset folder gets the empty first state (schema and header-only manifest) that data.dvc records."""
    from dataset.versioning import RemoteConfig, dvc, init as do_init
    from dataset.manifest import write_manifest
    from dataset.store import ensure_schema

    cfg = _cfg(repo, data)
    do_init(cfg, RemoteConfig(url=remote, endpoint_url=endpoint_url))
    if not cfg.data_dir.exists():
        ensure_schema(cfg.data_dir, load_schema(schema))
        write_manifest(cfg.data_dir, [])
        if cfg.dvc_file.exists():  # a fresh clone: the same content as data.dvc records, now in the cache too
            dvc(cfg, "commit", "-q", "-f", cfg.dvc_file.name)
        console.print(f"{cfg.data_dir}: an empty dataset (schema and manifest header)")
    console.print(f"DVC ready in {repo.resolve()} (remote {remote})")


@app.command("import")
def import_(
    images: Annotated[Path, typer.Option(help="image folder")],
    masks: Annotated[Path, typer.Option(help="folder of class maps, or of instance maps with --mask-kind instance")],
    mask_kind: str = "class", source: Annotated[str, typer.Option(help="where the images come from")] = "",
    schema: Annotated[Optional[Path], typer.Option(help="label schema YAML")] = None,
    repo: Repo = Path("."), data: Data = "data",
    license: Annotated[str, typer.Option(help="the images' SPDX license id, e.g. CC-BY-4.0 (manifest column)")] = "",
    attribution: Annotated[str, typer.Option(help="who to credit for the images, as their license asks")] = "",
) -> None:
    """Add images with masks to the dataset folder (frozen splits; bad pairs are listed and skipped)."""
    from ml.data import check_mask_kind, find_samples
    from dataset.licenses import canonical
    from dataset.lock import workspace_lock
    from dataset.store import Incoming, add_items

    kind = {"class": lambda f: (f.mask, None), "instance": lambda f: (None, f.mask)}
    try:
        check_mask_kind(mask_kind)
    except ValueError as exc:
        _fail(exc)
    prov = {"source": source or str(images), "license": canonical(license) if license else None,
            "attribution": attribution or None}
    items = [Incoming(f.id, f.images[0], *kind[mask_kind](f), provenance=dict(prov))
             for f in find_samples([images], masks)]
    with workspace_lock(repo):  # the loop's sync may be writing data/ too
        report = add_items(_cfg(repo, data).data_dir, items, load_schema(schema), progress=True)
    for item_id, reason in report.skipped:
        console.print(f"[yellow]skipped {item_id}[/]: {reason}")
    console.print(f"added {len(report.added)}, updated {len(report.updated)}, unchanged {len(report.unchanged)}, "
                  f"skipped {len(report.skipped)}")


@app.command()
def validate(repo: Repo = Path("."), data: Data = "data") -> None:
    """Check the dataset folder without changing anything; every problem is listed."""
    from dataset.validate import DatasetInvalid, validate as check
    from foundation.schema import LabelSchema

    cfg = _cfg(repo, data)
    try:
        rows = check(cfg.data_dir, LabelSchema.load(cfg.data_dir / "schema.yaml"), progress=True)
    except (DatasetInvalid, FileNotFoundError) as exc:
        _fail(exc)
    console.print(f"{len(rows)} images, valid")


@app.command()
def commit(repo: Repo = Path("."), data: Data = "data",
           remote: Annotated[Optional[str], typer.Option(help="DVC remote name (default: the default remote)")] = None) -> None:
    """Validate, then version the dataset as dataset-vN: dvc add, push, git commit, tag. Nothing new: no version."""
    from dataset.commit import commit_version
    from dataset.versioning import VersioningError
    from dataset.validate import DatasetInvalid

    try:
        result = commit_version(_cfg(repo, data), remote, progress=True)
    except (DatasetInvalid, VersioningError) as exc:
        _fail(exc)
    console.print(result.message)


@app.command("list")
def list_(repo: Repo = Path("."), data: Data = "data") -> None:
    """The dataset versions, oldest first."""
    from dataset.versioning import versions

    for v in versions(_cfg(repo, data)):
        print(f"{v.tag}\t{v.commit[:10]}\t{v.md5}")


@app.command()
def prepare(data: Annotated[Path, typer.Option(help="dataset folder")] = Path("data"),
            out: Annotated[Path, typer.Option(help="folder for splits.json and summary.json")] = Path("artifacts/prepared")) -> None:
    """Pipeline stage: validate the dataset and freeze its split lists for training and evaluation."""
    from dataset.manifest import by_split
    from dataset.validate import validate as check
    from foundation.schema import LabelSchema

    rows = check(data, LabelSchema.load(data / "schema.yaml"), progress=True)
    out.mkdir(parents=True, exist_ok=True)
    splits = by_split(rows)
    (out / "splits.json").write_text(json.dumps(splits, indent=1))
    (out / "summary.json").write_text(json.dumps({k: len(v) for k, v in splits.items()}, indent=1))
    console.print(f"{len(rows)} images: " + ", ".join(f"{k} {len(v)}" for k, v in splits.items()))


@app.command()
def annotators(repo: Repo = Path("."), data: Data = "data", out: Annotated[Optional[Path], typer.Option(
        help="the annotator list to write or extend (default REPO/annotators.yaml)")] = None) -> None:
    """List every annotator account the dataset records in the annotator list, new ones not named; then set their
    name and named_in_citations: true where they agree to be named in release citations."""
    from dataset.annotators import ANNOTATORS_FILE, format_annotators, load_annotators, with_accounts
    from dataset.manifest import read_manifest

    path = out or repo / ANNOTATORS_FILE
    try:
        people, added = with_accounts(load_annotators(path) if path.exists() else (),
                                      [a for r in read_manifest(_cfg(repo, data).data_dir) for a in r.annotators])
    except ValueError as exc:
        _fail(exc)
    path.write_text(format_annotators(people))
    named = sum(a.named_in_citations for a in people)
    console.print(f"{path}: {len(people)} annotator(s), {added} new, {named} named in citations")


@app.command()
def release(tag: Annotated[str, typer.Argument(help="a dataset version, e.g. dataset-v3")],
            out: Annotated[Optional[Path], typer.Option(help="release folder (default releases/TAG)")] = None,
            repo: Repo = Path("."), data: Data = "data",
            withhold_test_masks: Annotated[Optional[Path], typer.Option(
                help="private folder for the test split's masks and COCO annotations (a blind release: "
                     "`grainloop score` scores outside predictions against them)")] = None,
            license: Annotated[str, typer.Option(
                help="SPDX license id of images whose manifest row has none")] = "unknown",
            attribution: Annotated[str, typer.Option(help="attribution of images whose manifest row has none")] = "",
            image_licenses: Annotated[Optional[Path], typer.Option(
                help="CSV of per-image overrides: id,license,attribution,url (a url for licenses grainloop does not "
                     "know)")] = None,
            annotators: Annotated[Optional[Path], typer.Option(
                help="annotator list (YAML or CSV: id, name, named_in_citations); default REPO/annotators.yaml if it "
                     "exists; without one nobody is named")] = None,
            url: Annotated[str, typer.Option(help="where the release is published (DOI or web page)")] = "",
            rai: Annotated[Optional[Path], typer.Option(
                help="YAML of Croissant RAI properties (rai:dataBiases: ..., text or list) replacing the defaults "
                     "in croissant.json")] = None,
            creator: Annotated[Optional[list[str]], typer.Option(help="a maintainer to name first in the citation "
                                                                      "(repeat)")] = None) -> None:
    """A benchmark release: images, PNG masks, COCO JSON, manifest, frozen splits, a dataset card and croissant.json."""
    import tempfile

    from dataset.annotators import ANNOTATORS_FILE, load_annotators
    from dataset.commit import checkout_version
    from dataset.croissant import load_rai
    from dataset.licenses import LicenseChoice, canonical, load_overrides
    from dataset.versioning import VersioningError, versions
    from dataset.release import ReleaseInfo, write_release

    cfg = _cfg(repo, data)
    default_list = repo / ANNOTATORS_FILE
    try:
        people = load_annotators(annotators or (default_list if default_list.exists() else None))
        overrides, urls, rai_text = *load_overrides(image_licenses), load_rai(rai)
        version = next((v for v in versions(cfg) if v.tag == tag), None)
        with tempfile.TemporaryDirectory() as tmp:
            folder = checkout_version(cfg, tag, Path(tmp) / "data")  # an unknown tag stops here
            info = ReleaseInfo(tag, version.md5, version.commit, url=url, creators=tuple(creator or ()),
                               licenses=LicenseChoice(canonical(license), attribution, overrides, urls),
                               annotators=people, rai=rai_text)
            card = write_release(folder, out or Path("releases") / tag, info, True, withhold_test_masks)
    except (VersioningError, ValueError, FileNotFoundError) as exc:
        _fail(exc)
    console.print(f"release written: {card.parent}")
