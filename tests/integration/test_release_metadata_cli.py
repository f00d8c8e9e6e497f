"""Release metadata through the CLI with real git and DVC: `grainloop dataset import --license --attribution`,
then `grainloop dataset release` with the repository's annotators.yaml, a per-image license CSV, a creator and a
URL; the card, the COCO licenses, the citation and croissant.json as a reviewer reads them."""
from __future__ import annotations

import json
from dataclasses import replace

from typer.testing import CliRunner

from dataset.card import COCO_FILE, CROISSANT_FILE, read_header
from dataset.commit import commit_version
from dataset.croissant import validate
from dataset.manifest import read_manifest
from dataset.store import add_items
from foundation.schema import binary_schema
from grainloop.cli import app
from ml.synthetic import SyntheticConfig, write_dataset
from tests.helpers import synthetic_items


def test_a_release_through_the_cli_carries_licenses_consent_and_croissant(repo, tmp_path, synthetic_dataset):
    cli = CliRunner()
    imported = cli.invoke(app, ["dataset", "import", "--images", str(synthetic_dataset / "images"), "--masks",
                                str(synthetic_dataset / "masks"), "--repo", str(repo.root), "--source", "lab-archive",
                                "--license", "cc-by-4.0", "--attribution", "Lab X archive"])
    assert imported.exit_code == 0, imported.output + repr(imported.exception)
    first = read_manifest(repo.data_dir)
    assert {(r.license, r.attribution) for r in first} == {("CC-BY-4.0", "Lab X archive")}  # the SPDX spelling
    write_dataset(tmp_path / "labelled", 3, SyntheticConfig(height=64, width=64), seed=11)
    annotated = [replace(i, id=f"ls-{i.id}", provenance={"source": i.image.name, "ls_task_id": n,
                                                          "annotators": ["ana@lab.org", "bo@lab.org"]})
                 for n, i in enumerate(synthetic_items(tmp_path / "labelled", {}), start=1)]
    add_items(repo.data_dir, annotated, binary_schema())
    tag = commit_version(repo).version.tag
    (repo.root / "annotators.yaml").write_text("- {id: ana@lab.org, name: Ana Ruiz, named_in_citations: true}\n"
                                               "- {id: bo@lab.org, name: Bo Chen, named_in_citations: false}\n")
    (tmp_path / "licenses.csv").write_text(f"id,license,attribution\n{annotated[0].id},CC0-1.0,M. Smith\n")
    (tmp_path / "rai.yaml").write_text("rai:dataBiases: Only one SEM and one steel.\n")
    out = tmp_path / "release"
    made = cli.invoke(app, ["dataset", "release", tag, "--repo", str(repo.root), "--out", str(out),
                            "--license", "CC-BY-SA-4.0", "--attribution", "Lab X", "--image-licenses",
                            str(tmp_path / "licenses.csv"), "--creator", "Lab Lead", "--url", "https://lab.org/sem",
                            "--rai", str(tmp_path / "rai.yaml")])
    assert made.exit_code == 0, made.output + repr(made.exception)
    card = (out / "README.md").read_text()
    head = read_header(card)
    assert sorted(head["license"]) == ["cc-by-4.0", "cc-by-sa-4.0", "cc0-1.0"]
    assert head["source_datasets"] == ["extended|lab-archive", "original"]
    assert "author = {Lab Lead and Ana Ruiz}," in card and "Bo Chen" not in card and "bo@lab.org" not in card
    rows = {r.id: r for r in read_manifest(out)}
    assert rows[annotated[0].id].license == "CC0-1.0" and rows[annotated[1].id].license == "CC-BY-SA-4.0"
    assert rows[first[0].id].license == "CC-BY-4.0" and rows[annotated[1].id].annotators == ("Ana Ruiz", "annotator-1")
    doc = json.loads((out / COCO_FILE).read_text())
    by_id = {lic["id"]: lic["spdx"] for lic in doc["licenses"]}
    assert all(by_id[im["license"]] == rows[im["grainloop_id"]].license for im in doc["images"])
    assert validate(out / CROISSANT_FILE) == []
    croissant = json.loads((out / CROISSANT_FILE).read_text())
    assert croissant["url"] == "https://lab.org/sem" and croissant["rai:dataBiases"] == "Only one SEM and one steel."

    bad = cli.invoke(app, ["dataset", "release", tag, "--repo", str(repo.root), "--out", str(tmp_path / "r2"),
                           "--annotators", str(tmp_path / "missing.yaml")])
    assert bad.exit_code == 1 and "not found" in " ".join(bad.output.split())
