"""Scale-bar readings in a loop: which pixel size an image gets (metadata, a confirmed bar, the configured value,
a confident bar), the record of readings and decisions, the manifest's pixel_size_source, `grainloop scale`
(read, detect, list, confirm, reject) and what `grainloop status` lists as awaiting confirmation."""
import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image
from typer.testing import CliRunner

from dataset.manifest import read_manifest
from dataset.samples import SampleConfig, describe
from dataset.scales import (AWAITING, CONFIRMED, NO_BAR, REJECTED, USED, ScaleEntry, ScaleRecord,
                            choose_pixel_size)
from dataset.store import Incoming, add_items
from flows.loop_config import LabelingTarget, LoopConfig, save_loop_config
from flows.scale import decide, detect_scales, scale_record
from flows.status import scale_status
from flows.tracking import TrackingConfig
from foundation.instrument import PixelSize
from foundation.scalebar import ScaleReading
from foundation.schema import binary_schema
from ml.train import TrainConfig
from tests.scalebars import font, needs_ocr, scale_image

SURE = ScaleReading(0.025, "5 µm", 5, "um", 200.0, (450, 458, 410, 610), 0.93)
UNSURE = ScaleReading(0.01, "2 µm", 2, "um", 200.0, (450, 458, 410, 610), 0.5)
NO_METADATA = PixelSize(None, "unknown (no metadata)")


def test_the_pixel_size_comes_from_metadata_then_a_confirmed_bar_then_the_configured_value_then_a_sure_bar():
    metadata = PixelSize(0.004, "fei FEI_HELIOS [Scan] PixelWidth")
    assert choose_pixel_size(metadata, ScaleEntry("a", SURE, CONFIRMED), 0.3) == \
        PixelSize(0.004, "metadata: fei FEI_HELIOS [Scan] PixelWidth")
    confirmed = choose_pixel_size(NO_METADATA, ScaleEntry("a", UNSURE, CONFIRMED), 0.3)
    assert confirmed.value_um == 0.01 and confirmed.source == "scale-bar confirmed: 2 µm over 200.0 px"
    assert choose_pixel_size(NO_METADATA, ScaleEntry("a", SURE), 0.3) == PixelSize(0.3, "user (configured)")
    sure = choose_pixel_size(NO_METADATA, ScaleEntry("a", SURE), None)
    assert sure.value_um == 0.025 and sure.source.startswith("scale-bar: 5 µm over 200.0 px, confidence 0.93")
    assert not choose_pixel_size(NO_METADATA, ScaleEntry("a", UNSURE), None).known  # awaits a person
    assert choose_pixel_size(NO_METADATA, ScaleEntry("a", UNSURE), None, threshold=0.4).value_um == 0.01
    assert not choose_pixel_size(NO_METADATA, ScaleEntry("a", SURE, REJECTED), None).known
    assert choose_pixel_size(NO_METADATA, ScaleEntry("a", SURE, REJECTED), 0.3).source == "user (configured)"
    assert not choose_pixel_size(NO_METADATA, None, None).known


def test_the_record_keeps_readings_and_decisions(tmp_path):
    images = tmp_path / "images"
    record = ScaleRecord(tmp_path / "state" / "scale_bars.json", images)
    record.put(images / "a.png", SURE)
    record.put(images / "deep" / "b.png", UNSURE)
    record.put(images / "c.png", None)
    assert [e.image for e in record.awaiting()] == ["deep/b.png"]
    record.decide(["deep/b.png"], CONFIRMED)
    with pytest.raises(KeyError, match="c.png"):
        record.decide(["c.png"], CONFIRMED)
    with pytest.raises(ValueError, match="confirmed, rejected"):
        record.decide(["a.png"], "maybe")
    record.save()
    again = ScaleRecord.load(record.path, images)
    assert {k: e.state() for k, e in again.entries.items()} == {"a.png": USED, "deep/b.png": CONFIRMED, "c.png": NO_BAR}
    assert again.get(images / "deep" / "b.png").reading == UNSURE
    again.put(images / "deep" / "b.png", UNSURE)  # the same reading again keeps the decision
    assert again.get(images / "deep" / "b.png").decision == CONFIRMED
    again.put(images / "deep" / "b.png", SURE)  # another reading needs a decision of its own
    assert again.get(images / "deep" / "b.png").decision is None


def test_the_manifest_records_the_pixel_size_and_its_source(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.full((32, 32), 128, np.uint8)).save(images / "a.png")
    tifffile.imwrite(images / "b.tif", np.full((32, 32), 128, np.uint8), resolution=(2e4, 2e4),
                     resolutionunit="CENTIMETER")
    mask = tmp_path / "mask.png"
    Image.fromarray(np.pad(np.ones((8, 8), np.uint8), 12)).save(mask)
    record = ScaleRecord(tmp_path / "scale_bars.json", images)
    record.put(images / "a.png", UNSURE)
    record.decide(["a.png"], CONFIRMED)
    items = [describe(Incoming(name, images / f"{name}.{ext}", mask), SampleConfig(), record)
             for name, ext in (("a", "png"), ("b", "tif"))]
    add_items(tmp_path / "data", items, binary_schema())
    rows = {r.id: r for r in read_manifest(tmp_path / "data")}
    assert rows["a"].pixel_size_um == 0.01 and rows["a"].pixel_size_source.startswith("scale-bar confirmed: 2 µm")
    assert rows["b"].pixel_size_um == pytest.approx(0.5)
    assert rows["b"].pixel_size_source == "metadata: tiff XResolution (centimetre)"
    assert "pixel_size_source" in (tmp_path / "data" / "manifest.csv").read_text().splitlines()[0]


