"""Metadata a reviewer expects of a release (issue 17, item 1): the card's Hugging Face YAML header, per-image
licenses in the manifest and COCO, a citation naming only annotators who agreed to be named, and a Croissant
file that mlcroissant validates (offline) and reads records from."""
import csv
import json
import socket
from dataclasses import replace

import pytest

from dataset.annotators import Annotator, credits, load_annotators
from dataset.card import COCO_FILE, CROISSANT_FILE, read_header
from dataset.croissant import load_rai, validate
from dataset.licenses import LicenseChoice, load_overrides
from dataset.manifest import read_manifest
from dataset.release import ReleaseInfo, write_release
from dataset.splits import SplitConfig
from dataset.store import add_items
from foundation.schema import binary_schema
from ml.synthetic import SyntheticConfig, write_dataset
from tests.helpers import synthetic_items

ACCOUNTS = ("ana@lab.org", "Bo@Lab.org", "cy@lab.org")  # Bo as Label Studio may spell it
PEOPLE = (Annotator("ana@lab.org", "Ana Ruiz", True), Annotator("bo@lab.org", "Bo Chen", False),
          Annotator("dee@lab.org", "Dee Park", True))  # Dee agreed but annotated nothing in this release


def _provenance(n: int, item) -> dict:
    if n == 0:  # masks imported with their images, under their own license
        return {"source": "emps", "license": "CC-BY-4.0", "attribution": "EMPS authors"}
    return {**item.provenance, "ls_task_id": n, "annotators": [ACCOUNTS[n % 3], ACCOUNTS[(n + 1) % 3]][: 1 + n % 2]}


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("meta")
    write_dataset(tmp / "syn", 6, SyntheticConfig(height=48, width=64), seed=5)
    items = [replace(i, provenance=_provenance(n, i))
             for n, i in enumerate(synthetic_items(tmp / "syn", {"source": "labelstudio"}))]
    add_items(tmp / "data", items, binary_schema(), SplitConfig(train=0.4, val=0.2, test=0.4))
    rows = read_manifest(tmp / "data")
    with open(tmp / "overrides.csv", "w", newline="") as f:
        csv.writer(f).writerows([("id", "license", "attribution"), (rows[1].id, "cc0-1.0", "Lab X, M. Smith")])
    overrides, urls = load_overrides(tmp / "overrides.csv")
    info = ReleaseInfo("dataset-v2", "md5", "sha", url="https://doi.org/10.0000/example", creators=("Lab Lead",),
                       licenses=LicenseChoice("CC-BY-SA-4.0", "Lab X", overrides, urls), annotators=PEOPLE)
    card = write_release(tmp / "data", tmp / "release", info)
    return card.parent, rows


def test_the_card_starts_with_the_hugging_face_yaml_header(release):
    folder, rows = release
    head = read_header((folder / "README.md").read_text())
    assert head["pretty_name"] == "grainloop SEM grain segmentation benchmark (dataset-v2)"
    assert sorted(head["license"]) == ["cc-by-4.0", "cc-by-sa-4.0", "cc0-1.0"]
    assert head["annotations_creators"] == ["expert-generated", "found"]
    assert head["source_datasets"] == ["extended|emps", "original"]
    assert head["size_categories"] == ["n<1K"]
    assert head["task_categories"] == ["image-segmentation"]
    assert "instance-segmentation" in head["task_ids"] and "scanning-electron-microscopy" in head["tags"]
    from huggingface_hub import DatasetCard  # Hugging Face's own reader sees the same fields (no network)

    data = DatasetCard((folder / "README.md").read_text()).data
    assert (data.pretty_name, data.size_categories, data.task_categories) == (
        head["pretty_name"], ["n<1K"], ["image-segmentation"])


def test_each_image_carries_its_license_and_attribution_into_the_manifest_and_coco(release):
    folder, rows = release
    released = {r.id: r for r in read_manifest(folder)}
    assert (released[rows[0].id].license, released[rows[0].id].attribution) == ("CC-BY-4.0", "EMPS authors")
    assert (released[rows[1].id].license, released[rows[1].id].attribution) == ("CC0-1.0", "Lab X, M. Smith")
    assert {(r.license, r.attribution) for r in rows[2:] for r in [released[r.id]]} == {("CC-BY-SA-4.0", "Lab X")}
    doc = json.loads((folder / COCO_FILE).read_text())
    licenses = {lic["id"]: lic for lic in doc["licenses"]}
    assert len(licenses) == 3 and all(lic["name"] and lic["url"].startswith("https://") for lic in licenses.values())
    for image in doc["images"]:
        row = released[image["grainloop_id"]]
        assert licenses[image["license"]]["spdx"] == row.license and image["attribution"] == row.attribution
    assert licenses[doc["images"][1]["license"]]["url"] == "https://creativecommons.org/publicdomain/zero/1.0/"


