"""Morphometry on drawn grains of known size: every measure within a stated tolerance, nothing dropped silently."""
import math

import numpy as np
import pytest
from skimage.draw import disk, ellipse

from foundation.instrument import PixelSize
from foundation.schema import LabelClass, LabelSchema
from ml.instances import Instances, instances_from_class_map, instances_from_instance_map
from ml.morphometry import GrainImage, dropped_rows, measure, feret_diameters, outlines
from ml.synthetic import SyntheticConfig, generate

UNKNOWN = PixelSize(None)
DISCS = [(40, 40, 10.0), (40, 100, 15.0), (120, 60, 25.0), (120, 118, 32.0)]  # (row, col, radius); last two touch
ELLIPSES = [(60, 200, 30.0, 10.0, 30.0), (160, 210, 24.0, 12.0, -50.0), (220, 60, 20.0, 16.0, 100.0)]  # a, b, deg


def drawn() -> tuple[np.ndarray, dict[int, tuple]]:
    inst, truth = np.zeros((260, 260), np.int32), {}
    for gid, (r, c, rad) in enumerate(DISCS, start=1):
        inst[disk((r, c), rad, shape=inst.shape)] = gid
        truth[gid] = ("disc", rad)
    for gid, (r, c, a, b, deg) in enumerate(ELLIPSES, start=len(DISCS) + 1):
        # skimage.draw.ellipse: r_radius along rows, c_radius along columns, rotation counter-clockwise
        inst[ellipse(r, c, b, a, rotation=np.deg2rad(deg), shape=inst.shape)] = gid
        truth[gid] = ("ellipse", a, b, deg % 180)
    return inst, truth


@pytest.fixture(scope="module")
def table():
    inst, _ = drawn()
    item = GrainImage("drawn", instances_from_instance_map(inst), PixelSize(0.25, "user"))
    return measure(item).set_index("grain")


def test_discs_of_known_radius(table):
    _, truth = drawn()
    for gid, (_, r) in ((g, t) for g, t in truth.items() if t[0] == "disc"):
        row = table.loc[gid]
        assert row.ecd_px == pytest.approx(2 * r, rel=0.02)
        assert row.area_px == pytest.approx(math.pi * r * r, rel=0.03)
        assert row.perimeter_px == pytest.approx(2 * math.pi * r, rel=0.02)
        # calipers see the digitised outline: within a pixel of 2r
        assert row.feret_max_px == pytest.approx(2 * r, abs=1.0)
        assert row.feret_min_px == pytest.approx(2 * r, abs=1.05)
        assert row.major_axis_px == pytest.approx(2 * r, rel=0.02) and row.aspect_ratio == pytest.approx(1, abs=0.02)
        assert 0.97 <= row.circularity <= 1.03 and row.roundness > 0.97 and row.solidity > 0.97


def test_ellipses_of_known_axes_and_orientation(table):
    _, truth = drawn()
    for gid, (_, a, b, deg) in ((g, t) for g, t in truth.items() if t[0] == "ellipse"):
        row = table.loc[gid]
        assert row.major_axis_px == pytest.approx(2 * a, rel=0.02)
        assert row.minor_axis_px == pytest.approx(2 * b, rel=0.03)
        assert row.aspect_ratio == pytest.approx(a / b, rel=0.03)
        assert row.feret_max_px == pytest.approx(2 * a, rel=0.04)
        assert row.feret_min_px == pytest.approx(2 * b, rel=0.06)
        assert row.roundness == pytest.approx(b / a, rel=0.04)
        assert abs((row.orientation_deg - deg + 90) % 180 - 90) < 2.0
        assert row.ecd_px == pytest.approx(2 * math.sqrt(a * b), rel=0.02)


def test_physical_units_scale_lengths_and_areas(table):
    assert np.allclose(table.ecd_um, table.ecd_px * 0.25) and np.allclose(table.area_um2, table.area_px / 16)
    assert np.allclose(table.feret_min_um, table.feret_min_px * 0.25) and (table.pixel_size_um == 0.25).all()


def test_unknown_pixel_size_stays_in_pixels():
    inst, _ = drawn()
    t = measure(GrainImage("x", instances_from_instance_map(inst), UNKNOWN))
    assert not [c for c in t.columns if c.endswith(("_um", "_um2")) and c != "pixel_size_um"]
    assert t.pixel_size_um.isna().all()


def test_touching_discs_are_split_and_measured_from_a_class_map():
    inst, _ = drawn()
    schema = LabelSchema("g", (LabelClass("grain"),))
    got = instances_from_class_map((inst > 0).astype(np.uint8), schema)
    t = measure(GrainImage("x", got, UNKNOWN))
    assert len(t) == len(DISCS) + len(ELLIPSES)
    for _, _, r in DISCS:
        assert np.abs(t.ecd_px - 2 * r).min() < 0.03 * 2 * r


def test_mean_intensity_per_channel_and_classes():
    inst = np.zeros((40, 80), np.int32)
    inst[disk((20, 20), 10)], inst[disk((20, 60), 10)] = 1, 2
    channels = np.stack([np.where(inst == 1, 100, 30), np.where(inst == 2, 7, 3)]).astype(np.uint16)
    item = GrainImage("x", Instances(inst, np.array([0, 1, 2])), UNKNOWN, channels,
                      class_names=("background", "quartz", "feldspar"))
    t = measure(item)
    assert t.mean_ch0.tolist() == [100, 30] and t.mean_ch1.tolist() == [3, 7]
    assert t.class_name.tolist() == ["quartz", "feldspar"]


def test_every_synthetic_grain_measured_or_listed_as_dropped():
    s = generate(SyntheticConfig(height=256, width=256, grains=(30, 40), radius=(2.0, 20.0)), seed=5)
    n_in = len(np.unique(s.instance_map)) - 1
    item = GrainImage("syn", instances_from_instance_map(s.instance_map, None, min_area=40), UNKNOWN, banner=s.banner)
    t, dropped = measure(item), dropped_rows(item)
    assert dropped and all("below min area" in d["reason"] and d["area_px"] < 40 for d in dropped)
    assert len(t) + len(dropped) == n_in and (t.area_px >= 40).all()
    assert t.cut_by_edge.any() and not t.cut_by_edge.all()


def test_feret_diameters_of_a_rectangle():
    mask = np.zeros((30, 40), bool)
    mask[5:15, 5:35] = True  # 10 x 30 px
    longest, shortest = feret_diameters(mask)
    assert shortest == pytest.approx(10, abs=0.05)
    assert longest == pytest.approx(np.hypot(10, 30), abs=0.35)  # the outline cuts each corner by half a pixel


def test_outlines_are_closed_polygons_of_the_grain_area():
    inst, _ = drawn()
    item = GrainImage("x", instances_from_instance_map(inst), PixelSize(2.0, "user"))
    features = outlines(item)
    assert len(features) == len(DISCS) + len(ELLIPSES)
    for f in features:
        ring = np.array(f["geometry"]["coordinates"][0])
        assert (ring[0] == ring[-1]).all()
        x, y = ring[:, 0], ring[:, 1]
        shoelace = 0.5 * abs(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1]))
        area = (inst == f["properties"]["grain"]).sum()
        assert shoelace == pytest.approx(area, rel=0.05)
        assert np.allclose(np.array(f["properties"]["polygon_um"][0]), ring * 2.0)
