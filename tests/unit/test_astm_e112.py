"""ASTM E112 on grids of square grains whose counts and intercepts are known exactly, by hand."""
import numpy as np
import pytest
from skimage.draw import disk

from ml.astm_e112 import E112Config, e112_image, e112_summary, frame_box, g_intercept, g_planimetric, line_intercepts
from ml.box import Box


def square_grid(size: int = 200, side: int = 20, offset: int = 10, gap: int = 0) -> np.ndarray:
    """Square grains of ``side`` px (less ``gap`` px of boundary), the grid shifted by ``offset`` px."""
    y, x = np.indices((size, size))
    labels = ((y + offset) // side) * 1000 + (x + offset) // side + 1
    if gap:
        labels[((y + offset) % side < gap) | ((x + offset) % side < gap)] = 0
    return labels.astype(np.int32)


# 200 x 200 px at 1 um/px with 20 px squares shifted by 10 px: 11 x 11 grains, 9 x 9 = 81 inside, 36 cut by
# the frame along its sides, 4 on its corners: N = 81 + 36/2 + 4/4 = 100 = 40000 px^2 / 400 px^2 exactly.
# A = 0.04 mm^2, N_A = 2500 / mm^2, G = 3.321928 log10(2500) - 2.954 = 3.321928 * 3.397940 - 2.954 = 8.3337.
# Each test line of 200 px crosses 9 whole grains and ends in two half grains: 10 intercepts, l = 20 px =
# 0.02 mm, G = -6.643856 log10(0.02) - 3.288 = -6.643856 * (-1.698970) - 3.288 = 7.9997.
G_PLANIMETRIC, G_INTERCEPT = 8.3337, 7.9997


def test_grid_of_known_count_by_hand():
    r = e112_image(square_grid(), None, 1.0)
    assert (r["grains_inside"], r["grains_intercepted"], r["grains_on_corners"]) == (81, 36, 4)
    assert r["equivalent_grains"] == 100 and r["frame_area_px"] == 40000 and r["n_a_per_mm2"] == pytest.approx(2500)
    assert r["g_planimetric"] == pytest.approx(G_PLANIMETRIC, abs=1e-4)
    assert r["intercepts"] == 10 * 10 and r["line_length_px"] == 10 * 200 and r["mean_intercept_mm"] == 0.02
    assert r["g_intercept"] == pytest.approx(G_INTERCEPT, abs=1e-4)
    assert r["space_filling"] and r["fill_fraction"] == 1.0 and r["reason"] is None


def test_boundaries_and_a_banner_strip_change_nothing():
    # one-pixel boundaries between the grains, and a 20-row banner under the field
    labels = np.zeros((220, 200), np.int32)
    labels[:200] = square_grid(gap=1)
    banner = Box(200, 220, 0, 200)
    assert frame_box(labels.shape, banner) == Box(0, 200, 0, 200)
    r = e112_image(labels, banner, 1.0)
    assert r["equivalent_grains"] == 100 and r["intercepts"] == 100 and r["fill_fraction"] == 1.0
    assert r["g_planimetric"] == pytest.approx(G_PLANIMETRIC, abs=1e-4)
    assert r["g_intercept"] == pytest.approx(G_INTERCEPT, abs=1e-4)


def test_magnification_moves_g_by_the_standards_steps():
    # half the pixel size: grains a quarter of the area, N_A x 4 (G + 2) and intercepts half as long (G + 2)
    r = e112_image(square_grid(), None, 0.5)
    assert r["g_planimetric"] == pytest.approx(G_PLANIMETRIC + 2, abs=1e-3)
    assert r["g_intercept"] == pytest.approx(G_INTERCEPT + 2, abs=1e-3)
    # E112's table: G 8 is 1984 grains/mm^2 and a 0.0200 mm mean intercept
    assert g_planimetric(1984.0) == pytest.approx(8.0, abs=1e-3) and g_intercept(0.02) == pytest.approx(8.0, abs=1e-3)


def test_intercepts_along_one_line():
    assert line_intercepts(np.array([1, 1, 0, 2, 2, 0, 3])) == 2.0  # ends in grains 1 and 3: halves
    assert line_intercepts(np.array([0, 1, 1, 0, 2, 2, 0])) == 2.0
    assert line_intercepts(np.array([4, 4, 4])) == 0.0  # inside one grain: no boundary crossed
    assert line_intercepts(np.array([1, 2, 1])) == 2.0  # a concave grain crossed twice


def test_scattered_grains_and_unknown_pixel_size_give_no_g():
    sparse = np.zeros((200, 200), np.int32)
    for i, (r, c) in enumerate([(50, 50), (50, 150), (150, 50), (150, 150)], start=1):
        sparse[disk((r, c), 20)] = i
    got = e112_image(sparse, None, 1.0)
    assert not got["space_filling"] and got["fill_fraction"] < 0.5 and "not space-filling" in got["reason"]
    unknown = e112_image(square_grid(), None, None)
    assert unknown["g_planimetric"] is None and "pixel size unknown" in unknown["reason"]
    assert unknown["equivalent_grains"] == 100 and unknown["mean_intercept_px"] == 20
    summary = e112_summary([got, unknown], [1.0, None])
    assert summary["g_planimetric"] is None and "1 image(s) not space-filling" in summary["reason"]
    assert "1 image(s) pixel size unknown" in summary["reason"]
    with pytest.raises(ValueError, match="min_fill"):
        E112Config(min_fill=0)


def test_fields_add_up_as_e112_averages_them():
    grid = e112_image(square_grid(), None, 1.0)
    finer = e112_image(square_grid(side=10, offset=5), None, 1.0)  # 400 grains, l = 10 px
    s = e112_summary([grid, finer, e112_image(square_grid(), None, None)], [1.0, 1.0, None])
    assert s["images"] == 2 and s["images_left_out"] == 1 and s["equivalent_grains"] == 500
    assert s["n_a_per_mm2"] == pytest.approx(500 / 0.08) and s["mean_intercept_mm"] == pytest.approx(4 / 300)