def test_the_citation_names_only_annotators_who_agreed(release):
    folder, _ = release
    text = (folder / "README.md").read_text()
    bibtex = text[text.index("@misc"):]
    assert "author = {Lab Lead and Ana Ruiz}," in bibtex  # Dee agreed but has no image here; Bo did not agree
    assert "- Annotators: 3 (Ana Ruiz; 2 not named (annotator-N in the manifest))." in text
    assert "howpublished = {\\url{https://doi.org/10.0000/example}}" in bibtex
    everything = text + "".join((folder / name).read_text() for name in ("manifest.csv", COCO_FILE, CROISSANT_FILE))
    for hidden in ("Bo Chen", "bo@lab.org", "Bo@Lab.org", "cy@lab.org", "Dee Park"):
        assert hidden not in everything
    names = {a for r in read_manifest(folder) for a in r.annotators}
    assert names == {"Ana Ruiz", "annotator-1", "annotator-2"}  # bo and cy, by account order
    assert json.loads((folder / CROISSANT_FILE).read_text())["creator"] == [
        {"@type": "sc:Person", "name": "Lab Lead"}, {"@type": "sc:Person", "name": "Ana Ruiz"}]


def test_without_an_annotator_list_nobody_is_named():
    credit = credits(["ana@lab.org", "bo@lab.org", "ana@lab.org"], ())
    assert credit.named == () and credit.label == {"ana@lab.org": "annotator-1", "bo@lab.org": "annotator-2"}


def test_the_croissant_file_validates_offline_and_its_records_read_back(release, monkeypatch):
    import mlcroissant as mlc

    def no_network(*args, **kwargs):
        raise OSError("no network in this test")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    folder, rows = release
    path = folder / CROISSANT_FILE
    assert validate(path) == []
    doc = json.loads(path.read_text())
    assert doc["conformsTo"] == ["http://mlcommons.org/croissant/1.0", "http://mlcommons.org/croissant/RAI/1.0"]
    for key in ("rai:dataCollection", "rai:dataAnnotationProtocol", "rai:annotationsPerItem", "rai:dataBiases",
                "rai:dataLimitations", "rai:personalSensitiveInformation", "rai:dataUseCases"):
        assert doc[key]
    files = {d["name"]: d for d in doc["distribution"]}
    assert len(files["manifest.csv"]["sha256"]) == 64 and files["image-files"]["includes"] == "images/*"
    dataset = mlc.Dataset(jsonld=path)
    assert not dataset.metadata.ctx.issues.warnings
    images = list(dataset.records("images"))
    assert sorted(r["images/id"].decode() for r in images) == sorted(r.id for r in rows)
    assert {r["images/license"].decode() for r in images} == {"CC-BY-4.0", "CC0-1.0", "CC-BY-SA-4.0"}
    coco = json.loads((folder / COCO_FILE).read_text())
    assert len(list(dataset.records("grains"))) == len(coco["annotations"])
    assert len(list(dataset.records("masks"))) == len(rows)


def test_a_broken_croissant_file_is_reported(release, tmp_path):
    doc = json.loads((release[0] / CROISSANT_FILE).read_text())
    doc["distribution"][0].pop("sha256")
    (tmp_path / CROISSANT_FILE).write_text(json.dumps(doc))
    assert any("sha256" in p or "md5" in p for p in validate(tmp_path / CROISSANT_FILE))


def test_annotator_lists_in_yaml_and_csv(tmp_path):
    (tmp_path / "a.yaml").write_text("annotators:\n- {id: Ana@Lab.org, name: Ana Ruiz, named_in_citations: yes}\n"
                                     "- {id: bo@lab.org}\n")
    (tmp_path / "a.csv").write_text("id,name,named_in_citations\nana@lab.org,Ana Ruiz,true\nbo@lab.org,,\n")
    want = (Annotator("ana@lab.org", "Ana Ruiz", True), Annotator("bo@lab.org"))
    assert load_annotators(tmp_path / "a.yaml") == load_annotators(tmp_path / "a.csv") == want
    assert load_annotators(None) == ()