def _loop(tmp_path: Path) -> LoopConfig:
    images = tmp_path / "lab" / "images"
    images.mkdir(parents=True)
    target = LabelingTarget(tmp_path / "ls.json", "lab", images, tmp_path / "lab")
    return LoopConfig(tmp_path / "ws", target, binary_schema(), TrackingConfig.for_project(tmp_path / "ws", env={}),
                      TrainConfig())


@needs_ocr
def test_scale_commands_on_a_loop(tmp_path):
    from grainloop.cli import app

    loop = _loop(tmp_path)
    images = loop.labeling.images
    Image.fromarray(scale_image(200, "5 µm", font("DejaVuSans.ttf", 24))).save(images / "bar.png")
    Image.fromarray(scale_image(150, "300 nm", font("DejaVuSerif-Bold.ttf", 22), seed=3)).save(images / "b2.png")
    Image.fromarray(scale_image(200, None, bar=False)).save(images / "plain.png")
    tifffile.imwrite(images / "meta.tif", scale_image(200, "5 um"), resolution=(2e4, 2e4), resolutionunit="CENTIMETER")
    config = save_loop_config(loop, tmp_path / "loop.json")
    runner = CliRunner()
    result = runner.invoke(app, ["scale", "read", str(images / "bar.png"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["scale_bar"]["pixel_size_um"] == pytest.approx(5 / 200, rel=0.02)
    report = detect_scales(loop)
    assert report.with_metadata == 1 and len(report.read) == 3 and detect_scales(loop).kept == 3
    record = scale_record(loop)
    assert record.get(images / "plain.png").state() == NO_BAR
    assert record.get(images / "bar.png").reading.pixel_size_um == pytest.approx(0.025, rel=0.02)
    strict = LoopConfig(**{**loop.__dict__, "samples": SampleConfig(scale_bar_confidence=1.0)})
    status = scale_status(strict)
    assert status.states == {AWAITING: 2, NO_BAR: 1} and [a[0] for a in status.awaiting] == ["b2.png", "bar.png"]
    assert [e.image for e in decide(strict, [], CONFIRMED, all_awaiting=True)] == ["b2.png", "bar.png"]
    result = runner.invoke(app, ["scale", "reject", "b2.png", "--config", str(config)])
    assert result.exit_code == 0 and "1 reading(s) rejected" in result.output
    listed = json.loads(runner.invoke(app, ["scale", "list", "--json", "--config", str(config)]).stdout)
    assert {e["image"]: e["state"] for e in listed} == {"b2.png": REJECTED, "bar.png": CONFIRMED, "plain.png": NO_BAR}
    result = runner.invoke(app, ["scale", "confirm", "plain.png", "--config", str(config)])
    assert result.exit_code == 1 and "no scale-bar reading for plain.png" in result.output


def test_status_lists_the_readings_awaiting_confirmation(tmp_path):
    from flows.status_report import sections
    from flows.status_types import ScaleStatus

    loop = _loop(tmp_path)
    record = scale_record(loop)
    record.put(loop.labeling.images / "x.png", UNSURE)
    record.put(loop.labeling.images / "y.png", SURE)
    record.save()
    found = scale_status(loop)
    assert found == ScaleStatus({AWAITING: 1, USED: 1}, (("x.png", "2 µm", 0.01, 0.5),))
    section = next(s for s in _sections(sections, found) if s.title.startswith("Scale bars"))
    assert section.rows == (("x.png", "2 µm", "0.01", "0.50"),) and section.note == "1 awaiting confirmation, 1 used"


def _sections(sections, scales):
    """The status sections of an otherwise empty loop with these scale-bar readings."""
    from flows.status_types import (ChampionStatus, CycleStatus, DatasetStatus, LabelingStatus, LoopStatus,
                                    QuarantineStatus, ScheduleStatus)

    return sections(LoopStatus("now", "ws", LabelingStatus("p", unavailable="down"), QuarantineStatus("q"),
                               DatasetStatus(), ChampionStatus("seg", unavailable="none"), CycleStatus(),
                               ScheduleStatus("d"), scales))


def test_init_and_add_warn_without_tesseract_and_go_on(tmp_path, monkeypatch):
    from flows.scale import scan_new_images

    loop = _loop(tmp_path)
    Image.fromarray(scale_image(200, "5 um")).save(loop.labeling.images / "bar.png")
    monkeypatch.setenv("GRAINLOOP_TESSERACT", str(tmp_path / "no-tesseract"))
    said = []
    assert scan_new_images(loop, said.append) is None
    assert said and said[0].startswith("warning: scale bars not read") and "tesseract-ocr" in said[0]
