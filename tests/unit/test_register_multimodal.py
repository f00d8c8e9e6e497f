"""Multi-modal registration: element maps (other contrast, blur, counting noise) brought onto a backscatter image
with known sub-pixel shift, rotation and scale; the issue's bounds: 0.3 px, 0.2 degrees, 0.5% of scale."""
import numpy as np
import pytest

from ml.register import RegisterConfig, Transform, estimate, register_stack, warp
from ml.register_multimodal import coarse, estimate_multimodal
from ml.synthetic_pairs import ELEMENTS, PairConfig, inverse, synthetic_pair

CFG = RegisterConfig(method="multimodal", max_angle=5)


def residuals(t: Transform, truth: Transform) -> tuple[float, float, float]:
    """Shift (px, at the centre), rotation (degrees) and scale (relative) errors."""
    return float(np.hypot(t.dy - truth.dy, t.dx - truth.dx)), abs(t.angle_deg - truth.angle_deg), \
        abs(t.scale / truth.scale - 1)


def within_bounds(t: Transform, truth: Transform) -> bool:
    shift, angle, scale = residuals(t, truth)
    return shift <= 0.3 and angle <= 0.2 and scale <= 0.005


def test_warp_with_scale_is_undone_by_the_inverse():
    image = synthetic_pair(0, PairConfig(size=64)).reference
    t = Transform(2.3, -1.4, 2.0, scale=1.04)
    back = warp(warp(image, t), inverse(t))
    assert np.abs(back - image)[12:-12, 12:-12].mean() < 0.1 * np.abs(image - image.mean()).mean()
    assert t.to_dict()["scale"] == pytest.approx(1.04)


@pytest.mark.parametrize("seed", [1, 4])
def test_element_maps_together_within_the_bounds(seed):
    pair = synthetic_pair(seed)
    t = estimate(pair.reference, pair.moving, CFG)
    assert within_bounds(t, pair.truth), (pair.truth, t)
    assert 0 < t.error < 1  # 1 - the normalised gradient-field match


def test_a_single_element_map_aligns_too():
    pair = synthetic_pair(5)
    t = estimate_multimodal(pair.reference, pair.moving[ELEMENTS.index("Si")], CFG)
    assert within_bounds(t, pair.truth), (pair.truth, t)


def test_coarse_start_is_close_and_phase_correlation_alone_is_not_enough():
    pair = synthetic_pair(2)
    start = coarse(pair.reference, pair.moving, CFG)
    shift, angle, scale = residuals(start, pair.truth)
    assert shift < 1.5 and angle < 0.8 and scale < 0.015
    phase = estimate(pair.reference, pair.moving, RegisterConfig(rotation=True, max_angle=5))
    assert not within_bounds(phase, pair.truth)  # no scale: the same-modality method misses the bounds


def test_joint_stack_moves_every_map_by_one_transform():
    pair = synthetic_pair(3, PairConfig(size=128))
    maps = [m[None] for m in pair.moving]
    stack, transforms = register_stack(pair.reference[None], maps, RegisterConfig(method="multimodal", joint=True))
    assert stack.shape == (1 + len(ELEMENTS), 128, 128) and len(set(transforms)) == 1


def test_coarser_maps_are_resampled_onto_the_reference_grid():
    pair = synthetic_pair(6)
    coarse_maps = [m.reshape(96, 2, 96, 2).mean(axis=(1, 3))[None] for m in pair.moving]  # half the pixel count
    stack, (t, *_) = register_stack(pair.reference[None], coarse_maps, RegisterConfig(method="multimodal",
                                                                                       joint=True, max_angle=5))
    assert stack.shape == (1 + len(ELEMENTS), 192, 192) and within_bounds(t, pair.truth), (pair.truth, t)
    with pytest.raises(ValueError, match="differ in size.*multimodal resamples"):
        register_stack(pair.reference[None], coarse_maps, RegisterConfig())


def test_unknown_method_lists_the_valid_ones():
    with pytest.raises(ValueError, match="valid: phase, multimodal"):
        RegisterConfig(method="mutual")