def test_a_bad_annotator_list_lists_every_problem(tmp_path):
    (tmp_path / "bad.yaml").write_text(
        "- {id: a@lab.org, named_in_citations: maybe}\n- {id: b@lab.org, named_in_citations: true}\n"
        "- {id: c@lab.org, email: c@lab.org}\n- {name: Nobody}\n- {id: B@lab.org}\n")
    with pytest.raises(ValueError) as err:
        load_annotators(tmp_path / "bad.yaml")
    for part in ("must be true or false, got 'maybe'", "b@lab.org agrees to be named but has no name",
                 "unknown field(s) email", "entry 4: no id", "listed twice: b@lab.org"):
        assert part in str(err.value)
    with pytest.raises(FileNotFoundError):
        load_annotators(tmp_path / "missing.yaml")


def test_license_overrides_are_checked(release, tmp_path):
    folder, rows = release
    (tmp_path / "stray.csv").write_text("id,license\nnot-an-image,CC-BY-4.0\n")
    (tmp_path / "odd.csv").write_text(f"id,license\n{rows[2].id},LicenseRef-lab\n")
    (tmp_path / "odd_url.csv").write_text(f"id,license,url\n{rows[2].id},LicenseRef-lab,https://lab.org/terms\n")
    (tmp_path / "cols.csv").write_text("image,licence\nx,y\n")
    data = folder.parent / "data"
    for name, match in (("stray.csv", "not in the release: not-an-image"),
                        ("odd.csv", "without a URL: LicenseRef-lab")):
        with pytest.raises(ValueError, match=match):
            write_release(data, tmp_path / name, ReleaseInfo("dataset-v2", licenses=LicenseChoice(
                "CC-BY-4.0", "", *load_overrides(tmp_path / name))))
    with pytest.raises(ValueError, match="columns must be id, license, attribution, url"):
        load_overrides(tmp_path / "cols.csv")
    card = write_release(data, tmp_path / "r", ReleaseInfo("dataset-v2", licenses=LicenseChoice(
        "CC-BY-4.0", "", *load_overrides(tmp_path / "odd_url.csv"))))
    head = read_header(card.read_text())
    assert head["license_name"] == "LicenseRef-lab" and head["license_link"] == "https://lab.org/terms"
    assert "other" in head["license"]
    assert {"name": "LicenseRef-lab", "url": "https://lab.org/terms"}.items() <= next(
        lic for lic in json.loads((card.parent / COCO_FILE).read_text())["licenses"]
        if lic["spdx"] == "LicenseRef-lab").items()


def test_rai_properties_from_a_file_replace_the_defaults_and_still_validate(release, tmp_path):
    folder, _ = release
    (tmp_path / "rai.yaml").write_text("rai:dataBiases: [Only ferritic steels, one SEM]\n"
                                       "rai:dataSocialImpact: None expected.\n")
    rai = load_rai(tmp_path / "rai.yaml")
    card = write_release(folder.parent / "data", tmp_path / "r", ReleaseInfo("dataset-v2", rai=rai))
    doc = json.loads((card.parent / CROISSANT_FILE).read_text())
    assert doc["rai:dataBiases"] == ["Only ferritic steels", "one SEM"]
    assert doc["rai:dataSocialImpact"] == "None expected."
    assert doc["rai:dataLimitations"]  # the defaults stay where the file says nothing
    assert validate(card.parent / CROISSANT_FILE) == []
    assert load_rai(None) == {}
    for text, match in (("rai:dataBias: x\n", "unknown RAI properties rai:dataBias; valid: rai:dataCollection"),
                        ("rai:dataBiases: {a: 1}\n", "rai:dataBiases must be a text or a list of texts"),
                        ("- x\n", "expected a mapping")):
        (tmp_path / "bad.yaml").write_text(text)
        with pytest.raises(ValueError, match=match):
            load_rai(tmp_path / "bad.yaml")


def test_grainloop_dataset_annotators_lists_the_recorded_accounts_and_keeps_consent(release, tmp_path):
    from typer.testing import CliRunner

    from grainloop.cli import app

    folder, _ = release
    repo = folder.parent
    (repo / "annotators.yaml").write_text("- {id: ana@lab.org, name: Ana Ruiz, named_in_citations: true}\n")
    done = CliRunner().invoke(app, ["dataset", "annotators", "--repo", str(repo)])
    assert done.exit_code == 0, done.output
    assert "3 annotator(s), 2 new, 1 named" in " ".join(done.output.split())
    assert load_annotators(repo / "annotators.yaml") == (
        Annotator("ana@lab.org", "Ana Ruiz", True), Annotator("bo@lab.org"), Annotator("cy@lab.org"))
    again = CliRunner().invoke(app, ["dataset", "annotators", "--repo", str(repo)])
    assert "3 annotator(s), 0 new" in " ".join(again.output.split())
